#include "profile/op_count.h"

#include <atomic>
#include <cstring>
#include <mutex>

#include "errors.h"

namespace msam {
namespace profile {
namespace {

struct Counter {
  std::mutex mutex;
  bool active = false;
  at::CallbackHandle handle = 0;
  OpCounts counts;
};
Counter& counter() {
  static auto* c = new Counter();  // leaked: callbacks may run during static destruction
  return *c;
}

// Per thread: how many FUNCTION records are open (0: the next op is top-level) and how many
// bookkeeping scopes.
struct ThreadState {
  int depth = 0;
  int bookkeeping = 0;
};
thread_local ThreadState tState;

constexpr const char* kBookkeeping = "msam::bookkeeping";

bool isHostRead(const at::RecordFunction& fn, bool topLevel) {
  const char* name = fn.name();
  if (std::strcmp(name, "aten::_local_scalar_dense") == 0) return true;
  const bool copy = std::strcmp(name, "aten::copy_") == 0;
  const bool to = std::strcmp(name, "aten::to") == 0 || std::strcmp(name, "aten::_to_copy") == 0;
  if (!copy && !(to && topLevel)) return false;
  auto inputs = fn.inputs();
  if (inputs.empty() || !inputs[0].isTensor()) return false;
  const at::Device self = inputs[0].toTensor().device();
  if (copy) {
    if (inputs.size() < 2 || !inputs[1].isTensor()) return false;
    const at::Device src = inputs[1].toTensor().device();
    return self.is_cpu() != src.is_cpu();
  }
  for (size_t k = 1; k < inputs.size(); ++k) {
    if (!inputs[k].isDevice()) continue;
    // device→host, host→device, or (the CPU build's stand-in for either) cpu→cpu
    return self.is_cpu() || inputs[k].toDevice().is_cpu();
  }
  return false;
}

std::unique_ptr<at::ObserverContext> onStart(const at::RecordFunction& fn) {
  ThreadState& t = tState;
  if (fn.scope() == at::RecordScope::USER_SCOPE) {
    if (std::strcmp(fn.name(), kBookkeeping) == 0) ++t.bookkeeping;
    return nullptr;
  }
  const bool top = t.depth == 0;
  ++t.depth;
  const bool read = isHostRead(fn, top);
  if (!top && !read) return nullptr;
  Counter& c = counter();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (top) {
    ++c.counts.ops;
    ++c.counts.byName[fn.name()];
    if (t.bookkeeping > 0) ++c.counts.bookkeeping;
  }
  if (read) {
    ++c.counts.hostReads;
    ++c.counts.reads[fn.name()];
  }
  return nullptr;
}

void onEnd(const at::RecordFunction& fn, at::ObserverContext*) {
  ThreadState& t = tState;
  if (fn.scope() == at::RecordScope::USER_SCOPE) {
    if (std::strcmp(fn.name(), kBookkeeping) == 0 && t.bookkeeping > 0) --t.bookkeeping;
    return;
  }
  if (t.depth > 0) --t.depth;
}

Napi::Value Start(const Napi::CallbackInfo& info) {
  startCounting();
  return info.Env().Undefined();
}

Napi::Value ToJs(Napi::Env env, const std::map<std::string, int64_t>& m) {
  auto o = Napi::Object::New(env);
  for (const auto& [name, n] : m) o.Set(name, static_cast<double>(n));
  return o;
}

// countOpsStop() -> { ops, hostReads, bookkeeping, reads: {name: n}, byName: {name: n} }
Napi::Value Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpCounts c = stopCounting();
  auto out = Napi::Object::New(env);
  out.Set("ops", static_cast<double>(c.ops));
  out.Set("hostReads", static_cast<double>(c.hostReads));
  out.Set("bookkeeping", static_cast<double>(c.bookkeeping));
  out.Set("reads", ToJs(env, c.reads));
  out.Set("byName", ToJs(env, c.byName));
  return out;
}

}  // namespace

void startCounting() {
  Counter& c = counter();
  std::lock_guard<std::mutex> lock(c.mutex);
  TORCH_CHECK(!c.active, "countOps: a count is already running (counts do not nest)");
  c.counts = OpCounts();
  c.handle = at::addGlobalCallback(at::RecordFunctionCallback(&onStart, &onEnd)
                                       .needsInputs(true)
                                       .scopes({at::RecordScope::FUNCTION, at::RecordScope::USER_SCOPE}));
  c.active = true;
}

OpCounts stopCounting() {
  Counter& c = counter();
  at::CallbackHandle handle = 0;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    TORCH_CHECK(c.active, "countOps: no count is running");
    handle = c.handle;
    c.active = false;
  }
  at::removeCallback(handle);  // outside the lock: a callback in flight may still need it
  std::lock_guard<std::mutex> lock(c.mutex);
  return std::move(c.counts);
}

void initOpCount(Napi::Env env, Napi::Object exports) {
  exportFunction<Start>(env, exports, "countOpsStart");
  exportFunction<Stop>(env, exports, "countOpsStop");
}

}  // namespace profile
}  // namespace msam
