// Acceptance tests of the native mSAM step (DESIGN.md, "mSAM: the contract"): msam.MSAM's gradient
// against an independent tensor-API reference (test/helpers/msam-reference.ts) and against PyTorch
// itself (test/fixtures/msam_ref.py), SAM and vanilla as special cases, exact weights after a step,
// BatchNorm statistics, non-finite shards, the event loop during a step, ASAM, the closure form and
// option validation. Float64 on CPU; tolerance 1e-10 unless stated.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { reference } from './helpers/reference';
import type { Tensor } from '../lib';
import { native } from '../lib/native';
import {
  crossEntropyLoss,
  gradsOf,
  maxAbsDiff,
  msamReference,
  restore,
  shardSizes,
  snapshot,
  type ReferenceOptions,
  type ReferenceResult,
  type ShardLoss,
  handSgd,
} from './helpers/msam-reference';

const { nn } = msam;
const TOL = 1e-10;

// Largest differences seen, by check, printed at the end (for the record).
const measured: Record<string, number> = {};
const note = (key: string, v: number): number => {
  measured[key] = Math.max(measured[key] ?? 0, v);
  return v;
};
afterAll(() => {
  console.log(
    'mSAM acceptance, largest differences:\n' +
      Object.entries(measured)
        .map(([k, v]) => `  ${k}: ${v.toExponential(2)}`)
        .join('\n'),
  );
});

// ---- models and data ----------------------------------------------------------------------------

type AnyModule = msam.nn.Module;
interface Data {
  input: Tensor | Tensor[];
  target: Tensor;
}

function mlp(seed = 1): AnyModule {
  msam.manualSeed(seed);
  return new nn.Sequential(new nn.Linear(6, 12), new nn.Tanh(), new nn.Linear(12, 12), new nn.ReLU(), new nn.Linear(12, 4)).to('float64');
}
const mlpData = (B: number, seed = 2): Data => {
  msam.manualSeed(seed);
  return { input: msam.randn([B, 6], { dtype: 'float64' }), target: msam.randint(0, 4, [B]) };
};

/** Conv, BatchNorm (shard statistics), ReLU, pooling, Dropout: the randomness must be replayed. */
function cnn(seed = 3): AnyModule {
  msam.manualSeed(seed);
  return new nn.Sequential(
    new nn.Conv2d(2, 4, 3, { padding: 1 }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Dropout(0.3),
    new nn.Linear(36, 5),
  ).to('float64');
}
const cnnData = (B: number, seed = 4): Data => {
  msam.manualSeed(seed);
  return { input: msam.randn([B, 2, 6, 6], { dtype: 'float64' }), target: msam.randint(0, 5, [B]) };
};

/** Tokens + positions, a post-norm encoder layer with dropout, the first token, a classifier; input [ids, mask]. */
function transformer(seed = 5): AnyModule {
  msam.manualSeed(seed);
  return new nn.Sequential(
    new nn.TokenPositionEmbedding(20, 8, 8),
    new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0.1 }),
    new nn.TokenSelect(0),
    new nn.Linear(8, 3),
  ).to('float64');
}
const transformerData = (B: number, seed = 6): Data => {
  msam.manualSeed(seed);
  const S = 6;
  const ids = msam.randint(0, 20, [B, S]);
  // Rows of 2..6 tokens (never all padding), zeros after.
  const lengths = msam.randint(2, S + 1, [B]).data() as BigInt64Array;
  const mask = msam.tensor(Array.from(lengths, (n) => Array.from({ length: S }, (_, s) => (s < Number(n) ? 1 : 0))), { dtype: 'int64' });
  return { input: [ids, mask], target: msam.randint(0, 3, [B]) };
};

const MODELS: Record<string, { make: () => AnyModule; data: (B: number) => Data }> = {
  mlp: { make: mlp, data: mlpData },
  cnn: { make: cnn, data: cnnData },
  transformer: { make: transformer, data: transformerData },
};

const inputsOf = (input: Tensor | Tensor[]): Tensor[] => (Array.isArray(input) ? input : [input]);
const trainable = (model: AnyModule): Tensor[] => model.parameters().filter((p) => p.requiresGrad);
const closureLoss = (model: AnyModule, shard: msam.Batch): Tensor => msam.crossEntropy(model.forward(...inputsOf(shard.input)), shard.target);


/** Float buffers: the largest difference; integer ones (num_batches_tracked) must be equal. */
function bufferDiff(a: ArrayLike<number | bigint>[], b: ArrayLike<number | bigint>[]): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  a.forEach((x, j) => {
    const y = b[j] as ArrayLike<number | bigint>;
    if (x instanceof BigInt64Array) expect(Array.from(x)).toEqual(Array.from(y as BigInt64Array));
    else d = Math.max(d, maxAbsDiff([x as ArrayLike<number>], [y as ArrayLike<number>]));
  });
  return d;
}

/** num_batches_tracked of every BatchNorm, as numbers. */
const tracked = (model: AnyModule): number[] =>
  model
    .namedBuffers()
    .filter(([k]) => k.endsWith('num_batches_tracked'))
    .map(([, t]) => Number(t.item()));

