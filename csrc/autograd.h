// Autograd from JS: backward, grad (with create_graph for double backward), .grad, grad mode.
#pragma once
#include "common.h"

namespace msam {
void initAutograd(Napi::Env env, Napi::Object exports);
}
