// m-sharpness (Andriushchenko & Flammarion, "Towards understanding sharpness-aware minimization",
// 2022): the worst-case increase of the loss within the ρ-ball, taken per shard of m examples and
// averaged over the shards:
//
//   S_m(w) = mean over shards S of  max_{‖ε‖₂ ≤ ρ} L_S(w + ε) − L_S(w).
//
// The inner maximum is estimated by projected normalized gradient ascent: the first step is SAM's
// ε₁ = ρ ∇L_S(w) / ‖∇L_S(w)‖ (so `steps` = 1 is the one-step SAM approximation), then
// ε ← Π_ρ(ε + α ∇L_S(w + ε) / ‖∇L_S(w + ε)‖) with Π_ρ the projection onto the ball, and the
// largest loss met along the way is the estimate (never below the one-step value). The norm is
// over all trainable parameters, in float64. The model is in eval mode (running BatchNorm
// statistics, no dropout), as for the Hessian; the weights are restored bit-exactly from a copy.
#pragma once
#include "hessian/landscape.h"
#include "progress.h"

namespace msam::hessian {

struct MSharpnessOptions {
  int64_t shardSize = 32;  // examples per shard: each batch is cut into ⌈n / shardSize⌉ near-equal shards
  double rho = 0.05;
  int64_t steps = 5;       // gradient evaluations of the ascent (1: the SAM step only)
  double stepSize = -1;    // α; negative: ρ / 2
};

struct MSharpnessResult {
  double sharpness = 0;  // the mean over shards of the best loss increase found
  double oneStep = 0;    // the same with the SAM step alone
  double loss = 0;       // the mean over shards of L_S(w)
  double standardError = 0;  // of the shards' increases, sample std / √shards
  int64_t shards = 0;
};

MSharpnessResult mSharpness(const Landscape& landscape, const Batches& data, const MSharpnessOptions& opts, const ProgressFn& progress);

}  // namespace msam::hessian
