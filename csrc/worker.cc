#include "worker.h"

#include "errors.h"

namespace msam {

PromiseWorker::PromiseWorker(Napi::Env env, std::string what, Work work, Finish finish,
                             const std::vector<Napi::Value>& keepAlive)
    : Napi::AsyncWorker(env, "msam.PromiseWorker"),
      what_(std::move(what)),
      work_(std::move(work)),
      finish_(std::move(finish)),
      deferred_(Napi::Promise::Deferred::New(env)),
      gradEnabled_(at::GradMode::is_enabled()) {
  keepAlive_.reserve(keepAlive.size());
  // Node-API 8 can only reference objects and externals; other inputs were copied into the work.
  for (const auto& v : keepAlive) {
    keepAlive_.push_back(v.IsObject() || v.IsExternal() ? Napi::Persistent(v) : Napi::Reference<Napi::Value>());
  }
}

Napi::Promise PromiseWorker::start(PromiseWorker* worker) {
  Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();
  return promise;
}

void PromiseWorker::Execute() {
  try {
    at::AutoGradMode mode(gradEnabled_);
    results_ = work_();
  } catch (...) {
    error_ = describeCurrentException(what_);
    SetError(error_.message);
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    std::vector<Napi::Value> kept;
    kept.reserve(keepAlive_.size());
    for (auto& ref : keepAlive_) kept.push_back(ref.IsEmpty() ? env.Undefined() : ref.Value());
    deferred_.Resolve(finish_(env, results_, kept));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (...) {
    deferred_.Reject(makeError(env, describeCurrentException(what_)).Value());
  }
  results_.clear();
}

void PromiseWorker::OnError(const Napi::Error&) { deferred_.Reject(makeError(Env(), error_).Value()); }

}  // namespace msam
