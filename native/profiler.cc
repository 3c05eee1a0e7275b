// Operator profiling through libtorch's own (legacy, CPU) profiler: the same RecordFunction
// ranges PyTorch's profiler reads, so d2c's table and torch.profiler's compare op for op,
// backward included (CPU autograd runs on the calling thread).
#include <torch/csrc/autograd/profiler_legacy.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "convert.h"
#include "profiler.h"

namespace d2c {

namespace prof = torch::autograd::profiler;

namespace {
bool g_profiling = false;
bool g_shapes = false;

// "[16, 32, 32, 32], [32, 32, 3, 3], []": one entry per input, [] for non-tensors.
std::string shapesKey(const prof::LegacyEvent& e) {
  std::string out;
  for (const auto& shape : e.shapes()) {
    if (!out.empty()) out += ", ";
    out += "[";
    for (size_t i = 0; i < shape.size(); i++) out += (i ? ", " : "") + std::to_string(shape[i]);
    out += "]";
  }
  return out;
}

struct Totals {
  int64_t count = 0;
  double totalUs = 0;
  double selfUs = 0;
};
}  // namespace

// profilerStart(withShapes): with shapes, ops are told apart by their input shapes too.
napi_value ProfilerStart(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool withShapes = false;
  if (argc > 0) napi_get_value_bool(env, argv[0], &withShapes);
  if (g_profiling) {
    napi_throw_error(env, nullptr, "profilerStart: the profiler is already running");
    return nullptr;
  }
  try {
    prof::enableProfilerLegacy(
        torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU, /*report_input_shapes=*/withShapes));
    g_profiling = true;
    g_shapes = withShapes;
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("profilerStart: ") + e.what()).c_str());
  }
  return nullptr;
}

// -> [[name (+ " " + input shapes), count, totalUs, selfUs], ...]: self time excludes the ops an op called.
napi_value ProfilerStop(napi_env env, napi_callback_info) {
  if (!g_profiling) {
    napi_throw_error(env, nullptr, "profilerStop: the profiler is not running");
    return nullptr;
  }
  g_profiling = false;
  prof::thread_event_lists lists;
  try {
    lists = prof::disableProfilerLegacy();
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("profilerStop: ") + e.what()).c_str());
    return nullptr;
  }
  std::unordered_map<std::string, Totals> totals;
  std::vector<std::string> order;
  for (const auto& events : lists) {
    struct Open {
      const prof::LegacyEvent* push;
      double childUs;
    };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e, 0});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double us = open.push->cpuElapsedUs(e);
        std::string key = open.push->name();
        if (g_shapes) key += " " + shapesKey(*open.push);
        auto [it, fresh] = totals.try_emplace(key);
        if (fresh) order.push_back(it->first);
        it->second.count++;
        it->second.totalUs += us;
        it->second.selfUs += us - open.childUs;
        if (!stack.empty()) stack.back().childUs += us;
      }
    }
  }
  napi_value out;
  napi_create_array_with_length(env, order.size(), &out);
  for (size_t i = 0; i < order.size(); i++) {
    const Totals& t = totals[order[i]];
    napi_value row, name;
    napi_create_array_with_length(env, 4, &row);
    napi_create_string_utf8(env, order[i].c_str(), order[i].size(), &name);
    napi_set_element(env, row, 0, name);
    napi_set_element(env, row, 1, num(env, static_cast<double>(t.count)));
    napi_set_element(env, row, 2, num(env, t.totalUs));
    napi_set_element(env, row, 3, num(env, t.selfUs));
    napi_set_element(env, out, i, row);
  }
  return out;
}

}  // namespace d2c
