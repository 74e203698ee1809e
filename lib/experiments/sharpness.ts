// `msam sharpness` and `msam compare --sharpness`: the sharpness of trained models (λ_max of the
// Hessian of the training loss, Hutchinson's trace, m-sharpness), mean ± std over seeds per method,
// as the paper's Table 4.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { sharpnessOfCheckpoint, type CheckpointSharpness, type SharpnessOptions } from '../analysis/sharpness';
import { formatMeanStd, summarize, type Summary } from '../report/stats';
import { markdownTable } from '../report/table';
import type { TrainConfig } from '../train/config';
import { formatDuration } from '../train/progress';
import type { Device } from '../types';
import { dataName, METHOD_NAMES, modelName } from './describe';
import { experimentDir, writeReport } from './runner';

/** The sharpness flags `sharpness` and `compare --sharpness` share. */
export function addSharpnessOptions(cmd: Command): Command {
  return cmd
    .option('--examples <n|all>', 'training examples the loss is taken over: a fixed random subset of n, or all (default 2048)')
    .option('--hessian-batch-size <n>', 'examples per double-backward pass (default 1024)')
    .option('--top-k <k>', 'Hessian eigenvalues by deflation, λ_max first (default 1)')
    .option('--max-iterations <n>', 'power iterations per eigenvalue at most (default 20)')
    .option('--tolerance <x>', 'relative change of the eigenvalue that stops the power iteration (default 1e-3)')
    .option('--trace-samples <n>', "Hutchinson's Rademacher vectors at most; 0: no trace (default 20)")
    .option('--trace-tolerance <x>', 'relative standard error that stops the trace estimate (default 0.05)')
    .option('--shard-size <n>', "m-sharpness: examples per shard; 0: no m-sharpness (default: the run's micro-batch, batch size / m)")
    .option('--sharpness-rho <rho>', "m-sharpness: the radius (default: the run's rho)")
    .option('--ascent-steps <n>', 'm-sharpness: gradient steps of the ascent per shard, 1 is the SAM step (default 5)')
    .option('--analysis-seed <n>', 'seeds the subset, the start vector and the trace vectors (default 0)');
}

