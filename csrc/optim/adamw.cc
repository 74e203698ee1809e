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

// torch/optim/adamw.py, _single_tensor_adamw (capturable=False), op for op. The bias
// corrections are computed in double from the step count, as Python computes them from
// `step_t.item()` (a float32 count there: exact below 2^24 steps, as here).
void AdamW::update(size_t group, const std::vector<size_t>& indices) {
  const AdamWOptions& o = options_[group];
  for (size_t i : indices) {
    at::Tensor& param = params_[i];
    at::Tensor grad = o.maximize ? param.grad().neg() : param.grad();
    ParamState& s = state_[i];
    if (s.step == 0) {  // zeros_like keeps the parameter's layout (preserve_format), as torch
      s.set("exp_avg", at::zeros_like(param));
      s.set("exp_avg_sq", at::zeros_like(param));
    }
    // amsgrad's running maximum; for a parameter whose state predates switching amsgrad on it
    // starts now (torch would raise a KeyError). Made before the references below are taken.
    if (o.amsgrad && !s.find("max_exp_avg_sq")) s.set("max_exp_avg_sq", at::zeros_like(param));
    at::Tensor& expAvg = *s.find("exp_avg");
    at::Tensor& expAvgSq = *s.find("exp_avg_sq");
    s.step += 1;

    param.mul_(1 - o.lr * o.weightDecay);
    expAvg.mul_(o.beta1).add_(grad, 1 - o.beta1);
    expAvgSq.mul_(o.beta2).addcmul_(grad, grad, 1 - o.beta2);

    const auto step = static_cast<double>(s.step);
    const double biasCorrection1 = 1 - std::pow(o.beta1, step);
    const double biasCorrection2 = 1 - std::pow(o.beta2, step);
    const double stepSize = o.lr / biasCorrection1;
    const double biasCorrection2Sqrt = std::sqrt(biasCorrection2);

    at::Tensor denom;
    if (o.amsgrad) {
      at::Tensor& maxExpAvgSq = *s.find("max_exp_avg_sq");
      at::maximum_out(maxExpAvgSq, maxExpAvgSq, expAvgSq);
      denom = (maxExpAvgSq.sqrt() / biasCorrection2Sqrt).add_(o.eps);
    } else {
      denom = (expAvgSq.sqrt() / biasCorrection2Sqrt).add_(o.eps);
    }
    param.addcdiv_(expAvg, denom, -stepSize);
  }
}

void AdamW::bufferNames(size_t, const OptionMap& options, std::vector<std::string>* required,
                        std::vector<std::string>* optional) const {
  required->push_back("exp_avg");
  required->push_back("exp_avg_sq");
  (flagOf(options, "amsgrad") ? required : optional)->push_back("max_exp_avg_sq");
}

}  // namespace optim
}  // namespace msam
