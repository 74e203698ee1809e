#include "hessian/trace.h"

#include <cmath>

namespace msam::hessian {

TraceResult hutchinsonTrace(const Landscape& landscape, const TraceOptions& opts, const ProgressFn& progress) {
  TORCH_CHECK(opts.maxSamples >= 1, "samples must be at least 1, got ", opts.maxSamples);
  TORCH_CHECK(opts.blockSize >= 1, "blockSize must be at least 1, got ", opts.blockSize);
  TORCH_CHECK(opts.tolerance >= 0 && std::isfinite(opts.tolerance), "tolerance must be a finite number ≥ 0, got ", opts.tolerance);
  TraceResult r;
  int64_t blocks = 0;
  while (r.samples < opts.maxSamples) {
    const int64_t n = std::min(opts.blockSize, opts.maxSamples - r.samples);
    std::vector<double> values(static_cast<size_t>(n), 0.0);
    landscape.forEachBatchGradient([&](const std::vector<at::Tensor>& grads, double weight) {
      for (int64_t s = 0; s < n; ++s) {
        // Regenerated per batch rather than kept: n vectors of the model's size would not fit for large models.
        Vec z = landscape.rademacher(mixSeed(opts.seed, static_cast<uint64_t>(r.samples + s)));
        Vec hz = landscape.batchHvp(grads, z, /*retain=*/s + 1 < n);
        values[s] += weight * dot(z, hz);
      }
    });
    for (double v : values) {
      TORCH_CHECK(std::isfinite(v), "a Hessian-vector product is not finite (trace sample ", r.values.size(), ")");
      r.values.push_back(v);
    }
    r.samples += n;
    ++blocks;
    double sum = 0;
    for (double v : r.values) sum += v;
    r.trace = sum / static_cast<double>(r.samples);
    double sq = 0;
    for (double v : r.values) sq += (v - r.trace) * (v - r.trace);
    r.standardError = r.samples > 1 ? std::sqrt(sq / static_cast<double>(r.samples - 1) / static_cast<double>(r.samples)) : 0.0;
    const double relative = r.trace != 0 ? r.standardError / std::abs(r.trace) : (r.standardError == 0 ? 0 : INFINITY);
    if (progress) progress({"trace", 0, r.samples, opts.maxSamples, r.trace, relative});
    if (blocks >= 2 && relative <= opts.tolerance) {
      r.converged = true;
      break;
    }
  }
  if (!r.converged) {
    const double relative = r.trace != 0 ? r.standardError / std::abs(r.trace) : (r.standardError == 0 ? 0 : INFINITY);
    r.converged = r.samples >= 2 && relative <= opts.tolerance;
  }
  return r;
}

}  // namespace msam::hessian
