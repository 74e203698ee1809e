#include "tensor.h"

#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "errors.h"

namespace msam {
namespace {

// Handles are Externals whose "pointer" is not a pointer but (generation << 32 | slot) into this
// table: creating one needs no finalizer (Node-API finalizers cost more than a small op), a stale
// or forged handle is detected without touching freed memory, and a disposed slot is reused
// under a new generation. The GC backstop is a FinalizationRegistry on the JS side (tensor/core.ts)
// that disposes the handle of a collected Tensor.
struct Slot {
  at::Tensor tensor;
  uint32_t generation = 1;
  uint32_t index = 0;
  int64_t reportedBytes = 0;  // what napi_adjust_external_memory was told for this handle
};
std::deque<Slot> gSlots;  // a deque: references into it stay valid as it grows
std::vector<uint32_t> gFreeSlots;

int64_t gLiveTensors = 0;

// V8 is told of CPU bytes so that its GC feels native memory: each handle reports its storage's
// bytes when its result owns that storage alone (a fresh result, not a view of a live tensor),
// and takes back exactly what it reported when released: symmetric per handle, O(1), no map.
int64_t reportableBytes(const at::Tensor& t) {
  if (!t.has_storage() || !t.device().is_cpu()) return 0;
  const auto& storage = t.storage();
  return storage.use_count() == 1 ? static_cast<int64_t>(storage.nbytes()) : 0;
}

// The slot a handle names, or null for anything that is not a live-or-disposed tensor handle.
// `disposed` tells which: a known slot whose generation moved on.
Slot* slotOf(const Napi::Value& v, bool* disposed) {
  *disposed = false;
  void* raw = nullptr;
  // Fails (napi_invalid_arg) for anything but an External: no napi_typeof needed on this hot path.
  if (v.IsEmpty() || napi_get_value_external(v.Env(), v, &raw) != napi_ok) return nullptr;
  auto bits = reinterpret_cast<uintptr_t>(raw);
  auto index = static_cast<uint32_t>(bits & 0xffffffffu);
  auto generation = static_cast<uint32_t>(bits >> 32);
  if (index >= gSlots.size() || generation == 0 || generation > gSlots[index].generation) return nullptr;
  Slot& slot = gSlots[index];
  if (generation != slot.generation || !slot.tensor.defined()) {
    *disposed = true;
    return nullptr;
  }
  return &slot;
}

// Disposes the handle's tensor; false when it was disposed already.
bool release(Napi::Env env, const Napi::Value& v) {
  bool disposed = false;
  Slot* slot = slotOf(v, &disposed);
  if (!slot) return false;
  --gLiveTensors;
  if (slot->reportedBytes) Napi::MemoryManagement::AdjustExternalMemory(env, -slot->reportedBytes);
  slot->reportedBytes = 0;
  slot->tensor = at::Tensor();
  ++slot->generation;
  gFreeSlots.push_back(slot->index);
  return true;
}

// Results never carry undefined tensors (convert.cc maps them to null): a live slot is defined.
}  // namespace

std::string typeOfValue(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsArray()) return "an array";
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsFunction()) return "a function";
  if (v.IsExternal()) return "a foreign native handle";
  return "an object";
}

namespace {

// ---- creation and read-back -------------------------------------------------------------

at::ScalarType typedArrayScalarType(Napi::Env env, napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_int16_array: return at::kShort;
    case napi_int8_array: return at::kChar;
    case napi_uint8_array:
    case napi_uint8_clamped_array: return at::kByte;
    case napi_bigint64_array: return at::kLong;
    default: throw Napi::TypeError::New(env, "tensor: unsupported typed array (use Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array, Int16Array or Int8Array)");
  }
}

std::vector<int64_t> toShape(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), what + ": shape must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> shape(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
    if (!e.IsNumber() || d < 0 || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw Napi::TypeError::New(v.Env(), what + ": shape must hold non-negative integers");
    }
    shape[i] = static_cast<int64_t>(d);
  }
  return shape;
}

// fromData(typedArray, shape, dtype|null, device|null, requiresGrad) -> handle
Napi::Value FromData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "tensor: data must be a typed array");
  auto data = info[0].As<Napi::TypedArray>();
  auto shape = toShape(info[1], "tensor");
  int64_t numel = 1;
  for (auto s : shape) numel *= s;
  if (numel != static_cast<int64_t>(data.ElementLength())) {
    throw Napi::RangeError::New(env, "tensor: " + std::to_string(data.ElementLength()) + " values do not fill shape " +
                                         c10::str(c10::IntArrayRef(shape)) + " (" + std::to_string(numel) + " elements)");
  }
  at::ScalarType src = typedArrayScalarType(env, data.TypedArrayType());
  at::ScalarType dtype = info[2].IsString() ? parseDtype(env, info[2].As<Napi::String>(), "tensor") : src;
  at::Device device = info[3].IsString() ? parseDevice(env, info[3].As<Napi::String>(), "tensor") : at::Device(at::kCPU);
  auto* bytes = static_cast<uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  at::Tensor view = at::from_blob(bytes, shape, at::TensorOptions().dtype(src));
  at::Tensor t = view.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  if (info[4].ToBoolean()) t.set_requires_grad(true);
  return wrapTensor(env, std::move(t));
}

