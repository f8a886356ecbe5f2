// Bindings for the elementwise ops (native/cpu/elementwise.cpp, native/cuda/elementwise.cu).
#include "binding.h"

namespace mathrl {
namespace {

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

}  // namespace

MATHRL_EXPORT("fill", Fill);
MATHRL_EXPORT("add", Binary<false>);
MATHRL_EXPORT("mul", Binary<true>);
MATHRL_EXPORT("scale", Scale);
MATHRL_EXPORT("cast", Cast);

}  // namespace mathrl
