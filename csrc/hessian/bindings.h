// The loss-landscape analyses from JS: Hessian-vector products, the top Hessian eigenvalues, the
// Hessian's trace and m-sharpness of a native model over given batches.
#pragma once
#include "common.h"

namespace msam {
void initHessian(Napi::Env env, Napi::Object exports);
}
