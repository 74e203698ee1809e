// MSAM: m-sharpness-aware minimization around any base optimizer (DESIGN.md, "mSAM: the contract").
//
//   const sam = new msam.MSAM(model, optimizer, { m: 32, rho: 0.2 });
//   const stats = await sam.step({ input: x, target: y }, { loss: 'cross_entropy', labelSmoothing: 0.1 });
//
// For a native model the m ascent/descent passes run in C++ on a libuv worker thread (csrc/msam);
// for a model with a TypeScript forward, a closure computing the loss runs them on the JS thread.
import { withAutocast } from './amp';
import { ProcessGroup } from './distributed/group';
import { autograd, noGrad } from './autograd';
import { native, type NativeStepStats, type TensorHandle } from './native';
import { Module } from './nn/module';
import { Optimizer } from './optim/optimizer';
import { NativeModule } from './nn/native-module';
import { checkedBatch } from './batch-check';
import { Tensor, expectTensor } from './tensor/core';
import { tidy } from './tensor/memory';

export interface MSAMOptions {
  /** Shards per batch (1 is SAM). Default 32, the paper's (batch 512, micro-batches of 16). */
  m?: number;
  /** Alternatively the shard size: m = ⌈B / microBatchSize⌉ for a batch of B. */
  microBatchSize?: number;
  /** Perturbation radius ρ (0 is the vanilla gradient). Default 0.2, the paper's CNN value. */
  rho?: number;
  /** ASAM's adaptive perturbation ε = ρ T² g / ‖T g‖ with T = |w| + eta. */
  adaptive?: boolean;
  /** η of the adaptive variant. Default 0.01. */
  eta?: number;
  /** 'update' (default): running BatchNorm statistics from the unperturbed passes; 'freeze': untouched. */
  bnMode?: 'update' | 'freeze';
  /** Weight decay λ for weightDecayIn 'loss'. */
  weightDecay?: number;
  /** 'optimizer' (default): the base optimizer applies its weight decay once per step; 'loss': (λ/2)‖w‖² joins every shard's loss, so it enters the ascent gradient too (the original JAX code). */
  weightDecayIn?: 'optimizer' | 'loss';
  /**
   * How the shards' passes run; every strategy gives the loop's gradient to float tolerance.
   * 'loop': one shard after another (the exact reference); 'graph': one shard's passes captured as
   * a CUDA graph and replayed per shard (a CUDA model on a CUDA build with PyTorch ≥ 2.4, else an
   * error; a step whose batch size is not divisible by m runs the loop); 'vectorized': per-shard weights stacked as
   * [m, …] and two batched passes (native modules only); 'auto' (default): picks by model and device.
   */
  strategy?: 'auto' | 'loop' | 'graph' | 'vectorized';
  /** 'vectorized': how many shards run in one batched pass (memory grows with it). Default: all m. */
  chunkSize?: number;
  /** Mixed precision: the forward and loss under autocast to this dtype (weights and gradients stay fp32). */
  autocast?: 'bfloat16' | 'float16';
  /**
   * Data parallel (msam.dist): the batch and m are this rank's; after its shards' passes (with no
   * communication) one all-reduce makes .grad and the statistics those of one process that ran
   * every rank's shards (the global m is the sum of the ranks'). Every rank steps with the same gradient.
   */
  processGroup?: ProcessGroup;
}

export interface LossOptions {
  loss?: 'cross_entropy' | 'mse' | 'bce_with_logits';
  labelSmoothing?: number;
}

export interface Batch {
  /** One tensor, or several (token ids and an attention mask): all are split into shards together. */
  input: Tensor | Tensor[];
  target: Tensor;
}

/** Computes the mean loss of a shard (closure form, for models with a TypeScript forward). */
export type LossClosure = (model: Module, shard: Batch) => Tensor;

export type StepStats = NativeStepStats;

/**
 * A skipped step's statistics say NaN: its loss is non-finite and no gradient was taken, and the
 * partial sums of the shards before the bad one (what the step held) would read as a real 0.
 */
function reported(stats: StepStats): StepStats {
  return stats.skipped ? { ...stats, loss: Number.NaN, perturbedLoss: Number.NaN, gradNorm: Number.NaN } : stats;
}

