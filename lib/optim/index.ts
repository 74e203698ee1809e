// Optimizers (torch.optim semantics; state and math native) and gradient clipping.
export { Optimizer, type ParamGroup, type ParamGroupSpec, type OptimizerStateDict, type GroupDict, type ZeroGradOptions } from './optimizer';
export { SGD, type SGDOptions } from './sgd';
export { AdamW, type AdamWOptions } from './adamw';
export { clipGradNorm, type ClipGradNormOptions } from './clip';
