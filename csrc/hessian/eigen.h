// The top eigenvalues of the Hessian by power iteration with deflation, as pytorch-hessian-
// eigenthings computes them (the paper's Table 4): eigenvalue k is the dominant eigenvalue of
// H − Σ_{j<k} λ_j u_j u_jᵀ, found from a fixed-seed random start, stopping when the Rayleigh
// quotient changes by at most `tolerance` (relative) between iterations, or after `maxIterations`.
#pragma once
#include "hessian/landscape.h"
#include "progress.h"

namespace msam::hessian {

struct PowerOptions {
  int64_t topK = 1;
  int64_t maxIterations = 100;
  double tolerance = 1e-3;
  uint64_t seed = 0;
  // Power iteration finds the eigenvalue of largest magnitude. When the first one is negative,
  // iterate again on H − λ₁I (whose dominant eigenvalue is λ_max − λ₁ ≥ 0) for the largest
  // algebraic eigenvalue, λ_max.
  bool largestAlgebraic = true;
};

struct EigenResult {
  double value = 0;
  int64_t iterations = 0;
  bool converged = false;
  // ‖H u − λ u‖ / |λ| for the final unit vector u: how well (λ, u) is an eigenpair.
  double relativeResidual = 0;
};

struct PowerResult {
  std::vector<EigenResult> eigen;  // by decreasing magnitude (k = 0: λ_max, see largestAlgebraic)
  std::vector<Vec> vectors;        // unit eigenvectors, float64
  int64_t hvps = 0;                // Hessian-vector products taken
};

PowerResult topEigenvalues(const Landscape& landscape, const PowerOptions& opts, const ProgressFn& progress);

}  // namespace msam::hessian
