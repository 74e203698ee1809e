// Making tensors: from JS data, and PyTorch's factories.
import { native } from '../native';
import type { DType, NestedArray, TensorOptions, TypedArray } from '../types';
import { Op, Tensor, callTensor, expectTensor } from './core';

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad === true) {
    try {
      t.requiresGrad_(true);
    } catch (e) {
      t.dispose(); // e.g. an integer dtype: do not leak the tensor just made
      throw e;
    }
  }
  return t;
}

const factoryKwargs = (opts: TensorOptions) => ({ dtype: opts.dtype, device: opts.device });

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0] as NestedArray;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[]): { values: Float64Array; kind: 'bool' | 'int' | 'float' } {
  const numel = shape.reduce((a, b) => a * b, 1);
  const values = new Float64Array(numel);
  let n = 0;
  let allBool = true;
  let allInt = true;
  const walk = (v: NestedArray, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v === 'boolean') {
        allInt = false;
        values[n++] = v ? 1 : 0;
      } else if (typeof v === 'number') {
        allBool = false;
        if (!Number.isInteger(v)) allInt = false;
        values[n++] = v;
      } else {
        throw new TypeError(`tensor: expected a number or boolean at ${path}, got ${Array.isArray(v) ? 'an array' : typeof v}`);
      }
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      const got = Array.isArray(v) ? `${v.length} elements` : typeof v;
      throw new TypeError(`tensor: ragged nested array at ${path}: expected ${shape[dim]} elements, got ${got}`);
    }
    v.forEach((e, i) => walk(e, dim + 1, `${path}[${i}]`));
  };
  walk(data, 0, 'data');
  return { values, kind: numel > 0 && allBool ? 'bool' : allInt && numel > 0 ? 'int' : 'float' };
}

/**
 * A tensor from nested arrays, a number, or a typed array (copied). As in PyTorch, the dtype is
 * inferred when not given: bool for booleans, int64 for integers, float32 otherwise; a typed array
 * keeps its own (Float64Array gives float64).
 */
export function tensor(data: NestedArray | TypedArray, opts: TensorOptions = {}): Tensor {
  let t: Tensor;
  if (ArrayBuffer.isView(data)) {
    t = new Tensor(native.fromData(data, [data.length], opts.dtype ?? null, opts.device ?? null, false));
  } else {
    const shape = inferShape(data);
    const { values, kind } = flatten(data, shape);
    const inferred: DType = kind === 'bool' ? 'bool' : kind === 'int' ? 'int64' : 'float32';
    t = new Tensor(native.fromData(values, shape, opts.dtype ?? inferred, opts.device ?? null, false));
  }
  return finish(t, opts);
}

const ZEROS = new Op('aten::zeros');
const ONES = new Op('aten::ones');
const FULL = new Op('aten::full');
const ZEROS_LIKE = new Op('aten::zeros_like');
const ONES_LIKE = new Op('aten::ones_like');
const FULL_LIKE = new Op('aten::full_like');
const ARANGE = new Op('aten::arange', 'start_step');
const LINSPACE = new Op('aten::linspace');
const EYE = new Op('aten::eye', 'm');
const RAND = new Op('aten::rand');
const RANDN = new Op('aten::randn');
const RANDINT = new Op('aten::randint', 'low');
const RAND_LIKE = new Op('aten::rand_like');
const RANDPERM = new Op('aten::randperm');
const RANDN_LIKE = new Op('aten::randn_like');

export const zeros = (shape: number[], opts: TensorOptions = {}): Tensor =>
  finish(callTensor(ZEROS, shape, factoryKwargs(opts)), opts);
export const ones = (shape: number[], opts: TensorOptions = {}): Tensor =>
  finish(callTensor(ONES, shape, factoryKwargs(opts)), opts);
/** A tensor filled with `value`; float32 unless `dtype` says otherwise. */
export const full = (shape: number[], value: number, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(FULL, shape, value, { dtype: opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32'), device: opts.device }), opts);
export const zerosLike = (t: Tensor, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(ZEROS_LIKE, expectTensor(t, 'zerosLike: argument'), factoryKwargs(opts)), opts);
export const onesLike = (t: Tensor, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(ONES_LIKE, expectTensor(t, 'onesLike: argument'), factoryKwargs(opts)), opts);
export const fullLike = (t: Tensor, value: number, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(FULL_LIKE, expectTensor(t, 'fullLike: argument'), value, factoryKwargs(opts)), opts);
export const randLike = (t: Tensor, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(RAND_LIKE, expectTensor(t, 'randLike: argument'), factoryKwargs(opts)), opts);
export const randnLike = (t: Tensor, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(RANDN_LIKE, expectTensor(t, 'randnLike: argument'), factoryKwargs(opts)), opts);

/**
 * arange(end) or arange(start, end, step = 1): as in PyTorch, int64 when every bound is an
 * integer, float32 otherwise.
 */
export function arange(startOrEnd: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, startOrEnd] : [startOrEnd, end];
  return finish(callTensor(ARANGE, s, e, step, factoryKwargs(opts)), opts);
}

export const linspace = (start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(LINSPACE, start, end, steps, factoryKwargs(opts)), opts);

export const eye = (n: number, m: number = n, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(EYE, n, m, factoryKwargs(opts)), opts);

/** Uniform on [0, 1). */
export const rand = (shape: number[], opts: TensorOptions = {}): Tensor =>
  finish(callTensor(RAND, shape, factoryKwargs(opts)), opts);
/** Standard normal. */
export const randn = (shape: number[], opts: TensorOptions = {}): Tensor =>
  finish(callTensor(RANDN, shape, factoryKwargs(opts)), opts);
/** Integers uniform on [low, high); int64 unless `dtype` says otherwise. */
export const randint = (low: number, high: number, shape: number[], opts: TensorOptions = {}): Tensor =>
  finish(callTensor(RANDINT, low, high, shape, { dtype: opts.dtype ?? 'int64', device: opts.device }), opts);

/** A random permutation of 0..n-1 (int64 unless `dtype` says otherwise). */
export const randperm = (n: number, opts: TensorOptions = {}): Tensor =>
  finish(callTensor(RANDPERM, n, { dtype: opts.dtype ?? 'int64', device: opts.device }), opts);

/** Seeds every generator (CPU and each CUDA device). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
