// libtorch's CPU operator profiler, exposed to JS (src/torch/profiler.ts).
#pragma once
#include <node_api.h>

namespace d2c {
napi_value ProfilerStart(napi_env env, napi_callback_info info);
napi_value ProfilerStop(napi_env env, napi_callback_info info);
}  // namespace d2c
