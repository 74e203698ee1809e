#include "distributed/bindings.h"

#include "distributed/reduce.h"
#include "errors.h"
#include "msam/bindings.h"
#include "tensor.h"
#include "worker.h"

namespace msam {
namespace {

const napi_type_tag kGroupTag = {0x6d73616d64697374ULL, 0x50726f6347726f70ULL};

struct Holder {
  std::shared_ptr<dist::Group> group;
};

Napi::Value wrapGroup(Napi::Env env, std::shared_ptr<dist::Group> group) {
  auto ext = Napi::External<Holder>::New(env, new Holder{std::move(group)}, [](Napi::Env, Holder* h) { delete h; });
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, ext, &kGroupTag), Napi::Value());
  return ext;
}

std::vector<at::Tensor> tensorList(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), what + " must be an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(unwrapTensor(arr.Get(i), what + "[" + std::to_string(i) + "]"));
  return out;
}

int intField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("dist: option '") + name + "' must be a number, got " + typeOfValue(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int>(d))) throw Napi::RangeError::New(o.Env(), std::string("dist: option '") + name + "' must be an integer");
  return static_cast<int>(d);
}

// distInitAsync({ backend, masterAddr, masterPort, rank, worldSize, timeoutMs }) -> Promise<handle>:
// the rendezvous blocks until every rank has joined, so it runs on a worker thread.
Napi::Value InitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "dist: options must be an object");
  auto o = info[0].As<Napi::Object>();
  dist::GroupOptions opts;
  opts.backend = o.Get("backend").ToString().Utf8Value();
  opts.masterAddr = o.Get("masterAddr").ToString().Utf8Value();
  opts.masterPort = intField(o, "masterPort");
  opts.rank = intField(o, "rank");
  opts.worldSize = intField(o, "worldSize");
  opts.timeout = std::chrono::milliseconds(static_cast<int64_t>(intField(o, "timeoutMs")));
  auto slot = std::make_shared<std::shared_ptr<dist::Group>>();
  auto* worker = new PromiseWorker(
      env, "dist.initProcessGroup",
      [opts, slot]() {
        *slot = dist::Group::create(opts);
        return std::vector<c10::IValue>{};
      },
      [slot](Napi::Env env, std::vector<c10::IValue>&, const std::vector<Napi::Value>&) { return wrapGroup(env, *slot); }, {});
  return PromiseWorker::start(worker);
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto g = unwrapGroup(info[0], "group");
  auto out = Napi::Object::New(info.Env());
  out.Set("rank", g->rank());
  out.Set("worldSize", g->size());
  out.Set("backend", g->backend());
  return out;
}

Napi::Value Backends(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("gloo", dist::hasGloo());
  out.Set("nccl", dist::hasNccl());
  return out;
}

// A collective on the JS thread (sync) or a worker thread (async); the tensors change in place.
enum class Op { AllReduce, Broadcast, Barrier };

void runOp(dist::Group& g, Op op, const std::vector<at::Tensor>& tensors, int root) {
  switch (op) {
    case Op::AllReduce:
      g.allReduceSum(tensors);
      break;
    case Op::Broadcast:
      g.broadcast(tensors, root);
      break;
    case Op::Barrier:
      g.barrier();
      break;
  }
}

int rootOf(const Napi::CallbackInfo& info, Op op) {
  if (op != Op::Broadcast) return 0;
  if (!info[2].IsNumber()) throw Napi::TypeError::New(info.Env(), "dist.broadcast: root must be a number");
  return info[2].As<Napi::Number>().Int32Value();
}

template <Op op>
Napi::Value Sync(const Napi::CallbackInfo& info) {
  auto g = unwrapGroup(info[0], "group");
  std::vector<at::Tensor> tensors = op == Op::Barrier ? std::vector<at::Tensor>{} : tensorList(info[1], "tensors");
  runOp(*g, op, tensors, rootOf(info, op));
  return info.Env().Undefined();
}

