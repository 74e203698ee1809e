#include "msam/shard_stats.h"

#include <cmath>

#include "profile/op_count.h"

namespace msam {

ShardStats::ShardStats(int64_t m, const at::Device& device)
    : rows_(at::zeros({m, 4}, at::TensorOptions().dtype(at::kDouble).device(device))) {}

void ShardStats::record(int64_t i, const at::Tensor& loss, const at::Tensor& perturbedLoss, const at::Tensor& gNorm,
                        const at::Tensor& usedNorm) {
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
  rows_[i].copy_(at::stack({loss.detach().to(at::kDouble), perturbedLoss.detach().to(at::kDouble), gNorm.to(at::kDouble),
                            usedNorm.to(at::kDouble)}));
}

void ShardStats::recordRows(int64_t first, const at::Tensor& losses, const at::Tensor& perturbedLosses, const at::Tensor& gNorms,
                            const at::Tensor& usedNorms) {
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
  rows_.narrow(0, first, losses.size(0))
      .copy_(at::stack({losses.detach().to(at::kDouble), perturbedLosses.detach().to(at::kDouble), gNorms.to(at::kDouble),
                        usedNorms.to(at::kDouble)},
                       1));
}

std::string ShardStats::finish(const at::Tensor& finalNorm, const std::vector<double>& weights, const MsamOptions& opts,
                               StepStats& stats) {
  at::Tensor host;
  {
    MSAM_BOOKKEEPING();
    at::NoGradGuard noGrad;
    at::Tensor all = rows_.flatten();
    if (finalNorm.defined()) all = at::cat({all, finalNorm.to(at::kDouble).reshape({1})});
    host = all.cpu();  // the step's one host read
  }
  const double* v = host.data_ptr<double>();
  const int64_t m = rows_.size(0);
  // The loop's checks and sums, in its order (a skipped step reports what was summed before).
  for (int64_t i = 0; i < m; ++i) {
    const double w = weights[static_cast<size_t>(i)];
    const double lv = v[4 * i], lpv = v[4 * i + 1], gn = v[4 * i + 2], used = v[4 * i + 3];
    if (!std::isfinite(lv)) return c10::str("non-finite loss ", lv, " in shard ", i);
    stats.loss += w * lv;
    if (opts.rho == 0) stats.perturbedLoss += w * lv;
    if (!std::isfinite(used)) return c10::str("non-finite gradient in shard ", i);
    stats.gradNorm += gn / static_cast<double>(m);
    if (opts.rho == 0) continue;
    if (!std::isfinite(lpv)) return c10::str("non-finite perturbed loss ", lpv, " in shard ", i);
    stats.perturbedLoss += w * lpv;
  }
  if (finalNorm.defined() && !std::isfinite(v[4 * m])) return "non-finite mSAM gradient";
  return "";
}

}  // namespace msam
