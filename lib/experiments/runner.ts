// What every experiment command shares: run msam.train once per cell of a grid (method, m, switch
// fraction, ... × seed) over the same configuration layers, with a progress line per run, each run
// in its own directory under the experiment's; then write results.json and table.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../train/config';
import type { ConfigLayer } from '../train/resolve';
import { formatDuration } from '../train/progress';
import { trainLayers, type TrainHooks, type TrainResult } from '../train/trainer';

export interface ExperimentOptions {
  /** The configuration layers every run starts from (preset < config file < flags). */
  layers: ConfigLayer[];
  seeds: number[];
  /** The experiment's directory; default runs/<experiment>-<time>. */
  outDir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** One run of the grid: what it varies, and its result. */
export interface RunRecord {
  /** The cell's label ('msam', 'm = 8', 'first 25%'). */
  label: string;
  seed: number;
  /** Test accuracy of the model chosen on the validation set (the last model without a validation set). */
  testAccuracy: number;
  /** The last model's test accuracy. */
  lastTestAccuracy: number | null;
  /** The step the chosen model is from (null: no validation set, the last model). */
  bestStep: number | null;
  skippedSteps: number;
  method: TrainResult['method'];
  m: number;
  steps: number;
  epochs: number;
  seconds: number;
  device: TrainResult['device'];
  threads: number;
  outDir: string;
  /** Anything else the experiment measures (bench: seconds per epoch). */
  extra?: Record<string, number>;
}

export interface ExperimentReport {
  /** The experiment's directory (absolute). */
  dir: string;
  /** results.json, table.md, chartSvg, chartPng. */
  files: Record<string, string>;
  /** What table.md holds. */
  table: string;
  runs: RunRecord[];
}

/** The configuration the runs share, for results.json: the first run's, without what the grid varies per run. */
export const common = (c: TrainConfig, vary: (keyof TrainConfig)[] = ['method']): Partial<TrainConfig> => {
  const out: Partial<TrainConfig> = { ...c };
  for (const k of ['outDir', 'seed', 'resume', ...vary] as (keyof TrainConfig)[]) delete out[k];
  return out;
};

export interface Cell {
  label: string;
  /** A directory-safe name. */
  slug: string;
  /** Values over the common layers for this cell. */
  values: Record<string, unknown>;
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export const experimentDir = (name: string, outDir: string | undefined): string => outDir ?? path.join('runs', `${name}-${timestamp()}`);

/**
 * Runs every cell × seed in order (cells outer), each with its own outDir under `dir`/runs.
 * `hooks(cell, seed)` may add training hooks (bench times steps); `measure` adds extra numbers.
 */
export async function runGrid(
  name: string,
  dir: string,
  cells: Cell[],
  o: ExperimentOptions,
  more: { hooks?: () => { hooks: TrainHooks; measure: () => Record<string, number> } } = {},
): Promise<{ runs: RunRecord[]; config: TrainConfig }> {
  const log = o.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const total = cells.length * o.seeds.length;
  const records: RunRecord[] = [];
  let config: TrainConfig | null = null;
  const started = performance.now();
  let k = 0;
  for (const cell of cells) {
    for (const seed of o.seeds) {
      k++;
      const runDir = path.join(dir, 'runs', `${cell.slug}-seed${seed}`);
      const tag = `[${name} ${k}/${total}] ${cell.label}, seed ${seed}`;
      log(`${tag}: training → ${runDir}`);
      const extra = more.hooks?.();
      const result = await trainLayers(
        [
          { source: 'the experiment (progress)', values: { log: { progress: 'none' } } },
          ...o.layers,
          { source: `${name}: ${cell.label}`, values: cell.values },
          { source: `${name}: seed`, values: { seed, outDir: runDir, resume: false } },
        ],
        {
          ...extra?.hooks,
          onEpoch: (m) =>
            log(`${tag}: epoch ${m.epoch}: ${m.valAccuracy === null ? 'no validation set' : `val accuracy ${(100 * m.valAccuracy).toFixed(2)}%`}, train loss ${m.trainLoss.toFixed(4)}${m.skippedSteps > 0 ? ` (${m.skippedSteps} steps skipped)` : ''}, ${formatDuration(m.seconds)}`),
        },
      );
      if (result.interrupted || result.bestTestAccuracy === null) throw new Error(`${name}: the run ${cell.label}, seed ${seed} was interrupted; its checkpoint is in ${result.outDir}`);
      const left = ((performance.now() - started) / 1000 / k) * (total - k);
      log(`${tag}: test accuracy ${(100 * result.bestTestAccuracy).toFixed(2)}% (${result.bestStep === null ? 'last model' : 'best on validation'}) in ${formatDuration(result.seconds)}${k < total ? ` (about ${formatDuration(left)} left)` : ''}`);
      config ??= result.config;
      records.push({
        label: cell.label,
        seed,
        // The model chosen on the validation set (the last without one): the test set chose nothing.
        testAccuracy: result.bestTestAccuracy,
        lastTestAccuracy: result.testAccuracy,
        bestStep: result.bestStep,
        skippedSteps: result.skippedSteps,
        method: result.method,
        m: result.m,
        steps: result.steps,
        epochs: result.epochs,
        seconds: result.seconds,
        device: result.device,
        threads: result.threads,
        outDir: result.outDir,
        ...(extra ? { extra: extra.measure() } : {}),
      });
    }
  }
  return { runs: records, config: config as TrainConfig };
}

/** The runs of one cell, by label. */
export const byLabel = (records: RunRecord[], label: string): RunRecord[] => records.filter((r) => r.label === label);

/** Writes results.json and table.md into `dir`; returns their paths. */
export function writeReport(dir: string, results: object, table: string): { results: string; table: string } {
  fs.mkdirSync(dir, { recursive: true });
  const files = { results: path.join(dir, 'results.json'), table: path.join(dir, 'table.md') };
  fs.writeFileSync(files.results, `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(files.table, `${table}\n`);
  return files;
}

/** Parses "0,1,2" into integers (or numbers), naming the flag in errors. */
export function parseList(text: string, flag: string, kind: 'int' | 'number' = 'number'): number[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const values = items.map(Number);
  if (items.length === 0 || values.some((v) => !Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v)))) {
    throw new Error(`${flag}: expected a comma-separated list of ${kind === 'int' ? 'integers' : 'numbers'}, got ${JSON.stringify(text)}`);
  }
  return values;
}

/** Parses "a,b" restricted to `allowed`. */
export function parseChoices<T extends string>(text: string, flag: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (items.length === 0 || bad.length > 0) throw new Error(`${flag}: expected a comma-separated list of ${allowed.join(', ')}, got ${JSON.stringify(text)}`);
  return items as T[];
}
