// Mixed precision for code that runs on the JS thread (evaluation, the closure form of MSAM):
// autocast on a device while `fn` runs, as torch.autocast. The native mSAM step takes the same
// setting as its `autocast` option.
import { native } from './native';
import type { Device } from './types';

export type AutocastDtype = 'bfloat16' | 'float16';

/** Runs `fn` with autocast to `dtype` on `device` (null: off), restoring the previous setting. */
export function withAutocast<T>(device: Device, dtype: AutocastDtype | null, fn: () => T): T {
  const previous = native.setAutocast(device, dtype);
  try {
    return fn();
  } finally {
    native.setAutocast(device, previous);
  }
}