interface Compared {
  ref: ReferenceResult;
  stats: msam.StepStats;
  grads: Float64Array[];
  diff: number;
  refBuffers: ArrayLike<number | bigint>[];
  buffers: ArrayLike<number | bigint>[];
  buffers0: ArrayLike<number | bigint>[];
}

/**
 * The reference on the model, then (weights and buffers as before, same seed) msam's gradient; the
 * weights must be bit-for-bit untouched by both. Leaves the model's buffers as msam left them.
 */
async function againstReference(
  model: AnyModule,
  data: Data,
  options: msam.MSAMOptions & { m: number; rho: number },
  how: { sync?: boolean; closure?: msam.LossClosure; lossOf?: ShardLoss; loss?: msam.LossOptions; seed?: number } = {},
): Promise<Compared> {
  const params = trainable(model);
  const buffers = model.buffers();
  const w0 = snapshot(params);
  const buffers0 = snapshot(buffers);
  const seed = how.seed ?? 11;
  const refOptions: ReferenceOptions = {
    m: options.m,
    rho: options.rho,
    adaptive: options.adaptive ?? false,
    eta: options.eta ?? 0.01,
    weightDecay: options.weightDecayIn === 'loss' ? (options.weightDecay ?? 0) : 0,
    bnMode: options.bnMode ?? 'update',
    lossOf: how.lossOf ?? crossEntropyLoss,
  };
  msam.manualSeed(seed);
  const ref = msamReference(model, data.input, data.target, refOptions);
  expect(snapshot(params)).toEqual(w0);
  const refBuffers = snapshot(buffers);
  restore(buffers, buffers0);

  const sam = new msam.MSAM(model, handSgd(params, 0.1), options);
  msam.manualSeed(seed);
  const loss = how.closure ?? how.loss ?? {};
  const stats = how.sync ? sam.gradientSync(data, loss) : await sam.gradient(data, loss);
  expect(stats.skipped).toBe(false);
  expect(snapshot(params)).toEqual(w0); // the perturbation leaves no residue
  const grads = gradsOf(model);
  model.zeroGrad();
  return { ref, stats, grads, diff: maxAbsDiff(grads, ref.grads), refBuffers, buffers: snapshot(buffers), buffers0 };
}

/** The plain gradient of the mean loss over the batch (backward into .grad). */
function plainGradient(model: AnyModule, data: Data, seed = 11): Float64Array[] {
  model.zeroGrad();
  msam.manualSeed(seed);
  msam.tidy(() => crossEntropyLoss(model, inputsOf(data.input), data.target).backward());
  const g = gradsOf(model);
  model.zeroGrad();
  return g;
}

/** A copy of x with row `row` replaced by f(original row values). */
function withRow(x: Tensor, row: number, f: (v: number) => number): Tensor {
  const values = Float64Array.from(x.data() as Float64Array);
  const width = x.numel / (x.shape[0] as number);
  for (let k = row * width; k < (row + 1) * width; k++) values[k] = f(values[k] as number);
  return msam.tensor(values).reshape(x.shape);
}

// ---- 1. against the independent reference -------------------------------------------------------

describe('the mSAM gradient against the independent reference', () => {
  const cases: [string, number, number][] = [];
  for (const name of Object.keys(MODELS)) {
    for (const m of [1, 2, 4, 8]) cases.push([name, 16, m]);
    cases.push([name, 10, 4]); // shard sizes 3, 3, 2, 2
  }
  it.each(cases)('%s, B = %i, m = %i', async (name, B, m) => {
    const spec = MODELS[name]!;
    const model = spec.make();
    const data = spec.data(B);
    const { ref, stats, diff, refBuffers, buffers, buffers0 } = await againstReference(model, data, { m, rho: 0.1 });
    expect(ref.sizes).toEqual(shardSizes(B, m));
    expect(note(`gradient vs reference (${name})`, diff)).toBeLessThan(TOL);
    expect(stats.shards).toBe(m);
    // Stats: mean loss at w, at w + ε_i, mean ‖g_i‖.
    expect(note('stats vs reference', Math.abs(stats.loss - ref.loss))).toBeLessThan(TOL);
    expect(note('stats vs reference', Math.abs(stats.perturbedLoss - ref.perturbedLoss))).toBeLessThan(TOL);
    expect(note('stats vs reference', Math.abs(stats.gradNorm - ref.gradNorm))).toBeLessThan(TOL);
    expect(stats.perturbedLoss).toBeGreaterThan(stats.loss); // an ascent step
    // Running statistics: those of the m unperturbed shard passes.
    expect(note('BatchNorm statistics vs reference', bufferDiff(buffers, refBuffers))).toBeLessThan(TOL);
    if (name === 'cnn') expect(Number((buffers.at(-1) as BigInt64Array)[0]) - Number((buffers0.at(-1) as BigInt64Array)[0])).toBe(m);
  });

  it('the shard sizes follow tensor_split (B = 10, m = 4: 3, 3, 2, 2)', () => {
    expect(shardSizes(10, 4)).toEqual([3, 3, 2, 2]);
    expect(msam.randn([10, 2]).tensorSplit(4).map((t) => t.shape[0])).toEqual([3, 3, 2, 2]);
  });

  it('mSAM differs from SAM and from the vanilla gradient (the reference is not trivially equal)', async () => {
    const model = mlp();
    const data = mlpData(16);
    const m4 = (await againstReference(model, data, { m: 4, rho: 0.1 })).grads;
    const m1 = (await againstReference(model, data, { m: 1, rho: 0.1 })).grads;
    const plain = plainGradient(model, data);
    expect(maxAbsDiff(m4, m1)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(m4, plain)).toBeGreaterThan(1e-4);
  });

  it('gradientSync gives the same gradient as the worker thread, bit for bit', async () => {
    const model = cnn();
    const data = cnnData(10);
    const a = await againstReference(model, data, { m: 4, rho: 0.1 });
    restore(model.buffers(), a.buffers0);
    const b = await againstReference(model, data, { m: 4, rho: 0.1 }, { sync: true });
    expect(b.grads).toEqual(a.grads);
    expect(b.buffers).toEqual(a.buffers);
  });
});

