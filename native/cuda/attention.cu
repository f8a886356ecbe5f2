// Fused attention with grouped-query heads, causal and segment masks: the CUDA twin of
// native/cpu/attention.cpp (same contract, see native/cuda/ops.h). FlashAttention-2 structure, f32 math
// for f32 and bf16 storage; no T×T matrix is ever stored.
//
// All kernels use 32×32 tiles (32 queries × 32 keys) and 4 warps of 32 lanes. Tiles are staged in
// shared memory as f32; tiles that a lane reads "one column per lane" are stored transposed with a
// pitch of 33 floats, which is bank-conflict free both for the per-lane column reads and for the
// per-lane row reads (d = lane + 32c) of the accumulation steps. Head sizes Dh <= 128 are handled by
// instantiating kD ∈ {32, 64, 128} and zero-padding d >= Dh.
//
//   forward  (grid: query tile × q head × batch): each warp owns 8 query rows; for every key tile the
//            lane of key j computes the 8 scores of its column, the warp reduces max / sum with
//            shuffles (online softmax state m, l kept redundantly in every lane), and O (8 rows ×
//            kD/32 columns per lane, in registers) is rescaled and accumulated from P (broadcast by
//            shuffles) and the transposed V tile.
//   backward: (1) D = rowsum(dout ∘ out) per query row into a stream-ordered scratch buffer;
//            (2) dk/dv (grid: key tile × kv head × batch): each warp owns 8 keys, lanes index the
//                queries of a query tile; loops over the query heads of the group and the query
//                tiles (from the key tile's first key when causal), recomputes P = exp(S - lse) and
//                dS = P ∘ (dP - D), accumulates dV += Pᵀ dO and dK += dSᵀ Q in registers;
//            (3) dq (grid: query tile × q head × batch): like the forward, accumulates dQ += dS K.
//            Every output element is written once by one thread: no atomics, deterministic.
//
// This is a correct, bounds-checked SIMT first version. The fast version would: keep Q/K/V tiles in
// bf16 shared memory loaded with cp.async (double-buffered), compute S = QKᵀ and O += PV (and the five
// backward products) with mma.sync m16n8k16 bf16 tensor-core instructions with f32 accumulators held
// in registers, use 64-128 query rows per block, exp2 with log2(e) folded into the scale, and skip
// fully masked key tiles using per-tile segment ranges.
#include <type_traits>

#include "dtype_io.cuh"
#include "ops.h"
#include "runtime.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kTile = 32;                 // queries per tile = keys per tile = lanes per warp
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = kTile / kWarps;     // rows (queries or keys) owned by one warp
constexpr int kPitch = kTile + 1;         // row pitch of transposed tiles [kD][kPitch]
constexpr unsigned kFull = 0xffffffffu;

struct Params {
  int64_t B, T, Hq, Hkv, Dh, G;  // G = Hq / Hkv
  bool causal;
  float scale;
  const int32_t* seg;  // [B, T] or nullptr
};

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Element (b, t, head, d) of a [B, T, H, Dh] tensor.
__device__ __forceinline__ int64_t at(const Params& p, int64_t H, int64_t b, int64_t t, int64_t head) {
  return ((b * p.T + t) * H + head) * p.Dh;
}

