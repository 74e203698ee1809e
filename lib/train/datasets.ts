// The data sets train() knows by name: the training and test splits as in-memory tensors, and how
// to normalize them. Fashion-MNIST and MNIST load from IDX files; CIFAR and GLUE validate in
// presets but their loaders are not in this version yet.
import { FASHION_MNIST_DIR, loadMnist } from '../data/mnist';
import type { Dataset } from '../data/loader';
import type { TrainConfig } from './config';

export interface LoadedData {
  train: Dataset;
  test: Dataset;
  numClasses: number;
  /** One example's shape. */
  inputShape: number[];
  mean: number[];
  std: number[];
}

/** Per-channel statistics of the training images, scaled to [0, 1] (the usual published values). */
export const STATS: Record<string, { mean: number[]; std: number[] }> = {
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  mnist: { mean: [0.1307], std: [0.3081] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
};

export function loadData(spec: TrainConfig['data']): LoadedData {
  switch (spec.name) {
    case 'fashion-mnist':
    case 'mnist': {
      if (spec.name === 'mnist' && spec.dir === undefined) {
        throw new Error("data.dir: MNIST has no standard place on this system; give the directory that holds its IDX files");
      }
      const dir = spec.dir ?? FASHION_MNIST_DIR;
      const train = loadMnist({ dir, split: 'train' });
      const test = loadMnist({ dir, split: 'test' });
      const { mean, std } = STATS[spec.name] as { mean: number[]; std: number[] };
      return {
        train: { inputs: train.images, targets: train.labels, numClasses: train.numClasses },
        test: { inputs: test.images, targets: test.labels, numClasses: test.numClasses },
        numClasses: train.numClasses,
        inputShape: train.images.shape.slice(1),
        mean,
        std,
      };
    }
    default:
      throw new Error(`data.name '${spec.name}': the ${spec.name.startsWith('glue') ? 'GLUE' : 'CIFAR'} loader is not in this version yet (presets that use it validate, but cannot train)`);
  }
}
