// msam.train(config): the training loop. It resolves the configuration, loads the data, builds
// the model, optimizer, schedule and mSAM, trains with the next batch prepared while the current
// step runs on a worker thread, evaluates every epoch, writes metrics.jsonl, checkpoints (last
// and best) and results.json, and resumes bit for bit from its last checkpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withAutocast } from '../amp';
import { noGrad } from '../autograd';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint';
import { DataLoader, disposeBatch } from '../data/loader';
import { METRICS, type MetricName } from '../data/metrics';
import type { ProcessGroup } from '../distributed/group';
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
import { Ranks } from './distributed';
import { savePretrained } from '../../models/pretrained';
import { runData, runModel } from './run-model';
import { CHECKPOINT_KIND, checkpointFile, keepCheckpoint, loadInitWeights, readTrainExtra, runFiles } from './checkpoints';
import { writeCurves } from '../report/curves';
import { MetricsLog } from './metrics-log';
import { writeAtomically } from '../checkpoint/atomic';
import { formatDuration, makeProgress, type Progress } from './progress';
import { ConfigError, resolveTrainConfig, validate, type ConfigIssue, type ConfigLayer } from './resolve';
import type { LabelNoiseReport } from './label-noise';
import { runSplits } from './split';
import { listenForStop, type StopSignal } from './stop';

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
  /** 'epoch': at the end of an epoch; 'eval': an evaluation every evalEvery steps. */
  type: 'epoch' | 'eval';
  epoch: number;
  step: number;
  lr: number;
  /** Mean training loss of the epoch so far (NaN when every step was skipped). */
  trainLoss: number;
  trainPerturbedLoss: number;
  /** Steps of the epoch so far skipped as non-finite. */
  skippedSteps: number;
  sharpSteps: number;
  /**
   * Accuracy on a fixed subset of the training part (its first trainEvalExamples examples), measured
   * as the validation set is: eval mode, no augmentation. Beside valAccuracy it shows the gap.
   */
  trainAccuracy: number;
  trainEvalExamples: number;
  /** On the validation set (null without one: data.valFraction 0). */
  valLoss: number | null;
  valAccuracy: number | null;
  /** The data set's metric ('accuracy'; GLUE: 'mcc' for CoLA, 'f1' for MRPC and QQP, 'accuracy' for SST-2). */
  metric: MetricName;
  /** Its value on the validation set (the best checkpoint is the best by it). */
  valMetric: number | null;
  best: boolean;
  /** Wall seconds since the run started (over resumes). */
  seconds: number;
  examplesPerSecond: number;
}

/** An evaluation, as hooks.onEvaluate sees it. */
export interface EvaluationInfo {
  split: 'validation' | 'test';
  /** 'current': during training; at the end, 'last' and 'best' (the best on validation). */
  model: 'current' | 'last' | 'best';
  /** Steps done when it ran (for 'best': the step the best model is from). */
  step: number;
  loss: number;
  accuracy: number;
  metric: number;
}

export interface TrainHooks {
  /** After every step (awaited; the next batch is already built). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** After every evaluation (end of an epoch, every evalEvery steps) and its checkpoints. */
  onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
  /** After every evaluation of a model on the validation or the test set. */
  onEvaluate?: (info: EvaluationInfo) => void;
  /** Aborting stops as SIGINT does: after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /**
   * SIGINT, SIGTERM and SIGUSR1 stop after the current step with a checkpoint (a second exits at
   * once). Default true.
   */
  handleSignals?: boolean;
  /** @deprecated the old name of handleSignals. */
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
  /** The last model's test accuracy in [0, 1] (null when interrupted before the end). */
  testAccuracy: number | null;
  testLoss: number | null;
  /** The data set's metric and the last model's value of it on the test set. */
  metric: MetricName;
  testMetric: number | null;
  /**
   * The test accuracy, loss and metric of the model chosen on the validation set (best.safetensors);
   * the last model's without a validation set. What experiments report.
   */
  bestTestAccuracy: number | null;
  bestTestLoss: number | null;
  bestTestMetric: number | null;
  /** The chosen model's validation values, and where it is from (null without a validation set). */
  bestValAccuracy: number | null;
  bestValMetric: number | null;
  bestEpoch: number | null;
  bestStep: number | null;
  /** Examples in the validation split (0 without one). */
  valExamples: number;
  /** data.labelNoise's corruption of the training labels (null without label noise). */
  labelNoise: LabelNoiseReport | null;
  method: TrainConfig['method'];
  /** Shards per full batch in the mSAM phase (1 for SAM and vanilla). */
  m: number;
  rho: number;
  epochs: number;
  steps: number;
  /** Steps skipped as non-finite (no update), over the run. */
  skippedSteps: number;
  /** Wall seconds of training and evaluation, over resumes. */
  seconds: number;
  examplesPerSecond: number;
  device: Device;
  threads: number;
  /** Processes that trained together (1 without a process group). */
  processes: number;
  interrupted: boolean;
  /** The signal that stopped an interrupted run (null: an AbortSignal, or not interrupted). */
  signal: StopSignal | null;
  /** The validation metric stopped improving for earlyStopPatience evaluations. */
  earlyStopped: boolean;
  /** The run's directory (results.json, metrics.jsonl, checkpoints/). */
  outDir: string;
  /** The last checkpoint written. */
  checkpoint: string | null;
  versions: { msam: string; libtorch: string; cuda: string | null };
  config: TrainConfig;
}

