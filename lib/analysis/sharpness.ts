// Sharpness of a trained model, as the paper's Table 4 measures it: λ_max, the largest eigenvalue
// of the Hessian of the training loss at the final weights (power iteration, as
// pytorch-hessian-eigenthings), with Hutchinson's trace and m-sharpness beside it. The loss is the
// training loss (cross-entropy with the run's label smoothing; weight decay is the optimizer's and
// not part of it) over a fixed random subset of the training set (or all of it), without
// augmentation, the model in eval mode.
import { DataLoader, disposeBatch } from '../data/loader';
import type { Batch } from '../msam';
import type { Module } from '../nn/module';
import { cuda } from '../runtime';
import type { TrainConfig } from '../train/config';
import type { TransformOptions } from '../data/transforms';
import type { LoadedData } from '../train/datasets';
import { runData } from '../train/run-model';
import type { Device } from '../types';
import { checkpointPath, loadTrainedModel, trainedConfig } from './checkpoint';
import { hessianEigenvalues, hessianTrace, mSharpness, type AnalysisProgress } from './hessian';

export interface SharpnessOptions {
  /** Training examples the loss is taken over: a fixed random subset of this size (by `seed`), or 'all'. Default 2048. */
  examples?: number | 'all';
  /** Examples per forward/double-backward pass. Default 1024. */
  batchSize?: number;
  /** Seeds the subset, the power iteration's start and the trace's vectors. Default 0. */
  seed?: number;
  /** Eigenvalues by deflation (the first is λ_max). Default 1. */
  topK?: number;
  /** Power iterations per eigenvalue at most. Default 20 (eigenthings' default). */
  maxIterations?: number;
  /** Relative change of the eigenvalue that ends the iteration. Default 1e-3 (eigenthings uses 1e-4; the change after the stop is reported). */
  tolerance?: number;
  /** Hutchinson's trace (default true), with at most `traceSamples` (default 20) Rademacher vectors, stopping at a relative standard error of `traceTolerance` (default 0.05). */
  trace?: boolean;
  traceSamples?: number;
  traceTolerance?: number;
  /** m-sharpness (default true): shards of `shardSize` examples, radius `rho`, `ascentSteps` gradient steps (default 5). */
  mSharpness?: boolean;
  shardSize?: number;
  rho?: number;
  ascentSteps?: number;
  /** Default 0: the loss's label smoothing (a checkpoint's run gives its own). */
  labelSmoothing?: number;
  onProgress?: (e: AnalysisProgress) => void;
}

export interface SharpnessResult {
  /** The largest eigenvalue of the Hessian. */
  lambdaMax: number;
  /** The top-k (λ_max first), their power iterations, convergence and relative residuals ‖Hu − λu‖/|λ|. */
  eigenvalues: number[];
  iterations: number[];
  converged: boolean[];
  relativeResiduals: number[];
  /** Hutchinson's estimate, its standard error and samples (null without trace). */
  trace: number | null;
  traceStandardError: number | null;
  traceSamples: number | null;
  mSharpness: { value: number; oneStep: number; standardError: number; shards: number; shardSize: number; rho: number; steps: number; loss: number } | null;
  /** Examples the loss was taken over. */
  examples: number;
  labelSmoothing: number;
  hessianVectorProducts: number;
  seconds: number;
}

const DEFAULTS = { examples: 2048, batchSize: 1024, seed: 0, topK: 1, maxIterations: 20, tolerance: 1e-3, traceSamples: 20, traceTolerance: 0.05, shardSize: 32, rho: 0.05, ascentSteps: 5 };

