// The grouped forward behind the mSAM step's 'vectorized' strategy (DESIGN.md, "Speed"): G shards
// of equal size b run as one pass, each with its own copy of the weights.
//
// While a GroupedPass(G) lives on a thread, every parameter a module reads has been swapped for a
// stacked [G, ...] tensor (row k: shard k's weights) and the activation's dim 0 holds the shards one
// after another ([G·b, ...], shard-major, exactly the rows the loop would give each shard). Modules
// that support this (supportsGrouped()) then compute shard k with weights k: linear layers as
// batched matrix products, convolutions as one grouped convolution, norms with per-group affine
// parameters and per-shard batch statistics. libtorch has no C++ vmap, so this is written by hand.
#pragma once
#include "common.h"

namespace msam::nn {

class GroupedPass {
 public:
  explicit GroupedPass(int64_t groups);
  ~GroupedPass();
  GroupedPass(const GroupedPass&) = delete;
  GroupedPass& operator=(const GroupedPass&) = delete;
  // G of the pass running on this thread; 0 outside one.
  static int64_t groups();

 private:
  int64_t previous_;
};

namespace grouped {

// [G·b, C, ...] <-> [b, G·C, ...]: shard k's channels become channel group k, the layout grouped
// convolution and batch norm work on.
at::Tensor toChannelGroups(const at::Tensor& x, int64_t G);
at::Tensor fromChannelGroups(const at::Tensor& y, int64_t G);

// x [G·b, ..., in], weight [G, out, in], bias [G, out] or undefined -> [G·b, ..., out].
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t G);

// x [G·b, C, H, W], weight [G, O, C/groups, kh, kw], bias [G, O] or undefined.
at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                  at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups, int64_t G);

// y [G·b, ...] * weight[k] + bias[k] for shard k, the parameters [G, <trailing shape of y>] after
// `lead` dims of y per shard that they broadcast over (LayerNorm: the token dims; GroupNorm: none,
// the channel dim comes first and is followed by spatial dims, see `trailing`).
at::Tensor affineTrailing(const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias, int64_t G);
at::Tensor affineChannels(const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias, int64_t G);

// One BatchNorm layer's running-statistics update for G shards taken one after another, as the
// loop makes it: r <- (1 - momentum) r + momentum s_k for k = 0..G-1, in closed form.
// x is the layer's input in the channel-group layout [b, G·C, ...].
void updateRunningStats(const at::Tensor& x, const at::Tensor& runningMean, const at::Tensor& runningVar, double momentum, int64_t G);

}  // namespace grouped
}  // namespace msam::nn
