// JS <-> IValue conversion driven by an operator's schema.
#pragma once
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <node_api.h>

#include <string>
#include <vector>

namespace d2c {

constexpr uint32_t kGeneratorMagic = 0x6e4e7a01;

// Tensors live in a slot table; JS holds a number id = generation * 2^24 + slot. A number is
// far cheaper to create than an external with a finalizer, and the generation makes a stale
// id (used after dispose, slot reused) an error instead of a silent alias.
constexpr double kSlotSpan = 16777216.0;  // 2^24

struct GeneratorHolder {
  uint32_t magic = kGeneratorMagic;
  at::Generator g;
};

// The JS value kinds an argument can take, precomputed from the schema once per operator.
enum class Kind : uint8_t {
  Tensor, TensorList, OptTensorList, Int, IntList, Float, FloatList, Bool, BoolList,
  Scalar, String, Generator, Device, Other
};

struct ArgSpec {
  std::string name;
  Kind kind;
  bool optional;
  bool has_default;
  int64_t list_len;  // fixed length from e.g. `int[2]`, or -1
  c10::IValue default_value;
};

struct Args;

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;  // "aten::add.Tensor"
  std::vector<ArgSpec> args;
  size_t num_returns;
  // The unboxed path of the few hottest ops (fast_ops.cc), else nullptr.
  bool (*fast)(napi_env env, const Args& a, at::Tensor& out) = nullptr;
};

struct JsError {
  std::string message;
};

// The body of an N-API entry point: every exception becomes a JS Error prefixed by the call
// (`GUARD_BEGIN … GUARD_END("op: ")`), shared by the addon and torch.distributed.
#define GUARD_BEGIN try {
#define GUARD_END(prefix)                                               \
  }                                                                     \
  catch (const d2c::JsError& e) {                                       \
    d2c::throwJs(env, std::string(prefix) + e.message);                 \
  }                                                                     \
  catch (const c10::Error& e) {                                         \
    d2c::throwJs(env, std::string(prefix) + e.what_without_backtrace()); \
  }                                                                     \
  catch (const std::exception& e) {                                     \
    d2c::throwJs(env, std::string(prefix) + e.what());                  \
  }                                                                     \
  return nullptr;

// An entry point's arguments; those not passed read as undefined.
struct Args {
  static constexpr size_t kMax = 32;
  size_t argc = kMax;
  napi_value argv[kMax];
  Args(napi_env env, napi_callback_info info) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    napi_value undef;
    napi_get_undefined(env, &undef);
    for (size_t i = argc; i < kMax; i++) argv[i] = undef;
  }
};

const at::Tensor* lookupTensor(double id);                 // nullptr if not a live id
const at::Tensor& tensorArg(napi_env env, napi_value v);  // throws JsError
bool freeTensor(napi_env env, double id);                 // false if not live
void flushExternalMemory(napi_env env);
// Reports a live tensor's bytes to V8 until it is freed; false if it is not live or already watched.
bool watchTensor(napi_env env, double id);
GeneratorHolder* generatorHolder(napi_env env, napi_value v);

napi_value wrapTensor(napi_env env, at::Tensor t);  // the new id; null for an undefined tensor
napi_value toJs(napi_env env, const c10::IValue& v);
c10::IValue fromJs(napi_env env, napi_value v, const ArgSpec& spec);
std::vector<ArgSpec> specsFromSchema(const c10::FunctionSchema& schema);
std::string describeJs(napi_env env, napi_value v);
napi_value num(napi_env env, double d);
void throwJs(napi_env env, const std::string& msg);
std::string describeArg(napi_env env, napi_value v, const ArgSpec& spec);

// Per thread, i.e. per Node environment (see convert.cc).
int64_t liveTensorCount();  // this environment's live tensors
int64_t liveTensorBytes();  // and their bytes (each tensor's own extent)

}  // namespace d2c
