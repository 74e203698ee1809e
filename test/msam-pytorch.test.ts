// Every strategy of the mSAM step against PyTorch itself (test/fixtures/msam_ref_net.py, plain
// torch.nn written from the contract, no msam code) on networks with BatchNorm and Dropout, with
// ASAM, weight decay in the loss, label smoothing, bnMode 'freeze' and unequal shards: the .grad,
// the step's statistics and the running statistics after it, in float64 on the CPU. 'graph' runs
// only on CUDA (test/msam-graph.test.ts compares it with the loop there).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';
import { gradsOf, maxAbsDiff } from './helpers/msam-reference';
import { reference } from './helpers/reference';

const { nn } = msam;
const TOL = 1e-10;

type Layer =
  | { kind: 'linear'; in: number; out: number }
  | { kind: 'conv2d'; in: number; out: number; kernel: number; padding: number }
  | { kind: 'batchnorm1d' | 'batchnorm2d'; features: number }
  | { kind: 'relu' | 'tanh' | 'flatten' }
  | { kind: 'maxpool2d'; kernel: number }
  | { kind: 'dropout'; p: number };

function msamLayer(l: Layer): msam.nn.Module {
  switch (l.kind) {
    case 'linear':
      return new nn.Linear(l.in, l.out);
    case 'conv2d':
      return new nn.Conv2d(l.in, l.out, l.kernel, { padding: l.padding });
    case 'batchnorm1d':
      return new nn.BatchNorm1d(l.features);
    case 'batchnorm2d':
      return new nn.BatchNorm2d(l.features);
    case 'relu':
      return new nn.ReLU();
    case 'tanh':
      return new nn.Tanh();
    case 'flatten':
      return new nn.Flatten();
    case 'maxpool2d':
      return new nn.MaxPool2d(l.kernel);
    case 'dropout':
      return new nn.Dropout(l.p);
  }
}

interface Net {
  layers: Layer[];
  inputShape: number[];
  classes: number;
}

// Shard batch statistics in two BatchNorm kinds, pooling, no dropout.
const BN_CNN: Net = {
  layers: [
    { kind: 'conv2d', in: 2, out: 4, kernel: 3, padding: 1 },
    { kind: 'batchnorm2d', features: 4 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'flatten' },
    { kind: 'linear', in: 36, out: 8 },
    { kind: 'batchnorm1d', features: 8 },
    { kind: 'tanh' },
    { kind: 'linear', in: 8, out: 5 },
  ],
  inputShape: [2, 6, 6],
  classes: 5,
};
// Two dropout layers: the masks of both passes of a shard, in the order the forward draws them.
const DROPOUT_MLP: Net = {
  layers: [
    { kind: 'linear', in: 6, out: 16 },
    { kind: 'relu' },
    { kind: 'dropout', p: 0.3 },
    { kind: 'linear', in: 16, out: 12 },
    { kind: 'tanh' },
    { kind: 'dropout', p: 0.5 },
    { kind: 'linear', in: 12, out: 4 },
  ],
  inputShape: [6],
  classes: 4,
};
// Both at once: the CNN of msam.test.ts (BatchNorm, then dropout after pooling).
const BN_DROPOUT_CNN: Net = {
  layers: [
    { kind: 'conv2d', in: 2, out: 4, kernel: 3, padding: 1 },
    { kind: 'batchnorm2d', features: 4 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'flatten' },
    { kind: 'dropout', p: 0.3 },
    { kind: 'linear', in: 36, out: 5 },
  ],
  inputShape: [2, 6, 6],
  classes: 5,
};

interface Case {
  name: string;
  net: Net;
  B: number;
  options: { m: number; rho: number; adaptive?: boolean; eta?: number; weightDecay?: number; bnMode?: 'update' | 'freeze'; chunkSize?: number };
  labelSmoothing?: number;
}

