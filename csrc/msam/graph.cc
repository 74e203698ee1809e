// The 'graph' strategy (DESIGN.md, "Speed"). A loop over 32 micro-batches of 16 is launch-bound:
// the GPU waits for the CPU to launch thousands of small kernels per shard. So one shard's ascent
// and descent passes are captured once as a CUDA graph (static input and target buffers, static
// shapes) and the graph is replayed for every shard: one launch per shard. The passes, ops and
// their order are the loop's (msam/loop.cc), so the gradient is the loop's to float tolerance.
//
//   NOT YET RUN ON A GPU. Written against PyTorch 2.x's at::cuda::CUDAGraph and its graph-safe
//   generator states (2.4+); on this project's CPU machines only the non-CUDA branch compiles.
//   test/msam-graph.test.ts compares it with the loop wherever a GPU is present.
//
// - Shards must share one shape: B divisible by m. When it is not, this step runs the loop instead
//   (the same result, without the speed-up), so the last, smaller batch of an epoch still trains.
// - The captured body: ascent pass (BatchNorm updates its running statistics, unless frozen), g,
//   ‖g‖ on the device, ε, w += ε, descent pass (statistics frozen, the ascent's random state), h,
//   w restored from the saved copy, acc += (1/m)·h, and the shard's [loss, perturbed loss, ‖g‖,
//   the norm ε used] written to a static tensor. Nothing in it reads a value back to the CPU.
// - Replays: shard i's data copied into the static buffers, a replay, its four numbers copied to
//   row i. After all replays one read-back; non-finite values are checked then, and the step is
//   skipped as the loop skips it (weights and buffers restored, .grad cleared, the first bad shard
//   named). Shards after a bad one ran too, but whatever they changed is restored.
// - Randomness (dropout): during the descent pass the default CUDA generator is switched to a clone
//   of its own state. Both states are equal before the replays and advance by the same amount in
//   every replay (PyTorch's graph-safe RNG states), so each descent pass draws its ascent pass's
//   masks. These masks are not the loop's (another position in the stream): with dropout, 'graph'
//   matches the loop in distribution, not number for number.
// - Warm-up: three eager runs of the body on the side stream before capture (cuBLAS and cuDNN
//   handles and workspaces, autograd's device thread), as PyTorch's CUDA-graph notes ask. Weights
//   are restored by the body itself; BatchNorm statistics are put back afterwards. An error there
//   is the model's and passes as it is; an error in the capture says that capturing failed.
// - Cache: one captured step, replayed while the model (the very parameter and buffer tensors and
//   their storage, every module's train/eval flag), the batch's shapes and dtypes, the options and
//   the TF32 settings stay the same; any change recaptures. One entry only, since its private
//   memory pool holds one shard's activations: msam.cuda.emptyCache() releases it.
#include "msam/graph.h"

#include <cmath>
#include <memory>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "msam/autocast.h"
#include "msam/bookkeeping.h"
#include "msam/step.h"
#include "msam/support.h"

// MSAM_NO_GRAPH leaves the strategy out of a CUDA build (bench/gpu-session.sh's fallback build, should
// this file not compile against a new libtorch).
#if defined(MSAM_WITH_CUDA) && !defined(MSAM_NO_GRAPH) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
#define MSAM_GRAPH_STRATEGY 1
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "errors.h"
#endif

namespace msam {

#ifdef MSAM_GRAPH_STRATEGY
namespace {

constexpr int kWarmUpRuns = 3;

// PyTorch 2.4 to 2.10 or so registers a generator state other than the default one with a graph
// explicitly, before capture; later versions register states lazily at their first use inside a
// capture and dropped that overload. Call it where it exists.
template <typename G, typename = void>
struct RegistersGenerators : std::false_type {};
template <typename G>
struct RegistersGenerators<G, std::void_t<decltype(std::declval<G&>().register_generator_state(std::declval<const at::Generator&>()))>>
    : std::true_type {};
template <typename G>
void registerGenerator(G& graph, const at::Generator& gen) {
  if constexpr (RegistersGenerators<G>::value) graph.register_generator_state(gen);
}

// What a captured graph depends on besides its static buffers. Pointers are compared, and the
// cache holds references to the tensors they point at, so none can be reused by another model.
struct StepKey {
  const nn::Module* model = nullptr;
  size_t paramCount = 0;
  std::vector<const c10::TensorImpl*> tensors;  // trainable parameters, then buffers
  std::vector<const void*> storage;
  std::vector<bool> training;  // every module's flag, depth first
  std::vector<std::vector<int64_t>> shapes;  // inputs, then target (the whole batch)
  std::vector<at::ScalarType> dtypes;
  int64_t m = 0;
  double rho = 0, eta = 0, lossWeightDecay = 0, labelSmoothing = 0;
  bool adaptive = false, freezeBatchNorm = false, frozenOutside = false, tf32Matmul = false, tf32Cudnn = false;
  int autocast = -1, lossKind = 0;

