// Bindings for SwiGLU (native/cpu/swiglu.cpp, native/cuda/swiglu.cu).
#include "binding.h"

namespace mathrl {
namespace {

// swiglu(dt, n, gate, up, h)
Napi::Value SwiGlu(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "swiglu"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error("swiglu: i32 is not supported");
    int64_t n = a.count(1);
    Buffer* g = a.buffer(2, "gate");
    Buffer* u = a.buffer(3, "up");
    Buffer* h = a.buffer(4, "h");
    Device dev = g->device();
    need(a.op, "gate", g, dev, n, dt);
    need(a.op, "up", u, dev, n, dt);
    need(a.op, "h", h, dev, n, dt);
    dispatch(dev, TWIN(swiglu(dt, n, g->ptr(), u->ptr(), h->ptr())));
    return info.Env().Undefined();
  });
}

// swigluBackward(dt, n, dh, gate, up, dgate, dup)
Napi::Value SwiGluBackward(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "swigluBackward"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error("swigluBackward: i32 is not supported");
    int64_t n = a.count(1);
    Buffer* dh = a.buffer(2, "dh");
    Buffer* g = a.buffer(3, "gate");
    Buffer* u = a.buffer(4, "up");
    Buffer* dg = a.buffer(5, "dgate");
    Buffer* du = a.buffer(6, "dup");
    Device dev = g->device();
    need(a.op, "dh", dh, dev, n, dt);
    need(a.op, "gate", g, dev, n, dt);
    need(a.op, "up", u, dev, n, dt);
    need(a.op, "dgate", dg, dev, n, dt);
    need(a.op, "dup", du, dev, n, dt);
    dispatch(dev, TWIN(swiglu_backward(dt, n, dh->ptr(), g->ptr(), u->ptr(), dg->ptr(), du->ptr())));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("swiglu", SwiGlu);
MATHRL_EXPORT("swigluBackward", SwiGluBackward);

}  // namespace mathrl