/** What MSAM needs of a base optimizer. */
export interface BaseOptimizer {
  step(): void;
}

const KNOWN = new Set(['m', 'microBatchSize', 'rho', 'adaptive', 'eta', 'bnMode', 'weightDecay', 'weightDecayIn', 'strategy', 'chunkSize', 'autocast', 'processGroup']);

function validate(
  o: MSAMOptions,
): Required<Omit<MSAMOptions, 'm' | 'microBatchSize' | 'autocast' | 'chunkSize' | 'processGroup'>> & {
  m?: number;
  microBatchSize?: number;
  autocast?: 'bfloat16' | 'float16';
  chunkSize?: number;
  processGroup?: ProcessGroup;
} {
  if (o === null || typeof o !== 'object') throw new TypeError('MSAM: options must be an object');
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new TypeError(`MSAM: unknown option '${k}'`);
  const fail = (field: string, why: string, got: unknown): never => {
    // String() for numbers: JSON.stringify writes NaN and ±Infinity as null.
    throw new RangeError(`MSAM: option '${field}' ${why}, got ${typeof got === 'number' ? String(got) : JSON.stringify(got)}`);
  };
  const positiveInt = (field: 'm' | 'microBatchSize' | 'chunkSize') => {
    const v = o[field];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) fail(field, 'must be an integer ≥ 1', v);
  };
  positiveInt('m');
  positiveInt('microBatchSize');
  positiveInt('chunkSize');
  if (o.m !== undefined && o.microBatchSize !== undefined) throw new TypeError("MSAM: give either option 'm' or option 'microBatchSize', not both");
  const rho = o.rho ?? 0.2;
  if (!(Number.isFinite(rho) && rho >= 0)) fail('rho', 'must be a finite number ≥ 0', o.rho);
  const eta = o.eta ?? 0.01;
  if (!(Number.isFinite(eta) && eta >= 0)) fail('eta', 'must be a finite number ≥ 0', o.eta);
  const weightDecay = o.weightDecay ?? 0;
  if (!(Number.isFinite(weightDecay) && weightDecay >= 0)) fail('weightDecay', 'must be a finite number ≥ 0', o.weightDecay);
  const oneOf = <T extends string>(field: keyof MSAMOptions, allowed: T[], fallback: T): T => {
    const v = o[field] ?? fallback;
    if (!allowed.includes(v as T)) fail(field, `must be ${allowed.map((a) => `'${a}'`).join(' or ')}`, v);
    return v as T;
  };
  if (o.adaptive !== undefined && typeof o.adaptive !== 'boolean') fail('adaptive', 'must be a boolean', o.adaptive);
  const weightDecayIn = oneOf('weightDecayIn', ['optimizer', 'loss'], 'optimizer');
  if (weightDecay > 0 && weightDecayIn === 'optimizer') {
    throw new TypeError("MSAM: option 'weightDecay' applies with weightDecayIn 'loss'; with 'optimizer' set the base optimizer's weightDecay instead");
  }
  if (o.autocast !== undefined && o.autocast !== 'bfloat16' && o.autocast !== 'float16') fail('autocast', "must be 'bfloat16' or 'float16'", o.autocast);
  if (o.processGroup !== undefined && !(o.processGroup instanceof ProcessGroup)) {
    throw new TypeError("MSAM: option 'processGroup' must be a msam.dist.ProcessGroup (from msam.dist.initProcessGroup)");
  }
  return {
    ...(o.processGroup !== undefined ? { processGroup: o.processGroup } : {}),
    ...(o.autocast !== undefined ? { autocast: o.autocast } : {}),
    ...(o.m !== undefined ? { m: o.m } : {}),
    ...(o.microBatchSize !== undefined ? { microBatchSize: o.microBatchSize } : {}),
    ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
    rho,
    adaptive: o.adaptive ?? false,
    eta,
    bnMode: oneOf('bnMode', ['update', 'freeze'], 'update'),
    weightDecay,
    weightDecayIn,
    strategy: oneOf('strategy', ['auto', 'loop', 'graph', 'vectorized'], 'auto'),
  };
}

export class MSAM {
  readonly options: ReturnType<typeof validate>;

