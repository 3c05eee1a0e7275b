// torch.distributed for JS: c10d process groups (TCPStore rendezvous, Gloo on CPU, NCCL on CUDA),
// their collectives with async work handles, and GradSync, the bucketed gradient averaging of
// data-parallel training. distributed.cc is built when setup finds c10d + gloo headers and a
// libtorch with distributed support; otherwise distributed_stub.cc, whose calls throw.
#pragma once
#include <node_api.h>

namespace d2c {
napi_value DistAvailable(napi_env env, napi_callback_info info);
napi_value DistInit(napi_env env, napi_callback_info info);
napi_value DistDestroy(napi_env env, napi_callback_info info);
napi_value DistAllReduce(napi_env env, napi_callback_info info);
napi_value DistBroadcast(napi_env env, napi_callback_info info);
napi_value DistAllGather(napi_env env, napi_callback_info info);
napi_value DistBarrier(napi_env env, napi_callback_info info);
napi_value DistWait(napi_env env, napi_callback_info info);
napi_value DistIsCompleted(napi_env env, napi_callback_info info);
napi_value GradSyncCreate(napi_env env, napi_callback_info info);
napi_value GradSyncArm(napi_env env, napi_callback_info info);
napi_value GradSyncFinish(napi_env env, napi_callback_info info);
napi_value GradSyncFree(napi_env env, napi_callback_info info);
}  // namespace d2c

#define D2C_DIST_FUNCTIONS                                                                              \
  {"distAvailable", DistAvailable}, {"distInit", DistInit}, {"distDestroy", DistDestroy},              \
      {"distAllReduce", DistAllReduce}, {"distBroadcast", DistBroadcast},                              \
      {"distAllGather", DistAllGather}, {"distBarrier", DistBarrier}, {"distWait", DistWait},          \
      {"distIsCompleted", DistIsCompleted}, {"gradSyncCreate", GradSyncCreate},                        \
      {"gradSyncArm", GradSyncArm}, {"gradSyncFinish", GradSyncFinish}, {"gradSyncFree", GradSyncFree}
