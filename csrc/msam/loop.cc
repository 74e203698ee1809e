#include "msam/step.h"

#include <cmath>

#include "msam/autocast.h"

namespace msam {
namespace {

// The random state of the generators a shard's passes draw from (dropout): saved before the
// ascent pass and restored before the descent pass, so that both see the same masks.
class RngSnapshot {
 public:
  explicit RngSnapshot(const at::Device& device) {
    save(at::Device(at::kCPU));
    if (!device.is_cpu()) save(device);
  }
  void restore() {
    for (auto& [gen, state] : saved_) {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  }

 private:
  void save(const at::Device& d) {
    at::Generator gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    saved_.emplace_back(gen, gen.get_state());
  }
  std::vector<std::pair<at::Generator, at::Tensor>> saved_;
};

// ‖v‖₂ over all tensors as one vector: each tensor's norm in float32 or wider (half-precision
// gradients are widened, as the contract asks), combined in float64.
double globalNorm(const std::vector<at::Tensor>& v) {
  std::vector<at::Tensor> norms;
  norms.reserve(v.size());
  for (const auto& t : v) {
    if (!t.defined()) continue;
    auto dtype = t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    norms.push_back(at::linalg_vector_norm(t, 2, c10::nullopt, false, dtype).to(at::kDouble));
  }
  if (norms.empty()) return 0.0;
  return at::stack(norms).norm().item<double>();
}

at::Tensor shardLoss(nn::Module& model, const std::vector<at::Tensor>& inputs, const at::Tensor& target, const LossSpec& loss,
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

std::vector<at::Tensor> gradients(const at::Tensor& loss, const std::vector<at::Tensor>& params) {
  return torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true);
}

}  // namespace

StepStats msamGradientLoop(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  std::vector<at::Tensor> params;
  {
    nn::Module::Named<at::Tensor> named;
    model.namedParameters("", named);
    for (auto& p : named) {
      if (p.second.requires_grad()) params.push_back(p.second);
    }
  }
  TORCH_CHECK(!params.empty(), "the model has no trainable parameters");
  TORCH_CHECK(!batch.inputs.empty(), "the batch has no input");
  const int64_t B = batch.inputs[0].size(0);
  for (const auto& x : batch.inputs) TORCH_CHECK(x.size(0) == B, "every input must have the batch size ", B, " in dim 0, got ", x.sizes());
  TORCH_CHECK(batch.target.dim() > 0 && batch.target.size(0) == B, "the target must have the batch size ", B, " in dim 0, got ",
              batch.target.sizes());
  TORCH_CHECK(opts.m >= 1 && opts.m <= B, "m must be between 1 and the batch size ", B, ", got ", opts.m);

  // What a skipped step puts back: the weights (also the restore point after every perturbation)
  // and the buffers (BatchNorm statistics the unperturbed passes update).
  std::vector<at::Tensor> saved, savedBuffers, buffers;
  {
    at::NoGradGuard noGrad;
    // With ρ = 0 nothing perturbs the weights: no restore point is needed.
    if (opts.rho != 0) {
      for (const auto& p : params) saved.push_back(p.detach().clone());
    }
    nn::Module::Named<at::Tensor> named;
    model.namedBuffers("", named);
    for (auto& b : named) {
      buffers.push_back(b.second);
      savedBuffers.push_back(b.second.clone());
    }
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
    for (size_t j = 0; j < buffers.size(); ++j) buffers[j].copy_(savedBuffers[j]);
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
