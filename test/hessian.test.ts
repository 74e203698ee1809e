// The loss-landscape analyses (csrc/hessian, lib/analysis) against references that share none of
// their code:
// - quadratic models (a bias-free linear layer with the mean squared error) whose Hessian is known
//   in closed form, H = (2/N) XᵀX = Q diag(λ) Qᵀ for a chosen spectrum λ and a Householder Q: the
//   products, the top eigenvalues, the trace and the one-step and exact worst-case m-sharpness;
// - a small MLP whose full Hessian is assembled here column by column from the tensor API's double
//   backward, its spectrum from LAPACK (aten::linalg_eigvalsh);
// - PyTorch in Python, the same generation as msam's libtorch (test/fixtures/hessian_ref.py): torch.autograd.functional.hvp and a
//   power iteration over it, on the same small CNN (BatchNorm in eval mode) or MLP and weights.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { reference } from './helpers/reference';

const { analysis } = msam;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-hessian-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- dense linear algebra on plain numbers (the references) ---------------------------------

type Matrix = number[][];
const matmul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const transpose = (a: Matrix): Matrix => a[0]!.map((_, j) => a.map((row) => row[j]!));
const matvec = (a: Matrix, v: number[]): number[] => a.map((row) => row.reduce((s, x, k) => s + x * v[k]!, 0));
/** The Householder reflection I − 2uuᵀ/uᵀu: orthogonal and symmetric. */
const householder = (u: number[]): Matrix => {
  const uu = u.reduce((s, x) => s + x * x, 0);
  return u.map((ui, i) => u.map((uj, j) => (i === j ? 1 : 0) - (2 * ui * uj) / uu));
};
const flat = (ts: msam.Tensor[]): number[] => ts.flatMap((t) => Array.from(t.data(), Number));
const maxAbsDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

// ---- a quadratic model with a known Hessian ----------------------------------------------------

/**
 * L(w) = (1/N) Σ (x_iᵀ w − y_i)², a bias-free Linear(n, 1) in float64, whose Hessian is
 * (2/N) XᵀX = Q diag(spectrum) Qᵀ: X = diag(√(N·λ/2)) Qᵀ (N = n rows). The examples come in
 * batches of the given sizes, so the per-batch weights n_b / N are exercised.
 */
function quadratic(spectrum: number[], q: Matrix, sizes: number[]) {
  const n = spectrum.length;
  const X = spectrum.map((l, i) => q.map((row) => Math.sqrt((n * l) / 2) * row[i]!));
  const H = matmul(matmul(q, spectrum.map((l, i) => spectrum.map((_, j) => (i === j ? l : 0)))), transpose(q));
  const model = new msam.nn.Linear(n, 1, { bias: false });
  model.to('float64');
  const w = msam.noGrad(() => model.parameters()[0]!.copy_(msam.tensor([[0.3, -0.2, 0.5, 0.1, -0.4, 0.25].slice(0, n)], { dtype: 'float64' })));
  void w;
  const y = X.map((_, i) => Math.sin(i + 1));
  const batches: msam.analysis.AnalysisBatch[] = [];
  let start = 0;
  for (const s of sizes) {
    batches.push({ input: msam.tensor(X.slice(start, start + s), { dtype: 'float64' }), target: msam.tensor(y.slice(start, start + s).map((v) => [v]), { dtype: 'float64' }) });
    start += s;
  }
  return { model, batches, H, X, y, loss: { loss: 'mse' as const } };
}

const SPECTRUM = [10, 7, 4, 2, 1, 0.5];
const Q = householder([1, -2, 0.5, 3, -1, 2]);
const IDENTITY = SPECTRUM.map((_, i) => SPECTRUM.map((__, j) => (i === j ? 1 : 0)));