// dst[r][d] (row-major, [kTile][kD]) = src token t0 + r, head `head`; zero outside T and Dh.
template <typename IO, int kD>
__device__ void load_rows(const Params& p, const typename IO::T* src, int64_t H, int64_t b, int64_t t0,
                          int64_t head, float* dst) {
  for (int idx = threadIdx.x; idx < kTile * kD; idx += kThreads) {
    const int r = idx / kD, d = idx % kD;
    const int64_t t = t0 + r;
    dst[idx] = (t < p.T && d < p.Dh) ? IO::load(src, at(p, H, b, t, head) + d) : 0.f;
  }
}
// Same, transposed: dst[d * kPitch + r].
template <typename IO, int kD>
__device__ void load_cols(const Params& p, const typename IO::T* src, int64_t H, int64_t b, int64_t t0,
                          int64_t head, float* dst) {
  for (int idx = threadIdx.x; idx < kTile * kD; idx += kThreads) {
    const int r = idx / kD, d = idx % kD;
    const int64_t t = t0 + r;
    dst[d * kPitch + r] = (t < p.T && d < p.Dh) ? IO::load(src, at(p, H, b, t, head) + d) : 0.f;
  }
}
// Segment ids of tokens t0 .. t0 + kTile - 1 (0 where there are none or t >= T).
__device__ __forceinline__ void load_seg(const Params& p, int64_t b, int64_t t0, int* dst) {
  if (threadIdx.x < kTile) {
    const int64_t t = t0 + threadIdx.x;
    dst[threadIdx.x] = (p.seg && t < p.T) ? p.seg[b * p.T + t] : 0;
  }
}

template <typename IO, int kD>
__global__ void __launch_bounds__(kThreads)
attn_fwd_kernel(Params p, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v,
                typename IO::T* out, float* lse) {
  constexpr int kC = kD / 32;  // output columns per lane
  extern __shared__ float smem[];
  float* Qs = smem;                     // [kTile][kD]
  float* Kt = Qs + kTile * kD;          // [kD][kPitch]
  float* Vt = Kt + kD * kPitch;         // [kD][kPitch]
  int* segk = reinterpret_cast<int*>(Vt + kD * kPitch);  // [kTile]

  const int64_t b = blockIdx.z, h = blockIdx.y, g = h / p.G;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row0 = warp * kRows;

  load_rows<IO, kD>(p, q, p.Hq, b, i0, h, Qs);

  float m[kRows], l[kRows], o[kRows][kC];
  int sq[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t i = i0 + row0 + r;
    sq[r] = (p.seg && i < p.T) ? p.seg[b * p.T + i] : 0;
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int c = 0; c < kC; ++c) o[r][c] = 0.f;
  }

  const int64_t i_last = (i0 + kTile < p.T ? i0 + kTile : p.T) - 1;
  const int64_t jend = p.causal ? i_last + 1 : p.T;
  for (int64_t j0 = 0; j0 < jend; j0 += kTile) {
    __syncthreads();  // the previous tile is consumed (and Qs is visible on the first pass)
    load_cols<IO, kD>(p, k, p.Hkv, b, j0, g, Kt);
    load_cols<IO, kD>(p, v, p.Hkv, b, j0, g, Vt);
    load_seg(p, b, j0, segk);
    __syncthreads();

    const int64_t j = j0 + lane;
    float s[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) s[r] = 0.f;
#pragma unroll 4
    for (int d = 0; d < kD; ++d) {
      const float kv = Kt[d * kPitch + lane];
#pragma unroll
      for (int r = 0; r < kRows; ++r) s[r] += Qs[(row0 + r) * kD + d] * kv;
    }
    const int sk = segk[lane];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t i = i0 + row0 + r;
      const bool ok = i < p.T && j < p.T && (!p.causal || j <= i) && (!p.seg || sq[r] == sk);
      const float sv = ok ? s[r] * p.scale : -INFINITY;
      const float mx = warp_max(sv);  // the same in every lane: the branch below is warp-uniform
      float pv = 0.f;
      if (mx != -INFINITY) {
        const float mnew = fmaxf(m[r], mx);
        const float alpha = expf(m[r] - mnew);  // 0 while m is -inf
        pv = ok ? expf(sv - mnew) : 0.f;
        l[r] = l[r] * alpha + warp_sum(pv);
        m[r] = mnew;
#pragma unroll
        for (int c = 0; c < kC; ++c) o[r][c] *= alpha;
      }
      s[r] = pv;
    }
    // O[r][lane + 32c] += sum_jj P[r][jj] * V[jj][lane + 32c]
