// Values against PyTorch's own output: test/fixtures/values.json is written by
// test/fixtures/gen_values.py (run it with /usr/bin/python3, which has torch) and committed.
// Each fixture case names its inputs, the msam call to make (a small expression tree, see the
// generator's docstring) and the expected result. A few hand-derived checks follow at the end.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { DType, NestedArray } from '../lib';

type Num = number | boolean | 'nan' | 'inf' | '-inf';
interface TensorSpec {
  shape: number[];
  dtype: DType;
  data: Num[];
}
type Expected = TensorSpec | Expected[] | { [k: string]: Expected } | Num;
type Expr = unknown;
interface Case {
  name: string;
  inputs: Record<string, string>;
  call: Expr;
  expect: Expected;
  after?: Record<string, TensorSpec>;
  same?: string;
}
interface Fixtures {
  torch: string;
  tensors: Record<string, TensorSpec>;
  cases: Case[];
  readback: { name: string; tensor: TensorSpec; list: unknown; item: Num | null }[];
}

const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'values.json'), 'utf8')) as Fixtures;

const decode = (v: Num): number =>
  v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : typeof v === 'boolean' ? Number(v) : v;

function nest(flat: unknown[], shape: number[]): unknown {
  if (shape.length === 0) return flat[0];
  let offset = 0;
  const build = (dim: number): unknown[] => {
    const n = shape[dim] as number;
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(dim === shape.length - 1 ? flat[offset++] : build(dim + 1));
    return out;
  };
  return build(0);
}

/** Builds the input tensor exactly: nested JS numbers (or booleans) with the dtype given. */
function build(s: TensorSpec): msam.Tensor {
  const values = s.data.map((v) => (s.dtype === 'bool' ? v === true : decode(v)));
  if (s.shape.includes(0)) return msam.zeros(s.shape, { dtype: s.dtype });
  return msam.tensor(nest(values, s.shape) as NestedArray, { dtype: s.dtype });
}

const TYPED_ARRAY: Record<DType, string> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  float16: 'Float32Array',
  bfloat16: 'Float32Array',
  int64: 'BigInt64Array',
  int32: 'Int32Array',
  int16: 'Int16Array',
  int8: 'Int8Array',
  uint8: 'Uint8Array',
  bool: 'Uint8Array',
};

// |actual - expected| <= atol + rtol * |expected|; half and bfloat16 appear only as exact conversions
// or single rounded operations, so they must match exactly too.
const TOLERANCE: Partial<Record<DType, [number, number]>> = { float64: [1e-12, 1e-12], float32: [1e-6, 1e-6] };

function close(actual: number, expected: number, dtype: DType): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  if (!Number.isFinite(expected)) return actual === expected;
  const [atol, rtol] = TOLERANCE[dtype] ?? [0, 0];
  return Math.abs(actual - expected) <= atol + rtol * Math.abs(expected);
}

function isSpec(e: Expected): e is TensorSpec {
  return typeof e === 'object' && e !== null && !Array.isArray(e) && 'shape' in e && 'dtype' in e && 'data' in e;
}

function checkTensor(actual: unknown, e: TensorSpec, where: string): void {
  expect(actual, `${where}: not a Tensor`).toBeInstanceOf(msam.Tensor);
  const t = actual as msam.Tensor;
  expect(t.shape, `${where}: shape`).toEqual(e.shape);
  expect(t.dtype, `${where}: dtype`).toBe(e.dtype);
  const data = t.data();
  expect(data.constructor.name, `${where}: data() kind`).toBe(TYPED_ARRAY[e.dtype]);
  const got = Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
  const want = e.data.map(decode);
  expect(got.length, `${where}: numel`).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    if (!close(got[i] as number, want[i] as number, e.dtype)) bad.push(`[${i}] got ${got[i]}, want ${want[i]}`);
  }
  expect(bad, `${where}: values (${e.dtype})`).toEqual([]);
  // toArray(): the same values nested by shape, booleans for bool tensors.
  const nested = t.toArray();
  const flatNested = e.shape.length === 0 ? [nested] : (nested as unknown[]).flat(Infinity);
  expect(flatNested.length, `${where}: toArray() size`).toBe(want.length);
  if (e.dtype === 'bool') {
    expect(nested, `${where}: toArray()`).toEqual(nest(want.map((v) => v !== 0), e.shape));
  } else if (e.shape.length > 0) {
    expect(nested, `${where}: toArray() nesting`).toEqual(nest(got, e.shape));
  }
  if (e.shape.length === 0) {
    expect(close(t.item(), want[0] as number, e.dtype), `${where}: item() ${t.item()} vs ${want[0]}`).toBe(true);
  }
}

