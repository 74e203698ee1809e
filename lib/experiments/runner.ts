// What every experiment command shares: run msam.train once per cell of a grid (method, m, switch
// fraction, ... × seed) over the same configuration layers, with a progress line per run, each run
// in its own directory under the experiment's; then write results.json and table.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fork } from 'node:child_process';
import type { TrainConfig } from '../train/config';
import { runFiles } from '../train/checkpoints';
import { resolveTrainConfig, type ConfigLayer } from '../train/resolve';
import { formatDuration } from '../train/progress';
import { listenForStop, type StopSignal } from '../train/stop';
import { trainLayers, type EpochMetrics, type TrainHooks, type TrainResult } from '../train/trainer';
import type { ChildMessage, ChildRequest } from './run-child';

export interface ExperimentOptions {
  /** The configuration layers every run starts from (preset < config file < flags). */
  layers: ConfigLayer[];
  seeds: number[];
  /** The experiment's directory; default runs/<experiment>-<time>. */
  outDir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Runs trained side by side, each in a process of its own (default 1: one at a time, in this process). */
  jobs?: number;
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

/** An experiment stopped by a signal: finished runs are kept, the stopped ones have checkpoints. */
export class ExperimentInterrupted extends Error {
  constructor(
    readonly signal: StopSignal | null,
    dir: string,
  ) {
    super(`${signal ?? 'interrupted'}: the experiment stopped; its finished runs are kept and the stopped ones have checkpoints. Continue with the same command and --out-dir ${dir}`);
    this.name = 'ExperimentInterrupted';
  }
}

/**
 * Settings that may differ between a finished run and the grid's request without making it another
 * run: where it went and how it was watched. Anything else (epochs included) differing means the
 * run in that directory is not this cell's.
 */
const IGNORED = new Set(['outDir', 'resume', 'log', 'preset', 'threads', 'evalBatchSize']);
const settings = (c: TrainConfig): string => JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => !IGNORED.has(k))));

/** The run in `runDir`: finished with these settings (its result), stopped (resume it), or none. */
function previousRun(runDir: string, wanted: TrainConfig): { finished: TrainResult } | { resume: string } | null {
  const files = runFiles(runDir);
  if (fs.existsSync(files.results)) {
    let done: TrainResult;
    try {
      done = JSON.parse(fs.readFileSync(files.results, 'utf8')) as TrainResult;
    } catch (e) {
      throw new Error(`${files.results}: not a run's results (${e instanceof Error ? e.message : String(e)}); remove it or give another --out-dir`);
    }
    if (!done.interrupted && done.bestTestAccuracy !== null && settings(done.config) === settings(wanted)) return { finished: done };
  }
  // A stopped run (or a finished one asked for more epochs): the trainer resumes it and refuses settings that differ.
  return fs.existsSync(files.last) ? { resume: runDir } : null;
}

/**
 * The child's script: compiled beside this file, or (this file run from its TypeScript source, as
 * under vitest) the build's copy in dist/.
 */
function childEntry(): string {
  const beside = path.join(__dirname, 'run-child.js');
  return fs.existsSync(beside) ? beside : path.join(__dirname, '..', '..', 'dist', 'lib', 'experiments', 'run-child.js');
}

