#include "convert.h"

#include <cmath>

#include "tensor.h"

namespace msam {
namespace {

// Where a value sits, for error messages: "aten::add.Tensor: argument 'other'[2]".
struct Where {
  const std::string& op;
  const std::string& arg;
  int index = -1;
  const c10::Argument* argument = nullptr;
  Where at(int i) const { return Where{op, arg, i, argument}; }
  // `int[2] stride=[]`: an empty default means "derive it", so an empty list is accepted there.
  // Only asked when a list has the wrong length, off the hot path.
  bool emptyListOk() const {
    const auto& def = argument ? argument->default_value() : msam::nullopt;
    return def && def->isIntList() && def->toIntList().empty();
  }
  std::string str() const {
    // Appended piece by piece: g++ 12 -O3 warns (falsely, GCC bug 105329) on the chain of operator+.
    std::string s = op;
    s += ": argument '";
    s += arg;
    s += '\'';
    if (index >= 0) {
      s += '[';
      s += std::to_string(index);
      s += ']';
    }
    return s;
  }
};

const at::Tensor& tensorArg(const Napi::Value& v, const Where& w) {
  bool disposed = false;
  const at::Tensor* t = findTensor(v, &disposed);
  if (t) return *t;
  if (disposed) throw Napi::Error::New(v.Env(), w.str() + " is a disposed tensor");
  throw Napi::TypeError::New(v.Env(), w.str() + " must be a Tensor, got " + typeOfValue(v));
}

[[noreturn]] void typeError(const Napi::Value& v, const Where& what, const std::string& expected) {
  throw Napi::TypeError::New(v.Env(), what.str() + " must be " + expected);
}

int64_t toInt(const Napi::Value& v, const Where& what) {
  if (!v.IsNumber()) typeError(v, what, "an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d)) typeError(v, what, "an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

double toDouble(const Napi::Value& v, const Where& what) {
  if (!v.IsNumber()) typeError(v, what, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool toBool(const Napi::Value& v, const Where& what) {
  if (!v.IsBoolean()) typeError(v, what, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

// A JS number is an integer Scalar when it is integral (so int tensors stay int), else a double.
c10::IValue toScalar(const Napi::Value& v, const Where& what) {
  if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
  if (!v.IsNumber()) typeError(v, what, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {
    return c10::IValue(static_cast<int64_t>(d));
  }
  return c10::IValue(d);
}

at::MemoryFormat toMemoryFormat(const Napi::Value& v, const Where& what) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "contiguous") return at::MemoryFormat::Contiguous;
  if (s == "channelsLast") return at::MemoryFormat::ChannelsLast;
  if (s == "channelsLast3d") return at::MemoryFormat::ChannelsLast3d;
  if (s == "preserve") return at::MemoryFormat::Preserve;
  typeError(v, what, "'contiguous', 'channelsLast', 'channelsLast3d' or 'preserve'");
}

Napi::Array toArray(const Napi::Value& v, const Where& what, const std::string& expected) {
  if (!v.IsArray()) typeError(v, what, expected);
  return v.As<Napi::Array>();
}

c10::IValue toList(const Napi::Value& v, const c10::TypePtr& elem, msam::optional<int32_t> n, const Where& what) {
  switch (elem->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      // `int[2] stride` also takes a single integer, as in PyTorch.
      if (v.IsNumber() && n) return c10::IValue(std::vector<int64_t>(*n, toInt(v, what)));
      auto arr = toArray(v, what, "an array of integers");
      // A fixed-size list (`int[4] padding`) must have its size: some kernels index it blindly.
      // (`int[1] dim` is the schema's way to say "an int or a list", of any length.)
      if (n && *n > 1 && arr.Length() != static_cast<uint32_t>(*n) && !(arr.Length() == 0 && what.emptyListOk())) {
        throw Napi::RangeError::New(v.Env(), what.str() + " must be an integer or a list of " + std::to_string(*n) +
                                                 " integers, got a list of " + std::to_string(arr.Length()));
      }
      std::vector<int64_t> out(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) out[i] = toInt(arr.Get(i), what.at(static_cast<int>(i)));
      return c10::IValue(out);
    }
    case c10::TypeKind::FloatType: {
      if (v.IsNumber() && n) return c10::IValue(std::vector<double>(*n, toDouble(v, what)));
      auto arr = toArray(v, what, "an array of numbers");
      std::vector<double> out(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) out[i] = toDouble(arr.Get(i), what.at(static_cast<int>(i)));
      return c10::IValue(out);
    }
    case c10::TypeKind::BoolType: {
      auto arr = toArray(v, what, "an array of booleans");
      c10::List<bool> out;
      for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(toBool(arr.Get(i), what.at(static_cast<int>(i))));
      return c10::IValue(out);
    }
    case c10::TypeKind::TensorType: {
      auto arr = toArray(v, what, "an array of tensors");
      c10::List<at::Tensor> out;
      out.reserve(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(tensorArg(arr.Get(i), what.at(static_cast<int>(i))));
      return c10::IValue(out);
    }
    case c10::TypeKind::OptionalType: {
      if (elem->expectRef<c10::OptionalType>().getElementType()->kind() == c10::TypeKind::TensorType) {
        auto arr = toArray(v, what, "an array of tensors or nulls");
        c10::List<msam::optional<at::Tensor>> out;
        for (uint32_t i = 0; i < arr.Length(); ++i) {
          Napi::Value e = arr.Get(i);
          if (e.IsNull() || e.IsUndefined()) {
            out.push_back(msam::nullopt);
          } else {
            out.push_back(tensorArg(e, what.at(static_cast<int>(i))));
          }
        }
        return c10::IValue(out);
      }
      break;
    }
    default:
      break;
  }
  throw Napi::TypeError::New(v.Env(), what.str() + ": lists of " + elem->str() + " are not supported from JavaScript");
}

c10::IValue convert(const Napi::Value& v, const c10::TypePtr& type, msam::optional<int32_t> n, const Where& what) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType:
      return tensorArg(v, what);
    case c10::TypeKind::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return convert(v, type->expectRef<c10::OptionalType>().getElementType(), n, what);
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
      return toInt(v, what);
    case c10::TypeKind::FloatType:
    case c10::TypeKind::SymFloatType:
      return toDouble(v, what);
    case c10::TypeKind::BoolType:
#if TORCH_VERSION_MAJOR >= 2
    case c10::TypeKind::SymBoolType:
#endif
      return toBool(v, what);
    case c10::TypeKind::NumberType:
      return toScalar(v, what);
    case c10::TypeKind::StringType:
      if (!v.IsString()) typeError(v, what, "a string");
      return v.As<Napi::String>().Utf8Value();
    case c10::TypeKind::ScalarTypeType:
      if (!v.IsString()) typeError(v, what, "a dtype name such as 'float32'");
      return parseDtype(v.Env(), v.As<Napi::String>(), what.str());
    case c10::TypeKind::LayoutType:
      if (!v.IsString() || v.As<Napi::String>().Utf8Value() != "strided") typeError(v, what, "'strided'");
      return at::kStrided;
    case c10::TypeKind::MemoryFormatType:
      return toMemoryFormat(v, what);
    case c10::TypeKind::DeviceObjType:
      if (!v.IsString()) typeError(v, what, "a device name such as 'cpu' or 'cuda:0'");
      return parseDevice(v.Env(), v.As<Napi::String>(), what.str());
    case c10::TypeKind::ListType:
      return toList(v, type->expectRef<c10::ListType>().getElementType(), n, what);
    default:
      throw Napi::TypeError::New(v.Env(), what.str() + ": arguments of type " + type->str() + " are not supported from JavaScript");
  }
}

}  // namespace

c10::IValue toIValue(const Napi::Value& v, const c10::Argument& arg, const std::string& op) {
  return convert(v, arg.real_type(), arg.N(), Where{op, arg.name(), -1, &arg});
}

Napi::Value fromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    return t.defined() ? wrapTensor(env, t) : env.Null();
  }
  if (v.isNone()) return env.Null();
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) out.Set(i, fromIValue(env, list.get(i)));
    return out;
  }
  if (v.isIntList()) {
    auto list = v.toIntList();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) out.Set(i, Napi::Number::New(env, static_cast<double>(list.get(i))));
    return out;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) out.Set(i, fromIValue(env, list[i]));
    return out;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    auto out = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); ++i) out.Set(i, fromIValue(env, elems[i]));
    return out;
  }
  if (v.isScalar()) return Napi::Number::New(env, v.toScalar().toDouble());
  throw Napi::TypeError::New(env, "results of type " + v.tagKind() + " are not supported in JavaScript");
}

}  // namespace msam
