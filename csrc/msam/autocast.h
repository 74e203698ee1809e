// Mixed precision: autocast (bf16/fp16 for the ops that gain from it, fp32 for the rest, weights
// and gradients in fp32) on the current thread while a guard lives. The API moved in PyTorch 2.4.
#pragma once
#include <ATen/autocast_mode.h>

#include "common.h"

namespace msam {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MSAM_AUTOCAST_BY_DEVICE 1
#endif

inline bool autocastEnabled(at::DeviceType d) {
#ifdef MSAM_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(d);
#else
  return d == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline at::ScalarType autocastDtype(at::DeviceType d) {
#ifdef MSAM_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(d);
#else
  return d == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void setAutocast(at::DeviceType d, bool enabled, at::ScalarType dtype) {
#ifdef MSAM_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(d, enabled);
  at::autocast::set_autocast_dtype(d, dtype);
#else
  if (d == at::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

class AutocastGuard {
 public:
  AutocastGuard(at::DeviceType device, at::ScalarType dtype)
      : device_(device), wasEnabled_(autocastEnabled(device)), previousDtype_(autocastDtype(device)) {
    setAutocast(device, true, dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    setAutocast(device_, wasEnabled_, previousDtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType device_;
  bool wasEnabled_;
  at::ScalarType previousDtype_;
};

}  // namespace msam
