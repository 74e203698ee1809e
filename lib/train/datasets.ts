// The data sets train() knows by name: the training and test splits as in-memory tensors, how to
// normalize them, and the metric the evaluation reports. Fashion-MNIST and MNIST load from IDX
// files, CIFAR-10/100 from their binary version, GLUE CoLA/MRPC/SST-2/QQP from their TSV files
// (the dev split is the test set), all from data.dir.
import { loadCifar } from '../data/cifar';
import { GLUE_TASKS, loadGlue, type GlueTask } from '../data/glue';
import type { Dataset } from '../data/loader';
import type { MetricName } from '../data/metrics';
import { FASHION_MNIST_DIR, loadMnist } from '../data/mnist';
import type { TrainConfig } from './config';

export interface LoadedData {
  train: Dataset;
  test: Dataset;
  numClasses: number;
  /** One example's shape (images: [C, H, W]; text: [L], the token ids'). */
  inputShape: number[];
  /** Normalization of images (none for token ids). */
  mean?: number[];
  std?: number[];
  /** What the evaluation reports besides loss and accuracy (GLUE: the task's metric). */
  metric: MetricName;
  /** Text data sets: the tokenizer's vocabulary size and the longest sequence. */
  vocabSize?: number;
  maxLength?: number;
  /** What tokenized the text, for the log. */
  tokenizer?: string;
}

/** Per-channel statistics of the training images, scaled to [0, 1] (the usual published values). */
export const STATS: Record<string, { mean: number[]; std: number[] }> = {
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  mnist: { mean: [0.1307], std: [0.3081] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
};

const needDir = (name: string, what: string): never => {
  throw new Error(`data.dir: ${name} has no standard place on this system; give the directory that holds ${what} (--data-dir or data.dir)`);
};

export function loadData(spec: TrainConfig['data']): LoadedData {
  switch (spec.name) {
    case 'fashion-mnist':
    case 'mnist': {
      if (spec.name === 'mnist' && spec.dir === undefined) needDir('MNIST', 'its IDX files');
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
        metric: 'accuracy',
      };
    }
    case 'cifar10':
    case 'cifar100': {
      const dir = spec.dir ?? needDir(spec.name === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100', spec.name === 'cifar10' ? 'data_batch_1.bin … data_batch_5.bin and test_batch.bin' : 'train.bin and test.bin');
      const train = loadCifar({ dir, variant: spec.name, split: 'train' });
      const test = loadCifar({ dir, variant: spec.name, split: 'test' });
      const { mean, std } = STATS[spec.name] as { mean: number[]; std: number[] };
      return {
        train: { inputs: train.images, targets: train.labels, numClasses: train.numClasses },
        test: { inputs: test.images, targets: test.labels, numClasses: test.numClasses },
        numClasses: train.numClasses,
        inputShape: [3, 32, 32],
        mean,
        std,
        metric: 'accuracy',
      };
    }
    case 'glue-cola':
    case 'glue-mrpc':
    case 'glue-sst2':
    case 'glue-qqp': {
      const task = spec.name.slice('glue-'.length) as GlueTask;
      const dir = spec.dir ?? needDir(`GLUE ${GLUE_TASKS[task].title}`, 'the task\'s train.tsv and dev.tsv');
      const g = loadGlue({ task, dir, tokenizer: spec.tokenizer, maxLength: spec.maxLength });
      return {
        train: { inputs: [g.train.ids, g.train.mask], targets: g.train.labels, numClasses: g.numClasses },
        test: { inputs: [g.test.ids, g.test.mask], targets: g.test.labels, numClasses: g.numClasses },
        numClasses: g.numClasses,
        inputShape: g.train.ids.shape.slice(1),
        metric: g.metric,
        vocabSize: g.tokenizer.vocabSize,
        maxLength: spec.maxLength,
        tokenizer: g.tokenizer.kind,
      };
    }
  }
}
