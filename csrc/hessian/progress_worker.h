// A Promise whose work runs on a libuv worker thread and reports progress events to a JS callback
// on the event loop (node-addon-api's AsyncProgressQueueWorker: every event is delivered, in
// order, before the Promise settles). Errors become rejected Promises of the same class as
// PromiseWorker's; an exception thrown by the callback rejects the Promise once the work is done.
#pragma once
#include <functional>

#include "common.h"
#include "errors.h"
#include "hessian/progress.h"

namespace msam::hessian {

class ProgressPromiseWorker : public Napi::AsyncProgressQueueWorker<ProgressEvent> {
 public:
  using Work = std::function<void(const ProgressFn& progress)>;
  // Makes the Promise's value on the JS thread, after the work.
  using Finish = std::function<Napi::Value(Napi::Env)>;

  // `onProgress`: a function, or undefined/null for none. `keepAlive`: JS inputs held until done.
  ProgressPromiseWorker(Napi::Env env, std::string what, Work work, Finish finish, const Napi::Value& onProgress,
                        const std::vector<Napi::Value>& keepAlive);
  static Napi::Promise start(ProgressPromiseWorker* worker);

 protected:
  void Execute(const ExecutionProgress& progress) override;
  void OnProgress(const ProgressEvent* events, size_t count) override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  std::string what_;
  Work work_;
  Finish finish_;
  Napi::FunctionReference onProgress_;
  Napi::Reference<Napi::Value> callbackError_;
  std::vector<Napi::Reference<Napi::Value>> keepAlive_;
  Napi::Promise::Deferred deferred_;
  ErrorDescription error_;
};

}  // namespace msam::hessian
