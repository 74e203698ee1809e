// Stochastic gradient descent with momentum, as torch.optim.SGD (its multi-tensor path: _foreach_* ops).
#pragma once
#include "optim/optimizer.h"

namespace msam {
namespace optim {

struct SGDOptions {
  double lr = 0.0;
  double momentum = 0.0;
  double dampening = 0.0;
  double weightDecay = 0.0;
  bool nesterov = false;
  bool maximize = false;

  template <class F>
  static void forEachField(F&& f) {
    f("lr", &SGDOptions::lr);
    f("momentum", &SGDOptions::momentum);
    f("dampening", &SGDOptions::dampening);
    f("weightDecay", &SGDOptions::weightDecay);
    f("nesterov", &SGDOptions::nesterov);
    f("maximize", &SGDOptions::maximize);
  }
  void check() const;
};

class SGD : public OptimizerWith<SGDOptions> {
 public:
  SGD(const std::vector<std::vector<at::Tensor>>& groups, std::vector<SGDOptions> options)
      : OptimizerWith("SGD", groups, std::move(options)) {}

 protected:
  void update(size_t group, const std::vector<size_t>& indices) override;
  void bufferNames(size_t group, const OptionMap& options, std::vector<std::string>* required,
                   std::vector<std::string>* optional) const override;
};

}  // namespace optim
}  // namespace msam
