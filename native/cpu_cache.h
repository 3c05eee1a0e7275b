// A caching CPU allocator for libtorch: large freed buffers are kept and handed out again.
#pragma once
#include <node_api.h>

namespace d2c {
napi_value CpuCacheInstall(napi_env env, napi_callback_info info);
napi_value CpuCacheStats(napi_env env, napi_callback_info info);
napi_value CpuCacheRelease(napi_env env, napi_callback_info info);
}  // namespace d2c
