// Fused per-token GRPO loss (twin of native/cpu/grpo_loss.cpp). Three kernels on the stream, no sync:
//   1. rows: one block per row (grid-stride) sums the row's mask, loss and metric terms into
//      work[n*kRowStats + k] (the ratio min/max too);
//   2. total: one block reduces the rows, writes loss and metrics, and the per-token weight w into
//      work[N*kRowStats];
//   3. grad: elementwise over [N, T], recomputes each token and writes dlogp = mask * grad * w_n.
#include <cstdint>

#include "block_reduce.cuh"
#include "cuda_common.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {

enum { kCnt, kLoss, kKl, kLow, kHigh, kRegion, kRatio, kRmin, kRmax, kRowStats };
constexpr int kRowThreads = 256;
constexpr int kTotalThreads = 1024;

struct Token {
  float loss, grad, kl, ratio;
  bool low, high;
};

struct Params {
  int64_t N, T;
  const float* logp;
  const float* old_logp;
  const float* ref_logp;
  const float* adv;
  bool adv_per_token;
  bool mask_i32;
  const void* mask;
  float eps_low, eps_high, beta;
  bool has_delta;
  float delta;
  int loss_type;
  float normalizer, grad_scale;
};

__device__ __forceinline__ float nanf_() { return __int_as_float(0x7fffffff); }

__device__ __forceinline__ float mask_at(const Params& p, int64_t i) {
  return p.mask_i32 ? static_cast<float>(static_cast<const int32_t*>(p.mask)[i]) : static_cast<const float*>(p.mask)[i];
}

// Same formula and branch rules as grpo_token in native/cpu/grpo_loss.cpp.
__device__ __forceinline__ Token grpo_token(const Params& p, int64_t n, int64_t i) {
  Token k;
  float lp = p.logp[i];
  float ol = p.old_logp ? p.old_logp[i] : lp;
  float A = p.adv_per_token ? p.adv[i] : p.adv[n];
  float r = expf(lp - ol);
  float c1 = (p.has_delta && r > p.delta) ? p.delta : r;  // NaN r stays NaN
  float lo = 1.f - p.eps_low, hi = 1.f + p.eps_high;
  float c2 = r < lo ? lo : (r > hi ? hi : r);
  float l1 = c1 * A, l2 = c2 * A;
  float g1 = (p.has_delta && r > p.delta) ? 0.f : r * A;
  float g2 = (r >= lo && r <= hi) ? r * A : 0.f;
  float obj, gobj;
  if (l1 < l2) {
    obj = l1;
    gobj = g1;
  } else if (l2 < l1) {
    obj = l2;
    gobj = g2;
  } else {
    obj = (l1 != l1 || l2 != l2) ? nanf_() : l1;
    gobj = 0.5f * (g1 + g2);
  }
  k.loss = -obj;
  k.grad = -gobj;
  k.kl = 0.f;
  if (p.ref_logp) {
    float d = p.ref_logp[i] - lp;
    float e = expf(d);
    k.kl = e - d - 1.f;
    if (p.beta != 0.f) {
      k.loss += p.beta * k.kl;
      k.grad += p.beta * (1.f - e);
    }
  }
  k.ratio = r;
  k.low = c1 < lo && A < 0.f;
  k.high = c1 > hi && A > 0.f;
  return k;
}

__global__ void grpo_rows_kernel(Params p, float* work) {
  for (int64_t n = blockIdx.x; n < p.N; n += gridDim.x) {
    float st[kRmin] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    float rmin = INFINITY, rmax = -INFINITY, nan_seen = 0.f;
    for (int64_t t = threadIdx.x; t < p.T; t += blockDim.x) {
      int64_t i = n * p.T + t;
      float m = mask_at(p, i);
      if (m == 0.f) continue;
      Token k = grpo_token(p, n, i);
      st[kCnt] += m;
      st[kLoss] += m * k.loss;
      st[kKl] += m * k.kl;
      st[kLow] += k.low ? m : 0.f;
      st[kHigh] += k.high ? m : 0.f;
      st[kRegion] += (k.low || k.high) ? m : 0.f;
      st[kRatio] += m * k.ratio;
      if (k.ratio != k.ratio) {
        nan_seen = 1.f;
      } else {
        rmin = fminf(rmin, k.ratio);
        rmax = fmaxf(rmax, k.ratio);
      }
    }
    float out[kRowStats];
    for (int k = 0; k < kRmin; ++k) out[k] = block_reduce(st[k], SumOp{}, 0.f);
    out[kRmin] = -block_reduce(-rmin, MaxOp{}, -INFINITY);
    out[kRmax] = block_reduce(rmax, MaxOp{}, -INFINITY);
    if (block_reduce(nan_seen, SumOp{}, 0.f) > 0.f) out[kRmin] = out[kRmax] = nanf_();
    if (threadIdx.x == 0)
      for (int k = 0; k < kRowStats; ++k) work[n * kRowStats + k] = out[k];
  }
}

