// Neural-network functions (PyTorch's torch.nn.functional): layers, pooling, normalization, losses.
import { Op, Tensor, callTensor, expectTensor } from './core';
import { installMethods, type MethodsOf } from './methods';

const CONV2D = new Op('aten::conv2d');
const LINEAR = new Op('aten::linear');
const BATCH_NORM = new Op('aten::batch_norm');
const LAYER_NORM = new Op('aten::layer_norm');
const GROUP_NORM = new Op('aten::group_norm');
const DROPOUT = new Op('aten::dropout');
const MAX_POOL2D = new Op('aten::max_pool2d');
const AVG_POOL2D = new Op('aten::avg_pool2d');
const ADAPTIVE_AVG_POOL2D = new Op('aten::adaptive_avg_pool2d');
const EMBEDDING = new Op('aten::embedding');
const CONSTANT_PAD = new Op('aten::constant_pad_nd');
// By the number of padded dims (padding.length / 2), as F.pad picks them.
const REFLECTION_PAD = [new Op('aten::reflection_pad1d'), new Op('aten::reflection_pad2d'), new Op('aten::reflection_pad3d')];
const REPLICATION_PAD = [new Op('aten::replication_pad1d'), new Op('aten::replication_pad2d'), new Op('aten::replication_pad3d')];
const CROSS_ENTROPY = new Op('aten::cross_entropy_loss');
const NLL_LOSS = new Op('aten::nll_loss_nd');
const MSE_LOSS = new Op('aten::mse_loss');
const BCE_WITH_LOGITS = new Op('aten::binary_cross_entropy_with_logits');
const ONE_HOT = new Op('aten::one_hot');

export type Reduction = 'none' | 'mean' | 'sum';
// ATen's at::Reduction enum
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
function reduction(r: Reduction | undefined, what: string): number {
  const v = REDUCTION[r ?? 'mean'];
  if (v === undefined) throw new TypeError(`${what}: reduction must be 'none', 'mean' or 'sum', got '${String(r)}'`);
  return v;
}

type Pair = number | [number, number];
const optTensor = (t: Tensor | null | undefined, what: string): Tensor | null => (t == null ? null : expectTensor(t, what));

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}
export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  training?: boolean;
  momentum?: number;
  eps?: number;
}
export interface PoolOptions {
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}
export interface CrossEntropyOptions {
  weight?: Tensor | null;
  reduction?: Reduction;
  ignoreIndex?: number;
  labelSmoothing?: number;
}

