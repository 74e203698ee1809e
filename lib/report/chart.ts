// Charts of experiment results: Vega-Lite specifications, rendered server-side to SVG by Vega
// (no canvas needed) and to PNG by resvg. Values arrive already scaled (accuracy in percent).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { interval95 } from './stats';

/** One bar (or point): a mean with its standard deviation. */
export interface Point {
  /** Bar label, or the x value of a line chart. */
  x: string | number;
  mean: number;
  std: number;
  /** A line chart's series (one line each). */
  series?: string;
  /**
   * Every run's value (one per seed): drawn as points, and the interval is then the mean's 95%
   * confidence interval (Student's t) instead of ±1 standard deviation.
   */
  values?: number[];
}

export interface ChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  /** Line charts: a base-2 log x axis (m = 1, 2, 4, ...). */
  xLog2?: boolean;
  /** Bar charts: start the y axis at zero (times); default false (accuracies differ by little). */
  zero?: boolean;
  /** The metric's possible values (accuracy in %: [0, 100]): intervals and the axis stay inside. */
  range?: [number, number];
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const config = { font: FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } };

/** Each point's interval: the 95% CI of its values when given, else ±1 std; clipped to the range. */
const rows = (points: Point[], range: [number, number] = [-Infinity, Infinity]) =>
  points.map(({ values, ...p }) => {
    const ci = values !== undefined && values.length > 0 ? interval95(values, range) : { lo: Math.max(range[0], p.mean - p.std), hi: Math.min(range[1], p.mean + p.std) };
    return { ...p, lo: ci.lo, hi: ci.hi, series: p.series ?? '' };
  });

/** Every seed's value as its own row (x, value, series). */
const seedRows = (points: Point[]) => points.flatMap((p) => (p.values ?? []).map((value) => ({ x: p.x, value, series: p.series ?? '' })));

/**
 * The y scale: from zero, or fitted to every mean, interval and seed (with a margin, inside the
 * metric's range); a fitted axis says so in the chart's subtitle, so that no one reads bar lengths
 * as ratios. (The note is not in the axis title: a title longer than the plot is tall makes Vega
 * grow the canvas around a small plot.)
 */
function yScale(points: Point[], o: ChartOptions): { scale: Record<string, unknown>; note: string } {
  const band = points.some((p) => p.values !== undefined && p.values.length > 1) ? 'bars: 95% CI of the mean; dots: seeds' : points.some((p) => p.values !== undefined) ? 'one seed' : 'bars: mean ± std';
  if (o.zero === true) return { scale: { zero: true }, note: band };
  const r = rows(points, o.range);
  const all = [...r.flatMap((p) => [p.lo, p.hi, p.mean]), ...seedRows(points).map((s) => s.value)];
  const [min, max] = [Math.min(...all), Math.max(...all)];
  const pad = Math.max((max - min) * 0.15, 0.05);
  const lo = Math.max(o.range?.[0] ?? -Infinity, min - pad);
  const hi = Math.min(o.range?.[1] ?? Infinity, max + pad);
  return { scale: { domain: [lo, hi], zero: false, nice: false }, note: `${band}; y axis from ${lo.toFixed(1)}, not 0` };
}

/** The chart's title with the y axis' note as its subtitle. */
const titled = (o: ChartOptions, note: string) => ({ text: o.title, subtitle: note, subtitleFontSize: 11, subtitleColor: '#555' });

/**
 * Means with their intervals, in the order given: bars when the axis starts at zero, else a mark at
 * the mean (a bar cut off below would exaggerate differences); every seed as a dot when given.
 */