  auto tie() const {
    return std::tie(model, paramCount, tensors, storage, training, shapes, dtypes, m, rho, eta, lossWeightDecay, labelSmoothing, adaptive,
                    freezeBatchNorm, frozenOutside, tf32Matmul, tf32Cudnn, autocast, lossKind);
  }
  bool operator==(const StepKey& o) const { return tie() == o.tie(); }
};

void trainingFlags(const nn::Module& m, std::vector<bool>& out) {
  out.push_back(m.training());
  for (const auto& child : m.children()) trainingFlags(*child.second, out);
}

StepKey makeKey(nn::Module& model, const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& buffers, const Batch& batch,
                const LossSpec& loss, const MsamOptions& opts) {
  StepKey k;
  k.model = &model;
  k.paramCount = params.size();
  for (const auto* list : {&params, &buffers}) {
    for (const auto& t : *list) {
      k.tensors.push_back(t.unsafeGetTensorImpl());
      k.storage.push_back(t.data_ptr());
    }
  }
  trainingFlags(model, k.training);
  for (const auto& x : batch.inputs) {
    k.shapes.push_back(x.sizes().vec());
    k.dtypes.push_back(x.scalar_type());
  }
  k.shapes.push_back(batch.target.sizes().vec());
  k.dtypes.push_back(batch.target.scalar_type());
  k.m = opts.m;
  k.rho = opts.rho;
  k.eta = opts.eta;
  k.lossWeightDecay = opts.lossWeightDecay;
  k.labelSmoothing = loss.labelSmoothing;
  k.adaptive = opts.adaptive;
  k.freezeBatchNorm = opts.freezeBatchNorm;
  k.frozenOutside = nn::FreezeRunningStats::active();
  k.tf32Matmul = at::globalContext().allowTF32CuBLAS();
  k.tf32Cudnn = at::globalContext().allowTF32CuDNN();
  k.autocast = opts.autocast ? static_cast<int>(*opts.autocast) : -1;
  k.lossKind = static_cast<int>(loss.kind);
  return k;
}

// One captured step and everything its graph reads or writes.
struct CapturedStep {
  explicit CapturedStep(c10::cuda::CUDAStream s) : stream(s) {}
  StepKey key;
  c10::cuda::CUDAStream stream;             // warm-up, capture and replays all run here
  std::vector<at::Tensor> params, buffers;  // references: the key's pointers stay theirs
  std::vector<at::Tensor> inputs;           // static: one shard's inputs
  at::Tensor target;                        // static: one shard's target
  std::shared_ptr<StepBuffers> saved;       // the restore point, w at the step's start
  std::vector<at::Tensor> acc;              // Σ (1/m)·h_i
  at::Tensor shardStats;                    // [4] float64: loss, perturbed loss, ‖g‖, the norm ε used
  at::Generator ascentRng;                  // the default generator's own state
  at::Generator descentRng;                 // the clone the descent pass draws from
  std::unique_ptr<at::cuda::CUDAGraph> graph;
};

// Process-wide, never destroyed at exit (CUDA may be gone by then): a leaked singleton.
std::mutex& cacheMutex() {
  static auto* m = new std::mutex();
  return *m;
}
std::unique_ptr<CapturedStep>& cached() {
  static auto* c = new std::unique_ptr<CapturedStep>();
  return *c;
}

// The default generator draws from `state` while this lives. Its mutex is held for the switch
// only: the random ops in between take it themselves.
class GeneratorState {
 public:
  GeneratorState(at::Generator& gen, const at::Generator& state, const at::Generator& own) : gen_(gen), own_(own) { set(state); }
  ~GeneratorState() { set(own_); }
  GeneratorState(const GeneratorState&) = delete;
  GeneratorState& operator=(const GeneratorState&) = delete;

 private:
  void set(const at::Generator& state) {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.graphsafe_set_state(state);
  }
  at::Generator& gen_;
  const at::Generator& own_;
};

// Autocast's cache of cast weights off while capturing (PyTorch asks the same of graphed
// callables): a cast made inside a capture must not outlive it.
class NoAutocastCache {
 public:
  NoAutocastCache() : was_(at::autocast::is_autocast_cache_enabled()) { at::autocast::set_autocast_cache_enabled(false); }
  ~NoAutocastCache() { at::autocast::set_autocast_cache_enabled(was_); }
  NoAutocastCache(const NoAutocastCache&) = delete;
  NoAutocastCache& operator=(const NoAutocastCache&) = delete;

