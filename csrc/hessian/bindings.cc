#include "hessian/bindings.h"

#include <cmath>

#include "hessian/eigen.h"
#include "hessian/m_sharpness.h"
#include "hessian/trace.h"
#include "nn/bindings.h"
#include "tensor.h"
#include "worker.h"

namespace msam {
namespace {

using namespace hessian;

// What every analysis takes: the model, its batches and the loss (read on the JS thread; the
// tensors are owned here, so disposing the JS handles mid-flight is safe).
struct Call {
  std::shared_ptr<nn::Module> model;
  Batches data;
  LossSpec loss;
};

// (model, { inputs: Tensor[][], targets: Tensor[] }, lossOptions)
std::shared_ptr<Call> readCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<Call>();
  c->model = nn::unwrapModule(info[0], "model");
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "data must be an object { inputs, targets }");
  auto data = info[1].As<Napi::Object>();
  Napi::Value inputs = data.Get("inputs"), targets = data.Get("targets");
  if (!inputs.IsArray() || !targets.IsArray()) throw Napi::TypeError::New(env, "data.inputs and data.targets must be arrays");
  auto in = inputs.As<Napi::Array>();
  auto tg = targets.As<Napi::Array>();
  for (uint32_t b = 0; b < tg.Length(); ++b) {
    c->data.targets.push_back(unwrapTensor(tg.Get(b), "data.targets[" + std::to_string(b) + "]"));
  }
  for (uint32_t b = 0; b < in.Length(); ++b) {
    Napi::Value xs = in.Get(b);
    if (!xs.IsArray()) throw Napi::TypeError::New(env, "data.inputs[" + std::to_string(b) + "] must be an array of tensors");
    std::vector<at::Tensor> batch;
    auto arr = xs.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      batch.push_back(unwrapTensor(arr.Get(i), "data.inputs[" + std::to_string(b) + "][" + std::to_string(i) + "]"));
    }
    c->data.inputs.push_back(std::move(batch));
  }
  c->loss = LossSpec::fromJs(info[2]);
  c->data.check();
  return c;
}

// Runs `fn`, naming the model's forward in errors from inside it, as the mSAM step does.
template <typename Fn>
auto namingForward(const nn::Module& model, Fn&& fn) {
  try {
    return fn();
  } catch (const nn::ModuleError& e) {
    throw std::runtime_error(model.type() + ".forward: " + e.what());
  }
}

double number(const Napi::Object& o, const char* name, double fallback) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option '") + name + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

Napi::Object optionsObject(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsUndefined() || info[i].IsNull()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) throw Napi::TypeError::New(info.Env(), "options must be an object");
  return info[i].As<Napi::Object>();
}

uint64_t seedOf(const Napi::Object& o) {
  double s = number(o, "seed", 0);
  if (!(s >= 0 && std::floor(s) == s && s <= 9007199254740991.0)) throw Napi::RangeError::New(o.Env(), "option 'seed' must be a safe integer ≥ 0");
  return static_cast<uint64_t>(s);
}

Napi::Array tensorsToJs(Napi::Env env, const Vec& v) {
  auto out = Napi::Array::New(env, v.size());
  for (size_t j = 0; j < v.size(); ++j) out.Set(static_cast<uint32_t>(j), wrapTensor(env, v[j]));
  return out;
}

// hessianVectorProduct(model, data, loss, vector: Tensor[]) -> Tensor[] (float64): H v, synchronously.
Napi::Value HessianVectorProduct(const Napi::CallbackInfo& info) {
  auto c = readCall(info);
  if (!info[3].IsArray()) throw Napi::TypeError::New(info.Env(), "vector must be an array of tensors, one per trainable parameter");
  auto arr = info[3].As<Napi::Array>();
  Vec v;
  for (uint32_t j = 0; j < arr.Length(); ++j) v.push_back(unwrapTensor(arr.Get(j), "vector[" + std::to_string(j) + "]").detach());
  EvalMode eval(*c->model);
  Landscape landscape(*c->model, c->data, c->loss);
  return tensorsToJs(info.Env(), namingForward(*c->model, [&] { return landscape.hvp(toDouble(v)); }));
}