function check(actual: unknown, e: Expected, where: string): void {
  if (isSpec(e)) return checkTensor(actual, e, where);
  if (Array.isArray(e)) {
    expect(Array.isArray(actual), `${where}: expected an array`).toBe(true);
    expect((actual as unknown[]).length, `${where}: length`).toBe(e.length);
    e.forEach((x, i) => check((actual as unknown[])[i], x, `${where}[${i}]`));
    return;
  }
  if (typeof e === 'object' && e !== null) {
    expect(Object.keys(actual as object).sort(), `${where}: keys`).toEqual(Object.keys(e).sort());
    for (const [k, x] of Object.entries(e)) check((actual as Record<string, unknown>)[k], x, `${where}.${k}`);
    return;
  }
  expect(actual).toBe(decode(e));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => unknown;

function evaluate(expr: Expr, inputs: Record<string, msam.Tensor>): unknown {
  if (Array.isArray(expr)) return expr.map((e) => evaluate(e, inputs));
  if (expr === null || typeof expr !== 'object') return expr;
  const o = expr as Record<string, unknown>;
  if ('$t' in o) {
    const t = inputs[o.$t as string];
    if (t === undefined) throw new Error(`fixture: no input '${String(o.$t)}'`);
    return t;
  }
  if ('$num' in o) return decode(o.$num as Num);
  if ('$call' in o) {
    const fn = o.$call as string;
    const args = (o.args as Expr[]).map((a) => evaluate(a, inputs));
    if (o.method === true) {
      const self = args[0] as msam.Tensor;
      const method = (self as unknown as Record<string, AnyFn>)[fn];
      if (typeof method !== 'function') throw new Error(`fixture: Tensor has no method '${fn}'`);
      return method.apply(self, args.slice(1));
    }
    const f = (msam as unknown as Record<string, AnyFn>)[fn];
    if (typeof f !== 'function') throw new Error(`fixture: msam has no function '${fn}'`);
    return f(...args);
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, evaluate(v, inputs)]));
}

/** The call as JS source, for failure messages. */
function show(expr: Expr): string {
  if (Array.isArray(expr)) return `[${expr.map(show).join(', ')}]`;
  if (expr === null || typeof expr !== 'object') return JSON.stringify(expr);
  const o = expr as Record<string, unknown>;
  if ('$t' in o) return String(o.$t);
  if ('$num' in o) return String(decode(o.$num as Num));
  if ('$call' in o) {
    const args = (o.args as Expr[]).map(show);
    return o.method === true ? `${args[0]}.${String(o.$call)}(${args.slice(1).join(', ')})` : `msam.${String(o.$call)}(${args.join(', ')})`;
  }
  return `{ ${Object.entries(o).map(([k, v]) => `${k}: ${show(v)}`).join(', ')} }`;
}

function families(): Map<string, Case[]> {
  const byFamily = new Map<string, Case[]>();
  for (const c of fixtures.cases) {
    const family = c.name.split('/')[0] as string;
    byFamily.set(family, [...(byFamily.get(family) ?? []), c]);
  }
  return byFamily;
}

