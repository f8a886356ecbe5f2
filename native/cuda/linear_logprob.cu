// Fused linear log-prob (twin of native/cpu/linear_logprob.cpp). Per vocabulary chunk of C columns:
//   forward:  cuda::gemm -> z [N, Cw] f32 scratch; lp_chunk_kernel (one block per row) merges the chunk's
//             (max m, s = sum exp(z - m), q = sum exp(z - m)(z - m)) into the row state f32 [N, 4]
//             (m, s, q, target logit); the last chunk writes logp, entropy, lse.
//   backward: cuda::gemm recomputes z; lp_grad_kernel (elementwise) turns it into dz (in place for f32,
//             into the bf16 grad scratch for bf16); two cuda::gemm calls add dz @ W_chunk into dhidden and
//             dz^T @ hidden into dweight[chunk].
// A target outside [0, V) that is not ignore_index is never used as an index: its row gets logp NaN and
// no gradient, and the first one is recorded for the host (index_flag.cuh).
#include <cstdint>

#include "block_reduce.cuh"
#include "cuda_common.cuh"
#include "index_flag.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {

constexpr int kRowThreads = 256;

struct Lse3 {
  float m, s, q;
};

// Adds the partial state x, rescaled to the max M, into (s, q). An empty state has m = -inf and s = q = 0
// (or NaN after a NaN logit, which must survive the merge).
__device__ __forceinline__ void add_scaled(Lse3 x, float M, float& s, float& q) {
  if (x.m == -INFINITY) {
    s += x.s;
    q += x.q;
  } else {
    float f = __expf(x.m - M);
    s += x.s * f;
    q += f * (x.q + x.s * (x.m - M));
  }
}

__device__ __forceinline__ Lse3 merge3(Lse3 a, Lse3 b) {
  Lse3 o{fmaxf(a.m, b.m), 0.f, 0.f};
  add_scaled(a, o.m, o.s, o.q);
  add_scaled(b, o.m, o.s, o.q);
  return o;
}

__device__ Lse3 block_merge3(Lse3 v) {
  __shared__ float sm[32], ss[32], sq[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    Lse3 w{__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o),
           __shfl_xor_sync(0xffffffffu, v.q, o)};
    v = merge3(v, w);
  }
  __syncthreads();  // the arrays may still be read by a previous call
  if (lane == 0) {
    sm[warp] = v.m;
    ss[warp] = v.s;
    sq[warp] = v.q;
  }
  __syncthreads();
  int nw = blockDim.x >> 5;
  v = lane < nw ? Lse3{sm[lane], ss[lane], sq[lane]} : Lse3{-INFINITY, 0.f, 0.f};
  for (int o = 16; o > 0; o >>= 1) {
    Lse3 w{__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o),
           __shfl_xor_sync(0xffffffffu, v.q, o)};
    v = merge3(v, w);
  }
  return v;
}

__global__ void lp_chunk_kernel(int64_t N, int64_t V, int64_t c0, int64_t Cw, const float* z, const int32_t* targets,
                                int32_t ignore_index, bool first, bool last, float* state, float* logp,
                                float* entropy, float* lse, unsigned long long* flag) {
  for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
    const float* row = z + r * Cw;
    float* S = state + r * 4;
    int32_t t = targets[r];
    Lse3 v{-INFINITY, 0.f, 0.f};
    for (int64_t j = threadIdx.x; j < Cw; j += blockDim.x) {
      float x = row[j];
      if (x > v.m) {
        if (v.m == -INFINITY) {
          v.s += 1.f;  // s was 0 (or NaN, which stays)
        } else {
          float f = __expf(v.m - x);
          v.q = f * (v.q + v.s * (v.m - x));
          v.s = v.s * f + 1.f;
        }
        v.m = x;
      } else if (x != -INFINITY) {  // NaN lands here and poisons s and q
        float d = x - v.m;
        float e = __expf(d);
        v.s += e;
        v.q += e * d;
      }
      if (c0 + j == static_cast<int64_t>(t)) S[3] = x;  // only the thread owning the target column
    }
    v = block_merge3(v);  // its barriers also publish S[3] to thread 0
    if (threadIdx.x == 0) {
      if (!first) v = merge3(Lse3{S[0], S[1], S[2]}, v);
      if (!last) {
        S[0] = v.m;
        S[1] = v.s;
        S[2] = v.q;
      } else {
        float ls = logf(v.s);
        lse[r] = v.m + ls;
        if (t == ignore_index) {
          logp[r] = 0.f;
          entropy[r] = 0.f;
        } else {
          bool bad = t < 0 || static_cast<int64_t>(t) >= V;
          logp[r] = bad ? __int_as_float(0x7fffffff) : S[3] - (v.m + ls);
          entropy[r] = ls - v.q / v.s;
          if (bad) record_bad_index(flag, r, t);
        }
      }
    }
    __syncthreads();  // S is rewritten for the next row of this block only after thread 0 has read it
  }
}

