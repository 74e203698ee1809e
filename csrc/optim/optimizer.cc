#include "optim/optimizer.h"

#include <unordered_set>

namespace msam {
namespace optim {

at::Tensor* ParamState::find(const std::string& name) {
  for (auto& [key, t] : buffers) {
    if (key == name) return &t;
  }
  return nullptr;
}

void ParamState::set(const std::string& name, at::Tensor t) {
  if (at::Tensor* existing = find(name)) {
    *existing = std::move(t);
  } else {
    buffers.emplace_back(name, std::move(t));
  }
}

Optimizer::Optimizer(const char* kind, const std::vector<std::vector<at::Tensor>>& groups) : kind_(kind) {
  std::unordered_set<const void*> seen;
  for (size_t g = 0; g < groups.size(); ++g) {
    groupStart_.push_back(params_.size());
    for (size_t j = 0; j < groups[g].size(); ++j) {
      const at::Tensor& p = groups[g][j];
      std::string where = "parameter " + std::to_string(j) + " of group " + std::to_string(g);
      TORCH_CHECK(p.defined(), kind, ": ", where, " is undefined");
      // torch.optim: "can't optimize a non-leaf Tensor"; an update of one would not reach the
      // tensor autograd differentiates.
      TORCH_CHECK(p.is_leaf(), kind, ": ", where, " is not a leaf tensor (it was computed by ",
                  p.grad_fn() ? p.grad_fn()->name() : "an op", "); optimize the tensor it came from, or detach() it");
      TORCH_CHECK(at::isFloatingType(p.scalar_type()), kind, ": ", where, " has dtype ", p.scalar_type(),
                  "; parameters must be floating point");
      // Two JS handles may name the same tensor: identity is the TensorImpl.
      TORCH_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, kind, ": ", where,
                  " appears more than once (each parameter may be in one group only, once)");
      params_.push_back(p);
    }
  }
  TORCH_CHECK(!params_.empty(), kind, ": got an empty parameter list");
  state_.resize(params_.size());
}

size_t Optimizer::groupSize(size_t group) const {
  TORCH_CHECK_INDEX(group < groupCount(), kind(), ": no parameter group ", group);
  size_t end = group + 1 < groupCount() ? groupStart_[group + 1] : params_.size();
  return end - groupStart_[group];
}

size_t Optimizer::groupOf(size_t param) const {
  size_t g = groupCount() - 1;
  while (groupStart_[g] > param) --g;
  return g;
}

void Optimizer::step() {
  std::lock_guard<std::mutex> lock(mutex_);
  at::NoGradGuard noGrad;
  std::vector<std::vector<size_t>> withGrad(groupCount());
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i];
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    TORCH_CHECK(!g.is_sparse(), kind(), ": parameter ", i, " has a sparse gradient, which is not supported");
    TORCH_CHECK(g.sizes() == p.sizes(), kind(), ": the gradient of parameter ", i, " has shape ", g.sizes(),
                " but the parameter has shape ", p.sizes());
    TORCH_CHECK(g.scalar_type() == p.scalar_type() && g.device() == p.device(), kind(), ": the gradient of parameter ", i,
                " is ", g.scalar_type(), " on ", g.device(), " but the parameter is ", p.scalar_type(), " on ", p.device());
    withGrad[groupOf(i)].push_back(i);
  }
  for (size_t g = 0; g < withGrad.size(); ++g) {
    if (!withGrad[g].empty()) update(g, withGrad[g]);
  }
}

void Optimizer::zeroGrad(bool setToNone) {
  std::lock_guard<std::mutex> lock(mutex_);
  at::NoGradGuard noGrad;
  for (auto& p : params_) {
    at::Tensor& g = p.mutable_grad();
    if (!g.defined()) continue;
    if (setToNone) {
      g.reset();
    } else {
      // As torch's zero_grad(set_to_none=False): a gradient that is part of a graph (backward
      // with create_graph) is detached first, so zeroing it does not write into that graph.
      if (g.grad_fn()) {
        g = g.detach();
      } else {
        g.requires_grad_(false);
      }
      g.zero_();
    }
  }
}

