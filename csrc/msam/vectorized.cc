// The 'vectorized' strategy: G shards at a time as one grouped pass (nn/grouped.h), each with its
// own copy of the weights stacked as [G, ...]. The ascent pass takes the stacked weights all equal
// to w, so the gradient of Σ_k L_k with respect to them is every shard's g_k at once; the descent
// pass takes them at w + ε_k. Same arithmetic as the loop, in two batched passes per chunk instead
// of 2m small ones. Shards of a chunk have one size (tensor_split gives at most two sizes: a chunk
// never spans both), and chunkSize bounds how many run together (memory grows with it).
#include <cmath>

#include "msam/autocast.h"
#include "msam/bookkeeping.h"
#include "msam/shard_stats.h"
#include "msam/step.h"
#include "msam/support.h"
#include "nn/grouped.h"

namespace msam {
namespace {

// Consecutive shards of equal size that run as one grouped pass.
struct Chunk {
  int64_t first, count, size, row;
};

std::vector<Chunk> chunksOf(int64_t B, int64_t m, int64_t chunkSize) {
  const int64_t q = B / m, r = B % m;  // tensor_split: r shards of q + 1, then m - r of q
  const int64_t limit = chunkSize > 0 ? chunkSize : m;
  std::vector<Chunk> chunks;
  int64_t row = 0;
  for (int64_t i = 0; i < m;) {
    int64_t size = i < r ? q + 1 : q;
    int64_t end = std::min({i + limit, m, i < r ? r : m});
    chunks.push_back({i, end - i, size, row});
    row += (end - i) * size;
    i = end;
  }
  return chunks;
}

// Puts stacked weights into the model's parameter slots for one pass and the originals back after
// it, also when the pass throws.
class SwappedWeights {
 public:
  SwappedWeights(std::vector<at::Tensor*> slots, const std::vector<at::Tensor>& stacked) : slots_(std::move(slots)) {
    originals_.reserve(slots_.size());
    for (size_t j = 0; j < slots_.size(); ++j) {
      originals_.push_back(*slots_[j]);
      *slots_[j] = stacked[j];
    }
  }
  ~SwappedWeights() {
    for (size_t j = 0; j < slots_.size(); ++j) *slots_[j] = originals_[j];
  }
  SwappedWeights(const SwappedWeights&) = delete;
  SwappedWeights& operator=(const SwappedWeights&) = delete;

