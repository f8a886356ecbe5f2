// Fused per-token GRPO loss, forward and backward (TRL GRPOTrainer._compute_loss): CPU reference.
// Per-token values in f32 (as the CUDA twin), row and batch sums in double. Three phases: per-row sums
// (parallel over rows), the batch totals / loss / metrics (serial, fixed order), then dlogp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {

struct Token {
  float loss;   // -min(c1*A, c2*A) + beta*kl (beta term only when beta != 0)
  float grad;   // d loss / d logp
  float kl;     // k3 estimator (0 without ref)
  float ratio;  // exp(logp - old)
  bool low, high;
};

// One token of the GRPO objective; see native/cpu/ops.h (grpo_loss) for the formula.
inline Token grpo_token(float lp, float ol, const float* ref, float A, float eps_low, float eps_high, float beta,
                        bool has_delta, float delta) {
  Token k;
  float r = std::exp(lp - ol);
  float c1 = has_delta ? std::min(r, delta) : r;  // std::min(NaN, delta) is NaN
  float lo = 1.f - eps_low, hi = 1.f + eps_high;
  float c2 = r < lo ? lo : (r > hi ? hi : r);  // NaN r -> NaN
  float l1 = c1 * A, l2 = c2 * A;
  // d l1 / d logp: the delta clamp passes the gradient where r <= delta; d l2 / d logp: the clamp passes it
  // where lo <= r <= hi (torch.clamp's gradient is 1 on the closed interval).
  float g1 = (has_delta && r > delta) ? 0.f : r * A;
  float g2 = (r >= lo && r <= hi) ? r * A : 0.f;
  float obj, gobj;
  if (l1 < l2) {
    obj = l1;
    gobj = g1;
  } else if (l2 < l1) {
    obj = l2;
    gobj = g2;
  } else {  // tie (or NaN): torch.minimum splits the gradient evenly
    obj = (std::isnan(l1) || std::isnan(l2)) ? std::numeric_limits<float>::quiet_NaN() : l1;
    gobj = 0.5f * (g1 + g2);
  }
  k.loss = -obj;
  k.grad = -gobj;
  k.kl = 0.f;
  if (ref) {
    float d = *ref - lp;
    float e = std::exp(d);
    k.kl = e - d - 1.f;
    if (beta != 0.f) {
      k.loss += beta * k.kl;
      k.grad += beta * (1.f - e);
    }
  }
  k.ratio = r;
  k.low = c1 < lo && A < 0.f;
  k.high = c1 > hi && A > 0.f;
  return k;
}

inline float mask_at(DType mdt, const void* mask, int64_t i) {
  return mdt == DType::I32 ? static_cast<float>(static_cast<const int32_t*>(mask)[i])
                           : static_cast<const float*>(mask)[i];
}

enum { kCnt, kLoss, kKl, kLow, kHigh, kRegion, kRatio, kRmin, kRmax, kRowStats };

}  // namespace

