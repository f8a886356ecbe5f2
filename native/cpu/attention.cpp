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
// The tile products are small register-blocked kernels over a vector type (native/cpu/vec.h): each
// task body is compiled for AVX-512, AVX2+FMA and portable code and picked at run time; sums run in
// a fixed order (per output element over d, or over keys / queries in index order), so results do
// not depend on the thread count. Softmax exps use the vectorised exp of vec.h.
#include "vec.h"  // first: see its note on GCC 12 warnings

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
using vec::V1;
using vec::V256;
using vec::V512;

constexpr int64_t kBq = 32;  // query rows per tile
constexpr int64_t kBk = 64;  // keys per tile (a multiple of every vector width)
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
inline void load_rows(const typename IO::T* src, int64_t first, int64_t stride, int64_t n, int64_t Dh, float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const typename IO::T* p = src + first + r * stride;
    for (int64_t d = 0; d < Dh; ++d) dst[r * Dh + d] = IO::load(p, d);
  }
}
// Same, stored transposed: dst[d * kBk + r], columns n..kBk-1 zeroed.
template <typename IO>
inline void load_rows_t(const typename IO::T* src, int64_t first, int64_t stride, int64_t n, int64_t Dh,
                        float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const typename IO::T* p = src + first + r * stride;
    for (int64_t d = 0; d < Dh; ++d) dst[d * kBk + r] = IO::load(p, d);
  }
  if (n < kBk)
    for (int64_t d = 0; d < Dh; ++d)
      for (int64_t r = n; r < kBk; ++r) dst[d * kBk + r] = 0.f;
}

// p[r * kBk + c] = sum_d A[r][d] * Bt[d][c] for all kBk columns (Bt zero-padded), r < nr.
template <class V>
inline void products(int64_t Dh, const float* A, const float* Bt, int64_t nr, float* p) {
  constexpr int NC = kBk / V::W;
  for (int64_t r = 0; r < nr; ++r) {
    typename V::R acc[NC];
    for (int j = 0; j < NC; ++j) acc[j] = V::zero();
    const float* ar = A + r * Dh;
    for (int64_t d = 0; d < Dh; ++d) {
      const typename V::R x = V::set1(ar[d]);
      const float* bt = Bt + d * kBk;
      for (int j = 0; j < NC; ++j) acc[j] = V::fmadd(x, V::load(bt + j * V::W), acc[j]);
    }
    for (int j = 0; j < NC; ++j) V::store(p + r * kBk + j * V::W, acc[j]);
  }
}

// Scaled, masked scores: s = scale * A Btᵀ, -inf where the mask forbids (i0 + r, j0 + c) or c >= nc.
template <class V>
inline void scores(const Attn& a, const int32_t* segb, const float* A, const float* Bt, int64_t nr, int64_t nc,
                   int64_t i0, int64_t j0, float* s) {
  products<V>(a.Dh, A, Bt, nr, s);
  for (int64_t r = 0; r < nr; ++r) {
    float* sr = s + r * kBk;
    if (!segb && (!a.causal || j0 + nc - 1 <= i0 + r)) {  // whole row allowed: just scale
      for (int64_t c = 0; c < nc; ++c) sr[c] *= a.scale;
    } else {
      for (int64_t c = 0; c < nc; ++c) sr[c] = Attn::allowed(a.causal, segb, i0 + r, j0 + c) ? sr[c] * a.scale : kNegInf;
    }
    for (int64_t c = nc; c < kBk; ++c) sr[c] = kNegInf;
  }
}

