// The schema-driven bridge into ATen: any registered operator by name and overload, called
// through the dispatcher (so autograd, CUDA and every backend come for free).
#pragma once
#include "common.h"

namespace msam {
void initOps(Napi::Env env, Napi::Object exports);
}
