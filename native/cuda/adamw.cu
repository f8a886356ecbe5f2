// AdamW step in place (torch.optim.AdamW): CUDA twin of native/cpu/adamw.cpp, one grid-stride pass
// that reads param/grad/m/v, writes param/m/v and optionally a f32/bf16 copy of the new param.
#include <type_traits>

#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kBlock = 256;

struct NoCopy {
  using T = void;
};

template <typename GIO, typename CIO>
__global__ void adamw_kernel(int64_t n, float* __restrict__ param, const typename GIO::T* __restrict__ grad,
                             float* __restrict__ m, float* __restrict__ v, float decay, float omb1, float beta2,
                             float omb2, float eps, float step_size, float bc2_sqrt, float grad_scale,
                             const float* __restrict__ grad_scale_ptr, typename CIO::T* __restrict__ copy) {
  const float scale = grad_scale * (grad_scale_ptr ? *grad_scale_ptr : 1.f);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = GIO::load(grad, i) * scale;
    float p = param[i] * decay;
    float mi = m[i];
    mi = mi + omb1 * (g - mi);
    float vi = beta2 * v[i] + omb2 * (g * g);
    p -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
    if constexpr (!std::is_same<CIO, NoCopy>::value) CIO::store(copy, i, p);
  }
}

template <typename GIO, typename CIO>
void launch(int64_t n, float* param, const void* grad, float* m, float* v, float decay, float omb1, float beta2,
            float omb2, float eps, float step_size, float bc2_sqrt, float grad_scale, const float* grad_scale_ptr,
            void* copy) {
  adamw_kernel<GIO, CIO><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(
      n, param, static_cast<const typename GIO::T*>(grad), m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt,
      grad_scale, grad_scale_ptr, static_cast<typename CIO::T*>(copy));
  CUDA_CHECK_LAUNCH("adamw");
}

template <typename GIO>
void with_copy(int64_t n, float* param, const void* grad, float* m, float* v, float decay, float omb1, float beta2,
               float omb2, float eps, float step_size, float bc2_sqrt, float grad_scale, const float* grad_scale_ptr,
               DType copy_dt, void* copy) {
  if (!copy)
    launch<GIO, NoCopy>(n, param, grad, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, grad_scale,
                        grad_scale_ptr, copy);
  else if (copy_dt == DType::F32)
    launch<GIO, F32>(n, param, grad, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, grad_scale,
                     grad_scale_ptr, copy);
  else if (copy_dt == DType::BF16)
    launch<GIO, BF16>(n, param, grad, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, grad_scale,
                      grad_scale_ptr, copy);
  else
    throw Error(std::string("adamw: computeCopy dtype ") + dtype_name(copy_dt) + " is not supported");
}
}  // namespace

void adamw(int64_t n, float* param, DType grad_dt, const void* grad, float* m, float* v, float decay, float omb1,
           float beta2, float omb2, float eps, float step_size, float bc2_sqrt, float grad_scale,
           const float* grad_scale_ptr, DType copy_dt, void* copy) {
  if (n <= 0) return;
  if (grad_dt == DType::F32)
    with_copy<F32>(n, param, grad, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, grad_scale,
                   grad_scale_ptr, copy_dt, copy);
  else if (grad_dt == DType::BF16)
    with_copy<BF16>(n, param, grad, m, v, decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, grad_scale,
                    grad_scale_ptr, copy_dt, copy);
  else
    throw Error(std::string("adamw: grad dtype ") + dtype_name(grad_dt) + " is not supported");
}

}  // namespace cuda
}  // namespace mathrl