export { runFiles, checkpointFile } from './checkpoints';

/** The run's position and running sums: everything besides tensors that a resume restores. */
interface RunState {
  /** 0-based epoch in progress. */
  epoch: number;
  /** Steps done in it. */
  stepInEpoch: number;
  globalStep: number;
  sum: { loss: number; perturbedLoss: number; examples: number; skipped: number; sharp: number };
  /** The best evaluation on the validation set so far (what best.safetensors holds). */
  best: Evaluation | null;
  /** The last evaluation on the validation set. */
  last: Evaluation | null;
  /** Evaluations since the best (early stopping). */
  sinceBest: number;
  skippedTotal: number;
  skippedInARow: number;
  seconds: number;
  examples: number;
  metricsLines: number;
}

interface Evaluation {
  epoch: number;
  step: number;
  loss: number;
  accuracy: number;
  metric: number;
}

const freshSums = (): RunState['sum'] => ({ loss: 0, perturbedLoss: 0, examples: 0, skipped: 0, sharp: 0 });

/**
 * Fields a resumed run may change: they do not affect what is computed (strategy and chunkSize say
 * how a step runs: the same gradient to float tolerance; with dropout, other masks), or they extend
 * or budget the run (epochs, maxSteps: the schedule is then computed for the new length).
 */
const RESUMABLE_CHANGES = new Set([
  'outDir', 'resume', 'log', 'preset', 'evalBatchSize', 'threads', 'strategy', 'chunkSize',
  'epochs', 'maxSteps', 'evalEvery', 'earlyStopPatience', 'maxNonFiniteSteps', 'checkpoint', 'initFrom',
]);

/** Trains with `config` (fields over the preset it names); see TrainHooks for callbacks. */
export async function train(config: TrainInput = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  return trainLayers([{ source: 'train() config', values: config }], hooks);
}

/** The configuration a training checkpoint was written with. */
export function checkpointConfig(file: string): TrainConfig {
  const extra = readTrainExtra(file);
  return validate(extra.config);
}

/** Thrown when training stops because every step is non-finite (K in a row). */
export class NonFiniteLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
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

/** The steps a run takes: maxSteps when set, else epochs × steps per epoch. */
export const totalStepsOf = (config: Pick<TrainConfig, 'epochs' | 'maxSteps'>, stepsPerEpoch: number): number => config.maxSteps ?? config.epochs * stepsPerEpoch;

