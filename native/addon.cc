// d2c native addon: calls any ATen operator by schema name through the boxed dispatcher,
// plus the few things that are not operators (data in/out, autograd, generators, threads).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/version.h>

#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unordered_map>

#include "convert.h"
#include "cpu_cache.h"
#include "distributed.h"
#include "fast_ops.h"
#include "profiler.h"

using namespace d2c;

namespace {

// Per thread, i.e. per Node environment, like the tensor table (convert.cc): each environment's JS
// resolves its own operator ids, and no table is shared between threads.
thread_local std::vector<OpEntry> g_ops;
thread_local std::unordered_map<std::string, int32_t> g_op_ids;

napi_value undefinedValue(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

napi_value str(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}

int64_t intArg(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw JsError{"expected a number"};
  return static_cast<int64_t>(d);
}

bool boolArg(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

std::string strArg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) throw JsError{"expected a string"};
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

std::vector<int64_t> intListArg(napi_env env, napi_value v) {
  bool isArr = false;
  napi_is_array(env, v, &isArr);
  if (!isArr) throw JsError{"expected an array of integers"};
  uint32_t n;
  napi_get_array_length(env, v, &n);
  std::vector<int64_t> out(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out[i] = intArg(env, e);
  }
  return out;
}

std::vector<at::Tensor> tensorListArg(napi_env env, napi_value v, bool allowNull) {
  bool isArr = false;
  napi_is_array(env, v, &isArr);
  if (!isArr) throw JsError{"expected an array of tensors"};
  uint32_t n;
  napi_get_array_length(env, v, &n);
  std::vector<at::Tensor> out(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    napi_valuetype t;
    napi_typeof(env, e, &t);
    if (allowNull && (t == napi_null || t == napi_undefined)) continue;
    out[i] = tensorArg(env, e);
  }
  return out;
}

napi_value tensorArray(napi_env env, const std::vector<at::Tensor>& ts) {
  napi_value arr;
  napi_create_array_with_length(env, ts.size(), &arr);
  for (size_t i = 0; i < ts.size(); i++) napi_set_element(env, arr, i, wrapTensor(env, ts[i]));
  return arr;
}

// ---- operators -------------------------------------------------------------------------

// op(name, overload) -> id. Handles and argument kinds are resolved once and cached.
napi_value Op(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  std::string name = strArg(env, a.argv[0]);
  std::string overload = a.argc > 1 ? strArg(env, a.argv[1]) : "";
  std::string key = overload.empty() ? name : name + "." + overload;
  auto it = g_op_ids.find(key);
  if (it != g_op_ids.end()) return num(env, it->second);
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw JsError{"unknown operator " + key};
  OpEntry e{*handle, key, specsFromSchema(handle->schema()), handle->schema().returns().size(), fastOpFor(key)};
  g_ops.push_back(std::move(e));
  int32_t id = static_cast<int32_t>(g_ops.size() - 1);
  g_op_ids[key] = id;
  return num(env, id);
  GUARD_END("")
}

std::string describeCall(napi_env env, const OpEntry& op, const Args& a) {
  std::string s = " (called with ";
  for (size_t i = 1; i < a.argc && i <= op.args.size(); i++) {
    s += (i > 1 ? ", " : "") + describeArg(env, a.argv[i], op.args[i - 1]);
  }
  return s + ")";
}

thread_local torch::jit::Stack g_stack;  // reused by every call of this thread: calls never nest

napi_value callImpl(napi_env env, napi_callback_info info, bool wantResult) {
  Args a(env, info);
  int32_t id = -1;
  napi_get_value_int32(env, a.argv[0], &id);
  if (id < 0 || static_cast<size_t>(id) >= g_ops.size()) {
    throwJs(env, "invalid operator id");
    return nullptr;
  }
  const OpEntry& op = g_ops[id];
  if (a.argc - 1 > op.args.size()) {
    throwJs(env, op.name + ": takes " + std::to_string(op.args.size()) + " arguments, got " +
                     std::to_string(a.argc - 1));
    return nullptr;
  }
  try {
    if (op.fast != nullptr) {
      at::Tensor result;
      if (op.fast(env, a, result)) return wantResult ? wrapTensor(env, std::move(result)) : undefinedValue(env);
    }
    torch::jit::Stack& stack = g_stack;
    stack.clear();
    for (size_t i = 0; i < op.args.size(); i++) stack.push_back(fromJs(env, a.argv[i + 1], op.args[i]));
    op.handle.callBoxed(stack);
    napi_value out;
    if (!wantResult) {
      out = undefinedValue(env);
    } else if (stack.size() == 1) {
      out = toJs(env, stack[0]);
    } else {
      napi_create_array_with_length(env, stack.size(), &out);
      for (size_t i = 0; i < stack.size(); i++) napi_set_element(env, out, i, toJs(env, stack[i]));
    }
    stack.clear();  // release the results' references now, not at the next call
    return out;
  } catch (const JsError& e) {
    g_stack.clear();
    throwJs(env, op.name + ": " + e.message + describeCall(env, op, a));
  } catch (const c10::Error& e) {
    g_stack.clear();
    throwJs(env, op.name + ": " + e.what_without_backtrace() + describeCall(env, op, a));
  } catch (const std::exception& e) {
    g_stack.clear();
    throwJs(env, op.name + ": " + e.what() + describeCall(env, op, a));
  }
  return nullptr;
}

napi_value Call(napi_env env, napi_callback_info info) { return callImpl(env, info, true); }
napi_value CallVoid(napi_env env, napi_callback_info info) { return callImpl(env, info, false); }

// returnKinds(id) -> one letter per return: 't' tensor (or optional tensor), 'l' tensor list, 'o' other.
napi_value ReturnKinds(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t id = -1;
  napi_get_value_int32(env, a.argv[0], &id);
  if (id < 0 || static_cast<size_t>(id) >= g_ops.size()) return nullptr;
  std::string kinds;
  for (const auto& r : g_ops[id].handle.schema().returns()) {
    c10::TypePtr t = r.type();
    if (t->kind() == c10::TypeKind::OptionalType) t = t->castRaw<c10::OptionalType>()->getElementType();
    if (t->kind() == c10::TypeKind::TensorType) kinds += 't';
    else if (t->kind() == c10::TypeKind::ListType &&
             t->castRaw<c10::ListType>()->getElementType()->kind() == c10::TypeKind::TensorType) kinds += 'l';
    else kinds += 'o';
  }
  return str(env, kinds);
}

napi_value Schema(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t id = -1;
  napi_get_value_int32(env, a.argv[0], &id);
  if (id < 0 || static_cast<size_t>(id) >= g_ops.size()) return nullptr;
  std::ostringstream s;
  s << g_ops[id].handle.schema();
  return str(env, s.str());
}

// ---- tensor handles --------------------------------------------------------------------

// The tensor id a handle call gets as its only argument; -1 (never live) if it is not a number.
double idArg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double id = -1;
  if (argc >= 1) napi_get_value_double(env, argv[0], &id);
  return id;
}

// free(id) -> whether the id was live (a stale id is ignored: the GC safety net may race dispose).
napi_value Free(napi_env env, napi_callback_info info) { return boolean(env, freeTensor(env, idArg(env, info))); }

// watch(id) -> whether it started reporting the tensor's bytes to V8 (see watchTensor).
napi_value Watch(napi_env env, napi_callback_info info) { return boolean(env, watchTensor(env, idArg(env, info))); }

napi_value IsLive(napi_env env, napi_callback_info info) { return boolean(env, lookupTensor(idArg(env, info)) != nullptr); }

napi_value Shape(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  const at::Tensor& t = tensorArg(env, a.argv[0]);
  napi_value arr;
  int64_t d = t.dim();
  napi_create_array_with_length(env, d, &arr);
  for (int64_t i = 0; i < d; i++) napi_set_element(env, arr, i, num(env, t.size(i)));
  return arr;
  GUARD_END("shape: ")
}

napi_value Strides(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  const at::Tensor& t = tensorArg(env, a.argv[0]);
  napi_value arr;
  napi_create_array_with_length(env, t.dim(), &arr);
  for (int64_t i = 0; i < t.dim(); i++) napi_set_element(env, arr, i, num(env, t.stride(i)));
  return arr;
  GUARD_END("stride: ")
}

// meta(t) -> [dtype code, device string, requiresGrad, isLeaf, dim]
napi_value Meta(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  const at::Tensor& t = tensorArg(env, a.argv[0]);
  napi_value arr;
  napi_create_array_with_length(env, 5, &arr);
  napi_set_element(env, arr, 0, num(env, static_cast<int>(t.scalar_type())));
  napi_set_element(env, arr, 1, str(env, t.device().str()));
  napi_set_element(env, arr, 2, boolean(env, t.requires_grad()));
  napi_set_element(env, arr, 3, boolean(env, t.is_leaf()));
  napi_set_element(env, arr, 4, num(env, t.dim()));
  return arr;
  GUARD_END("")
}

napi_value Dtype(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  return num(env, static_cast<int>(tensorArg(env, a.argv[0]).scalar_type()));
  GUARD_END("")
}

napi_value IsContiguous(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  return boolean(env, tensorArg(env, a.argv[0]).is_contiguous());
  GUARD_END("")
}

// fromBuffer(typedArrayOrArrayBuffer, shape, dtypeCode) copies the bytes into a new CPU tensor.
napi_value FromBuffer(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  void* data = nullptr;
  size_t byteLength = 0;
  bool isTyped = false, isAB = false;
  napi_is_typedarray(env, a.argv[0], &isTyped);
  napi_is_arraybuffer(env, a.argv[0], &isAB);
  if (isTyped) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    napi_get_typedarray_info(env, a.argv[0], &type, &length, &data, &ab, &offset);
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    byteLength = length * elem;
  } else if (isAB) {
    napi_get_arraybuffer_info(env, a.argv[0], &data, &byteLength);
  } else {
    throw JsError{"fromBuffer: expected a TypedArray, Buffer or ArrayBuffer"};
  }
  auto shape = intListArg(env, a.argv[1]);
  auto dtype = static_cast<at::ScalarType>(intArg(env, a.argv[2]));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  size_t need = t.numel() * t.element_size();
  if (need != byteLength) {
    throw JsError{"fromBuffer: shape " + c10::str(t.sizes()) + " of " + c10::toString(dtype) + " needs " +
                  std::to_string(need) + " bytes, got " + std::to_string(byteLength)};
  }
  if (need) std::memcpy(t.data_ptr(), data, need);
  return wrapTensor(env, std::move(t));
  GUARD_END("")
}

