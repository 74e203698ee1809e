#include "hessian/landscape.h"

#include <ATen/CPUGeneratorImpl.h>

namespace msam::hessian {

int64_t Batches::examples() const {
  int64_t n = 0;
  for (const auto& t : targets) n += t.size(0);
  return n;
}

void Batches::check() const {
  TORCH_CHECK(!targets.empty(), "no batches: the loss needs at least one example");
  TORCH_CHECK(inputs.size() == targets.size(), "got ", inputs.size(), " input batches and ", targets.size(), " target batches");
  for (size_t b = 0; b < targets.size(); ++b) {
    TORCH_CHECK(!inputs[b].empty(), "batch ", b, " has no input");
    TORCH_CHECK(inputs[b].size() == inputs[0].size(), "batch ", b, " has ", inputs[b].size(), " inputs, batch 0 has ", inputs[0].size());
    TORCH_CHECK(targets[b].dim() > 0 && targets[b].size(0) > 0, "batch ", b, "'s target must have at least one example in dim 0, got ",
                targets[b].sizes());
    for (const auto& x : inputs[b]) {
      TORCH_CHECK(x.dim() > 0 && x.size(0) == targets[b].size(0), "batch ", b, ": every input must have the target's batch size ",
                  targets[b].size(0), " in dim 0, got ", x.sizes());
    }
  }
}

uint64_t mixSeed(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Landscape::Landscape(nn::Module& model, const Batches& data, LossSpec loss)
    : model_(model), data_(data), lossSpec_(loss), params_(model.trainableParameters()) {
  TORCH_CHECK(!params_.empty(), "the model has no trainable parameters");
  data_.check();
  for (const auto& p : params_) {
    TORCH_CHECK(at::isFloatingType(p.scalar_type()), "parameters must be floating point, got ", p.scalar_type());
    numel_ += p.numel();
  }
  examples_ = data_.examples();
}

at::Tensor Landscape::loss(const std::vector<at::Tensor>& inputs, const at::Tensor& target) const {
  return lossSpec_(model_.forward(inputs)[0], target);
}

void Landscape::forEachBatchGradient(const std::function<void(const std::vector<at::Tensor>&, double)>& use) const {
  for (size_t b = 0; b < data_.targets.size(); ++b) {
    const double weight = static_cast<double>(data_.targets[b].size(0)) / static_cast<double>(examples_);
    at::AutoGradMode enable(true);
    at::Tensor l = loss(data_.inputs[b], data_.targets[b]);
    TORCH_CHECK(l.requires_grad(), "the loss does not depend on the model's parameters");
    auto grads = torch::autograd::grad({l}, params_, {}, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
    use(grads, weight);
  }
}

Vec Landscape::batchHvp(const std::vector<at::Tensor>& grads, const Vec& u, bool retain) const {
  std::vector<at::Tensor> outputs, gradOutputs;
  for (size_t j = 0; j < params_.size(); ++j) {
    // A gradient that does not require grad has zero derivative: its Hessian rows vanish.
    if (grads[j].defined() && grads[j].requires_grad()) {
      outputs.push_back(grads[j]);
      gradOutputs.push_back(u[j].to(params_[j].options()));
    }
  }
  Vec hv(params_.size());
  if (!outputs.empty()) {
    hv = torch::autograd::grad(outputs, params_, gradOutputs, /*retain_graph=*/retain, /*create_graph=*/false, /*allow_unused=*/true);
  }
  for (size_t j = 0; j < params_.size(); ++j) {
    if (!hv[j].defined()) hv[j] = at::zeros_like(params_[j]);
  }
  return hv;
}

Vec Landscape::hvp(const Vec& v) const {
  TORCH_CHECK(v.size() == params_.size(), "the vector has ", v.size(), " tensors, the model ", params_.size(), " trainable parameters");
  for (size_t j = 0; j < params_.size(); ++j) {
    TORCH_CHECK(v[j].sizes() == params_[j].sizes(), "the vector's tensor ", j, " has shape ", v[j].sizes(), ", its parameter ",
                params_[j].sizes());
  }
  Vec u = toParamType(v);
  Vec acc = zeros();
  forEachBatchGradient([&](const std::vector<at::Tensor>& grads, double weight) {
    Vec hv = batchHvp(grads, u, /*retain=*/false);
    at::NoGradGuard noGrad;
    for (size_t j = 0; j < acc.size(); ++j) acc[j].add_(hv[j].to(at::kDouble), weight);
  });
  return acc;
}

Vec Landscape::zeros() const {
  Vec z;
  for (const auto& p : params_) z.push_back(at::zeros(p.sizes(), p.options().dtype(at::kDouble)));
  return z;
}

Vec Landscape::generate(uint64_t seed, bool rademacher) const {
  at::NoGradGuard noGrad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Vec v;
  for (const auto& p : params_) {
    auto cpu = at::TensorOptions().dtype(at::kDouble);
    at::Tensor t = rademacher ? at::randint(0, 2, p.sizes(), gen, cpu).mul_(2).sub_(1) : at::randn(p.sizes(), gen, cpu);
    v.push_back(t.to(p.device()));
  }
  return v;
}

Vec Landscape::randn(uint64_t seed) const { return generate(seed, false); }
Vec Landscape::rademacher(uint64_t seed) const { return generate(seed, true); }

Vec Landscape::toParamType(const Vec& v) const {
  Vec out;
  for (size_t j = 0; j < params_.size(); ++j) out.push_back(v[j].to(params_[j].options()).detach());
  return out;
}

double dot(const Vec& a, const Vec& b) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> parts;
  for (size_t j = 0; j < a.size(); ++j) {
    if (a[j].defined() && b[j].defined()) parts.push_back(at::dot(a[j].reshape(-1).to(at::kDouble), b[j].reshape(-1).to(at::kDouble)));
  }
  if (parts.empty()) return 0.0;
  return at::stack(parts).sum().item<double>();
}

double norm(const Vec& a) { return std::sqrt(dot(a, a)); }

void axpy(Vec& y, double a, const Vec& x) {
  at::NoGradGuard noGrad;
  for (size_t j = 0; j < y.size(); ++j) y[j].add_(x[j].to(y[j].scalar_type()), a);
}

void scale(Vec& y, double a) {
  at::NoGradGuard noGrad;
  for (auto& t : y) t.mul_(a);
}

Vec toDouble(const Vec& v) {
  Vec out;
  for (const auto& t : v) out.push_back(t.defined() ? t.detach().to(at::kDouble) : t);
  return out;
}

}  // namespace msam::hessian
