// One shard's loss as the loop computes it (forward and loss under autocast when asked, plus the
// in-loss weight decay), for strategies that must run the loop's very passes ('graph').
// msam/loop.cc has the same function locally; the two must stay the same.
#pragma once
#include "msam/autocast.h"
#include "msam/step.h"

namespace msam {

inline at::Tensor shardLossOf(nn::Module& model, const std::vector<at::Tensor>& inputs, const at::Tensor& target, const LossSpec& loss,
                              const MsamOptions& opts, const std::vector<at::Tensor>& params) {
  at::Tensor l;
  {
    c10::optional<AutocastGuard> autocast;
    if (opts.autocast) autocast.emplace(params[0].device().type(), *opts.autocast);
    l = loss(model.forward(inputs)[0], target);
  }
  if (opts.lossWeightDecay > 0) {
    at::Tensor sq = at::zeros({}, l.options());
    for (const auto& p : params) sq = sq + p.pow(2).sum();
    l = l + 0.5 * opts.lossWeightDecay * sq;
  }
  return l;
}

}  // namespace msam
