// Gradients of every differentiable op family, checked against finite differences in float64;
// double backward (Hessian-vector products); and the autograd API's behaviour.
import { describe, it, expect } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';
import { gradcheck, gradgradcheck, prng, type TensorFn } from './helpers/gradcheck';

// ---- inputs -------------------------------------------------------------------------------------

let seed = 1;

interface RandOptions {
  /** Values uniform in [lo, hi] (default [-1.5, 1.5]). */
  lo?: number;
  hi?: number;
  /** Keep |value| ≥ awayFromZero (for abs, relu, div, log of |x|, ...). */
  awayFromZero?: number;
  /** requiresGrad (default true). */
  grad?: boolean;
}

/** A float64 leaf of the given shape with reproducible random values. */
function rnd(shape: number[], o: RandOptions = {}): Tensor {
  const rand = prng(seed++);
  const lo = o.lo ?? -1.5;
  const hi = o.hi ?? 1.5;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = lo + (hi - lo) * rand();
    if (o.awayFromZero !== undefined && Math.abs(x) < o.awayFromZero) x = x < 0 ? -o.awayFromZero - rand() : o.awayFromZero + rand();
    v[i] = x;
  }
  const t = msam.tensor(v).reshape(shape).detach();
  return o.grad === false ? t : t.requiresGrad_(true);
}
const pos = (shape: number[], o: RandOptions = {}) => rnd(shape, { lo: 0.3, hi: 2, ...o });
const ints = (values: number[] | number[][], shape?: number[]) => {
  const t = msam.tensor(values, { dtype: 'int64' });
  return shape ? t.reshape(shape) : t;
};

/** gradcheck (it throws, naming the bad element, when |analytic - numeric| > 1e-6 + 1e-6·scale). */
function check(fn: TensorFn, inputs: Tensor[]): void {
  expect(gradcheck(fn, inputs).checked).toBeGreaterThan(0);
}

describe('gradcheck helper', () => {
  it('passes a correct gradient and leaves its inputs alone', () => {
    const x = rnd([2, 3]);
    const before = x.toArray();
    const report = gradcheck((a) => a.mul(a).sin(), [x]);
    expect(report.checked).toBe(6);
    expect(report.maxAbsError).toBeLessThan(1e-8);
    expect(x.toArray()).toEqual(before);
    expect(x.grad).toBeNull();
  });
  it('catches a wrong gradient, naming the input and element', () => {
    // y * detach(y): value y², autograd gradient y instead of 2y
    expect(() => gradcheck((a, b) => a.add(b.mul(b.detach())), [rnd([3], { grad: false }), rnd([2, 3])])).toThrow(/input 1 \(shape \[2, 3\]\), element 0/);
    expect(() => gradcheck((a) => a.mul(2), [rnd([2], { grad: false })])).toThrow(/requiresGrad/);
    expect(() => gradcheck((a) => a.mul(2), [msam.tensor([1.5], { requiresGrad: true })])).toThrow(/float64/);
  });
  it('gradgradcheck catches a wrong second derivative that gradcheck misses', () => {
    // sin(x) + x³ with the sine's derivative a constant (cos(detach(x))): the first gradient
    // cos x + 3x² is right, but autograd's second derivative misses -sin x
    const fn = (a: Tensor) => {
      const d = a.detach();
      return d.sin().add(d.cos().mul(a.sub(d))).add(a.pow(3));
    };
    expect(gradcheck(fn, [rnd([3])]).maxAbsError).toBeLessThan(1e-6);
    expect(() => gradgradcheck(fn, [rnd([3])])).toThrow(/gradcheck: input 0/);
  });
});

// ---- op families --------------------------------------------------------------------------------

describe('gradients: arithmetic with broadcasting', () => {
  it('add (with alpha, broadcasting, scalar)', () => {
    check((a, b) => a.add(b), [rnd([2, 3]), rnd([3])]);
    check((a, b) => a.add(b, 2.5), [rnd([2, 3]), rnd([2, 1])]);
    check((a, b) => msam.add(a, b, -0.5), [rnd([4, 1, 3]), rnd([2, 1])]);
    check((a) => a.add(3, 2), [rnd([3])]);
  });
  it('sub (with alpha, broadcasting, scalar)', () => {
    check((a, b) => a.sub(b), [rnd([2, 3]), rnd([3])]);
    check((a, b) => a.sub(b, 1.5), [rnd([1, 3]), rnd([2, 1])]);
    check((a) => a.sub(0.25), [rnd([2, 2])]);
  });
  it('mul and div (broadcasting, scalar)', () => {
    check((a, b) => a.mul(b), [rnd([2, 3]), rnd([2, 1])]);
    check((a, b) => msam.mul(a, b), [rnd([3]), rnd([2, 3])]);
    check((a) => a.mul(-1.75), [rnd([3])]);
    check((a, b) => a.div(b), [rnd([2, 3]), rnd([3], { awayFromZero: 0.5 })]);
    check((a, b) => msam.div(a, b), [rnd([2, 1]), rnd([1, 3], { awayFromZero: 0.5 })]);
    check((a) => a.div(4), [rnd([3])]);
  });
  it('pow: tensor ** scalar and tensor ** tensor', () => {
    check((a) => a.pow(3), [rnd([2, 3])]);
    check((a) => a.pow(2.5), [pos([2, 3])]);
    check((a) => a.pow(-1.5), [pos([4])]);
    check((a, b) => a.pow(b), [pos([2, 3]), rnd([2, 3])]);
    check((a, b) => msam.pow(a, b), [pos([2, 3]), rnd([3])]); // broadcast exponent
  });
  it('maximum and minimum (no ties)', () => {
    check((a, b) => a.maximum(b), [rnd([3, 2]), rnd([3, 2]).detach().add(0.01).requiresGrad_()]);
    check((a, b) => a.minimum(b), [rnd([3, 2]), rnd([2])]);
  });
});

