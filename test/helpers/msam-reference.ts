// An independent reference of the mSAM gradient (DESIGN.md, "mSAM: the contract"), written with the
// public tensor API on the JS thread, for the acceptance tests of the native step (test/msam.test.ts).
//
// It shares no code with lib/msam.ts: shards are cut by their sizes (⌈B/m⌉ for the first B mod m,
// ⌊B/m⌋ after, which is tensor_split's rule) with narrow(); norms, perturbations and the weighted sum
// are computed in JS doubles from data(); the random state is saved and restored around each shard's
// passes with native.rngState / native.setRngState; BatchNorm running statistics of the perturbed pass
// are undone by copying every buffer back (not by the library's freeze switch); the weights are
// restored from a saved copy.
import * as msam from '../../lib';
import type { Tensor } from '../../lib';
import { native } from '../../lib/native';

/** The mean loss of one shard, computed from the model's forward. */
export type ShardLoss = (model: msam.nn.Module, inputs: Tensor[], target: Tensor) => Tensor;

export const crossEntropyLoss: ShardLoss = (model, inputs, target) => msam.crossEntropy(model.forward(...inputs), target);

export interface ReferenceOptions {
  m: number;
  rho: number;
  /** ASAM: ε = ρ T² g / ‖T g‖, T = |w| + eta. */
  adaptive?: boolean;
  eta?: number;
  /** λ: (λ/2)‖w‖² joins every shard's loss (weightDecayIn 'loss'). */
  weightDecay?: number;
  /** 'freeze': the unperturbed passes leave running statistics alone too. */
  bnMode?: 'update' | 'freeze';
  lossOf?: ShardLoss;
}

export interface ReferenceResult {
  /** The mSAM gradient per trainable parameter (model.parameters() order). */
  grads: Float64Array[];
  loss: number;
  perturbedLoss: number;
  gradNorm: number;
  shards: number;
  /** Shard sizes, in order. */
  sizes: number[];
}

/** Shard sizes by tensor_split's rule. */
export function shardSizes(B: number, m: number): number[] {
  const q = Math.floor(B / m);
  const r = B % m;
  return Array.from({ length: m }, (_, i) => (i < r ? q + 1 : q));
}

const flat = (t: Tensor): Float64Array => Float64Array.from(t.detach().data() as ArrayLike<number>);
const sumSquares = (vs: Float64Array[]): number => vs.reduce((s, v) => s + v.reduce((a, x) => a + x * x, 0), 0);

/**
 * The mSAM gradient of `model` on (inputs, target), the model's weights and buffers after it being
 * those of the m unperturbed shard passes (as the contract leaves them). It does not touch .grad.
 */