// ---- 1b. against PyTorch itself -----------------------------------------------------------------

const SCRIPT = path.join(__dirname, 'fixtures', 'msam_ref.py');
const python = reference(['torch'], 'msam.test.ts (the mSAM step against PyTorch)');
const PYTHON = python.python as string;

describe('the mSAM gradient against PyTorch (test/fixtures/msam_ref.py)', () => {
  it.skipIf(!python.ok).each([
    [16, 4],
    [10, 4],
    [7, 7],
  ])('MLP, B = %i, m = %i', async (B, m) => {
    const model = mlp(21);
    const data = mlpData(B, 22);
    const rho = 0.2;
    const linears = model.parameters();
    const rows = (t: Tensor) => t.toArray();
    const spec = {
      layers: [0, 2, 4].map((k) => ({ weight: rows(linears[k]!.detach()), bias: rows(linears[k + 1]!.detach()) })),
      activations: ['tanh', 'relu'],
      x: rows(data.input as Tensor),
      y: Array.from(data.target.data() as BigInt64Array, Number),
      m,
      rho,
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-ref-'));
    const file = path.join(dir, 'spec.json');
    let out: { grads: number[][]; loss: number; perturbed_loss: number; grad_norm: number };
    try {
      fs.writeFileSync(file, JSON.stringify(spec));
      const r = spawnSync(PYTHON, [SCRIPT, file], { encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`msam_ref.py failed (${r.status}): ${r.stderr}`);
      out = JSON.parse(r.stdout) as typeof out;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const sam = new msam.MSAM(model, handSgd(linears, 0.1), { m, rho });
    const stats = await sam.gradient(data);
    const grads = gradsOf(model);
    expect(note('gradient vs PyTorch', maxAbsDiff(grads, out.grads))).toBeLessThan(TOL);
    expect(note('stats vs PyTorch', Math.abs(stats.loss - out.loss))).toBeLessThan(TOL);
    expect(note('stats vs PyTorch', Math.abs(stats.perturbedLoss - out.perturbed_loss))).toBeLessThan(TOL);
    expect(note('stats vs PyTorch', Math.abs(stats.gradNorm - out.grad_norm))).toBeLessThan(TOL);
  });
});

// ---- 2. SAM and vanilla as special cases --------------------------------------------------------

/** SAM's standard two-step form (davda54/sam first_step / second_step), with .grad and backward(). */
function samTwoStep(model: AnyModule, data: Data, rho: number, seed = 11): Float64Array[] {
  const params = trainable(model);
  const buffers = model.buffers();
  const b0 = snapshot(buffers);
  const w0 = snapshot(params);
  return msam.tidy(() => {
    model.zeroGrad();
    msam.manualSeed(seed);
    const rng = native.rngState('cpu');
    crossEntropyLoss(model, inputsOf(data.input), data.target).backward();
    // first_step: grad_norm = ‖stack(‖p.grad‖)‖, e_w = ρ·grad / (grad_norm + 1e-12), w += e_w
    const gradNorm = msam.stack(params.map((p) => p.grad!.norm(2))).norm(2).item();
    const scale = rho / (gradNorm + 1e-12);
    const eW = msam.noGrad(() => params.map((p) => p.grad!.mul(scale)));
    msam.noGrad(() => params.forEach((p, j) => p.add_(eW[j]!)));
    model.zeroGrad();
    native.setRngState('cpu', rng); // both passes see the same dropout masks (the contract, point 7)
    crossEntropyLoss(model, inputsOf(data.input), data.target).backward();
    // second_step: w -= e_w (then put back bit-exactly for the next run)
    msam.noGrad(() => params.forEach((p, j) => p.sub_(eW[j]!)));
    const g = gradsOf(model);
    model.zeroGrad();
    restore(params, w0);
    restore(buffers, b0);
    return g;
  });
}

describe('special cases: m = 1 is SAM, ρ = 0 is the vanilla gradient', () => {
  it.each(['mlp', 'cnn', 'transformer'])('m = 1 equals SAM in its two-step form (%s)', async (name) => {
    const spec = MODELS[name]!;
    const model = spec.make();
    const data = spec.data(12);
    const sam = samTwoStep(model, data, 0.1);
    const { grads, diff } = await againstReference(model, data, { m: 1, rho: 0.1 });
    expect(note('m = 1 vs reference', diff)).toBeLessThan(TOL);
    expect(note('m = 1 vs SAM two-step', maxAbsDiff(grads, sam))).toBeLessThan(TOL);
  });

  it.each([1, 2, 4, 8])('ρ = 0 equals the plain gradient of the mean loss (MLP, B = 16, m = %i)', async (m) => {
    const model = mlp();
    const data = mlpData(16);
    const plain = plainGradient(model, data);
    const { grads, diff, stats, ref } = await againstReference(model, data, { m, rho: 0 });
    expect(note('ρ = 0 vs reference', diff)).toBeLessThan(TOL);
    expect(note('ρ = 0 vs plain gradient', maxAbsDiff(grads, plain))).toBeLessThan(TOL);
    expect(stats.perturbedLoss).toBe(stats.loss);
    expect(Math.abs(stats.gradNorm - ref.gradNorm)).toBeLessThan(TOL);
    if (m === 1) expect(grads).toEqual(plain); // exactly
  });

  it('ρ = 0 with B = 10, m = 4 (unequal shards) equals the plain gradient', async () => {
    const model = mlp();
    const data = mlpData(10);
    const { grads } = await againstReference(model, data, { m: 4, rho: 0 });
    expect(note('ρ = 0 vs plain gradient', maxAbsDiff(grads, plainGradient(model, data)))).toBeLessThan(TOL);
  });

  it.each(['cnn', 'transformer'])('ρ = 0, m = 1 is exactly the plain gradient with BatchNorm and Dropout (%s, same seed)', async (name) => {
    const spec = MODELS[name]!;
    const model = spec.make();
    const data = spec.data(12);
    const buffers = model.buffers();
    const b0 = snapshot(buffers);
    const plain = plainGradient(model, data, 11);
    const plainBuffers = snapshot(buffers);
    restore(buffers, b0);
    msam.manualSeed(11);
    await new msam.MSAM(model, handSgd([], 0), { m: 1, rho: 0 }).gradient(data);
    expect(gradsOf(model)).toEqual(plain);
    expect(snapshot(buffers)).toEqual(plainBuffers);
  });
});

// ---- 3. the step: exact weights, no residue ------------------------------------------------------

describe('sam.step with a base optimizer', () => {
  it.each(['mlp', 'cnn', 'transformer'])('leaves exactly the weights the optimizer gives from the mSAM gradient (%s)', async (name) => {
    const spec = MODELS[name]!;
    const model = spec.make();
    const data = spec.data(10);
    const params = trainable(model);
    const buffers = model.buffers();
    const w0 = snapshot(params);
    const b0 = snapshot(buffers);
    const lr = 0.05;

    // The gradient alone: the weights are bit-for-bit those before.
    const opt = handSgd(params, lr);
    const sam = new msam.MSAM(model, opt, { m: 4, rho: 0.1 });
    msam.manualSeed(31);
    await sam.gradient(data);
    expect(snapshot(params)).toEqual(w0);
    expect(opt.calls).toBe(0);
    const mSamGrad = gradsOf(model);
    // What the optimizer makes of that gradient: w - lr·g.
    const expected = msam.tidy(() =>
      msam.noGrad(() => params.map((p, j) => msam.tensor(w0[j] as Float64Array).sub(msam.tensor(mSamGrad[j]!).mul(lr)).data())),
    );

    restore(buffers, b0);
    model.zeroGrad();
    msam.manualSeed(31);
    const stats = await sam.step(data);
    expect(stats.skipped).toBe(false);
    expect(opt.calls).toBe(1);
    expect(snapshot(params)).toEqual(expected);
    expect(snapshot(params)).not.toEqual(w0);
  });

  it('the optimizer applies its update once per step, whatever m (no residue across steps)', async () => {
    const model = mlp();
    const data = mlpData(16);
    const params = trainable(model);
    const opt = handSgd(params, 0.1);
    const sam = new msam.MSAM(model, opt, { m: 8, rho: 0.3 });
    for (let k = 0; k < 3; k++) {
      const before = snapshot(params);
      const { grads } = await againstReference(model, data, { m: 8, rho: 0.3 }); // leaves the weights as they were
      await sam.step(data);
      const after = params.map((p) => p.detach().data() as Float64Array);
      const moved = after.map((a, j) => a.map((v, i) => ((before[j] as Float64Array)[i] as number) - v));
      expect(note('step delta vs lr·reference', maxAbsDiff(moved, grads.map((g) => g.map((v) => 0.1 * v))))).toBeLessThan(TOL);
    }
    expect(opt.calls).toBe(3);
  });
});

// ---- 4. BatchNorm running statistics ------------------------------------------------------------

describe('BatchNorm running statistics', () => {
  /** The momentum formula over the shards of the raw input: r ← (1 − 0.1)·r + 0.1·stat(shard). */
  function momentumReference(x: Float64Array, B: number, C: number, m: number): { mean: number[]; var: number[] } {
    const mean = new Array<number>(C).fill(0);
    const variance = new Array<number>(C).fill(1);
    let start = 0;
    for (const n of shardSizes(B, m)) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = start; i < start + n; i++) s += x[i * C + c] as number;
        const mu = s / n;
        let v = 0;
        for (let i = start; i < start + n; i++) v += ((x[i * C + c] as number) - mu) ** 2;
        mean[c] = 0.9 * (mean[c] as number) + 0.1 * mu;
        variance[c] = 0.9 * (variance[c] as number) + 0.1 * (v / (n - 1)); // unbiased
      }
      start += n;
    }
    return { mean, var: variance };
  }

  const bnModel = () => {
    msam.manualSeed(41);
    return new nn.Sequential(new nn.BatchNorm1d(5), new nn.Linear(5, 3)).to('float64');
  };

  it('after a step they equal the momentum formula over the m unperturbed shard passes; num_batches_tracked += m', async () => {
    const model = bnModel();
    msam.manualSeed(42);
    const x = msam.randn([10, 5], { dtype: 'float64' }).mul(2).add(0.5);
    const data = { input: x, target: msam.randint(0, 3, [10]) };
    await new msam.MSAM(model, handSgd(trainable(model), 0.1), { m: 4, rho: 0.2 }).step(data);
    const want = momentumReference(x.data() as Float64Array, 10, 5, 4);
    const [mean, variance, count] = model.buffers();
    expect(note('BatchNorm statistics vs momentum formula', maxAbsDiff([mean!.data() as Float64Array, variance!.data() as Float64Array], [want.mean, want.var]))).toBeLessThan(1e-12);
    expect(Number(count!.item())).toBe(4);
  });

  it.each(['cnn', 'transformer', 'mlp'])("with bnMode 'freeze' they are untouched, bit for bit (%s)", async (name) => {
    const spec = MODELS[name]!;
    const model = spec.make();
    const data = spec.data(10);
    const buffers = model.buffers();
    const b0 = snapshot(buffers);
    const { diff } = await againstReference(model, data, { m: 4, rho: 0.1, bnMode: 'freeze' });
    expect(note("gradient vs reference (bnMode 'freeze')", diff)).toBeLessThan(TOL);
    expect(snapshot(buffers)).toEqual(b0);
    await new msam.MSAM(model, handSgd(trainable(model), 0.1), { m: 4, rho: 0.1, bnMode: 'freeze' }).step(data);
    expect(snapshot(buffers)).toEqual(b0);
    expect(tracked(model).every((n) => n === 0)).toBe(true);
  });

  it("with 'update' on the CNN, num_batches_tracked advances by m per step and the statistics are the reference's", async () => {
    const model = cnn();
    const data = cnnData(16);
    for (const m of [2, 8]) {
      const before = tracked(model)[0]!;
      const { buffers, refBuffers } = await againstReference(model, data, { m, rho: 0.1 });
      expect(note('BatchNorm statistics vs reference', bufferDiff(buffers, refBuffers))).toBeLessThan(TOL);
      expect(tracked(model)[0]! - before).toBe(m);
    }
  });
});

