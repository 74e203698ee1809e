// The optimizer base: parameter groups with their own hyper-parameters, per-parameter state, and
// a step() callable from C++ (the native training step runs it on a worker thread) or from JS
// (binding.cc). The math of each algorithm lives in its own file (sgd.cc, adamw.cc), as the
// single-tensor ("for-loop") algorithms of torch.optim 1.13.
//
// State changes only inside step() and loadState(): zeroGrad(), reading options or taking a
// snapshot never touch it, so a training step that decides to skip an update (a non-finite loss
// in mSAM) simply does not call step(). State is created lazily on a parameter's first update,
// as torch.optim does, so a parameter that never had a gradient has none.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <variant>

#include "common.h"

namespace msam {
namespace optim {

// A hyper-parameter value: options are numbers or flags only, so they are read, written and
// saved generically by name (the bindings and state dicts need no per-optimizer code).
using OptionValue = std::variant<double, bool>;
using OptionMap = std::map<std::string, OptionValue>;

// What an optimizer keeps for one parameter.
struct ParamState {
  int64_t step = 0;  // updates applied to this parameter; 0 means no state yet
  std::vector<std::pair<std::string, at::Tensor>> buffers;

  at::Tensor* find(const std::string& name);
  void set(const std::string& name, at::Tensor t);
};

// A snapshot of every parameter's state, keyed as torch's state_dict keys them: by the
// parameter's index over all groups in order ("3.exp_avg"), and the step counts by index.
struct StateSnapshot {
  std::map<std::string, at::Tensor> tensors;
  std::map<int64_t, int64_t> steps;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // "SGD", "AdamW": names the optimizer in errors and state dicts.
  const char* kind() const { return kind_; }

  // One update of every parameter that has a gradient; the others, and their state, are left
  // alone. Every gradient is checked first, so a step that throws changes nothing.
  void step();
  // Drops the gradients (setToNone), or zeroes them in place as torch does.
  void zeroGrad(bool setToNone);

  size_t groupCount() const { return groupStart_.size(); }
  size_t groupSize(size_t group) const;
  // All parameters, group after group: the indices state keys use.
  const std::vector<at::Tensor>& params() const { return params_; }

  virtual std::vector<std::string> optionNames() const = 0;
  virtual OptionMap options(size_t group) const = 0;
  virtual OptionValue option(size_t group, const std::string& name) const = 0;
  // Sets one option of one group; the group's options are checked together before it changes.
  virtual void setOption(size_t group, const std::string& name, OptionValue value) = 0;
  // The learning rate of every group (what a schedule sets each step).
  void setLr(double lr);

  // Copies of every state tensor and the step counts: the snapshot does not follow later steps.
  StateSnapshot state() const;
  // Restores group options (given for every group) and state exactly, after checking every key,
  // shape and step count against this optimizer's parameters; on error nothing changes.
  virtual void loadState(const std::vector<OptionMap>& groupOptions, const StateSnapshot& snapshot) = 0;

 protected:
  Optimizer(const char* kind, const std::vector<std::vector<at::Tensor>>& groups);

  // The algorithm: updates the parameters `indices` (indices into params_, all with a checked
  // gradient) of group `group`. Called with the lock held and grad mode off.
  virtual void update(size_t group, const std::vector<size_t>& indices) = 0;
  // The state buffers a parameter of a group with these options keeps once it has state:
  // `required` ones must be present in a loaded state, the others may be.
  virtual void bufferNames(size_t group, const OptionMap& options, std::vector<std::string>* required,
                           std::vector<std::string>* optional) const = 0;
  // Checks a snapshot against the parameters and new options, and builds the state it describes.
  std::vector<ParamState> stateFrom(const StateSnapshot& snapshot, const std::vector<OptionMap>& groupOptions) const;
  size_t groupOf(size_t param) const;