describe('quadratic models with known Hessians', () => {
  it('Hessian-vector products are (2/N) XᵀX v, over uneven batches', () => {
    const { model, batches, H, loss } = quadratic(SPECTRUM, Q, [4, 2]);
    for (const v of [[1, 0, 0, 0, 0, 0], [0.3, -1.2, 2, 0.7, -0.1, 1.5]]) {
      const hv = analysis.hessianVectorProduct(model, batches, [msam.tensor([v], { dtype: 'float64' })], { loss });
      expect(hv[0]!.dtype).toBe('float64');
      expect(maxAbsDiff(flat(hv), matvec(H, v))).toBeLessThan(1e-12);
    }
  });

  it('power iteration with deflation finds the top eigenvalues to 1e-6', async () => {
    const { model, batches, loss } = quadratic(SPECTRUM, Q, [4, 2]);
    const r = await analysis.hessianEigenvalues(model, batches, { loss, topK: 3, tolerance: 1e-13, maxIterations: 2000, eigenvectors: true });
    expect(r.converged).toEqual([true, true, true]);
    r.eigenvalues.forEach((l, k) => expect(Math.abs(l - SPECTRUM[k]!) / SPECTRUM[k]!).toBeLessThan(1e-6));
    // The eigenvectors are Q's columns, up to sign.
    r.eigenvectors!.forEach((v, k) => {
      const col = Q.map((row) => row[k]!);
      const u = flat(v);
      const sign = Math.sign(u.reduce((s, x, i) => s + x * col[i]!, 0));
      expect(maxAbsDiff(u.map((x) => x * sign), col)).toBeLessThan(1e-5);
    });
    expect(r.relativeResiduals[0]).toBeLessThan(1e-5);
    expect(r.hessianVectorProducts).toBe(r.iterations.reduce((a, b) => a + b, 0));
  });

  it('stops at the tolerance, reports non-convergence at the iteration limit', async () => {
    const { model, batches, loss } = quadratic(SPECTRUM, Q, [6]);
    const loose = await analysis.hessianEigenvalues(model, batches, { loss, tolerance: 1e-2 });
    expect(loose.converged[0]).toBe(true);
    expect(loose.iterations[0]).toBeLessThan(20);
    expect(Math.abs(loose.eigenvalues[0]! - 10)).toBeLessThan(0.5);
    const short = await analysis.hessianEigenvalues(model, batches, { loss, tolerance: 0, maxIterations: 3 });
    expect(short).toMatchObject({ iterations: [3], converged: [false] });
  });

  it('a fixed seed gives the same start, hence the same iterates', async () => {
    const { model, batches, loss } = quadratic(SPECTRUM, Q, [6]);
    const a = await analysis.hessianEigenvalues(model, batches, { loss, maxIterations: 4, tolerance: 0, seed: 3 });
    const b = await analysis.hessianEigenvalues(model, batches, { loss, maxIterations: 4, tolerance: 0, seed: 3 });
    const c = await analysis.hessianEigenvalues(model, batches, { loss, maxIterations: 4, tolerance: 0, seed: 4 });
    expect(b.eigenvalues).toEqual(a.eigenvalues);
    expect(c.eigenvalues).not.toEqual(a.eigenvalues);
  });

  it("Hutchinson's trace is exact for a diagonal Hessian (zᵀHz = tr H for every ±1 vector)", async () => {
    const { model, batches, loss } = quadratic(SPECTRUM, IDENTITY, [4, 2]);
    const r = await analysis.hessianTrace(model, batches, { loss, samples: 7, blockSize: 3 });
    const trace = SPECTRUM.reduce((a, b) => a + b, 0);
    expect(r.samples).toBe(6); // two blocks of 3, then a standard error of 0 meets the tolerance
    expect(r.converged).toBe(true);
    for (const v of r.values) expect(Math.abs(v - trace)).toBeLessThan(1e-12);
    expect(Math.abs(r.trace - trace)).toBeLessThan(1e-12);
    expect(r.standardError).toBeLessThan(1e-12);
  });

  it("Hutchinson's trace of a rotated Hessian: within 4 standard errors, the variance as theory says", async () => {
    const { model, batches, loss, H } = quadratic(SPECTRUM, Q, [4, 2]);
    const samples = 400;
    const r = await analysis.hessianTrace(model, batches, { loss, samples, blockSize: 50, tolerance: 0 });
    expect(r.samples).toBe(samples);
    const trace = SPECTRUM.reduce((a, b) => a + b, 0);
    // Var(zᵀHz) = 2 Σ_{i≠j} H_ij² for Rademacher z.
    const variance = 2 * H.reduce((s, row, i) => s + row.reduce((t, x, j) => t + (i === j ? 0 : x * x), 0), 0);
    const se = Math.sqrt(variance / samples);
    expect(Math.abs(r.trace - trace)).toBeLessThan(4 * se);
    expect(r.standardError / se).toBeGreaterThan(0.8);
    expect(r.standardError / se).toBeLessThan(1.2);
    // Sample k depends on (seed, k) only: a different block size gives the same values.
    const again = await analysis.hessianTrace(model, batches, { loss, samples: 30, blockSize: 7, tolerance: 0 });
    expect(again.values).toEqual(r.values.slice(0, 30));
  });
});