// ---- 5. non-finite shards -----------------------------------------------------------------------

describe('a non-finite shard skips the step', () => {
  const cases: [string, () => { model: AnyModule; data: Data; loss: msam.LossOptions }][] = [
    [
      'a NaN input row in shard 2 (CNN with BatchNorm)',
      () => {
        const d = cnnData(16);
        return { model: cnn(), data: { input: withRow(d.input as Tensor, 9, () => NaN), target: d.target }, loss: {} };
      },
    ],
    [
      'a 1e308-scaled input row in shard 2 (CNN with BatchNorm)',
      () => {
        const d = cnnData(16);
        return { model: cnn(), data: { input: withRow(d.input as Tensor, 8, (v) => v * 1e308), target: d.target }, loss: {} };
      },
    ],
    [
      'an MSE loss that overflows in shard 2 (MLP)',
      () => {
        const d = mlpData(16);
        msam.manualSeed(3);
        const target = withRow(msam.randn([16, 4], { dtype: 'float64' }), 10, () => 1e200);
        return { model: mlp(), data: { input: d.input, target }, loss: { loss: 'mse' } };
      },
    ],
  ];
  it.each(cases)('%s: skipped with a reason; weights, buffers and the optimizer untouched; .grad cleared', async (_, make) => {
    const { model, data, loss } = make();
    const params = trainable(model);
    const buffers = model.buffers();
    msam.noGrad(() => params.forEach((p) => (p.grad = msam.onesLike(p))));
    const w0 = snapshot(params);
    const b0 = snapshot(buffers);
    const opt = handSgd(params, 0.1);
    const stats = await new msam.MSAM(model, opt, { m: 4, rho: 0.1 }).step(data, loss);
    expect(stats.skipped).toBe(true);
    expect(stats.skipReason).toMatch(/non-finite .*shard 2/);
    expect(opt.calls).toBe(0);
    expect(snapshot(params)).toEqual(w0);
    expect(snapshot(buffers)).toEqual(b0);
    expect(params.every((p) => p.grad === null)).toBe(true);
  });

  it('a NaN row in the closure form (TypeScript module) skips the same way', async () => {
    const model = tsNet();
    const d = mlpData(16);
    const data = { input: withRow(d.input as Tensor, 5, () => NaN), target: d.target };
    const params = trainable(model);
    const buffers = model.buffers();
    const w0 = snapshot(params);
    const b0 = snapshot(buffers);
    const opt = handSgd(params, 0.1);
    const stats = await new msam.MSAM(model, opt, { m: 4, rho: 0.1 }).step(data, closureLoss);
    expect(stats).toMatchObject({ skipped: true });
    expect(stats.skipReason).toMatch(/non-finite .*shard 1/);
    expect(opt.calls).toBe(0);
    expect(snapshot(params)).toEqual(w0);
    expect(snapshot(buffers)).toEqual(b0);
    expect(params.every((p) => p.grad === null)).toBe(true);
  });

  it('a loss that is finite at w but not at w + ε (closure form) skips, weights restored bit for bit', async () => {
    const model = tsNet();
    const data = mlpData(16);
    const params = trainable(model);
    const w0 = snapshot(params);
    const saved = params.map((p) => msam.tensor(Float64Array.from(p.detach().data() as Float64Array)).reshape(p.shape));
    // + 0 at w, + ∞ anywhere else (no gradient flows through the comparison).
    const away = (): Tensor =>
      params
        .map((p, j) => p.detach().sub(saved[j]!).abs().sum())
        .reduce((a, b) => a.add(b))
        .gt(0)
        .double()
        .mul(1e308)
        .mul(10);
    const opt = handSgd(params, 0.1);
    const stats = await new msam.MSAM(model, opt, { m: 2, rho: 0.1 }).step(data, (mdl, shard) => closureLoss(mdl, shard).add(away()));
    expect(stats.skipped).toBe(true);
    expect(stats.skipReason).toMatch(/non-finite perturbed loss .*shard 0/);
    expect(opt.calls).toBe(0);
    expect(snapshot(params)).toEqual(w0);
  });
});