const CASES: Case[] = [
  { name: 'BatchNorm CNN, B = 16, m = 4', net: BN_CNN, B: 16, options: { m: 4, rho: 0.2 } },
  { name: 'BatchNorm CNN, B = 10, m = 4 (shards 3, 3, 2, 2), label smoothing 0.1', net: BN_CNN, B: 10, options: { m: 4, rho: 0.2 }, labelSmoothing: 0.1 },
  { name: 'BatchNorm CNN, B = 12, m = 3, ASAM (η = 0.05)', net: BN_CNN, B: 12, options: { m: 3, rho: 0.5, adaptive: true, eta: 0.05 } },
  { name: "BatchNorm CNN, B = 11, m = 5, weight decay in the loss (λ = 0.05), chunkSize 2", net: BN_CNN, B: 11, options: { m: 5, rho: 0.2, weightDecay: 0.05, chunkSize: 2 } },
  { name: "BatchNorm CNN, B = 8, m = 2, bnMode 'freeze'", net: BN_CNN, B: 8, options: { m: 2, rho: 0.3, bnMode: 'freeze' } },
  { name: 'BatchNorm CNN, B = 8, m = 1 (SAM), ρ = 0.1', net: BN_CNN, B: 8, options: { m: 1, rho: 0.1 } },
  { name: 'BatchNorm CNN, B = 8, m = 4, ρ = 0 (the vanilla gradient)', net: BN_CNN, B: 8, options: { m: 4, rho: 0 } },
  { name: 'dropout MLP, B = 16, m = 4', net: DROPOUT_MLP, B: 16, options: { m: 4, rho: 0.2 } },
  {
    name: 'dropout MLP, B = 10, m = 4, ASAM, weight decay in the loss, label smoothing 0.1',
    net: DROPOUT_MLP,
    B: 10,
    options: { m: 4, rho: 0.4, adaptive: true, eta: 0.02, weightDecay: 0.02 },
    labelSmoothing: 0.1,
  },
  { name: 'dropout MLP, B = 9, m = 3, chunkSize 2', net: DROPOUT_MLP, B: 9, options: { m: 3, rho: 0.2, chunkSize: 2 } },
  { name: 'BatchNorm and dropout CNN, B = 10, m = 4, label smoothing 0.1', net: BN_DROPOUT_CNN, B: 10, options: { m: 4, rho: 0.2 }, labelSmoothing: 0.1 },
  { name: "BatchNorm and dropout CNN, B = 12, m = 4, ASAM, bnMode 'freeze'", net: BN_DROPOUT_CNN, B: 12, options: { m: 4, rho: 0.3, adaptive: true, eta: 0.01, bnMode: 'freeze' } },
];

type How = 'loop' | 'vectorized' | 'closure';
const HOWS: How[] = ['loop', 'vectorized', 'closure'];
const SEED = 11;

/** The case's model and batch, the same every time (seeded). */
function make(c: Case, index: number): { model: msam.nn.Module; input: Tensor; target: Tensor } {
  msam.manualSeed(100 + index);
  const model = new nn.Sequential(...c.net.layers.map(msamLayer)).to('float64');
  const input = msam.randn([c.B, ...c.net.inputShape], { dtype: 'float64' });
  const target = msam.randint(0, c.net.classes, [c.B]);
  return { model, input, target };
}

/** Where the strategy's dropout masks come from (msam_ref_net.py's mask_group). */
const maskGroup = (c: Case, how: How): number => (how === 'vectorized' ? (c.options.chunkSize ?? c.options.m) : 1);

interface PyResult {
  grads: number[][];
  loss: number;
  perturbed_loss: number;
  grad_norm: number;
  buffers: number[][];
}

const SCRIPT = path.join(__dirname, 'fixtures', 'msam_ref_net.py');
const python = reference(['torch'], 'msam-pytorch.test.ts (the mSAM step against PyTorch)');
const results = new Map<string, PyResult>();
const key = (index: number, group: number): string => `${index}/${group}`;

