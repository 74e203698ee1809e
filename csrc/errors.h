// Every C++ exception that reaches the JS boundary becomes a JS exception; nothing aborts.
#pragma once
#include "common.h"

namespace msam {

// The message of a libtorch error without its C++ backtrace, trimmed.
std::string cleanMessage(const std::exception& e);

// Call inside `catch (...)`: rethrows the current exception as a Napi::Error whose message starts
// with `context` ("add: ..."). Napi errors pass through untouched; c10::IndexError becomes a
// RangeError; everything else an Error.
[[noreturn]] void rethrowAsJs(Napi::Env env, const std::string& context);

// The same, described for worker threads (where no JS value may be created), and made into a JS
// error later, on the JS thread, of the same class as the synchronous path would throw.
struct ErrorDescription {
  std::string message;
  bool isRangeError = false;
};
ErrorDescription describeCurrentException(const std::string& context);
Napi::Error makeError(Napi::Env env, const ErrorDescription& d);

// Wraps an exported function so that any exception becomes a JS error prefixed with its name
// (which exportFunction passes as the function's data).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    rethrowAsJs(info.Env(), static_cast<const char*>(info.Data()));
  }
}

// exports[name] = Fn, guarded. `name` must be a string literal (it outlives the addon).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
void exportFunction(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, guarded<Fn>, name, const_cast<char*>(name)));
}

}  // namespace msam
