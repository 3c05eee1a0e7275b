// JS <-> IValue conversion driven by an operator's schema.
#pragma once
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <node_api.h>

#include <string>
#include <vector>

namespace d2c {

constexpr uint32_t kTensorMagic = 0x7e45a0d1;
constexpr uint32_t kGeneratorMagic = 0x6e4e7a01;

// One JS-visible tensor handle. `t` is reset on dispose; the struct itself lives until the
// JS external is garbage-collected, so a disposed handle is detected instead of crashing.
struct TensorHolder {
  uint32_t magic = kTensorMagic;
  at::Tensor t;
  int64_t bytes = 0;
};

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

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;  // "aten::add.Tensor"
  std::vector<ArgSpec> args;
  size_t num_returns;
};

struct JsError {
  std::string message;
};

TensorHolder* tensorHolder(napi_env env, napi_value v);  // nullptr if not a tensor handle
const at::Tensor& tensorArg(napi_env env, napi_value v);  // throws JsError
GeneratorHolder* generatorHolder(napi_env env, napi_value v);

napi_value wrapTensor(napi_env env, at::Tensor t);  // null for an undefined tensor
napi_value toJs(napi_env env, const c10::IValue& v);
c10::IValue fromJs(napi_env env, napi_value v, const ArgSpec& spec);
std::vector<ArgSpec> specsFromSchema(const c10::FunctionSchema& schema);
std::string describeJs(napi_env env, napi_value v);

extern int64_t g_live_tensors;
extern int64_t g_live_bytes;

}  // namespace d2c