// ---- m-sharpness on a quadratic with diagonal shard Hessians -------------------------------------

describe('m-sharpness', () => {
  // Linear(4, 1) with the mean squared error; a batch of 8 cut into 2 shards of 4 whose rows are
  // scaled basis vectors, so each shard's loss is L_S(w + ε) − L_S(w) = gᵀε + ½ εᵀ diag(h) ε exactly.
  const s = [
    [2, 1, 0.5, 1.5],
    [1, 3, 0.8, 0.4],
  ];
  const yv = [0.3, -1, 0.7, 0.2, -0.5, 0.9, 1.1, -0.3];
  const w0 = [0.2, -0.1, 0.4, 0.3];
  function setup() {
    const model = new msam.nn.Linear(4, 1, { bias: false });
    model.to('float64');
    msam.noGrad(() => model.parameters()[0]!.copy_(msam.tensor([w0], { dtype: 'float64' })));
    const rows = s.flatMap((sk) => sk.map((v, i) => w0.map((_, j) => (i === j ? v : 0))));
    const batch = { input: msam.tensor(rows, { dtype: 'float64' }), target: msam.tensor(yv.map((v) => [v]), { dtype: 'float64' }) };
    // Per shard: g_i = (2/4) s_i (s_i w_i − y_i), h_i = (2/4) s_i², L = (1/4) Σ (s_i w_i − y_i)².
    const shards = s.map((sk, k) => ({
      g: sk.map((v, i) => 0.5 * v * (v * w0[i]! - yv[4 * k + i]!)),
      h: sk.map((v) => 0.5 * v * v),
      loss: sk.reduce((a, v, i) => a + (v * w0[i]! - yv[4 * k + i]!) ** 2, 0) / 4,
    }));
    return { model, batch, shards };
  }
  const increase = (g: number[], h: number[], e: number[]) => g.reduce((a, gi, i) => a + gi * e[i]! + 0.5 * h[i]! * e[i]! ** 2, 0);
  /** max over ‖ε‖ ≤ ρ of gᵀε + ½εᵀdiag(h)ε (h ≥ 0): ε_i = g_i / (μ − h_i) with μ > max h and ‖ε‖ = ρ, μ by bisection. */
  function trustRegionMax(g: number[], h: number[], rho: number): number {
    const normAt = (mu: number) => Math.sqrt(g.reduce((a, gi, i) => a + (gi / (mu - h[i]!)) ** 2, 0));
    let lo = Math.max(...h) + 1e-15;
    let hi = lo + 1;
    while (normAt(hi) > rho) hi *= 2;
    for (let k = 0; k < 200; k++) {
      const mid = (lo + hi) / 2;
      if (normAt(mid) > rho) lo = mid;
      else hi = mid;
    }
    return increase(g, h, g.map((gi, i) => gi / (hi - h[i]!)));
  }

  it('the one-step value is SAM’s ρ‖g‖ + ½ρ² gᵀHg/‖g‖² per shard, averaged', async () => {
    const { model, batch, shards } = setup();
    const rho = 0.3;
    const r = await analysis.mSharpness(model, batch, { loss: { loss: 'mse' }, shardSize: 4, rho, steps: 1 });
    const expected = shards.map(({ g, h }) => {
      const n = Math.hypot(...g);
      return increase(g, h, g.map((x) => (rho * x) / n));
    });
    expect(r.shards).toBe(2);
    expect(Math.abs(r.oneStep - (expected[0]! + expected[1]!) / 2)).toBeLessThan(1e-12);
    expect(r.sharpness).toBe(r.oneStep);
    expect(Math.abs(r.loss - (shards[0]!.loss + shards[1]!.loss) / 2)).toBeLessThan(1e-14);
  });

  it('projected ascent climbs from the SAM step to the worst case within the ball', async () => {
    const { model, batch, shards } = setup();
    const rho = 0.3;
    const exact = shards.map(({ g, h }) => trustRegionMax(g, h, rho));
    const exactMean = (exact[0]! + exact[1]!) / 2;
    const few = await analysis.mSharpness(model, batch, { loss: { loss: 'mse' }, shardSize: 4, rho, steps: 5 });
    const many = await analysis.mSharpness(model, batch, { loss: { loss: 'mse' }, shardSize: 4, rho, steps: 60, stepSize: rho / 10 });
    expect(few.sharpness).toBeGreaterThanOrEqual(few.oneStep);
    expect(few.sharpness).toBeLessThanOrEqual(exactMean + 1e-12);
    expect(many.sharpness).toBeLessThanOrEqual(exactMean + 1e-12);
    expect((exactMean - many.sharpness) / exactMean).toBeLessThan(1e-3);
    expect((exactMean - few.oneStep) / exactMean).toBeGreaterThan(1e-3); // the ascent had something to find
  });

  it('ρ = 0 gives 0; shards of one size per batch cut as tensor_split does', async () => {
    const { model, batch } = setup();
    const zero = await analysis.mSharpness(model, batch, { loss: { loss: 'mse' }, shardSize: 4, rho: 0 });
    expect(zero.sharpness).toBe(0);
    const three = await analysis.mSharpness(model, batch, { loss: { loss: 'mse' }, shardSize: 3, rho: 0.1 });
    expect(three.shards).toBe(3); // ⌈8 / 3⌉ shards of 3, 3, 2
  });
});

