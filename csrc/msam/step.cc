// Which strategy runs a step: 'auto' picks the loop for now (the exact reference).
#include "msam/step.h"

namespace msam {

StepStats msamGradient(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  switch (opts.strategy) {
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
