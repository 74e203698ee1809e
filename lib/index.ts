// msam: m-sharpness-aware minimization on libtorch, from TypeScript.
export * from './tensor';
export * from './types';
export { autograd, noGrad, enableGrad, isGradEnabled, type GradOptions } from './autograd';
export { ops } from './ops';
export {
  version,
  cuda,
  backends,
  getNumThreads,
  setNumThreads,
  getFloat32MatmulPrecision,
  setFloat32MatmulPrecision,
  type Float32MatmulPrecision,
  type VersionInfo,
  type BinaryInfo,
} from './runtime';
export * as nn from './nn';
export * from './checkpoint';
export { MSAM, type MSAMOptions, type LossOptions, type Batch, type LossClosure, type StepStats, type BaseOptimizer } from './msam';
export * as optim from './optim';
export { countOps, type OpCounts } from './profile';
export * as dist from './distributed';
export * as schedule from './schedule';
export * as data from './data';
export * as analysis from './analysis';
export {
  train,
  presets as trainPresets,
  resolveTrainConfig,
  trainConfigSchema,
  ConfigError,
  type TrainConfig,
  type TrainConfigInput,
  type TrainInput,
  type TrainHooks,
  type TrainResult,
  type StepInfo,
  type EpochMetrics,
  type PresetName,
} from './train';
export * as models from '../models';
export { withAutocast, type AutocastDtype } from './amp';
