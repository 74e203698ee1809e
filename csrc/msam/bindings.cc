#include "msam/bindings.h"

#include "distributed/bindings.h"
#include "distributed/reduce.h"
#include "errors.h"
#include "msam/autocast.h"
#include "msam/step.h"
#include "nn/bindings.h"
#include "optim/binding.h"
#include "tensor.h"
#include "worker.h"

namespace msam {
namespace {

// The options object, already validated by lib/msam.ts; checked again here for type safety.
MsamOptions optionsFromJs(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, "msam: options must be an object");
  auto o = v.As<Napi::Object>();
  MsamOptions opts;
  auto number = [&](const char* name, double fallback) {
    Napi::Value x = o.Get(name);
    if (x.IsUndefined()) return fallback;
    if (!x.IsNumber()) throw Napi::TypeError::New(env, std::string("msam: option '") + name + "' must be a number");
    return x.As<Napi::Number>().DoubleValue();
  };
  opts.m = static_cast<int64_t>(number("m", 32));
  opts.rho = number("rho", 0.2);
  opts.adaptive = o.Get("adaptive").ToBoolean();
  opts.eta = number("eta", 0.01);
  opts.chunkSize = static_cast<int64_t>(number("chunkSize", 0));
  opts.freezeBatchNorm = o.Get("bnMode").IsString() && o.Get("bnMode").As<Napi::String>().Utf8Value() == "freeze";
  bool inLoss = o.Get("weightDecayIn").IsString() && o.Get("weightDecayIn").As<Napi::String>().Utf8Value() == "loss";
  opts.lossWeightDecay = inLoss ? number("weightDecay", 0) : 0;
  Napi::Value autocast = o.Get("autocast");
  if (autocast.IsString()) opts.autocast = parseDtype(env, autocast.As<Napi::String>(), "msam: option 'autocast'");
  Napi::Value strategy = o.Get("strategy");
  if (strategy.IsString()) {
    std::string s = strategy.As<Napi::String>().Utf8Value();
    if (s == "loop") opts.strategy = Strategy::Loop;
    else if (s == "graph") opts.strategy = Strategy::Graph;
    else if (s == "vectorized") opts.strategy = Strategy::Vectorized;
    else if (s == "auto") opts.strategy = Strategy::Auto;
    else throw Napi::TypeError::New(env, "msam: option 'strategy' must be 'auto', 'loop', 'graph' or 'vectorized', got '" + s + "'");
  }
  return opts;
}

struct StepCall {
  std::shared_ptr<optim::Optimizer> optimizer;  // set for a whole step: it runs right after the gradient
  std::shared_ptr<nn::Module> model;
  Batch batch;
  LossSpec loss;
  MsamOptions opts;
  // Data parallel: this rank's shards, then one all-reduce (distributed/reduce.h) before the optimizer.
  std::shared_ptr<dist::Group> group;
};

// (model, inputs[], target, lossOptions, msamOptions)
StepCall readCall(const Napi::CallbackInfo& info) {
  StepCall c;
  c.model = nn::unwrapModule(info[0], "msam: model");
  if (!info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "msam: batch.input must be a tensor or an array of tensors");
  auto inputs = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < inputs.Length(); ++i) {
    c.batch.inputs.push_back(unwrapTensor(inputs.Get(i), "msam: batch.input[" + std::to_string(i) + "]"));
  }
  c.batch.target = unwrapTensor(info[2], "msam: batch.target");
  c.loss = LossSpec::fromJs(info[3]);
  c.opts = optionsFromJs(info[4]);
  Napi::Value group = info[4].As<Napi::Object>().Get("processGroup");
  if (!group.IsUndefined() && !group.IsNull()) c.group = unwrapGroup(group, "msam: option 'processGroup'");
  return c;
}

StepStats run(const StepCall& c) {
  StepStats stats;
  try {
    stats = msamGradient(*c.model, c.batch, c.loss, c.opts);
  } catch (const nn::ModuleError& e) {
    throw std::runtime_error(c.model->type() + ".forward: " + e.what());
  }
  if (c.group) dist::reduceStep(*c.group, c.model->trainableParameters(), stats, c.batch.target.size(0));
  if (c.optimizer && !stats.skipped) c.optimizer->step();
  return stats;
}