// C[i][d] += sum_k A(i, k) * B[k][d] for i < m, k < kk, d < Dh, with A(i, k) = A[i * ras + k * cas]
// and B row-major [kk][Dh]. Zero A(i, k) are skipped (masked probabilities: no 0 * inf). Each C
// element sums over k in order.
template <class V>
inline void acc_mm(int64_t m, int64_t kk, int64_t Dh, const float* A, int64_t ras, int64_t cas, const float* B,
                   float* C) {
  constexpr int64_t W = V::W;
  for (int64_t i = 0; i < m; ++i) {
    const float* ai = A + i * ras;
    float* ci = C + i * Dh;
    int64_t d = 0;
    for (; d + 4 * W <= Dh; d += 4 * W) {
      typename V::R c0 = V::load(ci + d), c1 = V::load(ci + d + W), c2 = V::load(ci + d + 2 * W),
                    c3 = V::load(ci + d + 3 * W);
      for (int64_t k = 0; k < kk; ++k) {
        const float av = ai[k * cas];
        if (av == 0.f) continue;
        const typename V::R x = V::set1(av);
        const float* b = B + k * Dh + d;
        c0 = V::fmadd(x, V::load(b), c0);
        c1 = V::fmadd(x, V::load(b + W), c1);
        c2 = V::fmadd(x, V::load(b + 2 * W), c2);
        c3 = V::fmadd(x, V::load(b + 3 * W), c3);
      }
      V::store(ci + d, c0);
      V::store(ci + d + W, c1);
      V::store(ci + d + 2 * W, c2);
      V::store(ci + d + 3 * W, c3);
    }
    for (; d + W <= Dh; d += W) {
      typename V::R c0 = V::load(ci + d);
      for (int64_t k = 0; k < kk; ++k) {
        const float av = ai[k * cas];
        if (av == 0.f) continue;
        c0 = V::fmadd(V::set1(av), V::load(B + k * Dh + d), c0);
      }
      V::store(ci + d, c0);
    }
    if (d < Dh) {  // the last Dh % W columns (Dh = 24, 40, ...): masked lanes, not a scalar loop
      const int64_t n = Dh - d;
      typename V::R c0 = V::loadn(ci + d, n);
      for (int64_t k = 0; k < kk; ++k) {
        const float av = ai[k * cas];
        if (av == 0.f) continue;
        c0 = V::fmadd(V::set1(av), V::loadn(B + k * Dh + d, n), c0);
      }
      V::storen(ci + d, c0, n);
    }
  }
}

// Per-thread scratch (floats): enough for every buffer of the three passes.
inline size_t scratch_size(int64_t Dh) { return static_cast<size_t>(8 * kBk * Dh + 2 * kBq * kBk + 2 * kBq + 64); }

