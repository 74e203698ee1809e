// A process group over libtorch's c10d (DESIGN.md, "Distributed"): a TCPStore rendezvous and a
// Gloo (CPU) or NCCL (CUDA) backend. No transport of our own: every byte goes through c10d.
// The version-sensitive c10d surface (1.13 against 2.x) is confined to group.cc.
#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common.h"

namespace msam {
namespace dist {

struct GroupOptions {
  std::string backend = "gloo";  // 'gloo' or 'nccl'
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  int rank = 0;
  int worldSize = 1;
  // How long the rendezvous and each collective may wait for the other ranks before failing.
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
};

// Which backends this build of msam has (the libtorch's c10d and the headers found at build time).
bool hasGloo();
bool hasNccl();

class Group {
 public:
  // Blocks until all worldSize ranks have joined (or the timeout passes). Throws with a message
  // that names the address, the rank and what to check.
  static std::shared_ptr<Group> create(const GroupOptions& opts);
  ~Group();

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& backend() const { return backend_; }

  // Sums each tensor over the ranks, in place. Tensors of one dtype and device travel in one
  // flat buffer (one collective per dtype); every rank must pass the same shapes in the same order.
  void allReduceSum(const std::vector<at::Tensor>& tensors);
  // Copies root's tensors into every rank's, in place.
  void broadcast(const std::vector<at::Tensor>& tensors, int root);
  void barrier();
  // Drops the backend and the store; later calls throw.
  void close();
  bool closed() const;

  struct Impl;  // the c10d objects (group.cc)

 private:
  Group(int rank, int size, std::string backend, std::unique_ptr<Impl> impl);
  Impl& impl(const char* op);
  void run(const char* op, std::vector<at::Tensor>& flat, bool broadcast, int root);
  int rank_, size_;
  std::string backend_;
  std::unique_ptr<Impl> impl_;
  // c10d requires every rank to issue collectives in one order: calls from the JS thread and the
  // step's worker thread are serialized here (the trainer awaits each before the next anyway).
  std::mutex mutex_;
};

}  // namespace dist
}  // namespace msam
