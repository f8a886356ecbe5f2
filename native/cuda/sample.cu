// Fused sampling (twin of native/cpu/sample.cpp): one block per row (grid-stride over rows), no sort
// of the vocabulary. Per row, each step a sweep over the row (re-read from global memory / L2):
//   1. repetition penalty: a bitmask of the previous tokens in dynamic shared memory (V <= 327,680);
//   2. max / argmax (lowest index on ties) and validity (NaN / +inf / all -inf -> token -1, NaN);
//      greedy rows stop here (one more sweep for the log-softmax);
//   3. top-k threshold: radix select (4 passes of 8 bits) of the k-th largest d on its order-preserving
//      32-bit key, counting with warp-aggregated shared atomics;
//   4. top-p threshold: the same radix descent over (count, fixed-point mass) histograms: the smallest
//      value w with mass(d > w) < p * Z. Masses are exp(d) in 32.32 fixed point (d <= 0 so exp(d) <= 1),
//      summed with integer atomics, so the result is deterministic run to run;
//   5. min-p threshold (log min_p), the kept mass Z, and the inverse-CDF draw in token-id order with a
//      block-wide prefix sum, tile by tile, at the Philox uniform of native/philox.h.
// The scaled logit d is computed with the same IEEE operations as the CPU (no FMA contraction:
// __fsub_rn / __fmul_rn / __fdiv_rn), so the thresholds are the same floats on both devices.
#include <climits>

#include "../philox.h"
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int64_t kMaxMaskWords = 10240;  // 40 KB of dynamic shared memory
constexpr unsigned kNoBin = 256u;          // "not counted" label for the histogram passes

// Order-preserving key of a float that is not NaN: a > b  <=>  key(a) > key(b) (-0 is mapped to +0).
__device__ __forceinline__ uint32_t order_key(float f) {
  uint32_t u = __float_as_uint(__fadd_rn(f, 0.0f));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Block-wide argmax: the largest v, the lowest index among equal values. Every thread gets the result.
__device__ void block_argmax(float& v, int64_t& i) {
  __shared__ float sv[32];
  __shared__ int64_t si[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(kFull, v, o);
    int64_t oi = __shfl_xor_sync(kFull, i, o);
    if (ov > v || (ov == v && oi < i)) {
      v = ov;
      i = oi;
    }
  }
  __syncthreads();  // sv/si may still be read by a previous call
  if (lane == 0) {
    sv[warp] = v;
    si[warp] = i;
  }
  __syncthreads();
  const int nw = blockDim.x >> 5;
  v = lane < nw ? sv[lane] : -INFINITY;
  i = lane < nw ? si[lane] : LLONG_MAX;
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(kFull, v, o);
    int64_t oi = __shfl_xor_sync(kFull, i, o);
    if (ov > v || (ov == v && oi < i)) {
      v = ov;
      i = oi;
    }
  }
}

// Block-wide inclusive prefix sum in thread order (deterministic); *total gets the block's sum.
__device__ float block_inclusive_scan(float v, float* total) {
  __shared__ float warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 1; o < 32; o <<= 1) {
    float t = __shfl_up_sync(kFull, v, o);
    if (lane >= o) v += t;
  }
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 31) warp_sums[warp] = v;
  __syncthreads();
  const int nw = blockDim.x >> 5;
  float ws = lane < nw ? warp_sums[lane] : 0.f;
  for (int o = 1; o < 32; o <<= 1) {
    float t = __shfl_up_sync(kFull, ws, o);
    if (lane >= o) ws += t;
  }
  // ws at lane j = sum of warps 0..j
  const float before = __shfl_sync(kFull, ws, warp > 0 ? warp - 1 : 0);
  *total = __shfl_sync(kFull, ws, nw - 1);
  return warp > 0 ? v + before : v;
}