 private:
  std::vector<at::Tensor*> slots_;
  std::vector<at::Tensor> originals_;
};

// w as G equal rows, without copying (a stride-0 view); a leaf that collects each row's gradient.
at::Tensor repeated(const at::Tensor& w, int64_t G, bool requiresGrad) {
  std::vector<int64_t> shape{G};
  shape.insert(shape.end(), w.sizes().begin(), w.sizes().end());
  at::Tensor t = w.detach().unsqueeze(0).expand(shape);
  return requiresGrad ? t.requires_grad_(true) : t;
}

// A [G] tensor viewed to broadcast over [G, ...] like t.
at::Tensor perRow(const at::Tensor& v, const at::Tensor& t) {
  std::vector<int64_t> shape(static_cast<size_t>(t.dim()), 1);
  shape[0] = v.size(0);
  return v.view(shape);
}

// Each shard's ‖v_k‖₂ over all tensors (rows k of every [G, ...] tensor), each tensor's part in
// float32 or wider and the sum in float64, as deviceNorm (msam/bookkeeping.h) does for one shard.
at::Tensor rowNorms(const std::vector<at::Tensor>& v) {
  at::Tensor sq;
  for (const auto& t : v) {
    auto dtype = t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    at::Tensor n = at::linalg_vector_norm(t.flatten(1), 2, 1, false, dtype).to(at::kDouble).pow(2);
    sq = sq.defined() ? sq + n : n;
  }
  return sq.sqrt();
}

struct Pass {
  at::Tensor losses;              // [G] on the device
  std::vector<at::Tensor> grads;  // [G, ...] per trainable parameter (zeros where unused)
};

}  // namespace

StepStats msamGradientVectorized(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  std::string unsupported = model.firstWithoutGrouped();
  TORCH_CHECK(unsupported.empty(), "strategy 'vectorized': module ", unsupported,
              " has no grouped forward (use strategy 'loop' or 'auto')");
  std::vector<at::Tensor> params = trainableParameters(model);
  const int64_t B = checkBatch(batch, opts.m);
  std::vector<at::Tensor*> slots;
  model.parameterSlots(slots);
  std::vector<bool> trainable;
  for (auto* s : slots) trainable.push_back(s->requires_grad());

  SavedBuffers savedBuffers(model);
  std::vector<at::Tensor> acc(params.size());
  // Nothing is read back before the end of the step (msam/shard_stats.h): a non-finite chunk runs
  // on, and the one read at the end finds it.
  const at::Device device = params[0].device();
  ShardStats perShard(opts.m, device);

  // One grouped pass over a chunk with these stacked weights (all slots): per-shard losses and,
  // for the trainable ones, per-shard gradients.
  auto pass = [&](const Chunk& c, const std::vector<at::Tensor>& stacked) {
    std::vector<at::Tensor> inputs;
    for (const auto& x : batch.inputs) inputs.push_back(x.narrow(0, c.row, c.count * c.size));
    at::Tensor target = batch.target.narrow(0, c.row, c.count * c.size);
    Pass out;
    std::vector<at::Tensor> leaves;
    for (size_t j = 0; j < slots.size(); ++j) {
      if (trainable[j]) leaves.push_back(stacked[j]);
    }
    {
      SwappedWeights swapped(slots, stacked);
      nn::GroupedPass grouped(c.count);
      msam::optional<AutocastGuard> autocast;
      if (opts.autocast) autocast.emplace(params[0].device().type(), *opts.autocast);
      out.losses = loss.perShard(model.forward(inputs)[0], target, c.count);
    }
    if (opts.lossWeightDecay > 0) {  // + (λ/2)‖w_k‖² in shard k's loss
      at::Tensor sq;
      for (const auto& w : leaves) {
        at::Tensor s = w.pow(2).flatten(1).sum(1);
        sq = sq.defined() ? sq + s : s;
      }
      out.losses = out.losses + 0.5 * opts.lossWeightDecay * sq.to(out.losses.scalar_type());
    }
    out.grads = torch::autograd::grad({out.losses.sum()}, leaves, {}, false, false, /*allow_unused=*/true);
    for (size_t j = 0; j < out.grads.size(); ++j) {
      if (!out.grads[j].defined()) out.grads[j] = at::zeros(leaves[j].sizes(), leaves[j].options());
    }
    return out;
  };

  std::unique_ptr<nn::FreezeRunningStats> freezeAll;
  if (opts.freezeBatchNorm) freezeAll = std::make_unique<nn::FreezeRunningStats>();
  std::vector<double> weights;
  for (const Chunk& c : chunksOf(B, opts.m, opts.chunkSize)) {
    for (int64_t k = 0; k < c.count; ++k) weights.push_back(static_cast<double>(c.size) / static_cast<double>(B));
    const int64_t G = c.count;
    const double weight = static_cast<double>(c.size) / static_cast<double>(B);
    RngSnapshot rng(device);

    // Ascent: every shard's g_k at w.
    std::vector<at::Tensor> atW;
    for (size_t j = 0; j < slots.size(); ++j) atW.push_back(repeated(*slots[j], G, trainable[j]));
    Pass ascent = pass(c, atW);
    atW.clear();

    std::vector<at::Tensor> h;
    std::vector<at::Tensor> g = std::move(ascent.grads);
    at::Tensor norms = rowNorms(g);

    if (opts.rho == 0) {  // no perturbation: the ascent pass was the descent pass
      h = std::move(g);
      perShard.recordRows(c.first, ascent.losses, ascent.losses, norms, norms);
    } else {
      // ε_k = ρ g_k / (‖g_k‖ + 1e-12), or ASAM's ρ T² g_k / ‖T g_k‖; the descent weights w + ε_k.
      std::vector<at::Tensor> perturbed;
      at::Tensor scaleBy = norms;
      {
        at::NoGradGuard noGrad;
        if (opts.adaptive) {
          std::vector<at::Tensor> tg;
          for (size_t j = 0; j < params.size(); ++j) tg.push_back((params[j].abs() + opts.eta) * g[j]);
          scaleBy = rowNorms(tg);
        }
        at::Tensor scale = opts.rho / (scaleBy + 1e-12);
        size_t t = 0;
        for (size_t j = 0; j < slots.size(); ++j) {
          if (!trainable[j]) {
            perturbed.push_back(repeated(*slots[j], G, false));
            continue;
          }
          const at::Tensor& w = params[t];
          at::Tensor e = g[t] * perRow(scale.to(g[t].scalar_type()), g[t]);
          if (opts.adaptive) e = (w.abs() + opts.eta).pow(2) * e;
          perturbed.push_back((w.detach().unsqueeze(0) + e).requires_grad_(true));
          ++t;
        }
      }
      g.clear();
      rng.restore();
      nn::FreezeRunningStats frozen;
      Pass descent = pass(c, perturbed);
      perShard.recordRows(c.first, ascent.losses, descent.losses, norms, scaleBy);
      h = std::move(descent.grads);
    }
    at::NoGradGuard noGrad;
    for (size_t j = 0; j < params.size(); ++j) {
      at::Tensor sum = h[j].sum(0);
      if (!acc[j].defined()) acc[j] = weight == 1.0 ? sum : sum.mul_(weight);
      else acc[j].add_(sum, weight);
    }
  }
  StepStats stats;
  stats.shards = opts.m;
  std::string skipReason = perShard.finish(deviceNorm(acc), weights, opts, stats);
  if (!skipReason.empty()) {
    savedBuffers.restore();
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    stats.skipped = true;
    stats.skipReason = std::move(skipReason);
    return stats;
  }
  for (size_t j = 0; j < params.size(); ++j) params[j].mutable_grad() = acc[j];
  return stats;
}

}  // namespace msam
