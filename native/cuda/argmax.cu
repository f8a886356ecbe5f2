// Row-wise argmax with the winner's log-probability: the CUDA twin of native/cpu/argmax.cpp (contract in
// native/cuda/ops.h). One block per row (grid-stride over rows): each thread scans a strided slice keeping
// its best (value, index) and an online (max, sum of exp) for the log-sum-exp, then a shared-memory tree
// merges the 256 states. Ties go to the lowest index; a NaN beats every number (the first NaN wins).
#include <cstdint>

#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kThreads = 256;

__device__ __forceinline__ bool better(float va, int64_t ia, float vb, int64_t ib) {
  const bool na = va != va, nb = vb != vb;
  if (na != nb) return na;
  if (na) return ia < ib;
  if (va != vb) return va > vb;
  return ia < ib;
}

// Adds exp(x - m) of a state (m, s) into one with the larger max.
__device__ __forceinline__ void lse_merge(float& m, float& s, float m2, float s2) {
  const float ninf = -__int_as_float(0x7f800000);
  if (m2 == ninf) return;
  if (m == ninf) {
    m = m2;
    s = s2;
    return;
  }
  const float mn = fmaxf(m, m2);
  s = s * expf(m - mn) + s2 * expf(m2 - mn);
  m = mn;
}

template <typename IO>
__global__ void __launch_bounds__(kThreads)
    argmax_kernel(int64_t R, int64_t V, const typename IO::T* x, int32_t* index, float* logprob) {
  __shared__ float sh_best[kThreads];
  __shared__ int64_t sh_idx[kThreads];
  __shared__ float sh_m[kThreads];
  __shared__ float sh_s[kThreads];
  const float ninf = -__int_as_float(0x7f800000);
  const int tid = threadIdx.x;
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const typename IO::T* row = x + r * V;
    float best = ninf, m = ninf, s = 0.f;
    int64_t bi = V;  // no candidate yet (loses every tie)
    for (int64_t j = tid; j < V; j += kThreads) {
      const float val = IO::load(row, j);
      if (bi == V || better(val, j, best, bi)) {
        best = val;
        bi = j;
      }
      if (val != val || val == ninf) continue;
      if (val > m) {
        s = (m == ninf ? 0.f : s * expf(m - val)) + 1.f;
        m = val;
      } else {
        s += expf(val - m);
      }
    }
    sh_best[tid] = best;
    sh_idx[tid] = bi;
    sh_m[tid] = m;
    sh_s[tid] = s;
    __syncthreads();
    for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
      if (tid < stride) {
        const int o = tid + stride;
        if (sh_idx[o] < V && (sh_idx[tid] == V || better(sh_best[o], sh_idx[o], sh_best[tid], sh_idx[tid]))) {
          sh_best[tid] = sh_best[o];
          sh_idx[tid] = sh_idx[o];
        }
        float mm = sh_m[tid], ss = sh_s[tid];
        lse_merge(mm, ss, sh_m[o], sh_s[o]);
        sh_m[tid] = mm;
        sh_s[tid] = ss;
      }
      __syncthreads();
    }
    if (tid == 0) {
      const float b = sh_best[0];
      const int64_t i = sh_idx[0] < V ? sh_idx[0] : 0;
      index[r] = static_cast<int32_t>(i);
      logprob[r] = (b != b || sh_m[0] == ninf) ? __int_as_float(0x7fffffff) : 0.f - logf(sh_s[0]);
    }
    __syncthreads();  // the shared arrays are reused by the next row
  }
}
}  // namespace

void argmax(DType dt, int64_t R, int64_t V, const void* x, int32_t* index, float* logprob) {
  if (R == 0) return;
  if (V < 1) throw Error("argmax: the last dimension is empty");
  const unsigned grid = static_cast<unsigned>(R < 65535LL * 8 ? R : 65535LL * 8);
  with_float_dtype(dt, "argmax", [&](auto io) {
    using IO = decltype(io);
    argmax_kernel<IO><<<grid, kThreads, 0, stream()>>>(R, V, static_cast<const typename IO::T*>(x), index, logprob);
    CUDA_CHECK_LAUNCH("argmax");
  });
}

}  // namespace cuda
}  // namespace mathrl
