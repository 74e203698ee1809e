// The one communication of a data-parallel mSAM step (DESIGN.md, "Distributed"): after each
// rank's msamGradient over its own shards, with no communication during the ascent passes,
// .grad and the statistics become those of one process that ran every rank's shards.
#pragma once
#include "common.h"
#include "distributed/group.h"
#include "msam/step.h"

namespace msam {
namespace dist {

// Rank r's .grad holds Σ_{i∈r} (|S_i|/B_r) h_i over its B_r examples; afterwards every rank's
// holds Σ_i (|S_i|/B) h_i over all shards, B = Σ_r B_r, exactly the single-process sum's weights.
// Statistics: loss and perturbedLoss weighted by B_r, gradNorm the mean over all shards, shards
// the global m. A non-finite value on any rank skips the step on every rank (.grad cleared; each
// rank's own loop has already put its weights back). Two collectives: the statistics (float64),
// then the gradients (one buffer per dtype; none when the step is skipped).
void reduceStep(Group& group, const std::vector<at::Tensor>& params, StepStats& stats, int64_t localBatch);

}  // namespace dist
}  // namespace msam
