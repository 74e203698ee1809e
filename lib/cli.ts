#!/usr/bin/env node
// The `msam` command line. Each command has --help.
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { runBench, runCompare, runSweepM, runSwitch, parseChoices, parseList, type ExperimentReport } from './experiments';
import { addTrainOptions, experimentLayers } from './experiments/options';
import { cuda, getNumThreads, version } from './runtime';
import { METHODS } from './train/config';
import { FLAGS, trainLayersFromOptions } from './train/flags';
import { PRESET_NAMES, presets } from './train/presets';
import { formatDuration } from './train/progress';
import { runFiles, trainLayers, type TrainResult } from './train/trainer';

const program = new Command();
program.name('msam').description('m-sharpness-aware minimization (mSAM) on libtorch, from Node.js');

program
  .command('info')
  .description('versions, devices and threads of the loaded libtorch')
  .option('--json', 'print JSON')
  .action((opts: { json?: boolean }) => {
    const v = version();
    const info = {
      ...v,
      cudaAvailable: cuda.isAvailable(),
      cudaDevices: cuda.isAvailable() ? cuda.deviceCount() : 0,
      threads: getNumThreads(),
      node: process.version,
    };
    if (opts.json) {
      console.log(JSON.stringify(info, null, 2));
      return;
    }
    console.log(`msam ${info.msam} · libtorch ${info.libtorch} · CUDA ${info.cuda ?? 'none'} (${info.cudaDevices} device(s)) · ${info.threads} CPU threads · node ${info.node}`);
  });

// ---- msam train ----------------------------------------------------------------------------------

function summary(r: TrainResult): string {
  const pct = (a: number | null) => (a === null ? '–' : `${(100 * a).toFixed(2)}%`);
  const method = r.method === 'msam' ? `mSAM (m = ${r.m}, ρ = ${r.rho})` : r.method === 'sam' ? `SAM (ρ = ${r.rho})` : 'vanilla';
  const files = runFiles(r.outDir);
  const rel = (f: string) => path.relative(r.outDir, f);
  return [
    `test accuracy ${pct(r.testAccuracy)} (best ${pct(r.bestTestAccuracy)} at epoch ${r.bestEpoch ?? '–'}) · ${method} · ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}, ${r.steps} steps in ${formatDuration(r.seconds)} (${r.examplesPerSecond.toFixed(0)} examples/s, ${r.device}, ${r.threads} thread${r.threads === 1 ? '' : 's'})`,
    `wrote ${r.outDir}: ${rel(files.results)}, ${rel(files.metrics)}, ${rel(files.last)}, ${rel(files.best)}`,
  ].join('\n');
}

const trainCommand = program
  .command('train')
  .description(
    'train a model with mSAM, SAM or vanilla updates; with no arguments, the fashion-mnist preset on the best available device. ' +
      'Settings: flags > --config file > --preset.',
  )
  .addOption(new Option('--preset <name>', 'a named preset (default fashion-mnist; `msam presets` lists them)'))
  .option('--config <file>', 'a JSON file of settings (fields as in README, "Training"); flags override it')
  .option('--resume [checkpoint]', 'continue a run from its last checkpoint: a checkpoint file or run directory (or --out-dir\'s)')
  .option('--set <path=value...>', 'set any field: --set optimizer.nesterov=true --set data.augment.flip=true');
for (const f of FLAGS) trainCommand.option(f.flag, f.help);
trainCommand.option('--json', 'print results.json to stdout instead of the summary').action(async (opts: Record<string, unknown>) => {
  const result = await trainLayers(trainLayersFromOptions(opts));
  if (result.interrupted) {
    console.log(`interrupted after ${result.steps} steps; checkpoint ${result.checkpoint}\ncontinue with: msam train --resume ${result.outDir}`);
    process.exitCode = 130;
    return;
  }
  console.log(opts['json'] === true ? JSON.stringify(result, null, 2) : summary(result));
});

program
  .command('presets')
  .description("the named presets of `msam train --preset` (the paper's Appendix B and C settings, and fashion-mnist)")
  .option('--json', 'print each preset\'s configuration as JSON')
  .action((opts: { json?: boolean }) => {
    if (opts.json) {
      console.log(JSON.stringify(presets, null, 2));
      return;
    }
    const width = Math.max(...PRESET_NAMES.map((n) => n.length));
    for (const name of PRESET_NAMES) console.log(`${name.padEnd(width)}  ${presets[name].description} [${presets[name].source}]`);
  });

