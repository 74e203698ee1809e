// Native modules from JS: creation by type name, forward, parameters, buffers, children, modes.
#pragma once
#include "nn/module.h"

namespace msam::nn {
// The module a JS module handle owns; `what` names the argument in errors.
std::shared_ptr<Module> unwrapModule(const Napi::Value& v, const std::string& what);
void initModules(Napi::Env env, Napi::Object exports);
}  // namespace msam::nn
