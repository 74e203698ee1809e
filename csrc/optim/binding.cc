#include "optim/binding.h"

#include "errors.h"
#include "optim/adamw.h"
#include "optim/clip_grad.h"
#include "optim/sgd.h"
#include "tensor.h"

namespace msam {
namespace {

using optim::OptionMap;
using optim::OptionValue;

// Tells our Externals from any other (napi_type_tag_object works on externals).
const napi_type_tag kOptimizerTag = {0x6d73616d6f70746dULL, 0x4f7074696d697a72ULL};

struct Holder {
  std::shared_ptr<optim::Optimizer> optimizer;  // reset by dispose()
};

Napi::Value wrapOptimizer(Napi::Env env, std::shared_ptr<optim::Optimizer> optimizer) {
  auto ext = Napi::External<Holder>::New(env, new Holder{std::move(optimizer)}, [](Napi::Env, Holder* h) { delete h; });
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, ext, &kOptimizerTag), Napi::Value());
  return ext;
}

Holder* holderOf(const Napi::Value& v, const std::string& what) {
  bool tagged = false;
  if (v.IsExternal()) NAPI_THROW_IF_FAILED(v.Env(), napi_check_object_type_tag(v.Env(), v, &kOptimizerTag, &tagged), nullptr);
  if (!tagged) throw Napi::TypeError::New(v.Env(), what + " must be an optimizer handle, got " + typeOfValue(v));
  return v.As<Napi::External<Holder>>().Data();
}

OptionValue toOption(const Napi::Value& v, const std::string& what) {
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
  throw Napi::TypeError::New(v.Env(), what + " must be a number or a boolean, got " + typeOfValue(v));
}

Napi::Value fromOption(Napi::Env env, const OptionValue& v) {
  if (std::holds_alternative<bool>(v)) return Napi::Boolean::New(env, std::get<bool>(v));
  return Napi::Number::New(env, std::get<double>(v));
}

OptionMap toOptionMap(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || v.IsArray()) throw Napi::TypeError::New(v.Env(), what + " must be an object");
  auto obj = v.As<Napi::Object>();
  OptionMap out;
  auto keys = obj.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string key = keys.Get(i).As<Napi::String>();
    out[key] = toOption(obj.Get(key), what + "." + key);
  }
  return out;
}

Napi::Object fromOptionMap(Napi::Env env, const OptionMap& m) {
  auto out = Napi::Object::New(env);
  for (const auto& [name, value] : m) out.Set(name, fromOption(env, value));
  return out;
}

std::vector<at::Tensor> tensorArray(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), what + " must be an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(unwrapTensor(arr.Get(i), what + "[" + std::to_string(i) + "]"));
  return out;
}

size_t groupIndex(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "group index must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != static_cast<double>(static_cast<size_t>(d))) {
    throw Napi::RangeError::New(v.Env(), "group index must be a non-negative integer");
  }
  return static_cast<size_t>(d);
}

// Options structs from the JS option objects (the constructor checks each as a whole).
template <class Options>
std::vector<Options> optionsFrom(const std::vector<OptionMap>& maps, const char* kind) {
  std::vector<Options> out;
  for (const auto& m : maps) out.push_back(optim::withOptions(Options(), m, kind));
  return out;
}

// optimCreate(kind, [{ params: handle[], options: {...} }]) -> optimizer handle
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string kind = info[0].As<Napi::String>();
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "groups must be an array");
  auto groups = info[1].As<Napi::Array>();
  std::vector<std::vector<at::Tensor>> params;
  std::vector<OptionMap> options;
  for (uint32_t g = 0; g < groups.Length(); ++g) {
    std::string where = "paramGroups[" + std::to_string(g) + "]";
    Napi::Value group = groups.Get(g);
    if (!group.IsObject()) throw Napi::TypeError::New(env, where + " must be an object");
    params.push_back(tensorArray(group.As<Napi::Object>().Get("params"), where + ".params"));
    options.push_back(toOptionMap(group.As<Napi::Object>().Get("options"), where + ".options"));
  }
  std::shared_ptr<optim::Optimizer> opt;
  if (kind == "SGD") {
    opt = std::make_shared<optim::SGD>(params, optionsFrom<optim::SGDOptions>(options, "SGD"));
  } else if (kind == "AdamW") {
    opt = std::make_shared<optim::AdamW>(params, optionsFrom<optim::AdamWOptions>(options, "AdamW"));
  } else {
    throw Napi::TypeError::New(env, "unknown optimizer '" + kind + "' (expected SGD or AdamW)");
  }
  return wrapOptimizer(env, std::move(opt));
}

Napi::Value Step(const Napi::CallbackInfo& info) {
  unwrapOptimizer(info[0], "optimizer")->step();
  return info.Env().Undefined();
}

Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
  unwrapOptimizer(info[0], "optimizer")->zeroGrad(info[1].ToBoolean());
  return info.Env().Undefined();
}

// optimGroups(h) -> [{ options: {...}, size }]
Napi::Value Groups(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto opt = unwrapOptimizer(info[0], "optimizer");
  auto out = Napi::Array::New(env, opt->groupCount());
  for (size_t g = 0; g < opt->groupCount(); ++g) {
    auto group = Napi::Object::New(env);
    group.Set("options", fromOptionMap(env, opt->options(g)));
    group.Set("size", Napi::Number::New(env, static_cast<double>(opt->groupSize(g))));
    out.Set(static_cast<uint32_t>(g), group);
  }
  return out;
}