const int = (text: unknown, flag: string, min: number): number => {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  return v;
};
const positive = (text: unknown, flag: string): number => {
  const v = Number(text);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${flag}: expected a number ≥ 0, got ${JSON.stringify(text)}`);
  return v;
};

/** The options of the sharpness flags given (unset ones keep the defaults). */
export function sharpnessOptionsFrom(opts: Record<string, unknown>): SharpnessOptions {
  const o: SharpnessOptions = {};
  const has = (k: string) => opts[k] !== undefined;
  if (has('examples')) o.examples = opts['examples'] === 'all' ? 'all' : int(opts['examples'], '--examples', 1);
  if (has('hessianBatchSize')) o.batchSize = int(opts['hessianBatchSize'], '--hessian-batch-size', 1);
  if (has('topK')) o.topK = int(opts['topK'], '--top-k', 1);
  if (has('maxIterations')) o.maxIterations = int(opts['maxIterations'], '--max-iterations', 1);
  if (has('tolerance')) o.tolerance = positive(opts['tolerance'], '--tolerance');
  if (has('traceSamples')) {
    const n = int(opts['traceSamples'], '--trace-samples', 0);
    if (n === 0) o.trace = false;
    else o.traceSamples = n;
  }
  if (has('traceTolerance')) o.traceTolerance = positive(opts['traceTolerance'], '--trace-tolerance');
  if (has('shardSize')) {
    const n = int(opts['shardSize'], '--shard-size', 0);
    if (n === 0) o.mSharpness = false;
    else o.shardSize = n;
  }
  if (has('sharpnessRho')) o.rho = positive(opts['sharpnessRho'], '--sharpness-rho');
  if (has('ascentSteps')) o.ascentSteps = int(opts['ascentSteps'], '--ascent-steps', 1);
  if (has('analysisSeed')) o.seed = int(opts['analysisSeed'], '--analysis-seed', 0);
  return o;
}

/** One model's measures, for results.json. */
export interface SharpnessRecord {
  label: string;
  checkpoint: string;
  method: TrainConfig['method'];
  m: number;
  seed: number;
  lambdaMax: number;
  trace: number | null;
  mSharpness: number | null;
  details: Omit<CheckpointSharpness, 'config'>;
}

const shardsOfRun = (c: TrainConfig): number => (c.method === 'msam' ? (c.microBatchSize !== undefined ? Math.ceil(c.batchSize / c.microBatchSize) : (c.m ?? 1)) : 1);
const methodTitle = (method: TrainConfig['method'], m: number) => (method === 'msam' ? `mSAM (m = ${m})` : METHOD_NAMES[method]);

/** Measures one checkpoint (or run directory), with progress lines. */
export async function measureCheckpoint(
  file: string,
  options: SharpnessOptions & { device?: Device | 'auto' },
  log: (line: string) => void,
  tag: string,
): Promise<{ record: SharpnessRecord; config: TrainConfig }> {
  let lastLine = 0;
  const onProgress: SharpnessOptions['onProgress'] = (e) => {
    const now = performance.now();
    const final = e.stage === 'mSharpness' && e.iteration === e.total;
    if (now - lastLine < 5000 && e.stage === 'mSharpness' && !final) return; // shards are many and quick
    lastLine = now;
    if (e.stage === 'eigenvalue') log(`${tag}: λ${e.index + 1} ≈ ${e.value.toPrecision(6)} (power iteration ${e.iteration}, change ${Number.isFinite(e.change) ? e.change.toExponential(1) : '–'})`);
    else if (e.stage === 'trace') log(`${tag}: trace ≈ ${e.value.toPrecision(5)} ± ${(e.change * Math.abs(e.value)).toPrecision(2)} (${e.iteration} samples)`);
    else log(`${tag}: m-sharpness ≈ ${e.value.toPrecision(4)} (${e.iteration}/${e.total} shards)`);
  };
  const r = await sharpnessOfCheckpoint(file, { ...options, onProgress });
  const { config, ...details } = r;
  const m = shardsOfRun(config);
  log(
    `${tag}: λ_max ${r.lambdaMax.toPrecision(5)} (${r.iterations[0]} iterations${r.converged[0] ? '' : ', not converged'})` +
      `${r.trace === null ? '' : `, trace ${r.trace.toPrecision(5)} ± ${(r.traceStandardError ?? 0).toPrecision(2)}`}` +
      `${r.mSharpness === null ? '' : `, m-sharpness ${r.mSharpness.value.toPrecision(4)}`} in ${formatDuration(r.seconds)}`,
  );
  return {
    record: {
      label: config.method,
      checkpoint: r.checkpoint,
      method: config.method,
      m,
      seed: config.seed,
      lambdaMax: r.lambdaMax,
      trace: r.trace,
      mSharpness: r.mSharpness?.value ?? null,
      details,
    },
    config,
  };
}

export interface SharpnessSummary {
  method: TrainConfig['method'];
  m: number;
  lambdaMax: Summary;
  trace: Summary | null;
  mSharpness: Summary | null;
}

/** Per method (and m): mean ± std of each measure over its records, in the order first seen. */
export function summarizeSharpness(records: SharpnessRecord[]): SharpnessSummary[] {
  const keys = [...new Set(records.map((r) => `${r.method}/${r.m}`))];
  return keys.map((key) => {
    const rs = records.filter((r) => `${r.method}/${r.m}` === key);
    const some = (xs: (number | null)[]) => (xs.every((x) => x !== null) ? summarize(xs as number[]) : null);
    const first = rs[0] as SharpnessRecord;
    return { method: first.method, m: first.m, lambdaMax: summarize(rs.map((r) => r.lambdaMax)), trace: some(rs.map((r) => r.trace)), mSharpness: some(rs.map((r) => r.mSharpness)) };
  });
}

/** The tables: λ_max (as the paper's Table 4), trace and m-sharpness by method; then every model. */
export function sharpnessTables(records: SharpnessRecord[], config: TrainConfig): string {
  const summary = summarizeSharpness(records);
  const first = records[0]?.details;
  const seeds = [...new Set(records.map((r) => r.seed))];
  const n = Math.max(...summary.map((s) => s.lambdaMax.n));
  const cell = (s: Summary | null, digits: number) => (s === null ? '–' : n > 1 ? formatMeanStd(s, digits) : s.mean.toFixed(digits));
  const measures: [string, (s: SharpnessSummary) => string][] = [
    ['λ_max', (s) => cell(s.lambdaMax, 2)],
    ...(summary.some((s) => s.trace !== null) ? [['trace', (s: SharpnessSummary) => cell(s.trace, 1)] as [string, (s: SharpnessSummary) => string]] : []),
    ...(summary.some((s) => s.mSharpness !== null)
      ? [[`m-sharpness (${first?.mSharpness?.shardSize ?? '?'} per shard, ρ = ${first?.mSharpness?.rho ?? '?'})`, (s: SharpnessSummary) => cell(s.mSharpness, 4)] as [string, (s: SharpnessSummary) => string]]
      : []),
  ];
  const main = markdownTable({
    headers: ['Model', 'Measure', ...summary.map((s) => methodTitle(s.method, s.m))],
    rows: measures.map(([name, f], i) => [i === 0 ? `${modelName(config)} (${dataName(config)})` : '', name, ...summary.map(f)]),
    align: ['left', 'left', ...summary.map(() => 'right' as const)],
  });
  const perModel = markdownTable({
    headers: ['Method', 'seed', 'λ_max', 'iterations', 'trace ± s.e.', 'm-sharpness', 'checkpoint'],
    rows: records.map((r) => [
      methodTitle(r.method, r.m),
      String(r.seed),
      r.lambdaMax.toFixed(3),
      `${r.details.iterations[0]}${r.details.converged[0] ? '' : ' (not converged)'}`,
      r.trace === null ? '–' : `${r.trace.toFixed(1)} ± ${(r.details.traceStandardError ?? 0).toFixed(1)}`,
      r.mSharpness === null ? '–' : r.mSharpness.toFixed(4),
      r.checkpoint,
    ]),
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'left'],
  });
  const over = first === undefined ? '' : `${first.examples} training examples${first.examples < 60000 ? ' (a fixed random subset)' : ''}, label smoothing ${first.labelSmoothing}, eval mode`;
  return [
    `Sharpness at the final weights, ${n > 1 ? `mean ± std over ${n} seeds (${seeds.join(', ')})` : `seed ${seeds.join(', ')}`}: λ_max of the Hessian of the training loss (power iteration: ${describeTolerance(records)}), Hutchinson's trace, m-sharpness; ${over}.`,
    '',
    main,
    '',
    perModel,
  ].join('\n');
}

