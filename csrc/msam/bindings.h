// The mSAM step from JS: synchronous, or on a libuv worker thread (a Promise).
#pragma once
#include "common.h"

namespace msam {
void initMsam(Napi::Env env, Napi::Object exports);
}
