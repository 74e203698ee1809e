// msam.train(config): the training loop. It resolves the configuration, loads the data, builds
// the model, optimizer, schedule and mSAM, trains with the next batch prepared while the current
// step runs on a worker thread, evaluates every epoch, writes metrics.jsonl, checkpoints (last
// and best) and results.json, and resumes bit for bit from its last checkpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withAutocast } from '../amp';
import { noGrad } from '../autograd';
import { loadCheckpoint, saveCheckpoint, type HasOptimizerState } from '../checkpoint';
import { DataLoader, disposeBatch } from '../data/loader';
import { METRICS, type MetricName } from '../data/metrics';
import type { ProcessGroup } from '../dist/group';
import { MSAM, type Batch, type LossOptions, type StepStats } from '../msam';
import { native } from '../native';
import type { Module } from '../nn/module';
import { AdamW } from '../optim/adamw';
import { clipGradNorm } from '../optim/clip';
import type { Optimizer } from '../optim/optimizer';
import { SGD } from '../optim/sgd';
import { cuda, getNumThreads, setNumThreads, version } from '../runtime';
import * as schedules from '../schedule';
import { Tensor } from '../tensor/core';
import { manualSeed } from '../tensor/creation';
import { crossEntropy } from '../tensor/functional';
import { tidy } from '../tensor/memory';
import type { Device } from '../types';
import { phaseAt, shardsOf, type TrainConfig, type TrainConfigLayer } from './config';
import { loadData } from './datasets';
import { Ranks } from './distributed';
import { buildModel } from './models';
import { formatDuration, makeProgress, type Progress } from './progress';
import { ConfigError, resolveTrainConfig, validate, type ConfigIssue, type ConfigLayer } from './resolve';

/** What train() takes: any fields of the configuration (the rest from the preset it names, or 'fashion-mnist'). */
export type TrainInput = TrainConfigLayer;

export interface StepInfo {
  /** 1-based epoch. */
  epoch: number;
  /** Steps done in the run (1 after the first). */
  step: number;
  /** Steps done in this epoch. */
  stepInEpoch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  lr: number;
  /** 'sharp' (mSAM or SAM, as the method) or 'vanilla' (a hybrid's other part, or method 'vanilla'). */
  phase: 'sharp' | 'vanilla';
  /** The step's statistics (loss, perturbedLoss, gradNorm, shards, skipped, skipReason). */
  stats: StepStats;
  batchSize: number;
}

export interface EpochMetrics {
  type: 'epoch';
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  trainPerturbedLoss: number;
  skippedSteps: number;
  sharpSteps: number;
  testLoss: number;
  testAccuracy: number;
  /** The data set's metric ('accuracy'; GLUE: 'mcc' for CoLA, 'f1' for MRPC and QQP, 'accuracy' for SST-2). */
  metric: MetricName;
  /** Its value on the test set (the best checkpoint is the best by it). */
  testMetric: number;
  best: boolean;
  /** Wall seconds since the run started (over resumes). */
  seconds: number;
  examplesPerSecond: number;
}

export interface TrainHooks {
  /** After every step (awaited; the next batch is already built). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** After every epoch's evaluation and checkpoints. */
  onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
  /** Aborting stops as SIGINT does: after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /** SIGINT stops after the current step with a checkpoint (a second SIGINT exits at once). Default true. */
  handleSigint?: boolean;
  /** Where progress lines go instead of stderr (makes 'auto' progress plain). */
  log?: (line: string) => void;
  /**
   * Data parallel over this group (msam.dist.initProcessGroup): every rank calls train() with the
   * same configuration; each runs its share of every batch's shards, and rank 0 alone writes files
   * and reports (README, "Multi-process training").
   */
  processGroup?: ProcessGroup;
}

