#include "runtime.h"

#include "errors.h"
#include "msam/graph.h"
#include "tensor.h"

#include <ATen/Parallel.h>

#ifdef MSAM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace msam {
namespace {

// version() -> { libtorch: '1.13.0', cuda: '12.8' | null }
Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("libtorch", Napi::String::New(env, TORCH_VERSION));
  Napi::Value cuda = env.Null();
#ifdef MSAM_WITH_CUDA
  // The CUDA runtime loaded with libtorch_cuda (e.g. 13020), which answers without a GPU, unlike
  // at::hasCUDA(): a CUDA binary says so on a machine with no device too.
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess && v > 0) {
    cuda = Napi::String::New(env, std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10));
  }
#endif
  out.Set("cuda", cuda);
  return out;
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "manualSeed: seed must be a non-negative integer");
  double seed = info[0].As<Napi::Number>().DoubleValue();
  if (seed < 0 || seed != static_cast<double>(static_cast<uint64_t>(seed))) {
    throw Napi::TypeError::New(info.Env(), "manualSeed: seed must be a non-negative integer");
  }
  at::manual_seed(static_cast<uint64_t>(seed));  // CPU and every CUDA device
  return info.Env().Undefined();
}

// rngState(device) -> a uint8 tensor with the state of that device's default generator
Napi::Value RngState(const Napi::CallbackInfo& info) {
  at::Device d = info[0].IsString() ? parseDevice(info.Env(), info[0].As<Napi::String>(), "rngState") : at::Device(at::kCPU);
  at::Generator gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return wrapTensor(info.Env(), gen.get_state());
}

// setRngState(device, state): restores a state rngState returned
Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  at::Device d = info[0].IsString() ? parseDevice(info.Env(), info[0].As<Napi::String>(), "setRngState") : at::Device(at::kCPU);
  const at::Tensor& state = unwrapTensor(info[1], "setRngState: state");
  at::Generator gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1) {
    throw Napi::TypeError::New(info.Env(), "setNumThreads: n must be a positive integer");
  }
  at::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::cuda::is_available());
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  if (!torch::cuda::is_available()) throw Napi::Error::New(info.Env(), "cuda.synchronize: CUDA is not available");
  torch::cuda::synchronize(info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1);
  return info.Env().Undefined();
}

// cudaMemory(device) -> { allocated, reserved, peakAllocated } from the caching allocator
Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef MSAM_WITH_CUDA
  if (!torch::cuda::is_available()) return env.Null();
  auto device = static_cast<c10::DeviceIndex>(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0);
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  auto out = Napi::Object::New(env);
  // index 0 is StatType::AGGREGATE in every libtorch version (its namespace moved over time)
  out.Set("allocated", Napi::Number::New(env, static_cast<double>(stats.allocated_bytes[0].current)));
  out.Set("reserved", Napi::Number::New(env, static_cast<double>(stats.reserved_bytes[0].current)));
  out.Set("peakAllocated", Napi::Number::New(env, static_cast<double>(stats.allocated_bytes[0].peak)));
  return out;
#else
  return env.Null();
#endif
}

// cudaDeviceName(device) -> "NVIDIA H200" (null without CUDA): for `msam doctor`
Napi::Value CudaDeviceName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef MSAM_WITH_CUDA
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "cudaDeviceName: device must be an index");
  int64_t device = info[0].As<Napi::Number>().Int64Value();
  if (!torch::cuda::is_available() || device < 0 || device >= static_cast<int64_t>(torch::cuda::device_count())) {
    throw Napi::RangeError::New(env, "cudaDeviceName: no CUDA device " + std::to_string(device));
  }
  return Napi::String::New(env, at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(device))->name);
#else
  return env.Null();
#endif
}

// cudaResetPeakMemoryStats(device): the caching allocator's peaks start again from the current values
Napi::Value CudaResetPeakMemoryStats(const Napi::CallbackInfo& info) {
#ifdef MSAM_WITH_CUDA
  if (torch::cuda::is_available()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0));
  }
