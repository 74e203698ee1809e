// The loss landscape of a native model over a fixed set of batches: the training loss (the mean
// over every example of the set, label smoothing as in training), its gradient, and Hessian-vector
// products by double backward. The model runs in eval mode throughout (BatchNorm normalizes with
// its running statistics, dropout is off), so the loss is one fixed function of the weights.
//
// Vectors in parameter space (`Vec`) are lists of float64 tensors shaped like the trainable
// parameters: the iterations built on them (power iteration, Hutchinson) normalize and take dot
// products in float64, and only the Hessian-vector product itself runs in the parameters' dtype.
#pragma once
#include <functional>

#include "common.h"
#include "msam/loss.h"
#include "nn/module.h"

namespace msam::hessian {

using Vec = std::vector<at::Tensor>;

// The examples the loss is taken over, in batches (inputs sharded together along dim 0).
struct Batches {
  std::vector<std::vector<at::Tensor>> inputs;
  std::vector<at::Tensor> targets;
  int64_t examples() const;
  // Checks every batch: at least one, matching sizes in dim 0, the same number of inputs.
  void check() const;
};

// Puts the model in eval mode for its lifetime and restores its mode after.
class EvalMode {
 public:
  explicit EvalMode(nn::Module& model) : model_(model), was_(model.training()) { model_.train(false); }
  ~EvalMode() { model_.train(was_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  nn::Module& model_;
  bool was_;
};

class Landscape {
 public:
  Landscape(nn::Module& model, const Batches& data, LossSpec loss);

  const std::vector<at::Tensor>& params() const { return params_; }
  int64_t numParameters() const { return numel_; }
  int64_t examples() const { return examples_; }

  // H v over the whole set: Σ_b (n_b / N) H_b v, accumulated in float64.
  Vec hvp(const Vec& v) const;
  // For each batch in turn: the gradient of its mean loss with its graph kept (create_graph), and
  // `use(grads, weight)`, weight = n_b / N. Undefined entries are parameters the loss does not
  // depend on twice (their Hessian rows are zero). Lets a caller take several products per graph.
  void forEachBatchGradient(const std::function<void(const std::vector<at::Tensor>& grads, double weight)>& use) const;
  // H_b u for the graph of `grads` (from forEachBatchGradient), in the parameters' dtype; keeps
  // the graph when `retain` (for another product on the same batch).
  Vec batchHvp(const std::vector<at::Tensor>& grads, const Vec& u, bool retain) const;

  // The mean loss of one batch's inputs (the caller chooses grad mode).
  at::Tensor loss(const std::vector<at::Tensor>& inputs, const at::Tensor& target) const;
  // A float64 zero vector, a standard normal one and a Rademacher (±1) one from `seed`, generated
  // on the CPU (the same numbers on every device).
  Vec zeros() const;
  Vec randn(uint64_t seed) const;
  Vec rademacher(uint64_t seed) const;
  // Vec → the parameters' dtype and device, entry by entry.
  Vec toParamType(const Vec& v) const;

 private:
  Vec generate(uint64_t seed, bool rademacher) const;
  nn::Module& model_;
  const Batches& data_;
  LossSpec lossSpec_;
  std::vector<at::Tensor> params_;
  int64_t numel_ = 0;
  int64_t examples_ = 0;
};

// Float64 vector algebra over parameter lists.
double dot(const Vec& a, const Vec& b);
double norm(const Vec& a);
void axpy(Vec& y, double a, const Vec& x);  // y += a x
void scale(Vec& y, double a);                // y *= a
Vec toDouble(const Vec& v);                  // undefined entries stay undefined

// A seed for item `index` of a stream seeded by `seed` (splitmix64), so that sample k is the same
// whatever the block size.
uint64_t mixSeed(uint64_t seed, uint64_t index);

}  // namespace msam::hessian
