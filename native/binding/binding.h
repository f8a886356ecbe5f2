// Shared by the binding files (native/binding/<op>.cc): the Buffer handle, argument checks that
// turn misuse into JS Errors, CPU/CUDA dispatch, and self-registration of exported functions.
#pragma once
#include <napi.h>

#include <string>
#include <utility>
#include <vector>

#include "../common.h"
#include "../cpu/ops.h"
#ifdef MATHRL_WITH_CUDA
#include "../cuda/ops.h"
#include "../cuda/runtime.h"
#endif

namespace mathrl {

const char* device_name(Device d);

// One allocation on one device. JS Tensors share a Buffer for views (reshape).
class Buffer : public Napi::ObjectWrap<Buffer> {
 public:
  static Napi::FunctionReference ctor;
  static Napi::Function Init(Napi::Env env);

  explicit Buffer(const Napi::CallbackInfo& info);  // new NativeBuffer(bytes, device)
  ~Buffer() override;

  void release(napi_env env);
  void* ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return dev_; }

 private:
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value Dev(const Napi::CallbackInfo& info);
  Napi::Value Freed(const Napi::CallbackInfo& info);

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device dev_ = Device::CPU;
};

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
inline void need(const char* op, const char* name, Buffer* b, Device dev, int64_t elems, DType dt) {
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
// Exported functions register themselves: MATHRL_EXPORT("name", Fn) at namespace scope in any binding
// file puts Fn on the addon's exports as `name`, so adding an op touches no central list.

using ExportFn = Napi::Value (*)(const Napi::CallbackInfo&);
std::vector<std::pair<const char*, ExportFn>>& export_registry();

struct ExportRegistration {
  ExportRegistration(const char* name, ExportFn fn) { export_registry().emplace_back(name, fn); }
};

#define MATHRL_EXPORT_CAT2(a, b) a##b
#define MATHRL_EXPORT_CAT(a, b) MATHRL_EXPORT_CAT2(a, b)
#define MATHRL_EXPORT(name, fn) \
  static ::mathrl::ExportRegistration MATHRL_EXPORT_CAT(mathrl_export_, __LINE__)(name, fn)

}  // namespace mathrl
