// The step's bookkeeping over the parameter list — norm, perturb, restore, accumulate — as
// _foreach_* ops on persistent buffers: a fixed number of dispatches (of kernel launches on a GPU)
// per shard, whatever the number of parameter tensors, and no value read back to the host
// (README, "Benchmarks": the counts). Every block runs inside MSAM_BOOKKEEPING() so the op counter
// can tell it from the model's forward and backward.
#pragma once
#include "common.h"

namespace msam {

// ‖v‖₂ over all tensors as one vector, as a 0-d float64 tensor on v's device: each tensor's norm in
// float32 or wider (half-precision tensors are widened, as the contract asks), combined in float64.
// The same numbers as summing per-tensor norms one by one. Undefined tensors are skipped.
at::Tensor deviceNorm(const std::vector<at::Tensor>& v);

// dst ← src bit for bit, every value (±0, ±inf, NaN) included; equal shapes and dtypes.
void copyAll(const std::vector<at::Tensor>& dst, const std::vector<at::Tensor>& src);

// What the step keeps between steps for one model, found again by its parameter tensors (held
// weakly: the cache keeps no model alive): the restore point, and on 1.13 the scale buffers.
class StepBuffers {
 public:
  // The buffers for these trainable parameters, reused when they are the ones of the last step.
  static std::shared_ptr<StepBuffers> of(const std::vector<at::Tensor>& params);

  // saved ← w, bit for bit. `params` are the ones of()'s call was given, in that order.
  void save(const std::vector<at::Tensor>& params);
  // w ← saved, bit for bit (not by subtraction).
  void restore(const std::vector<at::Tensor>& params);
  // w += ε with ε = ρ g / (‖g‖ + 1e-12), or ASAM's ρ T² g / (‖T g‖ + 1e-12) with T = |w| + η. g is
  // overwritten (it becomes ε); entries may be undefined (unused parameters). Returns the norm the
  // scale used, a 0-d float64 device tensor; `gNorm` is ‖g‖ (computed by the caller).
  at::Tensor perturb(const std::vector<at::Tensor>& params, std::vector<at::Tensor>& g, const at::Tensor& gNorm, double rho, bool adaptive,
                     double eta);

 private:
  explicit StepBuffers(const std::vector<at::Tensor>& params);
  bool matches(const std::vector<at::Tensor>& params) const;
  // v *= s (s a 0-d float64 tensor), each tensor in its own dtype as `v * double(s)` would be.
  void scale(const std::vector<at::Tensor>& v, const at::Tensor& s);

  std::vector<at::Tensor> saved_;
  std::vector<c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>> identity_;
  // libtorch 1.13 has no _foreach_mul_(TensorList, Tensor): s is written into a 0-d buffer per
  // dtype, and per tensor a stride-0 view of it shaped like the tensor feeds _foreach_mul_(List).
  std::vector<std::pair<at::ScalarType, at::Tensor>> scaleBuffers_;
  std::vector<at::Tensor> scaleViews_;
};

// acc ← weight·h (first) or acc += weight·h (then), bit for bit what `h * weight` and
// `acc.add_(h, weight)` give. Undefined h count as zeros.
void accumulate(std::vector<at::Tensor>& acc, const std::vector<at::Tensor>& h, double weight, bool first);

// Autograd may hand two parameters one tensor (an add's backward passes its gradient to both
// sides); the step updates gradients in place, so such a shared tensor is cloned for all but one.
void unalias(std::vector<at::Tensor>& g);

// The gradient buffers of the parameters, reused when .grad already is one that fits (as
// PyTorch's backward accumulates into .grad): the accumulator of the step.
std::vector<at::Tensor> gradBuffers(const std::vector<at::Tensor>& params);

}  // namespace msam