// data(handle) -> a typed-array copy (float16/bfloat16 widen to Float32Array, bool to Uint8Array)
Napi::Value Data(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = unwrapTensor(info[0], "data").detach();
  at::ScalarType out = t.scalar_type();
  if (out == at::kHalf || out == at::kBFloat16) out = at::kFloat;
  if (out == at::kBool) out = at::kByte;
  t = t.to(at::kCPU, out).contiguous();
  size_t n = static_cast<size_t>(t.numel());
  size_t nbytes = n * t.element_size();
  auto buffer = Napi::ArrayBuffer::New(env, nbytes);
  if (nbytes) std::memcpy(buffer.Data(), t.data_ptr(), nbytes);
  napi_typedarray_type kind;
  switch (out) {
    case at::kFloat: kind = napi_float32_array; break;
    case at::kDouble: kind = napi_float64_array; break;
    case at::kInt: kind = napi_int32_array; break;
    case at::kLong: kind = napi_bigint64_array; break;
    case at::kShort: kind = napi_int16_array; break;
    case at::kChar: kind = napi_int8_array; break;
    case at::kByte: kind = napi_uint8_array; break;
    default: throw Napi::TypeError::New(env, "data: dtype " + dtypeName(t.scalar_type()) + " has no typed-array form");
  }
  napi_value result;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, kind, n, buffer, 0, &result), Napi::Value());
  return Napi::Value(env, result);
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  const at::Tensor& t = unwrapTensor(info[0], "item");
  at::Scalar s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(info.Env(), s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(info.Env(), static_cast<double>(s.toLong()));
  return Napi::Number::New(info.Env(), s.toDouble());
}

// info(handle) -> [shape, dtype, device, requiresGrad, gradFn, isLeaf]
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = unwrapTensor(info[0], "tensor");
  auto sizes = t.sizes();
  auto shape = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) shape.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  auto out = Napi::Array::New(env, 6);
  out.Set(0u, shape);
  out.Set(1u, Napi::String::New(env, dtypeName(t.scalar_type())));
  out.Set(2u, Napi::String::New(env, deviceName(t.device())));
  out.Set(3u, Napi::Boolean::New(env, t.requires_grad()));
  auto fn = t.grad_fn();
  out.Set(4u, fn ? Napi::Value(Napi::String::New(env, fn->name())) : env.Null());
  out.Set(5u, Napi::Boolean::New(env, t.is_leaf()));
  return out;
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto sizes = unwrapTensor(info[0], "shape").sizes();
  auto shape = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) shape.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  return shape;
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtypeName(unwrapTensor(info[0], "dtype").scalar_type()));
}

Napi::Value Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(unwrapTensor(info[0], "numel").numel()));
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  bool disposed = false;
  Slot* slot = slotOf(info[0], &disposed);
  if (!slot && !disposed) throw Napi::TypeError::New(info.Env(), "isDisposed: expected a tensor handle, got " + typeOfValue(info[0]));
  return Napi::Boolean::New(info.Env(), disposed);
}

// dispose(handle) -> whether it was live. Disposing twice is harmless.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  bool disposed = false;
  if (!slotOf(info[0], &disposed) && !disposed) {
    throw Napi::TypeError::New(info.Env(), "dispose: expected a tensor handle, got " + typeOfValue(info[0]));
  }
  return Napi::Boolean::New(info.Env(), release(info.Env(), info[0]));
}

// memory() -> { tensors, storages, bytes, byDevice: { 'cpu': n, 'cuda:0': n } }, counted now over
// the live handles (views share a storage, counted once).
Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::unordered_set<const void*> seen;
  std::map<std::string, int64_t> byDevice;
  int64_t total = 0;
  for (const auto& slot : gSlots) {
    const at::Tensor& t = slot.tensor;
    if (!t.defined() || !t.has_storage() || !seen.insert(t.storage().unsafeGetStorageImpl()).second) continue;
    auto bytes = static_cast<int64_t>(t.storage().nbytes());
    byDevice[deviceName(t.device())] += bytes;
    total += bytes;
  }
  auto devices = Napi::Object::New(env);
  for (const auto& kv : byDevice) devices.Set(kv.first, Napi::Number::New(env, static_cast<double>(kv.second)));
  auto out = Napi::Object::New(env);
  out.Set("tensors", Napi::Number::New(env, static_cast<double>(gLiveTensors)));
  out.Set("storages", Napi::Number::New(env, static_cast<double>(seen.size())));
  out.Set("bytes", Napi::Number::New(env, static_cast<double>(total)));
  out.Set("byDevice", devices);
  return out;
}

}  // namespace

