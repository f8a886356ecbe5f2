// N-API binding core: device buffers (native-owned memory behind JS handles), transfers, memory
// statistics, backend info, and module init. The ops' bindings live beside this file
// (native/binding/<op>.cc) and register themselves with MATHRL_EXPORT. Every C++ exception becomes
// a JS Error; every buffer is checked (alive, device, size) before a kernel sees its pointer.
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "../cpu/parallel.h"
#include "binding.h"

namespace mathrl {

void register_bench_peers(Napi::Env env, Napi::Object exports);  // native/bench/openblas_peer.cc

std::vector<std::pair<const char*, ExportFn>>& export_registry() {
  static std::vector<std::pair<const char*, ExportFn>> r;
  return r;
}

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

namespace {

struct MemStats {
  int64_t bytes = 0, peak = 0, buffers = 0, allocations = 0;
};
MemStats g_mem[2];

// Host memory cache. Fresh pages cost a page fault each on first touch (tens of microseconds per
// 4 KiB page on the VMs we measured), which made writing a new 32 MiB op output cost several times
// the op's compute. Freed host blocks are kept by size class and reused, up to MATHRL_CPU_CACHE_MB
// (default 2048) of cached bytes; emptyCache() returns them to the system.
class HostCache {
 public:
  static size_t size_class(size_t bytes) {
    if (bytes <= 4096) return ((bytes ? bytes : 1) + 63) / 64 * 64;
    size_t top = size_t(1) << (63 - __builtin_clzll(bytes));  // highest power of two <= bytes
    size_t step = top / 4;                                    // classes 1, 1.25, 1.5, 1.75 x 2^k
    return (bytes + step - 1) / step * step;
  }

  void* get(size_t cls) {
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      cached_ -= cls;
      return p;
    }
    void* p = std::aligned_alloc(64, cls);  // cls is a multiple of 64
    if (!p && cached_) {                    // give the cache back and retry once
      empty();
      p = std::aligned_alloc(64, cls);
    }
    return p;
  }

  void put(void* p, size_t cls) {
    if (cached_ + cls > limit()) {
      std::free(p);
      return;
    }
    free_[cls].push_back(p);
    cached_ += cls;
  }

  void empty() {
    for (auto& kv : free_)
      for (void* p : kv.second) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  size_t cached() const { return cached_; }

 private:
  static size_t limit() {
    static const size_t l = [] {
      const char* e = std::getenv("MATHRL_CPU_CACHE_MB");
      return (e && *e ? static_cast<size_t>(std::atoll(e)) : size_t(2048)) << 20;
    }();
    return l;
  }
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};
// Never destroyed: buffers may still be released by finalizers during process teardown.
HostCache& host_cache() {
  static HostCache* cache = new HostCache;
  return *cache;
}

void* raw_alloc(Device dev, size_t bytes) {
  if (dev == Device::CPU) {
    // 64-byte alignment for AVX-512 loads.
    void* p = host_cache().get(HostCache::size_class(bytes));
    if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
#ifdef MATHRL_WITH_CUDA
  return cuda::malloc(bytes);
#else
  throw Error("this build of mathrl has no CUDA backend (built without nvcc or with MATHRL_CUDA=OFF)");
#endif
}

void raw_free(Device dev, void* p, size_t bytes) {
  if (dev == Device::CPU) {
    host_cache().put(p, HostCache::size_class(bytes));
    return;
  }
#ifdef MATHRL_WITH_CUDA
  cuda::free(p);
#endif
}

// MATHRL_POISON=1 fills every new allocation with 0xFF bytes (NaN for f32/bf16, -1 for i32), so a
// kernel that leaves an output element unwritten shows up in tests instead of passing on stale zeros.
bool poison() {
  static const bool on = [] {
    const char* e = std::getenv("MATHRL_POISON");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}

void poison_fill(Device dev, void* p, size_t bytes) {
  if (dev == Device::CPU) {
    std::memset(p, 0xff, bytes);
    return;
  }
#ifdef MATHRL_WITH_CUDA
  cuda::memset(p, 0xff, bytes);
#endif
}

// ---------------------------------------------------------------------------------------------
// Buffer

}  // namespace

Napi::FunctionReference Buffer::ctor;

Napi::Function Buffer::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "NativeBuffer",
                                 {InstanceMethod("free", &Buffer::Free),
                                  InstanceAccessor("bytes", &Buffer::Bytes, nullptr),
                                  InstanceAccessor("device", &Buffer::Dev, nullptr),
                                  InstanceAccessor("freed", &Buffer::Freed, nullptr)});
  ctor = Napi::Persistent(f);
  ctor.SuppressDestruct();
  return f;
}

Buffer::Buffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Buffer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "NativeBuffer(bytes, device): expected two numbers");
  double b = info[0].As<Napi::Number>().DoubleValue();
  int d = info[1].As<Napi::Number>().Int32Value();
  if (!(b >= 0) || b > 1e15 || b != static_cast<double>(static_cast<int64_t>(b)))
    throw Napi::RangeError::New(env, "NativeBuffer: invalid byte size " + std::to_string(b));
  if (d != 0 && d != 1) throw Napi::RangeError::New(env, "NativeBuffer: invalid device id");
  dev_ = static_cast<Device>(d);
  bytes_ = static_cast<size_t>(b);
  try {
    ptr_ = raw_alloc(dev_, bytes_);
    if (poison()) poison_fill(dev_, ptr_, bytes_);
  } catch (const std::exception& e) {
    if (ptr_) raw_free(dev_, ptr_, bytes_);
    ptr_ = nullptr;
    throw Napi::Error::New(env, e.what());
  }
  MemStats& m = g_mem[d];
  m.bytes += bytes_;
  m.buffers += 1;
  m.allocations += 1;
  if (m.bytes > m.peak) m.peak = m.bytes;
  if (dev_ == Device::CPU) Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes_));
}

