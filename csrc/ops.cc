#include "ops.h"

#include <cmath>
#include <unordered_map>

#include "convert.h"
#include "errors.h"
#include "tensor.h"
#include "worker.h"

namespace msam {
namespace {

// The signatures called unboxed (a typed call through the dispatcher, autograd included): the
// element-wise and matrix ops that dominate small-tensor work. Anything else, and any call that
// does not fit (keywords, non-tensor values), takes the boxed path, which also reports errors.
enum class Fast { None, T, TT, TS, TTS, TSS };

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;  // "aten::add.Tensor", for messages
  Fast fast = Fast::None;
  // For each return, the index of the argument it aliases with a write ("Tensor(a!)"), or -1:
  // in-place ops hand back the very JS value they were given.
  std::vector<int> writtenArg;
};

std::vector<OpEntry> gOps;  // ids are indices; entries are never removed
std::unordered_map<std::string, uint32_t> gOpIds;

const OpEntry& entryOf(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "ops: operator id must be a number");
  uint32_t id = v.As<Napi::Number>().Uint32Value();
  if (id >= gOps.size()) throw Napi::RangeError::New(v.Env(), "ops: no operator with id " + std::to_string(id));
  return gOps[id];
}

std::vector<int> writtenArguments(const c10::FunctionSchema& schema) {
  std::vector<int> out;
  for (const auto& ret : schema.returns()) {
    int found = -1;
    if (ret.alias_info() && ret.alias_info()->isWrite()) {
      for (size_t i = 0; i < schema.arguments().size(); ++i) {
        const auto& ai = schema.arguments()[i].alias_info();
        if (ai && ai->isWrite() && ai->beforeSets() == ret.alias_info()->beforeSets()) {
          found = static_cast<int>(i);
          break;
        }
      }
    }
    out.push_back(found);
  }
  return out;
}

Fast fastSignature(const c10::FunctionSchema& schema) {
  if (schema.returns().size() != 1 || schema.returns()[0].alias_info() || schema.is_vararg()) return Fast::None;
  if (schema.returns()[0].real_type()->kind() != c10::TypeKind::TensorType) return Fast::None;
  std::string kinds;
  for (const auto& a : schema.arguments()) {
    if (a.alias_info() || a.kwarg_only() != false) {
      // a kwarg-only Scalar (add's alpha) is still positional in the C++ signature
      if (a.alias_info()) return Fast::None;
    }
    auto k = a.real_type()->kind();
    if (k == c10::TypeKind::TensorType) kinds += 'T';
    else if (k == c10::TypeKind::NumberType) kinds += 'S';
    else return Fast::None;
  }
  if (kinds == "T") return Fast::T;
  if (kinds == "TT") return Fast::TT;
  if (kinds == "TS") return Fast::TS;
  if (kinds == "TTS") return Fast::TTS;
  if (kinds == "TSS") return Fast::TSS;
  return Fast::None;
}

// opHandle(name, overload) -> id
Napi::Value OpHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "ops: operator name must be a string such as 'aten::add'");
  std::string name = info[0].As<Napi::String>();
  std::string overload = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  std::string key = overload.empty() ? name : name + "." + overload;
  auto it = gOpIds.find(key);
  if (it != gOpIds.end()) return Napi::Number::New(env, it->second);
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw Napi::Error::New(env, "ops: unknown operator '" + key + "'");
  gOps.push_back({*handle, key, fastSignature(handle->schema()), writtenArguments(handle->schema())});
  uint32_t id = static_cast<uint32_t>(gOps.size() - 1);
  gOpIds.emplace(key, id);
  return Napi::Number::New(env, id);
}

Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  std::ostringstream s;
  s << entryOf(info[0]).handle.schema();
  return Napi::String::New(info.Env(), s.str());
}

bool isKeywordObject(const Napi::Value& v) {
  return v.IsObject() && !v.IsArray() && !v.IsTypedArray() && !v.IsFunction();
}