/** Sharpness measures of `model` over `batches` (see SharpnessOptions). */
export async function measureSharpness(model: Module, batches: Batch[], options: SharpnessOptions = {}): Promise<SharpnessResult> {
  // Fields given as undefined keep their defaults.
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & SharpnessOptions;
  const started = performance.now();
  const loss = { loss: 'cross_entropy' as const, labelSmoothing: o.labelSmoothing ?? 0 };
  const common = { loss, ...(o.onProgress ? { onProgress: o.onProgress } : {}) };
  const eig = await hessianEigenvalues(model, batches, { ...common, topK: o.topK, maxIterations: o.maxIterations, tolerance: o.tolerance, seed: o.seed });
  let hvps = eig.hessianVectorProducts;
  const tr = o.trace === false ? null : await hessianTrace(model, batches, { ...common, samples: o.traceSamples, tolerance: o.traceTolerance, seed: o.seed });
  if (tr !== null) hvps += tr.samples;
  const ms = o.mSharpness === false ? null : await mSharpness(model, batches, { ...common, shardSize: o.shardSize, rho: o.rho, steps: o.ascentSteps });
  return {
    lambdaMax: eig.eigenvalues[0] as number,
    eigenvalues: eig.eigenvalues,
    iterations: eig.iterations,
    converged: eig.converged,
    relativeResiduals: eig.relativeResiduals,
    trace: tr?.trace ?? null,
    traceStandardError: tr?.standardError ?? null,
    traceSamples: tr?.samples ?? null,
    mSharpness:
      ms === null
        ? null
        : { value: ms.sharpness, oneStep: ms.oneStep, standardError: ms.standardError, shards: ms.shards, shardSize: o.shardSize, rho: o.rho, steps: o.ascentSteps, loss: ms.loss },
    examples: batches.reduce((n, b) => n + (b.target.shape[0] as number), 0),
    labelSmoothing: loss.labelSmoothing,
    hessianVectorProducts: hvps,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The training batches of the analysis: the first `examples` of a seeded shuffle (or all, in order), normalized, not augmented. */
export function analysisBatches(data: LoadedData, device: Device, o: { examples?: number | 'all'; batchSize?: number; seed?: number }, transform: TransformOptions = data.mean === undefined ? {} : { mean: data.mean, std: data.std }): { batches: Batch[]; loader: DataLoader } {
  const all = o.examples === 'all';
  if (!all && o.examples !== undefined && !(typeof o.examples === 'number' && Number.isSafeInteger(o.examples) && o.examples >= 1)) {
    throw new RangeError(`sharpness: option 'examples' must be an integer ≥ 1 or 'all', got ${String(o.examples)}`);
  }
  const batchSize = o.batchSize ?? DEFAULTS.batchSize;
  const loader = new DataLoader(data.train, {
    batchSize,
    shuffle: !all,
    seed: o.seed ?? DEFAULTS.seed,
    device,
    transform,
  });
  const wanted = all ? loader.size : Math.min(loader.size, (o.examples as number | undefined) ?? DEFAULTS.examples);
  const batches: Batch[] = [];
  for (let k = 0; k * batchSize < wanted; k++) {
    const b = loader.batch(0, k);
    const keep = Math.min(batchSize, wanted - k * batchSize);
    if (keep < (b.target.shape[0] as number)) {
      const cut = (t: typeof b.target) => t.narrow(0, 0, keep).contiguous();
      batches.push({ input: Array.isArray(b.input) ? b.input.map(cut) : cut(b.input), target: cut(b.target) });
      disposeBatch(b);
    } else {
      batches.push(b);
    }
  }
  return { batches, loader };
}

export interface CheckpointSharpness extends SharpnessResult {
  checkpoint: string;
  /** The run's method, mSAM shards, ρ and seed (from its configuration). */
  method: TrainConfig['method'];
  seed: number;
  config: TrainConfig;
}

/** The shard size m-sharpness uses for a run by default: its training micro-batch, B/m (B for SAM and vanilla runs of an mSAM preset: the preset's m). */
export function defaultShardSize(c: TrainConfig): number {
  if (c.microBatchSize !== undefined) return c.microBatchSize;
  return Math.ceil(c.batchSize / (c.m ?? 1));
}

/**
 * Sharpness of the model a training checkpoint holds (a file, or a run directory: its last
 * checkpoint, the final solution), over its own training data, with its label smoothing; m-sharpness
 * with the run's ρ and micro-batch size unless given.
 */
export async function sharpnessOfCheckpoint(fileOrRun: string, options: SharpnessOptions & { device?: Device | 'auto' } = {}): Promise<CheckpointSharpness> {
  const file = checkpointPath(fileOrRun);
  const config = trainedConfig(file);
  const device: Device = options.device === undefined || options.device === 'auto' ? (cuda.isAvailable() ? 'cuda' : 'cpu') : options.device;
  const data = runData(config);
  // The model first: a pretrained run's checkpoint says how its inputs are normalized and sized.
  const { model, transform } = await loadTrainedModel(file, config, data, device);
  const { batches, loader } = analysisBatches(data, device, options, transform);
  for (const t of [data.train.inputs, data.train.targets, data.test.inputs, data.test.targets].flat()) t.dispose();
  try {
    const { device: _d, ...rest } = options;
    const r = await measureSharpness(model, batches, {
      labelSmoothing: config.labelSmoothing,
      rho: config.rho,
      shardSize: defaultShardSize(config),
      ...rest,
    });
    return { checkpoint: file, method: config.method, seed: config.seed, config, ...r };
  } finally {
    for (const b of batches) disposeBatch(b);
    loader.dispose();
    for (const p of [...model.parameters(), ...model.buffers()]) p.dispose();
  }
}
