// Fused attention with grouped-query heads, causal and segment masks (twin: native/cuda/attention.cu).
//
// FlashAttention-2 structure on the CPU: query rows are processed in tiles of kBq, keys in tiles of
// kBk, with an online softmax, so no T×T matrix ever exists (scratch is O(tile·Dh) per thread, plus
// the O(T) row statistic D in the backward). Math in f32, storage f32 or bf16.
//
//   forward : parallel over (b, h, query tile); per key tile S = scale·Q·Kᵀ, masked, online softmax,
//             O += P·V; out = O / l, lse = m + log(l) (a row with no allowed key: out = 0, lse = -inf).
//   backward: D_i = rowsum(dout_i · out_i) (parallel over rows), then two passes that recompute
//             P = exp(S - lse) from q, k and lse:
//             - dk/dv: parallel over (b, kv head, key tile); each task owns its dk/dv rows and loops
//               over the query heads of its group and the query tiles: dV += Pᵀ·dO,
//               dS = P∘(dP - D) with dP = dO·Vᵀ, dK += scale·dSᵀ·Q.
//             - dq: parallel over (b, h, query tile); loops over key tiles: dQ += scale·dS·K.
//             Every output element is written by exactly one task: deterministic, no races, results
//             independent of the thread count.
// The inner loops are written as axpys over a contiguous dimension (K and V tiles are stored
// transposed where needed) so that the compiler vectorises them without reassociating sums.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
constexpr int64_t kBq = 32;  // query rows per tile
constexpr int64_t kBk = 64;  // keys per tile
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Attn {
  int64_t B, T, Hq, Hkv, Dh, G;  // G = Hq / Hkv query heads per kv head
  bool causal;
  float scale;
  const int32_t* seg;  // [B, T] or nullptr
  int64_t qrow(int64_t b, int64_t i, int64_t h) const { return ((b * T + i) * Hq + h) * Dh; }
  int64_t krow(int64_t b, int64_t j, int64_t g) const { return ((b * T + j) * Hkv + g) * Dh; }
  int64_t stat(int64_t b, int64_t h, int64_t i) const { return (b * Hq + h) * T + i; }
  // Whether query i may attend key j (segment row segb = seg + b*T, or nullptr).
  static bool allowed(bool causal, const int32_t* segb, int64_t i, int64_t j) {
    return (!causal || j <= i) && (!segb || segb[i] == segb[j]);
  }
};

// Loads rows [r0, r0+n) of a [rows, Dh] head slice into dst[n][Dh] (row stride `stride` elements
// between consecutive tokens in the source).
template <typename IO>
void load_rows(const typename IO::T* src, int64_t first, int64_t stride, int64_t n, int64_t Dh, float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const typename IO::T* p = src + first + r * stride;
    for (int64_t d = 0; d < Dh; ++d) dst[r * Dh + d] = IO::load(p, d);
  }
}
// Same, stored transposed: dst[d * ld + r].
template <typename IO>
void load_rows_t(const typename IO::T* src, int64_t first, int64_t stride, int64_t n, int64_t Dh, int64_t ld,
                 float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const typename IO::T* p = src + first + r * stride;
    for (int64_t d = 0; d < Dh; ++d) dst[d * ld + r] = IO::load(p, d);
  }
}

// s[r * kBk + c] = scale * sum_d A[r][d] * Bt[d][c], or -inf where the mask forbids (i0 + r, j0 + c).
void scores(const Attn& a, const int32_t* segb, const float* A, const float* Bt, int64_t nr, int64_t nc,
            int64_t i0, int64_t j0, float* s) {
  for (int64_t r = 0; r < nr; ++r) {
    float* sr = s + r * kBk;
    for (int64_t c = 0; c < nc; ++c) sr[c] = 0.f;
    for (int64_t d = 0; d < a.Dh; ++d) {
      float x = A[r * a.Dh + d];
      const float* bt = Bt + d * kBk;
      for (int64_t c = 0; c < nc; ++c) sr[c] += x * bt[c];
    }
    for (int64_t c = 0; c < nc; ++c)
      sr[c] = Attn::allowed(a.causal, segb, i0 + r, j0 + c) ? sr[c] * a.scale : kNegInf;
  }
}

