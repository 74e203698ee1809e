// Weight initialization, as torch.nn.init: in-place fills of a parameter under noGrad, written
// over ATen ops (normal_, uniform_, erfinv_, ...). Every function returns the tensor it filled.
import { noGrad } from '../lib/autograd';
import { Module, joinKey } from '../lib/nn/module';
import { ops } from '../lib/ops';
import type { Tensor } from '../lib/tensor';

export type Nonlinearity = 'linear' | 'conv' | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'selu';
export type FanMode = 'fanIn' | 'fanOut';

const inPlace = (t: Tensor, name: string, overload: string, ...args: unknown[]): Tensor =>
  noGrad(() => {
    ops.call(name, overload, t, ...args);
    return t;
  });

/** Fills with U(a, b). */
export const uniform_ = (t: Tensor, a = 0, b = 1): Tensor => inPlace(t, 'aten::uniform_', '', a, b);
/** Fills with N(mean, std²). */
export const normal_ = (t: Tensor, mean = 0, std = 1): Tensor => inPlace(t, 'aten::normal_', '', mean, std);
export const constant_ = (t: Tensor, value: number): Tensor => inPlace(t, 'aten::fill_', 'Scalar', value);
export const zeros_ = (t: Tensor): Tensor => inPlace(t, 'aten::zero_', '');
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

/**
 * N(mean, std²) truncated to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_): inverse-CDF
 * sampling of a uniform draw, then a clamp against rounding.
 */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2): Tensor {
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const lo = cdf((a - mean) / std);
  const hi = cdf((b - mean) / std);
  return noGrad(() => {
    ops.call('aten::uniform_', '', t, 2 * lo - 1, 2 * hi - 1);
    ops.call('aten::erfinv_', '', t);
    t.mul_(std * Math.SQRT2).add_(mean);
    t.clamp_(a, b);
    return t;
  });
}

/** [fanIn, fanOut] of a weight [out, in, ...kernel] (torch.nn.init._calculate_fan_in_and_fan_out). */
export function fans(t: Tensor): [number, number] {
  const shape = t.shape;
  if (shape.length < 2) throw new RangeError(`init: fan in and fan out need a tensor of at least 2 dimensions, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [(shape[1] as number) * receptive, (shape[0] as number) * receptive];
}

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, negativeSlope = 0.01): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu':
      return Math.sqrt(2 / (1 + negativeSlope ** 2));
    case 'selu':
      return 3 / 4;
    default:
      throw new RangeError(`init.calculateGain: unknown nonlinearity '${String(nonlinearity)}'`);
  }
}

export interface KaimingOptions {
  /** The negative slope of a leaky ReLU (with nonlinearity 'leakyRelu'); default 0. */
  a?: number;
  /** 'fanIn' preserves the forward variance, 'fanOut' the backward one; default 'fanIn'. */
  mode?: FanMode;
  /** Default 'leakyRelu', as PyTorch. */
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, opts: KaimingOptions): number {
  const [fanIn, fanOut] = fans(t);
  const mode = opts.mode ?? 'fanIn';
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new RangeError(`init.kaiming: mode must be 'fanIn' or 'fanOut', got '${String(mode)}'`);
  return calculateGain(opts.nonlinearity ?? 'leakyRelu', opts.a ?? 0) / Math.sqrt(mode === 'fanIn' ? fanIn : fanOut);
}

/** He et al.'s normal initialization (torch.nn.init.kaiming_normal_). */
export const kaimingNormal_ = (t: Tensor, opts: KaimingOptions = {}): Tensor => normal_(t, 0, kaimingStd(t, opts));
/** He et al.'s uniform initialization (torch.nn.init.kaiming_uniform_). */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts);
  return uniform_(t, -bound, bound);
}
/** Glorot's uniform initialization (torch.nn.init.xavier_uniform_). */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound);
}
/** Glorot's normal initialization (torch.nn.init.xavier_normal_). */
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = fans(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

/**
 * A module's own parameters (not its children's), by name: e.g. MultiheadAttention's
 * in_proj_weight and in_proj_bias, but not out_proj's.
 */
export function ownParameters(m: Module): [string, Tensor][] {
  const fromChildren = new Set(m.namedChildren().flatMap(([c, child]) => child.namedParameters().map(([k]) => joinKey(c, k))));
  return m.namedParameters().filter(([k]) => !fromChildren.has(k));
}

/** A module's own parameter by name ('weight', 'bias'), or undefined. */
export function parameter(m: Module, name: string): Tensor | undefined {
  return ownParameters(m).find(([n]) => n === name)?.[1];
}

/**
 * Every module of the tree with its dotted path, the root first ('' for it), as PyTorch's
 * named_modules: e.g. to initialize by type, `if (m.typeName === 'Conv2d') kaimingNormal_(...)`.
 */
export function namedModules(root: Module, prefix = ''): [string, Module][] {
  const out: [string, Module][] = [[prefix, root]];
  for (const [name, child] of root.namedChildren()) {
    out.push(...namedModules(child, joinKey(prefix, name)));
  }
  return out;
}

// Abramowitz-Stegun 7.1.26 is too coarse for the bounds' CDF; a series/continued fraction is exact
// to double precision for the arguments used here.
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const z = Math.abs(x);
  if (z < 3) {
    // Maclaurin series: erf z = 2/√π Σ (-1)^n z^(2n+1) / (n! (2n+1)).
    let term = z;
    let sum = z;
    for (let n = 1; n < 100; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (sign * 2 * sum) / Math.sqrt(Math.PI);
  }
  // Continued fraction for erfc at large z (Lentz).
  let f = z;
  let c = z;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = z + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = z + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-z * z) / (f * Math.sqrt(Math.PI));
  return sign * (1 - erfc);
}
