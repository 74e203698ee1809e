// Autograd controls: grad mode and torch.autograd.grad (with createGraph for double backward).
import { native } from './native';
import { Tensor, expectTensor } from './tensor/core';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/**
 * Runs `fn` with gradient recording off (PyTorch's torch.no_grad()). Grad mode is per thread, as in
 * PyTorch: for an async `fn` it covers the synchronous part only.
 */
export const noGrad = <T>(fn: () => T): T => withGradMode(false, fn);
/** Runs `fn` with gradient recording on, e.g. inside noGrad. */
export const enableGrad = <T>(fn: () => T): T => withGradMode(true, fn);
export const isGradEnabled = (): boolean => native.isGradEnabled();

export interface GradOptions {
  /** Weights for each output (required for non-scalar outputs). */
  gradOutputs?: (Tensor | null)[];
  /** Keep the graph for another backward; defaults to createGraph. */
  retainGraph?: boolean;
  /** Record the gradient computation itself, for higher-order derivatives (Hessian-vector products). */
  createGraph?: boolean;
  /** Return null for inputs the outputs do not depend on, instead of throwing. */
  allowUnused?: boolean;
}

/** The gradients of `outputs` with respect to `inputs` (torch.autograd.grad); .grad is left alone. */
function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  const outs = (Array.isArray(outputs) ? outputs : [outputs]).map((t, i) => expectTensor(t, `autograd.grad: outputs[${i}]`));
  const ins = (Array.isArray(inputs) ? inputs : [inputs]).map((t, i) => expectTensor(t, `autograd.grad: inputs[${i}]`));
  const gradOutputs = opts.gradOutputs?.map((t, i) => (t === null ? null : expectTensor(t, `autograd.grad: gradOutputs[${i}]`).handle)) ?? null;
  const result = native.grad(
    outs.map((t) => t.handle),
    ins.map((t) => t.handle),
    gradOutputs,
    opts.retainGraph,
    opts.createGraph ?? false,
    opts.allowUnused ?? false,
  );
  return result.map((h) => (h === null ? null : new Tensor(h)));
}

export const autograd = { grad, noGrad, enableGrad, isGradEnabled };
