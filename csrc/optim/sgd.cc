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

// torch/optim/sgd.py's _multi_tensor_sgd: each step of _single_tensor_sgd as one _foreach_* op over
// the group's parameters (a fixed number of dispatches, of kernels on a GPU, whatever the number of
// tensors). Elementwise the same ATen arithmetic in the same order, so the same bits as the
// single-tensor path and as PyTorch's either way.
void SGD::update(size_t group, const std::vector<size_t>& indices) {
  const SGDOptions& o = options_[group];
  std::vector<at::Tensor> params, grads;
  for (size_t i : indices) {
    params.push_back(params_[i]);
    grads.push_back(params_[i].grad());
  }
  std::vector<at::Tensor> dP = o.maximize ? at::_foreach_neg(grads) : grads;
  if (o.weightDecay != 0) dP = at::_foreach_add(dP, params, o.weightDecay);
  if (o.momentum != 0) {
    // Parameters with a momentum buffer update it; the others start it from d_p (their first step).
    std::vector<at::Tensor> bufs, bufGrads;
    std::vector<size_t> withBuf;
    for (size_t k = 0; k < indices.size(); ++k) {
      ParamState& s = state_[indices[k]];
      if (at::Tensor* buf = s.find("momentum_buffer")) {
        bufs.push_back(*buf);
        bufGrads.push_back(dP[k]);
        withBuf.push_back(k);
      } else {
        at::Tensor fresh = dP[k].clone().detach();
        s.set("momentum_buffer", fresh);
        dP[k] = o.nesterov ? dP[k].add(fresh, o.momentum) : fresh;
      }
    }
    if (!bufs.empty()) {
      at::_foreach_mul_(bufs, o.momentum);
      at::_foreach_add_(bufs, bufGrads, 1 - o.dampening);
      std::vector<at::Tensor> updated = o.nesterov ? at::_foreach_add(bufGrads, bufs, o.momentum) : bufs;
      for (size_t k = 0; k < withBuf.size(); ++k) dP[withBuf[k]] = updated[k];
    }
  }
  at::_foreach_add_(params, dP, -o.lr);
  for (size_t i : indices) state_[i].step += 1;
}

void SGD::bufferNames(size_t, const OptionMap&, std::vector<std::string>*, std::vector<std::string>* optional) const {
  // Optional even with momentum: a parameter without one starts it from its next gradient, as
  // torch does for a state without 'momentum_buffer'.
  optional->push_back("momentum_buffer");
}

}  // namespace optim
}  // namespace msam
