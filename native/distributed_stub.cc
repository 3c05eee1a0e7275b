// Built instead of distributed.cc when setup found no c10d/gloo to build against: every call but
// distAvailable throws, and src/torch/distributed.ts adds the reason setup recorded.
#include "distributed.h"

#include "convert.h"

namespace d2c {
namespace {
napi_value unavailable(napi_env env, napi_callback_info) {
  throwJs(env, "torch.distributed is not built into this addon");
  return nullptr;
}
}  // namespace

napi_value DistAvailable(napi_env env, napi_callback_info) {
  napi_value v;
  napi_get_boolean(env, false, &v);
  return v;
}
napi_value DistInit(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value DistDestroy(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value DistAllReduce(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value DistBroadcast(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value DistAllGather(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value DistBarrier(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value DistWait(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value DistIsCompleted(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value GradSyncCreate(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value GradSyncArm(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value GradSyncFinish(napi_env env, napi_callback_info i) { return unavailable(env, i); }
napi_value GradSyncFree(napi_env env, napi_callback_info i) { return unavailable(env, i); }
}  // namespace d2c