  constructor(
    readonly model: Module,
    readonly optimizer: BaseOptimizer,
    options: MSAMOptions = {},
  ) {
    if (!(model instanceof Module)) throw new TypeError('MSAM: model must be an nn.Module');
    if (optimizer === null || typeof optimizer !== 'object' || typeof optimizer.step !== 'function') {
      throw new TypeError('MSAM: optimizer must have a step() method (msam.optim.SGD, msam.optim.AdamW, ...)');
    }
    this.options = validate(options);
  }

  /** The number of shards for a batch of `batchSize` examples; errors name the option. */
  shardsFor(batchSize: number): number {
    const { m, microBatchSize } = this.options;
    const shards = m ?? (microBatchSize !== undefined ? Math.ceil(batchSize / microBatchSize) : Math.min(32, batchSize));
    if (shards > batchSize) throw new RangeError(`MSAM: option 'm' (${shards}) exceeds the batch size ${batchSize}`);
    return shards;
  }

  /**
   * Computes the mSAM gradient into .grad, then takes the base optimizer's step (unless skipped).
   * With a native model and a msam.optim optimizer, both run on a worker thread.
   */
  async step(batch: Batch, loss: LossOptions | LossClosure = {}): Promise<StepStats> {
    if (typeof loss !== 'function' && this.model instanceof NativeModule && this.optimizer instanceof Optimizer) {
      const [inputs, target, options] = this.#prepare(batch, loss);
      return reported(await native.msamStepAsync(this.model.handle, inputs, target, loss, options, this.optimizer.handle));
    }
    const stats = await this.gradient(batch, loss);
    if (!stats.skipped) this.optimizer.step();
    return stats;
  }

  /** step() on the JS thread. */
  stepSync(batch: Batch, loss: LossOptions | LossClosure = {}): StepStats {
    const stats = this.gradientSync(batch, loss);
    if (!stats.skipped) this.optimizer.step();
    return stats;
  }

  /** Only fills .grad with the mSAM gradient (replacing what was there); for a native model, off the JS thread. */
  async gradient(batch: Batch, loss: LossOptions | LossClosure = {}): Promise<StepStats> {
    if (typeof loss === 'function' || !(this.model instanceof NativeModule)) return this.gradientSync(batch, loss);
    const [inputs, target, options] = this.#prepare(batch, loss);
    return reported(await native.msamGradientAsync(this.model.handle, inputs, target, loss, options));
  }

  gradientSync(batch: Batch, loss: LossOptions | LossClosure = {}): StepStats {
    if (typeof loss === 'function') {
      const stats = this.#closureGradient(batch, loss);
      const group = this.options.processGroup;
      if (group === undefined) return reported(stats);
      const params = this.model.parameters().filter((p) => p.requiresGrad);
      return reported(group.reduceStep(params, stats, expectTensor(batch.target, 'MSAM: batch.target').shape[0] ?? 0));
    }
    if (!(this.model instanceof NativeModule)) {
      throw new TypeError('MSAM: a model with a TypeScript forward needs the closure form: sam.step(batch, (model, shard) => loss)');
    }
    const [inputs, target, options] = this.#prepare(batch, loss);
    return reported(native.msamGradient(this.model.handle, inputs, target, loss, options));
  }

