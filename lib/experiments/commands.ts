// The experiment commands of `msam`: compare, sweep-m, switch and bench. Each trains a grid of
// `msam train` runs over the same preset < config file < flags layers, prints progress per run on
// stderr, and the table and the directory it wrote on stdout.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { METHODS } from '../train/config';
import { runBench } from './bench';
import { runCompare } from './compare';
import { addTrainOptions, experimentLayers } from './options';
import { parseChoices, parseList, type ExperimentReport } from './runner';
import { runSweepM } from './sweep-m';
import { addSharpnessOptions, runSharpness, sharpnessOptionsFrom } from './sharpness';
import { runSwitch } from './switch';
import { countStepOps, stepRatio } from './step-count';

function report(r: ExperimentReport): void {
  console.log(r.table);
  const rel = (f: string) => path.relative(r.dir, f);
  console.log(`\nwrote ${r.dir}: ${Object.values(r.files).map(rel).join(', ')}, runs/ (${r.runs.length} run${r.runs.length === 1 ? '' : 's'})`);
}

type Opts = Record<string, unknown>;

function positiveInt(v: unknown, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got '${String(v)}'`);
  return n;
}

// msam bench --count: the counts as a table, then the CPU ratios; results.json when --out-dir is given.
async function printStepCounts(opts: Opts): Promise<void> {
  const model = parseChoices(String(opts['countModel']), '--count-model', ['mlp', 'cnn'] as const)[0] as 'mlp' | 'cnn';
  const m = positiveInt(opts['countM'], '--count-m');
  const batch = positiveInt(opts['countBatch'], '--count-batch');
  const layers = positiveInt(opts['countLayers'], '--count-layers');
  const rows = await countStepOps({ model, layers, m, batch });
  console.log(`Per training step (gradient + SGD), ${model}${model === 'mlp' ? ` with ${layers} hidden layers` : ''}, batch ${batch}, m = ${m}:`);
  console.log('| strategy | configuration | host reads | ATen ops | bookkeeping ops per shard |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.strategy} | ${r.config} | ${r.error ? `error: ${r.error}` : `${r.hostReads} | ${r.ops} | ${r.bookkeepingPerShard}`} |`);
  const ratios = [];
  for (const strategy of ['loop', 'vectorized'] as const) ratios.push({ strategy, ...(await stepRatio({ strategy, batch: 256, m: 32 })) });
  console.log('\nCPU: an mSAM step (m = 32) against a SAM step, MLP 784-256-256-10, batch 256 (median of 5 steps):');
  for (const r of ratios) console.log(`  ${r.strategy}: SAM ${r.samMs.toFixed(1)} ms, mSAM ${r.msamMs.toFixed(1)} ms, ratio ${r.ratio.toFixed(2)}×`);
  const dir = outDirOf(opts);
  if (dir !== undefined) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ model, layers, m, batch, rows, ratios }, null, 2));
    console.log(`wrote ${path.join(dir, 'results.json')}`);
  }
}
const seedsOf = (opts: Opts) => parseList(String(opts['seeds']), '--seeds', 'int');
const outDirOf = (opts: Opts) => (typeof opts['outDir'] === 'string' ? opts['outDir'] : undefined);
const jobsOf = (opts: Opts) => (opts['jobs'] === undefined ? 1 : (parseList(String(opts['jobs']), '--jobs', 'int')[0] as number));
const JOBS_HELP = 'runs trained side by side, each in a process of its own (give each --threads 1 on a small machine; default 1)';
const SHARPNESS_FLAGS = ['sharpness', 'examples', 'hessianBatchSize', 'topK', 'maxIterations', 'tolerance', 'traceSamples', 'traceTolerance', 'shardSize', 'sharpnessRho', 'ascentSteps', 'analysisSeed'];
const layersOf = (opts: Opts, defaults?: Record<string, unknown>) => {
  const { seeds: _s, methods: _m, ms: _ms, fractions: _f, position: _p, jobs: _j, count: _c, countModel: _cm, countLayers: _cl, countM: _cmm, countBatch: _cb, ...all } = opts;
  const rest = Object.fromEntries(Object.entries(all).filter(([k]) => !SHARPNESS_FLAGS.includes(k)));
  return experimentLayers(rest, defaults);
};

