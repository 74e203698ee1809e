// SGD with momentum (torch.optim.SGD): the math runs natively, csrc/optim/sgd.cc.
import type { Tensor } from '../tensor/core';
import { Optimizer, type ParamGroupSpec } from './optimizer';
import { rule, type OptimizerSpec } from './options';

export interface SGDOptions {
  /** Learning rate; required (here or in every parameter group). */
  lr?: number;
  /** Momentum factor; default 0 (plain SGD). */
  momentum?: number;
  /** Dampening for momentum: the buffer adds (1 - dampening) of each gradient; default 0. */
  dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0); default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay?: number;
  /** Ascend the objective instead; default false. */
  maximize?: boolean;
}

const spec: OptimizerSpec<SGDOptions> = {
  kind: 'SGD',
  rules: {
    lr: rule.nonNegative,
    momentum: rule.nonNegative,
    dampening: rule.finite,
    nesterov: rule.flag,
    weightDecay: rule.nonNegative,
    maximize: rule.flag,
  },
  defaults: { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false },
  crossCheck: (o) =>
    o.nesterov && (o.momentum <= 0 || o.dampening !== 0)
      ? `nesterov requires momentum > 0 and dampening = 0, got momentum ${o.momentum} and dampening ${o.dampening}`
      : null,
};

/**
 * Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay, exactly as
 * torch.optim.SGD:
 *
 *   g = grad (+ weightDecay·p);  buf = momentum·buf + (1 - dampening)·g  (buf = g on the first step);
 *   g = nesterov ? g + momentum·buf : buf;  p -= lr·g
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupSpec<SGDOptions>>, defaults: SGDOptions = {}) {
    super(spec, params, defaults);
  }
}