// Forward over tasks [s0, s1) of (b, h, query tile).
template <class V, class IO>
void forward_tasks(const Attn& a, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v,
                   typename IO::T* out, float* lse, int64_t s0, int64_t s1, float* buf) {
  const int64_t Dh = a.Dh, T_ = a.T;
  const int64_t nq = (T_ + kBq - 1) / kBq;
  float *Q = buf, *Kt = Q + kBq * Dh, *Vr = Kt + Dh * kBk, *S = Vr + kBk * Dh, *O = S + kBq * kBk, *m = O + kBq * Dh,
        *l = m + kBq;
  for (int64_t t = s0; t < s1; ++t) {
    const int64_t qt = t % nq, h = (t / nq) % a.Hq, b = t / (nq * a.Hq), g = h / a.G;
    const int64_t i0 = qt * kBq, nr = std::min(kBq, T_ - i0);
    const int32_t* segb = a.seg ? a.seg + b * T_ : nullptr;
    load_rows<IO>(q, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, Q);
    std::fill(O, O + kBq * Dh, 0.f);
    std::fill(m, m + kBq, kNegInf);
    std::fill(l, l + kBq, 0.f);
    const int64_t jend = a.causal ? i0 + nr : T_;
    for (int64_t j0 = 0; j0 < jend; j0 += kBk) {
      const int64_t nc = std::min(kBk, jend - j0);
      load_rows_t<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, Kt);
      load_rows<IO>(v, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, Vr);
      scores<V>(a, segb, Q, Kt, nr, nc, i0, j0, S);
      for (int64_t r = 0; r < nr; ++r) {
        float* sr = S + r * kBk;
        typename V::R vm = V::load(sr);
        for (int64_t c = V::W; c < kBk; c += V::W) vm = V::max(vm, V::load(sr + c));
        const float mx = V::hmax(vm);
        if (mx == kNegInf) {  // nothing allowed in this tile for this row
          std::fill(sr, sr + kBk, 0.f);
          continue;
        }
        const float mnew = std::max(m[r], mx);
        const float alpha = std::exp(m[r] - mnew);  // 0 when m was -inf
        const typename V::R vmn = V::set1(mnew);
        typename V::R vs = V::zero();
        for (int64_t c = 0; c < kBk; c += V::W) {
          const typename V::R p = V::exp(V::sub(V::load(sr + c), vmn));  // masked: exp(-inf) = 0
          V::store(sr + c, p);
          vs = V::add(vs, p);
        }
        l[r] = l[r] * alpha + V::hsum(vs);
        m[r] = mnew;
        if (alpha != 1.f) {
          float* o = O + r * Dh;
          for (int64_t d = 0; d < Dh; ++d) o[d] *= alpha;
        }
      }
      acc_mm<V>(nr, nc, Dh, S, kBk, 1, Vr, O);
    }
    for (int64_t r = 0; r < nr; ++r) {
      const bool any = l[r] > 0.f;
      const float inv = any ? 1.f / l[r] : 0.f;
      typename IO::T* dst = out + a.qrow(b, i0 + r, h);
      for (int64_t d = 0; d < Dh; ++d) IO::store(dst, d, any ? O[r * Dh + d] * inv : 0.f);
      lse[a.stat(b, h, i0 + r)] = any ? m[r] + std::log(l[r]) : kNegInf;
    }
  }
}

// P = exp(S - lse_r) (S masked to -inf beyond the allowed keys and columns; a row with lse = -inf
// has no allowed key, P = 0), then dS = P * (dP - D_r). P is written over S, dS over dP.
template <class V>
inline void probs_and_dscores(const float* lse, const float* D, int64_t nr, float* S, float* dP) {
  for (int64_t r = 0; r < nr; ++r) {
    float* sr = S + r * kBk;
    float* dr = dP + r * kBk;
    const float L = lse[r];
    if (L == kNegInf) {
      std::fill(sr, sr + kBk, 0.f);
      std::fill(dr, dr + kBk, 0.f);
      continue;
    }
    const typename V::R vl = V::set1(L), vd = V::set1(D[r]);
    for (int64_t c = 0; c < kBk; c += V::W) {
      const typename V::R p = V::exp(V::sub(V::load(sr + c), vl));
      V::store(sr + c, p);
      V::store(dr + c, V::mul(p, V::sub(V::load(dr + c), vd)));
    }
  }
}

