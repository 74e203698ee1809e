// What transformers need: multi-head self-attention, and the embeddings and token selection of
// ViT (patches, class token, learned positions) and of text models (tokens + positions + mask).
#include "nn/grouped.h"
#include "nn/registry.h"

namespace msam::nn {
namespace {

// Self-attention over [N, S, E] (batch first) with PyTorch's parameter layout (in_proj_weight,
// in_proj_bias, out_proj). A second input [N, S] is an attention mask: nonzero for tokens to
// attend to, zero for padding.
class MultiheadAttention : public Module {
 public:
  explicit MultiheadAttention(Options& o) : Module("MultiheadAttention") {
    e_ = o.integer("embedDim");
    h_ = o.integer("numHeads");
    if (e_ % h_ != 0) o.fail("numHeads", c10::str("must divide embedDim (", e_, "), got ", h_));
    p_ = o.number("dropout", 0.0, 0, 1);
    bool bias = o.flag("bias", true);
    double bound = std::sqrt(6.0 / static_cast<double>(e_ + 3 * e_));  // xavier_uniform on [3E, E]
    addParameter("in_proj_weight", at::empty({3 * e_, e_}).uniform_(-bound, bound));
    if (bias) addParameter("in_proj_bias", at::zeros({3 * e_}));
    auto out = makeLinear(e_, e_, bias);
    if (bias) {
      at::NoGradGuard g;
      out->parameters()[1].second.zero_();
    }
    addChild("out_proj", out);
  }