  #prepare(batch: Batch, loss: LossOptions): [TensorHandle[], TensorHandle, object] {
    const { inputs, target } = checkedBatch(batch, loss.loss ?? 'cross_entropy');
    const B = inputs[0]?.shape[0] ?? 0;
    const { processGroup, ...options } = this.options;
    return [inputs.map((t) => t.handle), target.handle, { ...options, m: this.shardsFor(B), ...(processGroup !== undefined ? { processGroup: processGroup.handle } : {}) }];
  }

  // The same algorithm for a TypeScript forward, on the JS thread, with the tensor API.
  #closureGradient(batch: Batch, lossOf: LossClosure): StepStats {
    const { strategy } = this.options;
    if (strategy === 'graph' || strategy === 'vectorized') {
      throw new TypeError(`MSAM: strategy '${strategy}' needs a native model (msam.nn modules, msam.models) and loss options, not a closure; the closure form runs the loop ('loop' or 'auto')`);
    }
    const { inputs, target } = checkedBatch(batch, null);
    const B = target.shape[0] ?? 0;
    const m = this.shardsFor(B);
    const { rho, adaptive, eta, bnMode, weightDecay, weightDecayIn } = this.options;
    const params = this.model.parameters().filter((p) => p.requiresGrad);
    const buffers = this.model.buffers();
    const device = params[0]?.device ?? 'cpu';
    return tidy(() => {
      const saved = noGrad(() => params.map((p) => p.detach().clone()));
      const savedBuffers = noGrad(() => buffers.map((b) => b.clone()));
      const acc = params.map((p) => p.detach().mul(0));
      const pieces = inputs.map((x) => x.tensorSplit(m));
      const targets = target.tensorSplit(m);
      const stats: StepStats = { loss: 0, perturbedLoss: 0, gradNorm: 0, shards: m, skipped: false, skipReason: null };
      const wasFrozen = native.freezeRunningStats(bnMode === 'freeze');
      const shardLoss = (i: number): Tensor => {
        const shard: Batch = { input: inputs.length === 1 ? (pieces[0]![i] as Tensor) : pieces.map((p) => p[i] as Tensor), target: targets[i] as Tensor };
        const { autocast } = this.options;
        let l = autocast === undefined ? lossOf(this.model, shard) : withAutocast(device, autocast, () => lossOf(this.model, shard));
        if (weightDecayIn === 'loss' && weightDecay > 0) l = l.add(params.reduce((s: Tensor, p) => s.add(p.square().sum()), l.mul(0)).mul(weightDecay / 2));
        return l;
      };
      const grads = (l: Tensor): Tensor[] => autograd.grad(l, params, { allowUnused: true }).map((g, j) => g ?? (params[j] as Tensor).mul(0).detach());
      const norm = (ts: Tensor[]): number => Math.sqrt(ts.reduce((s, t) => s + t.to('float64').square().sum().item(), 0));
      const skip = (why: string): StepStats => {
        noGrad(() => {
          params.forEach((p, j) => p.copy_(saved[j] as Tensor));
          buffers.forEach((b, j) => b.copy_(savedBuffers[j] as Tensor));
        });
        for (const p of params) p.grad = null;
        return { ...stats, skipped: true, skipReason: why };
      };
      try {
        for (let i = 0; i < m; i++) {
          const weight = (targets[i] as Tensor).shape[0]! / B;
          const rng = new Tensor(native.rngState(device)); // so both passes draw the same dropout masks
          const l = shardLoss(i);
          const lv = l.item();
          if (!Number.isFinite(lv)) return skip(`non-finite loss ${lv} in shard ${i}`);
          const g = grads(l);
          stats.loss += weight * lv;
          let h = g;
          if (rho === 0) {
            stats.perturbedLoss += weight * lv;
            stats.gradNorm += norm(g) / m;
          } else {
            const tg = adaptive ? noGrad(() => g.map((gj, j) => (params[j] as Tensor).abs().add(eta).mul(gj))) : g;
            const n = norm(tg);
            if (!Number.isFinite(n)) return skip(`non-finite gradient in shard ${i}`);
            stats.gradNorm += norm(g) / m;
            noGrad(() =>
              params.forEach((p, j) => {
                const gj = g[j] as Tensor;
                p.add_(adaptive ? p.abs().add(eta).square().mul(gj).mul(rho / (n + 1e-12)) : gj.mul(rho / (n + 1e-12)));
              }),
            );
            native.setRngState(device, rng.handle);
            native.freezeRunningStats(true);
            const lp = shardLoss(i);
            native.freezeRunningStats(bnMode === 'freeze');
            const lpv = lp.item();
            if (!Number.isFinite(lpv)) return skip(`non-finite perturbed loss ${lpv} in shard ${i}`);
            stats.perturbedLoss += weight * lpv;
            h = grads(lp);
            noGrad(() => params.forEach((p, j) => p.copy_(saved[j] as Tensor)));
          }
          noGrad(() => acc.forEach((a, j) => a.add_(h[j] as Tensor, weight)));
        }
        if (!Number.isFinite(norm(acc))) return skip('non-finite mSAM gradient');
        params.forEach((p, j) => (p.grad = acc[j] as Tensor));
        return stats;
      } finally {
        native.freezeRunningStats(wasFrozen);
      }
    });
  }
}
