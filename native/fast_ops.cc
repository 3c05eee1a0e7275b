// Unboxed fast paths for the elementwise arithmetic that dominates small-batch sampling. The boxed
// path packs each argument into an IValue, and the kernel's boxed wrapper unpacks them again; the
// typed at:: call skips both (still through the dispatcher, so autograd, autocast and the profiler
// see the same op). Arguments are read exactly as the boxed path reads them: a tensor handle, and
// a JS number as an integer Scalar when it is integral (as Python's `x + 1`), else a double.
// A Scalar operand becomes a wrapped-number tensor for the Tensor overload, as Python's `x.add(1)`
// does: the same type promotion, without the Scalar overload's extra dtype conversion (6 % of an
// add on a 4-element tensor).
#include "fast_ops.h"

#include <ATen/ATen.h>
#include <ATen/ScalarOps.h>

#include <array>
#include <cmath>
#include <unordered_map>

namespace d2c {
namespace {

bool tensorAt(napi_env env, napi_value v, const at::Tensor** t) {
  double id;
  if (napi_get_value_double(env, v, &id) != napi_ok) return false;
  *t = lookupTensor(id);
  return *t != nullptr;
}

bool scalarAt(napi_env env, napi_value v, c10::Scalar* s) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.007199254740992e15) {
    *s = c10::Scalar(static_cast<int64_t>(d));
  } else {
    *s = c10::Scalar(d);
  }
  return true;
}

at::Tensor makeWrapped(const c10::Scalar& s) {
  at::Tensor t = c10::scalar_to_tensor(s);
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

// A Scalar as the 0-dim wrapped-number tensor Python's argument parser makes of a number. The
// small integers (x + 1, x * 2, 1 - x) are made once per thread and shared: an op only reads its
// operands, and this saves an allocation per call (about 5 % of an add on a 4-element tensor).
at::Tensor wrapped(const c10::Scalar& s) {
  constexpr int64_t kCached = 8;
  if (s.isIntegral(false)) {
    const int64_t v = s.toLong();
    if (v >= -kCached && v <= kCached) {
      // never destroyed: the tensors would outlive libtorch's allocator at process exit
      thread_local auto* cache = new std::array<at::Tensor, 2 * kCached + 1>();
      at::Tensor& t = (*cache)[v + kCached];
      if (!t.defined()) t = makeWrapped(s);
      return t;
    }
  }
  return makeWrapped(s);
}

// alpha: the schema's default (1) when not passed
bool alphaAt(napi_env env, napi_value v, c10::Scalar* s) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) {
    *s = c10::Scalar(int64_t{1});
    return true;
  }
  return t == napi_number && scalarAt(env, v, s);
}

template <typename F>
bool tensorTensorAlpha(napi_env env, const Args& a, at::Tensor& out, F f) {
  const at::Tensor *x, *y;
  c10::Scalar alpha;
  if (!tensorAt(env, a.argv[1], &x) || !tensorAt(env, a.argv[2], &y) || !alphaAt(env, a.argv[3], &alpha)) return false;
  out = f(*x, *y, alpha);
  return true;
}

template <typename F>
bool tensorScalarAlpha(napi_env env, const Args& a, at::Tensor& out, F f) {
  const at::Tensor* x;
  c10::Scalar y, alpha;
  if (!tensorAt(env, a.argv[1], &x) || !scalarAt(env, a.argv[2], &y) || !alphaAt(env, a.argv[3], &alpha)) return false;
  out = f(*x, wrapped(y), alpha);
  return true;
}

template <typename F>
bool tensorTensor(napi_env env, const Args& a, at::Tensor& out, F f) {
  const at::Tensor *x, *y;
  if (a.argc > 3 || !tensorAt(env, a.argv[1], &x) || !tensorAt(env, a.argv[2], &y)) return false;
  out = f(*x, *y);
  return true;
}

template <typename F>
bool tensorScalar(napi_env env, const Args& a, at::Tensor& out, F f) {
  const at::Tensor* x;
  c10::Scalar y;
  if (a.argc > 3 || !tensorAt(env, a.argv[1], &x) || !scalarAt(env, a.argv[2], &y)) return false;
  out = f(*x, wrapped(y));
  return true;
}

constexpr auto kAdd = [](const at::Tensor& x, const at::Tensor& y, const c10::Scalar& alpha) { return at::add(x, y, alpha); };
constexpr auto kSub = [](const at::Tensor& x, const at::Tensor& y, const c10::Scalar& alpha) { return at::sub(x, y, alpha); };
constexpr auto kMul = [](const at::Tensor& x, const at::Tensor& y) { return at::mul(x, y); };
constexpr auto kDiv = [](const at::Tensor& x, const at::Tensor& y) { return at::div(x, y); };

const std::unordered_map<std::string, FastOp>& table() {
  static const std::unordered_map<std::string, FastOp> t = {
      {"aten::add.Tensor", [](napi_env e, const Args& a, at::Tensor& o) { return tensorTensorAlpha(e, a, o, kAdd); }},
      {"aten::add.Scalar", [](napi_env e, const Args& a, at::Tensor& o) { return tensorScalarAlpha(e, a, o, kAdd); }},
      {"aten::sub.Tensor", [](napi_env e, const Args& a, at::Tensor& o) { return tensorTensorAlpha(e, a, o, kSub); }},
      {"aten::sub.Scalar", [](napi_env e, const Args& a, at::Tensor& o) { return tensorScalarAlpha(e, a, o, kSub); }},
      {"aten::mul.Tensor", [](napi_env e, const Args& a, at::Tensor& o) { return tensorTensor(e, a, o, kMul); }},
      {"aten::mul.Scalar", [](napi_env e, const Args& a, at::Tensor& o) { return tensorScalar(e, a, o, kMul); }},
      {"aten::div.Tensor", [](napi_env e, const Args& a, at::Tensor& o) { return tensorTensor(e, a, o, kDiv); }},
      {"aten::div.Scalar", [](napi_env e, const Args& a, at::Tensor& o) { return tensorScalar(e, a, o, kDiv); }},
  };
  return t;
}

}  // namespace

FastOp fastOpFor(const std::string& key) {
  auto it = table().find(key);
  return it == table().end() ? nullptr : it->second;
}

}  // namespace d2c
