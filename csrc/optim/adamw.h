// Adam with decoupled weight decay, as torch.optim.AdamW (1.13, the single-tensor path).
#pragma once
#include "optim/optimizer.h"

namespace msam {
namespace optim {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weightDecay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;

  template <class F>
  static void forEachField(F&& f) {
    f("lr", &AdamWOptions::lr);
    f("beta1", &AdamWOptions::beta1);
    f("beta2", &AdamWOptions::beta2);
    f("eps", &AdamWOptions::eps);
    f("weightDecay", &AdamWOptions::weightDecay);
    f("amsgrad", &AdamWOptions::amsgrad);
    f("maximize", &AdamWOptions::maximize);
  }
  void check() const;
};

class AdamW : public OptimizerWith<AdamWOptions> {
 public:
  AdamW(const std::vector<std::vector<at::Tensor>>& groups, std::vector<AdamWOptions> options)
      : OptimizerWith("AdamW", groups, std::move(options)) {}

 protected:
  void update(size_t group, const std::vector<size_t>& indices) override;
  void bufferNames(size_t group, const OptionMap& options, std::vector<std::string>* required,
                   std::vector<std::string>* optional) const override;
};

}  // namespace optim
}  // namespace msam
