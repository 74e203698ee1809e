// The 'graph' strategy (csrc/msam/graph.cc): one shard's passes captured as a CUDA graph and
// replayed per shard must give the loop's gradient, statistics, BatchNorm running statistics and
// skips. The loop is the reference here (test/msam.test.ts checks the loop against an independent
// reference and PyTorch). On a machine without CUDA only the refusal tests run; the CUDA tests
// skip (and run in bench/gpu-session.sh on the GPU machine). Float64 models: tolerance 1e-9.
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { describeCuda } from './helpers/cuda';
import type { Tensor } from '../lib';
import { gradsOf, handSgd, maxAbsDiff, snapshot } from './helpers/msam-reference';

const { nn } = msam;
type AnyModule = msam.nn.Module;
const TOL = 1e-9;

const trainable = (model: AnyModule): Tensor[] => model.parameters().filter((p) => p.requiresGrad);

describe("strategy 'graph' without CUDA", () => {
  it('a CPU model is refused with a clear error, sync and async, and nothing changes', async () => {
    msam.manualSeed(1);
    const model = new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 3));
    const params = trainable(model);
    const w0 = snapshot(params);
    const opt = handSgd(params, 0.1);
    const sam = new msam.MSAM(model, opt, { m: 2, rho: 0.1, strategy: 'graph' });
    const data = { input: msam.randn([8, 4]), target: msam.randint(0, 3, [8]) };
    expect(() => sam.gradientSync(data)).toThrow(/strategy 'graph' needs a CUDA model\/build/);
    await expect(sam.gradient(data)).rejects.toThrow(/strategy 'graph' needs a CUDA model\/build/);
    await expect(sam.step(data)).rejects.toThrow(/strategy 'graph' needs a CUDA model\/build/);
    expect(opt.calls).toBe(0);
    expect(snapshot(params)).toEqual(w0);
    expect(params.every((p) => p.grad === null)).toBe(true);
  });

  it('the closure form (a loss function, or a TypeScript forward) is refused: it runs the loop only', async () => {
    msam.manualSeed(1);
    const model = new nn.Sequential(new nn.Linear(4, 3));
    const sam = new msam.MSAM(model, handSgd(trainable(model), 0.1), { m: 2, strategy: 'graph' });
    const data = { input: msam.randn([8, 4]), target: msam.randint(0, 3, [8]) };
    const closure = (m: AnyModule, shard: msam.Batch) => msam.crossEntropy(m.forward(shard.input as Tensor), shard.target);
    expect(() => sam.gradientSync(data, closure)).toThrow(/strategy 'graph' needs a native model/);
    await expect(sam.step(data, closure)).rejects.toThrow(/strategy 'graph' needs a native model/);
  });

  it('emptyCache is safe to call without CUDA or a captured step', () => {
    expect(() => msam.cuda.emptyCache()).not.toThrow();
    if (!msam.cuda.isAvailable()) {
      expect(msam.cuda.memoryAllocated()).toBe(0);
      expect(msam.cuda.maxMemoryAllocated()).toBe(0);
      expect(() => msam.cuda.resetPeakMemoryStats()).not.toThrow();
    }
  });
});