/** Adds compare, sweep-m, switch and bench to `program`. */
export function addExperimentCommands(program: Command): void {
  addSharpnessOptions(
    addTrainOptions(
      program
        .command('compare')
        .description(
          "methods × seeds on one model and data set: mean ± std test accuracy per method, as the paper's Tables 2 and 3 (table.md, results.json, chart.svg, chart.png); " +
            "with --sharpness also λ_max, trace and m-sharpness of every final model, as its Table 4 (sharpness.svg, sharpness.png)",
        )
        .option('--methods <list>', `comma-separated: ${METHODS.join(', ')}`, 'vanilla,sam,msam')
        .option('--seeds <list>', 'comma-separated seeds', '0,1,2')
        .option('--jobs <n>', JOBS_HELP)
        .option('--sharpness', 'after training, measure the sharpness of each final model (the flags below tune it)'),
      ['--method', '--hybrid', '--hybrid-position'],
    ),
  ).action(async (opts: Opts) => {
    const methods = parseChoices(String(opts['methods']), '--methods', METHODS);
    const sharpness = opts['sharpness'] === true ? sharpnessOptionsFrom(opts) : undefined;
    report(await runCompare({ methods, seeds: seedsOf(opts), jobs: jobsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts), ...(sharpness ? { sharpness } : {}) }));
  });

  addTrainOptions(
    program
      .command('sweep-m')
      .description("test accuracy against m, mSAM's shards per batch (the paper's Figure 1; m = 1 is SAM): table.md, results.json, chart.svg, chart.png")
      .option('--ms <list>', 'comma-separated values of m', '1,2,4,8,16')
      .option('--seeds <list>', 'comma-separated seeds', '0,1,2')
      .option('--jobs <n>', JOBS_HELP),
    ['--method', '--m', '--micro-batch-size'],
  ).action(async (opts: Opts) => {
    const ms = parseList(String(opts['ms']), '--ms', 'int');
    report(await runSweepM({ ms, seeds: seedsOf(opts), jobs: jobsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts) }));
  });

  addTrainOptions(
    program
      .command('switch')
      .description(
        "hybrid training (the paper's Appendix A, Figure A.1): mSAM for the first or last X of the steps, vanilla for the rest; X = 0 is vanilla, 1 is mSAM throughout: table.md, results.json, chart.svg, chart.png",
      )
      .option('--fractions <list>', 'comma-separated fractions X of the steps with mSAM updates', '0,0.25,0.5,0.75,1')
      .option('--position <first|last>', "where the mSAM part is: 'first', 'last', or 'first,last' for both", 'first')
      .option('--seeds <list>', 'comma-separated seeds', '0,1,2')
      .option('--jobs <n>', JOBS_HELP),
    ['--hybrid', '--hybrid-position'],
  ).action(async (opts: Opts) => {
    const fractions = parseList(String(opts['fractions']), '--fractions');
    const positions = parseChoices(String(opts['position']), '--position', ['first', 'last'] as const);
    report(await runSwitch({ fractions, positions, seeds: seedsOf(opts), jobs: jobsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts) }));
  });

  addTrainOptions(
    program
      .command('bench')
      .description("training time per epoch of vanilla, SAM and mSAM (the paper's Table A.1), from the steps' times without evaluation (default 1 epoch): table.md, results.json, chart.svg, chart.png")
      .option('--methods <list>', `comma-separated: ${METHODS.join(', ')}`, 'vanilla,sam,msam')
      .option('--seeds <list>', 'comma-separated seeds (repeats)', '0')
      .option('--count', 'instead of timing epochs: per strategy and configuration, the host reads, ATen ops and bookkeeping ops per shard of one step (README, "Benchmarks"), and the CPU ratio of an m = 32 step to a SAM step')
      .option('--count-model <mlp|cnn>', "--count: the model ('mlp' has --count-layers hidden layers)", 'mlp')
      .option('--count-layers <n>', '--count: hidden layers of the MLP', '2')
      .option('--count-m <n>', '--count: shards per step', '8')
      .option('--count-batch <n>', '--count: batch size', '64'),
    ['--method', '--hybrid', '--hybrid-position'],
  ).action(async (opts: Opts) => {
    if (opts['count'] === true) {
      await printStepCounts(opts);
      return;
    }
    const methods = parseChoices(String(opts['methods']), '--methods', METHODS);
    report(await runBench({ methods, seeds: seedsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts, { epochs: 1 }) }));
  });

  addSharpnessOptions(
    program
      .command('sharpness')
      .description(
        "the sharpness of trained models (the paper's Table 4): λ_max of the Hessian of the training loss by power iteration, Hutchinson's trace and m-sharpness, " +
          'mean ± std over seeds per method (table.md, results.json)',
      )
      .requiredOption('--checkpoint <file...>', 'checkpoints written by msam train, or run directories (their last checkpoint, the final weights)')
      .option('--device <device>', "'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:N'", 'auto')
      .option('--out-dir <dir>', 'where results.json and table.md go (default runs/sharpness-<time>)')
      .option('--json', 'print results.json instead of the table'),
  ).action(async (opts: Opts) => {
    const r = await runSharpness({ checkpoints: opts['checkpoint'] as string[], outDir: outDirOf(opts), device: opts['device'] as 'auto', ...sharpnessOptionsFrom(opts) });
    if (opts['json'] === true) {
      console.log(fs.readFileSync(r.files['results'] as string, 'utf8').trimEnd());
      return;
    }
    console.log(r.table);
    console.log(`\nwrote ${r.dir}: ${Object.values(r.files).map((f) => path.relative(r.dir, f)).join(', ')}`);
  });
}