/** The learning rate of each step under `config`'s schedule, peaking at the optimizer's lr. */
export function buildSchedule(config: TrainConfig, stepsPerEpoch: number, totalSteps = totalStepsOf(config, stepsPerEpoch)): schedules.Schedule {
  const lr = config.optimizer.lr;
  const s = config.schedule;
  // The warm-up: its fraction of the run, but at least minWarmupSteps (at most half the run).
  const warmup = (f: number, min: number) => Math.min(totalSteps - 1, Math.max(Math.round(f * totalSteps), Math.min(min, Math.floor(totalSteps / 2))));
  switch (s.name) {
    case 'oneCycle': {
      const warmupFraction = Math.max(s.warmupFraction, Math.min(s.minWarmupSteps, Math.floor(totalSteps / 2)) / totalSteps);
      return schedules.oneCycle({ maxLr: lr, totalSteps, warmupFraction, divFactor: s.divFactor, finalDivFactor: s.finalDivFactor, anneal: s.anneal });
    }
    case 'cosine':
      return schedules.cosine({ baseLr: lr, totalSteps, warmupSteps: warmup(s.warmupFraction, s.minWarmupSteps), minLr: Math.min(s.minLr, lr) });
    case 'linear':
      return schedules.linear({ baseLr: lr, totalSteps, warmupSteps: warmup(s.warmupFraction, s.minWarmupSteps), endLr: Math.min(s.endLr, lr) });
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
    const from = checkpointFile(config.resume, config.outDir);
    resumeFrom = from;
    const saved = validate(readTrainExtra(from).config);
    // The checkpoint's configuration is the base; what was given goes over it, and must not change the training.
    config = resolveTrainConfig({ source: `checkpoint ${from}`, values: saved as unknown as Record<string, unknown> }, ...layers);
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
  if (config.strategy === 'graph' && device === 'cpu') {
    throw new ConfigError([{ field: 'strategy', source: null, message: "'graph' replays a captured CUDA graph: it needs a CUDA device, and this run is on the cpu; use 'auto', 'loop' or 'vectorized'" }]);
  }
  ranks.device = device;
  if (config.threads !== undefined) setNumThreads(config.threads);
  const outDir = config.outDir ?? path.join('runs', `${config.preset ?? 'run'}-${config.method}-${timestamp()}`);
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) {
    throw new ConfigError([{ field: 'outDir', source: null, message: `${outDir} is a file, not a directory: give a directory for the run's results.json, metrics.jsonl and checkpoints/` }]);
  }
  config = { ...config, outDir };
  const files = runFiles(outDir);
  const configJson = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;

  // ---- data (the validation split held out of the training set), model, optimizer, schedule ----
  const data = runData(config);
  const split = runSplits(data.train, config.data, data.numClasses, config.seed);

  manualSeed(config.seed);
  const { model, transform, images, pretrainedImages } = await runModel(config, data);
  const trainLoader = new DataLoader(split.train, {
    batchSize: config.batchSize,
    shuffle: true,
    dropLast: config.dropLast,
    seed: config.seed,
    device,
    transform: images ? { ...transform, augment: config.data.augment } : transform,
  });
  const evalLoader = (d: typeof data.test, limit?: number) =>
    new DataLoader(d, { batchSize: config.evalBatchSize, shuffle: false, device, ...(limit !== undefined ? { limit } : {}), transform });
  const valLoader = split.val === null ? null : evalLoader(split.val);
  // As many training examples as the validation set has (at most TRAIN_EVAL_MAX): the two
  // accuracies in the curves then carry the same sampling noise, at the cost of a second evaluation.
  const trainEvalLoader = evalLoader(split.train, Math.min(valLoader?.size ?? TRAIN_EVAL_MAX, TRAIN_EVAL_MAX));
  const testLoader = evalLoader(data.test, config.data.testLimit);
  for (const t of [split.train, split.val, data.test].flatMap((d) => (d === null ? [] : [d.inputs, d.targets].flat()))) t.dispose();
  if (trainLoader.length === 0) throw new RangeError(`the training set has no batch of ${config.batchSize}`);
  if (config.initFrom !== null && resumeFrom === null) loadInitWeights(model, config.initFrom);
  // bf16: autocast (the ops that gain from it in bfloat16, weights and gradients in float32).
  const autocast = config.precision === 'bf16' ? ('bfloat16' as const) : undefined;
  model.to(device);
  model.train();
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = buildOptimizer(config.optimizer, params);
  const stepsPerEpoch = trainLoader.length;
  const totalSteps = totalStepsOf(config, stepsPerEpoch);
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  const lrAt = buildSchedule(config, stepsPerEpoch, totalSteps);
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
    sinceBest: 0,
    skippedTotal: 0,
    skippedInARow: 0,
    seconds: 0,
    examples: 0,
    metricsLines: 0,
  };
  if (resumeFrom !== null) {
    const ck = loadCheckpoint(resumeFrom, { device });
    try {
      model.loadStateDict(ck.model);
      if (ck.optimizer === null) throw new Error(`resume: ${resumeFrom} holds no optimizer state`);
      optimizer.loadStateDict(ck.optimizer);
      const extra = ck.extra as { state: RunState; rng: Record<string, Tensor> };
      state = fromJsonSafe(extra.state) as RunState;
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
  }
  if (resumeFrom !== null && ranks.lead && state.best !== null) adoptBest(resumeFrom, files.best, state.best.step);
  // Lines written after the checkpoint (a crash after it) are dropped: the resumed run rewrites them.
  const metricsLog = new MetricsLog(files.metrics, files.csv, ranks.lead, resumeFrom === null ? 0 : state.metricsLines);
  await ranks.syncParameters(model);

  // ---- helpers ----
  const writeMetrics = (line: Record<string, unknown>) => {
    metricsLog.write(line);
    state.metricsLines = metricsLog.lines;
  };
  const sessionStart = performance.now();
  const secondsBefore = state.seconds;
  const elapsed = () => secondsBefore + (performance.now() - sessionStart) / 1000;
  const saveLast = () => {
    state.seconds = elapsed();
    tidy(() => {
      const rng: Record<string, Tensor> = { cpu: new Tensor(native.rngState('cpu')) };
      if (device !== 'cpu') rng[device] = new Tensor(native.rngState(device));
      saveCheckpoint(files.last, { module: model, optimizer, extra: { kind: CHECKPOINT_KIND, config: configJson, state: jsonSafe(state) as Record<string, unknown>, rng } });
    });
    keepCheckpoint(files, state.globalStep, config.checkpoint.keep);
  };
  const saveBest = (best: Evaluation) =>
    tidy(() => saveCheckpoint(files.best, { module: model, extra: { kind: 'msam.train.best/1', epoch: best.epoch, step: best.step, valAccuracy: best.accuracy, valMetric: best.metric, config: configJson } }));

  // `requested`: asked here (a signal, an abort, early stopping); `stop`: what the loop obeys. With
  // several ranks they agree after every step and epoch (agree()), so that all stop after the same step.
  let requested: string | null = hooks.signal?.aborted === true ? 'abort' : null;
  let stop: string | null = ranks.distributed ? null : requested;
  let stopSignal: StopSignal | null = null;
  let earlyStopped = false;
  const agree = async () => {
    if (ranks.distributed && (await ranks.agreeStop(requested !== null))) stop ??= requested ?? 'another rank stopped';
  };
  const progress: Progress = makeProgress(ranks.lead ? config.log.progress : 'none', stepsPerEpoch, config.log.everySteps, hooks.log);
  if (config.pretrained !== null) progress.log(`fine-tuning ${config.pretrained}${data.tokenizer !== undefined ? `; text encoded by ${data.tokenizer}` : ''}${pretrainedImages !== null ? `; images normalized as the checkpoint's (mean [${pretrainedImages.mean.join(', ')}], std [${pretrainedImages.std.join(', ')}])` : ''}`);
  if (transform.resize !== undefined) progress.log(`images resized from ${data.inputShape[1]}×${data.inputShape[2]} to ${String(transform.resize)}² (bilinear, antialiased) after crop and flip`);
  const onAbort = () => {
    requested ??= 'abort';
    if (!ranks.distributed) stop ??= 'abort';
  };
  const handleSignals = hooks.handleSignals ?? hooks.handleSigint ?? true;
  const unlisten = handleSignals
    ? listenForStop(
        (signal) => {
          stopSignal = signal;
          requested ??= signal;
          if (!ranks.distributed) stop ??= signal;
          progress.log(`${signal === 'SIGINT' ? 'interrupt' : signal}: stopping after this step and saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to quit at once)`);
        },
        () => progress.stop(),
      )
    : () => {};
  hooks.signal?.addEventListener('abort', onAbort);

  const sessionExamplesStart = state.examples;
  let lastEvalSeconds = 0;
  const eta = (): number | null => {
    const done = state.examples - sessionExamplesStart;
    const secs = (performance.now() - sessionStart) / 1000;
    if (done <= 0 || secs <= 0) return null;
    const stepsLeft = totalSteps - state.globalStep;
    return (stepsLeft * config.batchSize * secs) / done + (epochs - state.epoch) * lastEvalSeconds;
  };
  const rate = (): number => {
    const secs = (performance.now() - sessionStart) / 1000;
    return secs > 0 ? (state.examples - sessionExamplesStart) / secs : 0;
  };
  const show = () =>
    progress.update({
      epoch: Math.min(state.epoch + 1, epochs),
      epochs,
      step: state.globalStep,
      totalSteps,
      stepInEpoch: state.stepInEpoch,
      stepsPerEpoch,
      loss: state.sum.examples > 0 ? state.sum.loss / state.sum.examples : lastTrainLoss,
      lr: lrAt(Math.min(state.globalStep, totalSteps - 1)),
      valAccuracy: state.last?.accuracy ?? null,
      skippedSteps: state.skippedTotal,
      examplesPerSecond: rate(),
      etaSeconds: eta(),
    });
  const measure = (loader: DataLoader) => withAutocast(device, autocast ?? null, () => evaluate(model, loader, data.metric));

  /**
   * Evaluates on the validation set (rank 0; every rank first averages BatchNorm's buffers), keeps
   * the best model, writes the metrics line and the last checkpoint, and asks to stop early when
   * the metric has not improved for earlyStopPatience evaluations. The test set is not read here.
   */
  const evaluation = async (type: 'epoch' | 'eval') => {
    await ranks.averageBuffers(model);
    if (!ranks.lead) return;
    const e = state.epoch;
    const evalStart = performance.now();
    const onTrain = measure(trainEvalLoader);
    let val: Evaluation | null = null;
    let isBest = false;
    if (valLoader !== null) {
      const r = measure(valLoader);
      val = { epoch: e + 1, step: state.globalStep, loss: r.loss, accuracy: r.accuracy, metric: r.metric };
      hooks.onEvaluate?.({ split: 'validation', model: 'current', step: state.globalStep, loss: r.loss, accuracy: r.accuracy, metric: r.metric });
      // A NaN metric (a diverged model) is never the best; any number beats a NaN best.
      isBest = !Number.isNaN(val.metric) && (state.best === null || Number.isNaN(state.best.metric) || val.metric > state.best.metric);
      if (isBest) {
        state.best = val;
        state.sinceBest = 0;
      } else {
        state.sinceBest++;
      }
      state.last = val;
    }
    lastEvalSeconds = (performance.now() - evalStart) / 1000;
    const metrics: EpochMetrics = {
      type,
      epoch: e + 1,
      step: state.globalStep,
      lr: lrAt(Math.max(0, state.globalStep - 1)),
      trainLoss: state.sum.examples > 0 ? state.sum.loss / state.sum.examples : Number.NaN,
      trainPerturbedLoss: state.sum.examples > 0 ? state.sum.perturbedLoss / state.sum.examples : Number.NaN,
      skippedSteps: state.sum.skipped,
      sharpSteps: state.sum.sharp,
      trainAccuracy: onTrain.accuracy,
      trainEvalExamples: trainEvalLoader.size,
      valLoss: val?.loss ?? null,
      valAccuracy: val?.accuracy ?? null,
      metric: data.metric,
      valMetric: val?.metric ?? null,
      best: isBest,
      seconds: elapsed(),
      examplesPerSecond: rate(),
    };
    writeMetrics({ ...metrics });
    lastTrainLoss = metrics.trainLoss;
    const epochEnd = type === 'epoch' && state.stepInEpoch === stepsPerEpoch;
    const skippedShare = state.stepInEpoch > 0 ? state.sum.skipped / state.stepInEpoch : 0;
    if (epochEnd) {
      state.epoch++;
      state.stepInEpoch = 0;
      state.sum = freshSums();
    }
    if (isBest && val !== null) saveBest(val);
    if (config.earlyStopPatience > 0 && state.sinceBest >= config.earlyStopPatience && state.globalStep < totalSteps) {
      earlyStopped = true;
      requested ??= 'early stopping';
      if (!ranks.distributed) stop ??= 'early stopping';
    }
    saveLast();
    const valText =
      val === null
        ? 'no validation set'
        : `val loss ${val.loss.toFixed(4)}, val accuracy ${(100 * val.accuracy).toFixed(2)}%${data.metric === 'accuracy' ? '' : `, val ${METRICS[data.metric].title} ${val.metric.toFixed(4)}`}${isBest ? ' (best)' : ''}`;
    const skippedText = metrics.skippedSteps > 0 ? `, ${metrics.skippedSteps} skipped step${metrics.skippedSteps === 1 ? '' : 's'}` : '';
    const where = type === 'epoch' ? `epoch ${e + 1}/${epochs}` : `step ${state.globalStep}/${totalSteps}`;
    progress.log(`${where}: train loss ${metrics.trainLoss.toFixed(4)}${skippedText}, train accuracy ${(100 * onTrain.accuracy).toFixed(2)}%, ${valText}, ${formatDuration(metrics.seconds)} elapsed`);
    // More than a few percent of an epoch's steps made no update: say so, with the likely cause.
    if (type === 'epoch' && skippedShare > SKIPPED_WARNING_SHARE) {
      progress.log(
        `warning: ${metrics.skippedSteps} of the epoch's ${epochEnd ? stepsPerEpoch : metrics.skippedSteps} steps were skipped (non-finite loss or gradient, no update); the learning rate (peak ${config.optimizer.lr}) may be too high`,
      );
    }
    if (earlyStopped) progress.log(`early stopping: the validation ${METRICS[data.metric].title} has not improved for ${state.sinceBest} evaluations (best at step ${state.best?.step})`);
    show();
    await hooks.onEpoch?.(metrics);
  };

  let lastTrainLoss = Number.NaN; // shown between epochs
  let interrupted = false;
  let lastTest: Evaluation | null = null;
  let bestTest: Evaluation | null = null;
  try {
    show();
    await agree();
    while (state.globalStep < totalSteps && stop === null) {
      const e = state.epoch;
      const endOfEpoch = () => state.stepInEpoch >= stepsPerEpoch || state.globalStep >= totalSteps;
      // ---- the steps: batch k + 1 is built while step k runs on the worker thread ----
      let next: Batch | null = !endOfEpoch() ? trainLoader.batch(e, state.stepInEpoch) : null;
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
            if (state.stepInEpoch + 1 < stepsPerEpoch && state.globalStep + 1 < totalSteps) next = trainLoader.batch(e, state.stepInEpoch + 1);
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
            state.skippedInARow = 0;
          } else {
            state.sum.skipped++;
            state.skippedTotal++;
            state.skippedInARow++;
          }
          if (phase === 'sharp') state.sum.sharp++;
          if (config.log.everySteps > 0 && state.globalStep % config.log.everySteps === 0) {
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
              examplesPerSecond: rate(),
            });
          }
          show();
          await hooks.onStep?.({ epoch: e + 1, step: state.globalStep, stepInEpoch: state.stepInEpoch, stepsPerEpoch, totalSteps, lr, phase, stats, batchSize: B });
          if (config.maxNonFiniteSteps > 0 && state.skippedInARow >= config.maxNonFiniteSteps) {
            throw new NonFiniteLossError(
              `the loss is non-finite in ${state.skippedInARow} consecutive steps (the last at step ${state.globalStep}, learning rate ${lr.toPrecision(3)}; ${stats.skipReason ?? 'skipped'}) — the learning rate may be too high; the run stops (maxNonFiniteSteps ${config.maxNonFiniteSteps}, --max-non-finite-steps)`,
            );
          }
          // Every evalEvery steps an evaluation, every saveEvery a checkpoint (the epoch's end has its own).
          if (!endOfEpoch() && config.evalEvery > 0 && state.globalStep % config.evalEvery === 0) await evaluation('eval');
          else if (!endOfEpoch() && ranks.lead && config.checkpoint.saveEvery > 0 && state.globalStep % config.checkpoint.saveEvery === 0) saveLast();
          await agree();
          if (stop !== null) break;
        }
      } finally {
        if (next !== null) disposeBatch(next);
      }
      if (stop !== null) break;

      // ---- the end of an epoch (or of the step budget): evaluate, log, checkpoint ----
      await evaluation('epoch');
      if (!ranks.lead && state.stepInEpoch === stepsPerEpoch) {
        state.epoch++;
        state.stepInEpoch = 0;
        state.sum = freshSums();
      }
      await agree();
    }
    if (stop !== null && !earlyStopped && state.globalStep < totalSteps) {
      interrupted = true;
      await ranks.averageBuffers(model);
      if (ranks.lead) saveLast();
      progress.log(`stopped (${stop}) at epoch ${state.epoch + 1}, step ${state.stepInEpoch}/${stepsPerEpoch}: checkpoint ${files.last}`);
    }
    // ---- the test set, once, at the end: the last model, and the best on validation ----
    if (!interrupted && ranks.lead) {
      const test = (which: 'last' | 'best', step: number, epoch: number): Evaluation => {
        const r = measure(testLoader);
        hooks.onEvaluate?.({ split: 'test', model: which, step, loss: r.loss, accuracy: r.accuracy, metric: r.metric });
        writeMetrics({ type: 'test', model: which, epoch, step, testLoss: r.loss, testAccuracy: r.accuracy, metric: data.metric, testMetric: r.metric });
        return { epoch, step, loss: r.loss, accuracy: r.accuracy, metric: r.metric };
      };
      lastTest = test('last', state.globalStep, state.stepInEpoch === 0 ? state.epoch : state.epoch + 1);
      const best = state.best;
      if (best === null || best.step === state.globalStep) bestTest = lastTest;
      else {
        loadInitWeights(model, files.best);
        bestTest = test('best', best.step, best.epoch);
      }
    }
  } finally {
    progress.stop();
    unlisten();
    hooks.signal?.removeEventListener('abort', onAbort);
  }
  // A fine-tuned pretrained checkpoint also goes back in its own layout (the model tested last: the
  // best on validation), for the reference library to load: <outDir>/pretrained.
  if (config.pretrained !== null && ranks.lead && lastTest !== null) await savePretrained(model, path.join(outDir, 'pretrained'));

  const v = version();
  const seconds = interrupted ? state.seconds : elapsed();
  const result: TrainResult = {
    testAccuracy: lastTest?.accuracy ?? null,
    testLoss: lastTest?.loss ?? null,
    metric: data.metric,
    testMetric: lastTest?.metric ?? null,
    bestTestAccuracy: bestTest?.accuracy ?? null,
    bestTestLoss: bestTest?.loss ?? null,
    bestTestMetric: bestTest?.metric ?? null,
    bestValAccuracy: state.best?.accuracy ?? null,
    bestValMetric: state.best?.metric ?? null,
    bestEpoch: state.best?.epoch ?? null,
    bestStep: state.best?.step ?? null,
    valExamples: valLoader?.size ?? 0,
    labelNoise: split.labelNoise,
    method: config.method,
    m: shards,
    rho: config.method === 'vanilla' ? 0 : config.rho,
    epochs,
    steps: state.globalStep,
    skippedSteps: state.skippedTotal,
    seconds,
    examplesPerSecond: seconds > 0 ? state.examples / seconds : 0,
    device,
    threads: getNumThreads(),
    processes: ranks.world,
    interrupted,
    signal: interrupted ? stopSignal : null,
    earlyStopped,
    outDir,
    checkpoint: fs.existsSync(files.last) ? files.last : null,
    versions: { msam: v.msam, libtorch: v.libtorch, cuda: v.cuda },
    config,
  };
  if (!interrupted && ranks.lead) {
    writeAtomically(files.results, `${JSON.stringify(result, null, 2)}\n`);
    await writeCurves(files.metrics, files.curves, `${config.preset ?? 'run'}: ${config.method}${config.method === 'msam' ? ` (m = ${shards})` : ''}, seed ${config.seed}`);
  }
  trainLoader.dispose();
  trainEvalLoader.dispose();
  valLoader?.dispose();
  testLoader.dispose();
  optimizer.dispose();
  return result;
}

