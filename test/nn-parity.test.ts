// msam.nn's native layers against PyTorch's own modules (or hand-written PyTorch equivalents for the
// ViT and text pieces) with identical weights. test/fixtures/nn.json is written by
// test/fixtures/gen_nn.py (run it with /usr/bin/python3, which has torch 1.13) and committed; its
// docstring describes the format. Each case's weights are loaded here with loadStateDict (strict), so
// both sides hold the same values; each step then compares the output, the parameter and input
// gradients of L = sum(out * w), and the buffers after the pass, in float32 and after to('float64').
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';

const { nn } = msam;

type FloatDType = 'float32' | 'float64';
interface Spec {
  shape: number[];
  dtype: FloatDType | 'int64' | 'bool';
  data: (number | boolean)[];
}
type InputSpec =
  | { kind: 'float'; shape: number[]; seed: number; scale: number }
  | { kind: 'index' | 'mask'; shape: number[]; dtype: 'int64' | 'bool'; data: (number | boolean)[] };
interface Expect {
  out: Spec;
  grads: Record<string, Spec | null>;
  inputGrads: (Spec | null)[];
  buffers: Record<string, Spec>;
}
interface Step {
  train: boolean;
  inputs: InputSpec[];
  expect: Record<FloatDType, Expect>;
}
interface Case {
  name: string;
  params: Record<string, Spec>;
  steps: Step[];
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'nn.json'), 'utf8')) as { torch: string; cases: Case[] };

// The msam module of each fixture case, built as the generator builds PyTorch's.
const tel = (normFirst: boolean, activation: 'relu' | 'gelu') => () =>
  new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8, dropout: 0.1, activation, normFirst });