// hessianEigenvaluesAsync(model, data, loss, { topK, maxIterations, tolerance, seed, largestAlgebraic,
// vectors }, onProgress)
Napi::Value HessianEigenvaluesAsync(const Napi::CallbackInfo& info) {
  auto c = readCall(info);
  Napi::Object o = optionsObject(info, 3);
  PowerOptions opts;
  opts.topK = static_cast<int64_t>(number(o, "topK", 1));
  opts.maxIterations = static_cast<int64_t>(number(o, "maxIterations", 100));
  opts.tolerance = number(o, "tolerance", 1e-3);
  opts.seed = seedOf(o);
  opts.largestAlgebraic = o.Get("largestAlgebraic").IsUndefined() ? true : o.Get("largestAlgebraic").ToBoolean().Value();
  const bool wantVectors = o.Get("vectors").ToBoolean();
  auto result = std::make_shared<PowerResult>();
  auto* worker = new PromiseWorker(
      info.Env(), "hessianEigenvalues",
      [c, opts, result](const ProgressFn& progress) -> std::vector<c10::IValue> {
        at::AutoGradMode differentiable(true);  // the analyses need autograd, whatever the caller's mode
        EvalMode eval(*c->model);
        Landscape landscape(*c->model, c->data, c->loss);
        *result = namingForward(*c->model, [&] { return topEigenvalues(landscape, opts, progress); });
        return {};
      },
      [result, wantVectors](Napi::Env env, std::vector<c10::IValue>&, const std::vector<Napi::Value>&) -> Napi::Value {
        auto out = Napi::Object::New(env);
        auto values = Napi::Array::New(env), iterations = Napi::Array::New(env), converged = Napi::Array::New(env),
             residuals = Napi::Array::New(env);
        for (uint32_t k = 0; k < result->eigen.size(); ++k) {
          values.Set(k, result->eigen[k].value);
          iterations.Set(k, static_cast<double>(result->eigen[k].iterations));
          converged.Set(k, result->eigen[k].converged);
          residuals.Set(k, result->eigen[k].relativeResidual);
        }
        out.Set("eigenvalues", values);
        out.Set("iterations", iterations);
        out.Set("converged", converged);
        out.Set("relativeResiduals", residuals);
        out.Set("hessianVectorProducts", static_cast<double>(result->hvps));
        if (wantVectors) {
          auto vectors = Napi::Array::New(env);
          for (uint32_t k = 0; k < result->vectors.size(); ++k) vectors.Set(k, tensorsToJs(env, result->vectors[k]));
          out.Set("eigenvectors", vectors);
        }
        return out;
      },
      std::vector<Napi::Value>{info[0], info[1]}, info[4]);
  return PromiseWorker::start(worker);
}

// hessianTraceAsync(model, data, loss, { samples, blockSize, tolerance, seed }, onProgress)
Napi::Value HessianTraceAsync(const Napi::CallbackInfo& info) {
  auto c = readCall(info);
  Napi::Object o = optionsObject(info, 3);
  TraceOptions opts;
  opts.maxSamples = static_cast<int64_t>(number(o, "samples", 100));
  opts.blockSize = static_cast<int64_t>(number(o, "blockSize", 10));
  opts.tolerance = number(o, "tolerance", 1e-2);
  opts.seed = seedOf(o);
  auto result = std::make_shared<TraceResult>();
  auto* worker = new PromiseWorker(
      info.Env(), "hessianTrace",
      [c, opts, result](const ProgressFn& progress) -> std::vector<c10::IValue> {
        at::AutoGradMode differentiable(true);  // the analyses need autograd, whatever the caller's mode
        EvalMode eval(*c->model);
        Landscape landscape(*c->model, c->data, c->loss);
        *result = namingForward(*c->model, [&] { return hutchinsonTrace(landscape, opts, progress); });
        return {};
      },
      [result](Napi::Env env, std::vector<c10::IValue>&, const std::vector<Napi::Value>&) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("trace", result->trace);
        out.Set("standardError", result->standardError);
        out.Set("samples", static_cast<double>(result->samples));
        out.Set("converged", result->converged);
        auto values = Napi::Array::New(env, result->values.size());
        for (uint32_t i = 0; i < result->values.size(); ++i) values.Set(i, result->values[i]);
        out.Set("values", values);
        return out;
      },
      std::vector<Napi::Value>{info[0], info[1]}, info[4]);
  return PromiseWorker::start(worker);
}

// mSharpnessAsync(model, data, loss, { shardSize, rho, steps, stepSize }, onProgress)
Napi::Value MSharpnessAsync(const Napi::CallbackInfo& info) {
  auto c = readCall(info);
  Napi::Object o = optionsObject(info, 3);
  MSharpnessOptions opts;
  opts.shardSize = static_cast<int64_t>(number(o, "shardSize", 32));
  opts.rho = number(o, "rho", 0.05);
  opts.steps = static_cast<int64_t>(number(o, "steps", 5));
  opts.stepSize = number(o, "stepSize", -1);
  auto result = std::make_shared<MSharpnessResult>();
  auto* worker = new PromiseWorker(
      info.Env(), "mSharpness",
      [c, opts, result](const ProgressFn& progress) -> std::vector<c10::IValue> {
        at::AutoGradMode differentiable(true);  // the analyses need autograd, whatever the caller's mode
        EvalMode eval(*c->model);
        Landscape landscape(*c->model, c->data, c->loss);
        *result = namingForward(*c->model, [&] { return mSharpness(landscape, c->data, opts, progress); });
        return {};
      },
      [result](Napi::Env env, std::vector<c10::IValue>&, const std::vector<Napi::Value>&) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("sharpness", result->sharpness);
        out.Set("oneStep", result->oneStep);
        out.Set("loss", result->loss);
        out.Set("standardError", result->standardError);
        out.Set("shards", static_cast<double>(result->shards));
        return out;
      },
      std::vector<Napi::Value>{info[0], info[1]}, info[4]);
  return PromiseWorker::start(worker);
}

}  // namespace

void initHessian(Napi::Env env, Napi::Object exports) {
  exportFunction<HessianVectorProduct>(env, exports, "hessianVectorProduct");
  exportFunction<HessianEigenvaluesAsync>(env, exports, "hessianEigenvaluesAsync");
  exportFunction<HessianTraceAsync>(env, exports, "hessianTraceAsync");
  exportFunction<MSharpnessAsync>(env, exports, "mSharpnessAsync");
}

}  // namespace msam
