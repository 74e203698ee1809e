// JS values <-> c10::IValue, driven by an operator schema's argument types. This is what makes
// one generic bridge reach every ATen operator (ops.cc) instead of hand-written wrappers.
#pragma once
#include "common.h"

namespace msam {

// Converts `v` to the schema argument `arg` of operator `op` (named in error messages, which are
// only built when something is wrong: this is the hot path of every op call).
c10::IValue toIValue(const Napi::Value& v, const c10::Argument& arg, const std::string& op);

// Tensors become handles (undefined tensors null), lists and tuples arrays, scalars numbers.
Napi::Value fromIValue(Napi::Env env, const c10::IValue& v);

}  // namespace msam
