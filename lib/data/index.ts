// msam.data: data sets and loaders.
export { DataLoader, disposeBatch, checkLabels, type Dataset, type DataLoaderOptions } from './loader';
export { Rng, permutation } from './rng';
export { cropAndFlip, cutout, normalize, drawAugment, type AugmentOptions, type TransformOptions, type AugmentDraw } from './transforms';
export { loadMnist, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, type ImageDataset } from './mnist';
export { readIdx, DataFileError, type IdxArray } from './idx';