// ---- a small MLP: the full Hessian from autograd ----------------------------------------------

/** Column j of H is H e_j: the tensor API's double backward, one column per parameter. */
function fullHessian(model: msam.nn.Module, x: msam.Tensor, y: msam.Tensor, labelSmoothing: number): Matrix {
  const params = model.parameters();
  const sizes = params.map((p) => p.numel);
  const P = sizes.reduce((a, b) => a + b, 0);
  const wasTraining = model.training;
  model.eval();
  const l = msam.crossEntropy(model.forward(x), y, { labelSmoothing });
  const g = msam.autograd.grad(l, params, { createGraph: true }).map((t) => t!);
  const columns: number[][] = [];
  for (let j = 0; j < P; j++) {
    const e = new Float64Array(P);
    e[j] = 1;
    let at = 0;
    const pieces = params.map((p, i) => {
      const t = msam.tensor(e.slice(at, at + sizes[i]!)).reshape(p.shape);
      at += sizes[i]!;
      return t;
    });
    columns.push(flat(msam.autograd.grad(g, params, { gradOutputs: pieces, retainGraph: true, allowUnused: true }).map((t, i) => t ?? params[i]!.mul(0))));
  }
  model.train(wasTraining);
  return transpose(columns);
}

function mlpCase(seed: number) {
  msam.manualSeed(seed);
  const model = msam.models.mlp({ inFeatures: 5, hidden: [4], numClasses: 3 });
  model.to('float64');
  const x = msam.randn([7, 5], { dtype: 'float64' }).mul(1.5);
  const y = msam.tensor([0, 1, 2, 0, 2, 1, 1]);
  // Two uneven batches: 4 and 3 examples.
  const batches = [
    { input: x.narrow(0, 0, 4), target: y.narrow(0, 0, 4) },
    { input: x.narrow(0, 4, 3), target: y.narrow(0, 4, 3) },
  ];
  return { model, x, y, batches };
}

