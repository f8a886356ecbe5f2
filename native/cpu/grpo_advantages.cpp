// Group-relative advantages for GRPO (outcome and process supervision): CPU reference, in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops.h"

namespace mathrl {
namespace cpu {

namespace {

// Unbiased std of the values for which valid(i); 0 for fewer than two values (as TRL guards G = 1).
template <typename Get>
void mean_std(int64_t n, Get&& get, double* mean, double* stdev, int64_t* count) {
  double sum = 0;
  int64_t c = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v;
    if (get(i, &v)) {
      sum += v;
      ++c;
    }
  }
  double m = c > 0 ? sum / static_cast<double>(c) : 0.0;
  double m2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v;
    if (get(i, &v)) m2 += (v - m) * (v - m);
  }
  *mean = m;
  *stdev = c > 1 ? std::sqrt(m2 / static_cast<double>(c - 1)) : 0.0;
  *count = c;
}

inline double normalise(double r, double mean, double stdev, int scale, double eps) {
  return scale == 2 ? r - mean : (r - mean) / (stdev + eps);
}

}  // namespace

void grpo_advantages(int64_t B, int64_t G, const float* rewards, int scale, float eps, float* adv) {
  double bmean = 0, bstd = 0;
  int64_t cnt = 0;
  if (scale == 1)
    mean_std(B * G, [&](int64_t i, double* v) { *v = rewards[i]; return true; }, &bmean, &bstd, &cnt);
  for (int64_t g = 0; g < B; ++g) {
    const float* r = rewards + g * G;
    double mean = 0, gstd = 0;
    mean_std(G, [&](int64_t i, double* v) { *v = r[i]; return true; }, &mean, &gstd, &cnt);
    double sd = scale == 1 ? bstd : gstd;
    for (int64_t i = 0; i < G; ++i) adv[g * G + i] = static_cast<float>(normalise(r[i], mean, sd, scale, eps));
  }
}

void grpo_process_advantages(int64_t B, int64_t G, int64_t S, int64_t T, const float* rewards, const int32_t* ends,
                             DType mask_dt, const void* mask, int scale, float eps, float* adv) {
  auto step = [&](int64_t base) {
    return [&, base](int64_t i, double* v) {
      if (ends[base + i] < 0) return false;
      *v = rewards[base + i];
      return true;
    };
  };
  double bmean = 0, bstd = 0;
  int64_t cnt = 0;
  if (scale == 1) mean_std(B * G * S, step(0), &bmean, &bstd, &cnt);
  std::vector<double> bucket(static_cast<size_t>(T));
  for (int64_t g = 0; g < B; ++g) {
    double mean = 0, gstd = 0;
    mean_std(G * S, step(g * G * S), &mean, &gstd, &cnt);
    double sd = scale == 1 ? bstd : gstd;
    for (int64_t n = g * G; n < (g + 1) * G; ++n) {
      std::fill(bucket.begin(), bucket.end(), 0.0);
      for (int64_t s = 0; s < S; ++s) {
        int32_t e = ends[n * S + s];
        if (e < 0 || T == 0) continue;
        int64_t pos = std::min<int64_t>(e, T - 1);
        bucket[static_cast<size_t>(pos)] += normalise(rewards[n * S + s], mean, sd, scale, eps);
      }
      double acc = 0;
      for (int64_t t = T - 1; t >= 0; --t) {
        acc += bucket[static_cast<size_t>(t)];
        float m = !mask ? 1.f
                  : mask_dt == DType::I32 ? static_cast<float>(static_cast<const int32_t*>(mask)[n * T + t])
                                          : static_cast<const float*>(mask)[n * T + t];
        adv[n * T + t] = m != 0.f ? static_cast<float>(acc) : 0.f;
      }
    }
  }
}

}  // namespace cpu
}  // namespace mathrl
