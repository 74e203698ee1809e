#include "autograd.h"

#include "errors.h"
#include "tensor.h"

namespace msam {
namespace {

std::vector<at::Tensor> tensorList(const Napi::Value& v, const std::string& what, bool allowNull) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), what + " must be an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (allowNull && (e.IsNull() || e.IsUndefined())) {
      out.emplace_back();
    } else {
      out.push_back(unwrapTensor(e, what + "[" + std::to_string(i) + "]"));
    }
  }
  return out;
}

msam::optional<bool> optionalBool(const Napi::Value& v) {
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  return msam::nullopt;
}

// backward(tensor, grad|null, retainGraph|undefined, createGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  at::Tensor t = unwrapTensor(info[0], "backward: tensor");
  std::vector<at::Tensor> grads;
  if (!info[1].IsNull() && !info[1].IsUndefined()) grads.push_back(unwrapTensor(info[1], "backward: argument 'grad'"));
  torch::autograd::backward({t}, grads, optionalBool(info[2]), info[3].ToBoolean());
  return info.Env().Undefined();
}

// grad(outputs[], inputs[], gradOutputs[]|null, retainGraph|undefined, createGraph, allowUnused)
Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = tensorList(info[0], "autograd.grad: outputs", false);
  auto inputs = tensorList(info[1], "autograd.grad: inputs", false);
  std::vector<at::Tensor> gradOutputs;
  if (info[2].IsArray()) gradOutputs = tensorList(info[2], "autograd.grad: gradOutputs", true);
  auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, optionalBool(info[3]), info[4].ToBoolean(),
                                     info[5].ToBoolean());
  auto out = Napi::Array::New(env, grads.size());
  for (size_t i = 0; i < grads.size(); ++i) out.Set(i, grads[i].defined() ? wrapTensor(env, grads[i]) : env.Null());
  return out;
}

Napi::Value GetGrad(const Napi::CallbackInfo& info) {
  const at::Tensor& g = unwrapTensor(info[0], "grad").grad();
  return g.defined() ? wrapTensor(info.Env(), g) : info.Env().Null();
}

// setGrad(tensor, grad|null)
Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = unwrapTensor(info[0], "grad");
  if (info[1].IsNull() || info[1].IsUndefined()) {
    t.mutable_grad() = at::Tensor();
  } else {
    const at::Tensor& g = unwrapTensor(info[1], "grad: new value");
    TORCH_CHECK(g.sizes() == t.sizes(), "assigned grad has shape ", g.sizes(), " but the tensor has shape ", t.sizes());
    t.mutable_grad() = g;
  }
  return info.Env().Undefined();
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = unwrapTensor(info[0], "requiresGrad");
  t.set_requires_grad(info[1].ToBoolean());
  return info.Env().Undefined();
}

// setData(tensor, source): points `tensor` at the source's data, keeping its identity (and so every
// handle and optimizer that refers to it), as PyTorch's `param.data = ...`.
Napi::Value SetData(const Napi::CallbackInfo& info) {
  at::Tensor t = unwrapTensor(info[0], "setData: tensor");
  t.set_data(unwrapTensor(info[1], "setData: source"));
  return info.Env().Undefined();
}

Napi::Value RetainGrad(const Napi::CallbackInfo& info) {
  unwrapTensor(info[0], "retainGrad").retain_grad();
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
}

// setGradEnabled(bool) -> the previous mode
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool previous = at::GradMode::is_enabled();
  at::GradMode::set_enabled(info[0].ToBoolean());
  return Napi::Boolean::New(info.Env(), previous);
}

}  // namespace

void initAutograd(Napi::Env env, Napi::Object exports) {
  exportFunction<Backward>(env, exports, "backward");
  exportFunction<Grad>(env, exports, "grad");
  exportFunction<GetGrad>(env, exports, "getGrad");
  exportFunction<SetGrad>(env, exports, "setGrad");
  exportFunction<SetRequiresGrad>(env, exports, "setRequiresGrad");
  exportFunction<RetainGrad>(env, exports, "retainGrad");
  exportFunction<SetData>(env, exports, "setData");
  exportFunction<IsGradEnabled>(env, exports, "isGradEnabled");
  exportFunction<SetGradEnabled>(env, exports, "setGradEnabled");
}

}  // namespace msam
