// SwiGLU forward/backward (twins of native/cpu/swiglu.cpp): grid-stride elementwise, f32 math.
#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kBlock = 256;

template <typename IO>
__global__ void swiglu_kernel(int64_t n, const typename IO::T* g, const typename IO::T* u, typename IO::T* h) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float gv = IO::load(g, i);
    float sig = 1.f / (1.f + expf(-gv));
    IO::store(h, i, gv * sig * IO::load(u, i));
  }
}

template <typename IO>
__global__ void swiglu_backward_kernel(int64_t n, const typename IO::T* dh, const typename IO::T* g,
                                       const typename IO::T* u, typename IO::T* dg, typename IO::T* du) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float gv = IO::load(g, i), dv = IO::load(dh, i);
    float sig = 1.f / (1.f + expf(-gv));
    float silu = gv * sig;
    IO::store(dg, i, dv * IO::load(u, i) * (sig * (1.f + gv * (1.f - sig))));
    IO::store(du, i, dv * silu);
  }
}
}  // namespace

void swiglu(DType dt, int64_t n, const void* gate, const void* up, void* h) {
  if (n == 0) return;
  with_float_dtype(dt, "swiglu", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    swiglu_kernel<IO><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(n, static_cast<const T*>(gate),
                                                                    static_cast<const T*>(up), static_cast<T*>(h));
    CUDA_CHECK_LAUNCH("swiglu");
  });
}

void swiglu_backward(DType dt, int64_t n, const void* dh, const void* gate, const void* up, void* dgate,
                     void* dup) {
  if (n == 0) return;
  with_float_dtype(dt, "swigluBackward", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    swiglu_backward_kernel<IO><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(
        n, static_cast<const T*>(dh), static_cast<const T*>(gate), static_cast<const T*>(up), static_cast<T*>(dgate),
        static_cast<T*>(dup));
    CUDA_CHECK_LAUNCH("swigluBackward");
  });
}

}  // namespace cuda
}  // namespace mathrl
