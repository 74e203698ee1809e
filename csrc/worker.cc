#include "worker.h"

namespace msam {

PromiseWorker::PromiseWorker(Napi::Env env, std::string what, Work work, Finish finish, const std::vector<Napi::Value>& keepAlive)
    : PromiseWorker(
          env, std::move(what), [work = std::move(work)](const ProgressFn&) { return work(); }, std::move(finish), keepAlive,
          env.Undefined()) {}

PromiseWorker::PromiseWorker(Napi::Env env, std::string what, ProgressWork work, Finish finish, const std::vector<Napi::Value>& keepAlive,
                             const Napi::Value& onProgress)
    : Napi::AsyncProgressQueueWorker<ProgressEvent>(env, "msam.PromiseWorker"),
      what_(std::move(what)),
      work_(std::move(work)),
      finish_(std::move(finish)),
      deferred_(Napi::Promise::Deferred::New(env)),
      gradEnabled_(at::GradMode::is_enabled()) {
  if (onProgress.IsFunction()) onProgress_ = Napi::Persistent(onProgress.As<Napi::Function>());
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

void PromiseWorker::Execute(const ExecutionProgress& progress) {
  try {
    at::AutoGradMode mode(gradEnabled_);
    const bool report = !onProgress_.IsEmpty();
    results_ = work_([&](const ProgressEvent& e) {
      if (report) progress.Send(&e, 1);
    });
  } catch (...) {
    error_ = describeCurrentException(what_);
    SetError(error_.message);
  }
}

void PromiseWorker::OnProgress(const ProgressEvent* events, size_t count) {
  if (onProgress_.IsEmpty() || !callbackError_.IsEmpty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  for (size_t i = 0; i < count; ++i) {
    const ProgressEvent& e = events[i];
    auto o = Napi::Object::New(env);
    o.Set("stage", e.stage);
    o.Set("index", static_cast<double>(e.index));
    o.Set("iteration", static_cast<double>(e.iteration));
    o.Set("total", static_cast<double>(e.total));
    o.Set("value", e.value);
    o.Set("change", e.change);
    try {
      onProgress_.Call({o});
    } catch (const Napi::Error& err) {
      callbackError_ = Napi::Persistent(Napi::Value(err.Value()));
      return;
    }
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  if (!callbackError_.IsEmpty()) {
    deferred_.Reject(callbackError_.Value());
    results_.clear();
    return;
  }
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