void Optimizer::setLr(double lr) {
  for (size_t g = 0; g < groupCount(); ++g) setOption(g, "lr", lr);
}

StateSnapshot Optimizer::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  StateSnapshot out;
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& s = state_[i];
    if (s.step == 0) continue;
    out.steps[static_cast<int64_t>(i)] = s.step;
    for (const auto& [name, t] : s.buffers) out.tensors[std::to_string(i) + "." + name] = t.detach().clone();
  }
  return out;
}

namespace {
// "12.exp_avg" -> (12, "exp_avg"); false for anything else.
bool parseKey(const std::string& key, int64_t* index, std::string* name) {
  auto dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 9 || dot + 1 == key.size()) return false;
  int64_t i = 0;
  for (size_t k = 0; k < dot; ++k) {
    if (key[k] < '0' || key[k] > '9') return false;
    i = i * 10 + (key[k] - '0');
  }
  *index = i;
  *name = key.substr(dot + 1);
  return true;
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
}  // namespace

std::vector<ParamState> Optimizer::stateFrom(const StateSnapshot& snapshot, const std::vector<OptionMap>& groupOptions) const {
  const auto n = static_cast<int64_t>(params_.size());
  const std::string pre = std::string(kind()) + ": cannot load the state: ";
  std::vector<ParamState> state(params_.size());
  for (const auto& [index, steps] : snapshot.steps) {
    TORCH_CHECK(index >= 0 && index < n, pre, "steps has an entry for parameter ", index, " but there are only ", n,
                " parameters");
    TORCH_CHECK(steps > 0, pre, "steps of parameter ", index, " must be a positive integer, got ", steps);
    state[index].step = steps;
  }
  for (const auto& [key, t] : snapshot.tensors) {
    int64_t i = 0;
    std::string name;
    TORCH_CHECK(parseKey(key, &i, &name), pre, "state key '", key, "' is not of the form '<parameter index>.<buffer>'");
    TORCH_CHECK(i < n, pre, "state key '", key, "' names parameter ", i, " but there are only ", n, " parameters");
    std::vector<std::string> required, optional;
    size_t g = groupOf(static_cast<size_t>(i));
    bufferNames(g, groupOptions[g], &required, &optional);
    TORCH_CHECK(contains(required, name) || contains(optional, name), pre, "state key '", key, "': unknown buffer '",
                name, "' for this optimizer and group ", g);
    TORCH_CHECK(state[i].step > 0, pre, "state key '", key, "' but parameter ", i, " has no step count in steps");
    const at::Tensor& p = params_[i];
    TORCH_CHECK(t.defined(), pre, "state '", key, "' is undefined");
    TORCH_CHECK(t.sizes() == p.sizes(), pre, "state '", key, "' has shape ", t.sizes(), " but parameter ", i,
                " has shape ", p.sizes());
    TORCH_CHECK(at::isFloatingType(t.scalar_type()), pre, "state '", key, "' has dtype ", t.scalar_type(),
                "; it must be floating point");
    // As torch's load_state_dict: state follows the parameter's dtype and device, and is a copy
    // (so the loaded dict's tensors may be disposed or reused).
    state[i].set(name, t.detach().to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true));
  }
  for (size_t i = 0; i < state.size(); ++i) {
    if (state[i].step == 0) continue;
    std::vector<std::string> required, optional;
    size_t g = groupOf(i);
    bufferNames(g, groupOptions[g], &required, &optional);
    for (const auto& name : required) {
      TORCH_CHECK(state[i].find(name) != nullptr, pre, "the state of parameter ", i, " lacks '", i, ".", name, "'");
    }
  }
  return state;
}

}  // namespace optim
}  // namespace msam
