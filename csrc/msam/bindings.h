// The mSAM step from JS: synchronous, or on a libuv worker thread (a Promise).
#pragma once
#include "common.h"
#include "msam/step.h"

namespace msam {
void initMsam(Napi::Env env, Napi::Object exports);
// A step's statistics as JS sees them: { loss, perturbedLoss, gradNorm, shards, skipped, skipReason }.
Napi::Value statsToJs(Napi::Env env, const StepStats& s);
}
