// The plumbing for running libtorch work off the event loop: a libuv worker that resolves a
// Promise with JS values made from the IValues its work returns, or rejects it with an Error
// whose message names the work. It keeps references to its JS inputs until it is done, and the
// work closure owns at::Tensor references, so disposing an input mid-flight is safe.
#pragma once
#include <functional>

#include "common.h"
#include "errors.h"

namespace msam {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<std::vector<c10::IValue>()>;
  // Turns the work's results into the Promise's value (called on the JS thread); `kept` holds the
  // values given as keepAlive, in order.
  using Finish = std::function<Napi::Value(Napi::Env, std::vector<c10::IValue>&, const std::vector<Napi::Value>& kept)>;

  PromiseWorker(Napi::Env env, std::string what, Work work, Finish finish, const std::vector<Napi::Value>& keepAlive);

  // Queues the worker and returns its Promise.
  static Napi::Promise start(PromiseWorker* worker);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  std::string what_;
  Work work_;
  Finish finish_;
  std::vector<c10::IValue> results_;
  std::vector<Napi::Reference<Napi::Value>> keepAlive_;
  Napi::Promise::Deferred deferred_;
  bool gradEnabled_;  // autograd's mode is thread-local: carry the caller's over
  ErrorDescription error_;
};

}  // namespace msam
