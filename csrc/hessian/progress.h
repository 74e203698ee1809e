// What the long analyses report while they run (a callback on the worker thread; the binding
// forwards each event to JS on the event loop).
#pragma once
#include <functional>
#include <string>

namespace msam::hessian {

struct ProgressEvent {
  std::string stage;       // 'eigenvalue', 'trace', 'mSharpness'
  int64_t index = 0;       // which eigenvalue (0-based); 0 otherwise
  int64_t iteration = 0;   // power iterations of this eigenvalue; samples of the trace; shards done
  int64_t total = 0;       // the most there can be (maxIterations, samples, shards)
  double value = 0;        // the current estimate
  double change = 0;       // eigenvalue: relative change from the last iteration; trace: relative standard error
};

using ProgressFn = std::function<void(const ProgressEvent&)>;

}  // namespace msam::hessian