describe('values against PyTorch', () => {
  it(`fixtures were generated by torch ${fixtures.torch} and cover every family`, () => {
    expect(fixtures.cases.length).toBeGreaterThan(300);
    const fams = [...families().keys()];
    for (const f of ['creation', 'arith', 'unary', 'compare', 'where', 'clamp', 'reduce', 'matmul', 'shape', 'join', 'split',
      'index', 'inplace', 'conv2d', 'linear', 'batchNorm', 'layerNorm', 'groupNorm', 'dropout', 'maxPool2d', 'avgPool2d',
      'adaptiveAvgPool2d', 'embedding', 'pad', 'crossEntropy', 'nllLoss', 'mseLoss', 'bceWithLogits', 'oneHot', 'moves']) {
      expect(fams, f).toContain(f);
    }
  });

  for (const [family, cases] of families()) {
    describe(family, () => {
      for (const c of cases) {
        it(c.name.slice(family.length + 1) || c.name, () => {
          msam.tidy(() => {
            const inputs: Record<string, msam.Tensor> = {};
            for (const [k, key] of Object.entries(c.inputs)) {
              const s = fixtures.tensors[key];
              if (s === undefined) throw new Error(`fixture: no tensor ${key}`);
              inputs[k] = build(s);
            }
            const where = show(c.call);
            const result = evaluate(c.call, inputs);
            check(result, c.expect, where);
            if (c.same !== undefined) expect(result, `${where} returns ${c.same} itself`).toBe(inputs[c.same]);
            for (const [k, s] of Object.entries(c.after ?? {})) checkTensor(inputs[k], s, `${k} after ${where}`);
          });
        });
      }
    });
  }

  describe('read-back', () => {
    for (const r of fixtures.readback) {
      it(r.name, () => {
        msam.tidy(() => {
          const t = build(r.tensor);
          expect(t.shape).toEqual(r.tensor.shape);
          expect(t.ndim).toBe(r.tensor.shape.length);
          expect(t.numel).toBe(r.tensor.data.length);
          expect(t.dtype).toBe(r.tensor.dtype);
          expect(t.device).toBe('cpu');
          expect(t.data().constructor.name).toBe(TYPED_ARRAY[r.tensor.dtype]);
          const decodeList = (v: unknown): unknown =>
            Array.isArray(v) ? v.map(decodeList) : typeof v === 'boolean' ? v : decode(v as Num);
          expect(t.toArray()).toEqual(decodeList(r.list));
          if (r.item !== null) expect(t.item()).toEqual(decode(r.item));
        });
      });
    }
  });
});

// ---- hand-derived checks -------------------------------------------------------------------------