function describeTolerance(records: SharpnessRecord[]): string {
  const its = records.map((r) => r.details.iterations[0] as number);
  const notConverged = records.filter((r) => !r.details.converged[0]).length;
  return `${Math.min(...its)}–${Math.max(...its)} iterations${notConverged > 0 ? `, ${notConverged} not converged` : ''}`;
}

export interface SharpnessRunOptions extends SharpnessOptions {
  checkpoints: string[];
  outDir?: string;
  device?: Device | 'auto';
  log?: (line: string) => void;
}

/** `msam sharpness`: measures each checkpoint, writes results.json and table.md. */
export async function runSharpness(o: SharpnessRunOptions): Promise<{ dir: string; files: Record<string, string>; table: string; records: SharpnessRecord[] }> {
  const { checkpoints, outDir, log: logOpt, ...options } = o;
  if (checkpoints.length === 0) throw new Error('--checkpoint: give at least one checkpoint file or run directory');
  for (const c of checkpoints) if (!fs.existsSync(c)) throw new Error(`--checkpoint: ${c} does not exist`);
  const log = logOpt ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const dir = experimentDir('sharpness', outDir);
  const records: SharpnessRecord[] = [];
  let config: TrainConfig | null = null;
  for (const [i, file] of checkpoints.entries()) {
    const { record, config: c } = await measureCheckpoint(file, options, log, `[sharpness ${i + 1}/${checkpoints.length}] ${file}`);
    records.push(record);
    config ??= c;
  }
  const table = sharpnessTables(records, config as TrainConfig);
  const summary = summarizeSharpness(records);
  const files = writeReport(dir, { experiment: 'sharpness', options: { ...options }, summary, runs: records }, table);
  return { dir: path.resolve(dir), files, table, records };
}
