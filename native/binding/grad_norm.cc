// Bindings for the gradient norm and clipping scale (native/cpu/grad_norm.cpp, native/cuda/grad_norm.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {
namespace {

// gradNormSq(dt, n, g, out): out[0] += sum(g^2)
Napi::Value GradNormSq(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "gradNormSquared"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error("gradNormSquared: gradients must be f32 or bf16");
    int64_t n = a.count(1);
    Buffer* g = a.buffer(2, "grad");
    Buffer* out = a.buffer(3, "out");
    Device dev = g->device();
    need(a.op, "grad", g, dev, n, dt);
    need(a.op, "out", out, dev, 1, DType::F32);
    float* o = static_cast<float*>(out->ptr());
    dispatch(dev, TWIN(grad_norm_sq(dt, n, g->ptr(), o)));
    return info.Env().Undefined();
  });
}

// clipScale(sumsq, maxNorm, norm, scale)
Napi::Value ClipScale(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "clipGradNorm"};
    Buffer* sumsq = a.buffer(0, "sumsq");
    double max_norm = a.num(1);
    Buffer* norm = a.buffer(2, "norm");
    Buffer* scale = a.buffer(3, "scale");
    if (!(max_norm > 0)) throw Error("clipGradNorm: maxNorm must be a positive number");
    Device dev = sumsq->device();
    need(a.op, "sumsq", sumsq, dev, 1, DType::F32);
    need(a.op, "norm", norm, dev, 1, DType::F32);
    need(a.op, "scale", scale, dev, 1, DType::F32);
    const float* s = static_cast<const float*>(sumsq->ptr());
    float* nr = static_cast<float*>(norm->ptr());
    float* sc = static_cast<float*>(scale->ptr());
    float mn = static_cast<float>(max_norm);
    dispatch(dev, TWIN(clip_scale(s, mn, nr, sc)));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("gradNormSq", GradNormSq);
MATHRL_EXPORT("clipScale", ClipScale);

}  // namespace mathrl
