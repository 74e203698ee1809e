// A run's training curves from its metrics.jsonl: loss (training, and validation) and accuracy
// (a fixed subset of the training part, and validation, both in eval mode) against the step, as one
// Vega-Lite chart (rendered to SVG and PNG without a browser).
import * as fs from 'node:fs';
import type { TopLevelSpec } from 'vega-lite';
import { writeAtomically } from '../checkpoint/atomic';
import { renderSvg, svgToPng } from './chart';

interface Row {
  step: number;
  value: number;
  series: string;
}

/** The two panels' rows from metrics.jsonl lines (step lines give the training loss when logged). */
export function curveRows(lines: Record<string, unknown>[]): { loss: Row[]; accuracy: Row[] } {
  const loss: Row[] = [];
  const accuracy: Row[] = [];
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const hasSteps = lines.some((l) => l['type'] === 'step');
  for (const l of lines) {
    const step = num(l['step']);
    if (step === null) continue;
    if (l['type'] === 'step' && num(l['loss']) !== null) loss.push({ step, value: num(l['loss']) as number, series: 'train (step)' });
    if (l['type'] === 'epoch' || l['type'] === 'eval') {
      if (!hasSteps && num(l['trainLoss']) !== null) loss.push({ step, value: num(l['trainLoss']) as number, series: 'train (epoch mean)' });
      if (num(l['valLoss']) !== null) loss.push({ step, value: num(l['valLoss']) as number, series: 'validation' });
      if (num(l['trainAccuracy']) !== null) accuracy.push({ step, value: 100 * (num(l['trainAccuracy']) as number), series: `train (${String(l['trainEvalExamples'] ?? '?')} examples)` });
      if (num(l['valAccuracy']) !== null) accuracy.push({ step, value: 100 * (num(l['valAccuracy']) as number), series: 'validation' });
    }
  }
  return { loss, accuracy };
}

export function curvesSpec(lines: Record<string, unknown>[], title: string): TopLevelSpec {
  const { loss, accuracy } = curveRows(lines);
  const panel = (rows: Row[], yTitle: string, zero: boolean) => ({
    width: 420,
    height: 180,
    data: { values: rows },
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'step', type: 'quantitative' as const, title: 'step' },
      y: { field: 'value', type: 'quantitative' as const, title: yTitle, scale: { zero } },
      color: { field: 'series', type: 'nominal' as const, title: null },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    // The loss axis starts where the values are (stated in its title); accuracy spans 0–100.
    vconcat: [panel(loss, 'loss (axis not from 0)', false), { ...panel(accuracy, 'accuracy (%), eval mode', true), encoding: { ...panel(accuracy, '', true).encoding, y: { field: 'value', type: 'quantitative' as const, title: 'accuracy (%), eval mode', scale: { domain: [0, 100] } } } }],
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', view: { stroke: null } },
  } as TopLevelSpec;
}

/** Writes the curves of `metricsFile` to `svgFile` and beside it as PNG, each atomically. */
export async function writeCurves(metricsFile: string, svgFile: string, title: string): Promise<void> {
  const lines = fs
    .readFileSync(metricsFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const svg = await renderSvg(curvesSpec(lines, title));
  writeAtomically(svgFile, svg);
  writeAtomically(svgFile.replace(/\.svg$/, '.png'), svgToPng(svg));
}
