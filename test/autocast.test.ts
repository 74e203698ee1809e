// Mixed precision: the mSAM step with autocast to bfloat16 (native and closure forms), and
// withAutocast on the JS thread. Runs on the CPU (libtorch's CPU autocast); CUDA is the same code.
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';

const { nn } = msam;

function cnn(): msam.nn.Module {
  msam.manualSeed(7);
  return new nn.Sequential(
    new nn.Conv2d(1, 8, 3, { padding: 1 }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(8 * 7 * 7, 10),
  );
}
const noStep = { step(): void {} };
const grads = (m: msam.nn.Module): Tensor[] => m.parameters().map((p) => (p.grad as Tensor).clone());
function relativeError(a: Tensor[], b: Tensor[]): number {
  let num = 0;
  let den = 0;
  a.forEach((x, i) => {
    num += x.sub(b[i] as Tensor).square().sum().item();
    den += (b[i] as Tensor).square().sum().item();
  });
  return Math.sqrt(num / den);
}

describe('autocast', () => {
  msam.manualSeed(8);
  const batch = { input: msam.randn([16, 1, 14, 14]), target: msam.randint(0, 10, [16]) };

  it('withAutocast runs matmul-like ops in bfloat16 and restores the previous setting', () => {
    const x = msam.randn([4, 8]);
    const w = msam.randn([3, 8]);
    expect(msam.linear(x, w).dtype).toBe('float32');
    expect(msam.withAutocast('cpu', 'bfloat16', () => msam.linear(x, w).dtype)).toBe('bfloat16');
    expect(msam.linear(x, w).dtype).toBe('float32');
  });

  it('the native step under bfloat16 autocast gives float32 gradients close to the float32 step', async () => {
    const model = cnn();
    const fp32 = new msam.MSAM(model, noStep, { m: 4, rho: 0.05 });
    msam.manualSeed(9);
    await fp32.gradient(batch, { loss: 'cross_entropy' });
    const reference = grads(model);
    const bf16 = new msam.MSAM(model, noStep, { m: 4, rho: 0.05, autocast: 'bfloat16' });
    msam.manualSeed(9);
    const stats = await bf16.gradient(batch, { loss: 'cross_entropy' });
    expect(stats.skipped).toBe(false);
    const mixed = grads(model);
    for (const g of mixed) expect(g.dtype).toBe('float32');
    const err = relativeError(mixed, reference);
    expect(err).toBeGreaterThan(0); // bfloat16 really was used
    expect(err).toBeLessThan(0.05);
  });

  it("the 'vectorized' strategy under bfloat16 autocast stays close to the float32 loop", async () => {
    const model = cnn();
    msam.manualSeed(9);
    await new msam.MSAM(model, noStep, { m: 4, rho: 0.05, strategy: 'loop' }).gradient(batch, { loss: 'cross_entropy' });
    const reference = grads(model);
    msam.manualSeed(9);
    const stats = await new msam.MSAM(model, noStep, { m: 4, rho: 0.05, strategy: 'vectorized', autocast: 'bfloat16' }).gradient(batch, { loss: 'cross_entropy' });
    expect(stats.skipped).toBe(false);
    const mixed = grads(model);
    for (const g of mixed) expect(g.dtype).toBe('float32');
    const err = relativeError(mixed, reference);
    expect(err).toBeGreaterThan(1e-4); // bfloat16 really was used (float32 strategies agree to ~1e-7)
    expect(err).toBeLessThan(0.05);
  });

  it('the closure form under autocast matches the native form', async () => {
    const model = cnn();
    const sam = new msam.MSAM(model, noStep, { m: 2, rho: 0.05, autocast: 'bfloat16' });
    msam.manualSeed(10);
    sam.gradientSync(batch, { loss: 'cross_entropy' });
    const native = grads(model);
    msam.manualSeed(10);
    sam.gradientSync(batch, (m, shard) => msam.crossEntropy(m.forward(shard.input as Tensor), shard.target));
    expect(relativeError(grads(model), native)).toBeLessThan(1e-6);
  });

  it("rejects an autocast dtype other than 'bfloat16' or 'float16', naming the option", () => {
    expect(() => new msam.MSAM(cnn(), noStep, { autocast: 'float64' as never })).toThrow(/option 'autocast'/);
  });
});
