#include "optim/sgd.h"

#include <cmath>

namespace msam {
namespace optim {

void SGDOptions::check() const {
  // The TS layer checks these first with friendlier messages; this guards C++ callers.
  TORCH_CHECK(std::isfinite(lr) && lr >= 0, "SGD: option 'lr' must be a finite number >= 0, got ", lr);
  TORCH_CHECK(std::isfinite(momentum) && momentum >= 0, "SGD: option 'momentum' must be a finite number >= 0, got ", momentum);
  TORCH_CHECK(std::isfinite(dampening), "SGD: option 'dampening' must be a finite number, got ", dampening);
  TORCH_CHECK(std::isfinite(weightDecay) && weightDecay >= 0, "SGD: option 'weightDecay' must be a finite number >= 0, got ",
              weightDecay);
  TORCH_CHECK(!nesterov || (momentum > 0 && dampening == 0),
              "SGD: option 'nesterov' requires momentum > 0 and dampening = 0, got momentum ", momentum, ", dampening ",
              dampening);
}

// torch/optim/sgd.py, _single_tensor_sgd, op for op (the same ATen calls in the same order give
// the same bits).
void SGD::update(size_t group, const std::vector<size_t>& indices) {
  const SGDOptions& o = options_[group];
  for (size_t i : indices) {
    at::Tensor& param = params_[i];
    at::Tensor d_p = o.maximize ? param.grad().neg() : param.grad();
    if (o.weightDecay != 0) d_p = d_p.add(param, o.weightDecay);
    ParamState& s = state_[i];
    if (o.momentum != 0) {
      if (at::Tensor* buf = s.find("momentum_buffer")) {
        buf->mul_(o.momentum).add_(d_p, 1 - o.dampening);
        d_p = o.nesterov ? d_p.add(*buf, o.momentum) : *buf;
      } else {
        at::Tensor fresh = d_p.clone().detach();
        s.set("momentum_buffer", fresh);
        d_p = o.nesterov ? d_p.add(fresh, o.momentum) : fresh;
      }
    }
    param.add_(d_p, -o.lr);
    s.step += 1;
  }
}

void SGD::bufferNames(size_t, const OptionMap&, std::vector<std::string>*, std::vector<std::string>* optional) const {
  // Optional even with momentum: a parameter without one starts it from its next gradient, as
  // torch does for a state without 'momentum_buffer'.
  optional->push_back("momentum_buffer");
}

}  // namespace optim
}  // namespace msam