#pragma unroll 4
    for (int jj = 0; jj < kTile; ++jj) {
      float vv[kC];
#pragma unroll
      for (int c = 0; c < kC; ++c) vv[c] = Vt[(lane + 32 * c) * kPitch + jj];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float pj = __shfl_sync(kFull, s[r], jj);
#pragma unroll
        for (int c = 0; c < kC; ++c) o[r][c] += pj * vv[c];
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t i = i0 + row0 + r;
    if (i >= p.T) continue;
    const bool any = l[r] > 0.f;
    const float inv = any ? 1.f / l[r] : 0.f;
    typename IO::T* dst = out + at(p, p.Hq, b, i, h);
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const int d = lane + 32 * c;
      if (d < p.Dh) IO::store(dst, d, any ? o[r][c] * inv : 0.f);
    }
    if (lane == 0) lse[(b * p.Hq + h) * p.T + i] = any ? m[r] + logf(l[r]) : -INFINITY;
  }
}

// D[b, h, i] = sum_d dout[b, i, h, d] * out[b, i, h, d]; one warp per row.
template <typename IO>
__global__ void attn_bwd_dot_kernel(Params p, const typename IO::T* out, const typename IO::T* dout, float* D) {
  const int64_t rows = p.B * p.T * p.Hq;
  const int lane = threadIdx.x & 31;
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t stride = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = first; row < rows; row += stride) {  // warp-uniform loop
    float acc = 0.f;
    for (int64_t d = lane; d < p.Dh; d += 32) acc += IO::load(dout, row * p.Dh + d) * IO::load(out, row * p.Dh + d);
    acc = warp_sum(acc);
    if (lane == 0) {
      const int64_t h = row % p.Hq, i = (row / p.Hq) % p.T, b = row / (p.Hq * p.T);
      D[(b * p.Hq + h) * p.T + i] = acc;
    }
  }
}

