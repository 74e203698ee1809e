// The one heavy header every translation unit includes (and the precompiled header of the
// cmake build): Node-API through node-addon-api, and libtorch.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <string>
#include <vector>

#include <optional>
#include <type_traits>

namespace msam {

// Optional values as libtorch's API takes them. From PyTorch 2.4 on c10::optional is only an alias
// of std::optional (and the c10 spelling is on its way out), so msam says std::optional there;
// 1.13's c10::optional is a class of its own, which std::optional does not convert to.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
template <class T>
using optional = std::optional<T>;
inline constexpr std::nullopt_t nullopt = std::nullopt;
static_assert(std::is_same_v<c10::optional<int>, std::optional<int>>, "libtorch >= 2.4: c10::optional is std::optional");
#else
using c10::nullopt;
using c10::optional;
#endif

}  // namespace msam
