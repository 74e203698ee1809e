#include "optim/clip_grad.h"

#include <cmath>

namespace msam {
namespace optim {
namespace {

// The per-tensor norm torch's clip_grad_norm_ takes: torch.norm(g, p) in 1.13 (aten::norm over
// every dim), torch.linalg.vector_norm in 2.x. The same op gives the same bits.
at::Tensor vectorNorm(const at::Tensor& t, double p) {
#if TORCH_VERSION_MAJOR >= 2
  return at::linalg_vector_norm(t, p);
#else
  std::vector<int64_t> dims(static_cast<size_t>(t.dim()));
  for (int64_t d = 0; d < t.dim(); ++d) dims[static_cast<size_t>(d)] = d;
  return at::norm(t, msam::optional<at::Scalar>(p), dims, /*keepdim=*/false);
#endif
}

}  // namespace

at::Tensor clipGradNorm(const std::vector<at::Tensor>& params, double maxNorm, double normType, bool errorIfNonfinite) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return at::zeros({}, at::kFloat);
  const at::Device device = grads[0].device();
  std::vector<at::Tensor> norms;
  at::Tensor total;
  if (std::isinf(normType) && normType > 0) {
    for (const auto& g : grads) norms.push_back(g.detach().abs().max().to(device));
    total = norms.size() == 1 ? norms[0] : at::max(at::stack(norms));
  } else {
    for (const auto& g : grads) norms.push_back(vectorNorm(g.detach(), normType).to(device));
    total = vectorNorm(at::stack(norms), normType);
  }
  if (errorIfNonfinite) {
    double value = total.item<double>();
    TORCH_CHECK(std::isfinite(value), "the total norm of order ", normType,
                " of the gradients is non-finite (", value, "), so it cannot be clipped");
  }
  // Python's `max_norm / (total_norm + 1e-6)` is Tensor.__rdiv__: reciprocal() * max_norm.
  at::Tensor coef = (total + 1e-6).reciprocal() * maxNorm;
  // Multiplying by a coefficient clamped to 1 avoids a host sync on `coef < 1` (as torch does).
  at::Tensor clamped = at::clamp(coef, msam::optional<at::Scalar>(), msam::optional<at::Scalar>(1.0));
  for (auto& g : grads) g.detach().mul_(clamped.to(g.device()));
  return total;
}

}  // namespace optim
}  // namespace msam
