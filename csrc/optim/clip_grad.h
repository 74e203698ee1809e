// torch.nn.utils.clip_grad_norm_: gradient clipping by the norm of all gradients together.
#pragma once
#include "common.h"

namespace msam {
namespace optim {

// Scales every defined .grad of `params` in place by min(1, maxNorm / (total + 1e-6)), where
// `total` is the normType-norm of all gradients as one vector (normType may be infinity), and
// returns `total` as a 0-dim tensor on the first gradient's device (0 when no parameter has a
// gradient). errorIfNonfinite throws, before any gradient changes, when `total` is NaN or
// infinite.
at::Tensor clipGradNorm(const std::vector<at::Tensor>& params, double maxNorm, double normType, bool errorIfNonfinite);

}  // namespace optim
}  // namespace msam