describe('gradients: unary math', () => {
  const x = () => rnd([2, 3]);
  it.each([
    ['exp', (a: Tensor) => a.exp(), x],
    ['log', (a: Tensor) => a.log(), () => pos([2, 3])],
    ['sqrt', (a: Tensor) => a.sqrt(), () => pos([2, 3])],
    ['rsqrt', (a: Tensor) => a.rsqrt(), () => pos([2, 3])],
    ['abs', (a: Tensor) => a.abs(), () => rnd([2, 3], { awayFromZero: 0.1 })],
    ['neg', (a: Tensor) => a.neg(), x],
    ['square', (a: Tensor) => a.square(), x],
    ['reciprocal', (a: Tensor) => a.reciprocal(), () => rnd([2, 3], { awayFromZero: 0.5 })],
    ['sin', (a: Tensor) => a.sin(), x],
    ['cos', (a: Tensor) => a.cos(), x],
    ['tanh', (a: Tensor) => a.tanh(), x],
    ['sigmoid', (a: Tensor) => a.sigmoid(), x],
    ['relu', (a: Tensor) => a.relu(), () => rnd([2, 3], { awayFromZero: 0.1 })],
    ['gelu', (a: Tensor) => a.gelu(), x],
    ['gelu tanh', (a: Tensor) => a.gelu('tanh'), x],
    ['softmax dim 1', (a: Tensor) => a.softmax(1), x],
    ['softmax dim 0', (a: Tensor) => msam.softmax(a, 0), x],
    ['logSoftmax dim -1', (a: Tensor) => a.logSoftmax(-1), x],
    ['logSoftmax dim 0', (a: Tensor) => msam.logSoftmax(a, 0), x],
  ] as [string, (a: Tensor) => Tensor, () => Tensor][])('%s', (_name, fn, input) => {
    check(fn, [input()]);
  });
});

describe('gradients: clamp and where', () => {
  // Values kept 0.1 away from the bounds.
  const awayFrom = (bounds: number[]) => {
    const t = rnd([3, 4], { grad: false });
    const v = Float64Array.from(t.data() as Float64Array, (e) => (bounds.some((b) => Math.abs(e - b) < 0.1) ? e + 0.2 : e));
    return msam.tensor(v).reshape([3, 4]).requiresGrad_();
  };
  it('clamp with both bounds, min only, max only', () => {
    check((a) => a.clamp(-0.5, 0.5), [awayFrom([-0.5, 0.5])]);
    check((a) => a.clamp(0), [awayFrom([0])]);
    check((a) => msam.clamp(a, null, 0.3), [awayFrom([0.3])]);
  });
  it('where (both branches, broadcasting, scalar branch)', () => {
    const cond = msam.tensor([[true, false, true], [false, false, true]]);
    check((a, b) => msam.where(cond, a, b), [rnd([2, 3]), rnd([2, 3])]);
    check((a, b) => msam.where(cond, a, b), [rnd([3]), rnd([2, 1])]);
    check((a) => msam.where(cond, a, 0.5), [rnd([2, 3])]);
    check((b) => msam.where(cond, -1, b), [rnd([2, 3])]);
  });
});

