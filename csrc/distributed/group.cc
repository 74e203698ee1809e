// The c10d objects behind dist::Group, and every line that differs between libtorch 1.13 and 2.x.
//
// libtorch 1.13 (Debian's libtorch-dev, built and tested here): ProcessGroupGloo derives from
// c10d::ProcessGroup; collectives return c10::intrusive_ptr<c10d::Work>.
// libtorch 2.x (not compiled here): ProcessGroupGloo and ProcessGroupNCCL derive from
// c10d::Backend (ProcessGroup became a dispatcher over backends), which has the same
// allreduce / broadcast / barrier signatures: holding the backend itself keeps the code alike.
// TCPStore(host, TCPStoreOptions) and ProcessGroupGloo::Options::create(timeout) with `devices`
// are the same in both; 2.x adds TCPStoreOptions::useLibUV (left at its default).
// The headers: c10d's ProcessGroupGloo.hpp is compiled only with USE_C10D_GLOO and includes
// Gloo's own headers (Debian: libgloo-dev; the symbols are in libtorch_cpu); ProcessGroupNCCL.hpp
// needs USE_C10D_NCCL and nccl.h (a CUDA libtorch; the symbols are in libtorch_cuda).
#include "distributed/group.h"

#include <cstdlib>

#include "errors.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if !defined(MSAM_NO_GLOO) && __has_include(<gloo/context.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define MSAM_HAS_GLOO 1
#endif

#if defined(MSAM_WITH_CUDA) && !defined(MSAM_NO_NCCL) && __has_include(<nccl.h>) && __has_include(<cuda_runtime_api.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define MSAM_HAS_NCCL 1
#endif

namespace msam {
namespace dist {

#if TORCH_VERSION_MAJOR >= 2
using BackendBase = c10d::Backend;
#else
using BackendBase = c10d::ProcessGroup;
#endif

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<BackendBase> backend;
};

bool hasGloo() {
#ifdef MSAM_HAS_GLOO
  return true;
#else
  return false;
#endif
}

bool hasNccl() {
#ifdef MSAM_HAS_NCCL
  return true;
#else
  return false;
#endif
}

namespace {

bool isLoopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1"; }

#ifdef MSAM_HAS_GLOO
// The network device Gloo binds to: GLOO_SOCKET_IFNAME as in PyTorch; the loopback when the master
// is on this machine; else the address this machine's hostname resolves to (Gloo falls back to
// the loopback when it resolves to none).
std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& masterAddr) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0') return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (isLoopback(masterAddr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

std::string where(const GroupOptions& o) {
  return c10::str("rank ", o.rank, " of ", o.worldSize, ", master ", o.masterAddr, ":", o.masterPort);
}

}  // namespace

std::shared_ptr<Group> Group::create(const GroupOptions& o) {
  TORCH_CHECK(o.worldSize >= 1, "dist: worldSize must be at least 1, got ", o.worldSize);
  TORCH_CHECK(o.rank >= 0 && o.rank < o.worldSize, "dist: rank must be in [0, ", o.worldSize, "), got ", o.rank);
  TORCH_CHECK(o.masterPort > 0 && o.masterPort < 65536, "dist: masterPort must be in 1..65535, got ", o.masterPort);
  auto impl = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.masterPort);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.worldSize);
    so.waitWorkers = true;
    so.timeout = o.timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, so);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "dist: the TCPStore rendezvous failed (", where(o), "): ", cleanMessage(e),
                o.rank == 0 ? " (is the port free?)" : " (is rank 0 running, and MASTER_ADDR/MASTER_PORT the same on every rank?)");
  }
  try {
    if (o.backend == "gloo") {
#ifdef MSAM_HAS_GLOO
      auto gopts = c10d::ProcessGroupGloo::Options::create(o.timeout);
      gopts->devices.push_back(glooDevice(o.masterAddr));
      impl->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, o.rank, o.worldSize, gopts);
#else
      TORCH_CHECK(false, "dist: this build of msam has no Gloo backend (its headers were not found at build time: "
                  "on Debian/Ubuntu install libgloo-dev and rebuild)");
#endif
    } else if (o.backend == "nccl") {
#ifdef MSAM_HAS_NCCL
      auto nopts = c10d::ProcessGroupNCCL::Options::create();
      nopts->timeout = o.timeout;
      impl->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, o.rank, o.worldSize, nopts);
#else
      TORCH_CHECK(false, "dist: this build of msam has no NCCL backend (it needs a CUDA libtorch built with NCCL and nccl.h at build time); use 'gloo'");
#endif
    } else {
      TORCH_CHECK(false, "dist: unknown backend '", o.backend, "' (expected 'gloo' or 'nccl')");
    }
  } catch (const std::exception& e) {
    std::string msg = cleanMessage(e);
    if (msg.rfind("dist: ", 0) == 0) throw;
    TORCH_CHECK(false, "dist: the ", o.backend, " backend could not connect the ranks (", where(o), "): ", msg);
  }
  return std::shared_ptr<Group>(new Group(o.rank, o.worldSize, o.backend, std::move(impl)));
}