#endif
  return info.Env().Undefined();
}

// cudaEmptyCache(): lets go of the 'graph' strategy's captured step, then returns the caching
// allocator's unused blocks to the driver (torch.cuda.empty_cache()).
Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
  releaseCapturedStep();
#ifdef MSAM_WITH_CUDA
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  return info.Env().Undefined();
}

// TF32 for float32 on CUDA, as torch.backends.cuda.matmul.allow_tf32 (cuBLAS) and
// torch.backends.cudnn.allow_tf32 (cuDNN convolutions); libtorch's defaults are PyTorch's.
Napi::Value GetAllowTf32(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("matmul", at::globalContext().allowTF32CuBLAS());
  out.Set("cudnn", at::globalContext().allowTF32CuDNN());
  return out;
}

// setAllowTf32('matmul' | 'cudnn', on)
Napi::Value SetAllowTf32(const Napi::CallbackInfo& info) {
  std::string which = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (!info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setAllowTf32: on must be a boolean");
  bool on = info[1].As<Napi::Boolean>().Value();
  if (which == "matmul") {
    at::globalContext().setAllowTF32CuBLAS(on);
  } else if (which == "cudnn") {
    at::globalContext().setAllowTF32CuDNN(on);
  } else {
    throw Napi::TypeError::New(info.Env(), "setAllowTf32: which must be 'matmul' or 'cudnn'");
  }
  return info.Env().Undefined();
}

// torch.get_float32_matmul_precision(): 'highest' | 'high' | 'medium'
Napi::Value GetFloat32MatmulPrecision(const Napi::CallbackInfo& info) {
  switch (at::globalContext().float32MatmulPrecision()) {
    case at::Float32MatmulPrecision::HIGH:
      return Napi::String::New(info.Env(), "high");
    case at::Float32MatmulPrecision::MEDIUM:
      return Napi::String::New(info.Env(), "medium");
    default:
      return Napi::String::New(info.Env(), "highest");
  }
}

Napi::Value SetFloat32MatmulPrecision(const Napi::CallbackInfo& info) {
  std::string p = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (p != "highest" && p != "high" && p != "medium") {
    throw Napi::TypeError::New(info.Env(), "setFloat32MatmulPrecision: precision must be 'highest', 'high' or 'medium'");
  }
  at::globalContext().setFloat32MatmulPrecision(p);
  return info.Env().Undefined();
}

}  // namespace

void initRuntime(Napi::Env env, Napi::Object exports) {
  exportFunction<Version>(env, exports, "version");
  exportFunction<ManualSeed>(env, exports, "manualSeed");
  exportFunction<RngState>(env, exports, "rngState");
  exportFunction<SetRngState>(env, exports, "setRngState");
  exportFunction<GetNumThreads>(env, exports, "getNumThreads");
  exportFunction<SetNumThreads>(env, exports, "setNumThreads");
  exportFunction<CudaIsAvailable>(env, exports, "cudaIsAvailable");
  exportFunction<CudaDeviceCount>(env, exports, "cudaDeviceCount");
  exportFunction<CudaSynchronize>(env, exports, "cudaSynchronize");
  exportFunction<CudaMemory>(env, exports, "cudaMemory");
  exportFunction<CudaDeviceName>(env, exports, "cudaDeviceName");
  exportFunction<CudaResetPeakMemoryStats>(env, exports, "cudaResetPeakMemoryStats");
  exportFunction<CudaEmptyCache>(env, exports, "cudaEmptyCache");
  exportFunction<GetAllowTf32>(env, exports, "getAllowTf32");
  exportFunction<SetAllowTf32>(env, exports, "setAllowTf32");
  exportFunction<GetFloat32MatmulPrecision>(env, exports, "getFloat32MatmulPrecision");
  exportFunction<SetFloat32MatmulPrecision>(env, exports, "setFloat32MatmulPrecision");
}

}  // namespace msam
