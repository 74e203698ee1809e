// Small models for MNIST-sized images (28×28 by default): a two-stage CNN and an MLP.
import * as nn from '../lib/nn';
import { ModelOptions } from './options';

export interface SmallCnnOptions {
  /** Default 10. */
  numClasses?: number;
  /** Default 1 (grey images). */
  inChannels?: number;
  /** Channels of the first convolution (the second has twice as many); default 32. */
  width?: number;
  /** Before the classifier; default 0.25. */
  dropout?: number;
  /** Square images of this side; default 28. Must be a multiple of 4 (two 2×2 poolings). */
  imageSize?: number;
}

/**
 * (conv 3×3 → BatchNorm → ReLU → 2×2 max-pool) twice, then dropout and a linear classifier:
 * conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten, dropout, fc. With the defaults
 * (width 32: 50k parameters) it reaches 86% test accuracy on Fashion-MNIST after one epoch and 89%
 * after two (SGD, lr 0.01, momentum 0.9, batch 128; about a minute an epoch on two CPU cores).
 */
export function smallCnn(options?: SmallCnnOptions): nn.Sequential {
  const o = new ModelOptions<SmallCnnOptions>('smallCnn', options, ['numClasses', 'inChannels', 'width', 'dropout', 'imageSize']);
  const numClasses = o.int('numClasses', 10);
  const inChannels = o.int('inChannels', 1);
  const width = o.int('width', 32);
  const dropout = o.number('dropout', 0.25, 0, 1);
  const imageSize = o.int('imageSize', 28);
  if (imageSize % 4 !== 0) o.fail('imageSize', `must be a multiple of 4 (two 2×2 poolings), got ${imageSize}`);
  const side = imageSize / 4;
  return new nn.Sequential([
    ['conv1', new nn.Conv2d(inChannels, width, 3, { padding: 1 })],
    ['bn1', new nn.BatchNorm2d(width)],
    ['relu1', new nn.ReLU()],
    ['pool1', new nn.MaxPool2d(2)],
    ['conv2', new nn.Conv2d(width, 2 * width, 3, { padding: 1 })],
    ['bn2', new nn.BatchNorm2d(2 * width)],
    ['relu2', new nn.ReLU()],
    ['pool2', new nn.MaxPool2d(2)],
    ['flatten', new nn.Flatten(1)],
    ['dropout', new nn.Dropout(dropout)],
    ['fc', new nn.Linear(2 * width * side * side, numClasses)],
  ]);
}

export interface MlpOptions {
  /** Inputs per example after flattening; default 784 (28×28). */
  inFeatures?: number;
  /** Hidden layer widths, each followed by a ReLU; default [256]. Empty: a linear classifier. */
  hidden?: number[];
  /** Default 10. */
  numClasses?: number;
}

/** flatten, then fc1, relu1, fc2, relu2, ..., and a last fc{k} to the classes. Takes [N, ...] with inFeatures values per example. */
export function mlp(options?: MlpOptions): nn.Sequential {
  const o = new ModelOptions<MlpOptions>('mlp', options, ['inFeatures', 'hidden', 'numClasses']);
  const inFeatures = o.int('inFeatures', 784);
  const hidden = o.ints('hidden', [256]);
  const numClasses = o.int('numClasses', 10);
  const layers: [string, nn.Module][] = [['flatten', new nn.Flatten(1)]];
  let width = inFeatures;
  hidden.forEach((h, i) => {
    layers.push([`fc${i + 1}`, new nn.Linear(width, h)], [`relu${i + 1}`, new nn.ReLU()]);
    width = h;
  });
  layers.push([`fc${hidden.length + 1}`, new nn.Linear(width, numClasses)]);
  return new nn.Sequential(layers);
}