describe('a small MLP against its full Hessian', () => {
  const labelSmoothing = 0.1;
  const loss = { loss: 'cross_entropy' as const, labelSmoothing };

  it('products, the top eigenvalues (both orders of magnitude and sign) and the trace', async () => {
    const { model, x, y, batches } = mlpCase(5);
    const H = fullHessian(model, x, y, labelSmoothing);
    const P = H.length;
    expect(P).toBe(5 * 4 + 4 + 4 * 3 + 3);
    expect(maxAbsDiff(H.flat(), transpose(H).flat())).toBeLessThan(1e-12); // symmetric, as a Hessian is
    const eig = (msam.ops.call('aten::linalg_eigvalsh', '', msam.tensor(H, { dtype: 'float64' }), 'L') as msam.Tensor).toArray() as number[];
    const ascending = [...eig];
    const byMagnitude = [...eig].sort((a, b) => Math.abs(b) - Math.abs(a));
    // H v for a random v, against the assembled matrix.
    msam.manualSeed(11);
    const v = model.parameters().map((p) => msam.randnLike(p));
    const hv = analysis.hessianVectorProduct(model, batches, v, { loss });
    expect(maxAbsDiff(flat(hv), matvec(H, flat(v)))).toBeLessThan(1e-12);

    const top = await analysis.hessianEigenvalues(model, batches, { loss, topK: 2, tolerance: 1e-13, maxIterations: 5000, largestAlgebraic: false });
    expect(top.converged).toEqual([true, true]);
    top.eigenvalues.forEach((l, k) => expect(Math.abs(l - byMagnitude[k]!) / Math.abs(byMagnitude[k]!)).toBeLessThan(1e-6));
    const lambdaMax = ascending[ascending.length - 1]!;
    const r = await analysis.hessianEigenvalues(model, batches, { loss, tolerance: 1e-13, maxIterations: 5000 });
    expect(Math.abs(r.eigenvalues[0]! - lambdaMax) / lambdaMax).toBeLessThan(1e-6);

    const trace = H.reduce((s, row, i) => s + row[i]!, 0);
    const t = await analysis.hessianTrace(model, batches, { loss, samples: 200, blockSize: 50, tolerance: 0 });
    expect(Math.abs(t.trace - trace)).toBeLessThan(4 * t.standardError);
  });

  it('λ_max when the dominant eigenvalue is negative: power iteration on H − λ₁I', async () => {
    // tanh(wᵀx) with the squared error: where the output overshoots a far target, the curvature of
    // tanh makes the Hessian negative there. Seed 14's is indefinite with the negative eigenvalue
    // dominant (the spectrum is checked here, from the assembled matrix).
    msam.manualSeed(14);
    const model = new msam.nn.Sequential(new msam.nn.Linear(3, 1, { bias: false }), new msam.nn.Tanh());
    model.to('float64');
    const x = msam.randn([6, 3], { dtype: 'float64' });
    const y = msam.tensor([[-4], [3], [-4], [3], [-4], [3]], { dtype: 'float64' });
    const w = model.parameters()[0]!;
    const g = msam.autograd.grad(msam.mseLoss(model.forward(x), y), [w], { createGraph: true }).map((t) => t!);
    const H = [0, 1, 2].map((j) => flat(msam.autograd.grad(g, [w], { gradOutputs: [msam.tensor([[0, 1, 2].map((i) => (i === j ? 1 : 0))], { dtype: 'float64' })], retainGraph: true }) as msam.Tensor[]));
    const eig = (msam.ops.call('aten::linalg_eigvalsh', '', msam.tensor(H, { dtype: 'float64' }), 'L') as msam.Tensor).toArray() as number[];
    const [lambdaMin, , lambdaMax] = eig as [number, number, number];
    expect(lambdaMax).toBeGreaterThan(0);
    expect(-lambdaMin).toBeGreaterThan(1.2 * lambdaMax);
    const batches = [{ input: x.narrow(0, 0, 4), target: y.narrow(0, 0, 4) }, { input: x.narrow(0, 4, 2), target: y.narrow(0, 4, 2) }];
    const loss = { loss: 'mse' as const };
    const magnitude = await analysis.hessianEigenvalues(model, batches, { loss, tolerance: 1e-13, maxIterations: 5000, largestAlgebraic: false });
    expect(Math.abs(magnitude.eigenvalues[0]! - lambdaMin) / -lambdaMin).toBeLessThan(1e-6);
    const largest = await analysis.hessianEigenvalues(model, batches, { loss, topK: 2, tolerance: 1e-13, maxIterations: 5000 });
    expect(Math.abs(largest.eigenvalues[0]! - lambdaMax) / lambdaMax).toBeLessThan(1e-6);
    expect(Math.abs(largest.eigenvalues[1]! - eig[1]!)).toBeLessThan(1e-6 * -lambdaMin); // the next largest, on the same shift
    expect(largest.iterations[0]).toBeGreaterThan(magnitude.iterations[0]!); // both runs are counted
  });

  it('leaves the weights bit-exact and the mode as it was; reports progress in order before resolving', async () => {
    const { model, batches } = mlpCase(2);
    model.train();
    const before = model.parameters().map((p) => p.clone());
    const events: msam.analysis.AnalysisProgress[] = [];
    const onProgress = (e: msam.analysis.AnalysisProgress) => events.push(e);
    const r = await analysis.hessianEigenvalues(model, batches, { loss, topK: 2, maxIterations: 7, tolerance: 0, onProgress });
    expect(events.map((e) => [e.stage, e.index, e.iteration])).toEqual([0, 1].flatMap((k) => [1, 2, 3, 4, 5, 6, 7].map((i) => ['eigenvalue', k, i])));
    expect(events[6]!.value).toBe(r.eigenvalues[0]);
    events.length = 0;
    await analysis.hessianTrace(model, batches, { loss, samples: 4, blockSize: 2, onProgress });
    expect(events.map((e) => [e.stage, e.iteration])).toEqual([
      ['trace', 2],
      ['trace', 4],
    ]);
    events.length = 0;
    const ms = await analysis.mSharpness(model, batches, { loss, shardSize: 2, onProgress });
    expect(events.map((e) => e.iteration)).toEqual([1, 2, 3, 4]); // shards of 2, 2 | 2, 1
    expect(events[3]!.value).toBeCloseTo(ms.sharpness, 14);
    expect(model.training).toBe(true);
    model.parameters().forEach((p, i) => expect(Array.from(p.data())).toEqual(Array.from(before[i]!.data())));
  });

  it('started under noGrad they still differentiate, with the same results (async work carries the grad mode over)', async () => {
    const { model, batches } = mlpCase(2);
    const options = { loss, topK: 1, maxIterations: 5, tolerance: 0, seed: 3 };
    const plain = await analysis.hessianEigenvalues(model, batches, options);
    const underNoGrad = await msam.noGrad(() => analysis.hessianEigenvalues(model, batches, options));
    expect(underNoGrad.eigenvalues).toEqual(plain.eigenvalues);
    const trace = await analysis.hessianTrace(model, batches, { loss, samples: 2, blockSize: 2 });
    expect((await msam.noGrad(() => analysis.hessianTrace(model, batches, { loss, samples: 2, blockSize: 2 }))).trace).toBe(trace.trace);
    const ms = await analysis.mSharpness(model, batches, { loss, shardSize: 2 });
    expect((await msam.noGrad(() => analysis.mSharpness(model, batches, { loss, shardSize: 2 }))).sharpness).toBe(ms.sharpness);
    expect(msam.autograd.isGradEnabled()).toBe(true);
  });
});