Napi::Value wrapTensor(Napi::Env env, at::Tensor t) {
  uint32_t index;
  if (!gFreeSlots.empty()) {
    index = gFreeSlots.back();
    gFreeSlots.pop_back();
  } else {
    index = static_cast<uint32_t>(gSlots.size());
    gSlots.emplace_back().index = index;
  }
  Slot& slot = gSlots[index];
  slot.tensor = std::move(t);
  ++gLiveTensors;
  slot.reportedBytes = reportableBytes(slot.tensor);
  if (slot.reportedBytes) Napi::MemoryManagement::AdjustExternalMemory(env, slot.reportedBytes);
  auto bits = (static_cast<uintptr_t>(slot.generation) << 32) | index;
  napi_value ext;
  NAPI_THROW_IF_FAILED(env, napi_create_external(env, reinterpret_cast<void*>(bits), nullptr, nullptr, &ext), Napi::Value());
  return Napi::Value(env, ext);
}

const at::Tensor* findTensor(const Napi::Value& v, bool* disposed) {
  Slot* slot = slotOf(v, disposed);
  return slot ? &slot->tensor : nullptr;
}

bool isTensorHandle(Napi::Env, const Napi::Value& v) {
  bool disposed = false;
  return slotOf(v, &disposed) != nullptr;
}

const at::Tensor& unwrapTensor(const Napi::Value& v, const std::string& what) {
  bool disposed = false;
  Slot* slot = slotOf(v, &disposed);
  if (!slot) {
    if (disposed) throw Napi::Error::New(v.Env(), what + " is a disposed tensor");
    throw Napi::TypeError::New(v.Env(), what + " must be a Tensor, got " + typeOfValue(v));
  }
  return slot->tensor;
}

at::ScalarType parseDtype(Napi::Env env, const std::string& name, const std::string& what) {
  static const std::unordered_map<std::string, at::ScalarType> kDtypes = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"bfloat16", at::kBFloat16}, {"float16", at::kHalf},
      {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},       {"int8", at::kChar},
      {"uint8", at::kByte},    {"bool", at::kBool},
  };
  auto it = kDtypes.find(name);
  if (it == kDtypes.end()) {
    throw Napi::TypeError::New(env, what + ": unknown dtype '" + name +
                                        "' (expected float32, float64, bfloat16, float16, int64, int32, int16, int8, uint8 or bool)");
  }
  return it->second;
}

std::string dtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(t);
  }
}

at::Device parseDevice(Napi::Env env, const std::string& name, const std::string& what) {
  auto bad = [&](const std::string& why) { return Napi::Error::New(env, what + ": " + why); };
  if (name == "cpu") return at::Device(at::kCPU);
  int index = -1;
  if (name.rfind("cuda", 0) == 0) {
    std::string rest = name.substr(4);
    if (!rest.empty()) {
      bool digits = rest.size() > 1 && rest[0] == ':' && rest.size() < 6 &&
                    std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) throw bad("unknown device '" + name + "' (expected 'cpu', 'cuda' or 'cuda:N')");
      index = std::stoi(rest.substr(1));
    }
    if (!torch::cuda::is_available()) {
      throw bad("device '" + name + "' is not available: " +
                (at::hasCUDA() ? "no CUDA device was found" : "this libtorch was built without CUDA"));
    }
    int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count) {
      throw bad("device '" + name + "' does not exist (" + std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") + ")");
    }
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index < 0 ? 0 : index));
  }
  throw bad("unknown device '" + name + "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

std::string deviceName(const at::Device& d) {
  if (d.is_cpu()) return "cpu";
  return d.str();
}

void initTensor(Napi::Env env, Napi::Object exports) {
  exportFunction<FromData>(env, exports, "fromData");
  exportFunction<Data>(env, exports, "data");
  exportFunction<Item>(env, exports, "item");
  exportFunction<Info>(env, exports, "info");
  exportFunction<Shape>(env, exports, "shape");
  exportFunction<Dtype>(env, exports, "dtype");
  exportFunction<Numel>(env, exports, "numel");
  exportFunction<IsDisposed>(env, exports, "isDisposed");
  exportFunction<Dispose>(env, exports, "dispose");
  exportFunction<Memory>(env, exports, "memory");
}

}  // namespace msam
