#include "nn/options.h"

#include <cmath>

namespace msam::nn {

void Options::fail(const std::string& name, const std::string& why) const {
  throw Napi::TypeError::New(obj_.Env(), module_ + ": option '" + name + "' " + why);
}

Napi::Value Options::get(const char* name) {
  used_.insert(name);
  return obj_.Has(name) ? obj_.Get(name) : obj_.Env().Undefined();
}

int64_t Options::integer(const char* name, msam::optional<int64_t> fallback, int64_t min) {
  Napi::Value v = get(name);
  if (v.IsUndefined() || v.IsNull()) {
    if (!fallback) fail(name, "is required");
    return *fallback;
  }
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::trunc(d)) fail(name, "must be an integer");
  if (d < static_cast<double>(min)) fail(name, "must be at least " + std::to_string(min) + ", got " + std::to_string(static_cast<int64_t>(d)));
  return static_cast<int64_t>(d);
}

double Options::number(const char* name, msam::optional<double> fallback) {
  Napi::Value v = get(name);
  if (v.IsUndefined() || v.IsNull()) {
    if (!fallback) fail(name, "is required");
    return *fallback;
  }
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) fail(name, "must be a finite number");
  return v.As<Napi::Number>().DoubleValue();
}

double Options::number(const char* name, double fallback, double lo, double hi) {
  double d = number(name, fallback);
  if (d < lo || d > hi) fail(name, "must be in [" + c10::str(lo) + ", " + c10::str(hi) + "], got " + c10::str(d));
  return d;
}

bool Options::flag(const char* name, bool fallback) {
  Napi::Value v = get(name);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) fail(name, "must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string Options::text(const char* name, const std::string& fallback, const std::vector<std::string>& allowed) {
  Napi::Value v = get(name);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "'" : ", '") + a + "'";
    fail(name, "must be one of " + list);
  }
  return s;
}

std::vector<int64_t> Options::ints(const char* name, size_t n, msam::optional<std::vector<int64_t>> fallback, int64_t min) {
  Napi::Value v = get(name);
  if (v.IsUndefined() || v.IsNull()) {
    if (!fallback) fail(name, "is required");
    return *fallback;
  }
  std::vector<double> raw;
  if (v.IsNumber()) {
    raw.assign(n, v.As<Napi::Number>().DoubleValue());
  } else if (v.IsArray() && v.As<Napi::Array>().Length() == n) {
    auto arr = v.As<Napi::Array>();
    for (uint32_t i = 0; i < n; ++i) raw.push_back(arr.Get(i).IsNumber() ? arr.Get(i).As<Napi::Number>().DoubleValue() : NAN);
  } else {
    fail(name, "must be an integer or a list of " + std::to_string(n) + " integers");
  }
  std::vector<int64_t> out;
  for (double d : raw) {
    if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(min)) {
      fail(name, "must hold integers of at least " + std::to_string(min));
    }
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

void Options::finish() {
  auto names = obj_.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string key = names.Get(i).As<Napi::String>();
    if (!used_.count(key)) throw Napi::TypeError::New(obj_.Env(), module_ + ": unknown option '" + key + "'");
  }
}

}  // namespace msam::nn
