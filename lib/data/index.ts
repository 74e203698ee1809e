// msam.data: data sets and loaders.
export { DataLoader, disposeBatch, checkLabels, type Dataset, type DataLoaderOptions } from './loader';
export { Rng, permutation } from './rng';
export { cropAndFlip, cutout, normalize, drawAugment, type AugmentOptions, type TransformOptions, type AugmentDraw } from './transforms';
export { loadMnist, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, type ImageDataset } from './mnist';
export { loadCifar, cifarFiles, type CifarVariant } from './cifar';
export { loadGlue, readGlueTsv, GLUE_TASKS, type GlueTask, type GlueMetric, type GlueData, type GlueOptions, type GlueRows, type TextSplit } from './glue';
export { JsonTokenizer, encodeTexts, longestFirst, type TextTokenizer, type EncodedText } from './tokenizer';
export { PretrainedTokenizer } from './pretrained-tokenizer';
export { WordVocab, words, SPECIAL_TOKENS, BOS_ID, PAD_ID, EOS_ID, UNK_ID } from './vocab';
export { accuracy, f1Score, matthewsCorrcoef, confusion, METRICS, type MetricName } from './metrics';
export { readIdx, DataFileError, type IdxArray } from './idx';
