// The 'vectorized' strategy gives the loop's gradient (DESIGN.md: every strategy must): for each
// native module kind with a grouped forward, in float64 on the CPU, the .grad, the step's statistics
// and the BatchNorm buffers after a vectorized step are compared with those after a 'loop' step
// from the same weights, buffers and random state. The loop itself is checked against an
// independent reference and PyTorch in msam.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { describeCuda } from './helpers/cuda';
import type { Tensor } from '../lib';
import { native } from '../lib/native';
import { gradsOf, maxAbsDiff, restore, snapshot } from './helpers/msam-reference';

const { nn, models } = msam;
const TOL = 1e-10;
let largest = 0;
afterAll(() => console.log(`vectorized vs loop, largest |Δ| (float64): ${largest.toExponential(2)}`));

interface Case {
  model: () => msam.nn.Module;
  data: (B: number) => { input: Tensor | Tensor[]; target: Tensor };
  loss?: msam.LossOptions;
}

const images = (channels: number, size: number, classes: number) => (B: number) => ({
  input: msam.randn([B, channels, size, size], { dtype: 'float64' }),
  target: msam.randint(0, classes, [B]),
});

const CASES: Record<string, Case> = {
  'mlp (Linear, Tanh, ReLU)': {
    model: () => new nn.Sequential(new nn.Linear(6, 12), new nn.Tanh(), new nn.Linear(12, 12), new nn.ReLU(), new nn.Linear(12, 4)),
    data: (B) => ({ input: msam.randn([B, 6], { dtype: 'float64' }), target: msam.randint(0, 4, [B]) }),
  },
  'cnn (Conv2d, BatchNorm2d, pooling, Flatten)': {
    model: () =>
      new nn.Sequential(
        new nn.Conv2d(2, 4, 3, { padding: 1 }),
        new nn.BatchNorm2d(4),
        new nn.ReLU(),
        new nn.MaxPool2d(2),
        new nn.Conv2d(4, 6, 3, { stride: 1, padding: 1, groups: 2, bias: false }),
        new nn.AvgPool2d(3),
        new nn.Flatten(),
        new nn.Linear(6, 5),
      ),
    data: images(2, 6, 5),
  },
  // ResNet's post-activation block with a strided projection shortcut, at small widths (resnet18
  // itself, in float64 with shards of 2, takes ~10 s a pass here and its BatchNorm over 2 values
  // per channel amplifies rounding to ~1e-10 relative).
  'residual blocks (post-activation, projection shortcut)': {
    model: () =>
      new nn.Sequential(
        new nn.Conv2d(3, 4, 3, { padding: 1, bias: false }),
        new nn.BatchNorm2d(4),
        new nn.ReLU(),
        new nn.Residual({
          body: [
            ['conv1', new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, bias: false })],
            ['bn1', new nn.BatchNorm2d(6)],
            ['relu', new nn.ReLU()],
            ['conv2', new nn.Conv2d(6, 6, 3, { padding: 1, bias: false })],
            ['bn2', new nn.BatchNorm2d(6)],
          ],
          shortcut: ['downsample', new nn.Sequential(new nn.Conv2d(4, 6, 1, { stride: 2, bias: false }), new nn.BatchNorm2d(6))],
          post: [['relu', new nn.ReLU()]],
        }),
        new nn.AdaptiveAvgPool2d(1),
        new nn.Flatten(1),
        new nn.Linear(6, 3),
      ),
    data: images(3, 8, 3),
  },
  'wideResNet 10-1 (pre-activation blocks)': { model: () => models.wideResNet({ depth: 10, widen: 1, numClasses: 3 }), data: images(3, 8, 3) },
  'ViT (patches, class token, positions, LayerNorm, attention, GELU)': {
    model: () => models.vit({ imageSize: 8, patchSize: 4, hiddenDim: 16, numLayers: 2, numHeads: 2, mlpDim: 24, numClasses: 3, dropout: 0, attentionDropout: 0 }),
    data: images(3, 8, 3),
  },
  'text classifier (embeddings with padding, attention mask)': {
    model: () => models.textClassifier({ vocabSize: 20, maxPositions: 8, hiddenDim: 16, numLayers: 1, numHeads: 2, mlpDim: 24, numClasses: 2, dropout: 0, paddingIdx: 1 }),
    data: (B) => {
      const ids = msam.randint(2, 20, [B, 6]);
      const mask = msam.ones([B, 6], { dtype: 'int64' });
      // The last two tokens of every other example are padding.
      for (let i = 0; i < B; i += 2) {
        ids.index(i, '4:').fill_(1);
        mask.index(i, '4:').fill_(0);
      }
      return { input: [ids, mask], target: msam.randint(0, 2, [B]) };
    },
  },
  'RoBERTa embeddings (positions skipping padding, token types) as fromPretrained builds them': {
    model: () => models.textClassifier({ vocabSize: 20, maxPositions: 10, roberta: true, hiddenDim: 16, numLayers: 1, numHeads: 2, mlpDim: 24, numClasses: 2, dropout: 0, paddingIdx: 1 }),
    data: (B) => {
      const ids = msam.randint(2, 20, [B, 6]);
      const mask = msam.ones([B, 6], { dtype: 'int64' });
      // The last two tokens of every other example are padding.
      for (let i = 0; i < B; i += 2) {
        ids.index(i, '4:').fill_(1);
        mask.index(i, '4:').fill_(0);
      }
      return { input: [ids, mask], target: msam.randint(0, 2, [B]) };
    },
  },
  'norms (GroupNorm, BatchNorm1d, LayerNorm) with MSE': {
    model: () =>
      new nn.Sequential(
        new nn.Conv2d(2, 4, 3),
        new nn.GroupNorm(2, 4),
        new nn.Flatten(),
        new nn.Linear(16, 8),
        new nn.BatchNorm1d(8),
        new nn.LayerNorm(8),
        new nn.Linear(8, 3),
      ),
    data: (B) => ({ input: msam.randn([B, 2, 4, 4], { dtype: 'float64' }), target: msam.randn([B, 3], { dtype: 'float64' }) }),
    loss: { loss: 'mse' },
  },
};

