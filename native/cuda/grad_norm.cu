// Squared L2 norm of gradients accumulated into one f32 on the device, and the clipping scale: CUDA
// twins of native/cpu/grad_norm.cpp. No host synchronisation: each block reduces its grid-stride share
// (per-thread sums in double, then a block reduction) and atomically adds it to out.
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kBlock = 256;
constexpr unsigned kMaxBlocks = 1024;

template <typename IO>
__global__ void sumsq_kernel(int64_t n, const typename IO::T* __restrict__ g, float* __restrict__ out) {
  double acc = 0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    double x = IO::load(g, i);
    acc += x * x;
  }
  float s = block_reduce(static_cast<float>(acc), SumOp{}, 0.f);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

__global__ void clip_scale_kernel(const float* sumsq, float max_norm, float* norm, float* scale) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  float nrm = sqrtf(sumsq[0]);
  float c = max_norm / (nrm + 1e-6f);
  norm[0] = nrm;
  scale[0] = isnan(c) ? c : fminf(c, 1.f);  // NaN propagates, as torch.clamp(max=1)
}
}  // namespace

void grad_norm_sq(DType dt, int64_t n, const void* g, float* out) {
  if (n <= 0) return;
  with_float_dtype(dt, "grad_norm", [&](auto io) {
    using IO = decltype(io);
    unsigned blocks = grid_for(n, kBlock);
    if (blocks > kMaxBlocks) blocks = kMaxBlocks;
    sumsq_kernel<IO><<<blocks, kBlock, 0, stream()>>>(n, static_cast<const typename IO::T*>(g), out);
    CUDA_CHECK_LAUNCH("grad_norm");
  });
}

void clip_scale(const float* sumsq, float max_norm, float* norm, float* scale) {
  clip_scale_kernel<<<1, 32, 0, stream()>>>(sumsq, max_norm, norm, scale);
  CUDA_CHECK_LAUNCH("clip_scale");
}

}  // namespace cuda
}  // namespace mathrl
