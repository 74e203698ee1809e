#include "distributed/reduce.h"

namespace msam {
namespace dist {

void reduceStep(Group& group, const std::vector<at::Tensor>& params, StepStats& stats, int64_t localBatch) {
  TORCH_CHECK(localBatch >= 1, "dist: every rank needs at least one example per step, this one (rank ", group.rank(), ") has ", localBatch);
  const int n = group.size();
  // [B_r, B_r·loss, B_r·perturbedLoss, m_r·gradNorm, m_r, skipped on rank 0..n-1]
  at::Tensor s = at::zeros({5 + n}, at::kDouble);
  // NCCL reduces only CUDA tensors: the statistics travel on the parameters' device there.
  const bool onDevice = group.backend() == "nccl" && !params.empty();
  {
    auto a = s.accessor<double, 1>();
    const double b = static_cast<double>(localBatch);
    a[0] = b;
    if (!stats.skipped) {
      a[1] = b * stats.loss;
      a[2] = b * stats.perturbedLoss;
      a[3] = static_cast<double>(stats.shards) * stats.gradNorm;
    }
    a[4] = static_cast<double>(stats.shards);
    a[5 + group.rank()] = stats.skipped ? 1.0 : 0.0;
  }
  if (onDevice) {
    at::Tensor d = s.to(params[0].device());
    group.allReduceSum({d});
    s = d.cpu();
  } else {
    group.allReduceSum({s});
  }
  auto a = s.accessor<double, 1>();
  const double B = a[0];
  int skippedRank = -1;
  for (int r = 0; r < n && skippedRank < 0; ++r) {
    if (a[5 + r] != 0) skippedRank = r;
  }
  stats.shards = static_cast<int64_t>(a[4]);
  if (skippedRank >= 0) {
    if (!stats.skipped) {
      for (const auto& p : params) p.mutable_grad() = at::Tensor();
      stats.skipped = true;
      stats.skipReason = c10::str("rank ", skippedRank, " skipped the step (a non-finite loss or gradient there)");
    } else {
      stats.skipReason = c10::str("rank ", group.rank(), ": ", stats.skipReason);
    }
    return;
  }
  stats.loss = a[1] / B;
  stats.perturbedLoss = a[2] / B;
  stats.gradNorm = a[4] > 0 ? a[3] / a[4] : 0.0;

  // Σ_{i∈r} (|S_i|/B_r) h_i · (B_r/B) summed over r is Σ_i (|S_i|/B) h_i.
  const double share = static_cast<double>(localBatch) / B;
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  {
    at::NoGradGuard noGrad;
    for (const auto& p : params) {
      at::Tensor& g = p.mutable_grad();
      if (!g.defined()) g = at::zeros_like(p);
      grads.push_back(g);
    }
    if (share != 1.0) at::_foreach_mul_(grads, share);
  }
  // The step's gradient buffers tile one flat buffer per dtype (msam/bookkeeping.h, gradBuffers):
  // the all-reduce runs on it in place.
  group.allReduceSum(grads);
}

}  // namespace dist
}  // namespace msam