/**
 * A run resumed into another directory takes its best model along: best.safetensors beside the
 * checkpoint (or in its run's checkpoints/) is copied into this run's. Without it the end could
 * not test the model chosen on validation, so that is an error before any step.
 */
function adoptBest(resumeFrom: string, best: string, step: number): void {
  if (fs.existsSync(best)) return;
  const from = [path.join(path.dirname(resumeFrom), 'best.safetensors'), path.join(path.dirname(resumeFrom), 'checkpoints', 'best.safetensors')].find((f) => fs.existsSync(f));
  if (from === undefined) throw new Error(`resume: the best model on validation (step ${step}) is not in ${path.dirname(resumeFrom)}: put its best.safetensors beside ${path.basename(resumeFrom)}`);
  const tmp = `${best}.tmp`;
  fs.copyFileSync(from, tmp);
  fs.renameSync(tmp, best);
}

/** The run state with NaN and ±Infinity (a diverged loss) as strings, which JSON can hold. */
function jsonSafe(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $number: String(v) };
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

function fromJsonSafe(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJsonSafe);
  if (v !== null && typeof v === 'object') {
    const n = (v as { $number?: unknown }).$number;
    if (typeof n === 'string') return Number(n);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromJsonSafe(x)]));
  }
  return v;
}

/** A warning when more than this share of an epoch's steps were skipped as non-finite. */
const SKIPPED_WARNING_SHARE = 0.05;
/** The most training examples evaluated for the curves' train accuracy. */
const TRAIN_EVAL_MAX = 5000;

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