// toBuffer(t) -> ArrayBuffer with the tensor's elements (moved to CPU, contiguous).
napi_value ToBuffer(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  c10::InferenceMode guard;
  at::Tensor t = tensorArg(env, a.argv[0]).detach().to(at::kCPU).contiguous();
  size_t n = t.numel() * t.element_size();
  void* out = nullptr;
  napi_value ab;
  napi_create_arraybuffer(env, n, &out, &ab);
  if (n) std::memcpy(out, t.data_ptr(), n);
  return ab;
  GUARD_END("toBuffer: ")
}

napi_value Item(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  const at::Tensor& t = tensorArg(env, a.argv[0]);
  if (t.numel() != 1) throw JsError{"a tensor with " + std::to_string(t.numel()) + " elements cannot be converted to a number"};
  at::Scalar s = t.item();
  if (s.isBoolean()) return boolean(env, s.toBool());
  return num(env, s.toDouble());
  GUARD_END("item: ")
}

// ---- autograd --------------------------------------------------------------------------

napi_value SetRequiresGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  at::Tensor t = tensorArg(env, a.argv[0]);
  t.set_requires_grad(boolArg(env, a.argv[1]));
  return undefinedValue(env);
  GUARD_END("requiresGrad: ")
}

napi_value Grad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  return wrapTensor(env, tensorArg(env, a.argv[0]).grad());
  GUARD_END("grad: ")
}

