// The loss landscape of a native model (csrc/hessian): Hessian-vector products by double
// backward, the top Hessian eigenvalues by power iteration with deflation, Hutchinson's trace
// estimate, and m-sharpness. The loss is the mean training loss over every example of the given
// batches (cross-entropy with the given label smoothing by default), with the model in eval mode
// (BatchNorm's running statistics, no dropout); the analyses run on a libuv worker thread and
// report progress through `onProgress`.
//
//   const { eigenvalues } = await msam.analysis.hessianEigenvalues(model, batches, { topK: 2, loss: { labelSmoothing: 0.1 } });
import type { LossOptions } from '../msam';
import {
  native,
  type NativeBatches,
  type NativeEigenResult,
  type NativeMSharpnessResult,
  type NativeProgressEvent,
  type NativeTraceResult,
} from '../native';
import type { Module } from '../nn/module';
import { NativeModule } from '../nn/native-module';
import { Tensor, expectTensor } from '../tensor/core';

/** One batch: one input tensor, or several (token ids and a mask), and its targets. */
export interface AnalysisBatch {
  input: Tensor | Tensor[];
  target: Tensor;
}

/** The examples the loss is taken over: one batch or several (each example counts once). */
export type AnalysisData = AnalysisBatch | AnalysisBatch[];

/** What the analyses report while they run. */
export type AnalysisProgress = NativeProgressEvent;

interface Common {
  /** The loss (default cross-entropy without label smoothing): use the training loss. */
  loss?: LossOptions;
  /** Called on the event loop with each iteration's estimate. */
  onProgress?: (event: AnalysisProgress) => void;
}

export interface EigenOptions extends Common {
  /** How many eigenvalues (by deflation). Default 1. */
  topK?: number;
  /** Power iterations per eigenvalue at most. Default 100. */
  maxIterations?: number;
  /** Stop when the estimate changes by at most this (relative) between iterations. Default 1e-3. */
  tolerance?: number;
  /** Seeds the random start vectors (a standard normal on the CPU). Default 0. */
  seed?: number;
  /**
   * Power iteration finds the eigenvalues of largest magnitude. When the dominant one is negative,
   * iterate on H − λ₁I instead so that the first eigenvalue is λ_max, the largest. Default true.
   */
  largestAlgebraic?: boolean;
  /** Also return the unit eigenvectors (float64, shaped like the trainable parameters). */
  eigenvectors?: boolean;
}

export interface EigenResult {
  /** Largest first (by magnitude; see largestAlgebraic). */
  eigenvalues: number[];
  /** Power iterations each took. */
  iterations: number[];
  /** Whether each met the tolerance within maxIterations. */
  converged: boolean[];
  /** ‖H u − λ u‖ / |λ| of each final unit vector u (of the deflated operator it iterated). */
  relativeResiduals: number[];
  hessianVectorProducts: number;
  eigenvectors?: Tensor[][];
}

export interface TraceOptions extends Common {
  /** Rademacher samples at most. Default 100. */
  samples?: number;
  /** Samples per pass over the data (one gradient graph per batch serves a block). Default 10. */
  blockSize?: number;
  /** Stop (after two blocks at least) when the standard error is at most this × |trace|. Default 1e-2. */
  tolerance?: number;
  /** Sample k's vector depends only on (seed, k). Default 0. */
  seed?: number;
}

export type TraceResult = NativeTraceResult;

export interface MSharpnessOptions extends Common {
  /** Examples per shard (m of Andriushchenko & Flammarion; B/m of the mSAM paper). Default 32. */
  shardSize?: number;
  /** The radius of the ball. Default 0.05. */
  rho?: number;
  /** Gradient evaluations of the ascent per shard; 1 is SAM's one-step approximation. Default 5. */
  steps?: number;
  /** α of the projected steps after the first. Default rho / 2. */
  stepSize?: number;
}

export type MSharpnessResult = NativeMSharpnessResult;

function nativeModel(model: Module, where: string): NativeModule {
  if (!(model instanceof NativeModule)) {
    throw new TypeError(`${where}: the model must be a native module (msam.nn layers or msam.models); a TypeScript forward cannot run off the JS thread`);
  }
  return model;
}

/** The batches as handles; errors name the batch. */
export function toNativeBatches(data: AnalysisData, where: string): NativeBatches {
  const list = Array.isArray(data) ? data : [data];
  if (list.length === 0) throw new RangeError(`${where}: no batches`);
  const inputs: NativeBatches['inputs'] = [];
  const targets: NativeBatches['targets'] = [];
  list.forEach((b, i) => {
    if (b === null || typeof b !== 'object') throw new TypeError(`${where}: batch ${i} must be { input, target }`);
    const target = expectTensor(b.target, `${where}: batch ${i} target`);
    const xs = (Array.isArray(b.input) ? b.input : [b.input]).map((t, j) => expectTensor(t, `${where}: batch ${i} input ${j}`));
    const n = target.shape[0];
    for (const x of xs) {
      if (x.shape[0] !== n) throw new RangeError(`${where}: batch ${i}: every input must have the target's batch size ${n ?? 0} in dim 0, got [${x.shape.join(', ')}]`);
    }
    inputs.push(xs.map((x) => x.handle));
    targets.push(target.handle);
  });
  return { inputs, targets };
}

