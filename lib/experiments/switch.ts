// `msam switch`: the hybrid-switching experiment (the paper's Appendix A, Figure A.1): mSAM for the
// first (or last) X% of the steps and vanilla updates for the rest, through the trainer's hybrid
// option. X = 0 is vanilla, X = 100% is mSAM throughout. Writes table.md, results.json, chart.svg/png.
import * as path from 'node:path';
import { lineChartSpec, writeChart } from '../report/chart';
import { formatMeanStd, summarize } from '../report/stats';
import { markdownTable } from '../report/table';
import { budget, dataName, METHOD_NAMES, modelName } from './describe';
import { byLabel, common, experimentDir, runGrid, writeReport, type Cell, type ExperimentOptions, type ExperimentReport } from './runner';

export type Position = 'first' | 'last';

export interface SwitchOptions extends ExperimentOptions {
  fractions: number[];
  positions: Position[];
}

const percent = (f: number) => `${+(100 * f).toFixed(1)}%`;

export async function runSwitch(o: SwitchOptions): Promise<ExperimentReport> {
  for (const f of o.fractions) if (!(f >= 0 && f <= 1)) throw new Error(`--fractions: each fraction must be in [0, 1], got ${f}`);
  const dir = experimentDir('switch', o.outDir);
  const label = (position: Position, f: number) => (f === 0 ? 'vanilla' : f === 1 ? 'sharp throughout' : `${position} ${percent(f)}`);
  // The ends are the same run at either position: train them once.
  const cells: Cell[] = [];
  for (const position of o.positions) {
    for (const f of o.fractions) {
      const l = label(position, f);
      if (cells.some((c) => c.label === l)) continue;
      const values = f === 0 ? { method: 'vanilla', hybrid: null } : f === 1 ? { hybrid: null } : { hybrid: { fraction: f, position } };
      cells.push({ label: l, slug: f === 0 ? 'vanilla' : f === 1 ? 'sharp' : `${position}-${Math.round(1000 * f)}`, values });
    }
  }
  const { runs, config } = await runGrid('switch', dir, cells, o);
  const sharp = runs.find((r) => r.method !== 'vanilla');
  const method = sharp === undefined ? 'mSAM' : sharp.method === 'msam' ? `mSAM (m = ${sharp.m})` : METHOD_NAMES[sharp.method];
  const summary = o.positions.flatMap((position) =>
    o.fractions.map((fraction) => ({ position, fraction, label: label(position, fraction), ...summarize(byLabel(runs, label(position, fraction)).map((r) => r.testAccuracy)) })),
  );
  const table = [
    `Hybrid training: ${method} for the first or last X% of the steps, vanilla updates for the rest; ${modelName(config)} on ${dataName(config)}; test accuracy (%), mean ± std over ${o.seeds.length} seed${o.seeds.length === 1 ? '' : 's'}; ${budget(config)}.`,
    '',
    markdownTable({
      headers: ['switch X', ...o.positions.map((p) => `${method} ${p} X%`)],
      rows: o.fractions.map((f) => [percent(f), ...o.positions.map((p) => formatMeanStd(summary.find((s) => s.position === p && s.fraction === f) as { mean: number; std: number }, 2, 100))]),
      align: ['right', ...o.positions.map(() => 'right' as const)],
    }),
  ].join('\n');
  const chart = await writeChart(
    dir,
    'chart',
    lineChartSpec(
      summary.map((s) => ({ x: 100 * s.fraction, mean: 100 * s.mean, std: 100 * s.std, series: `${method.split(' ')[0]} ${s.position}`, values: byLabel(runs, s.label).map((r) => 100 * r.testAccuracy) })),
      { title: `Effect of switching: ${modelName(config)} on ${dataName(config)}`, xTitle: 'switch percent (share of steps with sharp updates)', yTitle: 'test accuracy (%)', range: [0, 100] },
    ),
  );
  const files = writeReport(dir, { experiment: 'switch', fractions: o.fractions, positions: o.positions, seeds: o.seeds, summary, runs, config: common(config, ['method', 'hybrid']) }, table);
  return { dir: path.resolve(dir), files: { ...files, chartSvg: chart.svg, chartPng: chart.png }, table, runs };
}