/** Trains one run in a child process (run-child.ts), forwarding its epochs; `stop` sends it a signal. */
function trainInChild(layers: ConfigLayer[], onEpoch: (m: EpochMetrics) => void, register: (kill: (signal: StopSignal) => void) => () => void): Promise<TrainResult> {
  return new Promise((resolve, reject) => {
    // Its own process group: a Ctrl-C at the terminal reaches the parent alone, which forwards it
    // once (a second SIGINT would make the child quit without its checkpoint).
    const child = fork(childEntry(), [], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const unregister = register((signal) => void child.kill(signal));
    let answer: ChildMessage | null = null;
    child.on('message', (m: ChildMessage) => {
      if (m.kind === 'epoch') onEpoch(m.metrics);
      else answer = m;
    });
    child.once('error', (e) => {
      unregister();
      reject(e);
    });
    child.once('exit', (code, signal) => {
      unregister();
      const a = answer as ChildMessage | null;
      if (a?.kind === 'result') resolve(a.result);
      else reject(new Error(a?.kind === 'error' ? a.message : `the run's process ended (${signal ?? `exit code ${code}`}) without a result`));
    });
    child.send({ layers } satisfies ChildRequest);
  });
}

/**
 * Runs every cell × seed (cells outer), each with its own outDir under `dir`/runs, `o.jobs` at a
 * time (several: each in a process of its own). A grid given an existing directory continues it:
 * a run finished with the same settings is read back, a stopped one resumes from its checkpoint.
 * `hooks()` may add training hooks (bench times steps; one job only); `measure` adds extra numbers.
 */
export async function runGrid(
  name: string,
  dir: string,
  cells: Cell[],
  o: ExperimentOptions,
  more: { hooks?: () => { hooks: TrainHooks; measure: () => Record<string, number> } } = {},
): Promise<{ runs: RunRecord[]; config: TrainConfig }> {
  const log = o.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const jobs = o.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected a positive integer, got ${jobs}`);
  if (jobs > 1 && more.hooks !== undefined) throw new Error(`--jobs: ${name} times its runs, which must not share the machine; use --jobs 1`);
  const tasks = cells.flatMap((cell) => o.seeds.map((seed) => ({ cell, seed })));
  const plans = tasks.map(({ cell, seed }) => {
    const runDir = path.join(dir, 'runs', `${cell.slug}-seed${seed}`);
    const layers: ConfigLayer[] = [
      { source: 'the experiment (progress)', values: { log: { progress: 'none' } } },
      ...o.layers,
      { source: `${name}: ${cell.label}`, values: cell.values },
      { source: `${name}: seed`, values: { seed, outDir: runDir, resume: false } },
    ];
    return { cell, seed, runDir, layers };
  });
  // Every run's settings are checked before any trains: a bad flag fails now, not hours in.
  const wanted = plans.map((p) => resolveTrainConfig(...p.layers));
  const records: RunRecord[] = new Array<RunRecord>(tasks.length);
  const configs: TrainConfig[] = new Array<TrainConfig>(tasks.length);
  const started = performance.now();
  let trained = 0;
  let finished = 0;

  // Several jobs: this process forwards the stop signals to the runs' processes and starts no more.
  const kills = new Set<(signal: StopSignal) => void>();
  let stopped: StopSignal | null = null;
  const unlisten =
    jobs > 1
      ? listenForStop(
          (signal) => {
            stopped = signal;
            log(`${signal}: stopping the running runs after their current step (each writes a checkpoint)`);
            for (const kill of kills) kill(signal);
          },
          () => {
            for (const kill of kills) kill('SIGTERM');
          },
        )
      : () => undefined;

  const runOne = async (k: number): Promise<void> => {
    const { cell, seed, runDir, layers } = plans[k] as (typeof plans)[number];
    const tag = `[${name} ${k + 1}/${tasks.length}] ${cell.label}, seed ${seed}`;
    const before = previousRun(runDir, wanted[k] as TrainConfig);
    let result: TrainResult;
    let extra: ReturnType<NonNullable<typeof more.hooks>> | undefined;
    if (before !== null && 'finished' in before) {
      log(`${tag}: finished before, read from ${runDir}`);
      result = before.finished;
    } else {
      const resume = before === null ? false : before.resume;
      log(`${tag}: ${resume === false ? 'training' : 'resuming'} → ${runDir}`);
      const runLayers: ConfigLayer[] = [...layers, { source: `${name}: resume`, values: { resume } }];
      const onEpoch = (m: EpochMetrics) =>
        log(`${tag}: epoch ${m.epoch}: ${m.valAccuracy === null ? 'no validation set' : `val accuracy ${(100 * m.valAccuracy).toFixed(2)}%`}, train loss ${m.trainLoss.toFixed(4)}${m.skippedSteps > 0 ? ` (${m.skippedSteps} steps skipped)` : ''}, ${formatDuration(m.seconds)}`);
      if (jobs > 1) {
        result = await trainInChild(runLayers, onEpoch, (kill) => {
          kills.add(kill);
          return () => kills.delete(kill);
        });
      } else {
        extra = more.hooks?.();
        result = await trainLayers(runLayers, { ...extra?.hooks, onEpoch });
      }
      if (result.interrupted || result.bestTestAccuracy === null) {
        stopped ??= result.signal;
        throw new ExperimentInterrupted(result.signal, dir);
      }
      trained++;
    }
    finished++;
    const left = trained === 0 ? 0 : ((performance.now() - started) / 1000 / trained) * Math.ceil((tasks.length - finished) / jobs);
    log(`${tag}: test accuracy ${(100 * (result.bestTestAccuracy as number)).toFixed(2)}% (${result.bestStep === null ? 'last model' : 'best on validation'}) in ${formatDuration(result.seconds)}${finished < tasks.length && trained > 0 ? ` (about ${formatDuration(left)} left)` : ''}`);
    configs[k] = result.config;
    records[k] = {
      label: cell.label,
      seed,
      // The model chosen on the validation set (the last without one): the test set chose nothing.
      testAccuracy: result.bestTestAccuracy as number,
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
    };
  };

  let next = 0;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < tasks.length && stopped === null && failures.length === 0) {
      const k = next++;
      try {
        await runOne(k);
      } catch (e) {
        failures.push(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  } finally {
    unlisten();
  }
  if (failures.length > 0) throw failures.find((e) => !(e instanceof ExperimentInterrupted)) ?? failures[0];
  if (stopped !== null) throw new ExperimentInterrupted(stopped, dir);
  // The first run's settings stand for the grid's.
  return { runs: records, config: configs[0] as TrainConfig };
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
