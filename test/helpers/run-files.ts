// The trainer's tests' tiny run, and reading what a run wrote: metrics lines, and checkpoints as bytes.
import * as fs from 'node:fs';
import * as msam from '../../lib';
import type { TrainInput } from '../../lib/train';

/**
 * A tiny run on a synthetic MNIST-format set in `dataDir`: msam.models.smallCnn with 4 and 8
 * channels, mSAM m = 4, 2 epochs of batches of 32 (360 examples: 36 held out for validation,
 * 324 train in 10 steps), a metrics line every 3 steps.
 */
export const tinyRun = (dataDir: string, outDir: string, extra: TrainInput = {}): TrainInput => ({
  data: { name: 'mnist', dir: dataDir },
  model: { name: 'smallCnn', options: { width: 4 } },
  method: 'msam',
  m: 4,
  rho: 0.05,
  optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  schedule: { name: 'oneCycle', warmupFraction: 0.1 },
  labelSmoothing: 0.1,
  epochs: 2,
  batchSize: 32,
  seed: 5,
  device: 'cpu',
  outDir,
  log: { progress: 'none', everySteps: 3 },
  ...extra,
});

/** The JSON lines of a metrics.jsonl. */
export const readLines = (file: string): Record<string, unknown>[] =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Metrics without the wall-clock fields. */
export const deterministic = (lines: Record<string, unknown>[]): Record<string, unknown>[] =>
  lines.map(({ seconds: _s, examplesPerSecond: _e, ...rest }) => rest);

/** The tensors of a checkpoint file, as dtype, shape and bytes by name. */
export function tensorsOf(file: string): Record<string, string> {
  const { tensors } = msam.load(file);
  const out: Record<string, string> = {};
  for (const [k, t] of Object.entries(tensors)) {
    const d = t.data();
    out[k] = `${t.dtype}[${t.shape.join(',')}]:${Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64')}`;
    t.dispose();
  }
  return out;
}
