// N-API binding: device buffers (native-owned memory behind JS handles) and op dispatch to the
// CPU reference kernels (native/cpu) or their CUDA twins (native/cuda). Every C++ exception becomes
// a JS Error; every buffer is checked (alive, device, size) before a kernel sees its pointer.
#include <napi.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"
#ifdef MATHRL_WITH_CUDA
#include "cuda/ops.h"
#include "cuda/runtime.h"
#endif

namespace mathrl {

void register_bench_peers(Napi::Env env, Napi::Object exports);  // bench/openblas_peer.cc

namespace {

struct MemStats {
  int64_t bytes = 0, peak = 0, buffers = 0, allocations = 0;
};
MemStats g_mem[2];

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

void* raw_alloc(Device dev, size_t bytes) {
  if (dev == Device::CPU) {
    // 64-byte alignment for AVX-512 loads; aligned_alloc needs a multiple of the alignment.
    size_t rounded = ((bytes ? bytes : 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
#ifdef MATHRL_WITH_CUDA
  return cuda::malloc(bytes);
#else
  throw Error("this build of mathrl has no CUDA backend (built without nvcc or with MATHRL_CUDA=OFF)");
#endif
}

void raw_free(Device dev, void* p) {
  if (dev == Device::CPU) {
    std::free(p);
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
// Buffer: one allocation on one device. JS Tensors share a Buffer for views (reshape).

class Buffer : public Napi::ObjectWrap<Buffer> {
 public:
  static Napi::FunctionReference ctor;

  static Napi::Function Init(Napi::Env env) {
    Napi::Function f = DefineClass(env, "NativeBuffer",
                                   {InstanceMethod("free", &Buffer::Free),
                                    InstanceAccessor("bytes", &Buffer::Bytes, nullptr),
                                    InstanceAccessor("device", &Buffer::Dev, nullptr),
                                    InstanceAccessor("freed", &Buffer::Freed, nullptr)});
    ctor = Napi::Persistent(f);
    ctor.SuppressDestruct();
    return f;
  }

  // new NativeBuffer(bytes, device)
  Buffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Buffer>(info) {
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
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    if (poison()) poison_fill(dev_, ptr_, bytes_);
    MemStats& m = g_mem[d];
    m.bytes += bytes_;
    m.buffers += 1;
    m.allocations += 1;
    if (m.bytes > m.peak) m.peak = m.bytes;
    if (dev_ == Device::CPU) Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes_));
  }

  ~Buffer() override { release(nullptr); }

  void release(napi_env env) {
    if (!ptr_) return;
    raw_free(dev_, ptr_);
    ptr_ = nullptr;
    MemStats& m = g_mem[static_cast<int>(dev_)];
    m.bytes -= bytes_;
    m.buffers -= 1;
    if (env && dev_ == Device::CPU)
      Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(bytes_));
  }

  void* ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return dev_; }

 private:
  Napi::Value Free(const Napi::CallbackInfo& info) {
    release(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
  }
  Napi::Value Dev(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), device_name(dev_));
  }
  Napi::Value Freed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), ptr_ == nullptr);
  }

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device dev_ = Device::CPU;
};
Napi::FunctionReference Buffer::ctor;

// ---------------------------------------------------------------------------------------------
// Argument helpers. They throw mathrl::Error; guard() turns it into a JS Error.

struct Args {
  const Napi::CallbackInfo& info;
  const char* op;

  Napi::Value at(size_t i) const {
    if (i >= info.Length()) throw Error(std::string(op) + ": missing argument " + std::to_string(i));
    return info[i];
  }
  double num(size_t i) const {
    Napi::Value v = at(i);
    if (!v.IsNumber()) throw Error(std::string(op) + ": argument " + std::to_string(i) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  int64_t count(size_t i) const {
    double d = num(i);
    if (!(d >= 0) || d > 9e15 || d != static_cast<double>(static_cast<int64_t>(d)))
      throw Error(std::string(op) + ": argument " + std::to_string(i) + " must be a non-negative integer");
    return static_cast<int64_t>(d);
  }
  bool flag(size_t i) const { return at(i).ToBoolean().Value(); }
  DType dtype(size_t i) const {
    double d = num(i);
    if (d != 0 && d != 1 && d != 2) throw Error(std::string(op) + ": unknown dtype id");
    return static_cast<DType>(static_cast<int>(d));
  }
  Buffer* buffer(size_t i, const char* name) const {
    Napi::Value v = at(i);
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Buffer::ctor.Value()))
      throw Error(std::string(op) + ": " + name + " is not a tensor buffer");
    Buffer* b = Buffer::Unwrap(v.As<Napi::Object>());
    if (!b || !b->ptr()) throw Error(std::string(op) + ": " + name + " was disposed");
    return b;
  }
};

