// Decode attention: the CUDA twin of native/cpu/attention_decode.cpp (contract in native/cuda/ops.h).
// Flash-decoding within a block: one block per (row, q head), 8 warps; the row's keys are split across
// the warps (warp w takes keys w*4 .. w*4+3, then jumps by 32), each warp keeps its own online-softmax
// state (max m, sum l, output accumulator: lane owns dims d = lane + 32c), and the 8 partial states are
// merged in shared memory at the end. Scores: each lane multiplies its dims of q and k, a warp shuffle
// reduction sums them (4 keys at a time for instruction-level parallelism). f32 math for f32 and bf16
// storage; any Dh up to 256; a row of length 0 gets zeros. A bad cache row or length never touches memory
// outside the cache: the output row becomes NaN and the first such (row, value) is recorded
// (index_flag.cuh). Query heads of one kv group are adjacent blocks, so their K/V reads share L2.
// Not done (future speed): splitting one row's keys across several blocks for long contexts with few
// rows, vectorised 16-byte loads, and one block per kv head reading K/V once for the whole group.
#include <cstdint>
#include <string>
#include <type_traits>

#include "dtype_io.cuh"
#include "index_flag.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kKeys = 4;  // keys per warp iteration
constexpr unsigned kFull = 0xffffffffu;

struct DecodeParams {
  int64_t Bq, Bc, S, Hq, Hkv, Dh, G;
  float scale;
};

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// kC = dims per lane (Dh <= 32 * kC).
template <typename IO, int kC>
__global__ void __launch_bounds__(kThreads)
    attention_decode_kernel(DecodeParams p, const typename IO::T* q, const typename IO::T* k,
                            const typename IO::T* v, const int32_t* lengths, const int32_t* rows,
                            typename IO::T* out, unsigned long long* flag) {
  __shared__ float sm_m[kWarps];
  __shared__ float sm_l[kWarps];
  __shared__ float sm_acc[kWarps][kC * 32];

  const int64_t bh = blockIdx.x;
  const int64_t b = bh / p.Hq, h = bh - b * p.Hq, g = h / p.G;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t r = rows ? static_cast<int64_t>(rows[b]) : b;
  const int64_t L = lengths[b];
  typename IO::T* o = out + bh * p.Dh;
  if (r < 0 || r >= p.Bc || L < 0 || L > p.S) {  // uniform over the block: no barrier is skipped
    if (threadIdx.x == 0) record_bad_index(flag, b, static_cast<int32_t>(r < 0 || r >= p.Bc ? r : L));
    for (int64_t d = threadIdx.x; d < p.Dh; d += kThreads) IO::store(o, d, __int_as_float(0x7fffffff));
    return;
  }

  const float ninf = -__int_as_float(0x7f800000);
  float qr[kC], acc[kC];
  const typename IO::T* qp = q + bh * p.Dh;
#pragma unroll
  for (int c = 0; c < kC; ++c) {
    const int d = lane + 32 * c;
    qr[c] = d < p.Dh ? IO::load(qp, d) * p.scale : 0.f;
    acc[c] = 0.f;
  }
  float m = ninf, l = 0.f;
  const int64_t kstride = p.Hkv * p.Dh;  // elements between consecutive positions
  const typename IO::T* kbase = k + (r * p.S * p.Hkv + g) * p.Dh;
  const typename IO::T* vbase = v + (r * p.S * p.Hkv + g) * p.Dh;

  // j0 depends only on the warp: the loop and the shuffles inside are warp-uniform.
  for (int64_t j0 = static_cast<int64_t>(warp) * kKeys; j0 < L; j0 += kWarps * kKeys) {
    float s[kKeys];
#pragma unroll
    for (int t = 0; t < kKeys; ++t) {
      const int64_t j = j0 + t;
      float part = 0.f;
      if (j < L) {
        const typename IO::T* kp = kbase + j * kstride;
#pragma unroll
        for (int c = 0; c < kC; ++c) {
          const int d = lane + 32 * c;
          if (d < p.Dh) part += qr[c] * IO::load(kp, d);
        }
      }
      s[t] = part;
    }
#pragma unroll
    for (int t = 0; t < kKeys; ++t) s[t] = j0 + t < L ? warp_sum(s[t]) : ninf;
    float mx = m;
#pragma unroll
    for (int t = 0; t < kKeys; ++t) mx = fmaxf(mx, s[t]);
    const float alpha = expf(m - mx);  // m = -inf on the first iteration: 0
    l *= alpha;
#pragma unroll
    for (int c = 0; c < kC; ++c) acc[c] *= alpha;
#pragma unroll
    for (int t = 0; t < kKeys; ++t) {
      const int64_t j = j0 + t;
      if (j < L) {
        const float pt = expf(s[t] - mx);
        l += pt;
        const typename IO::T* vp = vbase + j * kstride;
#pragma unroll
        for (int c = 0; c < kC; ++c) {
          const int d = lane + 32 * c;
          if (d < p.Dh) acc[c] += pt * IO::load(vp, d);
        }
      }
    }
    m = mx;
  }

  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
#pragma unroll
  for (int c = 0; c < kC; ++c) sm_acc[warp][lane + 32 * c] = acc[c];
  __syncthreads();

  float M = ninf;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sm_m[w]);
  for (int64_t d = threadIdx.x; d < p.Dh; d += kThreads) {
    float num = 0.f, den = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      if (sm_m[w] == ninf) continue;  // a warp that saw no key
      const float f = expf(sm_m[w] - M);
      num += sm_acc[w][d] * f;
      den += sm_l[w] * f;
    }
    IO::store(o, d, den > 0.f ? num / den : 0.f);
  }
}

