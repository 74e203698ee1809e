// The process-wide runtime: version, seeding, threads and CUDA queries.
#pragma once
#include "common.h"

namespace msam {
void initRuntime(Napi::Env env, Napi::Object exports);
}
