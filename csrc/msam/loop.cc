// The 'loop' strategy, the exact reference: the shards one after another, each with its ascent
// pass at w and its descent pass at w + ε_i, the weights perturbed in place and restored from a copy.
#include "msam/step.h"

#include <cmath>

#include "msam/support.h"

namespace msam {
namespace {

std::vector<at::Tensor> gradients(const at::Tensor& loss, const std::vector<at::Tensor>& params) {
  return torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true);
}

}  // namespace

StepStats msamGradientLoop(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  std::vector<at::Tensor> params = trainableParameters(model);
  const int64_t B = checkBatch(batch, opts.m);

  // What a skipped step puts back: the weights (also the restore point after every perturbation)
  // and the buffers (BatchNorm statistics the unperturbed passes update).
  std::vector<at::Tensor> saved;
  SavedBuffers savedBuffers(model);
  if (opts.rho != 0) {
    at::NoGradGuard noGrad;
    // With ρ = 0 nothing perturbs the weights: no restore point is needed.
    for (const auto& p : params) saved.push_back(p.detach().clone());
  }
  // The weighted sum of the h_i, made from the first shard's (so m = 1 hands h_1 over as it is).
  std::vector<at::Tensor> acc(params.size());

  // tensor_split semantics: sizes ⌈B/m⌉ then ⌊B/m⌋.
  std::vector<std::vector<at::Tensor>> shardInputs(static_cast<size_t>(opts.m));
  for (const auto& x : batch.inputs) {
    auto pieces = x.tensor_split(opts.m, 0);
    for (int64_t i = 0; i < opts.m; ++i) shardInputs[i].push_back(pieces[i]);
  }
  auto shardTargets = batch.target.tensor_split(opts.m, 0);

  StepStats stats;
  stats.shards = opts.m;
  auto skip = [&](std::string why) {
    at::NoGradGuard noGrad;
    for (size_t j = 0; j < saved.size(); ++j) params[j].copy_(saved[j]);
    savedBuffers.restore();
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    stats.skipped = true;
    stats.skipReason = std::move(why);
    return stats;
  };

  std::unique_ptr<nn::FreezeRunningStats> freezeAll;
  if (opts.freezeBatchNorm) freezeAll = std::make_unique<nn::FreezeRunningStats>();
  const at::Device device = params[0].device();
  for (int64_t i = 0; i < opts.m; ++i) {
    const double weight = static_cast<double>(shardTargets[i].size(0)) / static_cast<double>(B);
    RngSnapshot rng(device);

    // Ascent: g_i at w. With ρ = 0 there is no perturbation, so this pass is also the descent pass.
    at::Tensor l = shardLoss(model, shardInputs[i], shardTargets[i], loss, opts, params);
    double lv = l.item<double>();
    if (!std::isfinite(lv)) return skip(c10::str("non-finite loss ", lv, " in shard ", i));
    auto g = gradients(l, params);
    stats.loss += weight * lv;
    std::vector<at::Tensor> h;
    if (opts.rho == 0) {
      h = std::move(g);
      stats.perturbedLoss += weight * lv;
      double norm = globalNorm(h);
      if (!std::isfinite(norm)) return skip(c10::str("non-finite gradient in shard ", i));
      stats.gradNorm += norm / static_cast<double>(opts.m);
    } else {
      std::vector<at::Tensor> e;
      {
        at::NoGradGuard noGrad;
        if (opts.adaptive) {
          std::vector<at::Tensor> tg;
          for (size_t j = 0; j < params.size(); ++j) {
            if (g[j].defined()) tg.push_back((params[j].abs() + opts.eta) * g[j]);
          }
          double norm = globalNorm(tg);
          if (!std::isfinite(norm)) return skip(c10::str("non-finite gradient in shard ", i));
          stats.gradNorm += globalNorm(g) / static_cast<double>(opts.m);
          double scale = opts.rho / (norm + 1e-12);
          for (size_t j = 0; j < params.size(); ++j) {
            if (g[j].defined()) e.push_back((params[j].abs() + opts.eta).pow(2) * g[j] * scale);
            else e.push_back(at::Tensor());
          }
        } else {
          double norm = globalNorm(g);
          if (!std::isfinite(norm)) return skip(c10::str("non-finite gradient in shard ", i));
          stats.gradNorm += norm / static_cast<double>(opts.m);
          double scale = opts.rho / (norm + 1e-12);
          for (const auto& gj : g) e.push_back(gj.defined() ? gj * scale : at::Tensor());
        }
        for (size_t j = 0; j < params.size(); ++j) {
          if (e[j].defined()) params[j].add_(e[j]);
        }
      }
      g.clear();
      // Descent: h_i at w + ε_i, with the same random state, running statistics untouched.
      rng.restore();
      at::Tensor lp;
      {
        nn::FreezeRunningStats frozen;
        lp = shardLoss(model, shardInputs[i], shardTargets[i], loss, opts, params);
        double lpv = lp.item<double>();
        if (!std::isfinite(lpv)) return skip(c10::str("non-finite perturbed loss ", lpv, " in shard ", i));
        stats.perturbedLoss += weight * lpv;
        h = gradients(lp, params);
      }
      at::NoGradGuard noGrad;
      for (size_t j = 0; j < params.size(); ++j) params[j].copy_(saved[j]);  // bit-exact, not by subtraction
    }
    at::NoGradGuard noGrad;
    for (size_t j = 0; j < params.size(); ++j) {
      at::Tensor hj = h[j].defined() ? h[j] : at::zeros_like(params[j]);
      if (!acc[j].defined()) {
        acc[j] = weight == 1.0 ? hj : hj * weight;  // autograd's results are fresh tensors: ours to keep
      } else {
        acc[j].add_(hj, weight);
      }
    }
  }
  // (For vanilla, m = 1 and ρ = 0, the sum is h_1 whose norm is already known to be finite.)
  bool knownFinite = opts.m == 1 && opts.rho == 0;
  if (!knownFinite && !std::isfinite(globalNorm(acc))) return skip("non-finite mSAM gradient");
  for (size_t j = 0; j < params.size(); ++j) params[j].mutable_grad() = acc[j];
  return stats;
}

}  // namespace msam