describe('float32, as training runs', () => {
  it("a float32 small CNN's products agree with the same model's in float64 (conv kernels chosen for float32 included)", () => {
    msam.manualSeed(3);
    const model32 = msam.models.smallCnn({ width: 8 });
    model32.train();
    msam.noGrad(() => model32.forward(msam.randn([16, 1, 28, 28]).mul(1.3).add(0.2))); // running statistics
    const model64 = msam.models.smallCnn({ width: 8 });
    model64.loadStateDict(model32.stateDict());
    model64.to('float64');
    const x = msam.randn([32, 1, 28, 28]);
    const y = msam.randint(0, 10, [32]);
    const v = model32.parameters().map((p) => msam.randnLike(p));
    const loss = { loss: 'cross_entropy' as const, labelSmoothing: 0.1 };
    const hv32 = flat(analysis.hessianVectorProduct(model32, { input: x, target: y }, v, { loss }));
    const hv64 = flat(analysis.hessianVectorProduct(model64, { input: x.double(), target: y }, v.map((t) => t.double()), { loss }));
    const scale = Math.max(...hv64.map(Math.abs));
    expect(maxAbsDiff(hv32, hv64) / scale).toBeLessThan(1e-4);
  });
});

// ---- PyTorch: torch.autograd.functional.hvp on the same model and weights -------------------------

