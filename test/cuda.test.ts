// CUDA-only checks the GPU session runs (bench/gpu-session.sh): NCCL with one rank, and the mSAM
// step under bfloat16 autocast on the GPU. Skipped, with the reason in the title, without a GPU.
// (The graph and vectorized strategies' CUDA tests are in msam-graph/msam-vectorized.test.ts.)
import { expect, it } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';
import { freePort } from '../lib/distributed/launch';
import { describeCuda } from './helpers/cuda';

const { nn } = msam;
const noStep = { step(): void {} };

function cnn(seed: number): msam.nn.Module {
  msam.manualSeed(seed);
  return new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1 }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(8, 5),
  ).to('cuda');
}
const grads = (m: msam.nn.Module): Float64Array[] => m.parameters().map((p) => (p.grad as Tensor).to('cpu', 'float64').data() as Float64Array);

function relativeError(a: Float64Array[], b: Float64Array[]): number {
  let num = 0;
  let den = 0;
  a.forEach((x, i) => x.forEach((v, j) => ((num += (v - (b[i] as Float64Array)[j]!) ** 2), (den += (b[i] as Float64Array)[j]! ** 2))));
  return Math.sqrt(num / den);
}

describeCuda('NCCL with one rank', () => {
  it('all-reduces CUDA tensors, and a data-parallel step equals the one-process step', async () => {
    expect(msam.dist.backends().nccl).toBe(true);
    const group = await msam.dist.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, masterPort: await freePort(), timeout: 60 });
    try {
      const t = msam.tensor([1.5, -2], { device: 'cuda' });
      await group.allReduce([t]);
      expect(t.toArray()).toEqual([1.5, -2]);
      const batch = { input: msam.randn([12, 3, 8, 8], { device: 'cuda' }), target: msam.randint(0, 5, [12], { device: 'cuda' }) };
      const model = cnn(4);
      msam.manualSeed(5);
      const alone = await new msam.MSAM(model, noStep, { m: 4, rho: 0.1 }).gradient(batch, { loss: 'cross_entropy' });
      const reference = grads(model);
      msam.manualSeed(5);
      const shared = await new msam.MSAM(model, noStep, { m: 4, rho: 0.1, processGroup: group }).gradient(batch, { loss: 'cross_entropy' });
      expect(shared.loss).toBeCloseTo(alone.loss, 6);
      expect(relativeError(grads(model), reference)).toBeLessThan(1e-6);
    } finally {
      group.close();
    }
  });
});

describeCuda('autocast on CUDA', () => {
  it('the native step under bfloat16 autocast gives float32 gradients near the float32 step', async () => {
    const batch = { input: msam.randn([16, 3, 8, 8], { device: 'cuda' }), target: msam.randint(0, 5, [16], { device: 'cuda' }) };
    const model = cnn(6);
    msam.manualSeed(7);
    await new msam.MSAM(model, noStep, { m: 4, rho: 0.05 }).gradient(batch, { loss: 'cross_entropy' });
    const reference = grads(model);
    msam.manualSeed(7);
    const stats = await new msam.MSAM(model, noStep, { m: 4, rho: 0.05, autocast: 'bfloat16' }).gradient(batch, { loss: 'cross_entropy' });
    expect(stats.skipped).toBe(false);
    for (const p of model.parameters()) expect((p.grad as Tensor).dtype).toBe('float32');
    const err = relativeError(grads(model), reference);
    expect(err).toBeGreaterThan(0); // bfloat16 really was used
    expect(err).toBeLessThan(0.05);
  });
});
