// Which strategy runs a step. 'auto': the vectorized passes on CUDA when every module of the model
// has a grouped forward and there is more than one shard (a loop of m small passes is
// launch-bound there: DESIGN.md, "Speed"); the loop otherwise — on the CPU the small passes keep
// the cores busy already, and the loop needs no stacked copies of the weights.
#include "msam/step.h"

namespace msam {
namespace {

Strategy resolve(nn::Module& model, const Batch& batch, const MsamOptions& opts) {
  if (opts.strategy != Strategy::Auto) return opts.strategy;
  bool onCuda = !batch.inputs.empty() && batch.inputs[0].is_cuda();
  if (onCuda && opts.m > 1 && model.firstWithoutGrouped().empty()) return Strategy::Vectorized;
  return Strategy::Loop;
}

}  // namespace

StepStats msamGradient(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  switch (resolve(model, batch, opts)) {
    case Strategy::Graph:
      return msamGradientGraph(model, batch, loss, opts);
    case Strategy::Vectorized:
      return msamGradientVectorized(model, batch, loss, opts);
    case Strategy::Loop:
    case Strategy::Auto:
      break;
  }
  return msamGradientLoop(model, batch, loss, opts);
}

}  // namespace msam