const execFileAsync = promisify(execFile);
const torchRef = reference(['torch'], 'hessian.test.ts (Hessian-vector products against torch.autograd.functional.hvp)');
const PYTHON = torchRef.python as string;
const skipReason = torchRef.ok ? null : torchRef.reason;

interface Reference {
  hvps: number[][][];
  lambda_max: number;
  iterations: number;
  loss: number;
}

describe.skipIf(skipReason !== null)(`agreement with torch.autograd.functional.hvp${skipReason === null ? '' : ` (skipped: ${skipReason})`}`, () => {
  const cases = [
    { name: 'small CNN (conv, BatchNorm in eval mode, ReLU, max-pool, dropout, linear), label smoothing 0.1', model: 'small_cnn', labelSmoothing: 0.1 },
    { name: 'MLP, plain cross-entropy', model: 'mlp', labelSmoothing: 0 },
  ] as const;
  for (const c of cases) {
    it(c.name, async () => {
      msam.manualSeed(7);
      const options = c.model === 'small_cnn' ? { numClasses: 3, inChannels: 1, width: 2, imageSize: 8, dropout: 0.25 } : { inFeatures: 12, hidden: [6, 5], numClasses: 3 };
      const model = c.model === 'small_cnn' ? msam.models.smallCnn(options) : msam.models.mlp(options as { inFeatures: number; hidden: number[]; numClasses: number });
      model.to('float64');
      const xShape = c.model === 'small_cnn' ? [10, 1, 8, 8] : [10, 12];
      if (c.model === 'small_cnn') {
        // Non-trivial running statistics, from batches in train mode; then random affine weights.
        model.train();
        msam.noGrad(() => model.forward(msam.randn(xShape, { dtype: 'float64' }).mul(1.7).add(0.4)));
        msam.noGrad(() => model.namedParameters().forEach(([n, p]) => n.startsWith('bn') && p.copy_(msam.randnLike(p).mul(0.3).add(n.endsWith('weight') ? 1 : 0))));
      }
      model.train(); // the analysis must switch to eval mode by itself
      const x = msam.randn(xShape, { dtype: 'float64' });
      const y = msam.tensor([0, 1, 2, 2, 1, 0, 0, 1, 2, 1]);
      const batches = [
        { input: x.narrow(0, 0, 6), target: y.narrow(0, 0, 6) },
        { input: x.narrow(0, 6, 4), target: y.narrow(0, 6, 4) },
      ];
      const params = model.parameters();
      const vectors = [0, 1].map(() => params.map((p) => msam.randnLike(p)));
      const start = params.map((p) => msam.randnLike(p));
      const state = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, Array.from(t.data(), Number)]));
      const spec = {
        model: c.model,
        options,
        state,
        x: Array.from(x.data()),
        x_shape: xShape,
        y: Array.from(y.data(), Number),
        label_smoothing: c.labelSmoothing,
        vectors: vectors.map((v) => v.map((t) => Array.from(t.data()))),
        start: start.map((t) => Array.from(t.data())),
        tolerance: 1e-12,
        max_iterations: 3000,
      };
      const file = path.join(tmp, `${c.model}.json`);
      fs.writeFileSync(file, JSON.stringify(spec));
      const { stdout } = await execFileAsync(PYTHON, [path.join(__dirname, 'fixtures', 'hessian_ref.py'), file], { maxBuffer: 64 << 20 });
      const ref = JSON.parse(stdout.trim().split('\n').pop() as string) as Reference;
      const loss = { loss: 'cross_entropy' as const, labelSmoothing: c.labelSmoothing };
      vectors.forEach((v, k) => {
        const ours = flat(analysis.hessianVectorProduct(model, batches, v, { loss }));
        const theirs = ref.hvps[k]!.flat();
        const scale = Math.max(...theirs.map(Math.abs));
        expect(scale).toBeGreaterThan(1e-3);
        expect(maxAbsDiff(ours, theirs) / scale).toBeLessThan(1e-10);
      });
      const r = await analysis.hessianEigenvalues(model, batches, { loss, tolerance: 1e-12, maxIterations: 3000 });
      expect(r.converged[0]).toBe(true);
      expect(Math.abs(r.eigenvalues[0]! - ref.lambda_max) / Math.abs(ref.lambda_max)).toBeLessThan(1e-6);
      expect(model.training).toBe(true);
    });
  }
});