type Check = (field: string, value: unknown) => void;

function checker(where: string, known: string[], options: object): { int: Check; number: Check; bool: Check } {
  if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options must be an object`);
  for (const k of Object.keys(options)) if (!known.includes(k)) throw new TypeError(`${where}: unknown option '${k}' (expected one of ${known.join(', ')})`);
  const fail = (field: string, why: string, v: unknown): never => {
    throw new RangeError(`${where}: option '${field}' ${why}, got ${typeof v === 'number' ? String(v) : JSON.stringify(v)}`);
  };
  return {
    int: (field, v) => {
      if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= (field === 'seed' ? 0 : 1))) fail(field, `must be an integer ≥ ${field === 'seed' ? 0 : 1}`, v);
    },
    number: (field, v) => {
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) fail(field, 'must be a finite number ≥ 0', v);
    },
    bool: (field, v) => {
      if (v !== undefined && typeof v !== 'boolean') fail(field, 'must be a boolean', v);
    },
  };
}

const COMMON = ['loss', 'onProgress'];

function progressOf(o: Common, where: string): ((e: NativeProgressEvent) => void) | null {
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError(`${where}: option 'onProgress' must be a function`);
  return o.onProgress ?? null;
}

/** H v for the mean loss over `data` (float64 tensors shaped like the trainable parameters), on the JS thread. */
export function hessianVectorProduct(model: Module, data: AnalysisData, vector: Tensor[], options: { loss?: LossOptions } = {}): Tensor[] {
  const where = 'hessianVectorProduct';
  checker(where, ['loss'], options);
  const m = nativeModel(model, where);
  if (!Array.isArray(vector)) throw new TypeError(`${where}: vector must be an array of tensors, one per trainable parameter`);
  const handles = vector.map((t, i) => expectTensor(t, `${where}: vector[${i}]`).handle);
  return native.hessianVectorProduct(m.handle, toNativeBatches(data, where), options.loss ?? {}, handles).map((h) => new Tensor(h));
}

/** The top eigenvalues of the Hessian of the mean loss over `data`, by power iteration with deflation. */
export async function hessianEigenvalues(model: Module, data: AnalysisData, options: EigenOptions = {}): Promise<EigenResult> {
  const where = 'hessianEigenvalues';
  const c = checker(where, [...COMMON, 'topK', 'maxIterations', 'tolerance', 'seed', 'largestAlgebraic', 'eigenvectors'], options);
  c.int('topK', options.topK);
  c.int('maxIterations', options.maxIterations);
  c.number('tolerance', options.tolerance);
  c.int('seed', options.seed);
  c.bool('largestAlgebraic', options.largestAlgebraic);
  c.bool('eigenvectors', options.eigenvectors);
  const m = nativeModel(model, where);
  const { loss, onProgress: _p, eigenvectors, ...rest } = options;
  const r: NativeEigenResult = await native.hessianEigenvaluesAsync(m.handle, toNativeBatches(data, where), loss ?? {}, { ...rest, vectors: eigenvectors === true }, progressOf(options, where));
  const { eigenvectors: vectors, ...out } = r;
  return vectors === undefined ? out : { ...out, eigenvectors: vectors.map((v) => v.map((h) => new Tensor(h))) };
}

/** Hutchinson's estimate of the trace of the Hessian of the mean loss over `data`. */
export async function hessianTrace(model: Module, data: AnalysisData, options: TraceOptions = {}): Promise<TraceResult> {
  const where = 'hessianTrace';
  const c = checker(where, [...COMMON, 'samples', 'blockSize', 'tolerance', 'seed'], options);
  c.int('samples', options.samples);
  c.int('blockSize', options.blockSize);
  c.number('tolerance', options.tolerance);
  c.int('seed', options.seed);
  const m = nativeModel(model, where);
  const { loss, onProgress: _p, ...rest } = options;
  return native.hessianTraceAsync(m.handle, toNativeBatches(data, where), loss ?? {}, rest, progressOf(options, where));
}

/** m-sharpness: the mean over shards of `shardSize` examples of the worst loss increase within the ρ-ball. */
export async function mSharpness(model: Module, data: AnalysisData, options: MSharpnessOptions = {}): Promise<MSharpnessResult> {
  const where = 'mSharpness';
  const c = checker(where, [...COMMON, 'shardSize', 'rho', 'steps', 'stepSize'], options);
  c.int('shardSize', options.shardSize);
  c.number('rho', options.rho);
  c.int('steps', options.steps);
  c.number('stepSize', options.stepSize);
  const m = nativeModel(model, where);
  const { loss, onProgress: _p, ...rest } = options;
  return native.mSharpnessAsync(m.handle, toNativeBatches(data, where), loss ?? {}, rest, progressOf(options, where));
}
