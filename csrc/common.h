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