Group::Group(int rank, int size, std::string backend, std::unique_ptr<Impl> impl)
    : rank_(rank), size_(size), backend_(std::move(backend)), impl_(std::move(impl)) {}

Group::~Group() = default;

Group::Impl& Group::impl(const char* op) {
  TORCH_CHECK(impl_ != nullptr, "dist.", op, ": the process group was closed");
  return *impl_;
}

bool Group::closed() const { return impl_ == nullptr; }

void Group::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  impl_.reset();
}

void Group::run(const char* op, std::vector<at::Tensor>& flat, bool isBroadcast, int root) {
  Impl& i = impl(op);
  try {
    c10::intrusive_ptr<c10d::Work> work;
    if (isBroadcast) {
      c10d::BroadcastOptions bo;
      bo.rootRank = root;
      work = i.backend->broadcast(flat, bo);
    } else {
      c10d::AllreduceOptions ao;
      ao.reduceOp = c10d::ReduceOp::SUM;
      work = i.backend->allreduce(flat, ao);
    }
    work->wait();
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "c10d ", op, " failed on rank ", rank_, " of ", size_, " (", backend_,
                "): another rank has stopped, the network failed, or the ranks called collectives in different orders: ", cleanMessage(e));
  }
}

namespace {

// Tensors grouped by dtype and device, in first-seen order: each group travels as one buffer.
std::vector<std::vector<at::Tensor>> byKind(const std::vector<at::Tensor>& tensors) {
  std::vector<std::vector<at::Tensor>> groups;
  for (const auto& t : tensors) {
    TORCH_CHECK(t.defined(), "dist: an undefined tensor");
    bool placed = false;
    for (auto& g : groups) {
      if (g[0].scalar_type() == t.scalar_type() && g[0].device() == t.device()) {
        g.push_back(t);
        placed = true;
        break;
      }
    }
    if (!placed) groups.push_back({t});
  }
  return groups;
}

// When the tensors are contiguous pieces laid one after another in one storage (the mSAM step's
// gradient buffers: msam/bookkeeping.h, gradBuffers), the one flat tensor they tile; else undefined.
at::Tensor tiledBy(const std::vector<at::Tensor>& g) {
  int64_t next = g[0].storage_offset();
  for (const auto& t : g) {
    if (!t.is_contiguous() || !t.storage().is_alias_of(g[0].storage()) || t.storage_offset() != next) return at::Tensor();
    next += t.numel();
  }
  return g[0].detach().as_strided({next - g[0].storage_offset()}, {1}, g[0].storage_offset());
}

template <class Collective>
void flatRun(const std::vector<at::Tensor>& tensors, Collective&& collective) {
  at::NoGradGuard noGrad;
  for (auto& g : byKind(tensors)) {
    if (g.size() == 1 && g[0].is_contiguous()) {
      std::vector<at::Tensor> one{g[0].detach()};
      collective(one);
      continue;
    }
    // Already one buffer: reduced in place, no concatenation and no copies back.
    if (at::Tensor tiled = tiledBy(g); tiled.defined()) {
      std::vector<at::Tensor> one{tiled};
      collective(one);
      continue;
    }
    std::vector<at::Tensor> pieces;
    pieces.reserve(g.size());
    for (const auto& t : g) pieces.push_back(t.detach().reshape({-1}));
    std::vector<at::Tensor> flat{at::cat(pieces)};
    collective(flat);
    int64_t offset = 0;
    for (auto& t : g) {
      t.detach().copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

}  // namespace

void Group::allReduceSum(const std::vector<at::Tensor>& tensors) {
  std::lock_guard<std::mutex> lock(mutex_);
  flatRun(tensors, [&](std::vector<at::Tensor>& flat) { run("allReduce", flat, false, 0); });
}

void Group::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  TORCH_CHECK(root >= 0 && root < size_, "dist.broadcast: root must be in [0, ", size_, "), got ", root);
  std::lock_guard<std::mutex> lock(mutex_);
  flatRun(tensors, [&](std::vector<at::Tensor>& flat) { run("broadcast", flat, true, root); });
}

void Group::barrier() {
  // An all-reduce of one number: Gloo's barrier, with the same error path as the others.
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<at::Tensor> one{at::zeros({1}, at::kFloat)};
  // NCCL reduces CUDA tensors: rank % GPUs is the device of a rank on a machine of equal ranks.
  if (backend_ == "nccl") one[0] = one[0].to(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(rank_ % std::max<int>(1, static_cast<int>(at::getNumGPUs())))));
  run("barrier", one, false, 0);
}

}  // namespace dist
}  // namespace msam