// ---- 6. the event loop: test/msam.timing.test.ts (timing tests run on their own) ----------------

// ---- 7. the adaptive variant ---------------------------------------------------------------------

describe('the adaptive variant (ASAM)', () => {
  it.each([
    ['mlp', 0.01],
    ['mlp', 0.5],
    ['cnn', 0.01],
    ['transformer', 0.1],
  ] as const)('%s, η = %d: ε = ρ T² g / ‖T g‖, T = |w| + η', async (name, eta) => {
    const spec = MODELS[name]!;
    const model = spec.make();
    const data = spec.data(10);
    const { diff, stats, ref, grads } = await againstReference(model, data, { m: 4, rho: 0.5, adaptive: true, eta });
    expect(note('adaptive gradient vs reference', diff)).toBeLessThan(TOL);
    expect(Math.abs(stats.perturbedLoss - ref.perturbedLoss)).toBeLessThan(TOL);
    // It is not the plain mSAM gradient.
    const plain = await againstReference(model, data, { m: 4, rho: 0.5 });
    expect(maxAbsDiff(grads, plain.grads)).toBeGreaterThan(1e-6);
  });
});

// ---- 8. the closure form -------------------------------------------------------------------------

/** A model with a TypeScript forward: a native Linear and BatchNorm1d, then functional dropout and a TS linear layer. */
class TsNet extends msam.nn.Module {
  readonly fc1 = this.registerModule('fc1', new nn.Linear(6, 12));
  readonly bn = this.registerModule('bn', new nn.BatchNorm1d(12));
  readonly w2: Tensor;
  readonly b2: Tensor;
  constructor() {
    super();
    this.w2 = this.registerParameter('w2', msam.randn([4, 12], { dtype: 'float64' }).mul(0.3));
    this.b2 = this.registerParameter('b2', msam.randn([4], { dtype: 'float64' }).mul(0.1));
  }
  forward(x: Tensor): Tensor {
    const h = this.bn.forward(this.fc1.forward(x)).tanh();
    return msam.linear(msam.dropout(h, 0.2, this.training), this.w2, this.b2);
  }
}
function tsNet(seed = 61): TsNet {
  msam.manualSeed(seed);
  return new TsNet().to('float64');
}