void grpo_loss(int64_t N, int64_t T, const float* logp, const float* old_logp, const float* ref_logp,
               const float* adv, bool adv_per_token, DType mask_dt, const void* mask, float eps_low, float eps_high,
               float beta, bool has_delta, float delta, int loss_type, float normalizer, float grad_scale,
               float* loss, float* metrics, float* dlogp, float* work) {
  (void)work;  // the CUDA twin keeps its row sums there; here they are double
  std::vector<double> rows(static_cast<size_t>(N * kRowStats));
  const double inf = std::numeric_limits<double>::infinity();
  parallel_for(N, [&](int64_t s, int64_t e, int) {
    for (int64_t n = s; n < e; ++n) {
      double st[kRowStats] = {0, 0, 0, 0, 0, 0, 0, inf, -inf};
      for (int64_t t = 0; t < T; ++t) {
        int64_t i = n * T + t;
        float m = mask_at(mask_dt, mask, i);
        if (m == 0.f) continue;
        float lp = logp[i];
        Token k = grpo_token(lp, old_logp ? old_logp[i] : lp, ref_logp ? ref_logp + i : nullptr,
                             adv_per_token ? adv[i] : adv[n], eps_low, eps_high, beta, has_delta, delta);
        st[kCnt] += m;
        st[kLoss] += static_cast<double>(m) * k.loss;
        st[kKl] += static_cast<double>(m) * k.kl;
        st[kLow] += k.low ? m : 0.f;
        st[kHigh] += k.high ? m : 0.f;
        st[kRegion] += (k.low || k.high) ? m : 0.f;
        st[kRatio] += static_cast<double>(m) * k.ratio;
        if (std::isnan(k.ratio)) {
          st[kRmin] = st[kRmax] = std::numeric_limits<double>::quiet_NaN();
        } else if (!std::isnan(st[kRmin])) {
          st[kRmin] = std::min<double>(st[kRmin], k.ratio);
          st[kRmax] = std::max<double>(st[kRmax], k.ratio);
        }
      }
      std::copy(st, st + kRowStats, rows.begin() + n * kRowStats);
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(T, 1)));

  double tot[kRowStats] = {0, 0, 0, 0, 0, 0, 0, inf, -inf};
  double seq_mean = 0;  // sum over rows of loss_n / max(1, cnt_n)
  for (int64_t n = 0; n < N; ++n) {
    const double* st = rows.data() + n * kRowStats;
    for (int k = 0; k < kRmin; ++k) tot[k] += st[k];
    if (std::isnan(st[kRmin]) || std::isnan(tot[kRmin])) {
      tot[kRmin] = tot[kRmax] = std::numeric_limits<double>::quiet_NaN();
    } else {
      tot[kRmin] = std::min(tot[kRmin], st[kRmin]);
      tot[kRmax] = std::max(tot[kRmax], st[kRmax]);
    }
    seq_mean += st[kLoss] / std::max(1.0, st[kCnt]);
  }
  double count = std::max(1.0, tot[kCnt]);
  // Per-token weight w (dlogp = mask * grad * w, loss = sum mask * loss * w); grpo: w / max(1, cnt_n).
  double w;
  switch (loss_type) {
    case 0: w = grad_scale / static_cast<double>(N); break;                       // grpo
    case 1: w = grad_scale / count; break;                                        // bnpo
    case 2: w = 1.0 / (normalizer > 0 ? static_cast<double>(normalizer) : count); break;  // dapo
    default: w = grad_scale / (static_cast<double>(N) * normalizer); break;       // dr_grpo
  }
  *loss = static_cast<float>(loss_type == 0 ? seq_mean * w : tot[kLoss] * w);
  bool any = tot[kRmax] != -inf;  // some token has a non-zero mask
  metrics[0] = static_cast<float>(tot[kKl] / count);
  metrics[1] = static_cast<float>(tot[kLow] / count);
  metrics[2] = static_cast<float>(tot[kHigh] / count);
  metrics[3] = static_cast<float>(tot[kRegion] / count);
  metrics[4] = static_cast<float>(tot[kRatio] / count);
  metrics[5] = any ? static_cast<float>(tot[kRmin]) : std::numeric_limits<float>::quiet_NaN();
  metrics[6] = any ? static_cast<float>(tot[kRmax]) : std::numeric_limits<float>::quiet_NaN();
  metrics[7] = static_cast<float>(tot[kCnt]);

  if (!dlogp) return;
  parallel_for(N, [&](int64_t s, int64_t e, int) {
    for (int64_t n = s; n < e; ++n) {
      double wn = loss_type == 0 ? w / std::max(1.0, rows[static_cast<size_t>(n * kRowStats + kCnt)]) : w;
      for (int64_t t = 0; t < T; ++t) {
        int64_t i = n * T + t;
        float m = mask_at(mask_dt, mask, i);
        if (m == 0.f) {
          dlogp[i] = 0.f;
          continue;
        }
        float lp = logp[i];
        Token k = grpo_token(lp, old_logp ? old_logp[i] : lp, ref_logp ? ref_logp + i : nullptr,
                             adv_per_token ? adv[i] : adv[n], eps_low, eps_high, beta, has_delta, delta);
        dlogp[i] = static_cast<float>(static_cast<double>(m) * k.grad * wn);
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(T, 1)));
}

}  // namespace cpu
}  // namespace mathrl