// Checks that buf holds at least `elems` elements of dt on device dev.
void need(const char* op, const char* name, Buffer* b, Device dev, int64_t elems, DType dt) {
  if (b->device() != dev)
    throw Error(std::string(op) + ": " + name + " is on " + device_name(b->device()) + ", expected " +
                device_name(dev));
  size_t want = static_cast<size_t>(elems) * dtype_size(dt);
  if (b->bytes() < want)
    throw Error(std::string(op) + ": " + name + " holds " + std::to_string(b->bytes()) + " bytes, needs " +
                std::to_string(want));
}

template <typename F>
Napi::Value guard(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// Runs the CPU or CUDA twin of an op.
template <typename Cpu, typename Gpu>
void dispatch(Device dev, Cpu&& cpu_fn, Gpu&& gpu_fn) {
  if (dev == Device::CPU) {
    cpu_fn();
    return;
  }
#ifdef MATHRL_WITH_CUDA
  gpu_fn();
#else
  (void)gpu_fn;
  throw Error("this build of mathrl has no CUDA backend");
#endif
}

#ifdef MATHRL_WITH_CUDA
#define TWIN(call) [&] { cpu::call; }, [&] { cuda::call; }
#else
#define TWIN(call) [&] { cpu::call; }, [&] {}
#endif

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
    return r;
  });
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

// fill(dt, n, value, out)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "fill"};
    DType dt = a.dtype(0);
    int64_t n = a.count(1);
    float v = static_cast<float>(a.num(2));
    Buffer* out = a.buffer(3, "out");
    Device dev = out->device();
    need(a.op, "out", out, dev, n, dt);
    dispatch(dev, TWIN(fill(dt, n, v, out->ptr())));
    return info.Env().Undefined();
  });
}

// add/mul(dt, n, a, b, nb, out)
template <bool kMul>
Napi::Value Binary(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, kMul ? "mul" : "add"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
    int64_t n = a.count(1);
    Buffer* x = a.buffer(2, "a");
    Buffer* y = a.buffer(3, "b");
    int64_t nb = a.count(4);
    Buffer* out = a.buffer(5, "out");
    if (nb == 0 ? n != 0 : n % nb != 0)
      throw Error(std::string(a.op) + ": b has " + std::to_string(nb) + " elements, which does not divide " +
                  std::to_string(n));
    Device dev = x->device();
    need(a.op, "a", x, dev, n, dt);
    need(a.op, "b", y, dev, nb, dt);
    need(a.op, "out", out, dev, n, dt);
    if (kMul) dispatch(dev, TWIN(mul(dt, n, x->ptr(), y->ptr(), nb, out->ptr())));
    else dispatch(dev, TWIN(add(dt, n, x->ptr(), y->ptr(), nb, out->ptr())));
    return info.Env().Undefined();
  });
}

// scale(dt, n, a, alpha, betaAdd, out)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "scale"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error("scale: i32 is not supported");
    int64_t n = a.count(1);
    Buffer* x = a.buffer(2, "a");
    float alpha = static_cast<float>(a.num(3));
    float beta = static_cast<float>(a.num(4));
    Buffer* out = a.buffer(5, "out");
    Device dev = x->device();
    need(a.op, "a", x, dev, n, dt);
    need(a.op, "out", out, dev, n, dt);
    dispatch(dev, TWIN(scale(dt, n, x->ptr(), alpha, beta, out->ptr())));
    return info.Env().Undefined();
  });
}

// cast(from, to, n, a, out)
Napi::Value Cast(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "cast"};
    DType from = a.dtype(0), to = a.dtype(1);
    if ((from == DType::I32) != (to == DType::I32) && !(from == DType::I32 && to == DType::F32))
      throw Error(std::string("cast: ") + dtype_name(from) + " -> " + dtype_name(to) + " is not supported");
    int64_t n = a.count(2);
    Buffer* x = a.buffer(3, "a");
    Buffer* out = a.buffer(4, "out");
    Device dev = x->device();
    need(a.op, "a", x, dev, n, from);
    need(a.op, "out", out, dev, n, to);
    dispatch(dev, TWIN(cast(from, to, n, x->ptr(), out->ptr())));
    return info.Env().Undefined();
  });
}

