#include "convert.h"

#include <cmath>
#include <sstream>

namespace d2c {

// The tensor table is thread_local: Node runs each environment (the main thread, each worker
// thread) on its own thread, so this is per-environment state that needs no lock, and a worker's
// tensors are freed when its thread ends. It is one object so that each call reaches it through a
// single thread-local lookup (in a shared library every thread_local costs one).
namespace {
struct Slot {
  at::Tensor t;
  uint32_t gen = 0;
  int64_t bytes = 0;
  bool watched = false;  // its bytes are reported to V8 (see watchTensor)
};
struct TensorTable {
  std::vector<Slot> slots;
  std::vector<uint32_t> free;
  int64_t live = 0;
  int64_t liveBytes = 0;
  // Native bytes of watched tensors not yet reported to V8; reported in chunks so the per-op cost
  // stays tiny.
  int64_t pendingBytes = 0;
};
thread_local TensorTable g_table;
constexpr int64_t kReportChunk = 1 << 22;

void reportExternal(napi_env env, TensorTable& tb, int64_t delta) {
  tb.pendingBytes += delta;
  if (tb.pendingBytes > kReportChunk || tb.pendingBytes < -kReportChunk) flushExternalMemory(env);
}
}  // namespace

int64_t liveTensorCount() { return g_table.live; }
int64_t liveTensorBytes() { return g_table.liveBytes; }

void flushExternalMemory(napi_env env) {
  TensorTable& tb = g_table;
  int64_t ignored;
  napi_adjust_external_memory(env, tb.pendingBytes, &ignored);
  tb.pendingBytes = 0;
}

napi_value wrapTensor(napi_env env, at::Tensor t) {
  napi_value out;
  if (!t.defined()) {
    napi_get_null(env, &out);
    return out;
  }
  TensorTable& tb = g_table;
  uint32_t idx;
  if (!tb.free.empty()) {
    idx = tb.free.back();
    tb.free.pop_back();
  } else {
    idx = static_cast<uint32_t>(tb.slots.size());
    if (idx >= kSlotSpan) throw JsError{"too many live tensors (16M): dispose tensors or use tidy()"};
    tb.slots.emplace_back();
  }
  Slot& s = tb.slots[idx];
  // Views share storage; counting their own extent keeps the report bounded and cheap.
  s.bytes = static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
  s.t = std::move(t);
  s.watched = false;
  tb.live++;
  tb.liveBytes += s.bytes;
  napi_create_double(env, static_cast<double>(s.gen) * kSlotSpan + idx, &out);
  return out;
}

static Slot* slotOf(TensorTable& tb, double id) {
  if (!(id >= 0) || id >= 9.007199254740992e15) return nullptr;
  double gen = std::floor(id / kSlotSpan);
  auto idx = static_cast<size_t>(id - gen * kSlotSpan);
  if (idx >= tb.slots.size()) return nullptr;
  Slot& s = tb.slots[idx];
  if (s.gen != static_cast<uint32_t>(gen) || !s.t.defined()) return nullptr;
  return &s;
}

const at::Tensor* lookupTensor(double id) {
  Slot* s = slotOf(g_table, id);
  return s ? &s->t : nullptr;
}

bool freeTensor(napi_env env, double id) {
  TensorTable& tb = g_table;
  Slot* s = slotOf(tb, id);
  if (!s) return false;
  s->t.reset();
  s->gen++;
  tb.live--;
  tb.liveBytes -= s->bytes;
  if (s->watched) reportExternal(env, tb, -s->bytes);
  s->watched = false;
  tb.free.push_back(static_cast<uint32_t>(s - tb.slots.data()));
  return true;
}

// Only tensors the GC frees (outside every tidy scope) have their bytes reported to V8: a scoped
// tensor is freed by its scope whatever V8 does, and reporting every activation of a training step
// made V8 start a full mark-compact every few steps for a 6 MB JS heap.
bool watchTensor(napi_env env, double id) {
  TensorTable& tb = g_table;
  Slot* s = slotOf(tb, id);
  if (!s || s->watched) return false;
  s->watched = true;
  reportExternal(env, tb, s->bytes);
  return true;
}

napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

void throwJs(napi_env env, const std::string& msg) { napi_throw_error(env, nullptr, msg.c_str()); }

GeneratorHolder* generatorHolder(napi_env env, napi_value v) {
  void* data = nullptr;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == nullptr) return nullptr;
  auto* h = static_cast<GeneratorHolder*>(data);
  return h->magic == kGeneratorMagic ? h : nullptr;
}