template <typename GT>
__global__ void lp_grad_kernel(int64_t N, int64_t V, int64_t c0, int64_t Cw, float* z, const int32_t* targets,
                               int32_t ignore_index, const float* lse, const float* entropy, const float* dlogp,
                               const float* dentropy, GT* g) {
  int64_t total = N * Cw;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t r = i / Cw, j = i - r * Cw;
    int32_t t = targets[r];
    float out = 0.f;
    if (t != ignore_index && t >= 0 && static_cast<int64_t>(t) < V) {
      float x = z[i];
      float L = lse[r];
      float p = __expf(x - L);
      out = dlogp[r] * ((c0 + j == static_cast<int64_t>(t) ? 1.f : 0.f) - p);
      if (dentropy) out -= dentropy[r] * p * (x - (L - entropy[r]));
    }
    if constexpr (sizeof(GT) == 2) {
      g[i] = __float2bfloat16_rn(out);
    } else {
      g[i] = out;
    }
  }
}

void chunk_logits(DType dt, int64_t N, int64_t D, int64_t c0, int64_t Cw, const void* hidden, const void* weight,
                  float inv_temp, float* z) {
  GemmArgs g;
  g.transB = true;
  g.M = N;
  g.N = Cw;
  g.K = D;
  g.alpha = inv_temp;
  g.beta = 0.f;
  g.A = hidden;
  g.B = static_cast<const char*>(weight) + static_cast<size_t>(c0 * D) * dtype_size(dt);
  g.C = z;
  g.dtA = g.dtB = dt;
  g.dtC = DType::F32;
  gemm(g);
}

unsigned rows_grid(int64_t N) { return static_cast<unsigned>(N < 65535LL * 16 ? N : 65535LL * 16); }

unsigned elems_grid(int64_t n) {
  int64_t g = (n + 255) / 256;
  if (g > 65535LL * 8) g = 65535LL * 8;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

}  // namespace

void linear_logprob(DType dt, int64_t N, int64_t V, int64_t D, int64_t C, const void* hidden, const void* weight,
                    const int32_t* targets, int32_t ignore_index, float inv_temp, float* logp, float* entropy,
                    float* lse, float* state, float* scratch) {
  if (N == 0) return;
  unsigned long long* flag = index_flag().dev;
  for (int64_t c0 = 0; c0 < V; c0 += C) {
    int64_t Cw = C < V - c0 ? C : V - c0;
    chunk_logits(dt, N, D, c0, Cw, hidden, weight, inv_temp, scratch);
    lp_chunk_kernel<<<rows_grid(N), kRowThreads, 0, stream()>>>(N, V, c0, Cw, scratch, targets, ignore_index,
                                                                 c0 == 0, c0 + Cw >= V, state, logp, entropy, lse,
                                                                 flag);
    CUDA_CHECK_LAUNCH("linearLogprob (chunk)");
  }
}

void linear_logprob_backward(DType dt, int64_t N, int64_t V, int64_t D, int64_t C, const void* hidden,
                             const void* weight, const int32_t* targets, int32_t ignore_index, float inv_temp,
                             const float* lse, const float* entropy, const float* dlogp, const float* dentropy,
                             float* dhidden, float* dweight, bool accumulate, float* scratch, void* grad_scratch) {
  if (N == 0) {
    if (!accumulate) CUDA_CHECK(cudaMemsetAsync(dweight, 0, static_cast<size_t>(V * D) * sizeof(float), stream()));
    return;
  }
  const size_t esz = dtype_size(dt);
  for (int64_t c0 = 0; c0 < V; c0 += C) {
    int64_t Cw = C < V - c0 ? C : V - c0;
    chunk_logits(dt, N, D, c0, Cw, hidden, weight, inv_temp, scratch);
    if (dt == DType::BF16) {
      lp_grad_kernel<__nv_bfloat16><<<elems_grid(N * Cw), 256, 0, stream()>>>(
          N, V, c0, Cw, scratch, targets, ignore_index, lse, entropy, dlogp, dentropy,
          static_cast<__nv_bfloat16*>(grad_scratch));
    } else {
      lp_grad_kernel<float><<<elems_grid(N * Cw), 256, 0, stream()>>>(N, V, c0, Cw, scratch, targets, ignore_index,
                                                                       lse, entropy, dlogp, dentropy, scratch);
    }
    CUDA_CHECK_LAUNCH("linearLogprobBackward (grad)");
    const void* G = dt == DType::BF16 ? grad_scratch : static_cast<const void*>(scratch);
    const void* Wc = static_cast<const char*>(weight) + static_cast<size_t>(c0 * D) * esz;
    GemmArgs a;  // dhidden (+)= inv_temp * dz @ W_chunk
    a.M = N;
    a.N = D;
    a.K = Cw;
    a.alpha = inv_temp;
    a.beta = c0 > 0 ? 1.f : 0.f;
    a.A = G;
    a.B = Wc;
    a.C = dhidden;
    a.dtA = a.dtB = dt;
    a.dtC = DType::F32;
    gemm(a);
    GemmArgs b;  // dweight[chunk] (+)= inv_temp * dz^T @ hidden
    b.transA = true;
    b.M = Cw;
    b.N = D;
    b.K = N;
    b.alpha = inv_temp;
    b.beta = accumulate ? 1.f : 0.f;
    b.A = G;
    b.B = hidden;
    b.C = dweight + c0 * D;
    b.dtA = b.dtB = dt;
    b.dtC = DType::F32;
    gemm(b);
  }
}

bool linear_logprob_index_error(bool sync, int64_t* position, int64_t* id) {
  return take_index_error(sync, position, id);
}

}  // namespace cuda
}  // namespace mathrl
