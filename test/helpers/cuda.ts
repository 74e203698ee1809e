// CUDA tests are gated on one thing: a visible CUDA device. Their titles say why they were
// skipped, naming what is missing (a CPU-only binary, or a CUDA binary with no GPU visible).
import { describe } from 'vitest';
import * as msam from '../../lib';

function why(): string | null {
  if (msam.cuda.isAvailable()) return null;
  const v = msam.version();
  return v.cuda === null
    ? `no CUDA device: this binary is built against a CPU-only libtorch ${v.libtorch}`
    : `no CUDA device: a CUDA ${v.cuda} binary (libtorch ${v.libtorch}), but no GPU is visible`;
}

/** Why the CUDA tests are skipped here, or null when a GPU is visible. */
export const cudaSkipReason: string | null = why();

/** describe() for tests that need a GPU: skipped, with the reason in the title, when there is none. */
export function describeCuda(title: string, fn: () => void): void {
  describe.skipIf(cudaSkipReason !== null)(cudaSkipReason === null ? title : `${title} (skipped: ${cudaSkipReason})`, fn);
}