describe('the closure form', () => {
  it.each([1, 4, 8])('on a TypeScript nn.Module subclass it gives the reference gradient (B = 16, m = %i)', async (m) => {
    const model = tsNet();
    const data = mlpData(16);
    const { diff, stats, ref, buffers, refBuffers, buffers0 } = await againstReference(model, data, { m, rho: 0.1 }, { closure: closureLoss });
    expect(note('closure (TypeScript module) vs reference', diff)).toBeLessThan(TOL);
    expect(Math.abs(stats.loss - ref.loss)).toBeLessThan(TOL);
    expect(Math.abs(stats.perturbedLoss - ref.perturbedLoss)).toBeLessThan(TOL);
    expect(Math.abs(stats.gradNorm - ref.gradNorm)).toBeLessThan(TOL);
    expect(stats.shards).toBe(m);
    expect(note('BatchNorm statistics vs reference', bufferDiff(buffers, refBuffers))).toBeLessThan(TOL);
    expect(Number((buffers.at(-1) as BigInt64Array)[0]) - Number((buffers0.at(-1) as BigInt64Array)[0])).toBe(m);
  });

  it('on a TypeScript module: B = 10, m = 4, adaptive, freeze and weight decay in the loss', async () => {
    const model = tsNet();
    const data = mlpData(10);
    const b0 = snapshot(model.buffers());
    const a = await againstReference(model, data, { m: 4, rho: 0.3, adaptive: true, eta: 0.05, bnMode: 'freeze' }, { closure: closureLoss });
    expect(note('closure (TypeScript module) vs reference', a.diff)).toBeLessThan(TOL);
    expect(snapshot(model.buffers())).toEqual(b0);
    const w = await againstReference(model, data, { m: 4, rho: 0.3, weightDecay: 0.01, weightDecayIn: 'loss' }, { closure: closureLoss });
    expect(note('closure (TypeScript module) vs reference', w.diff)).toBeLessThan(TOL);
  });

  it('a TypeScript module without a closure is refused, naming the closure form', () => {
    const model = tsNet();
    const sam = new msam.MSAM(model, handSgd([], 0), { m: 2 });
    expect(() => sam.gradientSync(mlpData(4))).toThrow(/closure/);
  });

  it.each(['cnn', 'transformer'])('on a native model it equals the native path (same seed): %s', async (name) => {
    const spec = MODELS[name]!;
    const model = spec.make();
    const data = spec.data(10);
    const nativePath = await againstReference(model, data, { m: 4, rho: 0.1 });
    const buffersNative = nativePath.buffers;
    restore(model.buffers(), nativePath.buffers0);
    const closurePath = await againstReference(model, data, { m: 4, rho: 0.1 }, { closure: closureLoss });
    expect(note('closure vs native path', maxAbsDiff(closurePath.grads, nativePath.grads))).toBeLessThan(TOL);
    expect(note('closure vs reference', closurePath.diff)).toBeLessThan(TOL);
    expect(bufferDiff(closurePath.buffers, buffersNative)).toBeLessThan(TOL);
    for (const k of ['loss', 'perturbedLoss', 'gradNorm'] as const) expect(Math.abs(closurePath.stats[k] - nativePath.stats[k])).toBeLessThan(TOL);
  });
});