describe('gradients: reductions', () => {
  it('sum (all, dim, dims, keepdim)', () => {
    check((a) => a.sum(), [rnd([2, 3, 2])]);
    check((a) => a.sum(1), [rnd([2, 3, 2])]);
    check((a) => a.sum([0, 2], { keepdim: true }), [rnd([2, 3, 2])]);
    check((a) => msam.sum(a, -1, { keepdim: true }), [rnd([2, 3])]);
  });
  it('mean (all, dim, dims, keepdim)', () => {
    check((a) => a.mean(), [rnd([2, 3])]);
    check((a) => a.mean(0), [rnd([2, 3])]);
    check((a) => a.mean([1, 2], { keepdim: true }), [rnd([2, 3, 2])]);
  });
  it('max and min (all, dim, keepdim; distinct values)', () => {
    check((a) => a.max(), [rnd([3, 4])]);
    check((a) => a.max(1), [rnd([3, 4])]);
    check((a) => a.max(0, { keepdim: true }), [rnd([3, 4])]);
    check((a) => a.maxWithIndices(1).values, [rnd([3, 4])]);
    check((a) => a.min(), [rnd([3, 4])]);
    check((a) => a.min(-1, { keepdim: true }), [rnd([3, 4])]);
    check((a) => msam.min(a, 0), [rnd([3, 4])]);
  });
  it('std and var (unbiased and biased, dim, keepdim)', () => {
    check((a) => a.std(), [rnd([3, 4])]);
    check((a) => a.std(1), [rnd([3, 4])]);
    check((a) => a.std(0, { unbiased: false, keepdim: true }), [rnd([3, 4])]);
    check((a) => a.var(), [rnd([3, 4])]);
    check((a) => a.var([0, 1], { unbiased: false }), [rnd([2, 3, 2])]);
    check((a) => msam.variance(a, -1, { keepdim: true }), [rnd([3, 4])]);
  });
  it('norm (p = 2, 1, 3, inf; dim, keepdim)', () => {
    check((a) => a.norm(), [rnd([3, 4])]);
    check((a) => a.norm(2, 1), [rnd([3, 4])]);
    check((a) => a.norm(1, 0, { keepdim: true }), [rnd([3, 4], { awayFromZero: 0.1 })]);
    check((a) => msam.norm(a, 3, [0, 1]), [rnd([2, 3, 2])]);
    check((a) => a.norm(Infinity, 1), [rnd([3, 4])]);
  });
  it('prod (all, dim, keepdim; nonzero values)', () => {
    check((a) => a.prod(), [rnd([2, 3], { awayFromZero: 0.3 })]);
    check((a) => a.prod(1), [rnd([2, 3], { awayFromZero: 0.3 })]);
    check((a) => msam.prod(a, 0, { keepdim: true }), [rnd([3, 2], { awayFromZero: 0.3 })]);
  });
});

describe('gradients: products', () => {
  it('matmul (2D, batched with broadcasting, vector)', () => {
    check((a, b) => a.matmul(b), [rnd([2, 3]), rnd([3, 4])]);
    check((a, b) => msam.matmul(a, b), [rnd([2, 2, 3]), rnd([3, 2])]);
    check((a, b) => a.matmul(b), [rnd([3]), rnd([3, 2])]);
    check((a, b) => a.matmul(b), [rnd([2, 3]), rnd([3])]);
  });
  it('mm, bmm, dot', () => {
    check((a, b) => a.mm(b), [rnd([2, 3]), rnd([3, 2])]);
    check((a, b) => a.bmm(b), [rnd([2, 2, 3]), rnd([2, 3, 2])]);
    check((a, b) => msam.bmm(a, b), [rnd([3, 1, 2]), rnd([3, 2, 2])]);
    check((a, b) => a.dot(b), [rnd([4]), rnd([4])]);
  });
});

describe('gradients: shape ops', () => {
  it('reshape, view, permute, transpose, flatten', () => {
    check((a) => a.reshape([3, 4]).mul(a.reshape([3, 4])), [rnd([2, 6])]);
    check((a) => a.reshape([-1]), [rnd([2, 3])]);
    check((a) => a.view([6, 1]), [rnd([2, 3])]);
    check((a) => a.permute([2, 0, 1]).contiguous(), [rnd([2, 3, 2])]);
    check((a, b) => a.transpose(0, 1).matmul(b), [rnd([3, 2]), rnd([3, 2])]);
    check((a) => a.flatten(), [rnd([2, 3, 2])]);
    check((a) => msam.flatten(a, 1), [rnd([2, 3, 2])]);
  });
  it('squeeze, unsqueeze, expand, repeat, flip', () => {
    check((a) => a.squeeze(), [rnd([1, 3, 1])]);
    check((a) => a.squeeze(0), [rnd([1, 3, 1])]);
    check((a) => a.unsqueeze(1), [rnd([2, 3])]);
    check((a) => a.expand([4, 3]), [rnd([1, 3])]);
    check((a) => a.expand([2, -1, 2]), [rnd([3, 1])]);
    check((a) => a.repeat([2, 3]), [rnd([2, 2])]);
    check((a) => a.flip([0, 1]), [rnd([2, 3])]);
  });
  it('cat and stack (all inputs)', () => {
    check((a, b) => msam.cat([a, b], 0), [rnd([2, 3]), rnd([1, 3])]);
    check((a, b, c) => msam.cat([a, b, c], 1), [rnd([2, 1]), rnd([2, 3]), rnd([2, 2])]);
    check((a, b) => msam.stack([a, b]), [rnd([2, 3]), rnd([2, 3])]);
    check((a, b) => msam.stack([a, b], -1), [rnd([2, 3]), rnd([2, 3])]);
  });
  it('split, chunk, tensorSplit (every piece is an output)', () => {
    check((a) => a.split(2), [rnd([5, 2])]);
    check((a) => a.split([1, 3], 1), [rnd([2, 4])]);
    check((a) => a.chunk(3, 1), [rnd([2, 7])]);
    check((a) => a.tensorSplit(3), [rnd([7, 2])]);
    check((a) => msam.tensorSplit(a, [1, 4], 1), [rnd([2, 6])]);
    // a piece used twice, one unused
    check((a) => {
      const [p, , r] = a.chunk(3) as [Tensor, Tensor, Tensor];
      return p.mul(r).add(p);
    }, [rnd([6, 2])]);
  });
  it('narrow, select, slice', () => {
    check((a) => a.narrow(1, 1, 2), [rnd([2, 4])]);
    check((a) => a.select(0, 1), [rnd([3, 2])]);
    check((a) => a.slice(1, 0, null, 2), [rnd([2, 5])]);
    check((a) => msam.slice(a, 0, -2), [rnd([4, 2])]);
  });
  it('indexSelect, gather, scatter, scatterAdd (repeated indices accumulate)', () => {
    check((a) => a.indexSelect(0, ints([2, 0, 2])), [rnd([3, 2])]);
    check((a) => msam.indexSelect(a, 1, ints([1, 1, 0])), [rnd([2, 3])]);
    check((a) => a.gather(1, ints([[0, 0], [2, 1]])), [rnd([2, 3])]);
    check((a) => a.gather(0, ints([[1, 0, 1]])), [rnd([2, 3])]);
    // scatter: gradient w.r.t. self (zero where overwritten) and w.r.t. src (distinct targets)
    const idx = ints([[2, 0], [1, 2]]);
    check((self, src) => self.scatter(1, idx, src), [rnd([2, 3]), rnd([2, 2])]);
    check((self) => self.scatter(0, ints([[1, 0, 1]]), 0.5), [rnd([2, 3])]);
    check((self, src) => self.scatterAdd(1, ints([[0, 0], [2, 1]]), src), [rnd([2, 3]), rnd([2, 2])]);
  });
  it('index with slices, ints, null, ellipsis and tensors', () => {
    check((a) => a.index(1), [rnd([3, 4])]);
    check((a) => a.index(':', 2), [rnd([3, 4])]);
    check((a) => a.index('1:', '::2'), [rnd([3, 4])]);
    check((a) => a.index(-1, '1:3'), [rnd([3, 4])]);
    check((a) => a.index(null, '...', 0), [rnd([2, 3, 2])]);
    check((a) => a.index(ints([2, 0, 2])), [rnd([3, 4])]); // repeated rows accumulate
    check((a) => a.index(':', ints([3, 1])), [rnd([3, 4])]);
    check((a) => a.index(ints([0, 2]), ints([1, 3])), [rnd([3, 4])]);
    check((a) => a.index(msam.tensor([true, false, true])), [rnd([3, 4])]);
    check((a) => a.index('0:2', ints([1, 1, 0]), 1), [rnd([3, 2, 2])]);
  });
  it('maskedFill', () => {
    const mask = msam.tensor([[true, false], [false, true]]);
    check((a) => a.maskedFill(mask, 0.25), [rnd([2, 2])]);
  });
});

