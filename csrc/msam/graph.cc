// Placeholder until the 'graph' strategy lands: it refuses rather than silently running the loop.
#include "msam/step.h"

namespace msam {

StepStats msamGradientGraph(nn::Module&, const Batch&, const LossSpec&, const MsamOptions&) {
  TORCH_CHECK(false, "msam: strategy 'graph' is not built yet");
}

}  // namespace msam