// Warp 0, after a counting pass: the bin b (from 255 down) holding the rest-th largest counted key, and
// what is left of rest inside it. Lane l owns bins 255-8l .. 248-8l.
__device__ void select_count_bin(const uint32_t* count, uint32_t rest, uint32_t* sel, uint32_t* new_rest) {
  const int lane = threadIdx.x;
  const int hi = 255 - 8 * lane;
  uint32_t s = 0;
  for (int j = 0; j < 8; ++j) s += count[hi - j];
  uint32_t incl = s;
  for (int o = 1; o < 32; o <<= 1) {
    uint32_t t = __shfl_up_sync(kFull, incl, o);
    if (lane >= o) incl += t;
  }
  const unsigned ballot = __ballot_sync(kFull, incl >= rest);
  const int owner = ballot ? __ffs(ballot) - 1 : 31;
  if (lane == owner) {
    uint32_t cum = incl - s;
    int b = -1;
    for (int j = 0; j < 8; ++j) {
      if (cum + count[hi - j] >= rest) {
        b = hi - j;
        break;
      }
      cum += count[hi - j];
    }
    *sel = b >= 0 ? static_cast<uint32_t>(b) : 0u;  // b < 0 cannot happen: rest <= number counted
    *new_rest = b >= 0 ? rest - cum : 1u;
  }
}

// Warp 0, after a mass pass: the lowest non-empty bin b whose mass above (above + mass of the higher
// bins) is < pz -- the bin that holds the top-p threshold -- and that mass above. On the first pass
// (first = true) pz is p times the total mass, stored for the later passes.
__device__ void select_mass_bin(const uint32_t* count, const unsigned long long* mass, unsigned long long above,
                                double p, bool first, double* pz_store, uint32_t* sel,
                                unsigned long long* new_above) {
  const int lane = threadIdx.x;
  const int hi = 255 - 8 * lane;
  unsigned long long s = 0;
  for (int j = 0; j < 8; ++j) s += mass[hi - j];
  unsigned long long incl = s;
  for (int o = 1; o < 32; o <<= 1) {
    unsigned long long t = __shfl_up_sync(kFull, incl, o);
    if (lane >= o) incl += t;
  }
  double pz;
  if (first) {
    pz = p * static_cast<double>(__shfl_sync(kFull, incl, 31));
    if (lane == 0) *pz_store = pz;
  } else {
    pz = *pz_store;
  }
  unsigned long long a = above + (incl - s);
  int cand = -1, top = -1;
  unsigned long long cand_above = 0;
  for (int j = 0; j < 8; ++j) {
    const int b = hi - j;
    if (count[b]) {
      if (top < 0) top = b;
      if (static_cast<double>(a) < pz) {
        cand = b;
        cand_above = a;
      } else {
        break;  // the mass above only grows further down
      }
    }
    a += mass[b];
  }
  const unsigned has = __ballot_sync(kFull, cand >= 0);
  if (has) {
    if (lane == 31 - __clz(has)) {  // the lowest candidate lives in the highest lane that has one
      *sel = static_cast<uint32_t>(cand);
      *new_above = cand_above;
    }
  } else {  // cannot happen (the largest remaining value always qualifies); keep the highest value
    const unsigned nonempty = __ballot_sync(kFull, top >= 0);
    const int owner = nonempty ? __ffs(nonempty) - 1 : 0;
    if (lane == owner) {
      *sel = top >= 0 ? static_cast<uint32_t>(top) : 0u;
      *new_above = above;
    }
  }
}

struct RowShared {
  uint32_t count[256];
  unsigned long long mass[256];
  uint32_t sel, rest;
  unsigned long long above;
  double pz;
  int64_t found, last;
};

