// What every strategy of the step shares: the trainable parameters, the batch checks, the random
// state both passes of a shard replay, the in-loss weight decay, and what a skipped step restores.
#pragma once
#include "common.h"
#include "msam/step.h"

namespace msam {

// The parameters .grad will be written to (model.trainableParameters()); an error when there are none.
std::vector<at::Tensor> trainableParameters(nn::Module& model);

// Every input and the target carry the batch in dim 0; 1 ≤ m ≤ B. Returns B.
int64_t checkBatch(const Batch& batch, int64_t m);

// One shard's mean loss as the loop computes it: forward and loss under autocast when asked, plus
// the value of the in-loss weight decay (λ/2)‖w‖² over `params` — without its gradient, which
// addWeightDecayGradient adds to what autograd gives.
at::Tensor shardLoss(nn::Module& model, const std::vector<at::Tensor>& inputs, const at::Tensor& target, const LossSpec& loss,
                     const MsamOptions& opts, const std::vector<at::Tensor>& params);

// g += λw for the in-loss weight decay (a no-op for λ = 0); an undefined g_j becomes λw_j.
void addWeightDecayGradient(std::vector<at::Tensor>& g, const std::vector<at::Tensor>& params, double lossWeightDecay);

// The random state of the generators a shard's passes draw from (dropout): saved before the
// ascent pass and restored before the descent pass, so that both see the same masks.
class RngSnapshot {
 public:
  explicit RngSnapshot(const at::Device& device);
  void restore();

 private:
  void save(const at::Device& d);
  std::vector<std::pair<at::Generator, at::Tensor>> saved_;
};

// The model's buffers (BatchNorm statistics, which the unperturbed passes update) as they were
// before the step, to put back when the step is skipped.
class SavedBuffers {
 public:
  explicit SavedBuffers(nn::Module& model);
  void restore();

 private:
  std::vector<at::Tensor> buffers_, saved_;
};

}  // namespace msam
