// The 'graph' strategy keeps one captured step (its CUDA graph and that graph's private memory
// pool) between steps; this lets it go (msam.cuda.emptyCache()). A no-op when nothing is kept.
#pragma once

namespace msam {
void releaseCapturedStep();
}
