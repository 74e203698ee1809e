// Numerical gradient checks (PyTorch's torch.autograd.gradcheck / gradgradcheck, in miniature).
//
// gradcheck(fn, inputs) compares the autograd gradient of L(x) = Σ_k sum(fn(x)_k * w_k), for fixed
// pseudo-random weights w_k, against central finite differences of L, element by element, for every
// input with requiresGrad. It works on fresh float64 leaf copies of the inputs (built from data()),
// so the caller's tensors are never modified. Inputs without requiresGrad (integer indices, targets,
// masks, constants) are passed through unchanged. fn must be deterministic: build random constants
// (targets, weights, masks) outside it.
import * as msam from '../../lib';
import type { Tensor } from '../../lib';

export type TensorFn = (...inputs: Tensor[]) => Tensor | Tensor[];

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  /** Absolute tolerance on |analytic - numeric|. */
  atol?: number;
  /** Relative tolerance, scaled by the largest |numeric| gradient of that input (at least 1). */
  rtol?: number;
  /** Seed of the output weights w. */
  seed?: number;
}

export interface GradcheckReport {
  /** Largest |analytic - numeric| over all checked elements. */
  maxAbsError: number;
  /** Number of input elements perturbed. */
  checked: number;
}

/** A small deterministic PRNG (mulberry32), so the weights do not touch libtorch's global generator. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A float64 leaf with the given values and shape. */
function leaf(values: Float64Array, shape: number[], requiresGrad: boolean): Tensor {
  const t = msam.tidy(() => msam.tensor(values).reshape(shape).detach());
  return requiresGrad ? t.requiresGrad_(true) : t;
}

const asList = (out: Tensor | Tensor[]): Tensor[] => (Array.isArray(out) ? out : [out]);

/** Weights in [-1, 1) shaped like each output (fixed by `seed`). */
function makeWeights(outputs: Tensor[], seed: number): Tensor[] {
  const rand = prng(seed);
  return outputs.map((o) => {
    if (o.dtype !== 'float64') throw new TypeError(`gradcheck: outputs must be float64, got ${o.dtype}`);
    const w = new Float64Array(o.numel);
    for (let i = 0; i < w.length; i++) w[i] = 2 * rand() - 1;
    return leaf(w, o.shape, false);
  });
}

/**
 * L = Σ_k sum(out_k * w_k) as a JS number. fn runs as in the analytic pass (grad mode on, checked
 * inputs requiring grad), so a fn that takes gradients itself (autograd.grad inside, as a
 * SAM-style step does) behaves the same in both passes; only the weighted sum is left unrecorded.
 */
function weightedSum(fn: TensorFn, args: Tensor[], weights: Tensor[]): number {
  return msam.tidy(() => {
    const outs = msam.enableGrad(() => asList(fn(...args)));
    if (outs.length !== weights.length) throw new Error('gradcheck: fn returned a different number of outputs');
    return msam.noGrad(() => outs.reduce((total, o, k) => total + o.mul(weights[k] as Tensor).sum().item(), 0));
  });
}

/**
 * Checks fn's autograd gradients against central finite differences; throws an Error naming the
 * first input and element out of tolerance. Inputs with requiresGrad must be float64.
 */
export function gradcheck(fn: TensorFn, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  // Every tensor made here (leaf copies, outputs, weights, gradients) is freed on return.
  return msam.tidy(() => check(fn, inputs, opts));
}