// dk, dv for one key tile of one kv head: loops over the group's query heads and the query tiles.
template <typename IO, int kD>
__global__ void __launch_bounds__(kThreads)
attn_bwd_dkdv_kernel(Params p, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v,
                     const typename IO::T* dout, const float* lse, const float* D, typename IO::T* dk,
                     typename IO::T* dv) {
  constexpr int kC = kD / 32;
  extern __shared__ float smem[];
  float* Ks = smem;                    // [kTile][kD]
  float* Vs = Ks + kTile * kD;         // [kTile][kD]
  float* Qt = Vs + kTile * kD;         // [kD][kPitch]
  float* dOt = Qt + kD * kPitch;       // [kD][kPitch]
  float* lse_s = dOt + kD * kPitch;    // [kTile]
  float* D_s = lse_s + kTile;          // [kTile]
  int* segq = reinterpret_cast<int*>(D_s + kTile);  // [kTile]

  const int64_t b = blockIdx.z, g = blockIdx.y;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row0 = warp * kRows;

  load_rows<IO, kD>(p, k, p.Hkv, b, j0, g, Ks);
  load_rows<IO, kD>(p, v, p.Hkv, b, j0, g, Vs);

  float dka[kRows][kC], dva[kRows][kC];
  int sk[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t j = j0 + row0 + r;
    sk[r] = (p.seg && j < p.T) ? p.seg[b * p.T + j] : 0;
#pragma unroll
    for (int c = 0; c < kC; ++c) dka[r][c] = dva[r][c] = 0.f;
  }

  const int64_t istart = p.causal ? j0 : 0;  // earlier queries see none of these keys
  for (int64_t h = g * p.G; h < (g + 1) * p.G; ++h) {
    for (int64_t i0 = istart; i0 < p.T; i0 += kTile) {
      __syncthreads();  // the previous query tile is consumed (and Ks/Vs are visible)
      load_cols<IO, kD>(p, q, p.Hq, b, i0, h, Qt);
      load_cols<IO, kD>(p, dout, p.Hq, b, i0, h, dOt);
      if (threadIdx.x < kTile) {
        const int64_t i = i0 + threadIdx.x;
        const bool in = i < p.T;
        lse_s[threadIdx.x] = in ? lse[(b * p.Hq + h) * p.T + i] : 0.f;
        D_s[threadIdx.x] = in ? D[(b * p.Hq + h) * p.T + i] : 0.f;
      }
      load_seg(p, b, i0, segq);
      __syncthreads();

      const int64_t i = i0 + lane;
      const float L = lse_s[lane], Dl = D_s[lane];
      const int sqv = segq[lane];
      float s[kRows], dp[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) s[r] = dp[r] = 0.f;
#pragma unroll 4
      for (int d = 0; d < kD; ++d) {
        const float qv = Qt[d * kPitch + lane], ov = dOt[d * kPitch + lane];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          s[r] += Ks[(row0 + r) * kD + d] * qv;
          dp[r] += Vs[(row0 + r) * kD + d] * ov;
        }
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int64_t j = j0 + row0 + r;
        const bool ok = i < p.T && j < p.T && (!p.causal || j <= i) && (!p.seg || sqv == sk[r]) && L != -INFINITY;
        const float pv = ok ? expf(s[r] * p.scale - L) : 0.f;
        s[r] = pv;
        dp[r] = pv * (dp[r] - Dl);  // dS
      }
      // dV[r][d] += sum_ii P[r][ii] dO[ii][d];  dK[r][d] += sum_ii dS[r][ii] Q[ii][d]
#pragma unroll 4
      for (int ii = 0; ii < kTile; ++ii) {
        float qq[kC], oo[kC];
#pragma unroll
        for (int c = 0; c < kC; ++c) {
          qq[c] = Qt[(lane + 32 * c) * kPitch + ii];
          oo[c] = dOt[(lane + 32 * c) * kPitch + ii];
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const float pi = __shfl_sync(kFull, s[r], ii);
          const float di = __shfl_sync(kFull, dp[r], ii);
#pragma unroll
          for (int c = 0; c < kC; ++c) {
            dva[r][c] += pi * oo[c];
            dka[r][c] += di * qq[c];
          }
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t j = j0 + row0 + r;
    if (j >= p.T) continue;
    const int64_t base = at(p, p.Hkv, b, j, g);
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const int d = lane + 32 * c;
      if (d < p.Dh) {
        IO::store(dk, base + d, p.scale * dka[r][c]);
        IO::store(dv, base + d, dva[r][c]);
      }
    }
  }
}

// dq for one query tile of one query head: loops over the key tiles.
template <typename IO, int kD>
__global__ void __launch_bounds__(kThreads)
attn_bwd_dq_kernel(Params p, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v,
                   const typename IO::T* dout, const float* lse, const float* D, typename IO::T* dq) {
  constexpr int kC = kD / 32;
  extern __shared__ float smem[];
  float* Qs = smem;                    // [kTile][kD]
  float* dOs = Qs + kTile * kD;        // [kTile][kD]
  float* Kt = dOs + kTile * kD;        // [kD][kPitch]
  float* Vt = Kt + kD * kPitch;        // [kD][kPitch]
  int* segk = reinterpret_cast<int*>(Vt + kD * kPitch);  // [kTile]

  const int64_t b = blockIdx.z, h = blockIdx.y, g = h / p.G;
  const int64_t i0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row0 = warp * kRows;

  load_rows<IO, kD>(p, q, p.Hq, b, i0, h, Qs);
  load_rows<IO, kD>(p, dout, p.Hq, b, i0, h, dOs);

  float acc[kRows][kC], L[kRows], Dr[kRows];
  int sq[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t i = i0 + row0 + r;
    const bool in = i < p.T;
    sq[r] = (p.seg && in) ? p.seg[b * p.T + i] : 0;
    L[r] = in ? lse[(b * p.Hq + h) * p.T + i] : -INFINITY;
    Dr[r] = in ? D[(b * p.Hq + h) * p.T + i] : 0.f;
#pragma unroll
    for (int c = 0; c < kC; ++c) acc[r][c] = 0.f;
  }

  const int64_t i_last = (i0 + kTile < p.T ? i0 + kTile : p.T) - 1;
  const int64_t jend = p.causal ? i_last + 1 : p.T;
  for (int64_t j0 = 0; j0 < jend; j0 += kTile) {
    __syncthreads();
    load_cols<IO, kD>(p, k, p.Hkv, b, j0, g, Kt);
    load_cols<IO, kD>(p, v, p.Hkv, b, j0, g, Vt);
    load_seg(p, b, j0, segk);
    __syncthreads();

    const int64_t j = j0 + lane;
    float s[kRows], dp[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) s[r] = dp[r] = 0.f;
#pragma unroll 4
    for (int d = 0; d < kD; ++d) {
      const float kv = Kt[d * kPitch + lane], vv = Vt[d * kPitch + lane];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        s[r] += Qs[(row0 + r) * kD + d] * kv;
        dp[r] += dOs[(row0 + r) * kD + d] * vv;
      }
    }
    const int sk = segk[lane];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t i = i0 + row0 + r;
      const bool ok = i < p.T && j < p.T && (!p.causal || j <= i) && (!p.seg || sq[r] == sk) && L[r] != -INFINITY;
      const float pv = ok ? expf(s[r] * p.scale - L[r]) : 0.f;
      s[r] = pv * (dp[r] - Dr[r]);  // dS
    }
    // dQ[r][d] += sum_jj dS[r][jj] K[jj][d]
#pragma unroll 4
    for (int jj = 0; jj < kTile; ++jj) {
      float kk[kC];
#pragma unroll
      for (int c = 0; c < kC; ++c) kk[c] = Kt[(lane + 32 * c) * kPitch + jj];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float dj = __shfl_sync(kFull, s[r], jj);
#pragma unroll
        for (int c = 0; c < kC; ++c) acc[r][c] += dj * kk[c];
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t i = i0 + row0 + r;
    if (i >= p.T) continue;
    typename IO::T* dst = dq + at(p, p.Hq, b, i, h);
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const int d = lane + 32 * c;
      if (d < p.Dh) IO::store(dst, d, p.scale * acc[r][c]);
    }
  }
}

