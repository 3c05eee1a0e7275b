// torch.distributed over c10d (see distributed.h). One default process group per process, as
// torch.distributed's default group; collectives return a work id when async, else wait.
#include "distributed.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef D2C_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "convert.h"

namespace d2c {
namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::string name;
  int rank = 0;
  int world = 1;
};

std::unique_ptr<Group> g_group;
std::unordered_map<int64_t, c10::intrusive_ptr<c10d::Work>> g_works;
int64_t g_next_work = 1;

double numArg(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw JsError{std::string("expected a number for ") + what};
  return d;
}

bool boolArg(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

std::string strArg(napi_env env, napi_value v, const char* what) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
    throw JsError{std::string("expected a string for ") + what};
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

std::vector<at::Tensor> tensorsArg(napi_env env, napi_value v) {
  bool isArr = false;
  napi_is_array(env, v, &isArr);
  if (!isArr) throw JsError{"expected an array of tensors"};
  uint32_t n;
  napi_get_array_length(env, v, &n);
  std::vector<at::Tensor> out(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out[i] = tensorArg(env, e);
  }
  return out;
}

napi_value undef(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

Group& group() {
  if (!g_group) throw JsError{"the default process group is not initialized (call initProcessGroup first)"};
  return *g_group;
}

// Collectives need contiguous dense tensors on the group's device; say so instead of crashing.
void checkTensors(const std::vector<at::Tensor>& ts, const char* what) {
  if (ts.empty()) throw JsError{std::string(what) + ": no tensors given"};
  for (const auto& t : ts) {
    if (!t.is_contiguous()) throw JsError{std::string(what) + ": tensors must be contiguous"};
  }
}

c10d::ReduceOp reduceOp(const std::string& op) {
  if (op == "sum") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw JsError{"unknown reduce op '" + op + "' (sum, max, min, product)"};
}

// Waits for `work` now (sync) or files it under a new id for distWait.
napi_value finishWork(napi_env env, c10::intrusive_ptr<c10d::Work> work, bool async) {
  if (!async) {
    work->wait();
    return undef(env);
  }
  int64_t id = g_next_work++;
  g_works[id] = std::move(work);
  return num(env, static_cast<double>(id));
}


// ---- GradSync: DDP's gradient averaging ------------------------------------------------------
// Parameters are grouped into buckets in reverse order (gradients arrive roughly last layer
// first). A post-accumulate-grad hook counts the ready gradients of each bucket; a full bucket is
// flattened and its all-reduce starts on Gloo's threads while backward goes on. finish() starts
// the rest, waits, divides by the world size and writes the averages back into .grad.

struct GradSync;

struct Bucket {
  std::vector<size_t> params;
  std::vector<int64_t> offsets;
  at::Tensor flat;
  size_t pending = 0;
  c10::intrusive_ptr<c10d::Work> work;
};

struct GradSync {
  std::vector<at::Tensor> params;
  std::vector<size_t> bucketOf;
  std::vector<Bucket> buckets;
  bool armed = false;
  bool overlap = true;

  void launch(Bucket& b) {
    at::NoGradGuard ng;
    for (size_t k = 0; k < b.params.size(); k++) {
      const at::Tensor& p = params[b.params[k]];
      auto slot = b.flat.narrow(0, b.offsets[k], p.numel());
      const at::Tensor& g = p.grad();
      if (g.defined()) slot.copy_(g.reshape(-1));
      else slot.zero_();
    }
    std::vector<at::Tensor> ts{b.flat};
    b.work = group().backend->allreduce(ts);
  }

  void ready(size_t i) {
    if (!armed || !overlap) return;
    Bucket& b = buckets[bucketOf[i]];
    if (b.pending > 0 && --b.pending == 0 && !b.work) launch(b);
  }
};

struct ReadyHook : torch::autograd::PostAccumulateGradHook {
  GradSync* sync;
  size_t index;
  ReadyHook(GradSync* s, size_t i) : sync(s), index(i) {}
  void operator()(const torch::autograd::Variable&) override { sync->ready(index); }
};

std::unordered_map<int64_t, std::unique_ptr<GradSync>> g_syncs;
int64_t g_next_sync = 1;

GradSync& syncArg(napi_env env, napi_value v) {
  auto it = g_syncs.find(static_cast<int64_t>(numArg(env, v, "a GradSync id")));
  if (it == g_syncs.end()) throw JsError{"unknown or freed GradSync"};
  return *it->second;
}

}  // namespace

napi_value DistAvailable(napi_env env, napi_callback_info) { return boolean(env, true); }

// distInit(backend, rank, worldSize, masterAddr, masterPort, timeoutMs)
napi_value DistInit(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  if (g_group) throw JsError{"the default process group is already initialized (destroy it first)"};
  std::string backend = strArg(env, a.argv[0], "backend");
  int rank = static_cast<int>(numArg(env, a.argv[1], "rank"));
  int world = static_cast<int>(numArg(env, a.argv[2], "worldSize"));
  std::string addr = strArg(env, a.argv[3], "masterAddr");
  int port = static_cast<int>(numArg(env, a.argv[4], "masterPort"));
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(numArg(env, a.argv[5], "timeoutMs")));
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(port);
  so.isServer = rank == 0;
  so.numWorkers = world;
  so.waitWorkers = true;
  so.timeout = timeout;
  auto g = std::make_unique<Group>();
  g->rank = rank;
  g->world = world;
  g->name = backend;
  auto tcp = c10::make_intrusive<c10d::TCPStore>(addr, so);
  g->store = c10::make_intrusive<c10d::PrefixStore>("d2c/default_pg", tcp);
  if (backend == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (addr.rfind("127.", 0) == 0 || addr == "localhost")
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    g->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, world, opts);
  } else if (backend == "nccl") {
#ifdef D2C_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    g->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, rank, world, opts);
#else
    throw JsError{"backend nccl: this addon was built against a libtorch without CUDA/NCCL (use gloo)"};
#endif
  } else {
    throw JsError{"unknown backend '" + backend + "' (gloo, nccl)"};
  }
  g_group = std::move(g);
  return undef(env);
  GUARD_END("initProcessGroup: ")
}