const FACTORIES: Record<string, () => msam.nn.Module> = {
  Linear: () => new nn.Linear(5, 4),
  'Linear bias=false 3-D input': () => new nn.Linear(5, 4, { bias: false }),
  'Conv2d stride 2 padding 1 groups 2': () => new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2 }),
  'Conv2d kernel [3,2] stride [1,2] padding [2,1] dilation [2,1] bias=false': () =>
    new nn.Conv2d(3, 4, [3, 2], { stride: [1, 2], padding: [2, 1], dilation: [2, 1], bias: false }),
  'Conv2d dilation 2 groups 3': () => new nn.Conv2d(3, 6, 3, { dilation: 2, groups: 3 }),
  'BatchNorm1d 2-D train, train, eval': () => new nn.BatchNorm1d(4),
  'BatchNorm1d 3-D train, eval': () => new nn.BatchNorm1d(3),
  'BatchNorm2d train, train, eval': () => new nn.BatchNorm2d(3),
  'BatchNorm2d momentum 0.3 eps 1e-3': () => new nn.BatchNorm2d(3, { eps: 1e-3, momentum: 0.3 }),
  'BatchNorm2d affine=false trackRunningStats=false, eval': () => new nn.BatchNorm2d(3, { affine: false, trackRunningStats: false }),
  LayerNorm: () => new nn.LayerNorm(5),
  'LayerNorm [3,5] eps 1e-3': () => new nn.LayerNorm([3, 5], { eps: 1e-3 }),
  'LayerNorm elementwiseAffine=false': () => new nn.LayerNorm(5, { elementwiseAffine: false }),
  GroupNorm: () => new nn.GroupNorm(2, 4),
  'GroupNorm affine=false': () => new nn.GroupNorm(4, 4, { affine: false }),
  'Embedding paddingIdx 2': () => new nn.Embedding(10, 4, { paddingIdx: 2 }),
  'Embedding paddingIdx -1': () => new nn.Embedding(10, 4, { paddingIdx: -1 }),
  ReLU: () => new nn.ReLU(),
  GELU: () => new nn.GELU(),
  "GELU approximate 'tanh'": () => new nn.GELU({ approximate: 'tanh' }),
  Tanh: () => new nn.Tanh(),
  Sigmoid: () => new nn.Sigmoid(),
  'Softmax dim 1': () => new nn.Softmax(1),
  'Softmax dim -1': () => new nn.Softmax(-1),
  'MaxPool2d 3 stride 2 padding 1': () => new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
  'MaxPool2d 2 ceilMode': () => new nn.MaxPool2d(2, { ceilMode: true }),
  'AvgPool2d 3 stride 2 padding 1 countIncludePad=false': () => new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }),
  'AvgPool2d 2': () => new nn.AvgPool2d(2),
  'AvgPool2d [3,2] stride [2,1] ceilMode': () => new nn.AvgPool2d([3, 2], { stride: [2, 1], ceilMode: true }),
  'AdaptiveAvgPool2d [2,4]': () => new nn.AdaptiveAvgPool2d([2, 4]),
  'AdaptiveAvgPool2d 1': () => new nn.AdaptiveAvgPool2d(1),
  Flatten: () => new nn.Flatten(),
  'Flatten 0 1': () => new nn.Flatten(0, 1),
  Identity: () => new nn.Identity(),
  MultiheadAttention: () => new nn.MultiheadAttention(6, 2),
  'MultiheadAttention with a padding mask': () => new nn.MultiheadAttention(6, 2),
  'MultiheadAttention with a bool padding mask, eval': () => new nn.MultiheadAttention(6, 2, { dropout: 0.5 }),
  'TransformerEncoderLayer post-norm relu': tel(false, 'relu'),
  'TransformerEncoderLayer post-norm relu, mask': tel(false, 'relu'),
  'TransformerEncoderLayer post-norm gelu, mask': tel(false, 'gelu'),
  'TransformerEncoderLayer pre-norm relu, mask': tel(true, 'relu'),
  'TransformerEncoderLayer pre-norm gelu, mask': tel(true, 'gelu'),
  PatchEmbedding: () => new nn.PatchEmbedding(3, 8, 2),
  // A parameter named '' takes its module's name: in a container, 'class_token' as in torchvision's ViT.
  ClassToken: () => new nn.Sequential([['class_token', new nn.ClassToken(8)]]),
  PositionEmbedding: () => new nn.Sequential({ pos_embedding: new nn.PositionEmbedding(4, 8) }),
  'TokenSelect 0': () => new nn.TokenSelect(0),
  'TokenSelect -1': () => new nn.TokenSelect(-1),
  'TokenPositionEmbedding paddingIdx 0': () => new nn.TokenPositionEmbedding(10, 6, 8, { paddingIdx: 0 }),
  'ViT stem: PatchEmbedding, ClassToken, PositionEmbedding, TokenSelect': () =>
    new nn.Sequential({
      conv_proj: new nn.PatchEmbedding(3, 8, 2),
      class_token: new nn.ClassToken(8),
      pos_embedding: new nn.PositionEmbedding(7, 8),
      select: new nn.TokenSelect(0),
    }),
};

// The generator's deterministic inputs and output weights (exact in double on both sides).
const formula = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => ((i * 389 + seed * 101 + 7) % 997) / 498.0 - 1.0);
const outputWeights = (n: number): number[] => Array.from({ length: n }, (_, i) => (((i * 7 + 3) % 13) - 6) / 6.0);
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function fromSpec(s: Spec): Tensor {
  return msam.tensor(Float64Array.from(s.data, Number), { dtype: s.dtype }).reshape(s.shape);
}
function buildInput(s: InputSpec, dtype: FloatDType): Tensor {
  if (s.kind === 'float') {
    const values = formula(numel(s.shape), s.seed).map((v) => v * s.scale);
    return msam.tensor(Float64Array.from(values), { dtype }).reshape(s.shape).requiresGrad_(true);
  }
  return fromSpec({ shape: s.shape, dtype: s.dtype, data: s.data });
}

// Worst |actual - expected| seen, by dtype and by what was compared, for the summary.
const worst: Record<string, number> = {};
const TOL: Record<FloatDType, number> = { float32: 1e-5, float64: 1e-10 };