describe('gradients: neural-network functions', () => {
  it('conv2d (bias, stride, padding, dilation, groups)', () => {
    check((x, w, b) => msam.conv2d(x, w, b), [rnd([1, 2, 4, 4]), rnd([3, 2, 3, 3]), rnd([3])]);
    check((x, w) => x.conv2d(w, null, { stride: 2, padding: 1 }), [rnd([2, 2, 5, 5]), rnd([2, 2, 3, 3])]);
    check((x, w, b) => msam.conv2d(x, w, b, { stride: [1, 2], padding: [2, 0], dilation: 2 }), [rnd([1, 1, 5, 6]), rnd([2, 1, 2, 2]), rnd([2])]);
    check((x, w, b) => msam.conv2d(x, w, b, { groups: 2, padding: 1 }), [rnd([1, 4, 3, 3]), rnd([4, 2, 3, 3]), rnd([4])]);
  });
  it('linear (with and without bias, batched)', () => {
    check((x, w, b) => msam.linear(x, w, b), [rnd([3, 4]), rnd([2, 4]), rnd([2])]);
    check((x, w) => x.linear(w), [rnd([2, 3, 4]), rnd([5, 4])]);
  });
  it('batchNorm in training mode (batch statistics; weight and bias)', () => {
    check((x, w, b) => msam.batchNorm(x, null, null, { weight: w, bias: b, training: true }), [rnd([4, 3, 2, 2]), rnd([3]), rnd([3])]);
    check((x) => msam.batchNorm(x, null, null, { training: true, eps: 1e-3 }), [rnd([5, 2])]);
    // with running statistics (updated in place, not part of the output's gradient)
    const runningMean = msam.zeros([3], { dtype: 'float64' });
    const runningVar = msam.ones([3], { dtype: 'float64' });
    check((x, w) => msam.batchNorm(x, runningMean, runningVar, { weight: w, training: true }), [rnd([4, 3]), rnd([3])]);
    expect(runningMean.requiresGrad).toBe(false);
  });
  it('batchNorm in eval mode (running statistics)', () => {
    const runningMean = rnd([3], { grad: false });
    const runningVar = pos([3], { grad: false });
    check((x, w, b) => msam.batchNorm(x, runningMean, runningVar, { weight: w, bias: b }), [rnd([2, 3, 2]), rnd([3]), rnd([3])]);
  });
  it('layerNorm and groupNorm (with affine parameters)', () => {
    check((x, w, b) => msam.layerNorm(x, [4], w, b), [rnd([3, 4]), rnd([4]), rnd([4])]);
    check((x, w, b) => x.layerNorm([2, 3], w, b), [rnd([2, 2, 3]), rnd([2, 3]), rnd([2, 3])]);
    check((x) => msam.layerNorm(x, [3]), [rnd([2, 3])]);
    check((x, w, b) => msam.groupNorm(x, 2, w, b), [rnd([2, 4, 2, 2]), rnd([4]), rnd([4])]);
    check((x) => x.groupNorm(1), [rnd([2, 3, 3])]);
  });
  it('maxPool2d, avgPool2d, adaptiveAvgPool2d', () => {
    check((x) => msam.maxPool2d(x, 2), [rnd([1, 2, 4, 4])]);
    check((x) => x.maxPool2d(3, { stride: 2, padding: 1 }), [rnd([2, 1, 5, 5])]);
    check((x) => x.maxPool2d([2, 3], { stride: 1, ceilMode: true }), [rnd([1, 1, 4, 5])]);
    check((x) => msam.avgPool2d(x, 2), [rnd([1, 2, 4, 4])]);
    check((x) => x.avgPool2d(3, { stride: 2, padding: 1 }), [rnd([1, 1, 5, 5])]);
    check((x) => x.avgPool2d(3, { stride: 2, padding: 1, countIncludePad: false, ceilMode: true }), [rnd([1, 1, 6, 6])]);
    check((x) => msam.adaptiveAvgPool2d(x, 1), [rnd([2, 3, 3, 3])]);
    check((x) => x.adaptiveAvgPool2d([3, 2]), [rnd([1, 2, 5, 5])]);
  });
  it('embedding (gradient w.r.t. weight; repeated indices accumulate; paddingIdx)', () => {
    check((w) => msam.embedding(ints([[0, 2, 0], [3, 3, 1]]), w), [rnd([4, 3])]);
    // paddingIdx: that row is looked up but gets no gradient (so it is not a true derivative)
    const w = rnd([4, 2]);
    const g = msam.autograd.grad(msam.embedding(ints([0, 2, 1, 2]), w, 2).sum(), w)[0] as Tensor;
    expect(g.toArray()).toEqual([[1, 1], [1, 1], [0, 0], [0, 0]]);
  });
  it('pad (constant, reflect, replicate)', () => {
    check((x) => msam.pad(x, [1, 2]), [rnd([2, 3])]);
    check((x) => x.pad([1, 0, 2, 1], 'constant', 0.5), [rnd([1, 2, 3])]);
    check((x) => msam.pad(x, [2, 1, 1, 2], 'reflect'), [rnd([1, 1, 3, 4])]);
    check((x) => msam.pad(x, [1, 2, 2, 0], 'replicate'), [rnd([1, 2, 3, 3])]);
  });
  it('crossEntropy (mean, sum, none; labelSmoothing; class weights; probabilities; ignoreIndex)', () => {
    const target = ints([2, 0, 1, 2]);
    check((x) => msam.crossEntropy(x, target), [rnd([4, 3])]);
    check((x) => x.crossEntropy(target, { labelSmoothing: 0.1 }), [rnd([4, 3])]);
    check((x) => x.crossEntropy(target, { reduction: 'sum', labelSmoothing: 0.3 }), [rnd([4, 3])]);
    check((x) => x.crossEntropy(target, { reduction: 'none' }), [rnd([4, 3])]);
    const classWeight = pos([3], { grad: false });
    check((x) => x.crossEntropy(target, { weight: classWeight, labelSmoothing: 0.2 }), [rnd([4, 3])]);
    check((x) => x.crossEntropy(ints([1, -100, 0]), { ignoreIndex: -100 }), [rnd([3, 3])]);
    check((x) => x.crossEntropy(ints([[0, 2], [1, 1]]), { labelSmoothing: 0.1 }), [rnd([2, 3, 2])]); // [N, C, d]
    check((x, p) => x.crossEntropy(p.softmax(1)), [rnd([3, 4]), rnd([3, 4])]); // soft targets: both inputs
  });
  it('nllLoss (mean, sum, none; weights; ignoreIndex)', () => {
    const target = ints([1, 0, 2]);
    check((x) => x.logSoftmax(1).nllLoss(target), [rnd([3, 3])]);
    check((x) => msam.nllLoss(x, target, { reduction: 'sum' }), [rnd([3, 3])]);
    check((x) => msam.nllLoss(x, target, { reduction: 'none' }), [rnd([3, 3])]);
    const classWeight = pos([3], { grad: false });
    check((x) => msam.nllLoss(x, target, { weight: classWeight }), [rnd([3, 3])]);
    check((x) => msam.nllLoss(x, ints([1, 0, 2]), { ignoreIndex: 0 }), [rnd([3, 3])]);
    check((x) => msam.nllLoss(x, ints([[1, 0], [2, 2]])), [rnd([2, 3, 2])]);
  });
  it('mseLoss (w.r.t. input and target; mean, sum, none)', () => {
    check((x, y) => msam.mseLoss(x, y), [rnd([3, 2]), rnd([3, 2])]);
    check((x, y) => x.mseLoss(y, { reduction: 'sum' }), [rnd([4]), rnd([4])]);
    check((x, y) => x.mseLoss(y, { reduction: 'none' }), [rnd([2, 2]), rnd([2, 2])]);
  });
  it('binaryCrossEntropyWithLogits (w.r.t. logits and target; weight, posWeight; reductions)', () => {
    const prob = () => rnd([3, 2], { lo: 0.05, hi: 0.95 });
    check((x, y) => msam.binaryCrossEntropyWithLogits(x, y), [rnd([3, 2]), prob()]);
    check((x, y) => x.binaryCrossEntropyWithLogits(y, { reduction: 'sum' }), [rnd([3, 2]), prob()]);
    const target = prob().detach();
    const posWeight = pos([2], { grad: false });
    const weight = pos([3, 1], { grad: false });
    check((x) => x.binaryCrossEntropyWithLogits(target, { reduction: 'none', posWeight }), [rnd([3, 2])]);
    check((x) => x.binaryCrossEntropyWithLogits(target, { weight, posWeight }), [rnd([3, 2])]);
  });
  it('a small network end to end (conv, batchNorm, relu, pool, linear, crossEntropy)', () => {
    const target = ints([1, 0]);
    check(
      (x, w1, b1, w2, b2) => {
        const h = msam.conv2d(x, w1, b1, { padding: 1 }).batchNorm(null, null, { training: true }).gelu();
        const pooled = h.avgPool2d(2).flatten(1);
        return pooled.linear(w2, b2).crossEntropy(target, { labelSmoothing: 0.1 });
      },
      [rnd([2, 1, 4, 4]), rnd([2, 1, 3, 3]), rnd([2]), rnd([3, 8]), rnd([3])],
    );
  });
});