export interface TrainResult {
  /** Final test accuracy in [0, 1] (null when interrupted before the end). */
  testAccuracy: number | null;
  testLoss: number | null;
  bestTestAccuracy: number | null;
  bestEpoch: number | null;
  /** The data set's metric, its final value and its best (accuracy for images; GLUE: the task's). */
  metric: MetricName;
  testMetric: number | null;
  bestTestMetric: number | null;
  method: TrainConfig['method'];
  /** Shards per full batch in the mSAM phase (1 for SAM and vanilla). */
  m: number;
  rho: number;
  epochs: number;
  steps: number;
  /** Wall seconds of training and evaluation, over resumes. */
  seconds: number;
  examplesPerSecond: number;
  device: Device;
  threads: number;
  /** Processes that trained together (1 without a process group). */
  processes: number;
  interrupted: boolean;
  /** The run's directory (results.json, metrics.jsonl, checkpoints/). */
  outDir: string;
  /** The last checkpoint written. */
  checkpoint: string | null;
  versions: { msam: string; libtorch: string; cuda: string | null };
  config: TrainConfig;
}

/** Where a run's files go. */
export const runFiles = (outDir: string) => ({
  results: path.join(outDir, 'results.json'),
  metrics: path.join(outDir, 'metrics.jsonl'),
  checkpoints: path.join(outDir, 'checkpoints'),
  last: path.join(outDir, 'checkpoints', 'last.safetensors'),
  best: path.join(outDir, 'checkpoints', 'best.safetensors'),
});

const CHECKPOINT_KIND = 'msam.train/1';

/** The run's position and running sums: everything besides tensors that a resume restores. */
interface RunState {
  /** 0-based epoch in progress. */
  epoch: number;
  /** Steps done in it. */
  stepInEpoch: number;
  globalStep: number;
  sum: { loss: number; perturbedLoss: number; examples: number; skipped: number; sharp: number };
  best: { accuracy: number; epoch: number; metric?: number } | null;
  last: { accuracy: number; loss: number; metric?: number } | null;
  seconds: number;
  examples: number;
  metricsLines: number;
}

const freshSums = (): RunState['sum'] => ({ loss: 0, perturbedLoss: 0, examples: 0, skipped: 0, sharp: 0 });

/**
 * Fields a resumed run may change: they do not affect what is computed (strategy and chunkSize say
 * how a step runs: the same gradient to float tolerance; with dropout, other masks).
 */
const RESUMABLE_CHANGES = new Set(['outDir', 'resume', 'log', 'preset', 'evalBatchSize', 'threads', 'strategy', 'chunkSize']);

/** Trains with `config` (fields over the preset it names); see TrainHooks for callbacks. */
export async function train(config: TrainInput = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  return trainLayers([{ source: 'train() config', values: config }], hooks);
}

/** A checkpoint file from `resume` (true: <outDir>/checkpoints/last.safetensors; a run directory; a file). */
export function checkpointFile(resume: string | true, outDir: string | undefined): string {
  if (resume === true) {
    if (outDir === undefined) throw new ConfigError([{ field: 'resume', source: null, message: 'resume: true needs outDir (the run to continue), or give resume the checkpoint file or run directory' }]);
    return runFiles(outDir).last;
  }
  if (fs.existsSync(resume) && fs.statSync(resume).isDirectory()) {
    for (const f of [runFiles(resume).last, path.join(resume, 'last.safetensors')]) if (fs.existsSync(f)) return f;
    throw new Error(`resume: ${resume} holds no checkpoint (looked for checkpoints/last.safetensors and last.safetensors)`);
  }
  if (!fs.existsSync(resume)) throw new Error(`resume: the checkpoint ${resume} does not exist`);
  return resume;
}

/** The configuration a training checkpoint was written with. */
export function checkpointConfig(file: string): TrainConfig {
  const extra = readTrainExtra(file);
  return validate(extra.config);
}