napi_value DistDestroy(napi_env env, napi_callback_info) {
  GUARD_BEGIN
  g_works.clear();
  for (auto& [id, s] : g_syncs) {
    for (auto& p : s->params) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  }
  g_syncs.clear();
  if (g_group) {
    g_group->backend->shutdown();
    g_group.reset();
  }
  return undef(env);
  GUARD_END("destroyProcessGroup: ")
}

// distAllReduce(tensors, op, async): one tensor → allreduce, several → allreduce_coalesced.
napi_value DistAllReduce(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto ts = tensorsArg(env, a.argv[0]);
  checkTensors(ts, "allReduce");
  c10d::AllreduceOptions o;
  o.reduceOp = reduceOp(strArg(env, a.argv[1], "op"));
  auto& b = *group().backend;
  c10::intrusive_ptr<c10d::Work> w;
  if (ts.size() == 1) {
    w = b.allreduce(ts, o);
  } else {
    c10d::AllreduceCoalescedOptions co;
    co.reduceOp = o.reduceOp;
    w = b.allreduce_coalesced(ts, co);
  }
  return finishWork(env, w, boolArg(env, a.argv[2]));
  GUARD_END("allReduce: ")
}

// distBroadcast(tensors, src, async)
napi_value DistBroadcast(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto ts = tensorsArg(env, a.argv[0]);
  checkTensors(ts, "broadcast");
  c10d::BroadcastOptions o;
  o.rootRank = static_cast<int64_t>(numArg(env, a.argv[1], "src"));
  auto& g = group();
  if (o.rootRank < 0 || o.rootRank >= g.world)
    throw JsError{"src " + std::to_string(o.rootRank) + " is not a rank of a world of " + std::to_string(g.world)};
  // Gloo broadcasts one tensor per call (a list means one tensor on several devices).
  if (ts.size() == 1) return finishWork(env, g.backend->broadcast(ts, o), boolArg(env, a.argv[2]));
  std::vector<at::Tensor> flat{at::cat(c10::fmap(ts, [](const at::Tensor& t) { return t.reshape(-1); }))};
  g.backend->broadcast(flat, o)->wait();
  int64_t off = 0;
  for (auto& t : ts) {
    t.copy_(flat[0].narrow(0, off, t.numel()).view_as(t));
    off += t.numel();
  }
  return boolArg(env, a.argv[2]) ? num(env, 0) : undef(env);
  GUARD_END("broadcast: ")
}

// distAllGather(tensor, async) -> [outputs (one per rank), work id | undefined]
napi_value DistAllGather(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  std::vector<at::Tensor> in{tensorArg(env, a.argv[0])};
  checkTensors(in, "allGather");
  auto& g = group();
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g.world; r++) out[0].push_back(at::empty_like(in[0]));
  napi_value w = finishWork(env, g.backend->allgather(out, in), boolArg(env, a.argv[1]));
  napi_value arr, list;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_array_with_length(env, g.world, &list);
  for (int r = 0; r < g.world; r++) napi_set_element(env, list, r, wrapTensor(env, out[0][r]));
  napi_set_element(env, arr, 0, list);
  napi_set_element(env, arr, 1, w);
  return arr;
  GUARD_END("allGather: ")
}

napi_value DistBarrier(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  return finishWork(env, group().backend->barrier(), boolArg(env, a.argv[0]));
  GUARD_END("barrier: ")
}