// p[r * kBk + c] = sum_d A[r][d] * Bt[d][c] (no mask, no scale).
void products(int64_t Dh, const float* A, const float* Bt, int64_t nr, int64_t nc, float* p) {
  for (int64_t r = 0; r < nr; ++r) {
    float* pr = p + r * kBk;
    for (int64_t c = 0; c < nc; ++c) pr[c] = 0.f;
    for (int64_t d = 0; d < Dh; ++d) {
      float x = A[r * Dh + d];
      const float* bt = Bt + d * kBk;
      for (int64_t c = 0; c < nc; ++c) pr[c] += x * bt[c];
    }
  }
}

template <typename IO>
void forward(const Attn& a, const void* qv, const void* kv, const void* vv, void* outv, float* lse) {
  using T = typename IO::T;
  const T* q = static_cast<const T*>(qv);
  const T* k = static_cast<const T*>(kv);
  const T* v = static_cast<const T*>(vv);
  T* out = static_cast<T*>(outv);
  const int64_t Dh = a.Dh, T_ = a.T;
  const int64_t nq = (T_ + kBq - 1) / kBq;
  parallel_for(a.B * a.Hq * nq, [&](int64_t s0, int64_t s1, int) {
    std::vector<float> Q(kBq * Dh), Kt(Dh * kBk), V(kBk * Dh), S(kBq * kBk), O(kBq * Dh), m(kBq), l(kBq);
    for (int64_t t = s0; t < s1; ++t) {
      const int64_t qt = t % nq, h = (t / nq) % a.Hq, b = t / (nq * a.Hq), g = h / a.G;
      const int64_t i0 = qt * kBq, nr = std::min(kBq, T_ - i0);
      const int32_t* segb = a.seg ? a.seg + b * T_ : nullptr;
      load_rows<IO>(q, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, Q.data());
      std::fill(O.begin(), O.end(), 0.f);
      std::fill(m.begin(), m.end(), kNegInf);
      std::fill(l.begin(), l.end(), 0.f);
      const int64_t jend = a.causal ? i0 + nr : T_;
      for (int64_t j0 = 0; j0 < jend; j0 += kBk) {
        const int64_t nc = std::min(kBk, jend - j0);
        load_rows_t<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, kBk, Kt.data());
        load_rows<IO>(v, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, V.data());
        scores(a, segb, Q.data(), Kt.data(), nr, nc, i0, j0, S.data());
        for (int64_t r = 0; r < nr; ++r) {
          float* sr = S.data() + r * kBk;
          float mx = kNegInf;
          for (int64_t c = 0; c < nc; ++c) mx = std::max(mx, sr[c]);
          if (mx == kNegInf) continue;  // nothing allowed in this tile for this row
          const float mnew = std::max(m[r], mx);
          const float alpha = std::exp(m[r] - mnew);  // 0 when m was -inf
          float sum = 0.f;
          for (int64_t c = 0; c < nc; ++c) {
            sr[c] = std::exp(sr[c] - mnew);  // masked: exp(-inf) = 0
            sum += sr[c];
          }
          l[r] = l[r] * alpha + sum;
          m[r] = mnew;
          float* o = O.data() + r * Dh;
          if (alpha != 1.f)
            for (int64_t d = 0; d < Dh; ++d) o[d] *= alpha;
          for (int64_t c = 0; c < nc; ++c) {
            const float p = sr[c];
            if (p == 0.f) continue;
            const float* vr = V.data() + c * Dh;
            for (int64_t d = 0; d < Dh; ++d) o[d] += p * vr[d];
          }
        }
      }
      for (int64_t r = 0; r < nr; ++r) {
        const bool any = l[r] > 0.f;
        const float inv = any ? 1.f / l[r] : 0.f;
        T* dst = out + a.qrow(b, i0 + r, h);
        for (int64_t d = 0; d < Dh; ++d) IO::store(dst, d, any ? O[r * Dh + d] * inv : 0.f);
        lse[a.stat(b, h, i0 + r)] = any ? m[r] + std::log(l[r]) : kNegInf;
      }
    }
  });
}

// P = exp(S - lse_r) (S already masked to -inf; a row with lse = -inf has no allowed key, P = 0),
// then dS = P * (dP - D_r). P is written over S, dS over dP.
void probs_and_dscores(const float* lse, const float* D, int64_t nr, int64_t nc, float* S, float* dP) {
  for (int64_t r = 0; r < nr; ++r) {
    float* sr = S + r * kBk;
    float* dr = dP + r * kBk;
    const float L = lse[r];
    for (int64_t c = 0; c < nc; ++c) {
      const float p = (sr[c] == kNegInf || L == kNegInf) ? 0.f : std::exp(sr[c] - L);
      sr[c] = p;
      dr[c] = p * (dr[c] - D[r]);
    }
  }
}

