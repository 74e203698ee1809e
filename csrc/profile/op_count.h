// Counting what a piece of native work dispatches (msam bench --count, test/op-count.test.ts): ATen
// ops at the top level, host reads, and the ops msam's own bookkeeping issues, through an
// at::RecordFunction observer (the same API on libtorch 1.13 and 2.x).
//
// A *host read* is a point where the host waits for a device value:
//   - aten::_local_scalar_dense at any depth: what .item(), item<T>(), a tensor turned into a C++
//     number and bool(tensor) dispatch;
//   - aten::copy_ at any depth between a CPU and a non-CPU tensor (.cpu(), .to(device) of a host
//     tensor, a pageable host→device copy);
//   - aten::to / aten::_to_copy at the top level with an explicit device argument equal to the
//     source's device type, cpu: on a CPU-only build .cpu() and .to(device) are no-ops, but on a
//     CUDA run the same call moves data, so the CPU build counts it too (the conservative reading).
// Every other top-level op counts once in `ops`; ops that run inside another op (a composite's
// parts, libtorch's per-tensor fallback of a _foreach_* op on the CPU) are not counted: the count is
// what the caller dispatched. Ops dispatched while an MSAM_BOOKKEEPING() scope is open on the
// thread also count in `bookkeeping`: msam's norm, perturb, restore and accumulate code.
#pragma once
#include <ATen/record_function.h>

#include <map>
#include <string>

#include "common.h"

// Marks a block of msam's own bookkeeping over parameters (cheap while no observer is installed).
#define MSAM_BOOKKEEPING() RECORD_USER_SCOPE("msam::bookkeeping")

namespace msam {
namespace profile {

struct OpCounts {
  int64_t ops = 0;          // top-level ATen ops
  int64_t hostReads = 0;    // as defined above
  int64_t bookkeeping = 0;  // top-level ops inside MSAM_BOOKKEEPING() scopes
  std::map<std::string, int64_t> reads;  // host reads by op name
  std::map<std::string, int64_t> byName;  // top-level ops by name
};

// Installs the observer (process-wide, every thread); an error if one is installed already.
void startCounting();
// Removes it and returns what it counted.
OpCounts stopCounting();

void initOpCount(Napi::Env env, Napi::Object exports);

}  // namespace profile
}  // namespace msam
