#include "errors.h"

namespace msam {

std::string cleanMessage(const std::exception& e) {
  std::string msg;
  if (auto* c10err = dynamic_cast<const c10::Error*>(&e)) {
    msg = c10err->what_without_backtrace();
  } else {
    msg = e.what();
  }
  // libtorch appends "Exception raised from <function> at <file>:<line>" and a backtrace.
  auto cut = msg.find("\nException raised from");
  if (cut != std::string::npos) msg.resize(cut);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

namespace {
std::string withContext(const std::string& context, const std::string& msg) {
  return context.empty() ? msg : context + ": " + msg;
}
}  // namespace

void rethrowAsJs(Napi::Env env, const std::string& context) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw makeError(env, describeCurrentException(context));
  }
}

ErrorDescription describeCurrentException(const std::string& context) {
  try {
    throw;
  } catch (const c10::IndexError& e) {
    return {withContext(context, cleanMessage(e)), true};
  } catch (const std::exception& e) {
    return {withContext(context, cleanMessage(e)), false};
  } catch (...) {
    return {withContext(context, "unknown C++ exception"), false};
  }
}

Napi::Error makeError(Napi::Env env, const ErrorDescription& d) {
  if (d.isRangeError) return Napi::RangeError::New(env, d.message);
  return Napi::Error::New(env, d.message);
}

}  // namespace msam