// dk, dv over tasks [s0, s1) of (b, kv head, key tile).
template <class V, class IO>
void backward_kv_tasks(const Attn& a, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v,
                       const float* lse, const float* D, const typename IO::T* dout, typename IO::T* dk,
                       typename IO::T* dv, int64_t s0, int64_t s1, float* buf) {
  const int64_t Dh = a.Dh, T_ = a.T;
  const int64_t nk = (T_ + kBk - 1) / kBk;
  float *Kt = buf, *Vt = Kt + Dh * kBk, *Q = Vt + Dh * kBk, *dO = Q + kBq * Dh, *S = dO + kBq * Dh,
        *dP = S + kBq * kBk, *dK = dP + kBq * kBk, *dV = dK + kBk * Dh;
  for (int64_t t = s0; t < s1; ++t) {
    const int64_t kt = t % nk, g = (t / nk) % a.Hkv, b = t / (nk * a.Hkv);
    const int64_t j0 = kt * kBk, nc = std::min(kBk, T_ - j0);
    const int32_t* segb = a.seg ? a.seg + b * T_ : nullptr;
    load_rows_t<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, Kt);
    load_rows_t<IO>(v, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, Vt);
    std::fill(dK, dK + kBk * Dh, 0.f);
    std::fill(dV, dV + kBk * Dh, 0.f);
    const int64_t istart = a.causal ? (j0 / kBq) * kBq : 0;  // earlier queries see none of these keys
    for (int64_t h = g * a.G; h < (g + 1) * a.G; ++h) {
      for (int64_t i0 = istart; i0 < T_; i0 += kBq) {
        const int64_t nr = std::min(kBq, T_ - i0);
        load_rows<IO>(q, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, Q);
        load_rows<IO>(dout, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, dO);
        scores<V>(a, segb, Q, Kt, nr, nc, i0, j0, S);
        products<V>(Dh, dO, Vt, nr, dP);
        probs_and_dscores<V>(lse + a.stat(b, h, i0), D + a.stat(b, h, i0), nr, S, dP);
        // dV[c] += sum_r P[r][c] dO[r];  dK[c] += sum_r dS[r][c] Q[r]
        acc_mm<V>(nc, nr, Dh, S, 1, kBk, dO, dV);
        acc_mm<V>(nc, nr, Dh, dP, 1, kBk, Q, dK);
      }
    }
    for (int64_t c = 0; c < nc; ++c) {
      typename IO::T* dkr = dk + a.krow(b, j0 + c, g);
      typename IO::T* dvr = dv + a.krow(b, j0 + c, g);
      for (int64_t d = 0; d < Dh; ++d) {
        IO::store(dkr, d, a.scale * dK[c * Dh + d]);
        IO::store(dvr, d, dV[c * Dh + d]);
      }
    }
  }
}

// dq over tasks [s0, s1) of (b, h, query tile).
template <class V, class IO>
void backward_q_tasks(const Attn& a, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v,
                      const float* lse, const float* D, const typename IO::T* dout, typename IO::T* dq, int64_t s0,
                      int64_t s1, float* buf) {
  const int64_t Dh = a.Dh, T_ = a.T;
  const int64_t nq = (T_ + kBq - 1) / kBq;
  float *Q = buf, *dO = Q + kBq * Dh, *K = dO + kBq * Dh, *Kt = K + kBk * Dh, *Vt = Kt + Dh * kBk, *S = Vt + Dh * kBk,
        *dP = S + kBq * kBk, *dQ = dP + kBq * kBk;
  for (int64_t t = s0; t < s1; ++t) {
    const int64_t qt = t % nq, h = (t / nq) % a.Hq, b = t / (nq * a.Hq), g = h / a.G;
    const int64_t i0 = qt * kBq, nr = std::min(kBq, T_ - i0);
    const int32_t* segb = a.seg ? a.seg + b * T_ : nullptr;
    load_rows<IO>(q, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, Q);
    load_rows<IO>(dout, a.qrow(b, i0, h), a.Hq * Dh, nr, Dh, dO);
    std::fill(dQ, dQ + kBq * Dh, 0.f);
    const int64_t jend = a.causal ? i0 + nr : T_;
    for (int64_t j0 = 0; j0 < jend; j0 += kBk) {
      const int64_t nc = std::min(kBk, jend - j0);
      load_rows<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, K);
      load_rows_t<IO>(k, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, Kt);
      load_rows_t<IO>(v, a.krow(b, j0, g), a.Hkv * Dh, nc, Dh, Vt);
      scores<V>(a, segb, Q, Kt, nr, nc, i0, j0, S);
      products<V>(Dh, dO, Vt, nr, dP);
      probs_and_dscores<V>(lse + a.stat(b, h, i0), D + a.stat(b, h, i0), nr, S, dP);
      acc_mm<V>(nr, nc, Dh, dP, kBk, 1, K, dQ);  // dQ[r] += sum_c dS[r][c] K[c]
    }
    for (int64_t r = 0; r < nr; ++r) {
      typename IO::T* dst = dq + a.qrow(b, i0 + r, h);
      for (int64_t d = 0; d < Dh; ++d) IO::store(dst, d, a.scale * dQ[r * Dh + d]);
    }
  }
}