const functionalOps = {
  conv2d: (input: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor =>
    callTensor(CONV2D, input, expectTensor(weight, "conv2d: argument 'weight'"), optTensor(bias, "conv2d: argument 'bias'"),
      o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1),
  /** x Wᵀ + b */
  linear: (input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor =>
    callTensor(LINEAR, input, expectTensor(weight, "linear: argument 'weight'"), optTensor(bias, "linear: argument 'bias'")),
  /** Batch normalization; in training mode it uses batch statistics and updates the running ones in place. */
  batchNorm: (input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, o: BatchNormOptions = {}): Tensor =>
    callTensor(BATCH_NORM, input, optTensor(o.weight, "batchNorm: option 'weight'"), optTensor(o.bias, "batchNorm: option 'bias'"),
      optTensor(runningMean, "batchNorm: argument 'runningMean'"), optTensor(runningVar, "batchNorm: argument 'runningVar'"),
      o.training ?? false, o.momentum ?? 0.1, o.eps ?? 1e-5, true),
  layerNorm: (input: Tensor, normalizedShape: number[], weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor =>
    callTensor(LAYER_NORM, input, normalizedShape, optTensor(weight, "layerNorm: argument 'weight'"), optTensor(bias, "layerNorm: argument 'bias'"), eps, true),
  groupNorm: (input: Tensor, numGroups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor =>
    callTensor(GROUP_NORM, input, numGroups, optTensor(weight, "groupNorm: argument 'weight'"), optTensor(bias, "groupNorm: argument 'bias'"), eps, true),
  /** Zeroes elements with probability p and scales the rest by 1/(1-p); identity when not training. */
  dropout: (input: Tensor, p = 0.5, training = true): Tensor => {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
    return callTensor(DROPOUT, input, p, training);
  },
  maxPool2d: (input: Tensor, kernelSize: Pair, o: PoolOptions = {}): Tensor =>
    callTensor(MAX_POOL2D, input, kernelSize, o.stride ?? [], o.padding ?? 0, 1, o.ceilMode ?? false),
  avgPool2d: (input: Tensor, kernelSize: Pair, o: PoolOptions & { countIncludePad?: boolean } = {}): Tensor =>
    callTensor(AVG_POOL2D, input, kernelSize, o.stride ?? [], o.padding ?? 0, o.ceilMode ?? false, o.countIncludePad ?? true, null),
  adaptiveAvgPool2d: (input: Tensor, outputSize: Pair): Tensor => callTensor(ADAPTIVE_AVG_POOL2D, input, outputSize),
  /** Pads the last dims: [left, right, top, bottom, ...] as PyTorch's F.pad. */
  pad: (input: Tensor, padding: number[], mode: 'constant' | 'reflect' | 'replicate' = 'constant', value = 0): Tensor => {
    if (mode === 'constant') return callTensor(CONSTANT_PAD, input, padding, value);
    if (mode === 'reflect' || mode === 'replicate') {
      const op = (mode === 'reflect' ? REFLECTION_PAD : REPLICATION_PAD)[padding.length / 2 - 1];
      if (op === undefined) throw new RangeError(`pad: '${mode}' padding takes 2, 4 or 6 values (1 to 3 dims), got ${padding.length}`);
      return callTensor(op, input, padding);
    }
    throw new TypeError(`pad: mode must be 'constant', 'reflect' or 'replicate', got '${String(mode)}'`);
  },
  /** Cross-entropy of logits [N, C, ...] against class indices [N, ...] (or class probabilities), with label smoothing. */
  crossEntropy: (input: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor => {
    const smoothing = o.labelSmoothing ?? 0;
    if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${smoothing}`);
    return callTensor(CROSS_ENTROPY, input, expectTensor(target, "crossEntropy: argument 'target'"), optTensor(o.weight, "crossEntropy: option 'weight'"),
      reduction(o.reduction, 'crossEntropy'), o.ignoreIndex ?? -100, smoothing);
  },
  /** Negative log-likelihood of log-probabilities [N, C, ...] against class indices. */
  nllLoss: (input: Tensor, target: Tensor, o: { weight?: Tensor | null; reduction?: Reduction; ignoreIndex?: number } = {}): Tensor =>
    callTensor(NLL_LOSS, input, expectTensor(target, "nllLoss: argument 'target'"), optTensor(o.weight, "nllLoss: option 'weight'"),
      reduction(o.reduction, 'nllLoss'), o.ignoreIndex ?? -100),
  mseLoss: (input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor =>
    callTensor(MSE_LOSS, input, expectTensor(target, "mseLoss: argument 'target'"), reduction(o.reduction, 'mseLoss')),
  binaryCrossEntropyWithLogits: (input: Tensor, target: Tensor, o: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {}): Tensor =>
    callTensor(BCE_WITH_LOGITS, input, expectTensor(target, "binaryCrossEntropyWithLogits: argument 'target'"),
      optTensor(o.weight, "binaryCrossEntropyWithLogits: option 'weight'"), optTensor(o.posWeight, "binaryCrossEntropyWithLogits: option 'posWeight'"),
      reduction(o.reduction, 'binaryCrossEntropyWithLogits')),
  /** int64 class indices → one-hot int64 rows of width numClasses (-1: the largest index + 1). */
  oneHot: (indices: Tensor, numClasses = -1): Tensor => callTensor(ONE_HOT, indices, numClasses),
};

/** Rows of `weight` [V, D] picked by integer `indices`. */
export function embedding(indices: Tensor, weight: Tensor, paddingIdx = -1): Tensor {
  return callTensor(EMBEDDING, expectTensor(weight, "embedding: argument 'weight'"), expectTensor(indices, "embedding: argument 'indices'"), paddingIdx, false, false);
}

installMethods(functionalOps);

declare module './core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Tensor extends MethodsOf<typeof functionalOps> {}
}

export const {
  conv2d, linear, batchNorm, layerNorm, groupNorm, dropout, maxPool2d, avgPool2d, adaptiveAvgPool2d, pad, crossEntropy,
  nllLoss, mseLoss, binaryCrossEntropyWithLogits, oneHot,
} = functionalOps;