napi_value SetGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  at::Tensor t = tensorArg(env, a.argv[0]);
  napi_valuetype vt;
  napi_typeof(env, a.argv[1], &vt);
  if (vt == napi_null || vt == napi_undefined) t.mutable_grad() = at::Tensor();
  else t.mutable_grad() = tensorArg(env, a.argv[1]);
  return undefinedValue(env);
  GUARD_END("grad: ")
}

napi_value RetainGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  tensorArg(env, a.argv[0]).retain_grad();
  return undefinedValue(env);
  GUARD_END("retainGrad: ")
}

napi_value GradFnName(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  const auto& fn = tensorArg(env, a.argv[0]).grad_fn();
  if (!fn) {
    napi_value n;
    napi_get_null(env, &n);
    return n;
  }
  return str(env, fn->name());
  GUARD_END("")
}

// backward(tensors, grads|null, retainGraph, createGraph)
napi_value Backward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto tensors = tensorListArg(env, a.argv[0], false);
  napi_valuetype vt;
  napi_typeof(env, a.argv[1], &vt);
  std::vector<at::Tensor> grads;
  if (vt != napi_null && vt != napi_undefined) grads = tensorListArg(env, a.argv[1], true);
  bool create = boolArg(env, a.argv[3]);
  napi_typeof(env, a.argv[2], &vt);
  std::optional<bool> retain;
  if (vt == napi_boolean) retain = boolArg(env, a.argv[2]);
  torch::autograd::backward(tensors, grads, retain, create);
  return undefinedValue(env);
  GUARD_END("backward: ")
}

