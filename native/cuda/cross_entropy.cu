// Fused softmax cross-entropy (twin of native/cpu/cross_entropy.cpp). Three kernels on the stream:
//   1. count: one block counts the non-ignored targets -> count[0];
//   2. rows: one block per row (grid-stride), one online max/sum-of-exp pass over the logits (no
//      softmax buffer), loss row = logsumexp - logit[target]; then, when dlogits is given, a second
//      sweep writes (softmax - onehot) * scale (scale = grad_scale, or 1/count read from device memory);
//   3. loss: one block sums the losses and divides by count (0 when count is 0).
// A target outside [0, V) that is not ignore_index never touches memory outside the row: its loss is
// NaN, its gradient row 0, and the first such (row, target) is recorded for the host (index_flag.cuh).
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "index_flag.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {

constexpr int kReduceThreads = 1024;

__global__ void ce_count_kernel(int64_t N, const int32_t* targets, int32_t ignore_index, float* count) {
  int64_t cnt = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) cnt += targets[i] != ignore_index ? 1 : 0;
  float total = block_reduce(static_cast<float>(cnt), SumOp{}, 0.f);
  if (threadIdx.x == 0) *count = total;
}

__global__ void ce_loss_kernel(int64_t N, const float* losses, const float* count, float* loss) {
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += losses[i];
  s = block_reduce(s, SumOp{}, 0.f);
  if (threadIdx.x == 0) {
    float c = *count;
    *loss = c > 0.f ? s / c : 0.f;
  }
}

// (m, s) represents s * exp(m): merge two such partial sums of exp.
__device__ __forceinline__ void lse_merge(float& m, float& s, float m2, float s2) {
  float M = fmaxf(m, m2);
  if (M == -INFINITY) return;  // both empty (s and s2 are 0)
  float a = m == -INFINITY ? 0.f : s * __expf(m - M);
  float b = m2 == -INFINITY ? 0.f : s2 * __expf(m2 - M);
  s = a + b;
  m = M;
}

// Block-wide merge; every thread gets the result. blockDim.x is a multiple of 32.
__device__ void block_lse(float& m, float& s) {
  __shared__ float sm[32], ss[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    lse_merge(m, s, m2, s2);
  }
  __syncthreads();  // sm/ss may still be read by a previous call
  if (lane == 0) {
    sm[warp] = m;
    ss[warp] = s;
  }
  __syncthreads();
  int nw = blockDim.x >> 5;
  m = lane < nw ? sm[lane] : -INFINITY;
  s = lane < nw ? ss[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    lse_merge(m, s, m2, s2);
  }
}

template <typename IO>
__global__ void ce_row_kernel(int64_t N, int64_t V, const typename IO::T* logits, const int32_t* targets,
                              int32_t ignore_index, bool has_scale, float grad_scale, const float* count,
                              float* losses, typename IO::T* dlogits, unsigned long long* flag) {
  __shared__ float s_target;
  for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
    const typename IO::T* row = logits + r * V;
    typename IO::T* drow = dlogits ? dlogits + r * V : nullptr;
    int32_t t = targets[r];
    if (t == ignore_index || t < 0 || static_cast<int64_t>(t) >= V) {
      bool bad = t != ignore_index;
      if (threadIdx.x == 0) {
        losses[r] = bad ? __int_as_float(0x7fffffff) : 0.f;
        if (bad) record_bad_index(flag, r, t);
      }
      if (drow)
        for (int64_t c = threadIdx.x; c < V; c += blockDim.x) IO::store(drow, c, 0.f);
      continue;  // uniform over the block: no barrier is skipped by only some threads
    }
    // The target logit is read before the gradient sweep may overwrite it (in place); block_lse's
    // barriers publish it to the block.
    if (threadIdx.x == 0) s_target = IO::load(row, t);
    float m = -INFINITY, s = 0.f;
    for (int64_t c = threadIdx.x; c < V; c += blockDim.x) {
      float v = IO::load(row, c);
      if (v > m) {
        s = s * __expf(m - v) + 1.f;
        m = v;
      } else if (v != -INFINITY) {
        s += __expf(v - m);  // NaN propagates
      }
    }
    block_lse(m, s);
    float lse = m + logf(s);
    float xt = s_target;
    if (threadIdx.x == 0) losses[r] = lse - xt;
    if (drow) {
      float scale = has_scale ? grad_scale : 1.f / *count;
      for (int64_t c = threadIdx.x; c < V; c += blockDim.x) {
        float p = __expf(IO::load(row, c) - lse);
        IO::store(drow, c, (p - (c == t ? 1.f : 0.f)) * scale);
      }
    }
    __syncthreads();  // s_target is rewritten for the next row only after every thread has read it
  }
}

int row_threads(int64_t V) {
  int64_t t = (V / 8 + 31) / 32 * 32;
  return static_cast<int>(t < 32 ? 32 : (t > 1024 ? 1024 : t));
}

}  // namespace

void cross_entropy(DType dt, int64_t N, int64_t V, const void* logits, const int32_t* targets, int32_t ignore_index,
                   bool has_scale, float grad_scale, float* losses, float* loss, float* count, void* dlogits) {
  unsigned long long* flag = index_flag().dev;
  ce_count_kernel<<<1, kReduceThreads, 0, stream()>>>(N, targets, ignore_index, count);
  CUDA_CHECK_LAUNCH("crossEntropy (count)");
  if (N > 0) {
    unsigned grid = static_cast<unsigned>(N < 65535LL * 16 ? N : 65535LL * 16);
    with_float_dtype(dt, "crossEntropy", [&](auto io) {
      using IO = decltype(io);
      using T = typename IO::T;
      ce_row_kernel<IO><<<grid, row_threads(V), 0, stream()>>>(N, V, static_cast<const T*>(logits), targets,
                                                               ignore_index, has_scale, grad_scale, count, losses,
                                                               static_cast<T*>(dlogits), flag);
      CUDA_CHECK_LAUNCH("crossEntropy (rows)");
    });
  }
  ce_loss_kernel<<<1, kReduceThreads, 0, stream()>>>(N, losses, count, loss);
  CUDA_CHECK_LAUNCH("crossEntropy (loss)");
}

bool cross_entropy_index_error(bool sync, int64_t* position, int64_t* id) {
  return take_index_error(sync, position, id);
}

}  // namespace cuda
}  // namespace mathrl
