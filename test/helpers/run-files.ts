// Reading what a training run wrote, for the trainer's tests: metrics lines, and checkpoints as bytes.
import * as fs from 'node:fs';
import * as msam from '../../lib';

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
