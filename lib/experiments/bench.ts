// `msam bench`: training time per epoch of vanilla, SAM and mSAM (the paper's Table A.1). Times
// come from the steps themselves (between the first and the last step's end, so the first step's
// warm-up and the evaluations are not counted), scaled to a full epoch. Writes table.md,
// results.json and chart.svg/png.
import * as path from 'node:path';
import { barChartSpec, writeChart } from '../report/chart';
import { formatMeanStd, summarize } from '../report/stats';
import { markdownTable } from '../report/table';
import { METHODS, type Method } from '../train/config';
import type { TrainHooks } from '../train/trainer';
import { dataName, METHOD_NAMES, modelName } from './describe';
import { byLabel, common, experimentDir, runGrid, writeReport, type ExperimentOptions, type ExperimentReport } from './runner';

export interface BenchOptions extends ExperimentOptions {
  methods: Method[];
}

/** Hooks that time the steps of one run, and what they measured. */
function stepTimer(): { hooks: TrainHooks; measure: () => Record<string, number> } {
  let first: number | null = null;
  let last = 0;
  let steps = 0;
  let stepsPerEpoch = 0;
  return {
    hooks: {
      onStep: (info) => {
        const now = performance.now();
        first ??= now;
        last = now;
        steps++;
        stepsPerEpoch = info.stepsPerEpoch;
      },
    },
    measure: () => {
      if (first === null || steps < 2) throw new Error('bench: a run needs at least two steps to be timed (more training examples or a smaller batch)');
      const msPerStep = (last - first) / (steps - 1);
      return { msPerStep, secondsPerEpoch: (msPerStep * stepsPerEpoch) / 1000, stepsPerEpoch };
    },
  };
}

export async function runBench(o: BenchOptions): Promise<ExperimentReport> {
  for (const m of o.methods) if (!(METHODS as readonly string[]).includes(m)) throw new Error(`--methods: unknown method '${m}' (expected ${METHODS.join(', ')})`);
  const dir = experimentDir('bench', o.outDir);
  const cells = o.methods.map((method) => ({ label: method, slug: method, values: { method, hybrid: null } }));
  const { runs, config } = await runGrid('bench', dir, cells, o, { hooks: stepTimer });
  const summary = o.methods.map((method) => {
    const rs = byLabel(runs, method);
    const seconds = summarize(rs.map((r) => r.extra?.['secondsPerEpoch'] as number));
    return { method, m: rs[0]?.m ?? 1, msPerStep: summarize(rs.map((r) => r.extra?.['msPerStep'] as number)), ...seconds };
  });
  const vanilla = summary.find((s) => s.method === 'vanilla');
  const name = (s: { method: Method; m: number }) => (s.method === 'msam' ? `mSAM (m = ${s.m})` : METHOD_NAMES[s.method]);
  const table = [
    `Training time per epoch on ${modelName(config)}, ${dataName(config)} (${runs[0]?.extra?.['stepsPerEpoch'] ?? '?'} steps of ${config.batchSize}; ${runs[0]?.device ?? '?'}, ${runs[0]?.threads ?? '?'} thread${runs[0]?.threads === 1 ? '' : 's'}), from the steps' times without evaluation; mean ± std over ${o.seeds.length} run${o.seeds.length === 1 ? '' : 's'} of ${config.epochs} epoch${config.epochs === 1 ? '' : 's'}.`,
    '',
    markdownTable({
      headers: ['Method', 'seconds / epoch', 'ms / step', ...(vanilla ? ['× vanilla'] : [])],
      rows: summary.map((s) => [name(s), formatMeanStd(s, 2), formatMeanStd(s.msPerStep, 1), ...(vanilla ? [(s.mean / vanilla.mean).toFixed(2)] : [])]),
      align: ['left', 'right', 'right', 'right'],
    }),
  ].join('\n');
  const chart = await writeChart(
    dir,
    'chart',
    barChartSpec(
      summary.map((s) => ({ x: name(s).replace(' = ', '='), mean: s.mean, std: s.std })),
      { title: `Time per epoch: ${modelName(config)} on ${dataName(config)}`, xTitle: 'method', yTitle: 'seconds per epoch', zero: true },
    ),
  );
  const files = writeReport(dir, { experiment: 'bench', methods: o.methods, seeds: o.seeds, summary, runs, config: common(config) }, table);
  return { dir: path.resolve(dir), files: { ...files, chartSvg: chart.svg, chartPng: chart.png }, table, runs };
}
