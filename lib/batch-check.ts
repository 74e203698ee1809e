// What a training step checks of its batch before any native work, so that a mistake is named in
// the user's terms (which field, what it is, what to do) rather than as libtorch's "expected scalar
// type Long" or a read of a disposed handle deep inside the step.
import { Tensor, expectTensor } from './tensor/core';

const INTEGER = new Set(['int64', 'int32', 'int16', 'int8', 'uint8']);

function live(t: unknown, what: string): Tensor {
  const tensor = expectTensor(t, what);
  if (tensor.isDisposed) throw new TypeError(`${what} was disposed before the step: keep a batch's tensors until its step() has resolved`);
  return tensor;
}

/**
 * The batch's inputs and target, checked: tensors, not disposed, one first dimension; with `loss`
 * 'cross_entropy', 1-D targets must be class indices (null: a closure computes the loss).
 */
export function checkedBatch(batch: { input: Tensor | Tensor[]; target: Tensor }, loss: string | null, who = 'MSAM'): { inputs: Tensor[]; target: Tensor } {
  const inputs = (Array.isArray(batch.input) ? batch.input : [batch.input]).map((t, i) => live(t, `${who}: batch.input${Array.isArray(batch.input) ? `[${i}]` : ''}`));
  const target = live(batch.target, `${who}: batch.target`);
  const n = target.shape[0];
  if (loss === 'cross_entropy' && target.ndim === 1 && !INTEGER.has(target.dtype)) {
    throw new TypeError(`${who}: batch.target is ${target.dtype} of shape [${target.shape.join(', ')}]: cross-entropy takes class indices as an integer tensor; convert it with target.to('int64')`);
  }
  inputs.forEach((x, i) => {
    if (x.shape[0] !== n) throw new RangeError(`${who}: batch.input${inputs.length > 1 ? `[${i}]` : ''} has ${x.shape[0] ?? 'no'} examples (shape [${x.shape.join(', ')}]) but batch.target has ${n ?? 'no'} (shape [${target.shape.join(', ')}])`);
  });
  return { inputs, target };
}
