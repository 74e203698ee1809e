#include "nn/module.h"

#include <sstream>

namespace msam::nn {
namespace {
std::string join(const std::string& prefix, const std::string& name) {
  if (name.empty()) return prefix;
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

namespace {
thread_local bool tFrozen = false;
}  // namespace

FreezeRunningStats::FreezeRunningStats() : previous_(tFrozen) { tFrozen = true; }
FreezeRunningStats::~FreezeRunningStats() { tFrozen = previous_; }
bool FreezeRunningStats::active() { return tFrozen; }

Tensors Module::callChild(const std::string& name, Module& child, const Tensors& inputs) {
  try {
    return child.forward(inputs);
  } catch (const ModuleError& e) {
    throw ModuleError(join(name, e.path()), e.cause(), e.isRangeError());
  } catch (const c10::Error& e) {
    std::string cause = e.what_without_backtrace();
    auto cut = cause.find("\nException raised from");
    if (cut != std::string::npos) cause.resize(cut);
    bool range = dynamic_cast<const c10::IndexError*>(&e) != nullptr;
    throw ModuleError(join(name, "") + (name.empty() ? "" : " ") + "(" + child.type() + ")", cause, range);
  }
}

void Module::namedParameters(const std::string& prefix, Named<at::Tensor>& out) {
  for (auto& p : params_) out.emplace_back(join(prefix, p.first), p.second);
  for (auto& c : children_) c.second->namedParameters(join(prefix, c.first), out);
}

void Module::namedBuffers(const std::string& prefix, Named<at::Tensor>& out) {
  for (auto& b : buffers_) out.emplace_back(join(prefix, b.first), b.second);
  for (auto& c : children_) c.second->namedBuffers(join(prefix, c.first), out);
}

std::vector<at::Tensor> Module::trainableParameters() {
  Named<at::Tensor> named;
  namedParameters("", named);
  std::vector<at::Tensor> params;
  for (auto& p : named) {
    if (p.second.requires_grad()) params.push_back(p.second);
  }
  return params;
}

void Module::parameterSlots(std::vector<at::Tensor*>& out) {
  for (auto& p : params_) out.push_back(&p.second);
  for (auto& c : children_) c.second->parameterSlots(out);
}

std::string Module::firstWithoutGrouped(const std::string& prefix) const {
  if (!supportsGrouped()) return (prefix.empty() ? "" : prefix + " ") + "(" + type_ + ")";
  for (const auto& c : children_) {
    std::string found = c.second->firstWithoutGrouped(join(prefix, c.first));
    if (!found.empty()) return found;
  }
  return "";
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::to(const msam::optional<at::Device>& device, const msam::optional<at::ScalarType>& dtype) {
  at::NoGradGuard noGrad;
  auto move = [&](const at::Tensor& t) {
    auto target = dtype && t.is_floating_point() ? *dtype : t.scalar_type();
    t.set_data(t.to(device.value_or(t.device()), target));
  };
  // A gradient moves with its parameter, as in PyTorch's Module._apply (else a later backward would
  // accumulate into a float32 .grad of a float64 parameter).
  auto moveWithGrad = [&](at::Tensor& p) {
    move(p);
    if (p.grad().defined()) move(p.grad());
  };
  for (auto& p : params_) moveWithGrad(p.second);
  for (auto& b : buffers_) move(b.second);
  for (auto& c : children_) c.second->to(device, dtype);
}

std::string Module::repr(int indent) const {
  std::ostringstream s;
  s << type_ << "(" << options();
  if (!children_.empty()) {
    s << "\n";
    for (const auto& c : children_) {
      s << std::string(indent + 2, ' ') << "(" << (c.first.empty() ? "-" : c.first) << "): " << c.second->repr(indent + 2) << "\n";
    }
    s << std::string(indent, ' ');
  }
  s << ")";
  return s.str();
}

at::Tensor& Module::addParameter(const std::string& name, at::Tensor t) {
  params_.emplace_back(name, t.detach().requires_grad_(true));
  return params_.back().second;
}

at::Tensor& Module::addBuffer(const std::string& name, at::Tensor t) {
  buffers_.emplace_back(name, t.detach());
  return buffers_.back().second;
}

void Module::addChild(const std::string& name, std::shared_ptr<Module> m) {
  TORCH_CHECK(m != nullptr, type_, ": child '", name, "' is null");
  children_.emplace_back(name, std::move(m));
}

Sequential::Sequential(Named<std::shared_ptr<Module>> children) : Module("Sequential") {
  for (auto& c : children) addChild(c.first, std::move(c.second));
}

Tensors Sequential::forward(const Tensors& inputs) {
  Tensors x = inputs;
  for (auto& c : children()) x = callChild(c.first, *c.second, x);
  return x;
}

Residual::Residual(Named<std::shared_ptr<Module>> pre, Named<std::shared_ptr<Module>> body,
                   msam::optional<std::pair<std::string, std::shared_ptr<Module>>> shortcut, Named<std::shared_ptr<Module>> post)
    : Module("Residual"), pre_(pre.size()), body_(body.size()), post_(post.size()), hasShortcut_(shortcut.has_value()) {
  TORCH_CHECK(!body.empty(), "Residual: the body needs at least one module");
  for (auto& c : pre) addChild(c.first, std::move(c.second));
  for (auto& c : body) addChild(c.first, std::move(c.second));
  if (shortcut) addChild(shortcut->first, std::move(shortcut->second));
  for (auto& c : post) addChild(c.first, std::move(c.second));
}

Tensors Residual::forward(const Tensors& inputs) {
  auto& kids = children();
  size_t i = 0;
  Tensors h = inputs;
  for (; i < pre_; ++i) h = callChild(kids[i].first, *kids[i].second, h);
  Tensors y = h;
  for (size_t end = i + body_; i < end; ++i) y = callChild(kids[i].first, *kids[i].second, y);
  at::Tensor skip = inputs[0];
  if (hasShortcut_) {
    skip = callChild(kids[i].first, *kids[i].second, h)[0];
    ++i;
  }
  TORCH_CHECK(y[0].sizes() == skip.sizes(), "the body's output ", y[0].sizes(), " and the shortcut's ", skip.sizes(),
              " differ in shape");
  Tensors out = withActivation(y[0] + skip, inputs);
  for (; i < kids.size(); ++i) out = callChild(kids[i].first, *kids[i].second, out);
  return out;
}

}  // namespace msam::nn