/** Conv, BatchNorm (shard statistics), ReLU, a strided conv, pooling, optional Dropout; float64 on CUDA. */
function cnn(seed = 3, dropout = 0): AnyModule {
  msam.manualSeed(seed);
  const layers: AnyModule[] = [
    new nn.Conv2d(3, 8, 3, { padding: 1 }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.Conv2d(8, 8, 3, { padding: 1, stride: 2 }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
  ];
  if (dropout > 0) layers.push(new nn.Dropout(dropout));
  layers.push(new nn.Linear(8, 5));
  return new nn.Sequential(...layers).to('float64').to('cuda');
}

function data(B: number, seed = 4, dtype: msam.DType = 'float64'): { input: Tensor; target: Tensor } {
  msam.manualSeed(seed);
  return { input: msam.randn([B, 3, 8, 8], { dtype, device: 'cuda' }), target: msam.randint(0, 5, [B], { device: 'cuda' }) };
}

interface Outcome {
  stats: msam.StepStats;
  grads: Float64Array[] | null;
  buffers: ArrayLike<number | bigint>[];
}

async function gradient(model: AnyModule, batch: msam.Batch, options: msam.MSAMOptions, loss: msam.LossOptions = {}): Promise<Outcome> {
  const stats = await new msam.MSAM(model, handSgd([], 0), options).gradient(batch, loss);
  const grads = stats.skipped ? null : gradsOf(model);
  return { stats, grads, buffers: snapshot(model.buffers()) };
}

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

/** The same step with 'loop' and with 'graph' on two identical models; the differences. */
async function compare(options: msam.MSAMOptions, B = 16, loss: msam.LossOptions = {}, make = () => cnn()): Promise<{ loop: Outcome; graph: Outcome }> {
  const batch = data(B);
  const loop = await gradient(make(), batch, { ...options, strategy: 'loop' }, loss);
  const graph = await gradient(make(), batch, { ...options, strategy: 'graph' }, loss);
  expect(graph.stats.skipped).toBe(loop.stats.skipped);
  expect(graph.stats.shards).toBe(loop.stats.shards);
  for (const k of ['loss', 'perturbedLoss', 'gradNorm'] as const) expect(Math.abs(graph.stats[k] - loop.stats[k])).toBeLessThan(TOL);
  if (loop.grads) expect(maxAbsDiff(graph.grads as Float64Array[], loop.grads)).toBeLessThan(TOL);
  expect(bufferDiff(graph.buffers, loop.buffers)).toBeLessThan(TOL);
  return { loop, graph };
}

// Gated on a GPU alone: a CUDA binary always has the strategy (libtorch >= 2.4: PyTorch's graph-safe
// random states; test/cuda-binary.test.ts checks that the symbols are in the file).
describeCuda("strategy 'graph' on CUDA: the loop's results", () => {
  it.each<[string, msam.MSAMOptions, msam.LossOptions]>([
    ['mSAM m = 4', { m: 4, rho: 0.1 }, {}],
    ['mSAM m = 8, label smoothing', { m: 8, rho: 0.05 }, { labelSmoothing: 0.1 }],
    ['SAM (m = 1)', { m: 1, rho: 0.1 }, {}],
    ['ρ = 0 (the vanilla gradient)', { m: 4, rho: 0 }, {}],
    ['ASAM (adaptive)', { m: 4, rho: 0.5, adaptive: true }, {}],
    ["bnMode 'freeze'", { m: 4, rho: 0.1, bnMode: 'freeze' }, {}],
    ["weightDecayIn 'loss'", { m: 4, rho: 0.1, weightDecay: 1e-2, weightDecayIn: 'loss' }, {}],
  ])('%s: gradient, statistics and running statistics', async (_, options, loss) => {
    await compare(options, 16, loss);
  });

  it('three SGD steps on new batches (the captured step replayed): the loop\'s weights', async () => {
    const run = async (strategy: 'loop' | 'graph') => {
      const model = cnn();
      const opt = new msam.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const sam = new msam.MSAM(model, opt, { m: 4, rho: 0.1, strategy });
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) losses.push((await sam.step(data(16, 10 + s))).loss);
      return { losses, weights: snapshot(trainable(model)) as Float64Array[], buffers: snapshot(model.buffers()) };
    };
    const loop = await run('loop');
    const graph = await run('graph');
    expect(maxAbsDiff([graph.losses], [loop.losses])).toBeLessThan(TOL);
    expect(maxAbsDiff(graph.weights, loop.weights)).toBeLessThan(TOL);
    expect(bufferDiff(graph.buffers, loop.buffers)).toBeLessThan(TOL);
  });

  it('a batch size not divisible by m runs the loop: the same numbers', async () => {
    const { loop, graph } = await compare({ m: 4, rho: 0.1 }, 18);
    expect(graph.stats.shards).toBe(4);
    expect(loop.grads).not.toBeNull();
  });

  it('eval mode and a new batch size recapture (still the loop\'s results)', async () => {
    await compare({ m: 4, rho: 0.1 }, 16, {}, () => cnn().eval());
    await compare({ m: 8, rho: 0.1 }, 32);
  });

  it('a NaN row in shard 2: skipped with the loop\'s reason; weights, buffers restored; .grad cleared', async () => {
    const outcome = async (strategy: 'loop' | 'graph') => {
      const model = cnn();
      const params = trainable(model);
      const w0 = snapshot(params);
      const b0 = snapshot(model.buffers());
      const batch = data(16);
      msam.noGrad(() => batch.input.select(0, 9).fill_(NaN));
      const stats = await new msam.MSAM(model, handSgd([], 0), { m: 4, rho: 0.1, strategy }).gradient(batch);
      expect(snapshot(params)).toEqual(w0);
      expect(snapshot(model.buffers())).toEqual(b0);
      expect(params.every((p) => p.grad === null)).toBe(true);
      return stats;
    };
    const loop = await outcome('loop');
    const graph = await outcome('graph');
    expect(loop.skipped).toBe(true);
    expect(loop.skipReason).toMatch(/shard 2/);
    expect(graph.skipReason).toBe(loop.skipReason);
    // What was summed before the bad shard, as the loop reports it.
    for (const k of ['loss', 'perturbedLoss', 'gradNorm'] as const) expect(Math.abs(graph[k] - loop[k])).toBeLessThan(TOL);
  });

  it('dropout: both passes of a shard draw the same masks, and each step new ones', async () => {
    const model = cnn(3, 0.5);
    const sam = new msam.MSAM(model, handSgd([], 0), { m: 4, rho: 1e-7, strategy: 'graph' });
    const batch = data(16);
    const first = await sam.gradient(batch);
    // Same masks: w + ε with ‖ε‖ = 1e-7 changes the loss by about 1e-7; other masks by far more.
    expect(Math.abs(first.perturbedLoss - first.loss)).toBeLessThan(1e-5);
    const second = await sam.gradient(batch);
    expect(Math.abs(second.perturbedLoss - second.loss)).toBeLessThan(1e-5);
    expect(Math.abs(second.loss - first.loss)).toBeGreaterThan(1e-6);
  });

  it("autocast 'bfloat16' (a float32 model): the loop's gradient to bf16 tolerance", async () => {
    const batch = data(16, 4, 'float32');
    const make = () => cnn().to('float32');
    const loop = await gradient(make(), batch, { m: 4, rho: 0.1, autocast: 'bfloat16', strategy: 'loop' });
    const graph = await gradient(make(), batch, { m: 4, rho: 0.1, autocast: 'bfloat16', strategy: 'graph' });
    const scale = Math.max(...(loop.grads as Float64Array[]).map((g) => Math.max(...Array.from(g, Math.abs))));
    expect(maxAbsDiff(graph.grads as Float64Array[], loop.grads as Float64Array[]) / scale).toBeLessThan(2e-2);
    expect(Math.abs(graph.stats.loss - loop.stats.loss)).toBeLessThan(2e-2 * Math.abs(loop.stats.loss));
  });

  it('emptyCache releases the captured step (its static buffers)', async () => {
    const model = cnn();
    await gradient(model, data(16), { m: 4, rho: 0.1, strategy: 'graph' });
    msam.cuda.synchronize();
    const before = msam.cuda.memoryAllocated();
    msam.cuda.emptyCache();
    expect(msam.cuda.memoryAllocated()).toBeLessThan(before);
    // And the next step captures again.
    const again = await gradient(model, data(16), { m: 4, rho: 0.1, strategy: 'graph' });
    expect(again.stats.skipped).toBe(false);
  });
});