// distWait(id): waits for an async collective; 0 is the id of one that already finished.
napi_value DistWait(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto id = static_cast<int64_t>(numArg(env, a.argv[0], "a work id"));
  if (id == 0) return undef(env);
  auto it = g_works.find(id);
  if (it == g_works.end()) throw JsError{"unknown work id (already waited for?)"};
  auto w = it->second;
  g_works.erase(it);
  w->wait();
  return undef(env);
  GUARD_END("wait: ")
}

napi_value DistIsCompleted(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto id = static_cast<int64_t>(numArg(env, a.argv[0], "a work id"));
  if (id == 0) return boolean(env, true);
  auto it = g_works.find(id);
  if (it == g_works.end()) throw JsError{"unknown work id (already waited for?)"};
  return boolean(env, it->second->isCompleted());
  GUARD_END("isCompleted: ")
}

// gradSyncCreate(params, bucketBytes, overlap) -> id
napi_value GradSyncCreate(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  group();
  auto s = std::make_unique<GradSync>();
  s->params = tensorsArg(env, a.argv[0]);
  auto cap = static_cast<int64_t>(numArg(env, a.argv[1], "bucketBytes"));
  s->overlap = boolArg(env, a.argv[2]);
  s->bucketOf.assign(s->params.size(), 0);
  int64_t bytes = 0;
  for (size_t k = s->params.size(); k-- > 0;) {
    const at::Tensor& p = s->params[k];
    if (!p.requires_grad() || !p.is_leaf()) throw JsError{"every parameter must be a leaf that requires grad"};
    // a bucket holds one dtype on one device, up to `cap` bytes (at least one parameter)
    bool fresh = s->buckets.empty() || bytes + static_cast<int64_t>(p.nbytes()) > cap;
    if (!fresh) {
      const at::Tensor& first = s->params[s->buckets.back().params[0]];
      fresh = first.scalar_type() != p.scalar_type() || first.device() != p.device();
    }
    if (fresh) {
      s->buckets.emplace_back();
      bytes = 0;
    }
    Bucket& bb = s->buckets.back();
    bb.offsets.push_back(bb.params.empty() ? 0 : bb.offsets.back() + s->params[bb.params.back()].numel());
    bb.params.push_back(k);
    s->bucketOf[k] = s->buckets.size() - 1;
    bytes += p.nbytes();
  }
  for (auto& b : s->buckets) {
    const at::Tensor& p0 = s->params[b.params[0]];
    int64_t n = b.offsets.back() + s->params[b.params.back()].numel();
    b.flat = at::empty({n}, p0.options().requires_grad(false));
  }
  GradSync* raw = s.get();
  for (size_t k = 0; k < raw->params.size(); k++)
    torch::autograd::impl::set_post_acc_grad_hooks(raw->params[k], std::make_unique<ReadyHook>(raw, k));
  int64_t id = g_next_sync++;
  g_syncs[id] = std::move(s);
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, num(env, static_cast<double>(id)));
  napi_set_element(env, arr, 1, num(env, static_cast<double>(raw->buckets.size())));
  return arr;
  GUARD_END("GradSync: ")
}

// gradSyncArm(id): the next backward's gradients are reduced as they become ready.
napi_value GradSyncArm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  GradSync& s = syncArg(env, a.argv[0]);
  for (auto& b : s.buckets) {
    if (b.work) b.work->wait();  // a previous step that threw midway
    b.work.reset();
    b.pending = b.params.size();
  }
  s.armed = true;
  return undef(env);
  GUARD_END("GradSync.arm: ")
}

// gradSyncFinish(id): every gradient is the average over the ranks when this returns.
napi_value GradSyncFinish(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  GradSync& s = syncArg(env, a.argv[0]);
  s.armed = false;
  for (auto& b : s.buckets)
    if (!b.work) s.launch(b);
  at::NoGradGuard ng;
  const double world = group().world;
  for (auto& b : s.buckets) {
    auto w = std::move(b.work);
    b.work.reset();
    w->wait();
    b.flat.div_(world);
    for (size_t k = 0; k < b.params.size(); k++) {
      at::Tensor& p = s.params[b.params[k]];
      auto avg = b.flat.narrow(0, b.offsets[k], p.numel()).view(p.sizes());
      // A parameter without a gradient here keeps none unless another rank gave it one.
      if (p.grad().defined()) p.mutable_grad().copy_(avg);
      else if (avg.ne(0).any().item<bool>()) p.mutable_grad() = avg.clone();
    }
  }
  return undef(env);
  GUARD_END("GradSync.finish: ")
}

napi_value GradSyncFree(napi_env env, napi_callback_info info) {
  Args a(env, info);
  GUARD_BEGIN
  auto id = static_cast<int64_t>(numArg(env, a.argv[0], "a GradSync id"));
  auto it = g_syncs.find(id);
  if (it == g_syncs.end()) return undef(env);
  for (auto& p : it->second->params) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  g_syncs.erase(it);
  return undef(env);
  GUARD_END("GradSync.free: ")
}

}  // namespace d2c
