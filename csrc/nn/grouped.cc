#include "nn/grouped.h"

namespace msam::nn {
namespace {
thread_local int64_t tGroups = 0;

std::vector<int64_t> concat(std::initializer_list<int64_t> head, at::IntArrayRef tail) {
  std::vector<int64_t> out(head);
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}
}  // namespace

GroupedPass::GroupedPass(int64_t groups) : previous_(tGroups) { tGroups = groups; }
GroupedPass::~GroupedPass() { tGroups = previous_; }
int64_t GroupedPass::groups() { return tGroups; }

namespace grouped {

at::Tensor toChannelGroups(const at::Tensor& x, int64_t G) {
  int64_t b = x.size(0) / G, C = x.size(1);
  auto rest = x.sizes().slice(2);
  return x.reshape(concat({G, b, C}, rest)).transpose(0, 1).reshape(concat({b, G * C}, rest));
}

at::Tensor fromChannelGroups(const at::Tensor& y, int64_t G) {
  int64_t b = y.size(0), C = y.size(1) / G;
  auto rest = y.sizes().slice(2);
  return y.reshape(concat({b, G, C}, rest)).transpose(0, 1).reshape(concat({G * b, C}, rest));
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t G) {
  int64_t in = x.size(-1), out = weight.size(1);
  at::Tensor rows = x.reshape({G, -1, in});
  at::Tensor y = bias.defined() ? at::baddbmm(bias.unsqueeze(1), rows, weight.transpose(1, 2))
                                : at::bmm(rows, weight.transpose(1, 2));
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = out;
  return y.reshape(shape);
}

at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                  at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups, int64_t G) {
  TORCH_CHECK(x.dim() == 4, "the vectorized strategy needs a batched input [N, C, H, W], got ", x.sizes());
  at::Tensor w = weight.reshape(concat({G * weight.size(1)}, weight.sizes().slice(2)));
  at::Tensor b = bias.defined() ? bias.reshape({-1}) : at::Tensor();
  return fromChannelGroups(at::conv2d(toChannelGroups(x, G), w, b, stride, padding, dilation, groups * G), G);
}

at::Tensor affineTrailing(const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias, int64_t G) {
  auto trailing = weight.sizes().slice(1);
  at::Tensor rows = y.reshape(concat({G, -1}, trailing));
  at::Tensor out = bias.defined() ? at::addcmul(bias.unsqueeze(1), rows, weight.unsqueeze(1)) : rows * weight.unsqueeze(1);
  return out.reshape(y.sizes());
}

at::Tensor affineChannels(const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias, int64_t G) {
  // [G·b, C, s...] as [G, b, C, s...]; the parameters [G, C] as [G, 1, C, 1...].
  int64_t C = y.size(1);
  std::vector<int64_t> shape = concat({G, -1, C}, y.sizes().slice(2));
  std::vector<int64_t> pshape(shape.size(), 1);
  pshape[0] = G;
  pshape[2] = C;
  at::Tensor rows = y.reshape(shape);
  at::Tensor w = weight.reshape(pshape);
  at::Tensor out = bias.defined() ? at::addcmul(bias.reshape(pshape), rows, w) : rows * w;
  return out.reshape(y.sizes());
}

void updateRunningStats(const at::Tensor& x, const at::Tensor& runningMean, const at::Tensor& runningVar, double momentum, int64_t G) {
  at::NoGradGuard noGrad;
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  auto dtype = runningMean.scalar_type();
  // Under autocast the input may be half precision: the statistics are taken in the buffers' dtype,
  // as the fused kernels accumulate them.
  auto [var, mean] = at::var_mean(x.scalar_type() == dtype ? x : x.to(dtype), dims, /*unbiased=*/true);
  // Shard k's statistics enter with weight momentum·(1 - momentum)^(G-1-k); the old value with (1 - momentum)^G.
  at::Tensor powers = at::arange(G - 1, -1, -1, runningMean.options());
  at::Tensor coef = momentum * at::pow(1.0 - momentum, powers);
  double decay = std::pow(1.0 - momentum, static_cast<double>(G));
  runningMean.mul_(decay).add_(at::matmul(coef, mean.to(dtype).view({G, -1})));
  runningVar.mul_(decay).add_(at::matmul(coef, var.to(dtype).view({G, -1})));
}

}  // namespace grouped
}  // namespace msam::nn