// Opts a kernel into more than 48 KiB of dynamic shared memory when it needs it.
template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

// Calls fn(std::integral_constant<int, kD>) with the smallest supported kD >= Dh.
template <typename Fn>
void with_head_size(int64_t Dh, const char* op, Fn&& fn) {
  if (Dh >= 1 && Dh <= 32) fn(std::integral_constant<int, 32>{});
  else if (Dh > 32 && Dh <= 64) fn(std::integral_constant<int, 64>{});
  else if (Dh > 64 && Dh <= 128) fn(std::integral_constant<int, 128>{});
  else throw Error(std::string(op) + ": the CUDA kernel supports head sizes up to 128, got " + std::to_string(Dh));
}

Params make(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal, float scale, const int32_t* seg,
            const char* op) {
  if (B < 0 || T < 0 || Hq < 1 || Hkv < 1 || Dh < 1 || Hq % Hkv != 0)
    throw Error(std::string(op) + ": invalid head configuration (Hq " + std::to_string(Hq) + ", Hkv " +
                std::to_string(Hkv) + ", Dh " + std::to_string(Dh) + ")");
  if (B > 65535 || Hq > 65535) throw Error(std::string(op) + ": B and Hq must be at most 65535 on CUDA");
  if ((T + kTile - 1) / kTile > 0x7fffffff) throw Error(std::string(op) + ": T is too large");
  return Params{B, T, Hq, Hkv, Dh, Hq / Hkv, causal, scale, seg};
}

// Stream-ordered scratch buffer, released (stream-ordered) when it goes out of scope.
struct Scratch {
  void* p = nullptr;
  explicit Scratch(size_t bytes) : p(cuda::malloc(bytes)) {}
  ~Scratch() { cuda::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};
}  // namespace