const at::Tensor& tensorArg(napi_env env, napi_value v) {
  double id;
  if (napi_get_value_double(env, v, &id) != napi_ok) throw JsError{"expected a tensor, got " + describeJs(env, v)};
  const at::Tensor* t = lookupTensor(id);
  if (t == nullptr) throw JsError{"tensor used after dispose"};
  return *t;
}

static napi_valuetype typeOf(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t;
}

static bool isArray(napi_env env, napi_value v) {
  bool r = false;
  napi_is_array(env, v, &r);
  return r;
}

static std::string shapeString(const at::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); i++) s << (i ? ", " : "") << t.size(i);
  s << "] " << c10::toString(t.scalar_type());
  if (!t.is_cpu()) s << " " << t.device();
  return s.str();
}

std::string describeJs(napi_env env, napi_value v) {
  switch (typeOf(env, v)) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: {
      bool b;
      napi_get_value_bool(env, v, &b);
      return b ? "true" : "false";
    }
    case napi_number: {
      double d;
      napi_get_value_double(env, v, &d);
      std::ostringstream s;
      s << d;
      return s.str();
    }
    case napi_string: return "string";
    case napi_external: return generatorHolder(env, v) ? "Generator" : "external";
    case napi_object: {
      if (!isArray(env, v)) return "object";
      uint32_t n;
      napi_get_array_length(env, v, &n);
      std::string s = "(";
      for (uint32_t i = 0; i < n && i < 8; i++) {
        napi_value e;
        napi_get_element(env, v, i, &e);
        s += (i ? ", " : "") + describeJs(env, e);
      }
      return s + (n > 8 ? ", ...)" : ")");
    }
    default: return "value";
  }
}

std::string describeArg(napi_env env, napi_value v, const ArgSpec& spec) {
  napi_valuetype t = typeOf(env, v);
  if (spec.kind == Kind::Tensor && t == napi_number) {
    double id;
    napi_get_value_double(env, v, &id);
    const at::Tensor* tensor = lookupTensor(id);
    return tensor ? "Tensor" + shapeString(*tensor) : "Tensor(disposed)";
  }
  if ((spec.kind == Kind::TensorList || spec.kind == Kind::OptTensorList) && isArray(env, v)) {
    uint32_t n;
    napi_get_array_length(env, v, &n);
    std::string s = "[";
    for (uint32_t i = 0; i < n && i < 8; i++) {
      napi_value e;
      napi_get_element(env, v, i, &e);
      ArgSpec one = spec;
      one.kind = Kind::Tensor;
      s += (i ? ", " : "") + (typeOf(env, e) == napi_number ? describeArg(env, e, one) : describeJs(env, e));
    }
    return s + (n > 8 ? ", ...]" : "]");
  }
  return describeJs(env, v);
}

