// Each shard's statistics kept on the device — loss at w, loss at w + ε, ‖g‖, the norm the scale
// used — and read back once, at the end of the step, with the norm of the final gradient: one host
// read per step. A non-finite shard is not stopped at on the device (its perturbation is undone by
// the restore like any other); that single read finds the first one, and the step is skipped as the
// loop always skipped it, with the same messages and the sums up to that shard.
#pragma once
#include "common.h"
#include "msam/step.h"

namespace msam {

class ShardStats {
 public:
  ShardStats(int64_t m, const at::Device& device);
  // Row i ← (loss, perturbed loss, ‖g‖, used norm), 0-d tensors of any floating dtype.
  void record(int64_t i, const at::Tensor& loss, const at::Tensor& perturbedLoss, const at::Tensor& gNorm, const at::Tensor& usedNorm);
  // Rows first.. ← the same for G shards at once, [G] tensors.
  void recordRows(int64_t first, const at::Tensor& losses, const at::Tensor& perturbedLosses, const at::Tensor& gNorms,
                  const at::Tensor& usedNorms);
  // The one host read. `weights[i]` is shard i's |S_i|/B; `finalNorm` the norm of Σ weight·h
  // (undefined: not checked, as for m = 1, ρ = 0). Fills stats' sums; returns the skip reason or "".
  std::string finish(const at::Tensor& finalNorm, const std::vector<double>& weights, const MsamOptions& opts, StepStats& stats);

 private:
  at::Tensor rows_;  // [m, 4] float64 on the device
};

}  // namespace msam
