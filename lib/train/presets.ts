// Named presets: the paper's settings (Appendix B, Tables B.1 and B.2; Appendix C, Table C.1) and
// the default small run on Fashion-MNIST. A preset is a complete configuration; a config file and
// flags override its fields (resolve.ts). The paper's presets name data and models that may not
// be on this machine: they validate everywhere, and train where their data and model exist.
import type { TrainConfigInput } from './config';

export interface Preset {
  description: string;
  /** Where its values come from. */
  source: string;
  config: TrainConfigInput;
}

const CIFAR_AUGMENT = { crop: 4, flip: true, cutout: 0 };

// Table B.1 (CNNs): SGD, momentum 0.9, weight decay 5e-4, label smoothing 0.1, one cycle with 5%
// warm-up, 200 epochs, ρ = 0.2; batch 512 in micro-batches of 16 (m = 32). Peak lr 0.5 / 0.75.
function cnn(dataset: 'cifar10' | 'cifar100', model: 'resnet50' | 'wrn28-10'): Preset {
  return {
    description: `${model === 'resnet50' ? 'ResNet-50' : 'WRN-28-10'} on ${dataset === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'}, mSAM m = 32 (the paper's Table 2)`,
    source: 'Appendix B, Table B.1',
    config: {
      data: { name: dataset, augment: CIFAR_AUGMENT },
      model:
        model === 'resnet50'
          ? { name: 'resnet50', options: { stem: 'cifar' } }
          : { name: 'wideResNet', options: { depth: 28, widen: 10 } },
      method: 'msam',
      microBatchSize: 16,
      rho: 0.2,
      optimizer: { name: 'sgd', lr: model === 'resnet50' ? 0.5 : 0.75, momentum: 0.9, weightDecay: 5e-4 },
      schedule: { name: 'oneCycle', warmupFraction: 0.05 },
      labelSmoothing: 0.1,
      epochs: 200,
      batchSize: 512,
    },
  };
}

// Table B.2 (ViT-B/16, fine-tuned from a pre-trained checkpoint at 224²): AdamW, lr 1e-3, weight
// decay 0.3, one cycle with 5% warm-up, gradient clipping at norm 1, 20 epochs, ρ = 0.3, m = 32.
function vit(dataset: 'cifar10' | 'cifar100'): Preset {
  return {
    description: `ViT-B/16 fine-tuned on ${dataset === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} resized to 224², mSAM m = 32 (the paper's Table 2; give the pretrained ViT-B/16 with --pretrained PATH)`,
    source: 'Appendix B, Table B.2',
    config: {
      data: { name: dataset, augment: CIFAR_AUGMENT, imageSize: 224 },
      model: { name: 'vit', options: { variant: 'b16' } },
      method: 'msam',
      microBatchSize: 16,
      rho: 0.3,
      optimizer: { name: 'adamw', lr: 1e-3, weightDecay: 0.3 },
      schedule: { name: 'oneCycle', warmupFraction: 0.05 },
      gradClip: 1,
      epochs: 20,
      batchSize: 512,
    },
  };
}

// Table C.1 (RoBERTa-base on GLUE): AdamW, weight decay 0.01, one cycle with 6% warm-up, ρ 0.01
// (CoLA, MRPC) or 0.05 (SST-2, QQP); batch 32 in micro-batches of 4 (m = 8). The paper fine-tunes
// the pretrained roberta-base: `--pretrained DIR` (models.fromPretrained); without it the same
// shape trains from scratch.
function glue(task: 'cola' | 'mrpc' | 'sst2' | 'qqp', lr: number, epochs: number, rho: number): Preset {
  return {
    description: `RoBERTa-base fine-tuned on GLUE ${task.toUpperCase()}, mSAM m = 8 (the paper's Table 3; give the pretrained roberta-base with --pretrained DIR)`,
    source: 'Appendix C, Table C.1',
    config: {
      data: { name: `glue-${task}` },
      model: { name: 'textClassifier', options: { vocabSize: 50265 } }, // RoBERTa-base's shape (the builder's defaults)
      method: 'msam',
      microBatchSize: 4,
      rho,
      optimizer: { name: 'adamw', lr, weightDecay: 0.01 },
      schedule: { name: 'oneCycle', warmupFraction: 0.06 },
      epochs,
      batchSize: 32,
    },
  };
}

export const presets = {
  // The default here: a small CNN on Fashion-MNIST, sized to reach 85%+ test accuracy in about two
  // minutes on two CPU cores (README, "Training", has the measurement).
  'fashion-mnist': {
    description: 'a small CNN on Fashion-MNIST with mSAM (m = 4, ρ = 0.05): 85%+ test accuracy in about two minutes on 2 CPU cores',
    source: 'this project (the paper\'s recipe scaled down: SGD momentum 0.9, one cycle, label smoothing 0.1)',
    config: {
      data: { name: 'fashion-mnist' },
      model: { name: 'smallCnn', options: { width: 16 } },
      method: 'msam',
      m: 4,
      rho: 0.05,
      optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
      schedule: { name: 'oneCycle', warmupFraction: 0.05 },
      labelSmoothing: 0.1,
      epochs: 3,
      batchSize: 128,
    },
  },
  'cifar10-resnet50': cnn('cifar10', 'resnet50'),
  'cifar100-resnet50': cnn('cifar100', 'resnet50'),
  'cifar10-wrn28-10': cnn('cifar10', 'wrn28-10'),
  'cifar100-wrn28-10': cnn('cifar100', 'wrn28-10'),
  'cifar10-vit-b16': vit('cifar10'),
  'cifar100-vit-b16': vit('cifar100'),
  'glue-cola-roberta': glue('cola', 1e-5, 60, 0.01),
  'glue-mrpc-roberta': glue('mrpc', 1e-5, 60, 0.01),
  'glue-sst2-roberta': glue('sst2', 5e-6, 20, 0.05),
  'glue-qqp-roberta': glue('qqp', 2e-5, 15, 0.05),
} satisfies Record<string, Preset>;

export type PresetName = keyof typeof presets;
export const DEFAULT_PRESET: PresetName = 'fashion-mnist';
export const PRESET_NAMES = Object.keys(presets) as PresetName[];
