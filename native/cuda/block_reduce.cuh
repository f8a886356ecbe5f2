// Warp/block reductions used by the row-wise kernels.
#pragma once
#include "cuda_common.cuh"

namespace mathrl {
namespace cuda {

struct SumOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
  // NaN-propagating max.
  __device__ __forceinline__ float operator()(float a, float b) const {
    return (a != a || b != b) ? __int_as_float(0x7fffffff) : fmaxf(a, b);
  }
};

template <typename Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// All threads of the block get the result. blockDim.x must be a multiple of 32 (<= 1024).
template <typename Op>
__device__ float block_reduce(float v, Op op, float identity) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  int nw = blockDim.x >> 5;
  v = lane < nw ? partial[lane] : identity;
  return warp_reduce(v, op);
}

}  // namespace cuda
}  // namespace mathrl