template <Op op>
Napi::Value Async(const Napi::CallbackInfo& info) {
  auto g = unwrapGroup(info[0], "group");
  std::vector<at::Tensor> tensors = op == Op::Barrier ? std::vector<at::Tensor>{} : tensorList(info[1], "tensors");
  int root = rootOf(info, op);
  const char* what = op == Op::AllReduce ? "dist.allReduce" : op == Op::Broadcast ? "dist.broadcast" : "dist.barrier";
  auto* worker = new PromiseWorker(
      info.Env(), what,
      [g, tensors, root]() {
        runOp(*g, op, tensors, root);
        return std::vector<c10::IValue>{};
      },
      [](Napi::Env env, std::vector<c10::IValue>&, const std::vector<Napi::Value>&) { return env.Undefined(); },
      {info[0], op == Op::Barrier ? info.Env().Undefined() : info[1]});
  return PromiseWorker::start(worker);
}

// distReduceStep(group, params[], stats, localBatch) -> stats: the closure form's all-reduce
// (the native step does the same on its worker thread).
Napi::Value ReduceStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = unwrapGroup(info[0], "group");
  auto params = tensorList(info[1], "params");
  if (!info[2].IsObject()) throw Napi::TypeError::New(env, "stats must be an object");
  auto o = info[2].As<Napi::Object>();
  StepStats s;
  s.loss = o.Get("loss").ToNumber().DoubleValue();
  s.perturbedLoss = o.Get("perturbedLoss").ToNumber().DoubleValue();
  s.gradNorm = o.Get("gradNorm").ToNumber().DoubleValue();
  s.shards = o.Get("shards").ToNumber().Int64Value();
  s.skipped = o.Get("skipped").ToBoolean();
  if (o.Get("skipReason").IsString()) s.skipReason = o.Get("skipReason").As<Napi::String>().Utf8Value();
  dist::reduceStep(*g, params, s, info[3].ToNumber().Int64Value());
  return statsToJs(env, s);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  bool tagged = false;
  if (info[0].IsExternal()) NAPI_THROW_IF_FAILED(info.Env(), napi_check_object_type_tag(info.Env(), info[0], &kGroupTag, &tagged), Napi::Value());
  if (!tagged) throw Napi::TypeError::New(info.Env(), "group must be a process group handle, got " + typeOfValue(info[0]));
  auto* h = info[0].As<Napi::External<Holder>>().Data();
  if (h->group) h->group->close();
  h->group.reset();
  return info.Env().Undefined();
}

}  // namespace

std::shared_ptr<dist::Group> unwrapGroup(const Napi::Value& v, const std::string& what) {
  bool tagged = false;
  if (v.IsExternal()) NAPI_THROW_IF_FAILED(v.Env(), napi_check_object_type_tag(v.Env(), v, &kGroupTag, &tagged), nullptr);
  if (!tagged) throw Napi::TypeError::New(v.Env(), what + " must be a process group handle, got " + typeOfValue(v));
  auto group = v.As<Napi::External<Holder>>().Data()->group;
  if (!group || group->closed()) throw Napi::Error::New(v.Env(), what + ": the process group was closed");
  return group;
}

void initDist(Napi::Env env, Napi::Object exports) {
  exportFunction<InitAsync>(env, exports, "distInitAsync");
  exportFunction<Info>(env, exports, "distInfo");
  exportFunction<Backends>(env, exports, "distBackends");
  exportFunction<Sync<Op::AllReduce>>(env, exports, "distAllReduce");
  exportFunction<Async<Op::AllReduce>>(env, exports, "distAllReduceAsync");
  exportFunction<Sync<Op::Broadcast>>(env, exports, "distBroadcast");
  exportFunction<Async<Op::Broadcast>>(env, exports, "distBroadcastAsync");
  exportFunction<Async<Op::Barrier>>(env, exports, "distBarrierAsync");
  exportFunction<ReduceStep>(env, exports, "distReduceStep");
  exportFunction<Close>(env, exports, "distClose");
}

}  // namespace msam
