// Group-relative advantages (twin of native/cpu/grpo_advantages.cpp). One block per group (grid-stride);
// for 'batch' scaling every block first reduces the whole batch itself (the inputs are small: B*G rewards,
// B*G*S step rewards), so no scratch memory and no second launch are needed.
#include <cstdint>

#include "cuda_common.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// Block-wide sum in double (the statistics are accumulated in double, as on the CPU, so that a group of
// equal rewards gets a std of exactly 0). Every thread gets the result; blockDim.x is a multiple of 32.
__device__ double block_sum_double(double v) {
  __shared__ double partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  int nw = blockDim.x >> 5;
  v = lane < nw ? partial[lane] : 0.0;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Mean and unbiased std (0 for fewer than two values) of the values at i in [0, n) for which get(i, &v)
// is true; every thread of the block gets the result. Two passes over the values.
template <typename Get>
__device__ void block_mean_std(int64_t n, Get get, float* mean, float* stdev) {
  double s = 0.0, c = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v;
    if (get(i, &v)) {
      s += v;
      c += 1.0;
    }
  }
  s = block_sum_double(s);
  c = block_sum_double(c);
  double m = c > 0.0 ? s / c : 0.0;
  double m2 = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v;
    if (get(i, &v)) m2 += (v - m) * (v - m);
  }
  m2 = block_sum_double(m2);
  *mean = static_cast<float>(m);
  *stdev = c > 1.0 ? static_cast<float>(sqrt(m2 / (c - 1.0))) : 0.f;
}

__device__ __forceinline__ float normalise(float r, float mean, float sd, int scale, float eps) {
  return scale == 2 ? r - mean : (r - mean) / (sd + eps);
}

__global__ void outcome_kernel(int64_t B, int64_t G, const float* rewards, int scale, float eps, float* adv) {
  auto all = [rewards](int64_t base) {
    return [rewards, base](int64_t i, float* v) {
      *v = rewards[base + i];
      return true;
    };
  };
  float bmean = 0.f, bstd = 0.f;
  if (scale == 1) block_mean_std(B * G, all(0), &bmean, &bstd);
  for (int64_t g = blockIdx.x; g < B; g += gridDim.x) {
    float mean, gstd;
    block_mean_std(G, all(g * G), &mean, &gstd);
    float sd = scale == 1 ? bstd : gstd;
    for (int64_t i = threadIdx.x; i < G; i += blockDim.x)
      adv[g * G + i] = normalise(rewards[g * G + i], mean, sd, scale, eps);
  }
}

__global__ void process_kernel(int64_t B, int64_t G, int64_t S, int64_t T, const float* rewards, const int32_t* ends,
                               bool mask_i32, const void* mask, int scale, float eps, float* adv) {
  auto steps = [rewards, ends](int64_t base) {
    return [rewards, ends, base](int64_t i, float* v) {
      if (ends[base + i] < 0) return false;
      *v = rewards[base + i];
      return true;
    };
  };
  float bmean = 0.f, bstd = 0.f;
  if (scale == 1) block_mean_std(B * G * S, steps(0), &bmean, &bstd);
  for (int64_t g = blockIdx.x; g < B; g += gridDim.x) {
    float mean, gstd;
    block_mean_std(G * S, steps(g * G * S), &mean, &gstd);
    float sd = scale == 1 ? bstd : gstd;
    for (int64_t idx = threadIdx.x; idx < G * T; idx += blockDim.x) {
      int64_t n = g * G + idx / T, t = idx % T;
      float m = !mask ? 1.f
                : mask_i32 ? static_cast<float>(static_cast<const int32_t*>(mask)[n * T + t])
                           : static_cast<const float*>(mask)[n * T + t];
      float a = 0.f;
      if (m != 0.f)
        for (int64_t s = 0; s < S; ++s) {
          int32_t e = ends[n * S + s];
          if (e >= 0 && static_cast<int64_t>(e) >= t) a += normalise(rewards[n * S + s], mean, sd, scale, eps);
        }
      adv[n * T + t] = a;
    }
  }
}

unsigned groups_grid(int64_t B) { return static_cast<unsigned>(B < 65535LL * 8 ? (B < 1 ? 1 : B) : 65535LL * 8); }

}  // namespace

void grpo_advantages(int64_t B, int64_t G, const float* rewards, int scale, float eps, float* adv) {
  if (B * G == 0) return;
  outcome_kernel<<<groups_grid(B), kThreads, 0, stream()>>>(B, G, rewards, scale, eps, adv);
  CUDA_CHECK_LAUNCH("groupAdvantages");
}

void grpo_process_advantages(int64_t B, int64_t G, int64_t S, int64_t T, const float* rewards, const int32_t* ends,
                             DType mask_dt, const void* mask, int scale, float eps, float* adv) {
  if (B * G * T == 0) return;
  process_kernel<<<groups_grid(B), kThreads, 0, stream()>>>(B, G, S, T, rewards, ends, mask_dt == DType::I32, mask,
                                                            scale, eps, adv);
  CUDA_CHECK_LAUNCH("processAdvantages");
}

}  // namespace cuda
}  // namespace mathrl
