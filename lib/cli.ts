#!/usr/bin/env node
// The `msam` command line. Each command has --help.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { METRICS } from './data/metrics';
import { LAUNCH_FLAGS, addLaunchCommand, groupFromEnv, launchTrainWorkers } from './distributed/commands';
import { addExperimentCommands } from './experiments/commands';
import { addToolCommands } from './tool-commands';
import { cuda, getNumThreads, version } from './runtime';
import { FLAGS, trainLayersFromOptions } from './train/flags';
import { PRESET_NAMES, presets } from './train/presets';
import { exitCodeFor } from './train/stop';
import { ExperimentInterrupted } from './experiments/runner';
import { formatDuration } from './train/progress';
import { runFiles, trainLayers, type TrainResult } from './train/trainer';

/** The `msam` program with all its commands (parsed when this file is run). */
export const program = new Command();
program.name('msam').description('m-sharpness-aware minimization (mSAM) on libtorch, from Node.js').enablePositionalOptions();
// `msam --version` / `-V`: msam's version and the libtorch it runs on (`msam info` has the rest).
program.version(`${version().msam} (libtorch ${version().libtorch})`, '-V, --version', "msam's version");

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

/**
 * The test score of the model chosen on the validation set (and of the last model when that is
 * another): accuracy, or the data set's metric (GLUE: Matthews correlation, F1) and the accuracy.
 */
function score(r: TrainResult): string {
  const pct = (a: number | null) => (a === null ? '–' : `${(100 * a).toFixed(2)}%`);
  const v = (a: number | null) => (a === null ? '–' : a.toFixed(4));
  const chosen = r.bestStep === null ? 'last model; no validation set' : r.bestStep === r.steps ? `best on validation = last, step ${r.bestStep}` : `best on validation: epoch ${r.bestEpoch}, step ${r.bestStep}; last model ${r.metric === 'accuracy' ? pct(r.testAccuracy) : v(r.testMetric)}`;
  const skipped = r.skippedSteps > 0 ? `, ${r.skippedSteps} steps skipped as non-finite` : '';
  if (r.metric === 'accuracy') return `test accuracy ${pct(r.bestTestAccuracy)} (${chosen}${skipped})`;
  return `test ${METRICS[r.metric].title} ${v(r.bestTestMetric)} (${chosen}${skipped}), accuracy ${pct(r.bestTestAccuracy)}`;
}

function summary(r: TrainResult): string {
  const method = r.method === 'msam' ? `mSAM (m = ${r.m}, ρ = ${r.rho})` : r.method === 'sam' ? `SAM (ρ = ${r.rho})` : 'vanilla';
  const files = runFiles(r.outDir);
  const rel = (f: string) => path.relative(r.outDir, f);
  const best = r.bestStep !== null && fs.existsSync(files.best) ? `, ${rel(files.best)}` : '';
  return [
    `${score(r)} · ${method} · ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}${r.earlyStopped ? ' (stopped early)' : ''}, ${r.steps} steps in ${formatDuration(r.seconds)} (${r.examplesPerSecond.toFixed(0)} examples/s, ${r.device}, ${r.threads} thread${r.threads === 1 ? '' : 's'})`,
    `wrote ${r.outDir}: ${rel(files.results)}, ${rel(files.metrics)}, ${rel(files.csv)}, ${rel(files.last)}${best}`,
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
for (const f of LAUNCH_FLAGS) trainCommand.option(f.flag, f.help);
trainCommand.option('--json', 'print results.json to stdout instead of the summary').action(async (opts: Record<string, unknown>) => {
  // --nproc N: this process launches N workers (this command again); each worker joins the group.
  const launched = await launchTrainWorkers(opts);
  if (launched !== null) {
    process.exitCode = launched;
    return;
  }
  const layers = trainLayersFromOptions(opts);
  const group = await groupFromEnv();
  let result: TrainResult;
  try {
    result = await trainLayers(layers, group === null ? {} : { processGroup: group });
  } catch (e) {
    if (group !== null) throw new Error(`rank ${group.rank}: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  } finally {
    group?.close();
  }
  if (group !== null && group.rank !== 0) {
    if (result.interrupted) process.exitCode = exitCodeFor(result.signal);
    return;
  }
  if (result.interrupted) {
    const why = result.signal === null ? 'interrupted' : result.signal === 'SIGINT' ? 'interrupted (SIGINT)' : `stopped by ${result.signal}`;
    console.log(`${why} after ${result.steps} steps; checkpoint ${result.checkpoint}\ncontinue with: msam train --resume ${result.outDir}`);
    process.exitCode = exitCodeFor(result.signal);
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

addExperimentCommands(program);
addToolCommands(program);
addLaunchCommand(program);

if (require.main === module) {
  program.parseAsync(process.argv).catch((e: unknown) => {
    console.error(`msam: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = e instanceof ExperimentInterrupted ? exitCodeFor(e.signal) : 1;
  });
}
