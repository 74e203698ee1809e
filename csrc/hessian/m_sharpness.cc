#include "hessian/m_sharpness.h"

#include <cmath>
#include <limits>

namespace msam::hessian {
namespace {

// Puts the weights back from a copy when it goes out of scope, on errors too.
class RestoreWeights {
 public:
  explicit RestoreWeights(const std::vector<at::Tensor>& params) : params_(params) {
    at::NoGradGuard noGrad;
    for (const auto& p : params_) saved_.push_back(p.detach().clone());
  }
  ~RestoreWeights() { restore(); }
  RestoreWeights(const RestoreWeights&) = delete;
  RestoreWeights& operator=(const RestoreWeights&) = delete;
  void restore() {
    at::NoGradGuard noGrad;
    for (size_t j = 0; j < params_.size(); ++j) params_[j].copy_(saved_[j]);
  }
  // w + ε: from the saved copy, so that no rounding accumulates over the ascent steps.
  void setPerturbed(const Vec& eps) {
    at::NoGradGuard noGrad;
    for (size_t j = 0; j < params_.size(); ++j) params_[j].copy_(saved_[j]).add_(eps[j].to(params_[j].scalar_type()));
  }

 private:
  const std::vector<at::Tensor>& params_;
  std::vector<at::Tensor> saved_;
};

Vec gradientOf(const at::Tensor& loss, const std::vector<at::Tensor>& params) {
  auto g = torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true);
  for (size_t j = 0; j < params.size(); ++j) {
    if (!g[j].defined()) g[j] = at::zeros_like(params[j]);
  }
  return toDouble(g);
}

}  // namespace

MSharpnessResult mSharpness(const Landscape& landscape, const Batches& data, const MSharpnessOptions& opts, const ProgressFn& progress) {
  TORCH_CHECK(opts.shardSize >= 1, "shardSize must be at least 1, got ", opts.shardSize);
  TORCH_CHECK(opts.rho >= 0 && std::isfinite(opts.rho), "rho must be a finite number ≥ 0, got ", opts.rho);
  TORCH_CHECK(opts.steps >= 1, "steps must be at least 1, got ", opts.steps);
  const double alpha = opts.stepSize < 0 ? opts.rho / 2 : opts.stepSize;
  TORCH_CHECK(std::isfinite(alpha), "stepSize must be finite, got ", opts.stepSize);
  const auto& params = landscape.params();
  int64_t total = 0;
  for (const auto& t : data.targets) total += (t.size(0) + opts.shardSize - 1) / opts.shardSize;

  MSharpnessResult r;
  std::vector<double> increases;
  double increaseSum = 0, oneStepSum = 0, lossSum = 0;
  RestoreWeights weights(params);
  for (size_t b = 0; b < data.targets.size(); ++b) {
    const int64_t k = (data.targets[b].size(0) + opts.shardSize - 1) / opts.shardSize;
    std::vector<std::vector<at::Tensor>> inputs(static_cast<size_t>(k));
    for (const auto& x : data.inputs[b]) {
      auto pieces = x.tensor_split(k, 0);
      for (int64_t i = 0; i < k; ++i) inputs[i].push_back(pieces[i]);
    }
    auto targets = data.targets[b].tensor_split(k, 0);
    for (int64_t i = 0; i < k; ++i) {
      at::AutoGradMode enable(true);
      at::Tensor l0 = landscape.loss(inputs[i], targets[i]);
      const double base = l0.item<double>();
      TORCH_CHECK(std::isfinite(base), "the loss of shard ", increases.size(), " is not finite (", base, ")");
      Vec g = gradientOf(l0, params);
      Vec eps;
      double best = base, oneStep = base;
      for (int64_t t = 1; t <= opts.steps; ++t) {
        const double gn = norm(g);
        TORCH_CHECK(std::isfinite(gn), "a gradient of shard ", increases.size(), " is not finite");
        if (gn == 0 || opts.rho == 0) break;  // no ascent direction (or no ball): the increase is 0 as far as this goes
        if (t == 1) {
          eps = g;
          scale(eps, opts.rho / gn);
        } else {
          axpy(eps, alpha / gn, g);
          const double en = norm(eps);
          if (en > opts.rho) scale(eps, opts.rho / en);  // the projection onto the ρ-ball
        }
        weights.setPerturbed(eps);
        double lv;
        if (t < opts.steps) {
          at::Tensor l = landscape.loss(inputs[i], targets[i]);
          lv = l.item<double>();
          if (std::isfinite(lv)) g = gradientOf(l, params);
        } else {
          at::NoGradGuard noGrad;
          lv = landscape.loss(inputs[i], targets[i]).item<double>();
        }
        TORCH_CHECK(std::isfinite(lv), "the perturbed loss of shard ", increases.size(), " is not finite (", lv, ")");
        if (t == 1) oneStep = lv;
        best = std::max(best, lv);
      }
      weights.restore();
      increases.push_back(best - base);
      increaseSum += best - base;
      oneStepSum += oneStep - base;
      lossSum += base;
      const auto done = static_cast<int64_t>(increases.size());
      if (progress) progress({"mSharpness", 0, done, total, increaseSum / static_cast<double>(done), 0.0});
    }
  }
  r.shards = static_cast<int64_t>(increases.size());
  const double n = static_cast<double>(r.shards);
  for (double v : increases) r.sharpness += v / n;
  r.oneStep = oneStepSum / n;
  r.loss = lossSum / n;
  double sq = 0;
  for (double v : increases) sq += (v - r.sharpness) * (v - r.sharpness);
  r.standardError = r.shards > 1 ? std::sqrt(sq / (n - 1) / n) : 0.0;
  return r;
}

}  // namespace msam::hessian