  const char* kind_;
  std::vector<at::Tensor> params_;
  std::vector<size_t> groupStart_;  // index in params_ of each group's first parameter
  std::vector<ParamState> state_;   // by index in params_
  // A native training step may run step() on a worker thread while JS sets a learning rate.
  mutable std::mutex mutex_;
};

// `base` with the named values of `changes` set; an unknown name or a value of the wrong type
// throws (naming `kind`). The options are not checked together here (Options::check does that).
template <class Options>
Options withOptions(Options base, const OptionMap& changes, const char* kind) {
  for (const auto& [name, value] : changes) {
    bool found = false;
    Options::forEachField([&, &name = name, &value = value](const char* field, auto member) {
      if (name != field) return;
      found = true;
      using T = std::remove_reference_t<decltype(base.*member)>;
      TORCH_CHECK(std::holds_alternative<T>(value), kind, ": option '", name, "' must be a ",
                  std::is_same_v<T, bool> ? "boolean" : "number");
      base.*member = std::get<T>(value);
    });
    TORCH_CHECK(found, kind, ": unknown option '", name, "'");
  }
  return base;
}

// The generic half of an optimizer with the options struct `Options`, which lists its fields
// with `template <class F> static void forEachField(F&& f)` calling f(name, &Options::member)
// and checks them together in `void check() const` (throwing c10::Error naming the field).
template <class Options>
class OptimizerWith : public Optimizer {
 public:
  // A group's options, typed (for C++ callers such as the native training step).
  Options optionsOf(size_t group) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return options_.at(checkGroup(group));
  }

  std::vector<std::string> optionNames() const override {
    std::vector<std::string> names;
    Options::forEachField([&](const char* name, auto) { names.emplace_back(name); });
    return names;
  }

  OptionMap options(size_t group) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return toMap(options_.at(checkGroup(group)));
  }

  OptionValue option(size_t group, const std::string& name) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    OptionMap all = toMap(options_.at(checkGroup(group)));
    auto it = all.find(name);
    TORCH_CHECK(it != all.end(), kind(), ": unknown option '", name, "'");
    return it->second;
  }

  void setOption(size_t group, const std::string& name, OptionValue value) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Options next = applied(options_.at(checkGroup(group)), {{name, value}});
    options_[group] = next;
  }

  void loadState(const std::vector<OptionMap>& groupOptions, const StateSnapshot& snapshot) override {
    std::lock_guard<std::mutex> lock(mutex_);
    TORCH_CHECK(groupOptions.size() == groupCount(), kind(), ": the state has options for ", groupOptions.size(),
                " parameter groups, this optimizer has ", groupCount());
    std::vector<Options> next;
    std::vector<OptionMap> maps;
    for (size_t g = 0; g < groupOptions.size(); ++g) {
      next.push_back(applied(options_[g], groupOptions[g]));
      maps.push_back(toMap(next.back()));
    }
    std::vector<ParamState> state = stateFrom(snapshot, maps);
    options_ = std::move(next);
    state_ = std::move(state);
  }

 protected:
  OptimizerWith(const char* kind, const std::vector<std::vector<at::Tensor>>& groups, std::vector<Options> options)
      : Optimizer(kind, groups), options_(std::move(options)) {
    TORCH_CHECK(options_.size() == groups.size(), kind, ": ", groups.size(), " parameter groups but ", options_.size(),
                " option sets");
    for (const auto& o : options_) o.check();
  }

  // `base` with the values of `changes`, then checked as a whole.
  Options applied(Options base, const OptionMap& changes) const {
    base = withOptions(std::move(base), changes, kind());
    base.check();
    return base;
  }

  static OptionMap toMap(const Options& o) {
    OptionMap m;
    Options::forEachField([&](const char* name, auto member) { m[name] = o.*member; });
    return m;
  }

  size_t checkGroup(size_t group) const {
    TORCH_CHECK_INDEX(group < groupCount(), kind(), ": no parameter group ", group, " (there are ", groupCount(), ")");
    return group;
  }

  std::vector<Options> options_;
};

// Whether a boolean option is set in a map built by toMap (bufferNames uses it).
inline bool flagOf(const OptionMap& m, const char* name) {
  auto it = m.find(name);
  return it != m.end() && std::holds_alternative<bool>(it->second) && std::get<bool>(it->second);
}

}  // namespace optim
}  // namespace msam
