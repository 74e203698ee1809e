// The building blocks: affine layers, normalization, activations, pooling, reshaping.
#include "nn/grouped.h"
#include "nn/registry.h"

namespace msam::nn {
namespace {

std::string shapeOf(const at::Tensor& t) { return c10::str(t.sizes()); }

class Linear : public Module {
 public:
  explicit Linear(Options& o) : Linear(o.integer("inFeatures"), o.integer("outFeatures"), o.flag("bias", true)) {}
  Linear(int64_t in, int64_t out, bool bias) : Module("Linear"), in_(in), out_(out) {
    addParameter("weight", uniformInit({out_, in_}, in_));
    if (bias) addParameter("bias", uniformInit({out_}, in_));
  }
  Tensors forward(const Tensors& x) override {
    TORCH_CHECK(x[0].dim() >= 1 && x[0].size(-1) == in_, "expected an input [..., ", in_, "], got ", shapeOf(x[0]));
    at::Tensor bias = parameters().size() > 1 ? param(1) : at::Tensor();
    if (int64_t G = GroupedPass::groups()) return withActivation(grouped::linear(x[0], param(0), bias, G), x);
    return withActivation(at::linear(x[0], param(0), bias), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override {
    return c10::str("inFeatures=", in_, ", outFeatures=", out_, ", bias=", parameters().size() > 1 ? "true" : "false");
  }

 private:
  int64_t in_, out_;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(Options& o) : Module("Conv2d") {
    in_ = o.integer("inChannels");
    out_ = o.integer("outChannels");
    kernel_ = o.ints("kernelSize", 2);
    stride_ = o.ints("stride", 2, std::vector<int64_t>{1, 1});
    padding_ = o.ints("padding", 2, std::vector<int64_t>{0, 0}, 0);
    dilation_ = o.ints("dilation", 2, std::vector<int64_t>{1, 1});
    groups_ = o.integer("groups", 1);
    if (in_ % groups_ != 0) o.fail("groups", c10::str("must divide inChannels (", in_, "), got ", groups_));
    if (out_ % groups_ != 0) o.fail("groups", c10::str("must divide outChannels (", out_, "), got ", groups_));
    int64_t fanIn = in_ / groups_ * kernel_[0] * kernel_[1];
    addParameter("weight", uniformInit({out_, in_ / groups_, kernel_[0], kernel_[1]}, fanIn));
    if (o.flag("bias", true)) addParameter("bias", uniformInit({out_}, fanIn));
  }
  Tensors forward(const Tensors& x) override {
    TORCH_CHECK(x[0].dim() == 4 || x[0].dim() == 3, "expected an input [N, ", in_, ", H, W], got ", shapeOf(x[0]));
    TORCH_CHECK(x[0].size(-3) == in_, "expected an input with ", in_, " channels [N, ", in_, ", H, W], got ", shapeOf(x[0]));
    at::Tensor bias = parameters().size() > 1 ? param(1) : at::Tensor();
    if (int64_t G = GroupedPass::groups()) {
      return withActivation(grouped::conv2d(x[0], param(0), bias, stride_, padding_, dilation_, groups_, G), x);
    }
    return withActivation(at::conv2d(x[0], param(0), bias, stride_, padding_, dilation_, groups_), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override {
    using A = c10::IntArrayRef;
    return c10::str(in_, ", ", out_, ", kernelSize=", A(kernel_), ", stride=", A(stride_), ", padding=", A(padding_),
                    dilation_ != std::vector<int64_t>{1, 1} ? c10::str(", dilation=", A(dilation_)) : "",
                    groups_ != 1 ? c10::str(", groups=", groups_) : "", parameters().size() > 1 ? "" : ", bias=false");
  }

 private:
  int64_t in_, out_, groups_;
  std::vector<int64_t> kernel_, stride_, padding_, dilation_;
};

// BatchNorm1d (inputs [N, C] or [N, C, L]) and BatchNorm2d ([N, C, H, W]), as PyTorch's.
class BatchNorm : public Module {
 public:
  BatchNorm(Options& o, int spatialDims) : Module(spatialDims == 2 ? "BatchNorm2d" : "BatchNorm1d"), dims_(spatialDims) {
    c_ = o.integer("numFeatures");
    eps_ = o.number("eps", 1e-5, 0, 1);
    momentum_ = o.number("momentum", 0.1, 0, 1);
    affine_ = o.flag("affine", true);
    track_ = o.flag("trackRunningStats", true);
    if (affine_) {
      addParameter("weight", at::ones({c_}));
      addParameter("bias", at::zeros({c_}));
    }
    if (track_) {
      addBuffer("running_mean", at::zeros({c_}));
      addBuffer("running_var", at::ones({c_}));
      addBuffer("num_batches_tracked", at::zeros({}, at::kLong));
    }
  }
  Tensors forward(const Tensors& x) override {
    const at::Tensor& in = x[0];
    bool ok = dims_ == 2 ? in.dim() == 4 : (in.dim() == 2 || in.dim() == 3);
    TORCH_CHECK(ok, "expected ", dims_ == 2 ? "a 4-D input [N, C, H, W]" : "a 2-D or 3-D input [N, C] or [N, C, L]", " with C = ",
                c_, ", got ", shapeOf(in));
    TORCH_CHECK(in.size(1) == c_, "expected ", c_, " channels in dim 1, got ", shapeOf(in));
    bool useBatchStats = training() || !track_;
    // Running statistics are read in eval mode and updated in training mode, unless frozen.
    bool useRunning = track_ && !(training() && FreezeRunningStats::active());
    if (int64_t G = GroupedPass::groups()) return withActivation(groupedForward(in, useBatchStats, useRunning, G), x);
    if (training() && useRunning) {
      at::NoGradGuard noGrad;
      buffer(2).add_(1);
    }
    return withActivation(at::batch_norm(in, affine_ ? param(0) : at::Tensor(), affine_ ? param(1) : at::Tensor(),
                                         useRunning ? buffer(0) : at::Tensor(), useRunning ? buffer(1) : at::Tensor(),
                                         useBatchStats, momentum_, eps_, true),
                          x);
  }
  bool supportsGrouped() const override { return true; }
  // Shard k's channels as channel group k: batch statistics per shard, as the loop has them; the
  // running statistics take the G shards' statistics in order, as G loop passes would.
  at::Tensor groupedForward(const at::Tensor& in, bool useBatchStats, bool useRunning, int64_t G) {
    at::Tensor xc = grouped::toChannelGroups(in, G);
    at::Tensor mean, var;
    if (useBatchStats && useRunning) {
      at::NoGradGuard noGrad;
      buffer(2).add_(G);
      grouped::updateRunningStats(xc, buffer(0), buffer(1), momentum_, G);
    } else if (useRunning) {
      mean = buffer(0).repeat(G);
      var = buffer(1).repeat(G);
    }
    at::Tensor y = at::batch_norm(xc, affine_ ? param(0).reshape(-1) : at::Tensor(), affine_ ? param(1).reshape(-1) : at::Tensor(),
                                  mean, var, useBatchStats, momentum_, eps_, true);
    return grouped::fromChannelGroups(y, G);
  }
  std::string options() const override { return c10::str(c_, ", eps=", eps_, ", momentum=", momentum_); }

 private:
  int dims_;
  int64_t c_;
  double eps_, momentum_;
  bool affine_, track_;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Options& o) : Module("LayerNorm") {
    Napi::Value shape = o.object().Get("normalizedShape");
    o.markUsed("normalizedShape");
    if (shape.IsNumber()) {
      shape_ = {o.integer("normalizedShape")};
    } else if (shape.IsArray()) {
      shape_ = o.ints("normalizedShape", shape.As<Napi::Array>().Length());
    } else {
      o.fail("normalizedShape", "is required (an integer or a list of integers)");
    }
    eps_ = o.number("eps", 1e-5, 0, 1);
    if (o.flag("elementwiseAffine", true)) {
      addParameter("weight", at::ones(shape_));
      addParameter("bias", at::zeros(shape_));
    }
  }
  Tensors forward(const Tensors& x) override {
    auto n = static_cast<int64_t>(shape_.size());
    TORCH_CHECK(x[0].dim() >= n && x[0].sizes().slice(x[0].dim() - n).vec() == shape_, "expected an input [..., ",
                c10::IntArrayRef(shape_), "], got ", shapeOf(x[0]));
    bool affine = !parameters().empty();
    if (int64_t G = GroupedPass::groups()) {
      at::Tensor y = at::layer_norm(x[0], shape_, at::Tensor(), at::Tensor(), eps_);
      return withActivation(affine ? grouped::affineTrailing(y, param(0), param(1), G) : y, x);
    }
    return withActivation(at::layer_norm(x[0], shape_, affine ? param(0) : at::Tensor(), affine ? param(1) : at::Tensor(), eps_), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override { return c10::str(c10::IntArrayRef(shape_), ", eps=", eps_); }

 private:
  std::vector<int64_t> shape_;
  double eps_;
};

class GroupNorm : public Module {
 public:
  explicit GroupNorm(Options& o) : Module("GroupNorm") {
    groups_ = o.integer("numGroups");
    c_ = o.integer("numChannels");
    if (c_ % groups_ != 0) o.fail("numGroups", c10::str("must divide numChannels (", c_, "), got ", groups_));
    eps_ = o.number("eps", 1e-5, 0, 1);
    if (o.flag("affine", true)) {
      addParameter("weight", at::ones({c_}));
      addParameter("bias", at::zeros({c_}));
    }
  }
  Tensors forward(const Tensors& x) override {
    TORCH_CHECK(x[0].dim() >= 2 && x[0].size(1) == c_, "expected an input [N, ", c_, ", ...], got ", shapeOf(x[0]));
    bool affine = !parameters().empty();
    if (int64_t G = GroupedPass::groups()) {
      at::Tensor y = at::group_norm(x[0], groups_, at::Tensor(), at::Tensor(), eps_);
      return withActivation(affine ? grouped::affineChannels(y, param(0), param(1), G) : y, x);
    }
    return withActivation(at::group_norm(x[0], groups_, affine ? param(0) : at::Tensor(), affine ? param(1) : at::Tensor(), eps_), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override { return c10::str(groups_, ", ", c_, ", eps=", eps_); }

 private:
  int64_t groups_, c_;
  double eps_;
};

class Dropout : public Module {
 public:
  explicit Dropout(Options& o) : Module("Dropout"), p_(o.number("p", 0.5, 0, 1)) {}
  Tensors forward(const Tensors& x) override { return withActivation(at::dropout(x[0], p_, training()), x); }
  bool supportsGrouped() const override { return true; }
  std::string options() const override { return c10::str("p=", p_); }

 private:
  double p_;
};

class Embedding : public Module {
 public:
  explicit Embedding(Options& o) : Module("Embedding") {
    n_ = o.integer("numEmbeddings");
    d_ = o.integer("embeddingDim");
    pad_ = paddingIndex(o, "paddingIdx", n_, "numEmbeddings");
    init();
  }
  Embedding(int64_t n, int64_t d, int64_t pad) : Module("Embedding"), n_(n), d_(d), pad_(pad) { init(); }
  void init() {
    at::Tensor w = at::randn({n_, d_});
    if (pad_ >= 0) w[pad_].zero_();
    addParameter("weight", w);
  }
  Tensors forward(const Tensors& x) override {
    TORCH_CHECK(!x[0].is_floating_point(), "expected integer indices, got a ", x[0].scalar_type(), " tensor");
    if (int64_t G = GroupedPass::groups()) return withActivation(groupedForward(x[0], G), x);
    return withActivation(at::embedding(param(0), x[0], pad_), x);
  }
  bool supportsGrouped() const override { return true; }
  // Shard k's ids look up rows k·n.. of the stacked table [G·n, d]. at::embedding takes one padding
  // index, so the padding rows' gradient is cut by reading them through a detached copy instead.
  at::Tensor groupedForward(const at::Tensor& ids, int64_t G) {
    if (ids.numel() > 0) {
      TORCH_CHECK_INDEX(ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < n_, "index out of range in self");
    }
    at::Tensor offsets = at::arange(G, ids.options()).mul_(n_).view({G, 1});
    at::Tensor flat = (ids.reshape({G, -1}) + offsets).reshape(ids.sizes());
    at::Tensor out = at::embedding(param(0).reshape({G * n_, d_}), flat);
    if (pad_ >= 0) out = at::where((ids == pad_).unsqueeze(-1), out.detach(), out);
    return out;
  }
  std::string options() const override { return c10::str(n_, ", ", d_, pad_ >= 0 ? c10::str(", paddingIdx=", pad_) : ""); }

 private:
  int64_t n_, d_, pad_;
};

// Stateless element-wise and reshaping modules.
class Lambda : public Module {
 public:
  using Fn = at::Tensor (*)(const at::Tensor&, const Lambda&);
  Lambda(std::string type, Fn fn, std::string opts = "") : Module(std::move(type)), fn_(fn), opts_(std::move(opts)) {}
  Tensors forward(const Tensors& x) override { return withActivation(fn_(x[0], *this), x); }
  std::string options() const override { return opts_; }
  // Element-wise and per-example ops leave the shards apart; one over dim 0 (the batch) would not.
  bool supportsGrouped() const override { return !touchesBatchDim; }
  bool touchesBatchDim = false;
  std::vector<int64_t> a, b, c;  // the op's integer options
  bool flag = false;
  std::string mode;

 private:
  Fn fn_;
  std::string opts_;
};

std::shared_ptr<Module> makeLambda(std::string type, Lambda::Fn fn, std::string opts = "") {
  return std::make_shared<Lambda>(std::move(type), fn, std::move(opts));
}

void poolChecks(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 || x.dim() == 3, "expected an input [N, C, H, W], got ", shapeOf(x));
}

}  // namespace

// A negative padding index counts from the end (-1 is the last row), as PyTorch's padding_idx.
int64_t paddingIndex(Options& o, const char* name, int64_t n, const char* of) {
  constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  int64_t pad = o.integer(name, kNone, -n);
  if (pad == kNone) return -1;
  if (pad >= n) o.fail(name, c10::str("must be below ", of, " (", n, "), got ", pad));
  return pad < 0 ? pad + n : pad;
}

std::shared_ptr<Module> makeLinear(int64_t in, int64_t out, bool bias) { return std::make_shared<Linear>(in, out, bias); }
std::shared_ptr<Module> makeEmbedding(int64_t num, int64_t dim, int64_t paddingIdx) {
  return std::make_shared<Embedding>(num, dim, paddingIdx);
}

void registerLayers(Registry& r) {
  r["Linear"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<Linear>(o); };
  r["Conv2d"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<Conv2d>(o); };
  r["BatchNorm1d"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<BatchNorm>(o, 1); };
  r["BatchNorm2d"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<BatchNorm>(o, 2); };
  r["LayerNorm"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<LayerNorm>(o); };
  r["GroupNorm"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<GroupNorm>(o); };
  r["Dropout"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<Dropout>(o); };
  r["Embedding"] = [](Options& o) -> std::shared_ptr<Module> { return std::make_shared<Embedding>(o); };
  r["Identity"] = [](Options&) { return makeLambda("Identity", [](const at::Tensor& x, const Lambda&) { return x; }); };
  r["ReLU"] = [](Options&) { return makeLambda("ReLU", [](const at::Tensor& x, const Lambda&) { return at::relu(x); }); };
  r["Tanh"] = [](Options&) { return makeLambda("Tanh", [](const at::Tensor& x, const Lambda&) { return at::tanh(x); }); };
  r["Sigmoid"] = [](Options&) { return makeLambda("Sigmoid", [](const at::Tensor& x, const Lambda&) { return at::sigmoid(x); }); };
  r["GELU"] = [](Options& o) {
    auto approximate = o.text("approximate", "none", {"none", "tanh"});
    auto m = std::make_shared<Lambda>(
        "GELU", [](const at::Tensor& x, const Lambda& self) { return at::gelu(x, self.mode); },
        approximate == "none" ? "" : "approximate='tanh'");
    m->mode = approximate;
    return std::shared_ptr<Module>(m);
  };
  r["Softmax"] = [](Options& o) {
    int64_t dim = o.integer("dim", msam::nullopt, INT64_MIN);
    auto m = std::make_shared<Lambda>(
        "Softmax", [](const at::Tensor& x, const Lambda& self) { return at::softmax(x, self.a[0]); }, c10::str("dim=", dim));
    m->a = {dim};
    m->touchesBatchDim = dim == 0;
    return std::shared_ptr<Module>(m);
  };
  r["Flatten"] = [](Options& o) {
    int64_t start = o.integer("startDim", 1, INT64_MIN), end = o.integer("endDim", -1, INT64_MIN);
    auto m = std::make_shared<Lambda>(
        "Flatten", [](const at::Tensor& x, const Lambda& self) { return x.flatten(self.a[0], self.a[1]); },
        c10::str("startDim=", start, ", endDim=", end));
    m->a = {start, end};
    m->touchesBatchDim = start == 0;
    return std::shared_ptr<Module>(m);
  };
  r["MaxPool2d"] = [](Options& o) {
    auto k = o.ints("kernelSize", 2);
    auto m = std::make_shared<Lambda>(
        "MaxPool2d",
        [](const at::Tensor& x, const Lambda& self) {
          poolChecks(x);
          return at::max_pool2d(x, self.a, self.b, self.c, 1, self.flag);
        },
        c10::str("kernelSize=", c10::IntArrayRef(k)));
    m->a = k;
    m->b = o.ints("stride", 2, k);
    m->c = o.ints("padding", 2, std::vector<int64_t>{0, 0}, 0);
    m->flag = o.flag("ceilMode", false);
    return std::shared_ptr<Module>(m);
  };
  r["AvgPool2d"] = [](Options& o) {
    auto k = o.ints("kernelSize", 2);
    auto m = std::make_shared<Lambda>(
        "AvgPool2d",
        [](const at::Tensor& x, const Lambda& self) {
          poolChecks(x);
          return at::avg_pool2d(x, self.a, self.b, self.c, self.flag, self.mode == "include");
        },
        c10::str("kernelSize=", c10::IntArrayRef(k)));
    m->a = k;
    m->b = o.ints("stride", 2, k);
    m->c = o.ints("padding", 2, std::vector<int64_t>{0, 0}, 0);
    m->flag = o.flag("ceilMode", false);
    m->mode = o.flag("countIncludePad", true) ? "include" : "exclude";
    return std::shared_ptr<Module>(m);
  };
  r["AdaptiveAvgPool2d"] = [](Options& o) {
    auto size = o.ints("outputSize", 2);
    auto m = std::make_shared<Lambda>(
        "AdaptiveAvgPool2d",
        [](const at::Tensor& x, const Lambda& self) {
          poolChecks(x);
          return at::adaptive_avg_pool2d(x, self.a);
        },
        c10::str("outputSize=", c10::IntArrayRef(size)));
    m->a = size;
    return std::shared_ptr<Module>(m);
  };
}

}  // namespace msam::nn
