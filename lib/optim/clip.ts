// Gradient clipping (torch.nn.utils.clip_grad_norm_), native: csrc/optim/clip_grad.cc.
import { native } from '../native';
import { Tensor, expectTensor } from '../tensor/core';
import { describe } from './options';

export interface ClipGradNormOptions {
  /** Throw (changing no gradient) when the total norm is NaN or infinite; default false, as torch. */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients of `params` in place so that their total norm (all gradients as one
 * vector; `normType` may be Infinity) is at most `maxNorm`: each is multiplied by
 * min(1, maxNorm / (total + 1e-6)). Parameters without a gradient are skipped. Returns the total
 * norm before clipping (0 when no parameter has a gradient).
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, normType = 2, opts: ClipGradNormOptions = {}): number {
  const list = params instanceof Tensor ? [params] : params !== null && typeof params === 'object' && Symbol.iterator in params ? Array.from(params) : null;
  if (list === null) throw new TypeError(`clipGradNorm: params must be a Tensor or an array of Tensors, got ${describe(params)}`);
  const handles = list.map((t, i) => expectTensor(t, `clipGradNorm: params[${i}]`).handle);
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) throw new TypeError(`clipGradNorm: maxNorm must be a number, got ${describe(maxNorm)}`);
  if (typeof normType !== 'number' || Number.isNaN(normType)) throw new TypeError(`clipGradNorm: normType must be a number (or Infinity), got ${describe(normType)}`);
  const errorIfNonfinite = opts.errorIfNonfinite ?? false;
  if (typeof errorIfNonfinite !== 'boolean') throw new TypeError(`clipGradNorm: errorIfNonfinite must be a boolean, got ${describe(errorIfNonfinite)}`);
  return native.clipGradNorm(handles, maxNorm, normType, errorIfNonfinite);
}