template <typename IO>
__device__ void sample_row(int64_t r, int64_t V, const typename IO::T* __restrict__ row, const float* fparams,
                           const int32_t* iparams, int64_t L, const int32_t* prev, uint64_t offset,
                           int32_t* tokens, float* logprobs, uint32_t* mask, RowShared& sh) {
  const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
  const float temp = fparams[r * 4], top_p = fparams[r * 4 + 1], min_p = fparams[r * 4 + 2];
  const float penalty = fparams[r * 4 + 3];
  const int32_t top_k = iparams[r * 3];
  const uint32_t seed = static_cast<uint32_t>(iparams[r * 3 + 1]), stream = static_cast<uint32_t>(iparams[r * 3 + 2]);
  const bool pen = L > 0 && penalty != 1.f;  // uniform over the block
  if (pen) {
    const int64_t words = (V + 31) >> 5;
    for (int64_t w = tid; w < words; w += nt) mask[w] = 0u;
    __syncthreads();
    const int32_t* pr = prev + r * L;
    for (int64_t j = tid; j < L; j += nt) {
      const int32_t t = pr[j];
      if (t >= 0 && t < V) atomicOr(&mask[t >> 5], 1u << (t & 31));  // ids >= V are ignored
    }
    __syncthreads();
  }
  auto logit = [&](int64_t c) -> float {
    float x = IO::load(row, c);
    if (pen && ((mask[c >> 5] >> (c & 31)) & 1u)) x = x > 0.f ? __fdiv_rn(x, penalty) : __fmul_rn(x, penalty);
    return x;
  };

  // 2. max, argmax, validity.
  float vmax = -INFINITY;
  int64_t arg = LLONG_MAX;
  int bad = 0;
  for (int64_t c = tid; c < V; c += nt) {
    const float x = logit(c);
    if (x != x || x == INFINITY) bad = 1;
    if (x > vmax) {
      vmax = x;
      arg = c;
    }
  }
  bad = __syncthreads_or(bad);
  block_argmax(vmax, arg);
  if (bad || vmax == -INFINITY || arg >= V) {
    if (tid == 0) {
      tokens[r] = -1;
      logprobs[r] = __int_as_float(0x7fffffff);
    }
    return;
  }
  if (!(temp > 0.f)) {  // greedy
    float z = 0.f;
    for (int64_t c = tid; c < V; c += nt) z += expf(logit(c) - vmax);
    z = block_reduce(z, SumOp{}, 0.f);
    if (tid == 0) {
      tokens[r] = static_cast<int32_t>(arg);
      logprobs[r] = __fadd_rn(-logf(z), 0.0f);  // +0, not -0, for z = 1
    }
    return;
  }
  const float inv = __fdiv_rn(1.0f, temp);
  auto scaled = [&](int64_t c) -> float {
    const float diff = __fsub_rn(logit(c), vmax);
    return diff == 0.f ? 0.f : __fmul_rn(diff, inv);
  };
  // Every thread runs the same number of tile iterations (whole warps stay converged for the
  // warp-collective histogram updates); c >= V is masked.
  const int64_t tiles_end = (V + nt - 1) / nt * nt;
  float tau = -INFINITY;

  // 3. top-k: radix select of the k-th largest key.
  if (top_k > 0 && top_k < V) {
    uint32_t prefix = 0, pmask = 0, rest = static_cast<uint32_t>(top_k);
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = tid; b < 256; b += nt) sh.count[b] = 0u;
      __syncthreads();
      for (int64_t base = 0; base < tiles_end; base += nt) {
        const int64_t c = base + tid;
        unsigned bin = kNoBin;
        if (c < V) {
          const uint32_t key = order_key(scaled(c));
          if ((key & pmask) == prefix) bin = (key >> shift) & 255u;
        }
        if (__any_sync(kFull, bin != kNoBin)) {
          const unsigned peers = __match_any_sync(kFull, bin);
          if (bin != kNoBin && lane == __ffs(peers) - 1) atomicAdd(&sh.count[bin], static_cast<uint32_t>(__popc(peers)));
        }
      }
      __syncthreads();
      if (tid < 32) select_count_bin(sh.count, rest, &sh.sel, &sh.rest);
      __syncthreads();
      prefix |= sh.sel << shift;
      pmask |= 255u << shift;
      rest = sh.rest;
    }
    tau = key_value(prefix);
  }

  // 4. top-p: radix descent over (count, mass) histograms of the values >= tau.
  if (top_p < 1.f) {
    uint32_t prefix = 0, pmask = 0;
    unsigned long long above = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = tid; b < 256; b += nt) {
        sh.count[b] = 0u;
        sh.mass[b] = 0ull;
      }
      __syncthreads();
      for (int64_t base = 0; base < tiles_end; base += nt) {
        const int64_t c = base + tid;
        unsigned bin = kNoBin;
        unsigned long long m = 0;
        if (c < V) {
          const float d = scaled(c);
          if (d >= tau) {
            const uint32_t key = order_key(d);
            if ((key & pmask) == prefix) {
              bin = (key >> shift) & 255u;
              m = __float2ull_rn(expf(d) * 4294967296.0f);  // <= 2^32
            }
          }
        }
        if (__any_sync(kFull, bin != kNoBin)) {
          const unsigned peers = __match_any_sync(kFull, bin);
          // Sum the group's masses as two 16-bit-split halves (each group sum fits 32 bits).
          const unsigned mhi = __reduce_add_sync(peers, static_cast<unsigned>(m >> 16));
          const unsigned mlo = __reduce_add_sync(peers, static_cast<unsigned>(m & 0xffffu));
          if (bin != kNoBin && lane == __ffs(peers) - 1) {
            atomicAdd(&sh.count[bin], static_cast<uint32_t>(__popc(peers)));
            atomicAdd(&sh.mass[bin], (static_cast<unsigned long long>(mhi) << 16) + mlo);
          }
        }
      }
      __syncthreads();
      if (tid < 32) select_mass_bin(sh.count, sh.mass, above, static_cast<double>(top_p), shift == 24, &sh.pz,
                                    &sh.sel, &sh.above);
      __syncthreads();
      prefix |= sh.sel << shift;
      pmask |= 255u << shift;
      above = sh.above;
    }
    tau = fmaxf(tau, key_value(prefix));
  }

  // 5. min-p, the kept mass, and the draw.
  if (min_p > 0.f) tau = fmaxf(tau, logf(min_p));
  float z = 0.f;
  for (int64_t c = tid; c < V; c += nt) {
    const float d = scaled(c);
    if (d >= tau) z += expf(d);
  }
  z = block_reduce(z, SumOp{}, 0.f);
  const float target = sample_uniform(seed, stream, offset) * z;
  if (tid == 0) {
    sh.found = LLONG_MAX;
    sh.last = -1;
  }
  __syncthreads();
  float carry = 0.f;
  int64_t last = -1;
  for (int64_t base = 0; base < tiles_end; base += nt) {
    const int64_t c = base + tid;
    float e = 0.f;
    if (c < V) {
      const float d = scaled(c);
      if (d >= tau) e = expf(d);
    }
    if (e > 0.f) last = c;
    float total;
    const float incl = block_inclusive_scan(e, &total);
    if (e > 0.f && carry + incl > target) atomicMin(reinterpret_cast<long long*>(&sh.found), static_cast<long long>(c));
    __syncthreads();
    if (sh.found != LLONG_MAX) break;  // uniform: read after the barrier, rewritten only after another
    carry += total;
  }
  int64_t tok = sh.found;
  if (tok == LLONG_MAX) {  // rounding: u * z beyond the accumulated mass -> the last kept token
    atomicMax(reinterpret_cast<long long*>(&sh.last), static_cast<long long>(last));
    __syncthreads();
    tok = sh.last;
  }
  if (tid == 0) {
    if (tok >= 0 && tok < V) {
      tokens[r] = static_cast<int32_t>(tok);
      logprobs[r] = scaled(tok) - logf(z);
    } else {
      tokens[r] = -1;
      logprobs[r] = __int_as_float(0x7fffffff);
    }
  }
}