/** Checks shape, dtype and values (|a - e| <= tol · max(1, |e|)); returns the largest |a - e|. */
function compare(actual: Tensor | null, expected: Spec | null, tol: number, what: string, bucket: string): void {
  if (expected === null) {
    expect(actual, `${what}: PyTorch has no gradient here`).toBeNull();
    return;
  }
  expect(actual, `${what}: missing`).not.toBeNull();
  const a = actual as Tensor;
  expect(a.shape, `${what}: shape`).toEqual(expected.shape);
  expect(a.dtype, `${what}: dtype`).toBe(expected.dtype);
  const values = Array.from(a.data() as ArrayLike<number | bigint>, Number);
  let maxDiff = 0;
  let bad = -1;
  expected.data.forEach((e, i) => {
    const diff = Math.abs((values[i] as number) - Number(e));
    if (!(diff <= tol * Math.max(1, Math.abs(Number(e)))) && bad < 0) bad = i;
    if (diff > maxDiff || Number.isNaN(diff)) maxDiff = Number.isNaN(diff) ? Infinity : diff;
  });
  worst[bucket] = Math.max(worst[bucket] ?? 0, maxDiff);
  if (bad >= 0) throw new Error(`${what}: element ${bad} is ${values[bad]}, PyTorch ${expected.data[bad]} (max |diff| ${maxDiff}, tol ${tol})`);
}

describe(`msam.nn against PyTorch ${fixture.torch}`, () => {
  it('has a factory for every fixture case and a case for every factory', () => {
    expect(fixture.cases.map((c) => c.name).sort()).toEqual(Object.keys(FACTORIES).sort());
  });

  for (const c of fixture.cases) {
    describe(c.name, () => {
      for (const dtype of ['float32', 'float64'] as const) {
        it(dtype, () => {
          const factory = FACTORIES[c.name];
          if (!factory) throw new Error(`no msam factory for fixture case '${c.name}'`);
          msam.tidy(() => {
            const m = factory();
            const state = Object.fromEntries(Object.entries(c.params).map(([k, s]) => [k, fromSpec(s)]));
            expect(m.loadStateDict(state)).toEqual({ missingKeys: [], unexpectedKeys: [] });
            if (dtype === 'float64') m.to('float64');
            const params = new Map(m.namedParameters());
            const buffers = new Map(m.namedBuffers());
            const tol = TOL[dtype];
            c.steps.forEach((step, s) => {
              const where = `${c.name} (${dtype}) step ${s}`;
              const exp = step.expect[dtype];
              m.train(step.train);
              m.zeroGrad();
              const inputs = step.inputs.map((spec) => buildInput(spec, dtype));
              const out = m.forward(...inputs);
              compare(out, exp.out, tol, `${where}: output`, `${dtype} output`);
              const w = msam.tensor(Float64Array.from(outputWeights(out.numel)), { dtype }).reshape(out.shape);
              out.mul(w).sum().backward();
              expect([...params.keys()].sort(), `${where}: parameter names`).toEqual(Object.keys(exp.grads).sort());
              for (const [name, g] of Object.entries(exp.grads)) {
                compare((params.get(name) as Tensor).grad, g, tol, `${where}: grad of ${name}`, `${dtype} parameter grads`);
              }
              exp.inputGrads.forEach((g, i) => {
                if (g !== null) compare((inputs[i] as Tensor).grad, g, tol, `${where}: grad of input ${i}`, `${dtype} input grads`);
              });
              expect([...buffers.keys()].sort(), `${where}: buffer names`).toEqual(Object.keys(exp.buffers).sort());
              for (const [name, b] of Object.entries(exp.buffers)) {
                compare(buffers.get(name) as Tensor, b, tol, `${where}: buffer ${name}`, `${dtype} buffers`);
              }
            });
            m.zeroGrad();
          });
        });
      }
    });
  }

  afterAll(() => {
    const lines = Object.entries(worst).map(([k, v]) => `  ${k.padEnd(24)} ${v.toExponential(2)}`);
    console.log(`nn parity, max |msam - PyTorch| over ${fixture.cases.length} cases:\n${lines.join('\n')}`);
  });
});
