// The JS side of dist::Group: a handle is a type-tagged External sharing the group, so the mSAM
// step (on a worker thread) can all-reduce through the group a JS object holds.
#pragma once
#include <memory>

#include "common.h"
#include "distributed/group.h"

namespace msam {

// The group a handle names; a JS TypeError for anything else, an Error once closed.
std::shared_ptr<dist::Group> unwrapGroup(const Napi::Value& v, const std::string& what);

void initDist(Napi::Env env, Napi::Object exports);

}  // namespace msam