interface Outcome {
  grads: Float64Array[];
  stats: msam.StepStats;
  buffers: ArrayLike<number | bigint>[];
}

/** One gradient with `strategy` from the same weights, buffers and random state each time. */
function runBoth(c: Case, B: number, options: msam.MSAMOptions, loss: msam.LossOptions = c.loss ?? {}): Record<'loop' | 'vectorized', Outcome> {
  msam.manualSeed(7);
  const model = c.model().to('float64');
  const data = c.data(B);
  const params = model.parameters();
  const buffers = model.buffers();
  const weights0 = snapshot(params);
  const buffers0 = snapshot(buffers);
  const rng = native.rngState('cpu');
  const run = (strategy: 'loop' | 'vectorized'): Outcome => {
    restore(params, weights0);
    restore(buffers, buffers0);
    native.setRngState('cpu', rng);
    const sam = new msam.MSAM(model, { step() {} }, { ...options, strategy });
    const stats = sam.gradientSync(data, loss);
    const grads = stats.skipped ? [] : gradsOf(model);
    // Weights are never left perturbed.
    expect(maxAbsDiff(snapshot(params) as ArrayLike<number>[], weights0 as ArrayLike<number>[])).toBe(0);
    return { grads, stats, buffers: snapshot(buffers) };
  };
  return { loop: run('loop'), vectorized: run('vectorized') };
}

function expectSame(r: Record<'loop' | 'vectorized', Outcome>): void {
  const d = Math.max(
    maxAbsDiff(r.vectorized.grads, r.loop.grads),
    maxAbsDiff(r.vectorized.buffers.filter((b) => typeof b[0] !== 'bigint') as ArrayLike<number>[], r.loop.buffers.filter((b) => typeof b[0] !== 'bigint') as ArrayLike<number>[]),
    Math.abs(r.vectorized.stats.loss - r.loop.stats.loss),
    Math.abs(r.vectorized.stats.perturbedLoss - r.loop.stats.perturbedLoss),
    Math.abs(r.vectorized.stats.gradNorm - r.loop.stats.gradNorm),
  );
  largest = Math.max(largest, d);
  expect(d).toBeLessThan(TOL);
  // num_batches_tracked and every other integer buffer exactly.
  expect(r.vectorized.buffers.filter((b) => typeof b[0] === 'bigint').map((b) => Array.from(b as ArrayLike<bigint>))).toEqual(
    r.loop.buffers.filter((b) => typeof b[0] === 'bigint').map((b) => Array.from(b as ArrayLike<bigint>)),
  );
  expect(r.vectorized.stats.shards).toBe(r.loop.stats.shards);
  expect(r.vectorized.stats.skipped).toBe(r.loop.stats.skipped);
  // The gradient is not trivially zero (the comparison means something).
  expect(Math.max(...r.loop.grads.map((g) => Math.max(...Array.from(g, Math.abs))))).toBeGreaterThan(1e-6);
}

