// Hutchinson's estimator of the Hessian's trace: tr(H) = E[zᵀ H z] for Rademacher z (entries ±1
// with probability ½). Samples are drawn in blocks; each block takes one pass over the batches,
// building each batch's gradient graph once and taking the block's Hessian-vector products on it.
// Stops once the standard error of the mean is at most `tolerance` × |mean| (after two blocks at
// least), or after `maxSamples`. Sample k's vector depends only on (seed, k).
#pragma once
#include "hessian/landscape.h"
#include "progress.h"

namespace msam::hessian {

struct TraceOptions {
  int64_t maxSamples = 100;
  int64_t blockSize = 10;
  double tolerance = 1e-2;
  uint64_t seed = 0;
};

struct TraceResult {
  double trace = 0;          // the mean of the samples zᵀ H z
  double standardError = 0;  // sample std / √n (0 for one sample)
  int64_t samples = 0;
  bool converged = false;    // the relative standard error reached the tolerance
  std::vector<double> values;
};

TraceResult hutchinsonTrace(const Landscape& landscape, const TraceOptions& opts, const ProgressFn& progress);

}  // namespace msam::hessian