// ---- double backward ----------------------------------------------------------------------------

/** Hessian-vector product H(x) v of a scalar f, by double backward. */
function hvp(f: (x: Tensor) => Tensor, x: Tensor, v: Tensor): Tensor {
  const [g] = msam.autograd.grad(f(x), x, { createGraph: true }) as [Tensor];
  expect(g.requiresGrad).toBe(true); // the gradient is itself differentiable
  const [hv] = msam.autograd.grad(g, x, { gradOutputs: [v] }) as [Tensor];
  return hv;
}

/** (∇f(x + εv) - ∇f(x - εv)) / 2ε, from first gradients only. */
function fdHvp(f: (x: Tensor) => Tensor, x: Tensor, v: Tensor, eps = 1e-6): number[] {
  const gradAt = (sign: number): Float64Array => {
    const xp = x.detach().add(v, sign * eps).requiresGrad_();
    return (msam.autograd.grad(f(xp), xp)[0] as Tensor).data() as Float64Array;
  };
  const plus = gradAt(1);
  const minus = gradAt(-1);
  return Array.from(plus, (p, i) => (p - (minus[i] as number)) / (2 * eps));
}

const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6) => {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) expect(Math.abs((actual[i] as number) - (expected[i] as number))).toBeLessThanOrEqual(tol);
};

