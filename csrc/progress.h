// What long native work reports while it runs (a callback on the worker thread; PromiseWorker
// forwards each event to JS on the event loop). The loss-landscape analyses are its users today.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace msam {

struct ProgressEvent {
  std::string stage;       // 'eigenvalue', 'trace', 'mSharpness'
  int64_t index = 0;       // which eigenvalue (0-based); 0 otherwise
  int64_t iteration = 0;   // power iterations of this eigenvalue; samples of the trace; shards done
  int64_t total = 0;       // the most there can be (maxIterations, samples, shards)
  double value = 0;        // the current estimate
  double change = 0;       // eigenvalue: relative change from the last iteration; trace: relative standard error
};

using ProgressFn = std::function<void(const ProgressEvent&)>;

}  // namespace msam