// ---- bad input ---------------------------------------------------------------------------------

describe('bad input is an error naming the field, and the next call works', () => {
  const { model, batches } = mlpCase(1);
  it('options', async () => {
    await expect(analysis.hessianEigenvalues(model, batches, { topK: 0 })).rejects.toThrow("hessianEigenvalues: option 'topK' must be an integer ≥ 1, got 0");
    await expect(analysis.hessianEigenvalues(model, batches, { topK: 1000 })).rejects.toThrow(/topK must be between 1 and the number of parameters 39, got 1000/);
    await expect(analysis.hessianTrace(model, batches, { tolerance: -1 })).rejects.toThrow("hessianTrace: option 'tolerance' must be a finite number ≥ 0, got -1");
    await expect(analysis.mSharpness(model, batches, { rho: Number.NaN })).rejects.toThrow("mSharpness: option 'rho' must be a finite number ≥ 0, got NaN");
    await expect(analysis.mSharpness(model, batches, { foo: 1 } as never)).rejects.toThrow("mSharpness: unknown option 'foo'");
    await expect(analysis.hessianTrace(model, batches, { loss: { loss: 'hinge' } } as never)).rejects.toThrow(/field 'loss' must be/);
  });
  it('data and models', async () => {
    const x = msam.randn([4, 5], { dtype: 'float64' });
    await expect(analysis.hessianEigenvalues(model, { input: x, target: msam.tensor([0, 1, 2]) })).rejects.toThrow(
      /hessianEigenvalues: batch 0: every input must have the target's batch size 3 in dim 0, got \[4, 5\]/,
    );
    await expect(analysis.hessianEigenvalues(model, [])).rejects.toThrow('hessianEigenvalues: no batches');
    await expect(analysis.hessianEigenvalues(model, { input: msam.randn([3, 6], { dtype: 'float64' }), target: msam.tensor([0, 1, 2]) })).rejects.toThrow(/Sequential.forward/);
    class Scripted extends msam.nn.Module {
      forward(t: msam.Tensor): msam.Tensor {
        return t;
      }
    }
    await expect(analysis.hessianTrace(new Scripted(), batches)).rejects.toThrow(/the model must be a native module/);
    expect(() => analysis.hessianVectorProduct(model, batches, [msam.zeros([2])])).toThrow(/the vector has 1 tensors, the model 4 trainable parameters/);
    const ok = await analysis.hessianEigenvalues(model, batches, { maxIterations: 2 });
    expect(Number.isFinite(ok.eigenvalues[0])).toBe(true);
  });
  it('a progress callback that throws rejects the call once the work is done', async () => {
    await expect(
      analysis.hessianTrace(model, batches, {
        samples: 2,
        onProgress: () => {
          throw new Error('stop here');
        },
      }),
    ).rejects.toThrow('stop here');
    expect(model.training).toBe(true);
  });
});
