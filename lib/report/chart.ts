// Charts of experiment results: Vega-Lite specifications, rendered server-side to SVG by Vega
// (no canvas needed) and to PNG by resvg. Values arrive already scaled (accuracy in percent).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One bar (or point): a mean with its standard deviation. */
export interface Point {
  /** Bar label, or the x value of a line chart. */
  x: string | number;
  mean: number;
  std: number;
  /** A line chart's series (one line each). */
  series?: string;
}

export interface ChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  /** Line charts: a base-2 log x axis (m = 1, 2, 4, ...). */
  xLog2?: boolean;
  /** Bar charts: start the y axis at zero (times); default false (accuracies differ by little). */
  zero?: boolean;
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const config = { font: FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } };

const rows = (points: Point[]) => points.map((p) => ({ ...p, lo: p.mean - p.std, hi: p.mean + p.std, series: p.series ?? '' }));

/** Bars of means with ±1 std error bars, in the order given. */
export function barChartSpec(points: Point[], o: ChartOptions): TopLevelSpec {
  const order = points.map((p) => String(p.x));
  const y = { title: o.yTitle, type: 'quantitative' as const, scale: { zero: o.zero ?? false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: o.title,
    width: Math.max(160, 70 * points.length),
    height: 240,
    config,
    data: { values: rows(points).map((r) => ({ ...r, x: String(r.x) })) },
    encoding: { x: { field: 'x', type: 'nominal', title: o.xTitle, sort: order, axis: { labelAngle: 0 } } },
    layer: [
      { mark: { type: 'bar', color: '#4c78a8', width: { band: 0.6 } }, encoding: { y: { field: 'mean', ...y, stack: null } } },
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', ...y }, y2: { field: 'hi' } } },
      { mark: { type: 'tick', thickness: 1.5, size: 14, color: 'black' }, encoding: { y: { field: 'lo', ...y } } },
      { mark: { type: 'tick', thickness: 1.5, size: 14, color: 'black' }, encoding: { y: { field: 'hi', ...y } } },
      { mark: { type: 'text', dy: -8, baseline: 'bottom' }, encoding: { y: { field: 'hi', ...y }, text: { field: 'mean', format: '.2f' } } },
    ],
  } as TopLevelSpec;
}

/** Lines through the means (one per series) with ±1 std error bars. */
export function lineChartSpec(points: Point[], o: ChartOptions): TopLevelSpec {
  const multi = new Set(points.map((p) => p.series ?? '')).size > 1;
  const x = { field: 'x', type: 'quantitative' as const, title: o.xTitle, scale: o.xLog2 ? { type: 'log' as const, base: 2 } : { zero: false }, axis: o.xLog2 ? { values: points.map((p) => p.x) } : {} };
  const y = { title: o.yTitle, type: 'quantitative' as const, scale: { zero: false } };
  const color = multi ? { color: { field: 'series', type: 'nominal' as const, title: null } } : {};
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: o.title,
    width: 360,
    height: 240,
    config,
    data: { values: rows(points) },
    encoding: { x, ...color },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'mean', ...y } } },
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', ...y }, y2: { field: 'hi' } } },
    ],
  } as TopLevelSpec;
}

/** Renders a Vega-Lite specification to SVG text. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG to PNG at `scale` times its size, with the system's fonts. */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' });
  return resvg.render().asPng();
}

/** Writes <dir>/<name>.svg and <dir>/<name>.png; returns their paths. */
export async function writeChart(dir: string, name: string, spec: TopLevelSpec): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(spec);
  fs.mkdirSync(dir, { recursive: true });
  const files = { svg: path.join(dir, `${name}.svg`), png: path.join(dir, `${name}.png`) };
  fs.writeFileSync(files.svg, svg);
  fs.writeFileSync(files.png, svgToPng(svg));
  return files;
}
