// Native modules: a layer owns named parameters, buffers and child modules as plain tensors in
// ordered lists, so that anything (the optimizer, the mSAM step, to(), loadStateDict) can reach and
// swap them, and composes into containers whose whole forward runs in C++ (one call from JS).
#pragma once
#include <memory>
#include <stdexcept>
#include <utility>

#include "common.h"

namespace msam::nn {

// inputs[0] is the activation; further entries (an attention mask) are context that most modules
// pass through unchanged, so multi-input models (token ids + mask) compose like single-input ones.
using Tensors = std::vector<at::Tensor>;

// An error inside a model, with the path of the module that raised it: "layer1.0.conv1 (Conv2d): ...".
// isRangeError: the cause was a c10::IndexError (an index out of range), which JS sees as a RangeError.
class ModuleError : public std::runtime_error {
 public:
  ModuleError(std::string path, std::string cause, bool isRangeError = false)
      : std::runtime_error(path + ": " + cause), path_(std::move(path)), cause_(std::move(cause)), range_(isRangeError) {}
  const std::string& path() const { return path_; }
  const std::string& cause() const { return cause_; }
  bool isRangeError() const { return range_; }

 private:
  std::string path_;
  std::string cause_;
  bool range_;
};

class Module {
 public:
  template <typename T>
  using Named = std::vector<std::pair<std::string, T>>;

  explicit Module(std::string type) : type_(std::move(type)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type() const { return type_; }
  virtual Tensors forward(const Tensors& inputs) = 0;
  // Whether forward also runs a grouped pass (nn/grouped.h: stacked [G, ...] weights, G shards).
  virtual bool supportsGrouped() const { return false; }
  // The path and type of the first module in this tree without a grouped forward ("" when all have one).
  std::string firstWithoutGrouped(const std::string& prefix = "") const;

  // Runs child `name` on `inputs`, naming it in any error that escapes.
  static Tensors callChild(const std::string& name, Module& child, const Tensors& inputs);

  // An empty name (for a parameter or a child) is transparent: its entries take the parent's
  // prefix. That is how a module holding one tensor ("class_token") or a block assembled from
  // residual pieces keeps the state-dict keys of the PyTorch model it mirrors.
  Named<at::Tensor>& parameters() { return params_; }
  Named<at::Tensor>& buffers() { return buffers_; }
  Named<std::shared_ptr<Module>>& children() { return children_; }
  const Named<at::Tensor>& parameters() const { return params_; }
  const Named<at::Tensor>& buffers() const { return buffers_; }
  const Named<std::shared_ptr<Module>>& children() const { return children_; }
  void namedParameters(const std::string& prefix, Named<at::Tensor>& out);
  void namedBuffers(const std::string& prefix, Named<at::Tensor>& out);
  // The parameters that require a gradient (what the step, the all-reduce and the Hessian analyses
  // work on), in namedParameters' order.
  std::vector<at::Tensor> trainableParameters();
  // Where every parameter of the tree is held, in namedParameters' order: the grouped pass swaps
  // stacked weights in and puts the originals back.
  void parameterSlots(std::vector<at::Tensor*>& out);

  bool training() const { return training_; }
  void train(bool on);
  // Moves/casts every parameter (with its gradient) and buffer in place (set_data), so tensors
  // already handed out keep seeing them, as in PyTorch. Dtype casts touch floating-point tensors only.
  void to(const msam::optional<at::Device>& device, const msam::optional<at::ScalarType>& dtype);

  // A readable summary: the tree, one line per module, with its options.
  std::string repr(int indent = 0) const;

 protected:
  virtual std::string options() const { return ""; }
  at::Tensor& addParameter(const std::string& name, at::Tensor t);
  at::Tensor& addBuffer(const std::string& name, at::Tensor t);
  void addChild(const std::string& name, std::shared_ptr<Module> m);
  // Direct access by position (the order they were added): forward reads them each time, so a
  // swapped tensor is used at once.
  const at::Tensor& param(size_t i) const { return params_[i].second; }
  const at::Tensor& buffer(size_t i) const { return buffers_[i].second; }
  Module& child(size_t i) const { return *children_[i].second; }

 private:
  std::string type_;
  bool training_ = true;
  Named<at::Tensor> params_;
  Named<at::Tensor> buffers_;
  Named<std::shared_ptr<Module>> children_;
};

// While one of these lives on a thread, BatchNorm layers in training mode there normalize with the
// batch's statistics but leave their running statistics (and num_batches_tracked) untouched: the
// mSAM step's perturbed passes, and bnMode 'freeze'.
class FreezeRunningStats {
 public:
  FreezeRunningStats();
  ~FreezeRunningStats();
  FreezeRunningStats(const FreezeRunningStats&) = delete;
  FreezeRunningStats& operator=(const FreezeRunningStats&) = delete;
  static bool active();

 private:
  bool previous_;
};

// Replaces inputs[0] by y, keeping the context.
inline Tensors withActivation(at::Tensor y, const Tensors& inputs) {
  Tensors out = inputs;
  out[0] = std::move(y);
  return out;
}

// Children in order, each fed the previous one's outputs.
class Sequential : public Module {
 public:
  explicit Sequential(Named<std::shared_ptr<Module>> children);
  Tensors forward(const Tensors& inputs) override;
  bool supportsGrouped() const override { return true; }
};

// y = post(body(pre(x)) + shortcut(pre(x))), the shortcut being the identity on x itself when
// there is none (pre-activation blocks apply `pre` to the shortcut only when it is a projection,
// as in WideResNet). Body, pre and post children are registered under their own names.
class Residual : public Module {
 public:
  Residual(Named<std::shared_ptr<Module>> pre, Named<std::shared_ptr<Module>> body,
           msam::optional<std::pair<std::string, std::shared_ptr<Module>>> shortcut, Named<std::shared_ptr<Module>> post);
  Tensors forward(const Tensors& inputs) override;
  bool supportsGrouped() const override { return true; }

 private:
  size_t pre_, body_, post_;
  bool hasShortcut_;
};

}  // namespace msam::nn
