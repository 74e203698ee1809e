// `msam sweep-m`: test accuracy against m (the paper's Figure 1): mSAM with each m × seeds; m = 1
// is SAM. Writes table.md, results.json and chart.svg/png (a line over m, log₂ axis).
import * as path from 'node:path';
import { lineChartSpec, writeChart } from '../report/chart';
import { formatMeanStd, summarize } from '../report/stats';
import { markdownTable } from '../report/table';
import type { TrainConfig } from '../train/config';
import { budget, dataName, modelName } from './describe';
import { byLabel, common, experimentDir, runGrid, writeReport, type ExperimentOptions, type ExperimentReport } from './runner';

export interface SweepMOptions extends ExperimentOptions {
  ms: number[];
}

/** Test accuracy against m (log₂ axis): every seed as a dot (results.json's summary and runs). */
export function sweepChartSpec(summary: { m: number; mean: number; std: number }[], runs: { m: number; seed: number; testAccuracy: number }[], config: TrainConfig) {
  return lineChartSpec(
    summary.map((s) => ({ x: s.m, mean: 100 * s.mean, std: 100 * s.std, values: runs.filter((r) => r.m === s.m).map((r) => 100 * r.testAccuracy) })),
    { title: `Effect of m: ${modelName(config)} on ${dataName(config)}`, xTitle: 'm (shards per batch)', yTitle: 'test accuracy (%)', xLog2: true, range: [0, 100] },
  );
}

export async function runSweepM(o: SweepMOptions): Promise<ExperimentReport> {
  for (const m of o.ms) if (!Number.isInteger(m) || m < 1) throw new Error(`--ms: each m must be a positive integer, got ${m}`);
  const dir = experimentDir('sweep-m', o.outDir);
  const label = (m: number) => `m = ${m}`;
  const cells = o.ms.map((m) => ({ label: label(m), slug: `m${m}`, values: { method: 'msam', m, microBatchSize: undefined } }));
  const { runs, config } = await runGrid('sweep-m', dir, cells, o);
  const summary = o.ms.map((m) => ({ m, ...summarize(byLabel(runs, label(m)).map((r) => r.testAccuracy)) }));
  const table = [
    `mSAM test accuracy (%) against m on ${modelName(config)}, ${dataName(config)}; mean ± std over ${o.seeds.length} seed${o.seeds.length === 1 ? '' : 's'} (${o.seeds.join(', ')}); m = 1 is SAM; ${budget(config)}.`,
    '',
    markdownTable({
      headers: ['m', 'micro-batch', 'test accuracy (%)', ...o.seeds.map((s) => `seed ${s}`)],
      rows: summary.map((s) => [
        String(s.m),
        String(Math.ceil(config.batchSize / s.m)),
        formatMeanStd(s, 2, 100),
        ...byLabel(runs, label(s.m)).map((r) => (100 * r.testAccuracy).toFixed(2)),
      ]),
      align: ['right', 'right', 'right', ...o.seeds.map(() => 'right' as const)],
    }),
  ].join('\n');
  const chart = await writeChart(dir, 'chart', sweepChartSpec(summary, runs, config));
  const files = writeReport(dir, { experiment: 'sweep-m', ms: o.ms, seeds: o.seeds, summary, runs, config: common(config, ['method', 'm', 'microBatchSize']) }, table);
  return { dir: path.resolve(dir), files: { ...files, chartSvg: chart.svg, chartPng: chart.png }, table, runs };
}
