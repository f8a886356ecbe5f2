// AdamW step (torch.optim.AdamW, decoupled weight decay), in place: CPU reference.
// Per element, in f32 (the host precomputed the step's scalars in double):
//   g = grad * scale;  p *= decay (= 1 - lr*wd);  m += (1-b1)(g - m);  v = b2 v + (1-b2) g^2
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps)      step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t)
// and optionally copy[i] = p (f32, or bf16 rounded to nearest even).
#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace mathrl {
namespace cpu {

namespace {
constexpr int64_t kGrain = 1 << 14;

struct NoCopy {};

template <typename GIO, typename CIO>
void adamw_impl(int64_t n, float* param, const typename GIO::T* grad, float* m, float* v, float decay, float omb1,
                float beta2, float omb2, float eps, float step_size, float bc2_sqrt, float scale, void* copy) {
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    for (int64_t i = s; i < e; ++i) {
      float g = GIO::load(grad, i) * scale;
      float p = param[i] * decay;
      float mi = m[i] + omb1 * (g - m[i]);
      float vi = beta2 * v[i] + omb2 * (g * g);
      p -= step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
      m[i] = mi;
      v[i] = vi;
      param[i] = p;
      if constexpr (!std::is_same<CIO, NoCopy>::value) CIO::store(static_cast<typename CIO::T*>(copy), i, p);
    }
  }, kGrain);
}

template <typename GIO>
void adamw_copy(int64_t n, float* param, const void* grad, float* m, float* v, float decay, float omb1, float beta2,
                float omb2, float eps, float step_size, float bc2_sqrt, float scale, DType copy_dt, void* copy) {
  const auto* g = static_cast<const typename GIO::T*>(grad);
  if (!copy)
    adamw_impl<GIO, NoCopy>(n, param, g, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, scale, copy);
  else if (copy_dt == DType::F32)
    adamw_impl<GIO, F32>(n, param, g, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, scale, copy);
  else if (copy_dt == DType::BF16)
    adamw_impl<GIO, BF16>(n, param, g, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, scale, copy);
  else
    throw Error(std::string("adamw: computeCopy dtype ") + dtype_name(copy_dt) + " is not supported");
}
}  // namespace

void adamw(int64_t n, float* param, DType grad_dt, const void* grad, float* m, float* v, float decay, float omb1,
           float beta2, float omb2, float eps, float step_size, float bc2_sqrt, float grad_scale,
           const float* grad_scale_ptr, DType copy_dt, void* copy) {
  if (n <= 0) return;
  float scale = grad_scale * (grad_scale_ptr ? *grad_scale_ptr : 1.f);
  if (grad_dt == DType::F32)
    adamw_copy<F32>(n, param, grad, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, scale, copy_dt, copy);
  else if (grad_dt == DType::BF16)
    adamw_copy<BF16>(n, param, grad, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, scale, copy_dt, copy);
  else
    throw Error(std::string("adamw: grad dtype ") + dtype_name(grad_dt) + " is not supported");
}

}  // namespace cpu
}  // namespace mathrl
