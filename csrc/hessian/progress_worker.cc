#include "hessian/progress_worker.h"

namespace msam::hessian {

ProgressPromiseWorker::ProgressPromiseWorker(Napi::Env env, std::string what, Work work, Finish finish, const Napi::Value& onProgress,
                                             const std::vector<Napi::Value>& keepAlive)
    : Napi::AsyncProgressQueueWorker<ProgressEvent>(env, "msam.ProgressPromiseWorker"),
      what_(std::move(what)),
      work_(std::move(work)),
      finish_(std::move(finish)),
      deferred_(Napi::Promise::Deferred::New(env)) {
  if (onProgress.IsFunction()) onProgress_ = Napi::Persistent(onProgress.As<Napi::Function>());
  for (const auto& v : keepAlive) {
    keepAlive_.push_back(v.IsObject() || v.IsExternal() ? Napi::Persistent(v) : Napi::Reference<Napi::Value>());
  }
}

Napi::Promise ProgressPromiseWorker::start(ProgressPromiseWorker* worker) {
  Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();
  return promise;
}

void ProgressPromiseWorker::Execute(const ExecutionProgress& progress) {
  try {
    const bool report = !onProgress_.IsEmpty();
    work_([&](const ProgressEvent& e) {
      if (report) progress.Send(&e, 1);
    });
  } catch (...) {
    error_ = describeCurrentException(what_);
    SetError(error_.message);
  }
}

void ProgressPromiseWorker::OnProgress(const ProgressEvent* events, size_t count) {
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

void ProgressPromiseWorker::OnOK() {
  Napi::Env env = Env();
  if (!callbackError_.IsEmpty()) {
    deferred_.Reject(callbackError_.Value());
    return;
  }
  try {
    deferred_.Resolve(finish_(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (...) {
    deferred_.Reject(makeError(env, describeCurrentException(what_)).Value());
  }
}

void ProgressPromiseWorker::OnError(const Napi::Error&) { deferred_.Reject(makeError(Env(), error_).Value()); }

}  // namespace msam::hessian