// ---- 9. options ----------------------------------------------------------------------------------

describe('options', () => {
  const model = mlp();
  const opt = handSgd(trainable(model), 0.1);
  const make = (o: unknown) => () => new msam.MSAM(model, opt, o as msam.MSAMOptions);

  it.each([
    [{ m: 0 }, /option 'm'/],
    [{ m: -2 }, /option 'm'/],
    [{ m: 2.5 }, /option 'm'/],
    [{ m: NaN }, /option 'm'/],
    [{ m: '4' }, /option 'm'/],
    [{ microBatchSize: 0 }, /option 'microBatchSize'/],
    [{ microBatchSize: 1.5 }, /option 'microBatchSize'/],
    [{ m: 2, microBatchSize: 4 }, /'m'.*'microBatchSize'/],
    [{ rho: -0.1 }, /option 'rho'/],
    [{ rho: NaN }, /option 'rho'/],
    [{ rho: Infinity }, /option 'rho'/],
    [{ eta: -1 }, /option 'eta'/],
    [{ adaptive: 'yes' }, /option 'adaptive'/],
    [{ lr: 0.1 }, /unknown option 'lr'/],
    [{ M: 4 }, /unknown option 'M'/],
    [{ bnMode: 'train' }, /option 'bnMode'/],
    [{ weightDecayIn: 'model' }, /option 'weightDecayIn'/],
    [{ strategy: 'vmap' }, /option 'strategy'/],
    [{ weightDecay: 5e-4 }, /option 'weightDecay'/],
    [{ weightDecay: 5e-4, weightDecayIn: 'optimizer' }, /option 'weightDecay'/],
    [{ weightDecay: -1, weightDecayIn: 'loss' }, /option 'weightDecay'/],
    [null, /options/],
  ])('%o is refused, naming the field', (o, message) => {
    expect(make(o)).toThrow(message);
  });

  it('the error shows the value given (NaN, Infinity)', () => {
    expect(make({ rho: NaN })).toThrow(/NaN/);
    expect(make({ m: Infinity })).toThrow(/Infinity/);
  });

  it('a non-module model and an optimizer without step() are refused, naming them', () => {
    expect(() => new msam.MSAM({} as AnyModule, opt)).toThrow(/model/);
    expect(() => new msam.MSAM(msam.randn([2]) as unknown as AnyModule, opt)).toThrow(/model/);
    expect(() => new msam.MSAM(model, {} as msam.BaseOptimizer)).toThrow(/optimizer.*step/);
    expect(() => new msam.MSAM(model, null as unknown as msam.BaseOptimizer)).toThrow(/optimizer.*step/);
    expect(() => new msam.MSAM(model, { step: 1 } as unknown as msam.BaseOptimizer)).toThrow(/optimizer.*step/);
  });

  it('m larger than the batch is refused at the step, naming m and the batch size', async () => {
    const sam = new msam.MSAM(model, opt, { m: 12 });
    await expect(sam.step(mlpData(10))).rejects.toThrow(/option 'm' \(12\).*batch size 10/);
    expect(() => sam.gradientSync(mlpData(10))).toThrow(/option 'm'/);
    expect(() => sam.gradientSync(mlpData(10), closureLoss)).toThrow(/option 'm'/);
    expect(opt.calls).toBe(0);
  });

  it('valid options are kept, with the documented defaults', () => {
    const sam = new msam.MSAM(model, opt);
    expect(sam.options).toMatchObject({ rho: 0.2, adaptive: false, eta: 0.01, bnMode: 'update', weightDecay: 0, weightDecayIn: 'optimizer', strategy: 'auto' });
    expect(sam.shardsFor(64)).toBe(32);
    expect(sam.shardsFor(10)).toBe(10);
  });

  it.each([
    [10, 3, 4],
    [10, 5, 2],
    [10, 10, 1],
    [10, 20, 1],
    [16, 1, 16],
  ])('microBatchSize: B = %i, microBatchSize = %i gives m = %i (⌈B / microBatchSize⌉) and the reference gradient', async (B, mbs, m) => {
    const model2 = mlp();
    const data = mlpData(B);
    const sam = new msam.MSAM(model2, handSgd([], 0), { microBatchSize: mbs });
    expect(sam.shardsFor(B)).toBe(m);
    const ref = msamReference(model2, data.input, data.target, { m, rho: 0.2 });
    const stats = await sam.gradient(data);
    expect(stats.shards).toBe(m);
    expect(note('microBatchSize vs reference', maxAbsDiff(gradsOf(model2), ref.grads))).toBeLessThan(TOL);
    model2.zeroGrad();
  });

  it.each([
    ['mlp', 0.01],
    ['cnn', 0.05],
    ['transformer', 0.1],
  ] as const)("weightDecayIn 'loss' (%s, λ = %d) equals the reference with (λ/2)‖w‖² in every shard's loss", async (name, lambda) => {
    const spec = MODELS[name]!;
    const model2 = spec.make();
    const data = spec.data(10);
    const r = await againstReference(model2, data, { m: 4, rho: 0.2, weightDecay: lambda, weightDecayIn: 'loss' });
    expect(note("weightDecayIn 'loss' vs reference", r.diff)).toBeLessThan(TOL);
    expect(Math.abs(r.stats.loss - r.ref.loss)).toBeLessThan(TOL);
    expect(Math.abs(r.stats.perturbedLoss - r.ref.perturbedLoss)).toBeLessThan(TOL);
    expect(Math.abs(r.stats.gradNorm - r.ref.gradNorm)).toBeLessThan(TOL);
    // The decay is really in: without it the gradient differs by about λ·w (+ its effect on ε).
    const plain = await againstReference(model2, data, { m: 4, rho: 0.2 });
    expect(maxAbsDiff(r.grads, plain.grads)).toBeGreaterThan(lambda * 1e-3);
    expect(r.stats.loss).toBeGreaterThan(plain.stats.loss);
  });

  it('loss options reach the native loss (label smoothing, MSE)', async () => {
    const model2 = mlp();
    const data = mlpData(10);
    const smooth: ShardLoss = (mdl, x, y) => msam.crossEntropy(mdl.forward(...x), y, { labelSmoothing: 0.1 });
    const r = await againstReference(model2, data, { m: 4, rho: 0.2 }, { lossOf: smooth, loss: { loss: 'cross_entropy', labelSmoothing: 0.1 } });
    expect(note('loss options vs reference', r.diff)).toBeLessThan(TOL);
    msam.manualSeed(9);
    const target = msam.randn([10, 4], { dtype: 'float64' });
    const mse: ShardLoss = (mdl, x, y) => msam.mseLoss(mdl.forward(...x), y);
    const r2 = await againstReference(model2, { input: data.input, target }, { m: 4, rho: 0.2 }, { lossOf: mse, loss: { loss: 'mse' } });
    expect(note('loss options vs reference', r2.diff)).toBeLessThan(TOL);
  });
});
