// Counting what native work dispatches: the ATen ops, the host reads (points where the host waits
// for a device value) and msam's own bookkeeping ops, through an at::RecordFunction observer
// (csrc/profile/op_count.h defines each count precisely; README, "Benchmarks" summarizes it).
import { native } from './native';

export interface OpCounts {
  /** ATen ops dispatched at the top level (not counting the ops a composite or a CPU fallback runs inside). */
  ops: number;
  /** `.item()` and other scalar reads (aten::_local_scalar_dense), copies between host and device, and `.cpu()`/`.to(device)` calls. */
  hostReads: number;
  /** Top-level ops inside msam's bookkeeping (norm, perturb, restore, accumulate, in-loss weight decay). */
  bookkeeping: number;
  /** The host reads by op name. */
  reads: Record<string, number>;
  /** The top-level ops by name. */
  byName: Record<string, number>;
}

/**
 * Runs `fn` with the observer installed and returns what it counted. The observer is process-wide
 * (work on other threads meanwhile counts too) and counts do not nest; it slows every op while
 * installed (it records each op's arguments), so time nothing inside it.
 */
export async function countOps<T>(fn: () => T | Promise<T>): Promise<{ result: T; counts: OpCounts }> {
  native.countOpsStart();
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    native.countOpsStop();
    throw e;
  }
  return { result, counts: native.countOpsStop() };
}