static Kind kindOf(const c10::TypePtr& type, bool* optional, int64_t* len) {
  c10::TypePtr t = type;
  *optional = false;
  if (t->kind() == c10::TypeKind::OptionalType) {
    *optional = true;
    t = t->castRaw<c10::OptionalType>()->getElementType();
  }
  switch (t->kind()) {
    case c10::TypeKind::TensorType: return Kind::Tensor;
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: return Kind::Int;
    case c10::TypeKind::FloatType:
    case c10::TypeKind::SymFloatType: return Kind::Float;
    case c10::TypeKind::BoolType:
    case c10::TypeKind::SymBoolType: return Kind::Bool;
    case c10::TypeKind::NumberType: return Kind::Scalar;
    case c10::TypeKind::StringType: return Kind::String;
    case c10::TypeKind::GeneratorType: return Kind::Generator;
    case c10::TypeKind::DeviceObjType: return Kind::Device;
    case c10::TypeKind::ListType: {
      auto elem = t->castRaw<c10::ListType>()->getElementType();
      switch (elem->kind()) {
        case c10::TypeKind::TensorType: return Kind::TensorList;
        case c10::TypeKind::OptionalType: return Kind::OptTensorList;
        case c10::TypeKind::IntType:
        case c10::TypeKind::SymIntType: return Kind::IntList;
        case c10::TypeKind::FloatType: return Kind::FloatList;
        case c10::TypeKind::BoolType: return Kind::BoolList;
        default: return Kind::Other;
      }
    }
    default: return Kind::Other;
  }
}

std::vector<ArgSpec> specsFromSchema(const c10::FunctionSchema& schema) {
  std::vector<ArgSpec> out;
  for (const auto& a : schema.arguments()) {
    ArgSpec s;
    s.name = a.name();
    s.list_len = a.N() ? static_cast<int64_t>(*a.N()) : -1;
    s.kind = kindOf(a.type(), &s.optional, &s.list_len);
    s.has_default = a.default_value().has_value();
    if (s.has_default) s.default_value = *a.default_value();
    out.push_back(std::move(s));
  }
  return out;
}

static int64_t jsInt(napi_env env, napi_value v, const ArgSpec& spec) {
  if (typeOf(env, v) == napi_boolean) {
    bool b;
    napi_get_value_bool(env, v, &b);
    return b ? 1 : 0;
  }
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !std::isfinite(d) || std::floor(d) != d) {
    throw JsError{"argument '" + spec.name + "' must be an integer, got " + describeJs(env, v)};
  }
  return static_cast<int64_t>(d);
}

static double jsFloat(napi_env env, napi_value v, const ArgSpec& spec) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    throw JsError{"argument '" + spec.name + "' must be a number, got " + describeJs(env, v)};
  }
  return d;
}

static bool jsBool(napi_env env, napi_value v, const ArgSpec& spec) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    throw JsError{"argument '" + spec.name + "' must be a boolean, got " + describeJs(env, v)};
  }
  return b;
}

static std::string jsString(napi_env env, napi_value v, const ArgSpec& spec) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) {
    throw JsError{"argument '" + spec.name + "' must be a string, got " + describeJs(env, v)};
  }
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

template <typename F>
static void forEach(napi_env env, napi_value arr, F f) {
  uint32_t n;
  napi_get_array_length(env, arr, &n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, arr, i, &e);
    f(e);
  }
}