 private:
  bool was_;
};

// One shard's passes on the static buffers: what the graph captures (and the warm-up runs).
void shardPasses(CapturedStep& s, nn::Module& model, const LossSpec& loss, const MsamOptions& opts, at::Generator& gen) {
  const auto& params = s.params;
  at::Tensor l = shardLoss(model, s.inputs, s.target, loss, opts, params);
  auto g = torch::autograd::grad({l}, params, {}, false, false, /*allow_unused=*/true);
  unalias(g);
  addWeightDecayGradient(g, params, opts.lossWeightDecay);
  at::NoGradGuard noGrad;
  at::Tensor gNorm = deviceNorm(g);
  at::Tensor usedNorm = gNorm;
  at::Tensor lp = l;
  std::vector<at::Tensor> h;
  if (opts.rho == 0) {
    h = std::move(g);  // no perturbation: the ascent pass is the descent pass
  } else {
    usedNorm = s.saved->perturb(params, g, gNorm, opts.rho, opts.adaptive, opts.eta);
    g.clear();
    {
      // Descent: h_i at w + ε_i, with the ascent's random state, running statistics untouched.
      at::AutoGradMode enableGrad(true);
      nn::FreezeRunningStats frozen;
      GeneratorState sameMasks(gen, s.descentRng, s.ascentRng);
      lp = shardLoss(model, s.inputs, s.target, loss, opts, params);
      h = torch::autograd::grad({lp}, params, {}, false, false, /*allow_unused=*/true);
    }
    unalias(h);
    addWeightDecayGradient(h, params, opts.lossWeightDecay);
    s.saved->restore(params);  // bit-exact, not by subtraction
  }
  accumulate(s.acc, h, 1.0 / static_cast<double>(opts.m), /*first=*/false);  // every shard has B/m examples
  s.shardStats.copy_(at::stack({l.detach().to(at::kDouble), lp.detach().to(at::kDouble), gNorm, usedNorm}));
}

// The static buffers and the restore point of a new capture, on the side stream.
std::unique_ptr<CapturedStep> prepare(StepKey key, const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& buffers,
                                      const std::vector<at::Tensor>& shardInputs, const at::Tensor& shardTarget, c10::cuda::CUDAStream stream) {
  auto s = std::make_unique<CapturedStep>(stream);
  s->key = std::move(key);
  s->params = params;
  s->buffers = buffers;
  at::NoGradGuard noGrad;
  for (const auto& x : shardInputs) s->inputs.push_back(at::empty_like(x, at::MemoryFormat::Contiguous));
  s->target = at::empty_like(shardTarget, at::MemoryFormat::Contiguous);
  s->saved = StepBuffers::of(params);
  for (const auto& p : params) s->acc.push_back(at::zeros_like(p));
  s->shardStats = at::zeros({4}, at::TensorOptions().dtype(at::kDouble).device(params[0].device()));
  return s;
}

// Eager runs of the body before capture. The static buffers already hold shard 0; `saved` holds w.
// An error here is the model's own (what the loop would raise too).
void warmUp(CapturedStep& s, nn::Module& model, const LossSpec& loss, const MsamOptions& opts, at::Generator& gen,
            const std::vector<at::Tensor>& savedBuffers) {
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    s.ascentRng = gen.graphsafe_get_state();
    s.descentRng = gen.clone();
  }
  for (int k = 0; k < kWarmUpRuns; ++k) shardPasses(s, model, loss, opts, gen);
  at::NoGradGuard noGrad;
  for (size_t j = 0; j < s.buffers.size(); ++j) s.buffers[j].copy_(savedBuffers[j]);  // the warm-up's statistics undone
}

// The capture itself: the body recorded, not run. An error here is the graph's (an op that reads
// a value back, say).
void capture(CapturedStep& s, nn::Module& model, const LossSpec& loss, const MsamOptions& opts, at::Generator& gen) {
  NoAutocastCache noCache;
  s.graph = std::make_unique<at::cuda::CUDAGraph>();
  registerGenerator(*s.graph, s.descentRng);
  // Thread-local: what other threads (the JS thread) do on the GPU meanwhile cannot break the
  // capture, while an unsafe call on this thread (a read-back) still fails it loudly.
  s.graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
  try {
    shardPasses(s, model, loss, opts, gen);
  } catch (...) {
    try {
      s.graph->capture_end();  // ends the stream's capture; it fails when the capture was invalidated
    } catch (...) {
    }
    (void)cudaGetLastError();  // leave no capture error behind for an unrelated later check
    throw;
  }
  s.graph->capture_end();
}

constexpr const char* kNeedsCuda = "msam: strategy 'graph' needs a CUDA model/build";

StepStats graphStep(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  std::vector<at::Tensor> params = trainableParameters(model);
  const int64_t B = checkBatch(batch, opts.m);
  const at::Device device = params[0].device();
  TORCH_CHECK(device.is_cuda(), kNeedsCuda, ": the model is on ", device,
              " (strategy 'loop' or 'auto' runs it there; or move the model with .to('cuda'))");
  for (size_t k = 0; k < batch.inputs.size(); ++k) {
    TORCH_CHECK(batch.inputs[k].device() == device, "msam: strategy 'graph': batch.input[", k, "] is on ", batch.inputs[k].device(),
                ", the model on ", device);
  }
  TORCH_CHECK(batch.target.device() == device, "msam: strategy 'graph': batch.target is on ", batch.target.device(), ", the model on ",
              device);
  // Unequal shards have no single shape to capture: this step runs the loop (the same gradient).
  if (B % opts.m != 0) return msamGradientLoop(model, batch, loss, opts);

  std::vector<at::Tensor> buffers;
  {
    nn::Module::Named<at::Tensor> named;
    model.namedBuffers("", named);
    for (auto& b : named) buffers.push_back(b.second);
  }
  c10::cuda::CUDAGuard onDevice(device);
  at::Generator gen = at::globalContext().defaultGenerator(device);
  StepKey key = makeKey(model, params, buffers, batch, loss, opts);

  std::lock_guard<std::mutex> lock(cacheMutex());
  auto& slot = cached();
  if (slot && !(slot->key == key)) {
    slot->stream.synchronize();  // nothing of the old graph still running when its memory goes
    slot.reset();
  }

  std::vector<std::vector<at::Tensor>> shardInputs(static_cast<size_t>(opts.m));
  for (const auto& x : batch.inputs) {
    auto pieces = x.tensor_split(opts.m, 0);
    for (int64_t i = 0; i < opts.m; ++i) shardInputs[i].push_back(pieces[i]);
  }
  auto shardTargets = batch.target.tensor_split(opts.m, 0);

  // Everything below runs on the side stream, after what the caller's stream has queued (the
  // batch, the optimizer's last update), and the caller's stream waits for it at the end.
  const c10::cuda::CUDAStream ambient = c10::cuda::getCurrentCUDAStream(device.index());
  const c10::cuda::CUDAStream side = slot ? slot->stream : c10::cuda::getStreamFromPool(false, device.index());
  at::cuda::CUDAEvent ready;
  ready.record(ambient);
  ready.block(side);

  StepStats stats;
  stats.shards = opts.m;
  std::vector<at::Tensor> savedBuffers;
  std::string skipReason;
  {
    c10::cuda::CUDAStreamGuard onSide(side);
    const bool fresh = !slot;
    if (fresh) slot = prepare(key, params, buffers, shardInputs[0], shardTargets[0], side);
    CapturedStep& s = *slot;
    {
      at::NoGradGuard noGrad;
      s.saved->save(params);
      for (const auto& b : buffers) savedBuffers.push_back(b.clone());
    }
    auto loadShard = [&](int64_t i) {
      at::NoGradGuard noGrad;
      for (size_t k = 0; k < s.inputs.size(); ++k) s.inputs[k].copy_(shardInputs[i][k]);
      s.target.copy_(shardTargets[i]);
    };
    if (fresh) {
      loadShard(0);
      bool capturing = false;
      try {
        warmUp(s, model, loss, opts, gen, savedBuffers);
        capturing = true;
        capture(s, model, loss, opts, gen);
      } catch (const std::exception& e) {
        // Weights and statistics back as they were; nothing kept; the model's own errors as they are.
        {
          at::NoGradGuard noGrad;
          s.saved->restore(params);
          for (size_t j = 0; j < buffers.size(); ++j) buffers[j].copy_(savedBuffers[j]);
        }
        side.synchronize();
        std::string why = cleanMessage(e);
        slot.reset();
        if (!capturing) throw;
        TORCH_CHECK(false, "msam: strategy 'graph' could not capture one shard's passes as a CUDA graph (", why,
                    "); strategy 'loop' runs any model");
      }
    }
    at::Tensor perShard;
    {
      at::NoGradGuard noGrad;
      at::_foreach_zero_(s.acc);
      // The descent state starts where the default generator is now: equal masks in every replay.
      at::Tensor rngNow;
      {
        std::lock_guard<std::mutex> genLock(gen.mutex());
        rngNow = gen.get_state();
      }
      {
        std::lock_guard<std::mutex> descentLock(s.descentRng.mutex());
        s.descentRng.set_state(rngNow);
      }
      perShard = at::empty({opts.m, 4}, at::TensorOptions().dtype(at::kDouble).device(device));
      for (int64_t i = 0; i < opts.m; ++i) {
        loadShard(i);
        s.graph->replay();
        perShard[i].copy_(s.shardStats);
      }
    }
    // One read-back for the whole step: each shard's numbers and ‖Σ (1/m)·h_i‖.
    at::Tensor host;
    {
      at::NoGradGuard noGrad;
      host = at::cat({perShard.flatten(), deviceNorm(s.acc).reshape({1})}).cpu();
    }
    const double* v = host.data_ptr<double>();
    const double weight = 1.0 / static_cast<double>(opts.m);
    // The loop's checks and sums, in its order (a skipped step reports what was summed before).
    for (int64_t i = 0; i < opts.m && skipReason.empty(); ++i) {
      const double lv = v[4 * i], lpv = v[4 * i + 1], gn = v[4 * i + 2], used = v[4 * i + 3];
      if (!std::isfinite(lv)) {
        skipReason = c10::str("non-finite loss ", lv, " in shard ", i);
        break;
      }
      stats.loss += weight * lv;
      if (opts.rho == 0) stats.perturbedLoss += weight * lv;
      if (!std::isfinite(used)) {
        skipReason = c10::str("non-finite gradient in shard ", i);
        break;
      }
      stats.gradNorm += gn / static_cast<double>(opts.m);
      if (opts.rho == 0) continue;
      if (!std::isfinite(lpv)) {
        skipReason = c10::str("non-finite perturbed loss ", lpv, " in shard ", i);
        break;
      }
      stats.perturbedLoss += weight * lpv;
    }
    const bool knownFinite = opts.m == 1 && opts.rho == 0;  // as the loop: h_1's norm already checked
    if (skipReason.empty() && !knownFinite && !std::isfinite(v[4 * opts.m])) skipReason = "non-finite mSAM gradient";
    if (!skipReason.empty()) {
      at::NoGradGuard noGrad;
      s.saved->restore(params);
      for (size_t j = 0; j < buffers.size(); ++j) buffers[j].copy_(savedBuffers[j]);
    }
  }
  at::cuda::CUDAEvent done;
  done.record(side);
  done.block(ambient);
  if (!skipReason.empty()) {
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    stats.skipped = true;
    stats.skipReason = std::move(skipReason);
    return stats;
  }
  // The gradients copied out on the caller's stream (the static sums are overwritten by the next
  // step), into the .grad tensors of the last step when they fit.
  std::vector<at::Tensor> grads = gradBuffers(params);
  copyAll(grads, slot->acc);
  for (size_t j = 0; j < params.size(); ++j) {
    if (!params[j].grad().is_same(grads[j])) params[j].mutable_grad() = grads[j];
  }
  return stats;
}

}  // namespace