Napi::Value Gradient(const Napi::CallbackInfo& info) {
  StepCall c = readCall(info);
  return statsToJs(info.Env(), run(c));
}

Napi::Value startAsync(const Napi::CallbackInfo& info, std::shared_ptr<StepCall> c, const char* what) {
  auto stats = std::make_shared<StepStats>();
  auto* worker = new PromiseWorker(
      info.Env(), what,
      [c, stats]() {
        *stats = run(*c);
        return std::vector<c10::IValue>{};
      },
      [stats](Napi::Env env, std::vector<c10::IValue>&, const std::vector<Napi::Value>&) { return statsToJs(env, *stats); },
      {info[0], info[1], info[2]});
  return PromiseWorker::start(worker);
}

// msamStepAsync(model, inputs[], target, loss, options, optimizer): the gradient, then the
// optimizer's step, both on the worker thread.
Napi::Value StepAsync(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<StepCall>(readCall(info));
  c->optimizer = unwrapOptimizer(info[5], "msam: optimizer");
  return startAsync(info, c, "msam.step");
}

Napi::Value GradientAsync(const Napi::CallbackInfo& info) {
  auto c = std::make_shared<StepCall>(readCall(info));
  auto stats = std::make_shared<StepStats>();
  auto* worker = new PromiseWorker(
      info.Env(), "msam.gradient",
      [c, stats]() {
        *stats = run(*c);
        return std::vector<c10::IValue>{};
      },
      [stats](Napi::Env env, std::vector<c10::IValue>&, const std::vector<Napi::Value>&) { return statsToJs(env, *stats); },
      {info[0], info[1], info[2]});
  return PromiseWorker::start(worker);
}

// freezeRunningStats(on): for the closure form (a TypeScript forward on the JS thread), the same
// switch the native step uses around its perturbed passes. Returns the previous setting.
thread_local std::unique_ptr<nn::FreezeRunningStats> tJsFreeze;
Napi::Value FreezeRunningStats(const Napi::CallbackInfo& info) {
  bool previous = tJsFreeze != nullptr;
  if (info[0].ToBoolean() && !tJsFreeze) tJsFreeze = std::make_unique<nn::FreezeRunningStats>();
  if (!info[0].ToBoolean()) tJsFreeze.reset();
  return Napi::Boolean::New(info.Env(), previous);
}

// setAutocast(device, dtype | null) -> the previous dtype or null: autocast for TypeScript forwards
// on the JS thread (evaluation, the closure form).
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::DeviceType d = parseDevice(env, info[0].As<Napi::String>(), "setAutocast").type();
  Napi::Value previous = autocastEnabled(d) ? Napi::Value(Napi::String::New(env, dtypeName(autocastDtype(d)))) : env.Null();
  if (info[1].IsString()) {
    setAutocast(d, true, parseDtype(env, info[1].As<Napi::String>(), "setAutocast"));
  } else {
    setAutocast(d, false, autocastDtype(d));
    at::autocast::clear_cache();
  }
  return previous;
}

}  // namespace

Napi::Value statsToJs(Napi::Env env, const StepStats& s) {
  auto out = Napi::Object::New(env);
  out.Set("loss", s.loss);
  out.Set("perturbedLoss", s.perturbedLoss);
  out.Set("gradNorm", s.gradNorm);
  out.Set("shards", static_cast<double>(s.shards));
  out.Set("skipped", s.skipped);
  out.Set("skipReason", s.skipped ? Napi::Value(Napi::String::New(env, s.skipReason)) : env.Null());
  return out;
}

void initMsam(Napi::Env env, Napi::Object exports) {
  exportFunction<SetAutocast>(env, exports, "setAutocast");
  exportFunction<FreezeRunningStats>(env, exports, "freezeRunningStats");
  exportFunction<Gradient>(env, exports, "msamGradient");
  exportFunction<GradientAsync>(env, exports, "msamGradientAsync");
  exportFunction<StepAsync>(env, exports, "msamStepAsync");
}

}  // namespace msam
