#include "errors.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace msam {

namespace {
// "372.5 TiB": a byte count as a person reads it.
std::string humanBytes(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) bytes /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

// libtorch's CPU allocator reports a failed allocation as an internal assertion
// ("[enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't allocate memory: you
// tried to allocate N bytes. Error code 12 ..."; 2.x: "not enough memory: ..."). Said plainly,
// with the size, and without the allocator's file and line.
std::string plainOutOfMemory(const std::string& msg) {
  if (msg.find("DefaultCPUAllocator") == std::string::npos) return msg;
  const std::string tried = "tried to allocate ";
  auto at = msg.find(tried);
  if (at == std::string::npos) return msg;
  const double bytes = std::strtod(msg.c_str() + at + tried.size(), nullptr);
  return "out of memory on the CPU: tried to allocate " + humanBytes(bytes) + " (" + std::to_string(static_cast<long long>(bytes)) +
         " bytes) at once; use smaller tensors (a smaller batch, fewer shards at once, a smaller model)";
}
}  // namespace

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
  return plainOutOfMemory(msg);
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