function check(fn: TensorFn, inputs: Tensor[], opts: GradcheckOptions): GradcheckReport {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-6;
  const checkedIdx = inputs.flatMap((t, i) => (t.requiresGrad ? [i] : []));
  if (checkedIdx.length === 0) throw new Error('gradcheck: no input has requiresGrad');
  for (const i of checkedIdx) {
    const t = inputs[i] as Tensor;
    if (t.dtype !== 'float64') throw new TypeError(`gradcheck: input ${i} must be float64 to be checked, got ${t.dtype}`);
  }

  // Fresh leaves, so the gradients are taken w.r.t. exactly these values.
  const base = inputs.map((t) => (t.requiresGrad ? (t.detach().data() as Float64Array) : null));
  const args = inputs.map((t, i) => {
    const b = base[i];
    return b ? leaf(b, t.shape, true) : t;
  });
  const leaves = checkedIdx.map((i) => args[i] as Tensor);

  // Analytic: d/dx Σ_k sum(out_k * w_k) = vector-Jacobian products with gradOutputs w.
  const outputs = msam.enableGrad(() => asList(fn(...args)));
  const weights = makeWeights(outputs, opts.seed ?? 1234);
  const differentiable = outputs.map((o) => o.requiresGrad);
  if (!differentiable.some(Boolean)) throw new Error('gradcheck: no output requires grad (is the graph cut?)');
  const analytic = msam.autograd
    .grad(
      outputs.filter((_, k) => differentiable[k]),
      leaves,
      { gradOutputs: weights.filter((_, k) => differentiable[k]), allowUnused: true },
    )
    .map((g, j) => {
      const n = (leaves[j] as Tensor).numel;
      if (g === null) return new Float64Array(n); // unused: zero gradient
      if (g.dtype !== 'float64') throw new TypeError(`gradcheck: gradient ${j} is ${g.dtype}, expected float64`);
      return g.data() as Float64Array;
    });

  // Numeric: perturb each element of each checked input, one at a time.
  let maxAbsError = 0;
  let checked = 0;
  checkedIdx.forEach((inputIndex, j) => {
    const values = base[inputIndex] as Float64Array;
    const shape = (inputs[inputIndex] as Tensor).shape;
    const numeric = new Float64Array(values.length);
    const evalAt = (k: number, delta: number): number => {
      const v = Float64Array.from(values);
      v[k] = (v[k] as number) + delta;
      const perturbed = leaf(v, shape, true);
      const a = args.slice();
      a[inputIndex] = perturbed;
      try {
        return weightedSum(fn, a, weights);
      } finally {
        perturbed.dispose();
      }
    };
    for (let k = 0; k < values.length; k++) numeric[k] = (evalAt(k, eps) - evalAt(k, -eps)) / (2 * eps);

    const scale = Math.max(1, ...numeric.map(Math.abs));
    const tol = atol + rtol * scale;
    const a = analytic[j] as Float64Array;
    for (let k = 0; k < values.length; k++) {
      const err = Math.abs((a[k] as number) - (numeric[k] as number));
      if (!(err <= tol)) {
        throw new Error(
          `gradcheck: input ${inputIndex} (shape [${shape.join(', ')}]), element ${k}: ` +
            `analytic ${a[k]} vs numeric ${numeric[k]} (|diff| ${err} > tol ${tol})`,
        );
      }
      maxAbsError = Math.max(maxAbsError, err);
    }
    checked += values.length;
  });
  return { maxAbsError, checked };
}

/**
 * Checks second derivatives: gradcheck of x ↦ ∂/∂x Σ_k sum(fn(x)_k * v_k) (w.r.t. the inputs with
 * requiresGrad), for fixed weights v, taken with createGraph. Its autograd gradient is a double
 * backward (a Hessian-vector product when fn is scalar); its numeric one is central finite
 * differences of the first gradient.
 */
export function gradgradcheck(fn: TensorFn, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const diffIdx = inputs.flatMap((t, i) => (t.requiresGrad ? [i] : []));
  const seed = (opts.seed ?? 1234) + 1;
  const firstGrads = (...xs: Tensor[]): Tensor[] => {
    const outs = asList(fn(...xs));
    const wrt = diffIdx.map((i) => xs[i] as Tensor);
    const grads = msam.autograd.grad(outs, wrt, { gradOutputs: makeWeights(outs, seed), createGraph: true, allowUnused: true });
    return grads.map((g, j) => g ?? msam.zerosLike(wrt[j] as Tensor));
  };
  return gradcheck(firstGrads, inputs, opts);
}
