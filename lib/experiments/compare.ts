// `msam compare`: methods × seeds on one model and data set → mean ± std test accuracy per method,
// as the paper's Tables 2 and 3 (table.md, results.json, chart.svg/png).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeAtomically } from '../checkpoint/atomic';
import { barChartSpec, writeChart } from '../report/chart';
import { formatMeanStd, summarize } from '../report/stats';
import { markdownTable } from '../report/table';
import { METHODS, type Method, type TrainConfig } from '../train/config';
import type { SharpnessOptions } from '../analysis/sharpness';
import { budget, dataName, METHOD_NAMES, modelName } from './describe';
import { measureCheckpoint, sharpnessTables, summarizeSharpness, type SharpnessRecord, type SharpnessSummary } from './sharpness';
import { byLabel, common, experimentDir, runGrid, writeReport, type ExperimentOptions, type ExperimentReport } from './runner';

export interface CompareOptions extends ExperimentOptions {
  methods: Method[];
  /** Also measure each final model's sharpness (λ_max, trace, m-sharpness; the paper's Table 4). */
  sharpness?: SharpnessOptions;
}

const methodName = (s: { method: Method; m: number }) => (s.method === 'msam' ? `mSAM (m=${s.m})` : METHOD_NAMES[s.method]);
const seedCount = (runs: { seed: number }[]) => new Set(runs.map((r) => r.seed)).size;

/** Test accuracy by method: every seed as a dot, the mean with its 95% interval (results.json's summary and runs). */
export function accuracyChartSpec(summary: { method: Method; m: number; mean: number; std: number }[], runs: { label: string; seed: number; testAccuracy: number }[], config: TrainConfig) {
  const n = seedCount(runs);
  return barChartSpec(
    summary.map((s) => ({ x: methodName(s), mean: 100 * s.mean, std: 100 * s.std, values: runs.filter((r) => r.label === s.method).map((r) => 100 * r.testAccuracy) })),
    { title: `${modelName(config)} on ${dataName(config)}: test accuracy (${n} seed${n === 1 ? '' : 's'})`, xTitle: 'method', yTitle: 'test accuracy (%)', range: [0, 100] },
  );
}

/** λ_max by method from zero (a ratio of sharpness reads as one): every model as a dot. */
export function sharpnessChartSpec(summary: SharpnessSummary[], records: { method: Method; m: number; seed: number; lambdaMax: number }[], config: TrainConfig) {
  const n = seedCount(records);
  return barChartSpec(
    summary.map((s) => ({ x: methodName(s), mean: s.lambdaMax.mean, std: s.lambdaMax.std, values: records.filter((r) => r.method === s.method && r.m === s.m).map((r) => r.lambdaMax) })),
    { title: `${modelName(config)} on ${dataName(config)}: λ_max of the training loss's Hessian (${n} seed${n === 1 ? '' : 's'})`, xTitle: 'method', yTitle: 'λ_max', zero: true, range: [0, Infinity] },
  );
}

export async function runCompare(o: CompareOptions): Promise<ExperimentReport> {
  const dir = experimentDir('compare', o.outDir);
  for (const m of o.methods) if (!(METHODS as readonly string[]).includes(m)) throw new Error(`--methods: unknown method '${m}' (expected ${METHODS.join(', ')})`);
  // A hybrid schedule from the layers would not apply to vanilla: compare whole-run methods.
  const cells = o.methods.map((method) => ({ label: method, slug: method, values: { method, hybrid: null } }));
  const { runs, config } = await runGrid('compare', dir, cells, o);
  const summary = o.methods.map((method) => {
    const rs = byLabel(runs, method);
    return { method, m: rs[0]?.m ?? 1, ...summarize(rs.map((r) => r.testAccuracy)) };
  });
  const pct = (s: { mean: number; std: number }) => formatMeanStd(s, 2, 100);
  const main = markdownTable({
    headers: ['Model', 'Data', ...summary.map((s) => (s.method === 'msam' ? `mSAM (m = ${s.m})` : METHOD_NAMES[s.method]))],
    rows: [[modelName(config), dataName(config), ...summary.map(pct)]],
    align: ['left', 'left', ...summary.map(() => 'right' as const)],
  });
  const perSeed = markdownTable({
    headers: ['Method', ...o.seeds.map((s) => `seed ${s}`), 'mean ± std'],
    rows: summary.map((s) => [METHOD_NAMES[s.method], ...byLabel(runs, s.method).map((r) => (100 * r.testAccuracy).toFixed(2)), pct(s)]),
    align: ['left', ...o.seeds.map(() => 'right' as const), 'right'],
  });
  const table = [
    `Test accuracy (%), mean ± std over ${o.seeds.length} seed${o.seeds.length === 1 ? '' : 's'} (${o.seeds.join(', ')}); ${budget(config)}.`,
    '',
    main,
    '',
    perSeed,
  ].join('\n');
  const chart = await writeChart(dir, 'chart', accuracyChartSpec(summary, runs, config));
  if (o.sharpness === undefined) {
    const files = writeReport(dir, { experiment: 'compare', methods: o.methods, seeds: o.seeds, summary, runs, config: common(config) }, table);
    return { dir: path.resolve(dir), files: { ...files, chartSvg: chart.svg, chartPng: chart.png }, table, runs };
  }

  // The sharpness of every final model (its run's last checkpoint), on the device it trained on.
  const log = o.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const records: SharpnessRecord[] = [];
  for (const [i, run] of runs.entries()) {
    // Kept beside the run (sharpness.json): a continued experiment measures each model once.
    const file = path.join(run.outDir, 'sharpness.json');
    const key = JSON.stringify(o.sharpness);
    const saved = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { options: string; record: SharpnessRecord }) : null;
    if (saved !== null && saved.options === key) {
      records.push(saved.record);
      continue;
    }
    const { record } = await measureCheckpoint(run.outDir, { ...o.sharpness, device: run.device }, log, `[sharpness ${i + 1}/${runs.length}] ${run.label}, seed ${run.seed}`);
    writeAtomically(file, `${JSON.stringify({ options: key, record }, null, 2)}\n`);
    records.push(record);
  }
  const sharpSummary = summarizeSharpness(records);
  const withSharpness = runs.map((r, i) => {
    const s = records[i] as SharpnessRecord;
    return { ...r, lambdaMax: s.lambdaMax, trace: s.trace, mSharpness: s.mSharpness, sharpness: s.details };
  });
  const summaryWith = summary.map((s) => {
    const t = sharpSummary.find((x) => x.method === s.method);
    return { ...s, lambdaMax: t?.lambdaMax ?? null, trace: t?.trace ?? null, mSharpness: t?.mSharpness ?? null };
  });
  const sharpChart = await writeChart(dir, 'sharpness', sharpnessChartSpec(sharpSummary, records, config));
  const fullTable = [table, '', sharpnessTables(records, config)].join('\n');
  const files = writeReport(
    dir,
    { experiment: 'compare', methods: o.methods, seeds: o.seeds, summary: summaryWith, runs: withSharpness, sharpnessOptions: o.sharpness, config: common(config) },
    fullTable,
  );
  return {
    dir: path.resolve(dir),
    files: { ...files, chartSvg: chart.svg, chartPng: chart.png, sharpnessSvg: sharpChart.svg, sharpnessPng: sharpChart.png },
    table: fullTable,
    runs,
  };
}