// grad(outputs, inputs, gradOutputs|null, retainGraph, createGraph, allowUnused) -> (Tensor|null)[]
napi_value AutogradGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto outputs = tensorListArg(env, a.argv[0], false);
  auto inputs = tensorListArg(env, a.argv[1], false);
  napi_valuetype vt;
  napi_typeof(env, a.argv[2], &vt);
  std::vector<at::Tensor> gradOutputs;
  if (vt != napi_null && vt != napi_undefined) gradOutputs = tensorListArg(env, a.argv[2], true);
  napi_typeof(env, a.argv[3], &vt);
  std::optional<bool> retain;
  if (vt == napi_boolean) retain = boolArg(env, a.argv[3]);
  auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, boolArg(env, a.argv[4]),
                                     boolArg(env, a.argv[5]));
  return tensorArray(env, grads);
  GUARD_END("autograd.grad: ")
}

napi_value SetGradEnabled(napi_env env, napi_callback_info info) {
  Args a(env, info);
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(boolArg(env, a.argv[0]));
  return boolean(env, prev);
}

napi_value IsGradEnabled(napi_env env, napi_callback_info) { return boolean(env, c10::GradMode::is_enabled()); }

// ---- random ----------------------------------------------------------------------------

void finalizeGenerator(napi_env, void* data, void*) { delete static_cast<GeneratorHolder*>(data); }

napi_value wrapGenerator(napi_env env, at::Generator g) {
  auto* h = new GeneratorHolder();
  h->g = std::move(g);
  napi_value out;
  napi_create_external(env, h, finalizeGenerator, nullptr, &out);
  return out;
}

GeneratorHolder& generatorArg(napi_env env, napi_value v) {
  GeneratorHolder* g = generatorHolder(env, v);
  if (!g) throw JsError{"expected a Generator"};
  return *g;
}

// newGenerator(device, seed)
napi_value NewGenerator(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  c10::Device dev(strArg(env, a.argv[0]));
  auto seed = static_cast<uint64_t>(intArg(env, a.argv[1]));
  at::Generator g;
  if (dev.is_cpu()) {
    g = at::make_generator<at::CPUGeneratorImpl>(seed);
  } else {
    g = at::globalContext().defaultGenerator(dev).clone();
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
  }
  return wrapGenerator(env, std::move(g));
  GUARD_END("Generator: ")
}

napi_value DefaultGenerator(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  return wrapGenerator(env, at::globalContext().defaultGenerator(c10::Device(strArg(env, a.argv[0]))));
  GUARD_END("defaultGenerator: ")
}

napi_value GeneratorSeed(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto& g = generatorArg(env, a.argv[0]).g;
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_current_seed(static_cast<uint64_t>(intArg(env, a.argv[1])));
  return undefinedValue(env);
  GUARD_END("Generator.manualSeed: ")
}

napi_value GeneratorGetState(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto& g = generatorArg(env, a.argv[0]).g;
  std::lock_guard<std::mutex> lock(g.mutex());
  return wrapTensor(env, g.get_state());
  GUARD_END("Generator.getState: ")
}

napi_value GeneratorSetState(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto& g = generatorArg(env, a.argv[0]).g;
  const at::Tensor& s = tensorArg(env, a.argv[1]);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(s);
  return undefinedValue(env);
  GUARD_END("Generator.setState: ")
}