function readTrainExtra(file: string): Record<string, unknown> & { config: unknown } {
  const side = `${file}.json`;
  const meta = ((): { extra?: Record<string, unknown> | null } | null => {
    try {
      return JSON.parse(fs.readFileSync(side, 'utf8')) as { extra?: Record<string, unknown> | null } | null;
    } catch (e) {
      throw new Error(`resume: cannot read ${side}, the metadata of checkpoint ${file} (${(e as Error).message})`);
    }
  })();
  const extra = meta?.extra;
  if (extra === null || extra === undefined || extra['kind'] !== CHECKPOINT_KIND) {
    throw new Error(`resume: ${file} is not a checkpoint written by msam.train (no '${CHECKPOINT_KIND}' metadata)`);
  }
  return extra as Record<string, unknown> & { config: unknown };
}

function differences(a: unknown, b: unknown, at = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const obj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!obj(a) || !obj(b)) return [at];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => (at === '' && RESUMABLE_CHANGES.has(k) ? [] : differences(a[k], b[k], at ? `${at}.${k}` : k)));
}

function resolveDevice(config: TrainConfig): Device {
  const d = config.device;
  if (d === 'auto') return cuda.isAvailable() ? 'cuda' : 'cpu';
  if (d !== 'cpu' && !cuda.isAvailable()) {
    throw new ConfigError([{ field: 'device', source: null, message: `'${d}' is not available: ${version().cuda === null ? 'this libtorch was built without CUDA' : 'no CUDA device is visible'}; use 'cpu' or 'auto'` }]);
  }
  return d as Device;
}

function buildOptimizer(spec: TrainConfig['optimizer'], params: Tensor[]): Optimizer<object> {
  if (spec.name === 'sgd') {
    return new SGD(params, { lr: spec.lr, momentum: spec.momentum, nesterov: spec.nesterov, weightDecay: spec.weightDecay }) as unknown as Optimizer<object>;
  }
  return new AdamW(params, { lr: spec.lr, betas: spec.betas, eps: spec.eps, weightDecay: spec.weightDecay }) as unknown as Optimizer<object>;
}

/** The learning rate of each step under `config`'s schedule, peaking at the optimizer's lr. */
export function buildSchedule(config: TrainConfig, stepsPerEpoch: number): schedules.Schedule {
  const totalSteps = config.epochs * stepsPerEpoch;
  const lr = config.optimizer.lr;
  const s = config.schedule;
  const warmup = (f: number) => Math.min(totalSteps - 1, Math.round(f * totalSteps));
  switch (s.name) {
    case 'oneCycle':
      return schedules.oneCycle({ maxLr: lr, totalSteps, warmupFraction: s.warmupFraction, divFactor: s.divFactor, finalDivFactor: s.finalDivFactor, anneal: s.anneal });
    case 'cosine':
      return schedules.cosine({ baseLr: lr, totalSteps, warmupSteps: warmup(s.warmupFraction), minLr: Math.min(s.minLr, lr) });
    case 'linear':
      return schedules.linear({ baseLr: lr, totalSteps, warmupSteps: warmup(s.warmupFraction), endLr: Math.min(s.endLr, lr) });
    case 'step':
      return schedules.step({ baseLr: lr, stepSize: s.everyEpochs * stepsPerEpoch, gamma: s.gamma });
    case 'constant':
      return schedules.constant({ lr });
  }
}

/**
 * Test loss (mean cross-entropy), accuracy and `metric` (accuracy, F1 or Matthews correlation) of
 * `model` over `loader`, in eval mode. Multi-input batches ([ids, mask]) are passed as forward's
 * arguments, in order.
 */