// Largest differences, by strategy, printed at the end (for the record).
const measured: Record<string, number> = {};
afterAll(() => console.log('mSAM vs PyTorch (msam_ref_net.py), largest |Δ| (float64):\n' + Object.entries(measured).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n')));

beforeAll(() => {
  if (!python.ok) return;
  // Every case and mask grouping in one run of the script (importing torch takes seconds).
  const cases: object[] = [];
  const keys: string[] = [];
  CASES.forEach((c, index) => {
    for (const group of new Set(HOWS.map((how) => maskGroup(c, how)))) {
      const { model, input, target } = make(c, index);
      keys.push(key(index, group));
      cases.push({
        layers: c.net.layers,
        parameters: model.parameters().map((p) => Array.from(p.detach().data() as Float64Array)),
        buffers: model.buffers().map((b) => Array.from(b.data() as ArrayLike<number | bigint>, Number)),
        x: Array.from(input.data() as Float64Array),
        x_shape: input.shape,
        y: Array.from(target.data() as BigInt64Array, Number),
        m: c.options.m,
        rho: c.options.rho,
        adaptive: c.options.adaptive ?? false,
        eta: c.options.eta ?? 0.01,
        weight_decay: c.options.weightDecay ?? 0,
        label_smoothing: c.labelSmoothing ?? 0,
        bn_mode: c.options.bnMode ?? 'update',
        seed: SEED,
        mask_group: group,
      });
    }
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-ref-net-'));
  try {
    const file = path.join(dir, 'spec.json');
    fs.writeFileSync(file, JSON.stringify({ cases }));
    const r = spawnSync(python.python as string, [SCRIPT, file], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`msam_ref_net.py failed (${r.status}): ${r.stderr}`);
    (JSON.parse(r.stdout) as { results: PyResult[] }).results.forEach((res, j) => results.set(keys[j] as string, res));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);

describe('the mSAM step against PyTorch on BatchNorm and dropout networks (float64)', () => {
  const rows = CASES.flatMap((c, index) => HOWS.map((how) => [c.name, how, index] as const));
  it.skipIf(!python.ok).each(rows)('%s: %s', async (_, how, index) => {
    const c = CASES[index] as Case;
    const ref = results.get(key(index, maskGroup(c, how))) as PyResult;
    const { model, input, target } = make(c, index);
    const { weightDecay, ...rest } = c.options;
    const options: msam.MSAMOptions = {
      ...rest,
      ...(weightDecay !== undefined ? { weightDecay, weightDecayIn: 'loss' as const } : {}),
      strategy: how === 'vectorized' ? 'vectorized' : 'loop',
    };
    const sam = new msam.MSAM(model, { step() {} }, options);
    const labelSmoothing = c.labelSmoothing ?? 0;
    msam.manualSeed(SEED);
    const stats =
      how === 'closure'
        ? await sam.gradient({ input, target }, (mdl, shard) => msam.crossEntropy(mdl.forward(shard.input as Tensor), shard.target, { labelSmoothing }))
        : await sam.gradient({ input, target }, { loss: 'cross_entropy', labelSmoothing });
    expect(stats.skipped).toBe(false);
    expect(stats.shards).toBe(c.options.m);
    const grads = gradsOf(model);
    const buffers = model.buffers().map((b) => b.data() as ArrayLike<number | bigint>);

    const d = Math.max(
      maxAbsDiff(grads, ref.grads),
      Math.abs(stats.loss - ref.loss),
      Math.abs(stats.perturbedLoss - ref.perturbed_loss),
      Math.abs(stats.gradNorm - ref.grad_norm),
      maxAbsDiff(
        buffers.filter((b) => !(b instanceof BigInt64Array)) as ArrayLike<number>[],
        ref.buffers.filter((_b, j) => !(buffers[j] instanceof BigInt64Array)),
      ),
    );
    measured[how] = Math.max(measured[how] ?? 0, d);
    expect(d).toBeLessThan(TOL);
    // num_batches_tracked exactly (m per step with 'update', untouched with 'freeze').
    buffers.forEach((b, j) => {
      if (b instanceof BigInt64Array) expect(Array.from(b, Number)).toEqual(ref.buffers[j]);
    });
    // The comparison means something: a gradient far from zero, and an ascent that raised the loss.
    expect(Math.max(...grads.map((g) => Math.max(...Array.from(g, Math.abs))))).toBeGreaterThan(1e-3);
    if (c.options.rho > 0) expect(stats.perturbedLoss).toBeGreaterThan(stats.loss);
  });

  // With one dropout layer, drawing a group's masks at once or shard after shard reads the same
  // numbers from the stream (rows are shard-major); with two layers the order differs. So on the
  // dropout MLP the two schedules must give different gradients: a reference that ignored its
  // masks, or a step that redrew them in the descent pass, could not pass the tests above.
  it.skipIf(!python.ok)('the dropout masks matter: on two dropout layers the two mask schedules give different gradients', () => {
    let checked = 0;
    CASES.forEach((c, index) => {
      if (c.net !== DROPOUT_MLP) return;
      const a = results.get(key(index, 1)) as PyResult;
      const b = results.get(key(index, maskGroup(c, 'vectorized'))) as PyResult;
      expect(maxAbsDiff(a.grads, b.grads)).toBeGreaterThan(1e-3);
      checked++;
    });
    expect(checked).toBe(3);
  });
});