describe('double backward', () => {
  it('f(x) = sum(x^3) + x0*x1: Hessian-vector product by hand and by finite differences', () => {
    const xs = [0.5, -1.2, 2.0, 0.7];
    const vs = [1.0, -0.5, 0.25, 2.0];
    const x = msam.tensor(xs, { dtype: 'float64', requiresGrad: true });
    const v = msam.tensor(vs, { dtype: 'float64' });
    const f = (t: Tensor) => t.pow(3).sum().add(t.index(0).mul(t.index(1)));
    // H = diag(6x) + (e0 e1ᵀ + e1 e0ᵀ)
    const expected = xs.map((xi, i) => 6 * xi * (vs[i] as number) + (i === 0 ? (vs[1] as number) : i === 1 ? (vs[0] as number) : 0));
    const hv = hvp(f, x, v);
    expectClose(hv.data() as Float64Array, expected, 1e-12);
    expectClose(fdHvp(f, x, v), expected);
    expect(x.grad).toBeNull(); // autograd.grad leaves .grad alone
  });

  it('quadratic form xᵀAx: Hessian A + Aᵀ, the full Hessian column by column', () => {
    const A = [
      [2, -1, 0.5],
      [0.3, 1, -2],
      [1.5, 0, 3],
    ];
    const a = msam.tensor(A, { dtype: 'float64' });
    const x = msam.tensor([0.4, -0.8, 1.1], { dtype: 'float64', requiresGrad: true });
    const f = (t: Tensor) => t.matmul(a).dot(t); // xᵀ A x (as x A x with x a row)
    for (let j = 0; j < 3; j++) {
      const e = msam.tensor([0, 1, 2].map((i) => (i === j ? 1 : 0)), { dtype: 'float64' });
      const column = [0, 1, 2].map((i) => (A[i]![j] as number) + (A[j]![i] as number));
      expectClose(hvp(f, x, e).data() as Float64Array, column, 1e-12);
      expectClose(fdHvp(f, x, e), column);
    }
  });

  it('gradient of a gradient norm (the SAM-style penalty ‖∇L‖²) matches finite differences', () => {
    const xs = rnd([4, 3], { grad: false });
    const target = ints([0, 2, 1, 1]);
    const loss = (w: Tensor, b: Tensor) => xs.linear(w, b).tanh().crossEntropy(target);
    check(
      (w, b) => {
        const grads = msam.autograd.grad(loss(w, b), [w, b], { createGraph: true }) as Tensor[];
        return grads.map((g) => g.square().sum()).reduce((s, t) => s.add(t));
      },
      [rnd([3, 3]), rnd([3])],
    );
  });

  it('gradgradcheck over ops an mSAM step differentiates twice', () => {
    const target = ints([1, 0, 2]);
    const cases: [string, TensorFn, Tensor[]][] = [
      ['tanh ∘ mul', (a, b) => a.mul(b).tanh(), [rnd([2, 3]), rnd([3])]],
      ['sigmoid, exp, log', (a) => a.sigmoid().add(a.exp()).log(), [rnd([4])]],
      ['softmax', (a) => a.softmax(1), [rnd([2, 3])]],
      ['logSoftmax + nllLoss', (a) => a.logSoftmax(1).nllLoss(target), [rnd([3, 3])]],
      ['crossEntropy with labelSmoothing', (a) => a.crossEntropy(target, { labelSmoothing: 0.1 }), [rnd([3, 3])]],
      ['linear + gelu', (x, w, b) => x.linear(w, b).gelu(), [rnd([2, 3]), rnd([2, 3]), rnd([2])]],
      ['conv2d', (x, w) => x.conv2d(w, null, { padding: 1, stride: 2 }), [rnd([1, 2, 4, 4]), rnd([2, 2, 3, 3])]],
      ['layerNorm', (x, w) => x.layerNorm([3], w), [rnd([2, 3]), rnd([3])]],
      ['batchNorm (training)', (x) => x.batchNorm(null, null, { training: true }), [rnd([4, 2])]],
      ['mseLoss', (x, y) => x.pow(2).mseLoss(y), [rnd([3]), rnd([3])]],
      ['norm', (x) => x.norm(), [rnd([4])]],
      ['avgPool2d + matmul', (x, w) => x.avgPool2d(2).flatten(1).matmul(w), [rnd([2, 1, 4, 4]), rnd([4, 2])]],
    ];
    for (const [name, fn, inputs] of cases) {
      const report = (() => {
        try {
          return gradgradcheck(fn, inputs);
        } catch (e) {
          throw new Error(`${name}: ${(e as Error).message}`);
        }
      })();
      expect(report.maxAbsError, name).toBeLessThanOrEqual(1e-6);
    }
  });
});