template <typename IO>
void backward(const Attn& a, const void* qv, const void* kv, const void* vv, const void* outv, const float* lse,
              const void* doutv, void* dqv, void* dkv, void* dvv) {
  using T = typename IO::T;
  const T* q = static_cast<const T*>(qv);
  const T* k = static_cast<const T*>(kv);
  const T* v = static_cast<const T*>(vv);
  const T* out = static_cast<const T*>(outv);
  const T* dout = static_cast<const T*>(doutv);
  T* dq = static_cast<T*>(dqv);
  T* dk = static_cast<T*>(dkv);
  T* dv = static_cast<T*>(dvv);
  const int64_t Dh = a.Dh, T_ = a.T;

  // D[b, h, i] = sum_d dout * out (f32).
  std::vector<float> Dv(static_cast<size_t>(a.B * a.Hq * T_));
  float* D = Dv.data();
  parallel_for(a.B * T_ * a.Hq, [&](int64_t s0, int64_t s1, int) {
    for (int64_t row = s0; row < s1; ++row) {
      const int64_t h = row % a.Hq, i = (row / a.Hq) % T_, b = row / (a.Hq * T_);
      const T* o = out + row * Dh;
      const T* g = dout + row * Dh;
      float acc = 0.f;
      for (int64_t d = 0; d < Dh; ++d) acc += IO::load(g, d) * IO::load(o, d);
      D[a.stat(b, h, i)] = acc;
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(Dh, 1)));

  const int64_t nq = (T_ + kBq - 1) / kBq, nk = (T_ + kBk - 1) / kBk;

  // dk, dv: one task per (b, kv head, key tile).
  parallel_for(a.B * a.Hkv * nk, [&](int64_t s0, int64_t s1, int) {
    std::vector<float> Kt(Dh * kBk), Vt(Dh * kBk), Q(kBq * Dh), dO(kBq * Dh), S(kBq * kBk), dP(kBq * kBk),
        dK(kBk * Dh), dV(kBk * Dh);
    for (int64_t t = s0; t < s1; ++t) {
      const int64_t kt = t % nk, g = (t / nk) % a.Hkv, b = t / (nk * a.Hkv);
      const int64_t j0 = kt * kBk, nc = std::min(kBk, T_ - j0);
      const int32_t* segb = a.seg ? a.seg + b * T_ : nullptr;
      load_rows_t<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, kBk, Kt.data());
      load_rows_t<IO>(v, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, kBk, Vt.data());
      std::fill(dK.begin(), dK.end(), 0.f);
      std::fill(dV.begin(), dV.end(), 0.f);
      const int64_t istart = a.causal ? (j0 / kBq) * kBq : 0;  // earlier queries see none of these keys
      for (int64_t h = g * a.G; h < (g + 1) * a.G; ++h) {
        for (int64_t i0 = istart; i0 < T_; i0 += kBq) {
          const int64_t nr = std::min(kBq, T_ - i0);
          load_rows<IO>(q, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, Q.data());
          load_rows<IO>(dout, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, dO.data());
          scores(a, segb, Q.data(), Kt.data(), nr, nc, i0, j0, S.data());
          products(Dh, dO.data(), Vt.data(), nr, nc, dP.data());
          probs_and_dscores(lse + a.stat(b, h, i0), D + a.stat(b, h, i0), nr, nc, S.data(), dP.data());
          for (int64_t r = 0; r < nr; ++r) {
            const float* pr = S.data() + r * kBk;
            const float* dsr = dP.data() + r * kBk;
            const float* dor = dO.data() + r * Dh;
            const float* qr = Q.data() + r * Dh;
            for (int64_t c = 0; c < nc; ++c) {
              const float p = pr[c], ds = dsr[c];
              float* dvc = dV.data() + c * Dh;
              float* dkc = dK.data() + c * Dh;
              if (p != 0.f)
                for (int64_t d = 0; d < Dh; ++d) dvc[d] += p * dor[d];
              if (ds != 0.f)
                for (int64_t d = 0; d < Dh; ++d) dkc[d] += ds * qr[d];
            }
          }
        }
      }
      for (int64_t c = 0; c < nc; ++c) {
        T* dkr = dk + a.krow(b, j0 + c, g);
        T* dvr = dv + a.krow(b, j0 + c, g);
        for (int64_t d = 0; d < Dh; ++d) {
          IO::store(dkr, d, a.scale * dK[c * Dh + d]);
          IO::store(dvr, d, dV[c * Dh + d]);
        }
      }
    }
  });

  // dq: one task per (b, h, query tile).
  parallel_for(a.B * a.Hq * nq, [&](int64_t s0, int64_t s1, int) {
    std::vector<float> Q(kBq * Dh), dO(kBq * Dh), K(kBk * Dh), Kt(Dh * kBk), Vt(Dh * kBk), S(kBq * kBk),
        dP(kBq * kBk), dQ(kBq * Dh);
    for (int64_t t = s0; t < s1; ++t) {
      const int64_t qt = t % nq, h = (t / nq) % a.Hq, b = t / (nq * a.Hq), g = h / a.G;
      const int64_t i0 = qt * kBq, nr = std::min(kBq, T_ - i0);
      const int32_t* segb = a.seg ? a.seg + b * T_ : nullptr;
      load_rows<IO>(q, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, Q.data());
      load_rows<IO>(dout, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, dO.data());
      std::fill(dQ.begin(), dQ.end(), 0.f);
      const int64_t jend = a.causal ? i0 + nr : T_;
      for (int64_t j0 = 0; j0 < jend; j0 += kBk) {
        const int64_t nc = std::min(kBk, jend - j0);
        load_rows<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, K.data());
        load_rows_t<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, kBk, Kt.data());
        load_rows_t<IO>(v, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, kBk, Vt.data());
        scores(a, segb, Q.data(), Kt.data(), nr, nc, i0, j0, S.data());
        products(Dh, dO.data(), Vt.data(), nr, nc, dP.data());
        probs_and_dscores(lse + a.stat(b, h, i0), D + a.stat(b, h, i0), nr, nc, S.data(), dP.data());
        for (int64_t r = 0; r < nr; ++r) {
          float* dqr = dQ.data() + r * Dh;
          const float* dsr = dP.data() + r * kBk;
          for (int64_t c = 0; c < nc; ++c) {
            const float ds = dsr[c];
            if (ds == 0.f) continue;
            const float* kr = K.data() + c * Dh;
            for (int64_t d = 0; d < Dh; ++d) dqr[d] += ds * kr[d];
          }
        }
      }
      for (int64_t r = 0; r < nr; ++r) {
        T* dst = dq + a.qrow(b, i0 + r, h);
        for (int64_t d = 0; d < Dh; ++d) IO::store(dst, d, a.scale * dQ[r * Dh + d]);
      }
    }
  });
}