describe('vectorized strategy: the loop gradient for every module kind', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}, B = 8, m = 4`, () => expectSame(runBoth(c, 8, { m: 4, rho: 0.3 })));
  }
});

describe('vectorized strategy: shards and options', () => {
  const cnn = CASES['cnn (Conv2d, BatchNorm2d, pooling, Flatten)']!;
  const text = CASES['text classifier (embeddings with padding, attention mask)']!;
  it.each([
    [1, 6],
    [2, 6],
    [6, 6],
    [4, 10], // uneven shards: 3, 3, 2, 2
    [3, 10], // 4, 3, 3
  ])('m = %i of B = %i', (m, B) => expectSame(runBoth(cnn, B, { m, rho: 0.3 })));
  it.each([1, 2, 3])('chunkSize %i (B = 10, m = 5)', (chunkSize) => expectSame(runBoth(cnn, 10, { m: 5, rho: 0.3, chunkSize })));
  it('ρ = 0 is the vanilla gradient', () => expectSame(runBoth(cnn, 8, { m: 4, rho: 0 })));
  it('ASAM (adaptive)', () => expectSame(runBoth(cnn, 8, { m: 4, rho: 0.5, adaptive: true, eta: 0.02 })));
  it("weight decay in the loss", () => expectSame(runBoth(cnn, 8, { m: 4, rho: 0.3, weightDecay: 0.01, weightDecayIn: 'loss' })));
  it('bnMode freeze', () => expectSame(runBoth(cnn, 8, { m: 2, rho: 0.3, bnMode: 'freeze' })));
  it('label smoothing', () => expectSame(runBoth(cnn, 8, { m: 4, rho: 0.3 }, { labelSmoothing: 0.1 })));
  it('frozen parameters (requiresGrad false) keep no gradient and shape nothing else', () => {
    const c: Case = {
      ...cnn,
      model: () => {
        const mdl = cnn.model();
        for (const p of mdl.parameters().slice(0, 2)) p.requiresGrad = false; // the first convolution
        return mdl;
      },
    };
    expectSame(runBoth(c, 8, { m: 4, rho: 0.3 }));
  });
  it('text: uneven shards and chunks', () => expectSame(runBoth(text, 7, { m: 3, rho: 0.2, chunkSize: 2 })));
  it('a model in eval mode (running statistics read, not written)', () => {
    const c: Case = { ...cnn, model: () => { const mdl = cnn.model(); mdl.eval(); return mdl; } };
    expectSame(runBoth(c, 8, { m: 4, rho: 0.3 }));
  });
  it("dropout: a shard's two passes see the same masks", () => {
    // The masks are one draw over all G shards' rows instead of one per shard (the same numbers as
    // the loop's on the CPU with one dropout layer, not with two: test/msam-pytorch.test.ts checks
    // both against PyTorch), and both passes of a shard must replay them: with a tiny ρ the
    // perturbed loss then equals the loss.
    msam.manualSeed(3);
    const model = new nn.Sequential(new nn.Linear(6, 32), new nn.Dropout(0.5), new nn.ReLU(), new nn.Linear(32, 4)).to('float64');
    const sam = new msam.MSAM(model, { step() {} }, { m: 4, rho: 1e-9, strategy: 'vectorized' });
    const stats = sam.gradientSync({ input: msam.randn([16, 6], { dtype: 'float64' }), target: msam.randint(0, 4, [16]) });
    expect(Math.abs(stats.perturbedLoss - stats.loss)).toBeLessThan(1e-7);
    // And without the replay (different masks) the losses would differ by far more.
    const a = msam.noGrad(() => model.forward(msam.ones([64, 6], { dtype: 'float64' })).sum().item());
    const b = msam.noGrad(() => model.forward(msam.ones([64, 6], { dtype: 'float64' })).sum().item());
    expect(Math.abs(a - b)).toBeGreaterThan(1e-3);
  });
  it('a non-finite shard skips the step as the loop does', () => {
    const c: Case = {
      ...CASES['mlp (Linear, Tanh, ReLU)']!,
      data: (B) => {
        const input = msam.randn([B, 6], { dtype: 'float64' });
        input.index(B - 1, 0).fill_(Number.POSITIVE_INFINITY);
        return { input, target: msam.randint(0, 4, [B]) };
      },
    };
    const r = runBoth(c, 8, { m: 4, rho: 0.3 });
    expect(r.loop.stats.skipped).toBe(true);
    expect(r.vectorized.stats.skipped).toBe(true);
    expect(r.vectorized.stats.skipReason).toBe(r.loop.stats.skipReason);
  });
});

describe('vectorized strategy: errors', () => {
  it('an out-of-range token id is an error, not a lookup in another shard’s table', () => {
    const model = models.textClassifier({ vocabSize: 20, maxPositions: 8, hiddenDim: 16, numLayers: 1, numHeads: 2, mlpDim: 24, dropout: 0 });
    const sam = new msam.MSAM(model, { step() {} }, { m: 2, strategy: 'vectorized' });
    const ids = msam.randint(0, 20, [4, 5]);
    ids.index(3, 0).fill_(25);
    expect(() => sam.gradientSync({ input: ids, target: msam.randint(0, 2, [4]) })).toThrow(/word_embeddings \(Embedding\): index out of range/);
    // The weights are back in the model: a loop step works.
    ids.index(3, 0).fill_(2);
    expect(new msam.MSAM(model, { step() {} }, { m: 2, strategy: 'loop' }).gradientSync({ input: ids, target: msam.randint(0, 2, [4]) }).skipped).toBe(false);
  });
  it('a module without a grouped forward is named', () => {
    const model = new nn.Sequential(new nn.Linear(4, 4), new nn.Softmax(0));
    const sam = new msam.MSAM(model, { step() {} }, { m: 2, strategy: 'vectorized' });
    expect(() => sam.gradientSync({ input: msam.randn([4, 4]), target: msam.randn([4, 4]) }, { loss: 'mse' })).toThrow(/strategy 'vectorized': module 1 \(Softmax\) has no grouped forward/);
  });
  it('the closure form (a TypeScript loss) refuses it rather than silently running the loop', () => {
    const model = new nn.Linear(4, 2);
    const sam = new msam.MSAM(model, { step() {} }, { m: 2, strategy: 'vectorized' });
    expect(() => sam.gradientSync({ input: msam.randn([4, 4]), target: msam.randint(0, 2, [4]) }, (mdl, shard) => msam.crossEntropy(mdl.forward(shard.input as Tensor), shard.target))).toThrow(
      /strategy 'vectorized' needs a native model .* not a closure/,
    );
  });
  it('chunkSize is validated', () => {
    expect(() => new msam.MSAM(new nn.Linear(2, 2), { step() {} }, { chunkSize: 0 })).toThrow(/option 'chunkSize' must be an integer ≥ 1/);
  });
});

describeCuda('vectorized strategy on CUDA', () => {
  // float32 on the device (cuDNN and cuBLAS may pick other algorithms for the batched shapes):
  // relative agreement with the loop.
  for (const name of ['cnn (Conv2d, BatchNorm2d, pooling, Flatten)', 'ViT (patches, class token, positions, LayerNorm, attention, GELU)', 'text classifier (embeddings with padding, attention mask)']) {
    it(`${name}: float32 gradient within 1e-4 (relative) of the loop's`, () => {
      const c = CASES[name]!;
      msam.manualSeed(7);
      const model = c.model().to('cuda');
      const raw = c.data(16);
      const data = {
        input: (Array.isArray(raw.input) ? raw.input : [raw.input]).map((t) => (t.dtype === 'float64' ? t.float() : t).to('cuda')),
        target: raw.target.to('cuda'),
      };
      const rng = native.rngState('cpu');
      const weights0 = snapshot(model.parameters());
      const gradsWith = (strategy: 'loop' | 'vectorized'): Float64Array[] => {
        restore(model.parameters(), weights0);
        native.setRngState('cpu', rng);
        new msam.MSAM(model, { step() {} }, { m: 4, rho: 0.1, strategy }).gradientSync(data);
        return gradsOf(model);
      };
      const loop = gradsWith('loop');
      const vec = gradsWith('vectorized');
      const scale = Math.max(...loop.map((g) => Math.max(...Array.from(g, Math.abs))));
      expect(maxAbsDiff(vec, loop) / scale).toBeLessThan(1e-4);
    });
  }
});
