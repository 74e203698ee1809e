// The JS side of the optimizers: a handle is a type-tagged External holding a
// shared_ptr<Optimizer>, so native code (the training step, on a worker thread) can share the
// optimizer a JS object made.
#pragma once
#include <memory>

#include "common.h"
#include "optim/optimizer.h"

namespace msam {

// The optimizer a handle names; throws a JS TypeError for anything else, an Error if disposed.
// `what` names the argument in errors ("msamStep: argument 'optimizer'").
std::shared_ptr<optim::Optimizer> unwrapOptimizer(const Napi::Value& v, const std::string& what);

void initOptim(Napi::Env env, Napi::Object exports);

}  // namespace msam