describe('hand-derived values', () => {
  it('tensor() infers int64, float32, bool; typed arrays keep their dtype', () => {
    msam.tidy(() => {
      expect(msam.tensor([[1, 2], [3, 4]]).dtype).toBe('int64');
      expect(msam.tensor([1, 2.5]).dtype).toBe('float32');
      expect(msam.tensor([true, false]).dtype).toBe('bool');
      expect(msam.tensor(new Float64Array([0.1])).dtype).toBe('float64');
      expect(msam.tensor(new Int32Array([1])).dtype).toBe('int32');
      expect(msam.tensor(3).shape).toEqual([]);
      expect(msam.tensor([1, 0.1]).toArray()).toEqual([1, Math.fround(0.1)]);
      expect(msam.tensor([true, false]).toArray()).toEqual([true, false]);
      expect(msam.tensor([[1, 2], [3, 4]]).data()).toEqual(new BigInt64Array([1n, 2n, 3n, 4n]));
    });
  });

  it('elementwise arithmetic and broadcasting', () => {
    msam.tidy(() => {
      const a = msam.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });
      const b = msam.tensor([10, 20, 30], { dtype: 'float64' });
      expect(a.add(b).toArray()).toEqual([[11, 22, 33], [14, 25, 36]]);
      expect(msam.add(a, b, 2).toArray()).toEqual([[21, 42, 63], [24, 45, 66]]);
      expect(a.sub(1).mul(2).div(4).toArray()).toEqual([[0, 0.5, 1], [1.5, 2, 2.5]]);
      expect(a.pow(2).sum().item()).toBe(1 + 4 + 9 + 16 + 25 + 36);
      expect(msam.tensor([-7, 7]).remainder(3).toArray()).toEqual([2, 1]);
      expect(msam.tensor([7, 2]).div(msam.tensor([2, 4])).toArray()).toEqual([3.5, 0.5]);
    });
  });

  it('reductions', () => {
    msam.tidy(() => {
      const x = msam.tensor([1, 2, 3, 4], { dtype: 'float64' });
      expect(x.mean().item()).toBe(2.5);
      expect(msam.variance(x).item()).toBeCloseTo(5 / 3, 14); // sum of squared deviations 5, over N - 1
      expect(x.var(0, { unbiased: false }).item()).toBe(1.25);
      expect(x.norm().item()).toBeCloseTo(Math.sqrt(30), 14);
      expect(x.norm(1).item()).toBe(10);
      expect(x.prod().item()).toBe(24);
      const m = msam.tensor([[3, 9, 1], [4, 0, 8]]);
      expect(m.argmax(1).toArray()).toEqual([1, 2]);
      expect(m.max(0).toArray()).toEqual([4, 9, 8]);
      expect(m.sum(1, { keepdim: true }).shape).toEqual([2, 1]);
    });
  });

  it('softmax, sigmoid, gelu and crossEntropy at known points', () => {
    msam.tidy(() => {
      const s = msam.tensor([0, Math.log(3)], { dtype: 'float64' }).softmax(0).toArray() as number[];
      expect(s[0]).toBeCloseTo(0.25, 14);
      expect(s[1]).toBeCloseTo(0.75, 14);
      expect(msam.tensor([0], { dtype: 'float64' }).sigmoid().item()).toBe(0.5);
      const g = msam.tensor([0, 1], { dtype: 'float64' }).gelu().toArray() as number[];
      expect(g[0]).toBe(0);
      expect(g[1]).toBeCloseTo(0.8413447460685429, 14); // 1 · Φ(1)
      // uniform logits: the loss is log(C)
      const loss = msam.crossEntropy(msam.zeros([2, 4], { dtype: 'float64' }), msam.tensor([1, 3]));
      expect(loss.item()).toBeCloseTo(Math.log(4), 14);
    });
  });

  it('matmul and a summing convolution', () => {
    msam.tidy(() => {
      const a = msam.tensor([[1, 2], [3, 4]], { dtype: 'float64' });
      const b = msam.tensor([[5, 6], [7, 8]], { dtype: 'float64' });
      expect(a.matmul(b).toArray()).toEqual([[19, 22], [43, 50]]);
      const x = msam.arange(9, undefined, 1, { dtype: 'float64' }).reshape([1, 1, 3, 3]);
      const w = msam.ones([1, 1, 2, 2], { dtype: 'float64' });
      expect(msam.conv2d(x, w).toArray()).toEqual([[[[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]]]]);
      expect(msam.maxPool2d(x, 2, { stride: 1 }).toArray()).toEqual([[[[4, 5], [7, 8]]]]);
    });
  });

  it('indexing and creation shapes', () => {
    msam.tidy(() => {
      const x = msam.arange(12).reshape([3, 4]);
      expect(x.index(1).toArray()).toEqual([4, 5, 6, 7]);
      expect(x.index(':', -1).toArray()).toEqual([3, 7, 11]);
      expect(x.index('::2', '1:3').toArray()).toEqual([[1, 2], [9, 10]]);
      expect(x.index(null).shape).toEqual([1, 3, 4]);
      expect(x.index(msam.tensor([2, 0])).toArray()).toEqual([[8, 9, 10, 11], [0, 1, 2, 3]]);
      expect(x.index(x.gt(9)).toArray()).toEqual([10, 11]);
      expect(msam.arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
      expect(msam.linspace(0, 1, 3).toArray()).toEqual([0, 0.5, 1]);
      expect(msam.eye(2).toArray()).toEqual([[1, 0], [0, 1]]);
    });
  });

  it('dtype moves round as PyTorch does', () => {
    msam.tidy(() => {
      const x = msam.tensor([-1.7, 1.7, 0.5], { dtype: 'float64' });
      expect(x.long().toArray()).toEqual([-1, 1, 0]); // truncation toward zero
      expect(x.bool().toArray()).toEqual([true, true, true]);
      expect(msam.tensor([1 + 2 ** -11], { dtype: 'float64' }).half().item()).toBe(1); // a tie: rounds to even
      expect(msam.tensor([1 + 3 * 2 ** -11], { dtype: 'float64' }).half().item()).toBe(1 + 2 ** -9);
      expect(msam.tensor([1 + 2 ** -8], { dtype: 'float64' }).bfloat16().item()).toBe(1); // a tie: rounds to even
      expect(msam.tensor([70000], { dtype: 'float64' }).half().item()).toBe(Infinity);
    });
  });
});

