// Binding for the AdamW step (native/cpu/adamw.cpp, native/cuda/adamw.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {
namespace {

Buffer* optional_buffer(const Args& a, size_t i, const char* name) {
  Napi::Value v = a.at(i);
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return a.buffer(i, name);
}

float finite(const Args& a, size_t i, const char* name) {
  double d = a.num(i);
  if (!std::isfinite(d)) throw Error(std::string(a.op) + ": " + name + " must be finite");
  return static_cast<float>(d);
}

// adamw(n, param, gradDt, grad, m, v, decay, omb1, beta2, omb2, eps, stepSize, bc2Sqrt, gradScale,
//       gradScaleBuf | null, copyDt, copy | null)
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "adamw"};
    int64_t n = a.count(0);
    Buffer* param = a.buffer(1, "param");
    DType gdt = a.dtype(2);
    Buffer* grad = a.buffer(3, "grad");
    Buffer* m = a.buffer(4, "m");
    Buffer* v = a.buffer(5, "v");
    float decay = finite(a, 6, "decay"), omb1 = finite(a, 7, "1 - beta1"), beta2 = finite(a, 8, "beta2"),
          omb2 = finite(a, 9, "1 - beta2"), eps = finite(a, 10, "eps"), step_size = finite(a, 11, "step size"),
          bc2_sqrt = finite(a, 12, "bias correction");
    float gscale = static_cast<float>(a.num(13));
    Buffer* gscale_buf = optional_buffer(a, 14, "gradScale");
    DType cdt = a.dtype(15);
    Buffer* copy = optional_buffer(a, 16, "computeCopy");
    if (gdt == DType::I32) throw Error("adamw: grad must be f32 or bf16");
    if (copy && cdt == DType::I32) throw Error("adamw: computeCopy must be f32 or bf16");
    if (!(bc2_sqrt > 0)) throw Error("adamw: bias correction must be positive");
    if (param == m || param == v || m == v || param == grad || m == grad || v == grad || (copy && (copy == m || copy == v || copy == grad)))
      throw Error("adamw: param, grad, m, v and computeCopy must be distinct buffers");
    Device dev = param->device();
    need(a.op, "param", param, dev, n, DType::F32);
    need(a.op, "grad", grad, dev, n, gdt);
    need(a.op, "m", m, dev, n, DType::F32);
    need(a.op, "v", v, dev, n, DType::F32);
    if (gscale_buf) need(a.op, "gradScale", gscale_buf, dev, 1, DType::F32);
    if (copy) need(a.op, "computeCopy", copy, dev, n, cdt);
    float* P = static_cast<float*>(param->ptr());
    float* M = static_cast<float*>(m->ptr());
    float* V = static_cast<float*>(v->ptr());
    const float* S = gscale_buf ? static_cast<const float*>(gscale_buf->ptr()) : nullptr;
    void* C = copy ? copy->ptr() : nullptr;
    dispatch(dev, TWIN(adamw(n, P, gdt, grad->ptr(), M, V, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt,
                             gscale, S, cdt, C)));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("adamw", AdamW);

}  // namespace mathrl
