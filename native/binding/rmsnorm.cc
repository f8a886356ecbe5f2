// Bindings for RMSNorm (native/cpu/rmsnorm.cpp, native/cuda/rmsnorm.cu).
#include "binding.h"

namespace mathrl {
namespace {

DType float_dtype(const Args& a, size_t i) {
  DType dt = a.dtype(i);
  if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
  return dt;
}

// rmsnorm(dtx, dtw, rows, D, x, w, eps, y, rstd)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "rmsnorm"};
    DType dx = float_dtype(a, 0), dw = float_dtype(a, 1);
    int64_t rows = a.count(2), D = a.count(3);
    Buffer* x = a.buffer(4, "x");
    Buffer* w = a.buffer(5, "weight");
    float eps = static_cast<float>(a.num(6));
    Buffer* y = a.buffer(7, "y");
    Buffer* rstd = a.buffer(8, "rstd");
    if (D == 0 && rows > 0) throw Error("rmsnorm: the last dimension is empty");
    Device dev = x->device();
    need(a.op, "x", x, dev, rows * D, dx);
    need(a.op, "weight", w, dev, D, dw);
    need(a.op, "y", y, dev, rows * D, dx);
    need(a.op, "rstd", rstd, dev, rows, DType::F32);
    dispatch(dev, TWIN(rmsnorm(dx, dw, rows, D, x->ptr(), w->ptr(), eps, y->ptr(), static_cast<float*>(rstd->ptr()))));
    return info.Env().Undefined();
  });
}

// rmsnormBackward(dtx, dtw, rows, D, dy, x, w, rstd, dx, dweight, accumulate)
Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "rmsnormBackward"};
    DType dx = float_dtype(a, 0), dw = float_dtype(a, 1);
    int64_t rows = a.count(2), D = a.count(3);
    Buffer* dy = a.buffer(4, "dy");
    Buffer* x = a.buffer(5, "x");
    Buffer* w = a.buffer(6, "weight");
    Buffer* rstd = a.buffer(7, "rstd");
    Buffer* dxo = a.buffer(8, "dx");
    Buffer* dweight = a.buffer(9, "dweight");
    bool accumulate = a.flag(10);
    Device dev = x->device();
    need(a.op, "dy", dy, dev, rows * D, dx);
    need(a.op, "x", x, dev, rows * D, dx);
    need(a.op, "weight", w, dev, D, dw);
    need(a.op, "rstd", rstd, dev, rows, DType::F32);
    need(a.op, "dx", dxo, dev, rows * D, dx);
    need(a.op, "dweight", dweight, dev, D, DType::F32);
    dispatch(dev, TWIN(rmsnorm_backward(dx, dw, rows, D, dy->ptr(), x->ptr(), w->ptr(),
                                        static_cast<const float*>(rstd->ptr()), dxo->ptr(),
                                        static_cast<float*>(dweight->ptr()), accumulate)));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("rmsnorm", RmsNorm);
MATHRL_EXPORT("rmsnormBackward", RmsNormBackward);

}  // namespace mathrl