c10::IValue fromJs(napi_env env, napi_value v, const ArgSpec& spec) {
  napi_valuetype t = typeOf(env, v);
  if (t == napi_undefined) {
    if (spec.has_default) return spec.default_value;
    if (spec.optional) return c10::IValue();
    throw JsError{"missing required argument '" + spec.name + "'"};
  }
  if (t == napi_null) {
    if (spec.optional) return c10::IValue();
    throw JsError{"argument '" + spec.name + "' may not be null"};
  }
  switch (spec.kind) {
    case Kind::Tensor: return tensorArg(env, v);
    case Kind::Int: return jsInt(env, v, spec);
    case Kind::Float: return jsFloat(env, v, spec);
    case Kind::Bool: return jsBool(env, v, spec);
    case Kind::String: return jsString(env, v, spec);
    case Kind::Scalar: {
      if (t == napi_boolean) return c10::Scalar(jsBool(env, v, spec));
      double d = jsFloat(env, v, spec);
      // An integral JS number is an int Scalar, as Python's `x + 1` is: keeps integer dtypes.
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.007199254740992e15) {
        return c10::Scalar(static_cast<int64_t>(d));
      }
      return c10::Scalar(d);
    }
    case Kind::Generator: {
      GeneratorHolder* g = generatorHolder(env, v);
      if (!g) throw JsError{"argument '" + spec.name + "' must be a Generator"};
      return g->g;
    }
    case Kind::Device: return c10::Device(jsString(env, v, spec));
    case Kind::TensorList: {
      if (!isArray(env, v)) throw JsError{"argument '" + spec.name + "' must be an array of tensors"};
      c10::List<at::Tensor> list;
      forEach(env, v, [&](napi_value e) { list.push_back(tensorArg(env, e)); });
      return list;
    }
    case Kind::OptTensorList: {
      if (!isArray(env, v)) throw JsError{"argument '" + spec.name + "' must be an array"};
      c10::List<std::optional<at::Tensor>> list;
      forEach(env, v, [&](napi_value e) {
        napi_valuetype et = typeOf(env, e);
        if (et == napi_null || et == napi_undefined) list.push_back(std::nullopt);
        else list.push_back(tensorArg(env, e));
      });
      return list;
    }
    case Kind::IntList: {
      std::vector<int64_t> list;
      if (t == napi_number) {  // `kernel_size=3` for an `int[2]`, as Python allows
        int64_t x = jsInt(env, v, spec);
        list.assign(spec.list_len > 0 ? spec.list_len : 1, x);
      } else if (isArray(env, v)) {
        forEach(env, v, [&](napi_value e) { list.push_back(jsInt(env, e, spec)); });
      } else {
        throw JsError{"argument '" + spec.name + "' must be an int array, got " + describeJs(env, v)};
      }
      return list;
    }
    case Kind::FloatList: {
      std::vector<double> list;
      if (!isArray(env, v)) throw JsError{"argument '" + spec.name + "' must be a float array"};
      forEach(env, v, [&](napi_value e) { list.push_back(jsFloat(env, e, spec)); });
      return list;
    }
    case Kind::BoolList: {
      c10::List<bool> list;
      if (!isArray(env, v)) throw JsError{"argument '" + spec.name + "' must be a bool array"};
      forEach(env, v, [&](napi_value e) { list.push_back(jsBool(env, e, spec)); });
      return list;
    }
    case Kind::Other: break;
  }
  throw JsError{"argument '" + spec.name + "' has a type d2c cannot convert"};
}

napi_value toJs(napi_env env, const c10::IValue& v) {
  napi_value out;
  if (v.isTensor()) return wrapTensor(env, v.toTensor());
  if (v.isNone()) {
    napi_get_null(env, &out);
  } else if (v.isInt()) {
    napi_create_double(env, static_cast<double>(v.toInt()), &out);
  } else if (v.isDouble()) {
    napi_create_double(env, v.toDouble(), &out);
  } else if (v.isBool()) {
    napi_get_boolean(env, v.toBool(), &out);
  } else if (v.isScalar()) {
    napi_create_double(env, v.toScalar().toDouble(), &out);
  } else if (v.isString()) {
    napi_create_string_utf8(env, v.toStringRef().c_str(), NAPI_AUTO_LENGTH, &out);
  } else if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    napi_create_array_with_length(env, elems.size(), &out);
    for (size_t i = 0; i < elems.size(); i++) napi_set_element(env, out, i, toJs(env, elems[i]));
  } else if (v.isList()) {
    auto list = v.toListRef();
    napi_create_array_with_length(env, list.size(), &out);
    for (size_t i = 0; i < list.size(); i++) napi_set_element(env, out, i, toJs(env, list[i]));
  } else {
    throw JsError{"cannot convert a returned " + v.tagKind() + " to JS"};
  }
  return out;
}

}  // namespace d2c
