// The losses the native step computes itself (the mean over a shard).
#pragma once
#include "common.h"

namespace msam {

struct LossSpec {
  enum class Kind { CrossEntropy, Mse, BceWithLogits };
  Kind kind = Kind::CrossEntropy;
  double labelSmoothing = 0.0;  // cross-entropy only

  // { loss: 'cross_entropy' | 'mse' | 'bce_with_logits', labelSmoothing } from JS; errors name the field.
  static LossSpec fromJs(const Napi::Value& v);
  at::Tensor operator()(const at::Tensor& output, const at::Tensor& target) const;
  // The mean loss of each of G equal shards laid one after another in dim 0: a [G] tensor whose
  // entry k is what operator() gives for shard k alone.
  at::Tensor perShard(const at::Tensor& output, const at::Tensor& target, int64_t G) const;
};

}  // namespace msam