void attention_forward(DType dt, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal,
                       float scale, const void* q, const void* k, const void* v, const int32_t* seg, void* out,
                       float* lse) {
  const Params p = make(B, T, Hq, Hkv, Dh, causal, scale, seg, "attention");
  if (B == 0 || T == 0) return;
  with_float_dtype(dt, "attention", [&](auto io) {
    using IO = decltype(io);
    using Tp = typename IO::T;
    with_head_size(Dh, "attention", [&](auto dconst) {
      constexpr int kD = decltype(dconst)::value;
      const size_t smem = sizeof(float) * (kTile * kD + 2 * kD * kPitch) + sizeof(int) * kTile;
      auto kernel = attn_fwd_kernel<IO, kD>;
      allow_smem(kernel, smem);
      dim3 grid(static_cast<unsigned>((T + kTile - 1) / kTile), static_cast<unsigned>(Hq), static_cast<unsigned>(B));
      kernel<<<grid, kThreads, smem, stream()>>>(p, static_cast<const Tp*>(q), static_cast<const Tp*>(k),
                                                 static_cast<const Tp*>(v), static_cast<Tp*>(out), lse);
      CUDA_CHECK_LAUNCH("attention");
    });
  });
}

void attention_backward(DType dt, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal,
                        float scale, const void* q, const void* k, const void* v, const int32_t* seg,
                        const void* out, const float* lse, const void* dout, void* dq, void* dk, void* dv) {
  const Params p = make(B, T, Hq, Hkv, Dh, causal, scale, seg, "attentionBackward");
  if (B == 0 || T == 0) return;
  with_float_dtype(dt, "attentionBackward", [&](auto io) {
    using IO = decltype(io);
    using Tp = typename IO::T;
    with_head_size(Dh, "attentionBackward", [&](auto dconst) {
      constexpr int kD = decltype(dconst)::value;
      Scratch Dbuf(static_cast<size_t>(B * Hq * T) * sizeof(float));
      float* D = static_cast<float*>(Dbuf.p);
      const Tp* qp = static_cast<const Tp*>(q);
      const Tp* kp = static_cast<const Tp*>(k);
      const Tp* vp = static_cast<const Tp*>(v);
      const Tp* dop = static_cast<const Tp*>(dout);

      attn_bwd_dot_kernel<IO><<<grid_for(B * T * Hq * 32, 256), 256, 0, stream()>>>(
          p, static_cast<const Tp*>(out), dop, D);
      CUDA_CHECK_LAUNCH("attentionBackward (D)");

      const unsigned nt = static_cast<unsigned>((T + kTile - 1) / kTile);
      const size_t smem_kv = sizeof(float) * (2 * kTile * kD + 2 * kD * kPitch + 2 * kTile) + sizeof(int) * kTile;
      auto kv_kernel = attn_bwd_dkdv_kernel<IO, kD>;
      allow_smem(kv_kernel, smem_kv);
      kv_kernel<<<dim3(nt, static_cast<unsigned>(Hkv), static_cast<unsigned>(B)), kThreads, smem_kv, stream()>>>(
          p, qp, kp, vp, dop, lse, D, static_cast<Tp*>(dk), static_cast<Tp*>(dv));
      CUDA_CHECK_LAUNCH("attentionBackward (dk, dv)");

      const size_t smem_q = sizeof(float) * (2 * kTile * kD + 2 * kD * kPitch) + sizeof(int) * kTile;
      auto q_kernel = attn_bwd_dq_kernel<IO, kD>;
      allow_smem(q_kernel, smem_q);
      q_kernel<<<dim3(nt, static_cast<unsigned>(Hq), static_cast<unsigned>(B)), kThreads, smem_q, stream()>>>(
          p, qp, kp, vp, dop, lse, D, static_cast<Tp*>(dq));
      CUDA_CHECK_LAUNCH("attentionBackward (dq)");
    });
  });
}

}  // namespace cuda
}  // namespace mathrl