// The JS arguments of one call: info[first..first+given) positionally, then optional keywords.
struct JsArgs {
  const Napi::CallbackInfo& info;
  size_t first;
  size_t given = 0;
  Napi::Object kwargs;

  // The JS value given for schema argument i (undefined when defaulted).
  Napi::Value at(const c10::Argument& arg, size_t i) const {
    if (!kwargs.IsEmpty() && kwargs.Has(arg.name())) return kwargs.Get(arg.name());
    return i < given ? info[first + i] : info.Env().Undefined();
  }
};

// Fills `stack` from the JS arguments: positional values in schema order (undefined means "the
// default"), optionally followed by one plain object of keyword arguments.
JsArgs buildStack(const Napi::CallbackInfo& info, size_t first, const OpEntry& op, torch::jit::Stack& stack) {
  Napi::Env env = info.Env();
  const auto& args = op.handle.schema().arguments();
  JsArgs js{info, first, info.Length() - first, Napi::Object()};
  if (js.given > 0 && isKeywordObject(info[info.Length() - 1])) {
    js.kwargs = info[info.Length() - 1].As<Napi::Object>();
    --js.given;
  }
  if (js.given > args.size()) {
    throw Napi::TypeError::New(env, op.name + ": takes " + std::to_string(args.size()) + " arguments, got " +
                                        std::to_string(js.given));
  }
  stack.reserve(args.size());
  size_t usedKeywords = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    Napi::Value v = i < js.given ? info[first + i] : env.Undefined();
    if (!js.kwargs.IsEmpty() && js.kwargs.Has(arg.name())) {
      if (!v.IsUndefined()) throw Napi::TypeError::New(env, op.name + ": argument '" + arg.name() + "' given twice");
      v = js.kwargs.Get(arg.name());
      ++usedKeywords;
    }
    if (v.IsUndefined()) {
      if (arg.default_value()) {
        stack.push_back(*arg.default_value());
        continue;
      }
      if (arg.real_type()->kind() == c10::TypeKind::OptionalType) {
        stack.emplace_back();
        continue;
      }
      throw Napi::TypeError::New(env, op.name + ": missing argument '" + arg.name() + "'");
    }
    stack.push_back(toIValue(v, arg, op.name));
  }
  if (!js.kwargs.IsEmpty() && usedKeywords != js.kwargs.GetPropertyNames().Length()) {
    auto names = js.kwargs.GetPropertyNames();
    for (uint32_t k = 0; k < names.Length(); ++k) {
      std::string key = names.Get(k).As<Napi::String>();
      bool known = std::any_of(args.begin(), args.end(), [&](const c10::Argument& a) { return a.name() == key; });
      if (!known) throw Napi::TypeError::New(env, op.name + ": unknown keyword argument '" + key + "'");
    }
  }
  return js;
}

// The call's results: one value, or an array for several. A result that writes into an argument
// (in-place and out= ops) is that argument's own JS value, got from `jsArg(argumentIndex)`.
template <typename JsArgAt>
Napi::Value results(Napi::Env env, const OpEntry& op, torch::jit::Stack& stack, const JsArgAt& jsArg) {
  auto result = [&](size_t i) {
    int written = i < op.writtenArg.size() ? op.writtenArg[i] : -1;
    return written >= 0 ? jsArg(written) : fromIValue(env, stack[i]);
  };
  if (stack.empty()) return env.Undefined();
  if (stack.size() == 1) return result(0);
  auto out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); ++i) out.Set(i, result(i));
  return out;
}