__global__ void grpo_total_kernel(Params p, float* work, float* loss, float* metrics) {
  float st[kRowStats] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, INFINITY, -INFINITY};
  float seq_mean = 0.f;
  for (int64_t n = threadIdx.x; n < p.N; n += blockDim.x) {
    const float* w = work + n * kRowStats;
    for (int k = 0; k < kRmin; ++k) st[k] += w[k];
    // MaxOp propagates NaN (a row with a NaN ratio has NaN min and max).
    st[kRmin] = -MaxOp{}(-st[kRmin], -w[kRmin]);
    st[kRmax] = MaxOp{}(st[kRmax], w[kRmax]);
    seq_mean += w[kLoss] / fmaxf(1.f, w[kCnt]);
  }
  float tot[kRowStats];
  for (int k = 0; k < kRmin; ++k) tot[k] = block_reduce(st[k], SumOp{}, 0.f);
  tot[kRmin] = -block_reduce(-st[kRmin], MaxOp{}, -INFINITY);
  tot[kRmax] = block_reduce(st[kRmax], MaxOp{}, -INFINITY);
  seq_mean = block_reduce(seq_mean, SumOp{}, 0.f);
  if (threadIdx.x == 0) {
    float count = fmaxf(1.f, tot[kCnt]);
    float w;
    switch (p.loss_type) {
      case 0: w = p.grad_scale / static_cast<float>(p.N); break;
      case 1: w = p.grad_scale / count; break;
      case 2: w = 1.f / (p.normalizer > 0.f ? p.normalizer : count); break;
      default: w = p.grad_scale / (static_cast<float>(p.N) * p.normalizer); break;
    }
    *loss = p.loss_type == 0 ? seq_mean * w : tot[kLoss] * w;
    bool any = tot[kRmax] != -INFINITY;
    metrics[0] = tot[kKl] / count;
    metrics[1] = tot[kLow] / count;
    metrics[2] = tot[kHigh] / count;
    metrics[3] = tot[kRegion] / count;
    metrics[4] = tot[kRatio] / count;
    metrics[5] = any ? tot[kRmin] : nanf_();
    metrics[6] = any ? tot[kRmax] : nanf_();
    metrics[7] = tot[kCnt];
    work[p.N * kRowStats] = w;
  }
}

__global__ void grpo_grad_kernel(Params p, const float* work, float* dlogp) {
  int64_t total = p.N * p.T;
  float w = work[p.N * kRowStats];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t n = i / p.T;
    float m = mask_at(p, i);
    if (m == 0.f) {
      dlogp[i] = 0.f;
      continue;
    }
    float wn = p.loss_type == 0 ? w / fmaxf(1.f, work[n * kRowStats + kCnt]) : w;
    dlogp[i] = m * grpo_token(p, n, i).grad * wn;
  }
}

}  // namespace

void grpo_loss(int64_t N, int64_t T, const float* logp, const float* old_logp, const float* ref_logp,
               const float* adv, bool adv_per_token, DType mask_dt, const void* mask, float eps_low, float eps_high,
               float beta, bool has_delta, float delta, int loss_type, float normalizer, float grad_scale,
               float* loss, float* metrics, float* dlogp, float* work) {
  Params p{N, T, logp, old_logp, ref_logp, adv, adv_per_token, mask_dt == DType::I32, mask, eps_low, eps_high,
           beta, has_delta, delta, loss_type, normalizer, grad_scale};
  if (N > 0) {
    unsigned grid = static_cast<unsigned>(N < 65535LL * 16 ? N : 65535LL * 16);
    grpo_rows_kernel<<<grid, kRowThreads, 0, stream()>>>(p, work);
    CUDA_CHECK_LAUNCH("grpoLoss (rows)");
  }
  grpo_total_kernel<<<1, kTotalThreads, 0, stream()>>>(p, work, loss, metrics);
  CUDA_CHECK_LAUNCH("grpoLoss (total)");
  if (dlogp && N * T > 0) {
    int64_t total = N * T;
    int64_t g = (total + 255) / 256;
    if (g > 65535LL * 8) g = 65535LL * 8;
    grpo_grad_kernel<<<static_cast<unsigned>(g), 256, 0, stream()>>>(p, work, dlogp);
    CUDA_CHECK_LAUNCH("grpoLoss (grad)");
  }
}

}  // namespace cuda
}  // namespace mathrl
