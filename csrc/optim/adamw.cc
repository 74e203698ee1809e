#include "optim/adamw.h"

#include <cmath>

namespace msam {
namespace optim {

void AdamWOptions::check() const {
  // The TS layer checks these first with friendlier messages; this guards C++ callers.
  TORCH_CHECK(std::isfinite(lr) && lr >= 0, "AdamW: option 'lr' must be a finite number >= 0, got ", lr);
  TORCH_CHECK(beta1 >= 0 && beta1 < 1, "AdamW: option 'betas[0]' must be in [0, 1), got ", beta1);
  TORCH_CHECK(beta2 >= 0 && beta2 < 1, "AdamW: option 'betas[1]' must be in [0, 1), got ", beta2);
  TORCH_CHECK(std::isfinite(eps) && eps >= 0, "AdamW: option 'eps' must be a finite number >= 0, got ", eps);
  TORCH_CHECK(std::isfinite(weightDecay) && weightDecay >= 0, "AdamW: option 'weightDecay' must be a finite number >= 0, got ",
              weightDecay);
}

// torch/optim/adamw.py, _single_tensor_adamw (capturable=False), each line as one _foreach_* op over
// the group's parameters (as its _multi_tensor_adamw): the same ATen arithmetic per element in the
// same order, so the same bits, in a fixed number of dispatches. The bias corrections are computed
// in double from each parameter's step count, as Python computes them from `step_t.item()` (a
// float32 count there: exact below 2^24 steps, as here) — host numbers, no device read.
void AdamW::update(size_t group, const std::vector<size_t>& indices) {
  const AdamWOptions& o = options_[group];
  std::vector<at::Tensor> params, grads, expAvgs, expAvgSqs, maxExpAvgSqs;
  std::vector<c10::Scalar> bc2Sqrts, negStepSizes;
  for (size_t i : indices) {
    at::Tensor& param = params_[i];
    ParamState& s = state_[i];
    if (s.step == 0) {  // zeros_like keeps the parameter's layout (preserve_format), as torch
      s.set("exp_avg", at::zeros_like(param));
      s.set("exp_avg_sq", at::zeros_like(param));
    }
    // amsgrad's running maximum; for a parameter whose state predates switching amsgrad on it
    // starts now (torch would raise a KeyError).
    if (o.amsgrad && !s.find("max_exp_avg_sq")) s.set("max_exp_avg_sq", at::zeros_like(param));
    s.step += 1;
    params.push_back(param);
    grads.push_back(param.grad());
    expAvgs.push_back(*s.find("exp_avg"));
    expAvgSqs.push_back(*s.find("exp_avg_sq"));
    if (o.amsgrad) maxExpAvgSqs.push_back(*s.find("max_exp_avg_sq"));
    const auto step = static_cast<double>(s.step);
    const double biasCorrection1 = 1 - std::pow(o.beta1, step);
    const double biasCorrection2 = 1 - std::pow(o.beta2, step);
    bc2Sqrts.emplace_back(std::sqrt(biasCorrection2));
    negStepSizes.emplace_back(-(o.lr / biasCorrection1));
  }
  if (o.maximize) grads = at::_foreach_neg(grads);

  at::_foreach_mul_(params, 1 - o.lr * o.weightDecay);
  at::_foreach_mul_(expAvgs, o.beta1);
  at::_foreach_add_(expAvgs, grads, 1 - o.beta1);
  at::_foreach_mul_(expAvgSqs, o.beta2);
  at::_foreach_addcmul_(expAvgSqs, grads, grads, 1 - o.beta2);

  std::vector<at::Tensor> denom;
  if (o.amsgrad) {
    // max_exp_avg_sq ← max(max_exp_avg_sq, exp_avg_sq) in place (maximum_out, as torch 1.13).
    for (size_t k = 0; k < maxExpAvgSqs.size(); ++k) at::maximum_out(maxExpAvgSqs[k], maxExpAvgSqs[k], expAvgSqs[k]);
    denom = at::_foreach_sqrt(maxExpAvgSqs);
  } else {
    denom = at::_foreach_sqrt(expAvgSqs);
  }
  at::_foreach_div_(denom, bc2Sqrts);
  at::_foreach_add_(denom, o.eps);
  at::_foreach_addcdiv_(params, expAvgs, denom, negStepSizes);
}

void AdamW::bufferNames(size_t, const OptionMap& options, std::vector<std::string>* required,
                        std::vector<std::string>* optional) const {
  required->push_back("exp_avg");
  required->push_back("exp_avg_sq");
  (flagOf(options, "amsgrad") ? required : optional)->push_back("max_exp_avg_sq");
}

}  // namespace optim
}  // namespace msam
