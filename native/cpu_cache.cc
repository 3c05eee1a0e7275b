// A caching CPU allocator installed in front of libtorch's default one (c10::SetCPUAllocator).
//
// Why: a training or sampling loop allocates the same large activations and gradients every step.
// glibc serves each from whatever free chunk fits, often memory last touched long ago, so
// memory-bound kernels (GELU, bias copies, layer norm) first pull their output lines from DRAM.
// This cache hands back the most recently freed block of (nearly) the requested size, still warm,
// and puts blocks of 2 MiB and more on transparent huge pages (madvise), which cuts TLB misses.
// Small requests go to the previous allocator unchanged. Cached bytes are capped; past the cap the
// blocks freed longest ago go back to the C library (so a new workload's sizes displace an old
// one's), and a failed allocation first empties the cache.
#include "cpu_cache.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <unordered_map>

#include "convert.h"

namespace d2c {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHugePage = size_t(2) << 20;

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(c10::Allocator* fallback) : fallback_(fallback) {}

  void configure(size_t minBytes, size_t limitBytes) {
    std::lock_guard<std::mutex> lock(mu_);
    min_ = minBytes;
    limit_ = limitBytes;
    trimTo(limit_);
  }

  c10::DataPtr allocate(size_t n) override {
    if (n == 0 || n < min_) return fallback_->allocate(n);
    const size_t want = (n + kPage - 1) / kPage * kPage;
    void* p = takeCached(want);
    if (!p) p = allocBlock(want);
    return {p, p, &deleteBlock, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &deleteBlock; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    trimTo(0);
  }

  struct Stats {
    size_t cachedBytes, cachedBlocks, liveBytes, hits, misses, minBytes, limitBytes;
  };
  Stats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {cached_, age_.size(), liveBytes_, hits_, misses_, min_, limit_};
  }

  static CachingCpuAllocator* instance;

 private:
  // The smallest cached block of at least `want` bytes and at most 1/8 more, most recently freed first.
  void* takeCached(size_t want) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(want);
    if (it == free_.end() || it->first > want + want / 8) {
      misses_++;
      return nullptr;
    }
    const size_t size = it->first;
    const Cached c = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) free_.erase(it);
    age_.erase({c.seq, size});
    cached_ -= size;
    void* p = c.ptr;
    hits_++;
    live_[p] = size;
    liveBytes_ += size;
    return p;
  }

  void* allocBlock(size_t size) {
    const size_t align = size >= kHugePage ? kHugePage : 64;
    void* p = nullptr;
    if (posix_memalign(&p, align, size) != 0) {
      release();  // the cache may hold what this request needs
      if (posix_memalign(&p, align, size) != 0) {
        TORCH_CHECK_WITH(OutOfMemoryError, false, "DefaultCPUAllocator: not enough memory: you tried to allocate ",
                         size, " bytes.");
      }
    }
#ifdef MADV_HUGEPAGE
    if (size >= kHugePage) madvise(p, size / kHugePage * kHugePage, MADV_HUGEPAGE);
#endif
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = size;
    liveBytes_ += size;
    return p;
  }

  static void deleteBlock(void* p) { instance->recycle(p); }

  void recycle(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) {  // cannot happen: every block handed out is recorded
      std::free(p);
      return;
    }
    const size_t size = it->second;
    live_.erase(it);
    liveBytes_ -= size;
    if (size > limit_) {
      std::free(p);
      return;
    }
    trimTo(limit_ - size);
    const uint64_t seq = nextSeq_++;
    free_[size].push_back({p, seq});
    age_.insert({seq, size});
    cached_ += size;
  }

  // Frees the blocks freed longest ago until at most `bytes` remain cached. Holds mu_.
  void trimTo(size_t bytes) {
    while (cached_ > bytes && !age_.empty()) {
      const auto [seq, size] = *age_.begin();
      age_.erase(age_.begin());
      auto it = free_.find(size);
      // a size's stack grows at the back, so its oldest block is at the front
      std::free(it->second.front().ptr);
      it->second.pop_front();
      if (it->second.empty()) free_.erase(it);
      cached_ -= size;
    }
  }

  c10::Allocator* fallback_;
  std::mutex mu_;
  size_t min_ = 0, limit_ = 0, cached_ = 0, liveBytes_ = 0, hits_ = 0, misses_ = 0;
  struct Cached {
    void* ptr;
    uint64_t seq;  // when it was freed
  };
  uint64_t nextSeq_ = 0;
  std::map<size_t, std::deque<Cached>> free_;     // by size; most recently freed at the back
  std::set<std::pair<uint64_t, size_t>> age_;     // (seq, size) of every cached block, oldest first
  std::unordered_map<void*, size_t> live_;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

double numArg(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9.0e15) {
    throw JsError(std::string(what) + " must be a non-negative number of bytes");
  }
  return d;
}

}  // namespace

// cpuCacheInstall(minBytes, limitBytes): installs the cache (once; later calls reconfigure it).
napi_value CpuCacheInstall(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  try {
    if (argc < 2) throw JsError("expected (minBytes, limitBytes)");
    const auto minBytes = static_cast<size_t>(numArg(env, argv[0], "minBytes"));
    const auto limitBytes = static_cast<size_t>(numArg(env, argv[1], "limitBytes"));
    if (!CachingCpuAllocator::instance) {
      // Never destroyed: tensors may be freed during process teardown, after static destructors.
      CachingCpuAllocator::instance = new CachingCpuAllocator(c10::GetCPUAllocator());
      CachingCpuAllocator::instance->configure(minBytes, limitBytes);
      c10::SetCPUAllocator(CachingCpuAllocator::instance, /*priority=*/100);
    } else {
      CachingCpuAllocator::instance->configure(minBytes, limitBytes);
    }
    return nullptr;
  } catch (const JsError& e) {
    throwJs(env, "cpuCacheInstall: " + e.message);
  }
  return nullptr;
}

// cpuCacheStats(): [cachedBytes, cachedBlocks, liveBytes, hits, misses, minBytes, limitBytes], or null.
napi_value CpuCacheStats(napi_env env, napi_callback_info) {
  napi_value out;
  if (!CachingCpuAllocator::instance) {
    napi_get_null(env, &out);
    return out;
  }
  const auto s = CachingCpuAllocator::instance->stats();
  const double vals[] = {double(s.cachedBytes), double(s.cachedBlocks), double(s.liveBytes), double(s.hits),
                         double(s.misses),      double(s.minBytes),     double(s.limitBytes)};
  napi_create_array_with_length(env, 7, &out);
  for (uint32_t i = 0; i < 7; i++) napi_set_element(env, out, i, num(env, vals[i]));
  return out;
}

// cpuCacheRelease(): frees every cached block back to the C library.
napi_value CpuCacheRelease(napi_env env, napi_callback_info) {
  if (CachingCpuAllocator::instance) CachingCpuAllocator::instance->release();
  return nullptr;
}

}  // namespace d2c
