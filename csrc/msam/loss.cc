#include "msam/loss.h"

#include <cmath>

namespace msam {

LossSpec LossSpec::fromJs(const Napi::Value& v) {
  Napi::Env env = v.Env();
  LossSpec spec;
  if (v.IsUndefined() || v.IsNull()) return spec;
  if (!v.IsObject()) throw Napi::TypeError::New(env, "loss options must be an object such as { loss: 'cross_entropy' }");
  auto o = v.As<Napi::Object>();
  auto names = o.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string key = names.Get(i).As<Napi::String>();
    if (key != "loss" && key != "labelSmoothing") throw Napi::TypeError::New(env, "loss options: unknown field '" + key + "'");
  }
  if (o.Has("loss") && !o.Get("loss").IsUndefined()) {
    std::string kind = o.Get("loss").IsString() ? o.Get("loss").As<Napi::String>().Utf8Value() : "";
    if (kind == "cross_entropy") {
      spec.kind = Kind::CrossEntropy;
    } else if (kind == "mse") {
      spec.kind = Kind::Mse;
    } else if (kind == "bce_with_logits") {
      spec.kind = Kind::BceWithLogits;
    } else {
      throw Napi::TypeError::New(env, "loss options: field 'loss' must be 'cross_entropy', 'mse' or 'bce_with_logits'");
    }
  }
  if (o.Has("labelSmoothing") && !o.Get("labelSmoothing").IsUndefined()) {
    Napi::Value s = o.Get("labelSmoothing");
    double d = s.IsNumber() ? s.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d >= 0 && d <= 1)) throw Napi::RangeError::New(env, "loss options: field 'labelSmoothing' must be in [0, 1]");
    if (spec.kind != Kind::CrossEntropy && d != 0) {
      throw Napi::TypeError::New(env, "loss options: field 'labelSmoothing' applies to 'cross_entropy' only");
    }
    spec.labelSmoothing = d;
  }
  return spec;
}

at::Tensor LossSpec::operator()(const at::Tensor& output, const at::Tensor& target) const {
  switch (kind) {
    case Kind::CrossEntropy:
      return at::cross_entropy_loss(output, target, {}, at::Reduction::Mean, -100, labelSmoothing);
    case Kind::Mse:
      return at::mse_loss(output, target, at::Reduction::Mean);
    case Kind::BceWithLogits:
      return at::binary_cross_entropy_with_logits(output, target, {}, {}, at::Reduction::Mean);
  }
  return at::Tensor();
}

at::Tensor LossSpec::perShard(const at::Tensor& output, const at::Tensor& target, int64_t G) const {
  switch (kind) {
    case Kind::CrossEntropy: {
      at::Tensor l = at::cross_entropy_loss(output, target, {}, at::Reduction::None, -100, labelSmoothing).reshape({G, -1});
      if (target.is_floating_point()) return l.mean(1);  // class probabilities: every example counts
      // Class indices: the mean over the examples not ignored, as reduction 'mean' takes it.
      at::Tensor counted = (target != -100).reshape({G, -1}).sum(1).to(l.scalar_type());
      return l.sum(1) / counted;
    }
    case Kind::Mse:
      return at::mse_loss(output, target, at::Reduction::None).reshape({G, -1}).mean(1);
    case Kind::BceWithLogits:
      return at::binary_cross_entropy_with_logits(output, target, {}, {}, at::Reduction::None).reshape({G, -1}).mean(1);
  }
  return at::Tensor();
}

}  // namespace msam
