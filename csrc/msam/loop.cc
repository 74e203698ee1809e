// The 'loop' strategy, the exact reference: the shards one after another, each with its ascent
// pass at w and its descent pass at w + ε_i, the weights perturbed in place and restored from a copy.
// Device-resident: nothing is read back until the end of the step (msam/shard_stats.h), and the
// bookkeeping over the parameters is a fixed number of _foreach_* ops per shard (msam/bookkeeping.h).
#include "msam/step.h"

#include "msam/bookkeeping.h"
#include "msam/shard_stats.h"
#include "msam/support.h"

namespace msam {
namespace {

std::vector<at::Tensor> gradients(const at::Tensor& loss, const std::vector<at::Tensor>& params) {
  auto g = torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true);
  unalias(g);  // updated in place below
  return g;
}

}  // namespace

StepStats msamGradientLoop(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  std::vector<at::Tensor> params = trainableParameters(model);
  const int64_t B = checkBatch(batch, opts.m);
  const at::Device device = params[0].device();

  // What a skipped step puts back: the weights (also the restore point after every perturbation,
  // kept between steps) and the buffers (BatchNorm statistics the unperturbed passes update).
  std::shared_ptr<StepBuffers> buffers;
  SavedBuffers savedBuffers(model);
  if (opts.rho != 0) {  // with ρ = 0 nothing perturbs the weights: no restore point is needed
    buffers = StepBuffers::of(params);
    buffers->save(params);
  }
  // Σ (|S_i|/B)·h_i, in the .grad tensors of the last step when they fit.
  std::vector<at::Tensor> acc = gradBuffers(params);

  // tensor_split semantics: sizes ⌈B/m⌉ then ⌊B/m⌋.
  std::vector<std::vector<at::Tensor>> shardInputs(static_cast<size_t>(opts.m));
  for (const auto& x : batch.inputs) {
    auto pieces = x.tensor_split(opts.m, 0);
    for (int64_t i = 0; i < opts.m; ++i) shardInputs[i].push_back(pieces[i]);
  }
  auto shardTargets = batch.target.tensor_split(opts.m, 0);
  std::vector<double> weights;
  for (const auto& t : shardTargets) weights.push_back(static_cast<double>(t.size(0)) / static_cast<double>(B));

  ShardStats perShard(opts.m, device);
  std::unique_ptr<nn::FreezeRunningStats> freezeAll;
  if (opts.freezeBatchNorm) freezeAll = std::make_unique<nn::FreezeRunningStats>();
  for (int64_t i = 0; i < opts.m; ++i) {
    RngSnapshot rng(device);

    // Ascent: g_i at w. With ρ = 0 there is no perturbation, so this pass is also the descent pass.
    at::Tensor l = shardLoss(model, shardInputs[i], shardTargets[i], loss, opts, params);
    auto g = gradients(l, params);
    addWeightDecayGradient(g, params, opts.lossWeightDecay);
    at::Tensor gNorm = deviceNorm(g);
    std::vector<at::Tensor> h;
    if (opts.rho == 0) {
      perShard.record(i, l, l, gNorm, gNorm);
      h = std::move(g);
    } else {
      at::Tensor usedNorm = buffers->perturb(params, g, gNorm, opts.rho, opts.adaptive, opts.eta);
      g.clear();
      // Descent: h_i at w + ε_i, with the same random state, running statistics untouched.
      rng.restore();
      at::Tensor lp;
      {
        nn::FreezeRunningStats frozen;
        lp = shardLoss(model, shardInputs[i], shardTargets[i], loss, opts, params);
        h = gradients(lp, params);
      }
      addWeightDecayGradient(h, params, opts.lossWeightDecay);
      buffers->restore(params);  // bit-exact, not by subtraction
      perShard.record(i, l, lp, gNorm, usedNorm);
    }
    accumulate(acc, h, weights[static_cast<size_t>(i)], i == 0);
  }
  // (For vanilla, m = 1 and ρ = 0, the sum is h_1 whose norm is already checked.)
  const bool knownFinite = opts.m == 1 && opts.rho == 0;
  StepStats stats;
  stats.shards = opts.m;
  std::string skipReason = perShard.finish(knownFinite ? at::Tensor() : deviceNorm(acc), weights, opts, stats);
  if (!skipReason.empty()) {
    if (buffers) buffers->restore(params);
    savedBuffers.restore();
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    stats.skipped = true;
    stats.skipReason = std::move(skipReason);
    return stats;
  }
  for (size_t j = 0; j < params.size(); ++j) {
    if (!params[j].grad().is_same(acc[j])) params[j].mutable_grad() = acc[j];
  }
  return stats;
}

}  // namespace msam