// The unboxed call of a Fast op, or an undefined tensor when these JS arguments do not fit it.
at::Tensor callFast(const Napi::CallbackInfo& info, const OpEntry& op) {
  const auto& args = op.handle.schema().arguments();
  size_t given = info.Length() - 1;
  if (given > args.size()) return at::Tensor();
  const at::Tensor* t[2] = {nullptr, nullptr};
  c10::Scalar sc[2];
  size_t nt = 0, ns = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    Napi::Value v = i < given ? info[1 + i] : info.Env().Undefined();
    if (args[i].real_type()->kind() == c10::TypeKind::TensorType) {
      bool disposed = false;
      t[nt] = findTensor(v, &disposed);
      if (!t[nt++]) return at::Tensor();
    } else if (v.IsNumber()) {
      double d = v.As<Napi::Number>().DoubleValue();
      // the same rule as the boxed path: integral numbers are integer Scalars
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {
        sc[ns++] = c10::Scalar(static_cast<int64_t>(d));
      } else {
        sc[ns++] = c10::Scalar(d);
      }
    } else if (v.IsUndefined() && args[i].default_value()) {
      sc[ns++] = args[i].default_value()->toScalar();
    } else {
      return at::Tensor();
    }
  }
  using T = const at::Tensor&;
  using S = const c10::Scalar&;
  switch (op.fast) {
    case Fast::T: return op.handle.typed<at::Tensor(T)>().call(*t[0]);
    case Fast::TT: return op.handle.typed<at::Tensor(T, T)>().call(*t[0], *t[1]);
    case Fast::TS: return op.handle.typed<at::Tensor(T, S)>().call(*t[0], sc[0]);
    case Fast::TTS: return op.handle.typed<at::Tensor(T, T, S)>().call(*t[0], *t[1], sc[0]);
    case Fast::TSS: return op.handle.typed<at::Tensor(T, S, S)>().call(*t[0], sc[0], sc[1]);
    case Fast::None: break;
  }
  return at::Tensor();
}

// call(id, ...args) -> result (a handle, a number, an array for several results, ...)
Napi::Value Call(const Napi::CallbackInfo& info) {
  const OpEntry& op = entryOf(info[0]);
  if (op.fast != Fast::None) {
    at::Tensor out;
    try {
      out = callFast(info, op);
    } catch (...) {
      rethrowAsJs(info.Env(), op.name);
    }
    if (out.defined()) return wrapTensor(info.Env(), std::move(out));
  }
  // One stack reused by every call (the JS thread never re-enters here): no allocation per call.
  static torch::jit::Stack stack;
  stack.clear();
  JsArgs js = buildStack(info, 1, op, stack);
  try {
    op.handle.callBoxed(&stack);
  } catch (...) {
    stack.clear();
    rethrowAsJs(info.Env(), op.name);
  }
  const auto& args = op.handle.schema().arguments();
  Napi::Value out = results(info.Env(), op, stack, [&](int i) { return js.at(args[i], i); });
  stack.clear();  // release the results' references now
  return out;
}

// callAsync(id, ...args) -> Promise of the result; the op runs on a libuv worker thread.
Napi::Value CallAsync(const Napi::CallbackInfo& info) {
  const OpEntry& op = entryOf(info[0]);
  auto stack = std::make_shared<torch::jit::Stack>();
  JsArgs js = buildStack(info, 1, op, *stack);
  const auto& args = op.handle.schema().arguments();
  std::vector<Napi::Value> jsArgs;
  for (size_t i = 0; i < args.size(); ++i) jsArgs.push_back(js.at(args[i], i));
  auto handle = op.handle;
  auto* worker = new PromiseWorker(
      info.Env(), op.name,
      [handle, stack]() {
        handle.callBoxed(stack.get());
        return std::move(*stack);
      },
      [op](Napi::Env env, std::vector<c10::IValue>& out, const std::vector<Napi::Value>& kept) {
        return results(env, op, out, [&](int i) { return kept[i]; });
      },
      jsArgs);
  return PromiseWorker::start(worker);
}

}  // namespace

void initOps(Napi::Env env, Napi::Object exports) {
  exportFunction<OpHandle>(env, exports, "opHandle");
  exportFunction<OpSchema>(env, exports, "opSchema");
  exportFunction<Call>(env, exports, "call");
  exportFunction<CallAsync>(env, exports, "callAsync");
}

}  // namespace msam
