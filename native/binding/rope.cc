// Binding for rotary position embedding (native/cpu/rope.cpp, native/cuda/rope.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {
namespace {

// rope(dt, B, T, H, Dh, x, positions, posBatched, theta, inverse, y)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "rope"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error("rope: i32 is not supported");
    int64_t B = a.count(1), T = a.count(2), H = a.count(3), Dh = a.count(4);
    Buffer* x = a.buffer(5, "x");
    Buffer* pos = a.buffer(6, "positions");
    bool batched = a.flag(7);
    double theta = a.num(8);
    bool inverse = a.flag(9);
    Buffer* y = a.buffer(10, "y");
    if (Dh % 2 != 0) throw Error("rope: head dimension " + std::to_string(Dh) + " is odd");
    if (!(theta > 0) || !std::isfinite(theta)) throw Error("rope: theta must be a positive finite number");
    Device dev = x->device();
    int64_t n = B * T * H * Dh;
    need(a.op, "x", x, dev, n, dt);
    need(a.op, "positions", pos, dev, batched ? B * T : T, DType::I32);
    need(a.op, "y", y, dev, n, dt);
    dispatch(dev, TWIN(rope(dt, B, T, H, Dh, x->ptr(), static_cast<const int32_t*>(pos->ptr()), batched, theta,
                            inverse, y->ptr())));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("rope", Rope);

}  // namespace mathrl