template <typename Fn>
void with_dims_per_lane(int64_t Dh, Fn&& fn) {
  if (Dh <= 32) fn(std::integral_constant<int, 1>{});
  else if (Dh <= 64) fn(std::integral_constant<int, 2>{});
  else if (Dh <= 128) fn(std::integral_constant<int, 4>{});
  else if (Dh <= 256) fn(std::integral_constant<int, 8>{});
  else throw Error("attentionDecode: the CUDA kernel supports head sizes up to 256, got " + std::to_string(Dh));
}
}  // namespace

void attention_decode(DType dt, int64_t Bq, int64_t Bc, int64_t S, int64_t Hq, int64_t Hkv, int64_t Dh, float scale,
                      const void* q, const void* k, const void* v, const int32_t* lengths, const int32_t* rows,
                      void* out) {
  const char* op = "attentionDecode";
  if (Hq < 1 || Hkv < 1 || Dh < 1 || Hq % Hkv != 0)
    throw Error(std::string(op) + ": invalid head configuration (Hq " + std::to_string(Hq) + ", Hkv " +
                std::to_string(Hkv) + ", Dh " + std::to_string(Dh) + ")");
  if (Bq == 0) return;
  if (Bq * Hq > 2147483647LL) throw Error(std::string(op) + ": too many (row, head) pairs for one launch");
  if (S > 2147483647LL) throw Error(std::string(op) + ": the cache is too long");
  const DecodeParams p{Bq, Bc, S, Hq, Hkv, Dh, Hq / Hkv, scale};
  unsigned long long* flag = index_flag().dev;
  with_float_dtype(dt, op, [&](auto io) {
    using IO = decltype(io);
    using Tp = typename IO::T;
    with_dims_per_lane(Dh, [&](auto cconst) {
      constexpr int kC = decltype(cconst)::value;
      attention_decode_kernel<IO, kC><<<static_cast<unsigned>(Bq * Hq), kThreads, 0, stream()>>>(
          p, static_cast<const Tp*>(q), static_cast<const Tp*>(k), static_cast<const Tp*>(v), lengths, rows,
          static_cast<Tp*>(out), flag);
      CUDA_CHECK_LAUNCH("attentionDecode");
    });
  });
}

bool attention_decode_index_error(bool sync, int64_t* row, int64_t* value) {
  return take_index_error(sync, row, value);
}

}  // namespace cuda
}  // namespace mathrl