template <typename IO>
__global__ void __launch_bounds__(1024)
    sample_kernel(int64_t R, int64_t V, const typename IO::T* __restrict__ logits, const float* fparams,
                  const int32_t* iparams, int64_t L, const int32_t* prev, uint64_t offset, int32_t* tokens,
                  float* logprobs) {
  extern __shared__ uint32_t s_mask[];  // (V + 31) / 32 words when L > 0
  __shared__ RowShared sh;
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    sample_row<IO>(r, V, logits + r * V, fparams, iparams, L, prev, offset, tokens, logprobs, s_mask, sh);
    __syncthreads();  // the next row rewrites the mask and sh only after every thread is done with this one
  }
}

int sample_threads(int64_t V) {
  int64_t t = (V / 8 + 31) / 32 * 32;
  return static_cast<int>(t < 32 ? 32 : (t > 1024 ? 1024 : t));
}

}  // namespace

void sample(DType dt, int64_t R, int64_t V, const void* logits, const float* fparams, const int32_t* iparams,
            int64_t L, const int32_t* prev, uint64_t offset, int32_t* tokens, float* logprobs) {
  if (R <= 0) return;
  const int64_t words = (V + 31) / 32;
  if (L > 0 && words > kMaxMaskWords)
    throw Error("sample: a repetition penalty on CUDA supports vocabularies up to " +
                std::to_string(kMaxMaskWords * 32) + " tokens, got " + std::to_string(V));
  const size_t smem = L > 0 ? static_cast<size_t>(words) * sizeof(uint32_t) : 0;
  const unsigned grid = static_cast<unsigned>(R < 65535LL * 16 ? R : 65535LL * 16);
  with_float_dtype(dt, "sample", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    sample_kernel<IO><<<grid, sample_threads(V), smem, stream()>>>(
        R, V, static_cast<const T*>(logits), fparams, iparams, L, L > 0 ? prev : nullptr, offset, tokens, logprobs);
    CUDA_CHECK_LAUNCH("sample");
  });
}

}  // namespace cuda
}  // namespace mathrl