export function evaluate(
  model: Module,
  loader: DataLoader,
  metric: MetricName = 'accuracy',
): { loss: number; accuracy: number; metric: number } {
  const wasTraining = model.training;
  model.eval();
  let loss = 0;
  let correct = 0;
  const preds: number[] = [];
  const targets: number[] = [];
  try {
    noGrad(() => {
      for (let k = 0; k < loader.length; k++) {
        tidy(() => {
          const b = loader.batch(0, k);
          const inputs = Array.isArray(b.input) ? b.input : [b.input];
          const logits = model.forward(...inputs).float();
          loss += crossEntropy(logits, b.target, { reduction: 'sum' }).item();
          const pred = logits.argmax(1);
          correct += pred.eq(b.target).sum().item();
          if (metric !== 'accuracy') {
            for (const v of pred.data()) preds.push(Number(v));
            for (const v of b.target.data()) targets.push(Number(v));
          }
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  const accuracy = correct / loader.size;
  return { loss: loss / loader.size, accuracy, metric: metric === 'accuracy' ? accuracy : METRICS[metric].fn(preds, targets) };
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** train() over explicit layers (the CLI's preset < config file < flags), each named in errors. */
export async function trainLayers(layers: ConfigLayer[], hooks: TrainHooks = {}): Promise<TrainResult> {
  // ---- the configuration, and the checkpoint to resume from ----
  let config = resolveTrainConfig(...layers);
  let resumeFrom: string | null = null;
  if (config.resume !== false) {
    resumeFrom = checkpointFile(config.resume, config.outDir);
    const saved = validate(readTrainExtra(resumeFrom).config);
    // The checkpoint's configuration is the base; what was given goes over it, and must not change the training.
    config = resolveTrainConfig({ source: `checkpoint ${resumeFrom}`, values: saved as unknown as Record<string, unknown> }, ...layers);
    const changed = differences(saved, config);
    if (changed.length > 0) {
      const issues: ConfigIssue[] = changed.map((field) => ({
        field,
        source: null,
        message: `differs from the checkpoint's (${JSON.stringify(pick(saved, field))} there, ${JSON.stringify(pick(config, field))} here): a resumed run continues the same configuration (only ${[...RESUMABLE_CHANGES].join(', ')} may change)`,
      }));
      throw new ConfigError(issues);
    }
  }
  const ranks = new Ranks(hooks.processGroup ?? null);
  if (ranks.distributed) checkDistributed(config, ranks.world);
  const device = rankDevice(resolveDevice(config), ranks);
  ranks.device = device;
  if (config.threads !== undefined) setNumThreads(config.threads);
  const outDir = config.outDir ?? path.join('runs', `${config.preset ?? 'run'}-${config.method}-${timestamp()}`);
  config = { ...config, outDir };
  const files = runFiles(outDir);
  const configJson = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;

  // ---- data, model, optimizer, schedule ----
  const data = loadData(config.data);
  const trainLoader = new DataLoader(data.train, {
    batchSize: config.batchSize,
    shuffle: true,
    dropLast: config.dropLast,
    seed: config.seed,
    device,
    limit: config.data.trainLimit,
    transform: data.mean === undefined ? {} : { mean: data.mean, std: data.std, augment: config.data.augment },
  });
  const testLoader = new DataLoader(data.test, {
    batchSize: config.evalBatchSize,
    shuffle: false,
    device,
    limit: config.data.testLimit,
    transform: { mean: data.mean, std: data.std },
  });
  for (const t of [data.train.inputs, data.train.targets, data.test.inputs, data.test.targets].flat()) t.dispose();
  if (trainLoader.length === 0) throw new RangeError(`the training set has no batch of ${config.batchSize}`);

  manualSeed(config.seed);
  const model = buildModel(config.model, { inputShape: data.inputShape, numClasses: data.numClasses, vocabSize: data.vocabSize, maxLength: data.maxLength });
  // bf16: autocast (the ops that gain from it in bfloat16, weights and gradients in float32).
  const autocast = config.precision === 'bf16' ? ('bfloat16' as const) : undefined;
  model.to(device);
  model.train();
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = buildOptimizer(config.optimizer, params);
  const stepsPerEpoch = trainLoader.length;
  const totalSteps = config.epochs * stepsPerEpoch;
  const lrAt = buildSchedule(config, stepsPerEpoch);
  const loss: LossOptions = { loss: 'cross_entropy', labelSmoothing: config.labelSmoothing };
  const shards = shardsOf(config);
  const group = ranks.distributed ? { processGroup: ranks.group as ProcessGroup } : {};
  // Vanilla over several ranks: one shard (ρ = 0) each, which sums to the whole batch's gradient.
  const vanilla = new MSAM(model, optimizer, { m: 1, rho: 0, ...(autocast ? { autocast } : {}), ...group });
  const vanillaShards = ranks.world;
  // The global m of a batch of B (the ranks' shares add up to it), and this rank's MSAM for its share.
  const globalShards = (batchSize: number): number =>
    config.method === 'msam' && config.microBatchSize !== undefined ? Math.ceil(batchSize / config.microBatchSize) : Math.min(shards, batchSize);
  const sharpByShards = new Map<number, MSAM>();
  const sharpFor = (localM: number): MSAM => {
    let s = sharpByShards.get(localM);
    if (s === undefined) {
      const how = { strategy: config.strategy, ...(config.chunkSize !== undefined ? { chunkSize: config.chunkSize } : {}) };
      s = new MSAM(model, optimizer, { m: localM, rho: config.rho, adaptive: config.adaptive, ...how, ...(autocast ? { autocast } : {}), ...group });
      sharpByShards.set(localM, s);
    }
    return s;
  };

  if (ranks.lead) fs.mkdirSync(files.checkpoints, { recursive: true }); // only now: a run that cannot start leaves no directory

  // ---- state: fresh, or from the checkpoint ----
  let state: RunState = {
    epoch: 0,
    stepInEpoch: 0,
    globalStep: 0,
    sum: freshSums(),
    best: null,
    last: null,
    seconds: 0,
    examples: 0,
    metricsLines: 0,
  };
  if (resumeFrom !== null) {
    const ck = loadCheckpoint(resumeFrom, { device });
    try {
      model.loadStateDict(ck.model);
      if (ck.optimizer === null) throw new Error(`resume: ${resumeFrom} holds no optimizer state`);
      optimizer.loadStateDict(ck.optimizer as never);
      const extra = ck.extra as { state: RunState; rng: Record<string, Tensor> };
      state = structuredClone(extra.state);
      for (const [dev, t] of Object.entries(extra.rng)) tidy(() => native.setRngState(dev, t.to('cpu').handle));
    } finally {
      const all: Tensor[] = [];
      const collect = (v: unknown) => {
        if (v instanceof Tensor) all.push(v);
        else if (v !== null && typeof v === 'object') Object.values(v).forEach(collect);
      };
      collect(ck);
      for (const t of all) t.dispose();
    }
  } else if (ranks.lead) {
    fs.rmSync(files.metrics, { force: true });
  }
  // Lines written after the checkpoint (a crash after it) are dropped: the resumed run rewrites them.
  if (ranks.lead) truncateLines(files.metrics, state.metricsLines);
  await ranks.syncParameters(model);

  // ---- helpers ----
  const writeMetrics = (line: object) => {
    fs.appendFileSync(files.metrics, `${JSON.stringify(line)}\n`);
    state.metricsLines++;
  };
  const sessionStart = performance.now();
  const secondsBefore = state.seconds;
  const elapsed = () => secondsBefore + (performance.now() - sessionStart) / 1000;
  const saveLast = () => {
    state.seconds = elapsed();
    tidy(() => {
      const rng: Record<string, Tensor> = { cpu: new Tensor(native.rngState('cpu')) };
      if (device !== 'cpu') rng[device] = new Tensor(native.rngState(device));
      saveCheckpoint(files.last, { module: model, optimizer: optimizer as unknown as HasOptimizerState, extra: { kind: CHECKPOINT_KIND, config: configJson, state: structuredClone(state), rng } });
    });
  };
  const saveBest = (epoch: number, accuracy: number) =>
    tidy(() => saveCheckpoint(files.best, { module: model, extra: { kind: 'msam.train.best/1', epoch, testAccuracy: accuracy, config: configJson } }));

  // `requested`: asked here (SIGINT, an abort); `stop`: what the loop obeys. With several ranks
  // they agree after every step and epoch (agree()), so that all stop after the same step.
  let requested: string | null = hooks.signal?.aborted === true ? 'abort' : null;
  let stop: string | null = ranks.distributed ? null : requested;
  const agree = async () => {
    if (ranks.distributed && (await ranks.agreeStop(requested !== null))) stop ??= requested ?? 'another rank stopped';
  };
  const progress: Progress = makeProgress(ranks.lead ? config.log.progress : 'none', stepsPerEpoch, config.log.everySteps, hooks.log);
  const onSigint = () => {
    if (requested !== null) {
      progress.stop();
      process.stderr.write('msam: second interrupt: exiting without waiting for the checkpoint\n');
      process.exit(130);
    }
    requested = 'SIGINT';
    if (!ranks.distributed) stop = requested;
    progress.log('interrupt: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)');
  };
  const onAbort = () => {
    requested ??= 'abort';
    if (!ranks.distributed) stop ??= 'abort';
  };
  const handleSigint = hooks.handleSigint ?? true;
  if (handleSigint) process.on('SIGINT', onSigint);
  hooks.signal?.addEventListener('abort', onAbort);

  const sessionExamplesStart = state.examples;
  let lastEvalSeconds = 0;
  const eta = (): number | null => {
    const done = state.examples - sessionExamplesStart;
    const secs = (performance.now() - sessionStart) / 1000;
    if (done <= 0 || secs <= 0) return null;
    const stepsLeft = totalSteps - state.globalStep;
    return (stepsLeft * config.batchSize * secs) / done + (config.epochs - state.epoch) * lastEvalSeconds;
  };
  const rate = (): number => {
    const secs = (performance.now() - sessionStart) / 1000;
    return secs > 0 ? (state.examples - sessionExamplesStart) / secs : 0;
  };
  const show = () =>
    progress.update({
      epoch: Math.min(state.epoch + 1, config.epochs),
      epochs: config.epochs,
      step: state.globalStep,
      totalSteps,
      stepInEpoch: state.stepInEpoch,
      stepsPerEpoch,
      loss: state.sum.examples > 0 ? state.sum.loss / state.sum.examples : lastTrainLoss,
      lr: lrAt(Math.min(state.globalStep, totalSteps - 1)),
      testAccuracy: state.last?.accuracy ?? null,
      examplesPerSecond: rate(),
      etaSeconds: eta(),
    });

  let lastTrainLoss = Number.NaN; // shown between epochs
  let interrupted = false;
  try {
    show();
    await agree();
    while (state.epoch < config.epochs && stop === null) {
      const e = state.epoch;
      // ---- the steps: batch k + 1 is built while step k runs on the worker thread ----
      let next: Batch | null = state.stepInEpoch < stepsPerEpoch ? trainLoader.batch(e, state.stepInEpoch) : null;
      try {
        while (next !== null) {
          const batch: Batch = next;
          next = null;
          const B = batch.target.shape[0] as number;
          const phase = phaseAt(config, state.globalStep, totalSteps);
          const lr = lrAt(state.globalStep);
          optimizer.setLr(lr);
          // This rank's share of the batch's shards (the whole batch for one process).
          const share = ranks.share(batch, phase === 'sharp' ? globalShards(B) : vanillaShards);
          const sam = phase === 'sharp' ? sharpFor(share.m) : vanilla;
          ranks.seedStep(config.seed, state.globalStep);
          const stepBatch = { input: share.batch.input, target: share.batch.target };
          const pending: Promise<StepStats> =
            config.gradClip === null
              ? sam.step(stepBatch, loss)
              : sam.gradient(stepBatch, loss).then((s) => {
                  if (!s.skipped) {
                    clipGradNorm(params, config.gradClip as number);
                    optimizer.step();
                  }
                  return s;
                });
          let buildError: unknown = null;
          try {
            if (state.stepInEpoch + 1 < stepsPerEpoch) next = trainLoader.batch(e, state.stepInEpoch + 1);
          } catch (err) {
            buildError = err;
          }
          const stats = await pending.finally(() => {
            for (const v of share.views) v.dispose();
            disposeBatch(batch);
          });
          if (buildError !== null) throw buildError;
          state.stepInEpoch++;
          state.globalStep++;
          state.examples += B;
          if (!stats.skipped) {
            state.sum.loss += stats.loss * B;
            state.sum.perturbedLoss += stats.perturbedLoss * B;
            state.sum.examples += B;
          } else {
            state.sum.skipped++;
          }
          if (phase === 'sharp') state.sum.sharp++;
          if (ranks.lead && config.log.everySteps > 0 && state.globalStep % config.log.everySteps === 0) {
            writeMetrics({
              type: 'step',
              epoch: e + 1,
              step: state.globalStep,
              lr,
              phase,
              shards: stats.shards,
              loss: stats.loss,
              perturbedLoss: stats.perturbedLoss,
              gradNorm: stats.gradNorm,
              skipped: stats.skipped,
              seconds: elapsed(),
            });
          }
          show();
          await hooks.onStep?.({
            epoch: e + 1,
            step: state.globalStep,
            stepInEpoch: state.stepInEpoch,
            stepsPerEpoch,
            totalSteps,
            lr,
            phase,
            stats,
            batchSize: B,
          });
          await agree();
          if (stop !== null) break;
        }
      } finally {
        if (next !== null) disposeBatch(next);
      }
      if (stop !== null) break;

      // ---- the end of an epoch: evaluate, log, checkpoint (rank 0; the others go on to the next epoch) ----
      await ranks.averageBuffers(model);
      if (!ranks.lead) {
        state.epoch++;
        state.stepInEpoch = 0;
        state.sum = freshSums();
        await agree();
        continue;
      }
      const evalStart = performance.now();
      const { loss: testLoss, accuracy: testAccuracy, metric: testMetric } = withAutocast(device, autocast ?? null, () => evaluate(model, testLoader, data.metric));
      lastEvalSeconds = (performance.now() - evalStart) / 1000;
      const isBest = state.best === null || testMetric > (state.best.metric ?? state.best.accuracy);
      if (isBest) state.best = { accuracy: testAccuracy, epoch: e + 1, metric: testMetric };
      state.last = { accuracy: testAccuracy, loss: testLoss, metric: testMetric };
      const metrics: EpochMetrics = {
        type: 'epoch',
        epoch: e + 1,
        step: state.globalStep,
        lr: lrAt(state.globalStep - 1),
        trainLoss: state.sum.examples > 0 ? state.sum.loss / state.sum.examples : Number.NaN,
        trainPerturbedLoss: state.sum.examples > 0 ? state.sum.perturbedLoss / state.sum.examples : Number.NaN,
        skippedSteps: state.sum.skipped,
        sharpSteps: state.sum.sharp,
        testLoss,
        testAccuracy,
        metric: data.metric,
        testMetric,
        best: isBest,
        seconds: elapsed(),
        examplesPerSecond: rate(),
      };
      writeMetrics(metrics);
      lastTrainLoss = metrics.trainLoss;
      state.epoch++;
      state.stepInEpoch = 0;
      state.sum = freshSums();
      if (isBest) saveBest(e + 1, testAccuracy);
      saveLast();
      progress.log(
        `epoch ${e + 1}/${config.epochs}: train loss ${metrics.trainLoss.toFixed(4)}, test loss ${testLoss.toFixed(4)}, test accuracy ${(100 * testAccuracy).toFixed(2)}%${data.metric === 'accuracy' ? '' : `, test ${METRICS[data.metric].title} ${testMetric.toFixed(4)}`}${isBest ? ' (best)' : ''}, ${formatDuration(metrics.seconds)} elapsed`,
      );
      show();
      await hooks.onEpoch?.(metrics);
      await agree();
    }
    if (stop !== null && state.epoch < config.epochs) {
      interrupted = true;
      await ranks.averageBuffers(model);
      if (ranks.lead) saveLast();
      progress.log(`stopped (${stop}) at epoch ${state.epoch + 1}, step ${state.stepInEpoch}/${stepsPerEpoch}: checkpoint ${files.last}`);
    }
  } finally {
    progress.stop();
    if (handleSigint) process.off('SIGINT', onSigint);
    hooks.signal?.removeEventListener('abort', onAbort);
  }

  const v = version();
  const seconds = interrupted ? state.seconds : elapsed();
  const result: TrainResult = {
    testAccuracy: interrupted ? null : (state.last?.accuracy ?? null),
    testLoss: interrupted ? null : (state.last?.loss ?? null),
    bestTestAccuracy: state.best?.accuracy ?? null,
    bestEpoch: state.best?.epoch ?? null,
    metric: data.metric,
    testMetric: interrupted ? null : (state.last?.metric ?? state.last?.accuracy ?? null),
    bestTestMetric: state.best === null ? null : (state.best.metric ?? state.best.accuracy),
    method: config.method,
    m: shards,
    rho: config.method === 'vanilla' ? 0 : config.rho,
    epochs: config.epochs,
    steps: state.globalStep,
    seconds,
    examplesPerSecond: seconds > 0 ? state.examples / seconds : 0,
    device,
    threads: getNumThreads(),
    processes: ranks.world,
    interrupted,
    outDir,
    checkpoint: fs.existsSync(files.last) ? files.last : null,
    versions: { msam: v.msam, libtorch: v.libtorch, cuda: v.cuda },
    config,
  };
  if (!interrupted && ranks.lead) fs.writeFileSync(files.results, `${JSON.stringify(result, null, 2)}\n`);
  trainLoader.dispose();
  testLoader.dispose();
  optimizer.dispose();
  return result;
}

/** What several processes cannot run: SAM's one shard, or a batch with fewer shards than processes. */
function checkDistributed(config: TrainConfig, world: number): void {
  const issues: ConfigIssue[] = [];
  if (config.method === 'sam') {
    issues.push({ field: 'method', source: null, message: `SAM is m = 1: its one ascent needs the whole batch in one process; with ${world} processes use method 'msam' with m ≥ ${world}` });
  }
  if (config.method === 'msam') {
    const batches = [config.batchSize];
    const limit = config.data.trainLimit;
    if (!config.dropLast && limit !== undefined && limit % config.batchSize !== 0) batches.push(limit % config.batchSize);
    for (const B of batches) {
      const m = config.microBatchSize !== undefined ? Math.ceil(B / config.microBatchSize) : Math.min(shardsOf(config), B);
      if (m < world) {
        issues.push({ field: config.microBatchSize !== undefined ? 'microBatchSize' : 'm', source: null, message: `a batch of ${B} has ${m} shard(s), fewer than the ${world} processes: each process runs whole shards (the global m is the sum of theirs)` });
        break;
      }
    }
  }
  if (config.batchSize < world) issues.push({ field: 'batchSize', source: null, message: `must be at least the number of processes (${world})` });
  if (issues.length > 0) throw new ConfigError(issues);
}

/** With several processes on a machine of several GPUs, each takes its own (LOCAL_RANK, as torchrun). */
function rankDevice(device: Device, ranks: Ranks): Device {
  if (!ranks.distributed || device !== 'cuda') return device;
  const local = Number(process.env['LOCAL_RANK'] ?? ranks.rank);
  return `cuda:${local % Math.max(1, cuda.deviceCount())}` as Device;
}

function pick(value: unknown, field: string): unknown {
  let v = value;
  for (const k of field.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** Keeps the first `lines` lines of `file` (when it exists). */
function truncateLines(file: string, lines: number): void {
  if (!fs.existsSync(file)) return;
  const text = fs.readFileSync(file, 'utf8');
  const kept = text.split('\n').slice(0, lines);
  fs.writeFileSync(file, kept.length > 0 && lines > 0 ? `${kept.join('\n')}\n` : '');
}
