#include "msam/bookkeeping.h"

#include <mutex>
#include <unordered_set>

#include "profile/op_count.h"

// _foreach_copy_ and _foreach_mul_(TensorList, Tensor) came with PyTorch 2.1.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define MSAM_FOREACH_2_1 1
#endif

namespace msam {
namespace {

std::vector<at::Tensor> definedOnly(const std::vector<at::Tensor>& v) {
  std::vector<at::Tensor> out;
  out.reserve(v.size());
  for (const auto& t : v) {
    if (t.defined()) out.push_back(t);
  }
  return out;
}

}  // namespace

// 1.13 has no _foreach_copy_: dst is set to -0, the one value x with x + y == y for every y, and
// src is added.
void copyAll(const std::vector<at::Tensor>& dst, const std::vector<at::Tensor>& src) {
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
#ifdef MSAM_FOREACH_2_1
  at::_foreach_copy_(dst, src);
#else
  at::_foreach_zero_(dst);
  at::_foreach_neg_(dst);
  at::_foreach_add_(dst, src);
#endif
}

at::Tensor deviceNorm(const std::vector<at::Tensor>& v) {
  MSAM_BOOKKEEPING();
  std::vector<at::Tensor> ts = definedOnly(v);
  TORCH_CHECK(!ts.empty(), "msam: a norm over no tensors");
  bool wide = true;  // float32 or float64 throughout: _foreach_norm keeps the dtype
  for (const auto& t : ts) wide = wide && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble);
  std::vector<at::Tensor> norms;
  if (wide) {
    norms = at::_foreach_norm(ts, 2);
  } else {
    for (const auto& t : ts) {
      auto dtype = t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
      norms.push_back(at::linalg_vector_norm(t, 2, msam::nullopt, false, dtype));
    }
  }
  std::vector<at::Tensor> same;
  bool oneDtype = true;
  for (const auto& n : norms) oneDtype = oneDtype && n.scalar_type() == norms[0].scalar_type();
  if (!oneDtype) {
    for (auto& n : norms) n = n.to(at::kDouble);
  }
  return at::linalg_vector_norm(at::stack(norms).to(at::kDouble), 2);
}

std::shared_ptr<StepBuffers> StepBuffers::of(const std::vector<at::Tensor>& params) {
  // A few models at a time (the ranks of a process, a trainer and its evaluation): entries whose
  // parameters are gone are dropped; the oldest goes when there are more.
  static auto* mutex = new std::mutex();
  static auto* cache = new std::vector<std::shared_ptr<StepBuffers>>();
  constexpr size_t kEntries = 4;
  std::lock_guard<std::mutex> lock(*mutex);
  std::vector<std::shared_ptr<StepBuffers>> live;
  std::shared_ptr<StepBuffers> found;
  for (auto& e : *cache) {
    bool alive = true;
    for (const auto& w : e->identity_) alive = alive && !w.expired();
    if (!alive) continue;
    if (!found && e->matches(params)) found = e;
    else live.push_back(e);
  }
  if (!found) found = std::shared_ptr<StepBuffers>(new StepBuffers(params));
  live.insert(live.begin(), found);
  if (live.size() > kEntries) live.resize(kEntries);
  *cache = std::move(live);
  return found;
}

StepBuffers::StepBuffers(const std::vector<at::Tensor>& params) {
  at::NoGradGuard noGrad;
  for (const auto& p : params) {
    saved_.push_back(at::empty_like(p));
    identity_.emplace_back(p.getIntrusivePtr());
  }
#ifndef MSAM_FOREACH_2_1
  for (const auto& p : params) {
    at::Tensor* buf = nullptr;
    for (auto& [dtype, b] : scaleBuffers_) {
      if (dtype == p.scalar_type()) buf = &b;
    }
    if (!buf) {
      scaleBuffers_.emplace_back(p.scalar_type(), at::zeros({}, p.options()));
      buf = &scaleBuffers_.back().second;
    }
    scaleViews_.push_back(buf->expand(p.sizes()));
  }
#endif
}

bool StepBuffers::matches(const std::vector<at::Tensor>& params) const {
  if (params.size() != identity_.size()) return false;
  for (size_t j = 0; j < params.size(); ++j) {
    const at::Tensor& p = params[j];
    const at::Tensor& s = saved_[j];
    if (identity_[j].lock().get() != p.unsafeGetTensorImpl()) return false;
    if (p.sizes() != s.sizes() || p.scalar_type() != s.scalar_type() || p.device() != s.device()) return false;
  }
  return true;
}

void StepBuffers::save(const std::vector<at::Tensor>& params) {
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
  copyAll(saved_, params);
}

void StepBuffers::restore(const std::vector<at::Tensor>& params) {
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
  copyAll(params, saved_);
}