// optimGetOption(h, group, name) -> number | boolean
Napi::Value GetOption(const Napi::CallbackInfo& info) {
  auto opt = unwrapOptimizer(info[0], "optimizer");
  return fromOption(info.Env(), opt->option(groupIndex(info[1]), info[2].As<Napi::String>()));
}

// optimSetOption(h, group, name, value)
Napi::Value SetOption(const Napi::CallbackInfo& info) {
  auto opt = unwrapOptimizer(info[0], "optimizer");
  std::string name = info[2].As<Napi::String>();
  opt->setOption(groupIndex(info[1]), name, toOption(info[3], "option '" + name + "'"));
  return info.Env().Undefined();
}

Napi::Value SetLr(const Napi::CallbackInfo& info) {
  if (!info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), "lr must be a number");
  unwrapOptimizer(info[0], "optimizer")->setLr(info[1].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

// optimState(h) -> { state: { "3.exp_avg": handle }, steps: { "3": n } }, copies
Napi::Value State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  optim::StateSnapshot snapshot = unwrapOptimizer(info[0], "optimizer")->state();
  auto state = Napi::Object::New(env);
  for (auto& [key, t] : snapshot.tensors) state.Set(key, wrapTensor(env, t));
  auto steps = Napi::Object::New(env);
  for (const auto& [index, n] : snapshot.steps) steps.Set(std::to_string(index), Napi::Number::New(env, static_cast<double>(n)));
  auto out = Napi::Object::New(env);
  out.Set("state", state);
  out.Set("steps", steps);
  return out;
}

// optimLoadState(h, groupOptions[], state: { key: handle }, steps: { index: n })
Napi::Value LoadState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto opt = unwrapOptimizer(info[0], "optimizer");
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "groups must be an array");
  auto groups = info[1].As<Napi::Array>();
  std::vector<OptionMap> options;
  for (uint32_t g = 0; g < groups.Length(); ++g) options.push_back(toOptionMap(groups.Get(g), "groups[" + std::to_string(g) + "]"));
  optim::StateSnapshot snapshot;
  if (!info[2].IsObject() || !info[3].IsObject()) throw Napi::TypeError::New(env, "state and steps must be objects");
  auto state = info[2].As<Napi::Object>();
  auto keys = state.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string key = keys.Get(i).As<Napi::String>();
    snapshot.tensors[key] = unwrapTensor(state.Get(key), "state['" + key + "']");
  }
  auto steps = info[3].As<Napi::Object>();
  keys = steps.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string key = keys.Get(i).As<Napi::String>();
    Napi::Value n = steps.Get(key);
    double d = n.IsNumber() ? n.As<Napi::Number>().DoubleValue() : -1;
    char* end = nullptr;
    long long index = std::strtoll(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || index < 0) throw Napi::Error::New(env, "steps key '" + key + "' is not a parameter index");
    if (!(d >= 1) || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw Napi::Error::New(env, "steps['" + key + "'] must be a positive integer");
    }
    snapshot.steps[index] = static_cast<int64_t>(d);
  }
  opt->loadState(options, snapshot);
  return env.Undefined();
}

// Frees the optimizer's state now (the External itself goes with the GC). Idempotent.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  holderOf(info[0], "optimizer")->optimizer.reset();
  return info.Env().Undefined();
}

// clipGradNorm(params: handle[], maxNorm, normType, errorIfNonfinite) -> the total norm
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  auto params = tensorArray(info[0], "parameters");
  at::Tensor total = optim::clipGradNorm(params, info[1].As<Napi::Number>().DoubleValue(),
                                         info[2].As<Napi::Number>().DoubleValue(), info[3].ToBoolean());
  return Napi::Number::New(info.Env(), total.item<double>());
}

// Exports Fn with no prefix on its errors: the optimizers' own messages start with their kind
// ("SGD: ..."), which is what the JS methods should report.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
void exportUnprefixed(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, guarded<Fn>, name, const_cast<char*>("")));
}

}  // namespace

std::shared_ptr<optim::Optimizer> unwrapOptimizer(const Napi::Value& v, const std::string& what) {
  Holder* h = holderOf(v, what);
  if (!h->optimizer) throw Napi::Error::New(v.Env(), what + " was disposed");
  return h->optimizer;
}

void initOptim(Napi::Env env, Napi::Object exports) {
  exportUnprefixed<Create>(env, exports, "optimCreate");
  exportUnprefixed<Step>(env, exports, "optimStep");
  exportUnprefixed<ZeroGrad>(env, exports, "optimZeroGrad");
  exportUnprefixed<Groups>(env, exports, "optimGroups");
  exportUnprefixed<GetOption>(env, exports, "optimGetOption");
  exportUnprefixed<SetOption>(env, exports, "optimSetOption");
  exportUnprefixed<SetLr>(env, exports, "optimSetLr");
  exportUnprefixed<State>(env, exports, "optimState");
  exportUnprefixed<LoadState>(env, exports, "optimLoadState");
  exportUnprefixed<Dispose>(env, exports, "optimDispose");
  exportFunction<ClipGradNorm>(env, exports, "clipGradNorm");
}

}  // namespace msam
