#include "nn/bindings.h"

#include "errors.h"
#include "nn/registry.h"
#include "tensor.h"

namespace msam::nn {
namespace {

constexpr napi_type_tag kModuleTag = {0x6d73616d2e4d6f64ULL, 0x756c650000000001ULL};  // "msam.Module"

const Registry& registry() {
  static const Registry r = [] {
    Registry r;
    registerLayers(r);
    registerTransformer(r);
    return r;
  }();
  return r;
}

Napi::Value wrapModule(Napi::Env env, std::shared_ptr<Module> m) {
  auto ext = Napi::External<std::shared_ptr<Module>>::New(env, new std::shared_ptr<Module>(std::move(m)),
                                                          [](Napi::Env, std::shared_ptr<Module>* p) { delete p; });
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, ext, &kModuleTag), Napi::Value());
  return ext;
}

Module::Named<std::shared_ptr<Module>> namedModules(const Napi::Value& v, const std::string& what) {
  Module::Named<std::shared_ptr<Module>> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), what + " must be an array of [name, module] pairs");
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value pair = arr.Get(i);
    if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2 || !pair.As<Napi::Array>().Get(0u).IsString()) {
      throw Napi::TypeError::New(v.Env(), what + "[" + std::to_string(i) + "] must be a [name, module] pair");
    }
    std::string name = pair.As<Napi::Array>().Get(0u).As<Napi::String>();
    out.emplace_back(name, unwrapModule(pair.As<Napi::Array>().Get(1u), what + "[" + std::to_string(i) + "]"));
  }
  return out;
}

std::shared_ptr<Module> createContainer(const std::string& type, Options& o) {
  auto children = [&](const char* name) {
    o.markUsed(name);
    return namedModules(o.object().Get(name), type + ": option '" + name + "'");
  };
  if (type == "Sequential") return std::make_shared<Sequential>(children("children"));
  // Residual
  auto pre = children("pre");
  auto body = children("body");
  if (body.empty()) o.fail("body", "needs at least one module");
  msam::optional<std::pair<std::string, std::shared_ptr<Module>>> shortcut;
  auto s = children("shortcut");
  if (s.size() > 1) o.fail("shortcut", "is one [name, module] pair");
  if (!s.empty()) shortcut = s[0];
  return std::make_shared<Residual>(std::move(pre), std::move(body), std::move(shortcut), children("post"));
}

// moduleCreate(type, options) -> module handle
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "nn: module type must be a string");
  std::string type = info[0].As<Napi::String>();
  Napi::Object obj = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  Options o(type, obj);
  std::shared_ptr<Module> m;
  if (type == "Sequential" || type == "Residual") {
    m = createContainer(type, o);
  } else {
    auto it = registry().find(type);
    if (it == registry().end()) throw Napi::TypeError::New(env, "nn: unknown module type '" + type + "'");
    m = it->second(o);
  }
  o.finish();
  return wrapModule(env, std::move(m));
}

// moduleForward(module, inputs[]) -> the first output
Napi::Value Forward(const Napi::CallbackInfo& info) {
  auto m = unwrapModule(info[0], "forward: module");
  if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() == 0) {
    throw Napi::TypeError::New(info.Env(), m->type() + ".forward: expected at least one input tensor");
  }
  auto arr = info[1].As<Napi::Array>();
  Tensors inputs;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    inputs.push_back(unwrapTensor(arr.Get(i), m->type() + ".forward: input " + std::to_string(i)));
  }
  try {
    return wrapTensor(info.Env(), m->forward(inputs)[0]);
  } catch (const ModuleError& e) {
    std::string message = m->type() + ".forward: " + e.what();
    if (e.isRangeError()) throw Napi::RangeError::New(info.Env(), message);
    throw Napi::Error::New(info.Env(), message);
  } catch (...) {
    rethrowAsJs(info.Env(), m->type() + ".forward");
  }
}

Napi::Value namedTensors(Napi::Env env, const Module::Named<at::Tensor>& list) {
  auto out = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    auto pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, list[i].first));
    pair.Set(1u, wrapTensor(env, list[i].second));
    out.Set(i, pair);
  }
  return out;
}

Napi::Value NamedParameters(const Napi::CallbackInfo& info) {
  Module::Named<at::Tensor> list;
  unwrapModule(info[0], "namedParameters: module")->namedParameters("", list);
  return namedTensors(info.Env(), list);
}

Napi::Value NamedBuffers(const Napi::CallbackInfo& info) {
  Module::Named<at::Tensor> list;
  unwrapModule(info[0], "namedBuffers: module")->namedBuffers("", list);
  return namedTensors(info.Env(), list);
}

Napi::Value Children(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& kids = unwrapModule(info[0], "children: module")->children();
  auto out = Napi::Array::New(env, kids.size());
  for (size_t i = 0; i < kids.size(); ++i) {
    auto pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, kids[i].first));
    pair.Set(1u, wrapModule(env, kids[i].second));
    out.Set(i, pair);
  }
  return out;
}

Napi::Value Train(const Napi::CallbackInfo& info) {
  unwrapModule(info[0], "train: module")->train(info[1].ToBoolean());
  return info.Env().Undefined();
}

Napi::Value IsTraining(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), unwrapModule(info[0], "training: module")->training());
}

// moduleTo(module, device | null, dtype | null)
Napi::Value To(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = unwrapModule(info[0], "to: module");
  msam::optional<at::Device> device;
  msam::optional<at::ScalarType> dtype;
  if (info[1].IsString()) device = parseDevice(env, info[1].As<Napi::String>(), m->type() + ".to");
  if (info[2].IsString()) {
    dtype = parseDtype(env, info[2].As<Napi::String>(), m->type() + ".to");
    if (!at::isFloatingType(*dtype)) throw Napi::TypeError::New(env, m->type() + ".to: dtype must be a floating-point type");
  }
  m->to(device, dtype);
  return env.Undefined();
}

Napi::Value Repr(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), unwrapModule(info[0], "repr: module")->repr());
}

Napi::Value Type(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), unwrapModule(info[0], "type: module")->type());
}

}  // namespace

std::shared_ptr<Module> unwrapModule(const Napi::Value& v, const std::string& what) {
  bool tagged = false;
  if (!v.IsExternal() || napi_check_object_type_tag(v.Env(), v, &kModuleTag, &tagged) != napi_ok || !tagged) {
    throw Napi::TypeError::New(v.Env(), what + " must be a native module, got " + typeOfValue(v));
  }
  return *v.As<Napi::External<std::shared_ptr<Module>>>().Data();
}

void initModules(Napi::Env env, Napi::Object exports) {
  exportFunction<Create>(env, exports, "moduleCreate");
  exportFunction<Forward>(env, exports, "moduleForward");
  exportFunction<NamedParameters>(env, exports, "moduleNamedParameters");
  exportFunction<NamedBuffers>(env, exports, "moduleNamedBuffers");
  exportFunction<Children>(env, exports, "moduleChildren");
  exportFunction<Train>(env, exports, "moduleTrain");
  exportFunction<IsTraining>(env, exports, "moduleIsTraining");
  exportFunction<To>(env, exports, "moduleTo");
  exportFunction<Repr>(env, exports, "moduleRepr");
  exportFunction<Type>(env, exports, "moduleType");
}

}  // namespace msam::nn
