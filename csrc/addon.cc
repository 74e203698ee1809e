// The addon's entry point: each concern registers its own exports.
#include "autograd.h"
#include "distributed/bindings.h"
#include "hessian/bindings.h"
#include "msam/bindings.h"
#include "nn/bindings.h"
#include "ops.h"
#include "optim/binding.h"
#include "profile/op_count.h"
#include "runtime.h"
#include "tensor.h"

namespace msam {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  initTensor(env, exports);
  initOps(env, exports);
  initAutograd(env, exports);
  initRuntime(env, exports);
  nn::initModules(env, exports);
  initMsam(env, exports);
  initOptim(env, exports);
  initHessian(env, exports);
  initDist(env, exports);
  profile::initOpCount(env, exports);
  return exports;
}

}  // namespace msam

static Napi::Object InitMsam(Napi::Env env, Napi::Object exports) { return msam::Init(env, exports); }

NODE_API_MODULE(msam, InitMsam)
