// `msam bench --count`: what one training step dispatches, per strategy and configuration: host
// reads (each one drains a GPU's launch queue), top-level ATen ops, and msam's bookkeeping ops per
// shard (which must not grow with the number of parameter tensors) — counted on whatever device
// runs it (lib/profile.ts). And the CPU cost ratio of an mSAM step (m = 32) to a SAM step.
import * as net from 'node:net';
import { initProcessGroup, type ProcessGroup } from '../distributed/group';
import { MSAM, type MSAMOptions } from '../msam';
import * as nn from '../nn';
import * as optim from '../optim';
import { countOps } from '../profile';
import { manualSeed, randint, randn } from '../tensor';
import type { Device } from '../types';

export const COUNT_CONFIGS = ['default', 'rho0', 'asam', 'wdInLoss', 'autocast', 'processGroup'] as const;
export type CountConfig = (typeof COUNT_CONFIGS)[number];
export const COUNT_STRATEGIES = ['loop', 'vectorized', 'graph'] as const;
export type CountStrategy = (typeof COUNT_STRATEGIES)[number];

export interface StepCountOptions {
  /** 'mlp': Linear/ReLU with `layers` hidden layers of 32 (2·(layers + 1) parameter tensors); 'cnn': two conv + BatchNorm blocks. */
  model: 'mlp' | 'cnn';
  layers?: number;
  batch: number;
  m: number;
  steps?: number;
  strategies?: readonly CountStrategy[];
  configs?: readonly CountConfig[];
  device?: Device;
}

export interface StepCountRow {
  strategy: CountStrategy;
  config: CountConfig;
  /** Per step (gradient and optimizer step), averaged over the counted steps; null with `error`. */
  hostReads: number | null;
  ops: number | null;
  bookkeepingPerShard: number | null;
  reads: Record<string, number>;
  error?: string;
}

/** The model of a count or ratio: fresh, seeded, in training mode. */
export function countModel(model: 'mlp' | 'cnn', layers = 2, width = 32, inFeatures = 32): { model: nn.Module; shape: number[] } {
  manualSeed(0);
  if (model === 'cnn') {
    const m = new nn.Sequential(
      new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.BatchNorm2d(16), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Flatten(), new nn.Linear(16 * 7 * 7, 10),
    );
    return { model: m.train(), shape: [1, 28, 28] };
  }
  const children: nn.Module[] = [];
  let d = inFeatures;
  for (let i = 0; i < layers; i++) {
    children.push(new nn.Linear(d, width), new nn.ReLU());
    d = width;
  }
  children.push(new nn.Linear(d, 10));
  return { model: new nn.Sequential(...children).train(), shape: [inFeatures] };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function msamOptions(config: CountConfig, strategy: CountStrategy, m: number, group: ProcessGroup | undefined): MSAMOptions {
  const o: MSAMOptions = { m, rho: 0.05, strategy };
  if (config === 'rho0') o.rho = 0;
  if (config === 'asam') Object.assign(o, { adaptive: true, rho: 0.5 });
  if (config === 'wdInLoss') Object.assign(o, { weightDecay: 5e-4, weightDecayIn: 'loss' });
  if (config === 'autocast') o.autocast = 'bfloat16';
  if (config === 'processGroup' && group) o.processGroup = group;
  return o;
}

/** Counts every strategy × configuration (README, "Benchmarks"). */
export async function countStepOps(o: StepCountOptions): Promise<StepCountRow[]> {
  const device = o.device ?? 'cpu';
  const steps = o.steps ?? 2;
  const configs = o.configs ?? COUNT_CONFIGS;
  let group: ProcessGroup | undefined;
  if (configs.includes('processGroup')) group = await initProcessGroup({ rank: 0, worldSize: 1, masterPort: await freePort(), timeout: 30 });
  const rows: StepCountRow[] = [];
  try {
    for (const strategy of o.strategies ?? ['loop', 'vectorized']) {
      for (const config of configs) {
        const { model, shape } = countModel(o.model, o.layers);
        model.to(device);
        const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: config === 'wdInLoss' ? 0 : 5e-4 });
        const sam = new MSAM(model, opt, msamOptions(config, strategy, o.m, group));
        const input = randn([o.batch, ...shape], { device });
        const target = randint(0, 10, [o.batch], { device });
        try {
          await sam.step({ input, target }); // the first step allocates (momentum, .grad, saved weights)
          const { counts } = await countOps(async () => {
            for (let s = 0; s < steps; s++) await sam.step({ input, target });
          });
          rows.push({ strategy, config, hostReads: counts.hostReads / steps, ops: counts.ops / steps, bookkeepingPerShard: counts.bookkeeping / steps / o.m, reads: counts.reads });
        } catch (e) {
          rows.push({ strategy, config, hostReads: null, ops: null, bookkeepingPerShard: null, reads: {}, error: (e as Error).message.split('\n')[0] as string });
        } finally {
          input.dispose();
          target.dispose();
        }
      }
    }
  } finally {
    group?.close();
  }
  return rows;
}

/** ms per step (median of `steps`, after one warm-up) of mSAM (m) and of SAM (m = 1) with one strategy, and their ratio. */
export async function stepRatio(o: { strategy: 'loop' | 'vectorized'; batch: number; m: number; steps?: number }): Promise<{ samMs: number; msamMs: number; ratio: number }> {
  const time = async (m: number): Promise<number> => {
    const { model } = countModel('mlp', 2, 256, 784);
    const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const sam = new MSAM(model, opt, { m, rho: 0.05, strategy: o.strategy });
    const input = randn([o.batch, 784]);
    const target = randint(0, 10, [o.batch]);
    await sam.step({ input, target });
    const ms: number[] = [];
    for (let s = 0; s < (o.steps ?? 5); s++) {
      const t0 = performance.now();
      await sam.step({ input, target });
      ms.push(performance.now() - t0);
    }
    input.dispose();
    target.dispose();
    ms.sort((a, b) => a - b);
    return ms[Math.floor(ms.length / 2)] as number;
  };
  const samMs = await time(1);
  const msamMs = await time(o.m);
  return { samMs, msamMs, ratio: msamMs / samMs };
}
