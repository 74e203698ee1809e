// The JS handle of an at::Tensor: a Node-API External naming a slot of the handle table.
// Live tensors and their storage bytes are counted here (memory()), and CPU bytes are reported
// to V8 with napi_adjust_external_memory, added and removed once per storage (symmetric).
#pragma once
#include "common.h"

namespace msam {

Napi::Value wrapTensor(Napi::Env env, at::Tensor t);
bool isTensorHandle(Napi::Env env, const Napi::Value& v);
// The tensor a handle names, or null (`disposed` tells a disposed handle from a non-handle).
const at::Tensor* findTensor(const Napi::Value& v, bool* disposed);
// `what` names the op and argument for error messages ("add: argument 'other'").
const at::Tensor& unwrapTensor(const Napi::Value& v, const std::string& what);

// "a string", "null", ... for error messages.
std::string typeOfValue(const Napi::Value& v);

at::ScalarType parseDtype(Napi::Env env, const std::string& name, const std::string& what);
std::string dtypeName(at::ScalarType t);
at::Device parseDevice(Napi::Env env, const std::string& name, const std::string& what);
std::string deviceName(const at::Device& d);

void initTensor(Napi::Env env, Napi::Object exports);

}  // namespace msam
