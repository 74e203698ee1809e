// Reading a module's options from a JS object, with errors that name the module and the option,
// and a check that no unknown option was given.
#pragma once
#include <set>

#include "common.h"

namespace msam::nn {

class Options {
 public:
  Options(std::string module, Napi::Object obj) : module_(std::move(module)), obj_(obj) {}

  int64_t integer(const char* name, msam::optional<int64_t> fallback = msam::nullopt, int64_t min = 1);
  double number(const char* name, msam::optional<double> fallback = msam::nullopt);
  // A probability-like value in [lo, hi].
  double number(const char* name, double fallback, double lo, double hi);
  bool flag(const char* name, bool fallback);
  std::string text(const char* name, const std::string& fallback, const std::vector<std::string>& allowed);
  // An int or a list of n ints (n = 2 for `kernelSize: 3` or `[3, 3]`).
  std::vector<int64_t> ints(const char* name, size_t n, msam::optional<std::vector<int64_t>> fallback = msam::nullopt,
                            int64_t min = 1);
  // Throws if the object has keys no reader asked for.
  void finish();

  [[noreturn]] void fail(const std::string& name, const std::string& why) const;
  Napi::Object object() const { return obj_; }
  void markUsed(const char* name) { used_.insert(name); }

 private:
  Napi::Value get(const char* name);
  std::string module_;
  Napi::Object obj_;
  std::set<std::string> used_;
};

}  // namespace msam::nn
