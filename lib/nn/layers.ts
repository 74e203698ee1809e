// Typed constructors of the native layers. Required sizes are positional, as in PyTorch; the rest
// are options with PyTorch's defaults. Options are validated natively: errors name the module and
// the option ("Linear: option 'inFeatures' must be at least 1, got 0").
import { NativeModule, createNative } from './native-module';

type Pair = number | [number, number];

export class Linear extends NativeModule {
  constructor(inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}) {
    super(createNative('Linear', { inFeatures, outFeatures, ...opts }));
  }
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}
export class Conv2d extends NativeModule {
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super(createNative('Conv2d', { inChannels, outChannels, kernelSize, ...opts }));
  }
}

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
}
/** Over [N, C] or [N, C, L]. */
export class BatchNorm1d extends NativeModule {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(createNative('BatchNorm1d', { numFeatures, ...opts }));
  }
}
/** Over [N, C, H, W]. */
export class BatchNorm2d extends NativeModule {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(createNative('BatchNorm2d', { numFeatures, ...opts }));
  }
}
export class LayerNorm extends NativeModule {
  constructor(normalizedShape: number | number[], opts: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super(createNative('LayerNorm', { normalizedShape, ...opts }));
  }
}
export class GroupNorm extends NativeModule {
  constructor(numGroups: number, numChannels: number, opts: { eps?: number; affine?: boolean } = {}) {
    super(createNative('GroupNorm', { numGroups, numChannels, ...opts }));
  }
}
export class Dropout extends NativeModule {
  constructor(p = 0.5) {
    super(createNative('Dropout', { p }));
  }
}
export class Embedding extends NativeModule {
  constructor(numEmbeddings: number, embeddingDim: number, opts: { paddingIdx?: number } = {}) {
    super(createNative('Embedding', { numEmbeddings, embeddingDim, ...opts }));
  }
}

export class ReLU extends NativeModule {
  constructor() {
    super(createNative('ReLU', {}));
  }
}
export class GELU extends NativeModule {
  constructor(opts: { approximate?: 'none' | 'tanh' } = {}) {
    super(createNative('GELU', opts));
  }
}
export class Tanh extends NativeModule {
  constructor() {
    super(createNative('Tanh', {}));
  }
}
export class Sigmoid extends NativeModule {
  constructor() {
    super(createNative('Sigmoid', {}));
  }
}
export class Softmax extends NativeModule {
  constructor(dim: number) {
    super(createNative('Softmax', { dim }));
  }
}
export class Identity extends NativeModule {
  constructor() {
    super(createNative('Identity', {}));
  }
}
export class Flatten extends NativeModule {
  constructor(startDim = 1, endDim = -1) {
    super(createNative('Flatten', { startDim, endDim }));
  }
}

export interface PoolOptions {
  /** Defaults to kernelSize. */
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}
export class MaxPool2d extends NativeModule {
  constructor(kernelSize: Pair, opts: PoolOptions = {}) {
    super(createNative('MaxPool2d', { kernelSize, ...opts }));
  }
}
export class AvgPool2d extends NativeModule {
  constructor(kernelSize: Pair, opts: PoolOptions & { countIncludePad?: boolean } = {}) {
    super(createNative('AvgPool2d', { kernelSize, ...opts }));
  }
}
export class AdaptiveAvgPool2d extends NativeModule {
  constructor(outputSize: Pair) {
    super(createNative('AdaptiveAvgPool2d', { outputSize }));
  }
}
