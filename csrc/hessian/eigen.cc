#include "hessian/eigen.h"

#include <cmath>
#include <limits>

namespace msam::hessian {
namespace {

struct Found {
  EigenResult eigen;
  Vec vector;
};

// The dominant eigenpair of (H − shift·I) deflated by `known` (pairs of the same shifted operator).
Found powerIterate(const Landscape& landscape, const PowerOptions& opts, int64_t k, double shift, const std::vector<Found>& known,
                   uint64_t seed, int64_t& hvps, const ProgressFn& progress) {
  auto apply = [&](const Vec& v) {
    Vec w = landscape.hvp(v);
    ++hvps;
    if (shift != 0) axpy(w, -shift, v);
    for (const auto& f : known) axpy(w, -f.eigen.value * dot(f.vector, v), f.vector);
    return w;
  };
  // A fixed-seed Gaussian start, without components along the eigenvectors already found.
  Vec v = landscape.randn(seed);
  for (const auto& f : known) axpy(v, -dot(f.vector, v), f.vector);
  double n0 = norm(v);
  TORCH_CHECK(n0 > 0 && std::isfinite(n0), "the random start vector of eigenvalue ", k, " vanished after deflation");
  scale(v, 1.0 / n0);

  Found out;
  double previous = std::numeric_limits<double>::quiet_NaN();
  for (int64_t it = 1; it <= opts.maxIterations; ++it) {
    Vec w = apply(v);
    const double lambda = dot(v, w);  // the Rayleigh quotient: ‖v‖ = 1
    const double wn = norm(w);
    TORCH_CHECK(std::isfinite(lambda) && std::isfinite(wn), "a Hessian-vector product is not finite (eigenvalue ", k, ", iteration ", it,
                ")");
    const double change = it == 1 ? std::numeric_limits<double>::infinity()
                                  : std::abs(lambda - previous) / std::max(std::abs(lambda), std::numeric_limits<double>::min());
    // ‖w − λv‖² = ‖w‖² − λ² for a unit v.
    const double residual = std::sqrt(std::max(0.0, wn * wn - lambda * lambda));
    out.eigen.value = lambda;
    out.eigen.iterations = it;
    out.eigen.relativeResidual = lambda != 0 ? residual / std::abs(lambda) : (residual == 0 ? 0 : std::numeric_limits<double>::infinity());
    if (progress) progress({"eigenvalue", k, it, opts.maxIterations, lambda + shift, change});
    out.vector = v;  // the vector λ is the Rayleigh quotient of
    if (wn == 0) {   // H v = 0: v is an eigenvector of eigenvalue 0
      out.eigen.converged = true;
      break;
    }
    if (change <= opts.tolerance) {
      out.eigen.converged = true;
      break;
    }
    previous = lambda;
    v = std::move(w);
    scale(v, 1.0 / wn);
  }
  return out;
}

std::vector<Found> run(const Landscape& landscape, const PowerOptions& opts, double shift, int64_t& hvps, const ProgressFn& progress) {
  std::vector<Found> found;
  for (int64_t k = 0; k < opts.topK; ++k) {
    found.push_back(powerIterate(landscape, opts, k, shift, found, mixSeed(opts.seed, static_cast<uint64_t>(k)), hvps, progress));
  }
  return found;
}

}  // namespace

PowerResult topEigenvalues(const Landscape& landscape, const PowerOptions& opts, const ProgressFn& progress) {
  TORCH_CHECK(opts.topK >= 1 && opts.topK <= landscape.numParameters(), "topK must be between 1 and the number of parameters ",
              landscape.numParameters(), ", got ", opts.topK);
  TORCH_CHECK(opts.maxIterations >= 1, "maxIterations must be at least 1, got ", opts.maxIterations);
  TORCH_CHECK(opts.tolerance >= 0 && std::isfinite(opts.tolerance), "tolerance must be a finite number ≥ 0, got ", opts.tolerance);
  PowerResult result;
  std::vector<Found> found = run(landscape, opts, 0.0, result.hvps, progress);
  double shift = 0;
  if (opts.largestAlgebraic && found[0].eigen.value < 0) {
    // The dominant eigenvalue is negative: the spectrum of H − λ₁I lies in [0, λ_max − λ₁], so
    // its dominant eigenvalue is λ_max − λ₁.
    shift = found[0].eigen.value;
    int64_t before = found[0].eigen.iterations;
    found = run(landscape, opts, shift, result.hvps, progress);
    found[0].eigen.iterations += before;
  }
  for (auto& f : found) {
    EigenResult e = f.eigen;
    const double shifted = e.value;
    e.value = shifted + shift;
    // The residual is the same for H and H − shift·I; relative to the unshifted eigenvalue.
    if (shift != 0) e.relativeResidual = e.value != 0 ? e.relativeResidual * std::abs(shifted) / std::abs(e.value) : e.relativeResidual;
    result.eigen.push_back(e);
    result.vectors.push_back(std::move(f.vector));
  }
  return result;
}

}  // namespace msam::hessian