napi_value ManualSeed(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto seed = static_cast<uint64_t>(intArg(env, a.argv[0]));
  {
    auto g = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
  }
  if (at::hasCUDA()) {
    for (int i = 0; i < at::detail::getCUDAHooks().deviceCount(); i++) {
      auto g = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, i));
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(seed);
    }
  }
  return undefinedValue(env);
  GUARD_END("manualSeed: ")
}

// ---- runtime ---------------------------------------------------------------------------

napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  at::set_num_threads(static_cast<int>(intArg(env, a.argv[0])));
  return undefinedValue(env);
  GUARD_END("setNumThreads: ")
}

napi_value GetNumThreads(napi_env env, napi_callback_info) { return num(env, at::get_num_threads()); }

napi_value CudaDeviceCount(napi_env env, napi_callback_info) {
  return num(env, at::hasCUDA() ? at::detail::getCUDAHooks().deviceCount() : 0);
}

napi_value LiveTensors(napi_env env, napi_callback_info) { return num(env, static_cast<double>(liveTensorCount())); }
napi_value LiveBytes(napi_env env, napi_callback_info) { return num(env, static_cast<double>(liveTensorBytes())); }

napi_value Version(napi_env env, napi_callback_info) { return str(env, TORCH_VERSION); }

// glibc's defaults hand every large freed buffer back to the kernel (mmap'd blocks, heap trims), so
// each training step faults its activations in again page by page. Fixed thresholds keep freed
// blocks below mmapThreshold in the heap for reuse. Returns false where the C library is not glibc.
napi_value TuneAllocator(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  const int64_t mmapThreshold = intArg(env, a.argv[0]);
  const int64_t trimThreshold = intArg(env, a.argv[1]);
  if (mmapThreshold < 0 || trimThreshold < 0) throw JsError("thresholds must be >= 0 bytes");
#if defined(__GLIBC__)
  const bool ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(std::min<int64_t>(mmapThreshold, INT32_MAX))) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, static_cast<int>(std::min<int64_t>(trimThreshold, INT32_MAX))) == 1;
  napi_value v;
  napi_get_boolean(env, ok, &v);
  return v;
#else
  napi_value v;
  napi_get_boolean(env, false, &v);
  return v;
#endif
  GUARD_END("tuneAllocator: ")
}

}  // namespace

NAPI_MODULE_INIT() {
  struct Fn {
    const char* name;
    napi_callback cb;
  };
  const Fn fns[] = {
      {"op", Op}, {"call", Call}, {"callVoid", CallVoid}, {"schema", Schema}, {"returnKinds", ReturnKinds},
      {"free", Free}, {"watch", Watch}, {"isLive", IsLive}, {"shape", Shape}, {"strides", Strides}, {"meta", Meta},
      {"dtype", Dtype}, {"isContiguous", IsContiguous}, {"fromBuffer", FromBuffer},
      {"toBuffer", ToBuffer}, {"item", Item}, {"setRequiresGrad", SetRequiresGrad}, {"grad", Grad},
      {"setGrad", SetGrad}, {"retainGrad", RetainGrad}, {"gradFnName", GradFnName},
      {"backward", Backward}, {"autogradGrad", AutogradGrad}, {"setGradEnabled", SetGradEnabled},
      {"isGradEnabled", IsGradEnabled}, {"newGenerator", NewGenerator},
      {"defaultGenerator", DefaultGenerator}, {"generatorSeed", GeneratorSeed},
      {"generatorGetState", GeneratorGetState}, {"generatorSetState", GeneratorSetState},
      {"manualSeed", ManualSeed}, {"setNumThreads", SetNumThreads}, {"getNumThreads", GetNumThreads},
      {"cudaDeviceCount", CudaDeviceCount}, {"liveTensors", LiveTensors}, {"liveBytes", LiveBytes},
      {"version", Version}, {"tuneAllocator", TuneAllocator}, {"profilerStart", ProfilerStart},
      {"profilerStop", ProfilerStop}, {"cpuCacheInstall", CpuCacheInstall},
      {"cpuCacheStats", CpuCacheStats}, {"cpuCacheRelease", CpuCacheRelease}, D2C_DIST_FUNCTIONS,
  };
  for (const auto& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  return exports;
}