// ---- the experiment commands: grids of `msam train` runs with a table and a chart ----------------

function report(r: ExperimentReport): void {
  console.log(r.table);
  const rel = (f: string) => path.relative(r.dir, f);
  console.log(`\nwrote ${r.dir}: ${Object.values(r.files).map(rel).join(', ')}, runs/ (${r.runs.length} run${r.runs.length === 1 ? '' : 's'})`);
}

type Opts = Record<string, unknown>;
const seedsOf = (opts: Opts) => parseList(String(opts['seeds']), '--seeds', 'int');
const outDirOf = (opts: Opts) => (typeof opts['outDir'] === 'string' ? opts['outDir'] : undefined);
const layersOf = (opts: Opts, defaults?: Record<string, unknown>) => {
  const { seeds: _s, methods: _m, ms: _ms, fractions: _f, position: _p, ...rest } = opts;
  return experimentLayers(rest, defaults);
};

addTrainOptions(
  program
    .command('compare')
    .description("methods × seeds on one model and data set: mean ± std test accuracy per method, as the paper's Tables 2 and 3 (table.md, results.json, chart.svg, chart.png)")
    .option('--methods <list>', `comma-separated: ${METHODS.join(', ')}`, 'vanilla,sam,msam')
    .option('--seeds <list>', 'comma-separated seeds', '0,1,2'),
  ['--method', '--hybrid', '--hybrid-position'],
).action(async (opts: Opts) => {
  const methods = parseChoices(String(opts['methods']), '--methods', METHODS);
  report(await runCompare({ methods, seeds: seedsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts) }));
});

addTrainOptions(
  program
    .command('sweep-m')
    .description("test accuracy against m, mSAM's shards per batch (the paper's Figure 1; m = 1 is SAM): table.md, results.json, chart.svg, chart.png")
    .option('--ms <list>', 'comma-separated values of m', '1,2,4,8,16')
    .option('--seeds <list>', 'comma-separated seeds', '0,1,2'),
  ['--method', '--m', '--micro-batch-size'],
).action(async (opts: Opts) => {
  const ms = parseList(String(opts['ms']), '--ms', 'int');
  report(await runSweepM({ ms, seeds: seedsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts) }));
});

addTrainOptions(
  program
    .command('switch')
    .description(
      "hybrid training (the paper's Appendix A, Figure A.1): mSAM for the first or last X of the steps, vanilla for the rest; X = 0 is vanilla, 1 is mSAM throughout: table.md, results.json, chart.svg, chart.png",
    )
    .option('--fractions <list>', 'comma-separated fractions X of the steps with mSAM updates', '0,0.25,0.5,0.75,1')
    .option('--position <first|last>', "where the mSAM part is: 'first', 'last', or 'first,last' for both", 'first')
    .option('--seeds <list>', 'comma-separated seeds', '0,1,2'),
  ['--hybrid', '--hybrid-position'],
).action(async (opts: Opts) => {
  const fractions = parseList(String(opts['fractions']), '--fractions');
  const positions = parseChoices(String(opts['position']), '--position', ['first', 'last'] as const);
  report(await runSwitch({ fractions, positions, seeds: seedsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts) }));
});

addTrainOptions(
  program
    .command('bench')
    .description("training time per epoch of vanilla, SAM and mSAM (the paper's Table A.1), from the steps' times without evaluation (default 1 epoch): table.md, results.json, chart.svg, chart.png")
    .option('--methods <list>', `comma-separated: ${METHODS.join(', ')}`, 'vanilla,sam,msam')
    .option('--seeds <list>', 'comma-separated seeds (repeats)', '0'),
  ['--method', '--hybrid', '--hybrid-position'],
).action(async (opts: Opts) => {
  const methods = parseChoices(String(opts['methods']), '--methods', METHODS);
  report(await runBench({ methods, seeds: seedsOf(opts), outDir: outDirOf(opts), layers: layersOf(opts, { epochs: 1 }) }));
});

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`msam: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