Buffer::~Buffer() { release(nullptr); }

void Buffer::release(napi_env env) {
  if (!ptr_) return;
  raw_free(dev_, ptr_, bytes_);
  ptr_ = nullptr;
  MemStats& m = g_mem[static_cast<int>(dev_)];
  m.bytes -= bytes_;
  m.buffers -= 1;
  if (env && dev_ == Device::CPU)
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(bytes_));
}

Napi::Value Buffer::Free(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}
Napi::Value Buffer::Bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
}
Napi::Value Buffer::Dev(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_name(dev_)); }
Napi::Value Buffer::Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr_ == nullptr); }

namespace {


// ---------------------------------------------------------------------------------------------
// Exported functions

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("cpu", true);
  r.Set("threads", cpu::num_threads());
  Napi::Object c = Napi::Object::New(env);
#ifdef MATHRL_WITH_CUDA
  const cuda::Info& i = cuda::info();
  c.Set("compiled", true);
  c.Set("available", i.available);
  c.Set("devices", i.devices);
  c.Set("name", i.name);
  c.Set("computeCapability", std::to_string(i.cc_major) + "." + std::to_string(i.cc_minor));
  c.Set("totalMemory", static_cast<double>(i.total_memory));
  c.Set("runtimeVersion", i.runtime_version);
  c.Set("driverVersion", i.driver_version);
  if (!i.available) c.Set("reason", i.reason);
#else
  c.Set("compiled", false);
  c.Set("available", false);
  c.Set("devices", 0);
  c.Set("reason", "built without CUDA");
#endif
  r.Set("cuda", c);
  return r;
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "memory"};
    int d = static_cast<int>(a.num(0));
    if (d != 0 && d != 1) throw Error("memory: invalid device id");
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("bytes", static_cast<double>(g_mem[d].bytes));
    r.Set("peakBytes", static_cast<double>(g_mem[d].peak));
    r.Set("buffers", static_cast<double>(g_mem[d].buffers));
    r.Set("allocations", static_cast<double>(g_mem[d].allocations));
    r.Set("cachedBytes", d == 0 ? static_cast<double>(host_cache().cached()) : 0.0);
    return r;
  });
}

// emptyCache(): frees the cached (unused) host blocks.
Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  host_cache().empty();
  return info.Env().Undefined();
}

Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info) {
  for (auto& m : g_mem) m.peak = m.bytes;
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "setNumThreads"};
    int64_t n = a.count(0);
    if (n < 1 || n > 1024) throw Error("setNumThreads: expected 1..1024 threads");
    cpu::set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
#ifdef MATHRL_WITH_CUDA
    if (cuda::info().available) cuda::synchronize();
#endif
    return info.Env().Undefined();
  });
}

// upload(buf, typedArray) / download(buf, typedArray): whole-array byte copies host <-> buffer.
Napi::Value Transfer(const Napi::CallbackInfo& info, bool up) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, up ? "upload" : "download"};
    Buffer* b = a.buffer(0, "buffer");
    Napi::Value v = a.at(1);
    if (!v.IsTypedArray()) throw Error(std::string(a.op) + ": expected a typed array");
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    size_t bytes = ta.ByteLength();
    if (bytes > b->bytes())
      throw Error(std::string(a.op) + ": array of " + std::to_string(bytes) + " bytes exceeds buffer of " +
                  std::to_string(b->bytes()));
    uint8_t* host = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (b->device() == Device::CPU) {
      if (up) std::memcpy(b->ptr(), host, bytes);
      else std::memcpy(host, b->ptr(), bytes);
    } else {
#ifdef MATHRL_WITH_CUDA
      if (up) cuda::memcpy_h2d(b->ptr(), host, bytes);
      else cuda::memcpy_d2h(host, b->ptr(), bytes);
#endif
    }
    return info.Env().Undefined();
  });
}
Napi::Value Upload(const Napi::CallbackInfo& info) { return Transfer(info, true); }
Napi::Value Download(const Napi::CallbackInfo& info) { return Transfer(info, false); }

// copy(dst, src, bytes): any device to any device.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "copy"};
    Buffer* dst = a.buffer(0, "dst");
    Buffer* src = a.buffer(1, "src");
    size_t bytes = static_cast<size_t>(a.count(2));
    if (bytes > dst->bytes() || bytes > src->bytes()) throw Error("copy: byte count exceeds a buffer");
    Device sd = src->device(), dd = dst->device();
    if (sd == Device::CPU && dd == Device::CPU) {
      std::memcpy(dst->ptr(), src->ptr(), bytes);
    } else {
#ifdef MATHRL_WITH_CUDA
      if (sd == Device::CPU) cuda::memcpy_h2d(dst->ptr(), src->ptr(), bytes);
      else if (dd == Device::CPU) cuda::memcpy_d2h(dst->ptr(), src->ptr(), bytes);
      else cuda::memcpy_d2d(dst->ptr(), src->ptr(), bytes);
#endif
    }
    return info.Env().Undefined();
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeBuffer", Buffer::Init(env));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("resetPeakMemory", Napi::Function::New(env, ResetPeakMemory));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("copy", Napi::Function::New(env, Copy));
  for (const auto& e : export_registry()) exports.Set(e.first, Napi::Function::New(env, e.second, e.first));
  register_bench_peers(env, exports);
  return exports;
}

}  // namespace mathrl

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return mathrl::Init(env, exports); }
NODE_API_MODULE(mathrl, InitModule)