describe("PyTorch's varargs for shapes", () => {
  it('view, reshape and permute take the sizes one by one or as a list', () => {
    const t = msam.arange(6).to('float32');
    expect(t.view(2, 3).shape).toEqual([2, 3]);
    expect(t.view([3, 2]).shape).toEqual([3, 2]);
    expect(t.reshape(3, -1).shape).toEqual([3, 2]);
    const p = t.view(1, 2, 3).permute(2, 0, 1);
    expect(p.shape).toEqual([3, 1, 2]);
    expect(Array.from(p.contiguous().data())).toEqual(Array.from(t.view([1, 2, 3]).permute([2, 0, 1]).contiguous().data()));
    expect(Array.from(p.contiguous().data())).toEqual([0, 3, 1, 4, 2, 5]);
  });
});

describe('all, any, allclose, sort, topk', () => {
  const vals = (t: msam.Tensor) => Array.from(t.data() as ArrayLike<number | bigint>, Number);
  it('all and any over everything and along a dim', () => {
    const t = msam.tensor([[1, 0, 2], [3, 4, 5]]);
    expect(t.all().item()).toBe(0);
    expect(t.any().item()).toBe(1);
    expect(msam.zeros([2, 2]).any().item()).toBe(0);
    expect(vals(t.all(1))).toEqual([0, 1]);
    expect(vals(t.any(0))).toEqual([1, 1, 1]);
    expect(t.all(0, { keepdim: true }).shape).toEqual([1, 3]);
    expect(t.all(1).dtype).toBe('bool');
  });
  it('allclose with rtol and atol as PyTorch defines them', () => {
    const f64 = (xs: number[]) => msam.tensor(xs, { dtype: 'float64' });
    const a = f64([1, 100]);
    expect(a.allclose(f64([1, 100.0009]))).toBe(true); // 0.0009 ≤ 1e-8 + 1e-5 · 100.0009
    expect(a.allclose(f64([1, 100.0011]))).toBe(false);
    expect(a.allclose(f64([1.05, 100]), { atol: 0.1 })).toBe(true);
    expect(a.allclose(f64([1.05, 100]))).toBe(false);
    expect(msam.tensor([NaN]).allclose(msam.tensor([NaN]))).toBe(false);
    expect(msam.tensor([NaN]).allclose(msam.tensor([NaN]), { equalNan: true })).toBe(true);
  });
  it('sort and topk: values and indices', () => {
    const t = msam.tensor([[3, 1, 2], [0, 5, 4]]);
    const s = t.sort();
    expect(vals(s.values)).toEqual([1, 2, 3, 0, 4, 5]);
    expect(vals(s.indices)).toEqual([1, 2, 0, 0, 2, 1]);
    const d = t.sort(0, { descending: true });
    expect(vals(d.values)).toEqual([3, 5, 4, 0, 1, 2]);
    const k = t.topk(2);
    expect(vals(k.values)).toEqual([3, 2, 5, 4]);
    expect(vals(k.indices)).toEqual([0, 2, 1, 2]);
    expect(vals(t.topk(1, 1, { largest: false }).values)).toEqual([1, 0]);
    expect(() => t.topk(4)).toThrow(/topk|selected index k out of range|k/);
  });
});