  Tensors forward(const Tensors& x) override {
    const at::Tensor& in = x[0];
    TORCH_CHECK(in.dim() == 3 && in.size(2) == e_, "expected an input [N, S, ", e_, "], got ", in.sizes());
    int64_t n = in.size(0), s = in.size(1), d = e_ / h_;
    at::Tensor bias = parameters().size() > 1 ? param(1) : at::Tensor();
    int64_t G = GroupedPass::groups();
    auto qkv = (G ? grouped::linear(in, param(0), bias, G) : at::linear(in, param(0), bias)).chunk(3, -1);
    auto heads = [&](const at::Tensor& t) { return t.reshape({n, s, h_, d}).transpose(1, 2); };
    at::Tensor scores = at::matmul(heads(qkv[0]), heads(qkv[1]).transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
    if (x.size() > 1 && x[1].defined()) {
      TORCH_CHECK(x[1].dim() == 2 && x[1].size(0) == n && x[1].size(1) == s, "expected an attention mask [", n, ", ", s,
                  "], got ", x[1].sizes());
      scores = scores.masked_fill((x[1] == 0).view({n, 1, 1, s}), -std::numeric_limits<double>::infinity());
    }
    at::Tensor attn = at::dropout(at::softmax(scores, -1), p_, training());
    at::Tensor y = at::matmul(attn, heads(qkv[2])).transpose(1, 2).reshape({n, s, e_});
    return withActivation(callChild("out_proj", child(0), {y})[0], x);
  }
  std::string options() const override { return c10::str("embedDim=", e_, ", numHeads=", h_, ", dropout=", p_); }
  bool supportsGrouped() const override { return true; }

 private:
  int64_t e_, h_;
  double p_;
};

// [N, C, H, W] -> [N, (H/p)(W/p), D]: a p×p convolution with stride p, flattened (ViT's conv_proj).
class PatchEmbedding : public Module {
 public:
  explicit PatchEmbedding(Options& o) : Module("PatchEmbedding") {
    c_ = o.integer("inChannels");
    d_ = o.integer("embedDim");
    p_ = o.integer("patchSize");
    int64_t fanIn = c_ * p_ * p_;
    addParameter("weight", uniformInit({d_, c_, p_, p_}, fanIn));
    addParameter("bias", uniformInit({d_}, fanIn));
  }
  Tensors forward(const Tensors& x) override {
    const at::Tensor& in = x[0];
    TORCH_CHECK(in.dim() == 4 && in.size(1) == c_, "expected an input [N, ", c_, ", H, W], got ", in.sizes());
    TORCH_CHECK(in.size(2) % p_ == 0 && in.size(3) % p_ == 0, "the image size ", in.size(2), "x", in.size(3),
                " is not a multiple of the patch size ", p_);
    int64_t G = GroupedPass::groups();
    at::Tensor y = G ? grouped::conv2d(in, param(0), param(1), {p_, p_}, {0, 0}, {1, 1}, 1, G) : at::conv2d(in, param(0), param(1), {p_, p_});
    return withActivation(y.flatten(2).transpose(1, 2), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override { return c10::str(c_, ", ", d_, ", patchSize=", p_); }

 private:
  int64_t c_, d_, p_;
};

// Prepends a learned token: [N, S, D] -> [N, S + 1, D]. Its one parameter takes the module's name.
class ClassToken : public Module {
 public:
  explicit ClassToken(Options& o) : Module("ClassToken") {
    d_ = o.integer("embedDim");
    addParameter("", at::zeros({1, 1, d_}));
  }
  Tensors forward(const Tensors& x) override {
    const at::Tensor& in = x[0];
    TORCH_CHECK(in.dim() == 3 && in.size(2) == d_, "expected an input [N, S, ", d_, "], got ", in.sizes());
    if (int64_t G = GroupedPass::groups()) {  // the token [G, 1, 1, D]: shard k's to each of its examples
      int64_t b = in.size(0) / G;
      return withActivation(at::cat({param(0).expand({G, b, 1, d_}).reshape({G * b, 1, d_}), in}, 1), x);
    }
    return withActivation(at::cat({param(0).expand({in.size(0), -1, -1}), in}, 1), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override { return c10::str("embedDim=", d_); }

 private:
  int64_t d_;
};

// Adds a learned [1, S, D] position embedding (named after the module, as ViT's pos_embedding).
class PositionEmbedding : public Module {
 public:
  explicit PositionEmbedding(Options& o) : Module("PositionEmbedding") {
    s_ = o.integer("numPositions");
    d_ = o.integer("embedDim");
    addParameter("", at::empty({1, s_, d_}).normal_(0, 0.02));
  }
  Tensors forward(const Tensors& x) override {
    const at::Tensor& in = x[0];
    TORCH_CHECK(in.dim() == 3 && in.size(1) == s_ && in.size(2) == d_, "expected an input [N, ", s_, ", ", d_, "], got ",
                in.sizes());
    if (int64_t G = GroupedPass::groups()) {  // the positions [G, 1, S, D]
      return withActivation((in.reshape({G, -1, s_, d_}) + param(0)).reshape(in.sizes()), x);
    }
    return withActivation(in + param(0), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override { return c10::str("numPositions=", s_, ", embedDim=", d_); }

 private:
  int64_t s_, d_;
};

// [N, S, D] -> [N, D]: the token at `index` (the class token of ViT, <s> of RoBERTa).
class TokenSelect : public Module {
 public:
  explicit TokenSelect(Options& o) : Module("TokenSelect"), index_(o.integer("index", 0, INT64_MIN)) {}
  Tensors forward(const Tensors& x) override {
    TORCH_CHECK(x[0].dim() == 3, "expected an input [N, S, D], got ", x[0].sizes());
    return withActivation(x[0].select(1, index_), x);
  }
  bool supportsGrouped() const override { return true; }
  std::string options() const override { return c10::str("index=", index_); }

 private:
  int64_t index_;
};

// Token ids [N, S] (and an optional attention mask [N, S], passed on) -> token + position
// embeddings [N, S, D].
//
// Two options make it RoBERTa's embeddings (transformers' RobertaEmbeddings), so that its
// checkpoints load and give the same numbers: `paddingPositions` counts positions from
// paddingIdx + 1 over the non-padding tokens only, padding itself at paddingIdx (the position
// table's padding row, whose gradient is cut as in transformers); `typeVocabSize` > 0 adds a
// token_type_embeddings table whose row 0 (RoBERTa's only token type) every token gets, added in
// transformers' order: (words + types) + positions.
class TokenPositionEmbedding : public Module {
 public:
  explicit TokenPositionEmbedding(Options& o) : Module("TokenPositionEmbedding") {
    int64_t vocab = o.integer("vocabSize");
    p_ = o.integer("maxPositions");
    int64_t d = o.integer("embedDim");
    pad_ = paddingIndex(o, "paddingIdx", vocab, "vocabSize");
    paddingPositions_ = o.flag("paddingPositions", false);
    int64_t types = o.integer("typeVocabSize", 0, 0);
    if (paddingPositions_ && pad_ < 0) o.fail("paddingPositions", "needs a paddingIdx");
    if (paddingPositions_ && pad_ >= p_) o.fail("paddingIdx", c10::str("must be below maxPositions (", p_, ") with paddingPositions, got ", pad_));
    addChild("word_embeddings", makeEmbedding(vocab, d, pad_));
    addChild("position_embeddings", makeEmbedding(p_, d, paddingPositions_ ? pad_ : -1));
    if (types > 0) addChild("token_type_embeddings", makeEmbedding(types, d, -1));
  }
  Tensors forward(const Tensors& x) override {
    const at::Tensor& ids = x[0];
    TORCH_CHECK(ids.dim() == 2 && !ids.is_floating_point(), "expected integer token ids [N, S], got a ", ids.scalar_type(),
                " tensor ", ids.sizes());
    int64_t s = ids.size(1);
    at::Tensor words = callChild("word_embeddings", child(0), {ids})[0];
    if (children().size() > 2) words = words + callChild("token_type_embeddings", child(2), {at::zeros_like(ids, ids.options().dtype(at::kLong))})[0];
    if (paddingPositions_) {
      // The largest position is paddingIdx + S (a row without padding).
      TORCH_CHECK(pad_ + s < p_, "the sequence length ", s, " exceeds maxPositions ", p_, " less paddingIdx + 1 (", pad_ + 1, ")");
      at::Tensor real = (ids != pad_).to(at::kLong);
      at::Tensor positions = real.cumsum(1).mul_(real).add_(pad_);
      return withActivation(words + callChild("position_embeddings", child(1), {positions})[0], x);
    }
    TORCH_CHECK(s <= p_, "the sequence length ", s, " exceeds maxPositions ", p_);
    at::Tensor positions = at::arange(s, ids.options().dtype(at::kLong)).unsqueeze(0);
    if (int64_t G = GroupedPass::groups()) {
      // One row of positions per shard ([G, S] looks up shard k's table), broadcast over its examples.
      at::Tensor pos = callChild("position_embeddings", child(1), {positions.expand({G, s})})[0];
      return withActivation((words.reshape({G, -1, s, words.size(-1)}) + pos.unsqueeze(1)).reshape(words.sizes()), x);
    }
    return withActivation(words + callChild("position_embeddings", child(1), {positions})[0], x);
  }
  bool supportsGrouped() const override { return true; }

 private:
  int64_t p_, pad_;
  bool paddingPositions_;
};

template <typename M>
std::shared_ptr<Module> make(Options& o) {
  return std::make_shared<M>(o);
}

}  // namespace

void registerTransformer(Registry& r) {
  r["MultiheadAttention"] = make<MultiheadAttention>;
  r["PatchEmbedding"] = make<PatchEmbedding>;
  r["ClassToken"] = make<ClassToken>;
  r["PositionEmbedding"] = make<PositionEmbedding>;
  r["TokenSelect"] = make<TokenSelect>;
  r["TokenPositionEmbedding"] = make<TokenPositionEmbedding>;
}

}  // namespace msam::nn
