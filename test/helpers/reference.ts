// The tests' reference libraries (PyTorch and torchvision in Python, on the same libtorch generation
// as msam's binary; bench/python.ts finds it). Where there is none, a comparison is skipped with the
// reason; under MSAM_REQUIRE_TORCH=1 (set by .ci/run) a missing reference fails the run instead, so
// that CI can never pass by skipping its checks against PyTorch.
import { referencePython } from '../../bench/python';

export interface Reference {
  /** The interpreter to run the reference scripts with (null: none, see reason). */
  python: string | null;
  ok: boolean;
  /** Why there is none (empty when there is). */
  reason: string;
}

export function reference(modules: string[] = ['torch'], what = 'the comparison with PyTorch'): Reference {
  const r = referencePython(modules);
  if (r.python !== null) return { python: r.python, ok: true, reason: '' };
  if (process.env['MSAM_REQUIRE_TORCH'] === '1') {
    throw new Error(`MSAM_REQUIRE_TORCH=1 and ${what} has no reference: ${r.reason}`);
  }
  return { python: null, ok: false, reason: r.reason };
}
