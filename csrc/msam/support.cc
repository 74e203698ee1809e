#include "msam/support.h"

#include "msam/autocast.h"
#include "msam/bookkeeping.h"
#include "profile/op_count.h"

namespace msam {

std::vector<at::Tensor> trainableParameters(nn::Module& model) {
  std::vector<at::Tensor> params = model.trainableParameters();
  TORCH_CHECK(!params.empty(), "the model has no trainable parameters");
  return params;
}

int64_t checkBatch(const Batch& batch, int64_t m) {
  TORCH_CHECK(!batch.inputs.empty(), "the batch has no input");
  const int64_t B = batch.inputs[0].size(0);
  for (const auto& x : batch.inputs) TORCH_CHECK(x.size(0) == B, "every input must have the batch size ", B, " in dim 0, got ", x.sizes());
  TORCH_CHECK(batch.target.dim() > 0 && batch.target.size(0) == B, "the target must have the batch size ", B, " in dim 0, got ",
              batch.target.sizes());
  TORCH_CHECK(m >= 1 && m <= B, "m must be between 1 and the batch size ", B, ", got ", m);
  return B;
}

at::Tensor shardLoss(nn::Module& model, const std::vector<at::Tensor>& inputs, const at::Tensor& target, const LossSpec& loss,
                     const MsamOptions& opts, const std::vector<at::Tensor>& params) {
  at::Tensor l;
  {
    msam::optional<AutocastGuard> autocast;
    if (opts.autocast) autocast.emplace(params[0].device().type(), *opts.autocast);
    l = loss(model.forward(inputs)[0], target);
  }
  if (opts.lossWeightDecay > 0) {
    // The value only: its gradient λw is added by addWeightDecayGradient, one op for all tensors
    // (autograd through Σ p² would be three ops per parameter tensor).
    at::Tensor sq;
    {
      MSAM_BOOKKEEPING();
      at::NoGradGuard noGrad;
      sq = deviceNorm(params).pow(2);
    }
    l = l + (0.5 * opts.lossWeightDecay * sq).to(l.scalar_type());
  }
  return l;
}

void addWeightDecayGradient(std::vector<at::Tensor>& g, const std::vector<at::Tensor>& params, double lossWeightDecay) {
  if (lossWeightDecay <= 0) return;
  MSAM_BOOKKEEPING();
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> gs, ps;
  for (size_t j = 0; j < g.size(); ++j) {
    if (g[j].defined()) {
      gs.push_back(g[j]);
      ps.push_back(params[j]);
    } else {
      g[j] = params[j].detach() * lossWeightDecay;  // a parameter the loss does not use
    }
  }
  if (!gs.empty()) at::_foreach_add_(gs, ps, lossWeightDecay);
}

RngSnapshot::RngSnapshot(const at::Device& device) {
  save(at::Device(at::kCPU));
  if (!device.is_cpu()) save(device);
}

void RngSnapshot::restore() {
  for (auto& [gen, state] : saved_) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
}

void RngSnapshot::save(const at::Device& d) {
  at::Generator gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  saved_.emplace_back(gen, gen.get_state());
}

SavedBuffers::SavedBuffers(nn::Module& model) {
  at::NoGradGuard noGrad;
  nn::Module::Named<at::Tensor> named;
  model.namedBuffers("", named);
  for (auto& b : named) {
    buffers_.push_back(b.second);
    saved_.push_back(b.second.clone());
  }
}

void SavedBuffers::restore() {
  at::NoGradGuard noGrad;
  for (size_t j = 0; j < buffers_.size(); ++j) buffers_[j].copy_(saved_[j]);
}

}  // namespace msam