Attn make(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal, float scale, const int32_t* seg,
          const char* op) {
  if (B < 0 || T < 0 || Hq < 1 || Hkv < 1 || Dh < 1 || Hq % Hkv != 0)
    throw Error(std::string(op) + ": invalid head configuration (Hq " + std::to_string(Hq) + ", Hkv " +
                std::to_string(Hkv) + ", Dh " + std::to_string(Dh) + ")");
  return Attn{B, T, Hq, Hkv, Dh, Hq / Hkv, causal, scale, seg};
}
}  // namespace

void attention_forward(DType dt, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal,
                       float scale, const void* q, const void* k, const void* v, const int32_t* seg, void* out,
                       float* lse) {
  const Attn a = make(B, T, Hq, Hkv, Dh, causal, scale, seg, "attention");
  if (B == 0 || T == 0) return;
  with_float_dtype(dt, "attention", [&](auto io) { forward<decltype(io)>(a, q, k, v, out, lse); });
}

void attention_backward(DType dt, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal,
                        float scale, const void* q, const void* k, const void* v, const int32_t* seg,
                        const void* out, const float* lse, const void* dout, void* dq, void* dk, void* dv) {
  const Attn a = make(B, T, Hq, Hkv, Dh, causal, scale, seg, "attentionBackward");
  if (B == 0 || T == 0) return;
  with_float_dtype(dt, "attentionBackward",
                   [&](auto io) { backward<decltype(io)>(a, q, k, v, out, lse, dout, dq, dk, dv); });
}

}  // namespace cpu
}  // namespace mathrl