void StepBuffers::scale(const std::vector<at::Tensor>& v, const at::Tensor& s) {
  // Each dtype's tensors multiplied by s rounded to that dtype, as `t * double(s)` rounds a Scalar.
#ifdef MSAM_FOREACH_2_1
  std::vector<std::pair<at::ScalarType, std::vector<at::Tensor>>> byDtype;
  for (const auto& t : v) {
    if (!t.defined()) continue;
    std::vector<at::Tensor>* list = nullptr;
    for (auto& [dtype, l] : byDtype) {
      if (dtype == t.scalar_type()) list = &l;
    }
    if (!list) {
      byDtype.emplace_back(t.scalar_type(), std::vector<at::Tensor>());
      list = &byDtype.back().second;
    }
    list->push_back(t);
  }
  for (auto& [dtype, list] : byDtype) at::_foreach_mul_(list, s.to(dtype));
#else
  for (auto& [dtype, buf] : scaleBuffers_) buf.copy_(s);
  std::vector<at::Tensor> ts, views;
  for (size_t j = 0; j < v.size(); ++j) {
    if (!v[j].defined()) continue;
    ts.push_back(v[j]);
    views.push_back(scaleViews_[j]);
  }
  if (!ts.empty()) at::_foreach_mul_(ts, views);
#endif
}

at::Tensor StepBuffers::perturb(const std::vector<at::Tensor>& params, std::vector<at::Tensor>& g, const at::Tensor& gNorm, double rho,
                                bool adaptive, double eta) {
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> ps, gs;
  for (size_t j = 0; j < g.size(); ++j) {
    if (!g[j].defined()) continue;
    ps.push_back(params[j]);
    gs.push_back(g[j]);
  }
  TORCH_CHECK(!gs.empty(), "msam: no parameter has a gradient");
  at::Tensor usedNorm = gNorm;
  std::vector<at::Tensor> t;
  if (adaptive) {
    t = at::_foreach_abs(ps);  // T = |w| + η
    at::_foreach_add_(t, eta);
    usedNorm = deviceNorm(at::_foreach_mul(t, gs));
  }
  // ρ / (‖·‖ + 1e-12) divided in float64 on the device, as the host did it.
  at::Tensor s = at::scalar_tensor(rho, usedNorm.options()).div_(usedNorm + 1e-12);
  if (adaptive) {
    at::_foreach_mul_(t, t);   // T², as pow(2) computes it
    at::_foreach_mul_(gs, t);  // T² g
  }
  scale(g, s);  // the full list: 1.13's scale views are indexed by parameter
  at::_foreach_add_(ps, gs);
  return usedNorm;
}

void accumulate(std::vector<at::Tensor>& acc, const std::vector<at::Tensor>& h, double weight, bool first) {
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> as, hs, missing;
  for (size_t j = 0; j < h.size(); ++j) {
    if (h[j].defined()) {
      as.push_back(acc[j]);
      hs.push_back(h[j]);
    } else {
      missing.push_back(acc[j]);
    }
  }
  if (first) {
    // -0 + weight·h is weight·h bit for bit (add_ computes a + α·b with one rounding, as h * α does).
    at::_foreach_zero_(acc);
    at::_foreach_neg_(acc);
    if (!missing.empty()) at::_foreach_zero_(missing);  // an unused parameter's gradient: +0
  }
  if (!as.empty()) at::_foreach_add_(as, hs, weight);
}

void unalias(std::vector<at::Tensor>& g) {
  std::unordered_set<const void*> seen;
  for (auto& t : g) {
    if (!t.defined()) continue;
    if (!seen.insert(t.storage().unsafeGetStorageImpl()).second) t = t.clone();
  }
}

std::vector<at::Tensor> gradBuffers(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  out.reserve(params.size());
  bool allFit = true;
  for (const auto& p : params) {
    const at::Tensor& g = p.grad();
    bool fits = g.defined() && g.sizes() == p.sizes() && g.scalar_type() == p.scalar_type() && g.device() == p.device() &&
                !g.is_sparse() && g.is_contiguous() && !g.is_same(p);
    allFit = allFit && fits;
    out.push_back(fits ? g : at::Tensor());
  }
  if (allFit) return out;
  // New buffers: per dtype and device one flat tensor, the gradients contiguous pieces of it in
  // parameter order, so that an all-reduce can run on it directly (distributed/group.cc, flatRun).
  std::vector<std::pair<at::TensorOptions, std::vector<size_t>>> kinds;
  for (size_t j = 0; j < params.size(); ++j) {
    const auto& p = params[j];
    std::vector<size_t>* list = nullptr;
    for (auto& [o, l] : kinds) {
      if (o.dtype() == p.dtype() && o.device() == p.device()) list = &l;
    }
    if (!list) {
      kinds.emplace_back(p.options(), std::vector<size_t>());
      list = &kinds.back().second;
    }
    list->push_back(j);
  }
  for (auto& [o, list] : kinds) {
    int64_t total = 0;
    for (size_t j : list) total += params[j].numel();
    at::Tensor flat = at::empty({total}, o.layout(at::kStrided));
    int64_t offset = 0;
    for (size_t j : list) {
      out[j] = flat.narrow(0, offset, params[j].numel()).view(params[j].sizes());
      offset += params[j].numel();
    }
  }
  return out;
}

}  // namespace msam