// Row-wise ops over [rows, cols]: (dt, rows, cols, a, out). Reductions write rows elements.
enum class RowOp { Sum, Max, Softmax, LogSoftmax };
template <RowOp kOp>
Napi::Value Rowwise(const Napi::CallbackInfo& info) {
  static const char* names[] = {"sum", "max", "softmax", "logSoftmax"};
  return guard(info, [&]() -> Napi::Value {
    Args a{info, names[static_cast<int>(kOp)]};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
    int64_t rows = a.count(1), cols = a.count(2);
    Buffer* x = a.buffer(3, "a");
    Buffer* out = a.buffer(4, "out");
    if (cols == 0 && rows > 0) throw Error(std::string(a.op) + ": last dimension is empty");
    Device dev = x->device();
    need(a.op, "a", x, dev, rows * cols, dt);
    bool reduce = kOp == RowOp::Sum || kOp == RowOp::Max;
    need(a.op, "out", out, dev, reduce ? rows : rows * cols, dt);
    switch (kOp) {
      case RowOp::Sum: dispatch(dev, TWIN(sum_lastdim(dt, rows, cols, x->ptr(), out->ptr()))); break;
      case RowOp::Max: dispatch(dev, TWIN(max_lastdim(dt, rows, cols, x->ptr(), out->ptr()))); break;
      case RowOp::Softmax: dispatch(dev, TWIN(softmax_lastdim(dt, rows, cols, x->ptr(), out->ptr()))); break;
      case RowOp::LogSoftmax:
        dispatch(dev, TWIN(log_softmax_lastdim(dt, rows, cols, x->ptr(), out->ptr())));
        break;
    }
    return info.Env().Undefined();
  });
}

// gemm(A, B, C, {transA, transB, batch, M, N, K, alpha, beta, dtA, dtB, dtC, strideA, strideB, strideC})
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "gemm"};
    Buffer* A = a.buffer(0, "A");
    Buffer* B = a.buffer(1, "B");
    Buffer* C = a.buffer(2, "C");
    Napi::Value ov = a.at(3);
    if (!ov.IsObject()) throw Error("gemm: options must be an object");
    Napi::Object o = ov.As<Napi::Object>();
    auto get = [&](const char* k) -> double {
      Napi::Value v = o.Get(k);
      if (!v.IsNumber()) throw Error(std::string("gemm: option ") + k + " must be a number");
      return v.As<Napi::Number>().DoubleValue();
    };
    auto geti = [&](const char* k) -> int64_t {
      double d = get(k);
      if (!(d >= 0) || d > 9e15 || d != static_cast<double>(static_cast<int64_t>(d)))
        throw Error(std::string("gemm: option ") + k + " must be a non-negative integer");
      return static_cast<int64_t>(d);
    };
    auto getdt = [&](const char* k) {
      double d = get(k);
      if (d != 0 && d != 1) throw Error(std::string("gemm: ") + k + " must be f32 or bf16");
      return static_cast<DType>(static_cast<int>(d));
    };
    GemmArgs g;
    g.transA = o.Get("transA").ToBoolean().Value();
    g.transB = o.Get("transB").ToBoolean().Value();
    g.batch = geti("batch");
    g.M = geti("M");
    g.N = geti("N");
    g.K = geti("K");
    g.alpha = static_cast<float>(get("alpha"));
    g.beta = static_cast<float>(get("beta"));
    g.dtA = getdt("dtA");
    g.dtB = getdt("dtB");
    g.dtC = getdt("dtC");
    g.strideA = geti("strideA");
    g.strideB = geti("strideB");
    g.strideC = geti("strideC");
    if (g.dtA != g.dtB) throw Error("gemm: A and B must have the same dtype");
    if (g.batch < 1) throw Error("gemm: batch must be >= 1");
    if (g.strideC < g.M * g.N && g.batch > 1) throw Error("gemm: C batches would overlap");
    Device dev = A->device();
    auto extent = [&](int64_t stride, int64_t rows, int64_t cols) {
      return stride * (g.batch - 1) + rows * cols;
    };
    need("gemm", "A", A, dev, extent(g.strideA, g.M, g.K), g.dtA);
    need("gemm", "B", B, dev, extent(g.strideB, g.K, g.N), g.dtB);
    need("gemm", "C", C, dev, extent(g.strideC, g.M, g.N), g.dtC);
    g.A = A->ptr();
    g.B = B->ptr();
    g.C = C->ptr();
    dispatch(dev, TWIN(gemm(g)));
    return info.Env().Undefined();
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeBuffer", Buffer::Init(env));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("resetPeakMemory", Napi::Function::New(env, ResetPeakMemory));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("fill", Napi::Function::New(env, Fill));
  exports.Set("add", Napi::Function::New(env, Binary<false>));
  exports.Set("mul", Napi::Function::New(env, Binary<true>));
  exports.Set("scale", Napi::Function::New(env, Scale));
  exports.Set("cast", Napi::Function::New(env, Cast));
  exports.Set("sum", Napi::Function::New(env, Rowwise<RowOp::Sum>));
  exports.Set("max", Napi::Function::New(env, Rowwise<RowOp::Max>));
  exports.Set("softmax", Napi::Function::New(env, Rowwise<RowOp::Softmax>));
  exports.Set("logSoftmax", Napi::Function::New(env, Rowwise<RowOp::LogSoftmax>));
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  register_bench_peers(env, exports);
  return exports;
}

}  // namespace mathrl

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return mathrl::Init(env, exports); }
NODE_API_MODULE(mathrl, InitModule)
