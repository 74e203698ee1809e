// The mSAM gradient (DESIGN.md, "mSAM: the contract"), computed natively: split the batch into m
// shards; for each, the gradient at w, a perturbation ε_i along it, the gradient at w + ε_i, and w
// restored from a saved copy; the size-weighted sum of those gradients is left in .grad.
#pragma once
#include "common.h"
#include "msam/loss.h"
#include "nn/module.h"

namespace msam {

// How the m shards' passes run (DESIGN.md, "Speed"): all give the loop's gradient to float tolerance.
enum class Strategy { Auto, Loop, Graph, Vectorized };

struct MsamOptions {
  int64_t m = 32;
  double rho = 0.2;
  bool adaptive = false;  // ASAM: ε = ρ T² g / ‖T g‖, T = |w| + η
  double eta = 0.01;
  bool freezeBatchNorm = false;  // bnMode 'freeze': running statistics untouched by every pass
  double lossWeightDecay = 0.0;  // weightDecayIn 'loss': + (λ/2)‖w‖² in every shard's loss
  msam::optional<at::ScalarType> autocast;  // forward and loss under autocast to this dtype
  Strategy strategy = Strategy::Auto;
  int64_t chunkSize = 0;  // 'vectorized': shards per batched pass (bounds memory); 0: all m at once
};

struct Batch {
  std::vector<at::Tensor> inputs;  // sharded together along dim 0
  at::Tensor target;
};

struct StepStats {
  double loss = 0;           // mean loss at w over the shards (size-weighted)
  double perturbedLoss = 0;  // mean loss at w + ε_i
  double gradNorm = 0;       // mean ‖g_i‖ (the norm the perturbation used)
  int64_t shards = 0;
  bool skipped = false;      // a non-finite loss or gradient: weights, buffers and .grad restored
  std::string skipReason;
};

// Leaves the mSAM gradient in .grad of every trainable parameter (replacing what was there).
// On a non-finite value it restores weights and buffers, clears .grad and reports skipped.
// Dispatches on opts.strategy.
StepStats msamGradient(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts);

// The strategies (msam/loop.cc, msam/graph.cc, msam/vectorized.cc).
StepStats msamGradientLoop(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts);
StepStats msamGradientGraph(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts);
StepStats msamGradientVectorized(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts);

}  // namespace msam
