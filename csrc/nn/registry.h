// Module types by name, each with a factory reading its options (used by bindings.cc).
#pragma once
#include <map>

#include "nn/module.h"
#include "nn/options.h"

namespace msam::nn {

using Factory = std::shared_ptr<Module> (*)(Options&);
using Registry = std::map<std::string, Factory>;

void registerLayers(Registry& r);       // layers.cc
void registerTransformer(Registry& r);  // transformer.cc

// Layers made from C++ (inside other modules), with PyTorch's default initialization.
std::shared_ptr<Module> makeLinear(int64_t in, int64_t out, bool bias);
std::shared_ptr<Module> makeEmbedding(int64_t num, int64_t dim, int64_t paddingIdx);
// Reads an optional padding index below n (PyTorch's padding_idx: negative counts from the end);
// -1 when none is given.
int64_t paddingIndex(Options& o, const char* name, int64_t n, const char* of);

// PyTorch's default initialization of a weight with `fanIn` inputs (kaiming_uniform, a = √5), which
// is also the bound of its bias: U(-1/√fanIn, 1/√fanIn).
inline at::Tensor uniformInit(at::IntArrayRef shape, int64_t fanIn) {
  double bound = fanIn > 0 ? 1.0 / std::sqrt(static_cast<double>(fanIn)) : 0.0;
  return at::empty(shape, at::kFloat).uniform_(-bound, bound);
}

}  // namespace msam::nn
