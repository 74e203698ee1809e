// Symmetric label noise on the training set (data.labelNoise, --label-noise): the setting in which
// sharpness-aware methods are known to help most. Applied after the validation split, to the
// training part only: the validation and test labels stay clean, so that model selection and the
// reported accuracy measure what was learned, not how well the noise was fitted.
import type { Dataset } from '../data/loader';
import { Rng, permutation } from '../data/rng';
import { tensor } from '../tensor/creation';

export interface LabelNoiseReport {
  fraction: number;
  /** Training examples whose label was changed: exactly round(fraction · N). */
  corrupted: number;
  /** Training examples in all. */
  examples: number;
}

/**
 * Changes exactly round(fraction · N) training labels, each to a class drawn uniformly from the
 * C − 1 *other* classes (so every chosen label really is wrong). Which examples, and their new
 * classes, are a pure function of the run's seed (an Rng stream of its own): the same seed
 * corrupts the same examples the same way for every method, so a comparison's methods see the
 * same noisy data. Returns the new training set (the old targets are disposed) and a report.
 */
export function corruptLabels(train: Dataset, numClasses: number, fraction: number, seed: number): { train: Dataset; report: LabelNoiseReport } {
  const n = train.targets.shape[0] as number;
  const corrupted = Math.round(fraction * n);
  if (corrupted === 0) return { train, report: { fraction, corrupted: 0, examples: n } };
  if (numClasses < 2) throw new RangeError(`data.labelNoise: needs at least two classes to change a label, the data set has ${numClasses}`);
  const labels = Array.from(train.targets.data() as ArrayLike<number | bigint>, Number);
  const rng = new Rng(seed, 'label-noise');
  const order = permutation(n, rng);
  for (let i = 0; i < corrupted; i++) {
    const k = order[i] as number;
    const old = labels[k] as number;
    // Uniform over the other classes: draw from C − 1 values and step over the true one.
    const drawn = rng.int(numClasses - 1);
    labels[k] = drawn >= old ? drawn + 1 : drawn;
  }
  const targets = tensor(labels, { dtype: train.targets.dtype });
  train.targets.dispose();
  return { train: { ...train, targets }, report: { fraction, corrupted, examples: n } };
}
