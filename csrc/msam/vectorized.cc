// Placeholder until the 'vectorized' strategy lands: it refuses rather than silently running the loop.
#include "msam/step.h"

namespace msam {

StepStats msamGradientVectorized(nn::Module&, const Batch&, const LossSpec&, const MsamOptions&) {
  TORCH_CHECK(false, "msam: strategy 'vectorized' is not built yet");
}

}  // namespace msam
