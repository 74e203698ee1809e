// The one plumbing for running libtorch work off the event loop: a libuv worker whose Promise
// resolves with JS values made from the IValues its work returns, or rejects with an Error whose
// message names the work. Work may report progress events: they reach a JS callback on the event
// loop, every one, in order, before the Promise settles (node-addon-api's AsyncProgressQueueWorker);
// an exception the callback throws rejects the Promise once the work is done.
//
// It keeps references to its JS inputs until it is done, and the work closure owns at::Tensor
// references, so disposing an input mid-flight is safe. Autograd's mode is thread-local: the
// caller's is carried over to the work.
#pragma once
#include <functional>

#include "common.h"
#include "errors.h"
#include "progress.h"

namespace msam {

class PromiseWorker : public Napi::AsyncProgressQueueWorker<ProgressEvent> {
 public:
  using Work = std::function<std::vector<c10::IValue>()>;
  using ProgressWork = std::function<std::vector<c10::IValue>(const ProgressFn& progress)>;
  // Turns the work's results into the Promise's value (called on the JS thread); `kept` holds the
  // values given as keepAlive, in order.
  using Finish = std::function<Napi::Value(Napi::Env, std::vector<c10::IValue>&, const std::vector<Napi::Value>& kept)>;

  // Work without progress events.
  PromiseWorker(Napi::Env env, std::string what, Work work, Finish finish, const std::vector<Napi::Value>& keepAlive);
  // Work with a progress channel; `onProgress`: a function, or undefined/null for none (the work's
  // events are then dropped on the worker thread).
  PromiseWorker(Napi::Env env, std::string what, ProgressWork work, Finish finish, const std::vector<Napi::Value>& keepAlive,
                const Napi::Value& onProgress);

  // Queues the worker and returns its Promise.
  static Napi::Promise start(PromiseWorker* worker);

 protected:
  void Execute(const ExecutionProgress& progress) override;
  void OnProgress(const ProgressEvent* events, size_t count) override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  std::string what_;
  ProgressWork work_;
  Finish finish_;
  std::vector<c10::IValue> results_;
  std::vector<Napi::Reference<Napi::Value>> keepAlive_;
  Napi::FunctionReference onProgress_;
  Napi::Reference<Napi::Value> callbackError_;  // the first exception onProgress threw
  Napi::Promise::Deferred deferred_;
  bool gradEnabled_;
  ErrorDescription error_;
};

}  // namespace msam