export function barChartSpec(points: Point[], o: ChartOptions): TopLevelSpec {
  const order = points.map((p) => String(p.x));
  const ys = yScale(points, o);
  const y = { title: o.yTitle, type: 'quantitative' as const, scale: ys.scale };
  const seeds = seedRows(points).map((r) => ({ ...r, x: String(r.x) }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: titled(o, ys.note),
    width: Math.max(480, 110 * points.length),
    height: 260,
    config,
    data: { values: rows(points, o.range).map((r) => ({ ...r, x: String(r.x) })) },
    encoding: { x: { field: 'x', type: 'nominal', title: o.xTitle, sort: order, axis: { labelAngle: 0 } } },
    layer: [
      o.zero === true
        ? { mark: { type: 'bar', color: '#4c78a8', width: { band: 0.6 } }, encoding: { y: { field: 'mean', ...y, stack: null } } }
        : { mark: { type: 'tick', color: '#4c78a8', thickness: 3, size: 28 }, encoding: { y: { field: 'mean', ...y } } },
      ...(seeds.length > 0 ? [{ data: { values: seeds }, mark: { type: 'circle', size: 36, opacity: 0.6, color: '#e45756' }, encoding: { x: { field: 'x', type: 'nominal', sort: order }, y: { field: 'value', ...y } } }] : []),
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', ...y }, y2: { field: 'hi' } } },
      { mark: { type: 'tick', thickness: 1.5, size: 14, color: 'black' }, encoding: { y: { field: 'lo', ...y } } },
      { mark: { type: 'tick', thickness: 1.5, size: 14, color: 'black' }, encoding: { y: { field: 'hi', ...y } } },
      { mark: { type: 'text', dy: -8, baseline: 'bottom' }, encoding: { y: { field: 'hi', ...y }, text: { field: 'mean', format: '.2f' } } },
    ],
  } as TopLevelSpec;
}

/** Lines through the means (one per series) with their intervals; every seed as a dot when given. */
export function lineChartSpec(points: Point[], o: ChartOptions): TopLevelSpec {
  const multi = new Set(points.map((p) => p.series ?? '')).size > 1;
  const x = { field: 'x', type: 'quantitative' as const, title: o.xTitle, scale: o.xLog2 ? { type: 'log' as const, base: 2 } : { zero: false }, axis: o.xLog2 ? { values: points.map((p) => p.x) } : {} };
  const ys = yScale(points, o);
  const y = { title: o.yTitle, type: 'quantitative' as const, scale: ys.scale };
  const color = multi ? { color: { field: 'series', type: 'nominal' as const, title: null } } : {};
  const seeds = seedRows(points);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: titled(o, ys.note),
    width: 480,
    height: 260,
    config,
    data: { values: rows(points, o.range) },
    encoding: { x, ...color },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'mean', ...y } } },
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', ...y }, y2: { field: 'hi' } } },
      ...(seeds.length > 0 ? [{ data: { values: seeds }, mark: { type: 'circle', size: 28, opacity: 0.5 }, encoding: { x, y: { field: 'value', ...y }, ...color } }] : []),
    ],
  } as TopLevelSpec;
}

const escapeXml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const measured = new Map<string, number>();

/**
 * A text's width as resvg lays it out with the system's fonts (the renderer of the PNGs). Without
 * a canvas, Vega estimates 0.8 em per character, a third too wide for DejaVu Sans, and grows the
 * canvas around a long title by the difference: an empty band beside the plot.
 */
function textWidth(item: { font?: string; fontSize?: number; fontWeight?: string | number; fontStyle?: string; text?: unknown }, text?: unknown): number {
  const value = String(text ?? item.text ?? '');
  const size = item.fontSize ?? 11;
  const key = `${item.font}|${size}|${item.fontWeight}|${item.fontStyle}|${value}`;
  let width = measured.get(key);
  if (width === undefined) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(size * (value.length + 2))}" height="${Math.ceil(3 * size)}"><text x="0" y="${2 * size}" font-family="${escapeXml(item.font ?? FONT)}" font-size="${size}" font-weight="${item.fontWeight ?? 'normal'}" font-style="${item.fontStyle ?? 'normal'}" xml:space="preserve">${escapeXml(value)}</text></svg>`;
    const box = value.trim() === '' ? undefined : new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).getBBox();
    // No font that has the glyphs: Vega's own estimate.
    width = box === undefined ? Math.floor(0.8 * value.length * size) : Math.ceil(box.x + box.width);
    measured.set(key, width);
  }
  return width;
}

// Once, for every chart: vega's typings omit textMetrics (vega-scenegraph's text measurer, which it re-exports).
(vega as unknown as { textMetrics: { width: typeof textWidth } }).textMetrics.width = textWidth;

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