export function msamReference(model: msam.nn.Module, input: Tensor | Tensor[], target: Tensor, o: ReferenceOptions): ReferenceResult {
  const inputs = Array.isArray(input) ? input : [input];
  const lossOf = o.lossOf ?? crossEntropyLoss;
  const params = model.parameters().filter((p) => p.requiresGrad);
  const buffers = model.buffers();
  const B = target.shape[0] as number;
  const sizes = shardSizes(B, o.m);
  const eta = o.eta ?? 0.01;
  const lambda = o.weightDecay ?? 0;

  return msam.tidy(() => {
    const savedW = msam.noGrad(() => params.map((p) => p.detach().clone()));
    const acc = params.map((p) => new Float64Array(p.numel));
    const result: ReferenceResult = { grads: acc, loss: 0, perturbedLoss: 0, gradNorm: 0, shards: o.m, sizes };

    const lossAt = (x: Tensor[], y: Tensor): Tensor => {
      let l = lossOf(model, x, y);
      if (lambda > 0) {
        let sq: Tensor = msam.zeros([], { dtype: l.dtype });
        for (const p of params) sq = sq.add(p.mul(p).sum());
        l = l.add(sq.mul(lambda / 2));
      }
      return l;
    };
    const gradsOf = (l: Tensor): Float64Array[] =>
      msam.autograd.grad(l, params, { allowUnused: true }).map((g, j) => (g === null ? new Float64Array((params[j] as Tensor).numel) : flat(g)));

    let start = 0;
    sizes.forEach((size) => {
      const weight = size / B;
      const x = inputs.map((t) => t.narrow(0, start, size));
      const y = target.narrow(0, start, size);
      start += size;
      const rng = native.rngState('cpu');
      const frozenBuffers = msam.noGrad(() => buffers.map((b) => b.clone()));

      // Unperturbed pass: g_i at w (it updates the running statistics, unless frozen).
      const l = lossAt(x, y);
      const g = gradsOf(l);
      result.loss += weight * l.item();
      const gNorm = Math.sqrt(sumSquares(g));
      result.gradNorm += gNorm / o.m;
      if (o.bnMode === 'freeze') msam.noGrad(() => buffers.forEach((b, j) => b.copy_(frozenBuffers[j] as Tensor)));

      // ε_i.
      const w = params.map(flat);
      let eps: Float64Array[];
      if (o.adaptive) {
        const tg = g.map((gj, j) => gj.map((v, k) => (Math.abs((w[j] as Float64Array)[k] as number) + eta) * v));
        const n = Math.sqrt(sumSquares(tg));
        eps = g.map((gj, j) => gj.map((v, k) => (o.rho * (Math.abs((w[j] as Float64Array)[k] as number) + eta) ** 2 * v) / (n + 1e-12)));
      } else {
        eps = g.map((gj) => gj.map((v) => (o.rho * v) / (gNorm + 1e-12)));
      }

      // h_i at w + ε_i with the same random state; then w and the buffers back from copies.
      const afterUnperturbed = msam.noGrad(() => buffers.map((b) => b.clone()));
      msam.noGrad(() => params.forEach((p, j) => p.add_(msam.tensor(eps[j] as Float64Array, { dtype: p.dtype }).reshape(p.shape))));
      native.setRngState('cpu', rng);
      const lp = lossAt(x, y);
      const h = gradsOf(lp);
      result.perturbedLoss += weight * lp.item();
      msam.noGrad(() => {
        params.forEach((p, j) => p.copy_(savedW[j] as Tensor));
        buffers.forEach((b, j) => b.copy_(afterUnperturbed[j] as Tensor));
      });
      h.forEach((hj, j) => {
        const a = acc[j] as Float64Array;
        for (let k = 0; k < a.length; k++) a[k] = (a[k] as number) + weight * (hj[k] as number);
      });
    });
    return result;
  });
}

/** The largest |a - b| over lists of arrays of equal shapes. */
export function maxAbsDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: ${a.length} vs ${b.length} arrays`);
  let d = 0;
  a.forEach((x, j) => {
    const y = b[j] as ArrayLike<number>;
    if (x.length !== y.length) throw new Error(`maxAbsDiff: array ${j} has ${x.length} vs ${y.length} elements`);
    for (let k = 0; k < x.length; k++) {
      const e = Math.abs((x[k] as number) - (y[k] as number));
      d = Number.isNaN(e) ? Infinity : Math.max(d, e);
    }
  });
  return d;
}

/** The .grad of every trainable parameter as float64 arrays (throws on a missing one). */
export function gradsOf(model: msam.nn.Module): Float64Array[] {
  return model
    .parameters()
    .filter((p) => p.requiresGrad)
    .map((p, j) => {
      const g = p.grad;
      if (g === null) throw new Error(`parameter ${j} has no .grad`);
      const out = flat(g);
      g.dispose();
      return out;
    });
}

/** A bit-exact snapshot of tensors' values (their data() arrays). */
export const snapshot = (ts: Tensor[]): ArrayLike<number | bigint>[] => ts.map((t) => t.detach().data().slice() as unknown as ArrayLike<number | bigint>);

/** Puts a snapshot back into the tensors. */
export function restore(ts: Tensor[], snap: ArrayLike<number | bigint>[]): void {
  msam.noGrad(() =>
    ts.forEach((t, j) =>
      msam.tidy(() => {
        const values = snap[j] as unknown as Float64Array | Float32Array | BigInt64Array;
        t.copy_(msam.tensor(values as Float64Array, { dtype: t.dtype }).reshape(t.shape));
      }),
    ),
  );
}

/** A hand-written SGD, w -= lr·grad, counting its calls: a base optimizer with nothing hidden. */
export function handSgd(params: Tensor[], lr: number): { calls: number; step(): void } {
  const opt = {
    calls: 0,
    step(): void {
      opt.calls++;
      msam.noGrad(() => {
        for (const p of params) {
          const g = p.grad;
          if (g === null) continue;
          msam.tidy(() => p.sub_(g.mul(lr)));
          g.dispose();
        }
      });
    },
  };
  return opt;
}
