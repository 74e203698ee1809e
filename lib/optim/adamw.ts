// AdamW (torch.optim.AdamW): the math runs natively, csrc/optim/adamw.cc.
import type { Tensor } from '../tensor/core';
import { Optimizer, type ParamGroupSpec } from './optimizer';
import { rule, type OptimizerSpec, type Pair } from './options';

export interface AdamWOptions {
  /** Learning rate; default 1e-3. */
  lr?: number;
  /** Decay rates of the gradient's running mean and of its square's; default [0.9, 0.999]. */
  betas?: Pair;
  /** Added to the denominator for numerical stability; default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (p *= 1 - lr·weightDecay each step); default 1e-2. */
  weightDecay?: number;
  /** Use the running maximum of the second moment (AMSGrad); default false. */
  amsgrad?: boolean;
  /** Ascend the objective instead; default false. */
  maximize?: boolean;
}

const spec: OptimizerSpec<AdamWOptions> = {
  kind: 'AdamW',
  rules: {
    lr: rule.nonNegative,
    betas: rule.betas,
    eps: rule.nonNegative,
    weightDecay: rule.nonNegative,
    amsgrad: rule.flag,
    maximize: rule.flag,
  },
  defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false },
  split: { betas: ['beta1', 'beta2'] },
};

/** Adam with decoupled weight decay (Loshchilov & Hutter), exactly as torch.optim.AdamW. */
export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupSpec<AdamWOptions>>, defaults: AdamWOptions = {}) {
    super(spec, params, defaults);
  }
}
