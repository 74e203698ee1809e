// Element-wise arithmetic (broadcasting, scalars), unary math, comparisons, reductions, matmul,
// and the in-place variants.
import { Op, Tensor, callOp, callTensor, expectTensor } from './core';
import { installMethods, type MethodsOf } from './methods';

type Operand = Tensor | number;

// Each binary op has a Tensor and a Scalar overload; the operand picks one.
function binary(name: string, tensorOverload = 'Tensor', scalarOverload = 'Scalar') {
  const t = new Op(name, tensorOverload);
  const s = new Op(name, scalarOverload);
  return (self: Tensor, other: Operand): Tensor =>
    typeof other === 'number' ? callTensor(s, self, other) : callTensor(t, self, expectTensor(other, `${name}: argument 'other'`));
}

function withAlpha(name: string) {
  const t = new Op(name, 'Tensor');
  const s = new Op(name, 'Scalar');
  return (self: Tensor, other: Operand, alpha?: number): Tensor =>
    typeof other === 'number'
      ? callTensor(s, self, other, alpha)
      : callTensor(t, self, expectTensor(other, `${name}: argument 'other'`), alpha);
}

function unary(name: string, overload = '') {
  const op = new Op(name, overload);
  return (self: Tensor): Tensor => callTensor(op, self);
}

const POW_TT = new Op('aten::pow', 'Tensor_Tensor');
const POW_TS = new Op('aten::pow', 'Tensor_Scalar');
const MAXIMUM = new Op('aten::maximum');
const MINIMUM = new Op('aten::minimum');
const GELU = new Op('aten::gelu');
const SOFTMAX = new Op('aten::softmax', 'int');
const LOG_SOFTMAX = new Op('aten::log_softmax', 'int');
const CLAMP = new Op('aten::clamp');
const CLAMP_ = new Op('aten::clamp_');
const WHERE = new Op('aten::where', 'self');
const WHERE_SCALAR_SELF = new Op('aten::where', 'ScalarSelf');
const WHERE_SCALAR_OTHER = new Op('aten::where', 'ScalarOther');
const WHERE_SCALAR = new Op('aten::where', 'Scalar');
const SUM = new Op('aten::sum');
const SUM_DIM = new Op('aten::sum', 'dim_IntList');
const MEAN = new Op('aten::mean');
const MEAN_DIM = new Op('aten::mean', 'dim');
const MAX = new Op('aten::max');
const MAX_DIM = new Op('aten::max', 'dim');
const MIN = new Op('aten::min');
const MIN_DIM = new Op('aten::min', 'dim');
const ARGMAX = new Op('aten::argmax');
const ARGMIN = new Op('aten::argmin');
const STD = new Op('aten::std', 'dim');
const VAR = new Op('aten::var', 'dim');
const NORM = new Op('aten::linalg_vector_norm');
const PROD = new Op('aten::prod');
const PROD_DIM = new Op('aten::prod', 'dim_int');
const ALL = new Op('aten::all');
const ALL_DIM = new Op('aten::all', 'dim');
const ANY = new Op('aten::any');
const ANY_DIM = new Op('aten::any', 'dim');
const ALLCLOSE = new Op('aten::allclose');
const SORT = new Op('aten::sort');
const TOPK = new Op('aten::topk');
const MATMUL = new Op('aten::matmul');
const MM = new Op('aten::mm');
const BMM = new Op('aten::bmm');
const DOT = new Op('aten::dot');
const COPY_ = new Op('aten::copy_');
const ZERO_ = new Op('aten::zero_');
const FILL_ = new Op('aten::fill_', 'Scalar');

const dims = (dim: number | number[] | undefined): number[] | undefined =>
  dim === undefined ? undefined : Array.isArray(dim) ? dim : [dim];

interface ReduceOptions {
  keepdim?: boolean;
}
interface VarianceOptions extends ReduceOptions {
  /** Bessel's correction (divide by N - 1), as PyTorch's default. */
  unbiased?: boolean;
}