// ISA wrappers (flatten: everything above is compiled inline for the wrapper's target).
#define MATHRL_ATTN_WRAP(NAME, ATTR, VT)                                                                        \
  template <class IO>                                                                                         \
  ATTR void NAME##_fwd(const Attn& a, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v, \
                       typename IO::T* out, float* lse, int64_t s0, int64_t s1, float* buf) {                  \
    forward_tasks<VT, IO>(a, q, k, v, out, lse, s0, s1, buf);                                                  \
  }                                                                                                           \
  template <class IO>                                                                                         \
  ATTR void NAME##_bkv(const Attn& a, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v, \
                       const float* lse, const float* D, const typename IO::T* dout, typename IO::T* dk,       \
                       typename IO::T* dv, int64_t s0, int64_t s1, float* buf) {                               \
    backward_kv_tasks<VT, IO>(a, q, k, v, lse, D, dout, dk, dv, s0, s1, buf);                                  \
  }                                                                                                           \
  template <class IO>                                                                                         \
  ATTR void NAME##_bq(const Attn& a, const typename IO::T* q, const typename IO::T* k, const typename IO::T* v,  \
                      const float* lse, const float* D, const typename IO::T* dout, typename IO::T* dq,        \
                      int64_t s0, int64_t s1, float* buf) {                                                    \
    backward_q_tasks<VT, IO>(a, q, k, v, lse, D, dout, dq, s0, s1, buf);                                       \
  }
MATHRL_ATTN_WRAP(isa512, MATHRL_VEC_AVX512, V512)
MATHRL_ATTN_WRAP(isa256, MATHRL_VEC_AVX2, V256)
MATHRL_ATTN_WRAP(isa1, , V1)
#undef MATHRL_ATTN_WRAP

template <typename IO>
void forward(const Attn& a, const void* qv, const void* kv, const void* vv, void* outv, float* lse) {
  using T = typename IO::T;
  const T* q = static_cast<const T*>(qv);
  const T* k = static_cast<const T*>(kv);
  const T* v = static_cast<const T*>(vv);
  T* out = static_cast<T*>(outv);
  const vec::Isa isa = vec::pick_isa();
  auto fn = isa == vec::Isa::Avx512 ? &isa512_fwd<IO> : isa == vec::Isa::Avx2 ? &isa256_fwd<IO> : &isa1_fwd<IO>;
  const int64_t nq = (a.T + kBq - 1) / kBq;
  parallel_for(a.B * a.Hq * nq, [&](int64_t s0, int64_t s1, int) {
    std::vector<float> buf(scratch_size(a.Dh));
    fn(a, q, k, v, out, lse, s0, s1, buf.data());
  });
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

  const vec::Isa isa = vec::pick_isa();
  const int64_t nq = (T_ + kBq - 1) / kBq, nk = (T_ + kBk - 1) / kBk;

  // dk, dv: one task per (b, kv head, key tile).
  auto fkv = isa == vec::Isa::Avx512 ? &isa512_bkv<IO> : isa == vec::Isa::Avx2 ? &isa256_bkv<IO> : &isa1_bkv<IO>;
  parallel_for(a.B * a.Hkv * nk, [&](int64_t s0, int64_t s1, int) {
    std::vector<float> buf(scratch_size(Dh));
    fkv(a, q, k, v, lse, D, dout, dk, dv, s0, s1, buf.data());
  });

  // dq: one task per (b, h, query tile).
  auto fq = isa == vec::Isa::Avx512 ? &isa512_bq<IO> : isa == vec::Isa::Avx2 ? &isa256_bq<IO> : &isa1_bq<IO>;
  parallel_for(a.B * a.Hq * nq, [&](int64_t s0, int64_t s1, int) {
    std::vector<float> buf(scratch_size(Dh));
    fq(a, q, k, v, lse, D, dout, dq, s0, s1, buf.data());
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