StepStats msamGradientGraph(nn::Module& model, const Batch& batch, const LossSpec& loss, const MsamOptions& opts) {
  return graphStep(model, batch, loss, opts);
}

void releaseCapturedStep() {
  std::lock_guard<std::mutex> lock(cacheMutex());
  auto& slot = cached();
  if (!slot) return;
  slot->stream.synchronize();
  slot.reset();
}

#else  // no 'graph' strategy in this build

StepStats msamGradientGraph(nn::Module&, const Batch&, const LossSpec&, const MsamOptions&) {
#ifndef MSAM_WITH_CUDA
  TORCH_CHECK(false, "msam: strategy 'graph' needs a CUDA model/build: this msam was built against a CPU-only libtorch (", TORCH_VERSION,
              "); strategy 'loop' or 'auto' runs the step");
#elif defined(MSAM_NO_GRAPH)
  TORCH_CHECK(false, "msam: strategy 'graph' was left out of this build (MSAM_NO_GRAPH); strategy 'loop' or 'auto' runs the step");
#else
  TORCH_CHECK(false, "msam: strategy 'graph' needs PyTorch 2.4 or later (graph-safe random states); this msam was built against libtorch ",
              TORCH_VERSION, "; strategy 'loop' or 'auto' runs the step");
#endif
}

void releaseCapturedStep() {}

#endif

}  // namespace msam