const mathOps = {
  // arithmetic, with broadcasting; `other` may be a number
  add: withAlpha('aten::add'),
  sub: withAlpha('aten::sub'),
  mul: binary('aten::mul'),
  div: binary('aten::div'),
  remainder: binary('aten::remainder'),
  pow: (self: Tensor, exponent: Operand): Tensor =>
    typeof exponent === 'number' ? callTensor(POW_TS, self, exponent) : callTensor(POW_TT, self, expectTensor(exponent, "pow: argument 'exponent'")),
  maximum: (self: Tensor, other: Tensor): Tensor => callTensor(MAXIMUM, self, expectTensor(other, "maximum: argument 'other'")),
  minimum: (self: Tensor, other: Tensor): Tensor => callTensor(MINIMUM, self, expectTensor(other, "minimum: argument 'other'")),

  // unary math
  neg: unary('aten::neg'),
  abs: unary('aten::abs'),
  exp: unary('aten::exp'),
  log: unary('aten::log'),
  sqrt: unary('aten::sqrt'),
  rsqrt: unary('aten::rsqrt'),
  square: unary('aten::square'),
  reciprocal: unary('aten::reciprocal'),
  sin: unary('aten::sin'),
  cos: unary('aten::cos'),
  tanh: unary('aten::tanh'),
  sigmoid: unary('aten::sigmoid'),
  relu: unary('aten::relu'),
  sign: unary('aten::sign'),
  floor: unary('aten::floor'),
  ceil: unary('aten::ceil'),
  round: unary('aten::round'),
  /** GELU; `approximate: 'tanh'` for the tanh approximation. */
  gelu: (self: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor => callTensor(GELU, self, { approximate }),
  softmax: (self: Tensor, dim: number): Tensor => callTensor(SOFTMAX, self, dim),
  logSoftmax: (self: Tensor, dim: number): Tensor => callTensor(LOG_SOFTMAX, self, dim),

  // comparisons (bool results)
  eq: binary('aten::eq'),
  ne: binary('aten::ne'),
  lt: binary('aten::lt'),
  le: binary('aten::le'),
  gt: binary('aten::gt'),
  ge: binary('aten::ge'),
  /** Clamps into [min, max]; either bound may be omitted (null or undefined). */
  clamp: (self: Tensor, min?: number | null, max?: number | null): Tensor => callTensor(CLAMP, self, min ?? null, max ?? null),

  // reductions: without `dim` over every element
  sum: (self: Tensor, dim?: number | number[], opts: ReduceOptions = {}): Tensor =>
    dim === undefined ? callTensor(SUM, self) : callTensor(SUM_DIM, self, dims(dim), opts.keepdim ?? false),
  mean: (self: Tensor, dim?: number | number[], opts: ReduceOptions = {}): Tensor =>
    dim === undefined ? callTensor(MEAN, self) : callTensor(MEAN_DIM, self, dims(dim), opts.keepdim ?? false),
  prod: (self: Tensor, dim?: number, opts: ReduceOptions = {}): Tensor =>
    dim === undefined ? callTensor(PROD, self) : callTensor(PROD_DIM, self, dim, opts.keepdim ?? false),
  /** The largest value; along `dim`, the largest values (use maxWithIndices for the indices too). */
  max: (self: Tensor, dim?: number, opts: ReduceOptions = {}): Tensor =>
    dim === undefined ? callTensor(MAX, self) : takeFirst(callOp(MAX_DIM, self, dim, opts.keepdim ?? false)),
  min: (self: Tensor, dim?: number, opts: ReduceOptions = {}): Tensor =>
    dim === undefined ? callTensor(MIN, self) : takeFirst(callOp(MIN_DIM, self, dim, opts.keepdim ?? false)),
  maxWithIndices: (self: Tensor, dim: number, opts: ReduceOptions = {}): { values: Tensor; indices: Tensor } =>
    pair(callOp(MAX_DIM, self, dim, opts.keepdim ?? false)),
  minWithIndices: (self: Tensor, dim: number, opts: ReduceOptions = {}): { values: Tensor; indices: Tensor } =>
    pair(callOp(MIN_DIM, self, dim, opts.keepdim ?? false)),
  argmax: (self: Tensor, dim?: number, opts: ReduceOptions = {}): Tensor => callTensor(ARGMAX, self, dim ?? null, opts.keepdim ?? false),
  argmin: (self: Tensor, dim?: number, opts: ReduceOptions = {}): Tensor => callTensor(ARGMIN, self, dim ?? null, opts.keepdim ?? false),
  std: (self: Tensor, dim?: number | number[], opts: VarianceOptions = {}): Tensor =>
    callTensor(STD, self, dims(dim) ?? null, opts.unbiased ?? true, opts.keepdim ?? false),
  var: (self: Tensor, dim?: number | number[], opts: VarianceOptions = {}): Tensor =>
    callTensor(VAR, self, dims(dim) ?? null, opts.unbiased ?? true, opts.keepdim ?? false),
  /** The vector p-norm (2 by default) over all elements or along `dim`. */
  norm: (self: Tensor, p = 2, dim?: number | number[], opts: ReduceOptions = {}): Tensor =>
    callTensor(NORM, self, p, dims(dim) ?? null, opts.keepdim ?? false),

  /** Whether every element is non-zero (true); along `dim`, per slice (a bool tensor). */
  all: (self: Tensor, dim?: number, opts: ReduceOptions = {}): Tensor =>
    dim === undefined ? callTensor(ALL, self) : callTensor(ALL_DIM, self, dim, opts.keepdim ?? false),
  /** Whether any element is non-zero; along `dim`, per slice (a bool tensor). */
  any: (self: Tensor, dim?: number, opts: ReduceOptions = {}): Tensor =>
    dim === undefined ? callTensor(ANY, self) : callTensor(ANY_DIM, self, dim, opts.keepdim ?? false),
  /** |self − other| ≤ atol + rtol·|other| everywhere (PyTorch's defaults: rtol 1e-5, atol 1e-8). */
  allclose: (self: Tensor, other: Tensor, opts: { rtol?: number; atol?: number; equalNan?: boolean } = {}): boolean =>
    callOp(ALLCLOSE, self, expectTensor(other, "allclose: argument 'other'"), opts.rtol ?? 1e-5, opts.atol ?? 1e-8, opts.equalNan ?? false) as boolean,
  /** Sorted along `dim` (default the last), ascending unless `descending`: the values and their indices. */
  sort: (self: Tensor, dim = -1, opts: { descending?: boolean } = {}): { values: Tensor; indices: Tensor } =>
    pair(callOp(SORT, self, dim, opts.descending ?? false)),
  /** The k largest (or, with largest: false, smallest) along `dim` (default the last), sorted: values and indices. */
  topk: (self: Tensor, k: number, dim = -1, opts: { largest?: boolean; sorted?: boolean } = {}): { values: Tensor; indices: Tensor } =>
    pair(callOp(TOPK, self, k, dim, opts.largest ?? true, opts.sorted ?? true)),

  // products
  matmul: (self: Tensor, other: Tensor): Tensor => callTensor(MATMUL, self, expectTensor(other, "matmul: argument 'other'")),
  mm: (self: Tensor, other: Tensor): Tensor => callTensor(MM, self, expectTensor(other, "mm: argument 'mat2'")),
  bmm: (self: Tensor, other: Tensor): Tensor => callTensor(BMM, self, expectTensor(other, "bmm: argument 'mat2'")),
  dot: (self: Tensor, other: Tensor): Tensor => callTensor(DOT, self, expectTensor(other, "dot: argument 'tensor'")),

  // in place: each returns the tensor itself
  add_: withAlpha('aten::add_'),
  sub_: withAlpha('aten::sub_'),
  mul_: binary('aten::mul_'),
  div_: binary('aten::div_'),
  clamp_: (self: Tensor, min?: number | null, max?: number | null): Tensor => callTensor(CLAMP_, self, min ?? null, max ?? null),
  copy_: (self: Tensor, src: Tensor): Tensor => callTensor(COPY_, self, expectTensor(src, "copy_: argument 'src'")),
  zero_: (self: Tensor): Tensor => callTensor(ZERO_, self),
  fill_: (self: Tensor, value: number): Tensor => callTensor(FILL_, self, value),
};

function takeFirst(r: unknown): Tensor {
  const [values, indices] = r as [Tensor, Tensor];
  indices.dispose();
  return values;
}
function pair(r: unknown): { values: Tensor; indices: Tensor } {
  const [values, indices] = r as [Tensor, Tensor];
  return { values, indices };
}

/**
 * where(condition, a, b): elements of `a` where `condition` holds, else of `b`. Numbers promote as
 * PyTorch's scalars do (where(c, int64Tensor, 0.5) is float32; where(c, 1, 0) is int64).
 */
export function where(condition: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const cond = expectTensor(condition, "where: argument 'condition'");
  if (typeof a === 'number') {
    return typeof b === 'number' ? callTensor(WHERE_SCALAR, cond, a, b) : callTensor(WHERE_SCALAR_SELF, cond, a, expectTensor(b, "where: argument 'other'"));
  }
  const ta = expectTensor(a, "where: argument 'input'");
  return typeof b === 'number' ? callTensor(WHERE_SCALAR_OTHER, cond, ta, b) : callTensor(WHERE, cond, ta, expectTensor(b, "where: argument 'other'"));
}

installMethods(mathOps);

declare module './core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Tensor extends MethodsOf<typeof mathOps> {}
}

export const {
  add, sub, mul, div, remainder, pow, maximum, minimum, neg, abs, exp, log, sqrt, rsqrt, square, reciprocal,
  sin, cos, tanh, sigmoid, relu, sign, floor, ceil, round, gelu, softmax, logSoftmax, eq, ne, lt, le, gt, ge,
  clamp, sum, mean, prod, max, min, maxWithIndices, minWithIndices, argmax, argmin, std, norm, matmul, mm, bmm, dot,
  all, any, allclose, sort, topk,
} = mathOps;
export const variance = mathOps.var;