// ---- autograd API -------------------------------------------------------------------------------

const f64 = (data: number[] | number[][], requiresGrad = false) => msam.tensor(data, { dtype: 'float64', requiresGrad });

describe('autograd API', () => {
  it('backward(grad) for a non-scalar output', () => {
    const x = f64([1, 2, 3], true);
    const y = x.mul(x); // dy/dx = 2x
    expect(() => y.backward()).toThrow(); // needs a gradient for a non-scalar output
    y.backward(f64([1, 0.5, -2]));
    expect(x.grad?.toArray()).toEqual([2, 2, -12]);
  });

  it('.grad accumulates across backward calls, and can be reset', () => {
    const x = f64([1, -2], true);
    const y = x.pow(2).sum();
    y.backward(undefined, { retainGraph: true });
    expect(x.grad?.toArray()).toEqual([2, -4]);
    y.backward();
    expect(x.grad?.toArray()).toEqual([4, -8]);
    x.mul(3).sum().backward(); // a second graph adds too
    expect(x.grad?.toArray()).toEqual([7, -5]);
    x.grad = null;
    expect(x.grad).toBeNull();
    x.sum().backward();
    expect((x.grad as Tensor | null)?.toArray()).toEqual([1, 1]); // (a cast: TS narrowed x.grad to null)
  });

  it('backward twice through a freed graph throws', () => {
    const x = f64([1, 2], true);
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow();
  });

  it('detach() cuts the graph', () => {
    const x = f64([1, 2, 3], true);
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    expect(d.isLeaf).toBe(true);
    expect(d.mul(2).requiresGrad).toBe(false);
    // x * detach(x): the detached factor is a constant, so the gradient is x, not 2x
    x.mul(x.detach()).sum().backward();
    expect(x.grad?.toArray()).toEqual([1, 2, 3]);
    // and it shares the values
    expect(d.toArray()).toEqual([1, 2, 3]);
  });

  it('noGrad() gives results without requiresGrad and restores the mode', () => {
    const x = f64([1, 2], true);
    expect(msam.isGradEnabled()).toBe(true);
    const y = msam.noGrad(() => {
      expect(msam.isGradEnabled()).toBe(false);
      return x.mul(2).add(1);
    });
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(y.toArray()).toEqual([3, 5]);
    expect(msam.isGradEnabled()).toBe(true);
    expect(x.mul(2).requiresGrad).toBe(true);
    // the same through autograd.noGrad, and nested
    msam.autograd.noGrad(() => {
      msam.noGrad(() => expect(msam.autograd.isGradEnabled()).toBe(false));
      expect(msam.isGradEnabled()).toBe(false);
    });
    expect(msam.isGradEnabled()).toBe(true);
  });

  it('noGrad() restores the mode when fn throws', () => {
    expect(() =>
      msam.noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(msam.isGradEnabled()).toBe(true);
    expect(f64([1], true).mul(2).requiresGrad).toBe(true);
    // and when an op inside throws
    expect(() => msam.noGrad(() => f64([1, 2]).matmul(f64([1, 2, 3])))).toThrow();
    expect(msam.isGradEnabled()).toBe(true);
  });

  it('enableGrad() inside noGrad() records again, then noGrad resumes', () => {
    const x = f64([1, 2], true);
    msam.noGrad(() => {
      const y = msam.enableGrad(() => {
        expect(msam.isGradEnabled()).toBe(true);
        return x.mul(x).sum();
      });
      expect(msam.isGradEnabled()).toBe(false);
      expect(y.requiresGrad).toBe(true);
      expect(y.gradFn).toBe('SumBackward0');
      expect(x.mul(3).requiresGrad).toBe(false);
      y.backward(); // backward itself works under noGrad
    });
    expect(x.grad?.toArray()).toEqual([2, 4]);
    expect(() => msam.enableGrad(() => { throw new Error('inner'); })).toThrow('inner');
    expect(msam.isGradEnabled()).toBe(true);
  });

  it('retainGrad() keeps .grad of a non-leaf', () => {
    const x = f64([1, 2, 3], true);
    const h = x.mul(2);
    const k = x.mul(3);
    expect(h.isLeaf).toBe(false);
    expect(h.retainGrad()).toBe(h);
    h.mul(h).sum().add(k.sum()).backward();
    expect(h.grad?.toArray()).toEqual([4, 8, 12]); // 2h
    expect(k.grad).toBeNull(); // not retained
    expect(x.grad?.toArray()).toEqual([11, 19, 27]); // 2 * 2h + 3
  });

  it('autograd.grad: allowUnused gives null, otherwise it throws; .grad is left alone', () => {
    const x = f64([1, 2], true);
    const z = f64([3, 4], true);
    const y = x.pow(2).sum();
    expect(() => msam.autograd.grad(y, [x, z], { retainGraph: true })).toThrow();
    const [gx, gz] = msam.autograd.grad(y, [x, z], { allowUnused: true });
    expect(gx?.toArray()).toEqual([2, 4]);
    expect(gz).toBeNull();
    expect(x.grad).toBeNull();
    expect(z.grad).toBeNull();
  });

  it('autograd.grad with several outputs and gradOutputs', () => {
    const x = f64([1, 2], true);
    const [g] = msam.autograd.grad([x.mul(2), x.pow(2)], x, { gradOutputs: [f64([1, 1]), f64([0.5, -1])] }) as [Tensor];
    expect(g.toArray()).toEqual([2 + 1, 2 - 4]); // 2 + 2x * w2
    expect(g.requiresGrad).toBe(false); // no createGraph
  });

  it('requiresGrad setter and leaves', () => {
    const x = f64([1, 2]);
    expect(x.requiresGrad).toBe(false);
    expect(x.mul(2).requiresGrad).toBe(false);
    x.requiresGrad = true;
    expect(x.requiresGrad).toBe(true);
    expect(x.isLeaf).toBe(true);
    expect(x.gradFn).toBeNull();
    const y = x.add(1);
    expect(y.isLeaf).toBe(false);
    expect(() => {
      y.requiresGrad = false; // only leaves can stop requiring grad
    }).toThrow(/leaf/);
    expect(() => y.requiresGrad_(false)).toThrow(/leaf/);
    expect(y.requiresGrad).toBe(true);
    y.requiresGrad = true; // a no-op on a non-leaf
    x.requiresGrad_(false);
    expect(x.requiresGrad).toBe(false);
    expect(() => msam.tensor([1, 2]).requiresGrad_()).toThrow(); // integer tensors cannot require grad
    expect(msam.tensor([1.5, 2], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(msam.zeros([2], { dtype: 'float64', requiresGrad: true }).requiresGrad).toBe(true);
  });

  it('gradFn names the node that made a tensor', () => {
    const a = f64([[1, 2], [3, 4]], true);
    const b = f64([[0.5, 1], [1.5, 2]], true);
    expect(a.gradFn).toBeNull();
    const names: [Tensor, string][] = [
      [a.add(b), 'AddBackward0'],
      [a.sub(b), 'SubBackward0'],
      [a.mul(b), 'MulBackward0'],
      [a.div(b), 'DivBackward0'],
      [a.mul(2), 'MulBackward1'], // the Scalar overload (PyTorch's Python API wraps 2 in a tensor: MulBackward0)
      [a.pow(2), 'PowBackward0'],
      [a.pow(b), 'PowBackward1'],
      [a.exp(), 'ExpBackward0'],
      [a.tanh(), 'TanhBackward0'],
      [a.relu(), 'ReluBackward0'],
      [a.sum(), 'SumBackward0'],
      [a.sum(1), 'SumBackward1'],
      [a.mean(), 'MeanBackward0'],
      [a.mm(b), 'MmBackward0'],
      [a.transpose(0, 1), 'TransposeBackward0'],
      [a.permute([1, 0]), 'PermuteBackward0'],
      [a.unsqueeze(0), 'UnsqueezeBackward0'],
      [a.softmax(1), 'SoftmaxBackward0'],
      [a.logSoftmax(1), 'LogSoftmaxBackward0'],
      [msam.cat([a, b]), 'CatBackward0'],
      [a.clone(), 'CloneBackward0'],
    ];
    for (const [t, name] of names) expect(t.gradFn).toBe(name);
  });
});
