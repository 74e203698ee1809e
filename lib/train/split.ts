// The validation split: a fixed, seeded part of the training set held out to choose the best
// checkpoint and to stop early, so that the test set plays no part in model selection.
import type { Dataset } from '../data/loader';
import { Rng, permutation } from '../data/rng';
import { tensor } from '../tensor/creation';
import type { Tensor } from '../tensor/core';
import type { TrainConfig } from './config';
import { corruptLabels, type LabelNoiseReport } from './label-noise';

/**
 * The split's seed. It does not follow the run's seed: runs of a grid (methods × seeds) then
 * choose their best models on the same examples and are comparable.
 */
export const VALIDATION_SEED = 0x5a11d;

const inputsOf = (d: Dataset): Tensor[] => (Array.isArray(d.inputs) ? d.inputs : [d.inputs]);

/** The first `limit` examples of `data` (new tensors; `data` is left as it is). */
function take(data: Dataset, index: Int32Array | null, limit: number): Dataset {
  const pick = (t: Tensor): Tensor => {
    if (index === null) return t.narrow(0, 0, limit).contiguous();
    const idx = tensor(Array.from(index), { dtype: 'int64' });
    try {
      return t.indexSelect(0, idx);
    } finally {
      idx.dispose();
    }
  };
  const inputs = inputsOf(data).map(pick);
  return { inputs: Array.isArray(data.inputs) ? inputs : (inputs[0] as Tensor), targets: pick(data.targets), ...(data.numClasses !== undefined ? { numClasses: data.numClasses } : {}) };
}

/**
 * Cuts `data` to its first `trainLimit` examples, then holds out round(fraction · N) of them (at
 * least one when fraction > 0) at positions drawn from a permutation seeded by VALIDATION_SEED.
 * Both parts keep the data set's order. Returns new tensors; the caller disposes `data`.
 */
export function splitValidation(data: Dataset, fraction: number, trainLimit?: number): { train: Dataset; val: Dataset | null } {
  const total = data.targets.shape[0] as number;
  const n = Math.min(total, trainLimit ?? total);
  if (fraction === 0) return { train: take(data, null, n), val: null };
  const nVal = Math.max(1, Math.round(fraction * n));
  if (nVal >= n) throw new RangeError(`data.valFraction: ${fraction} of ${n} training examples leaves none to train on`);
  const order = permutation(n, new Rng(VALIDATION_SEED, 'validation'));
  const held = new Uint8Array(n);
  for (let i = 0; i < nVal; i++) held[order[i] as number] = 1;
  const valIndex = new Int32Array(nVal);
  const trainIndex = new Int32Array(n - nVal);
  for (let i = 0, v = 0, t = 0; i < n; i++) {
    if (held[i] === 1) valIndex[v++] = i;
    else trainIndex[t++] = i;
  }
  return { train: take(data, trainIndex, n - nVal), val: take(data, valIndex, nVal) };
}

/**
 * The run's sets from a loaded data set: the training set cut to data.trainLimit, the validation
 * split held out of it, then data.labelNoise applied to what is left for training (validation and
 * test labels stay clean). Disposes `data.train`; the caller owns the returned tensors.
 */
export function runSplits(data: Dataset, spec: Pick<TrainConfig['data'], 'valFraction' | 'trainLimit' | 'labelNoise'>, numClasses: number, seed: number): { train: Dataset; val: Dataset | null; labelNoise: LabelNoiseReport | null } {
  const split = splitValidation(data, spec.valFraction, spec.trainLimit);
  for (const t of [data.inputs, data.targets].flat()) t.dispose();
  if (spec.labelNoise === 0) return { ...split, labelNoise: null };
  const noisy = corruptLabels(split.train, numClasses, spec.labelNoise, seed);
  return { train: noisy.train, val: split.val, labelNoise: noisy.report };
}
