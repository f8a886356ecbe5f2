// Small SIMD toolkit for the CPU kernels (row loops of elementwise / softmax-like ops).
//
// A kernel is written once as a template over a vector type V (V512: AVX-512, 16 lanes; V256:
// AVX2+FMA, 8 lanes; V1: portable, 8 lanes in arrays) and instantiated in wrappers declared with
// MATHRL_VEC_AVX512 / MATHRL_VEC_AVX2 (target + flatten attributes): flatten inlines the template
// and V's members into the target-specific wrapper, so no -march flag is needed and the binary still
// runs on any x86-64. pick_isa() chooses at run time (MATHRL_CPU_ISA=generic|avx2 forces a lower
// path, e.g. for tests; MATHRL_GEMM_ISA is honoured too so that one variable lowers everything).
//
// exp: Cephes-style expf (range reduction by ln 2, degree-6 polynomial, 2^n through the exponent
// bits), about 1-2 ulp over the normal range; exp(x) = 0 for x < -87.34 (where expf would return a
// denormal), +inf for x > 88 (true value > 1.6e38: never met by the kernels, whose arguments are
// <= 0 or go through 1/(1+exp)), NaN in gives NaN out. V1 uses std::exp.
//
// Reductions (sum, max) keep one accumulator per lane and combine the lanes in a fixed order: the
// result depends on the ISA but never on the thread count.
#pragma once
// GCC 12's AVX-512 intrinsics initialise their "undefined" operands from themselves, which
// -Wuninitialized reports once they are inlined (a GCC 12 false positive). Diagnostics
// pragmas apply by source location, so this must come before the first #include <immintrin.h>:
// include vec.h first.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "../common.h"

// The templates below are only ever inlined into wrappers of the same ISA (flatten), where the
// vector-argument ABI question this warning is about does not arise.
#pragma GCC diagnostic ignored "-Wpsabi"

#define MATHRL_VEC_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define MATHRL_VEC_T256 __attribute__((target("avx2,fma")))
#define MATHRL_VEC_AVX512 __attribute__((flatten)) MATHRL_VEC_T512
#define MATHRL_VEC_AVX2 __attribute__((flatten)) MATHRL_VEC_T256

namespace mathrl {
namespace cpu {
namespace vec {

enum class Isa { Generic, Avx2, Avx512 };

inline Isa pick_isa() {
  static const Isa isa = [] {
    const char* force = std::getenv("MATHRL_CPU_ISA");
    if (!force) force = std::getenv("MATHRL_GEMM_ISA");
    const bool allow512 = !force || std::strcmp(force, "avx512") == 0;
    const bool allow2 = allow512 || std::strcmp(force, "avx2") == 0;
    __builtin_cpu_init();
    if (allow512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
      return Isa::Avx512;
    if (allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Generic;
  }();
  return isa;
}

// Cephes expf constants.
constexpr float kExpHi = 88.0f;  // keeps n <= 127
constexpr float kExpLo = -87.3365447504f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

// ---------------------------------------------------------------------------------------------
struct V512 {
  using R = __m512;
  static constexpr int W = 16;
  MATHRL_VEC_T512 static inline R load(const float* p) { return _mm512_loadu_ps(p); }
  MATHRL_VEC_T512 static inline R load(const uint16_t* p) {
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
  }
  MATHRL_VEC_T512 static inline void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  // The first n (0 <= n <= W) lanes; the others read as 0 and are never touched in memory.
  MATHRL_VEC_T512 static inline R loadn(const float* p, int64_t n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  }
  MATHRL_VEC_T512 static inline void storen(float* p, R v, int64_t n) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
  }
  // Round to nearest even, NaN kept quiet: the same bits as f32_to_bf16.
  MATHRL_VEC_T512 static inline void store(uint16_t* p, R v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
  }
  MATHRL_VEC_T512 static inline R set1(float x) { return _mm512_set1_ps(x); }
  MATHRL_VEC_T512 static inline R zero() { return _mm512_setzero_ps(); }
  MATHRL_VEC_T512 static inline R add(R a, R b) { return _mm512_add_ps(a, b); }
  MATHRL_VEC_T512 static inline R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  MATHRL_VEC_T512 static inline R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  MATHRL_VEC_T512 static inline R div(R a, R b) { return _mm512_div_ps(a, b); }
  MATHRL_VEC_T512 static inline R fmadd(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  MATHRL_VEC_T512 static inline R sqrt(R a) { return _mm512_sqrt_ps(a); }
  // max that propagates NaN from either operand.
  MATHRL_VEC_T512 static inline R max(R a, R b) {
    const R m = _mm512_max_ps(a, b);
    return _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
  }
  MATHRL_VEC_T512 static inline float hsum(R v) {
    // Fixed pairwise order: (lo256 + hi256), then halves again.
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }
  MATHRL_VEC_T512 static inline float hmax(R v) {
    __m256 a = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }
  MATHRL_VEC_T512 static inline R exp(R x) {
    const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpLo), _CMP_LT_OQ);
    const __mmask16 over = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpHi), _CMP_GT_OQ);
    // NaN passes through the clamps (max/min return the second operand when one is NaN).
    R c = _mm512_min_ps(_mm512_set1_ps(kExpHi), _mm512_max_ps(_mm512_set1_ps(kExpLo), x));
    R n = _mm512_roundscale_ps(_mm512_fmadd_ps(c, _mm512_set1_ps(kLog2e), _mm512_set1_ps(0.5f)),
                               _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    R r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), c);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
    R p = _mm512_set1_ps(kP0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    // 2^n by building the exponent; n in [-126, 127] after the clamp.
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    R y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    y = _mm512_mask_mov_ps(y, under, _mm512_setzero_ps());
    return _mm512_mask_mov_ps(y, over, _mm512_set1_ps(INFINITY));
  }
};

// ---------------------------------------------------------------------------------------------
struct V256 {
  using R = __m256;
  static constexpr int W = 8;
  MATHRL_VEC_T256 static inline R load(const float* p) { return _mm256_loadu_ps(p); }
  MATHRL_VEC_T256 static inline R load(const uint16_t* p) {
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
  }
  MATHRL_VEC_T256 static inline void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  MATHRL_VEC_T256 static inline __m256i first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // The first n (0 <= n <= W) lanes; the others read as 0 and are never touched in memory.
  MATHRL_VEC_T256 static inline R loadn(const float* p, int64_t n) { return _mm256_maskload_ps(p, first(n)); }
  MATHRL_VEC_T256 static inline void storen(float* p, R v, int64_t n) { _mm256_maskstore_ps(p, first(n), v); }
  MATHRL_VEC_T256 static inline void store(uint16_t* p, R v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
    // Values are < 2^16: pack the 8 32-bit lanes into 8 16-bit values in order.
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
  }
  MATHRL_VEC_T256 static inline R set1(float x) { return _mm256_set1_ps(x); }
  MATHRL_VEC_T256 static inline R zero() { return _mm256_setzero_ps(); }
  MATHRL_VEC_T256 static inline R add(R a, R b) { return _mm256_add_ps(a, b); }
  MATHRL_VEC_T256 static inline R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  MATHRL_VEC_T256 static inline R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  MATHRL_VEC_T256 static inline R div(R a, R b) { return _mm256_div_ps(a, b); }
  MATHRL_VEC_T256 static inline R fmadd(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  MATHRL_VEC_T256 static inline R sqrt(R a) { return _mm256_sqrt_ps(a); }
  MATHRL_VEC_T256 static inline R max(R a, R b) {
    const R m = _mm256_max_ps(a, b);
    return _mm256_blendv_ps(m, a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  MATHRL_VEC_T256 static inline float hsum(R v) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }
  MATHRL_VEC_T256 static inline float hmax(R v) {
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }
  MATHRL_VEC_T256 static inline R exp(R x) {
    const R under = _mm256_cmp_ps(x, _mm256_set1_ps(kExpLo), _CMP_LT_OQ);
    const R over = _mm256_cmp_ps(x, _mm256_set1_ps(kExpHi), _CMP_GT_OQ);
    R c = _mm256_min_ps(_mm256_set1_ps(kExpHi), _mm256_max_ps(_mm256_set1_ps(kExpLo), x));
    R n = _mm256_floor_ps(_mm256_fmadd_ps(c, _mm256_set1_ps(kLog2e), _mm256_set1_ps(0.5f)));
    R r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), c);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
    R p = _mm256_set1_ps(kP0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    R y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_andnot_ps(under, y);
    return _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), over);
  }
};

// ---------------------------------------------------------------------------------------------
// Portable: 8 lanes in plain arrays (the compiler vectorises the lane loops with the baseline
// SSE2), so that sums have the same lane structure as V256.
struct V1 {
  static constexpr int W = 8;
  struct R {
    float v[W];
  };
  template <class F>
  static inline R map(F f) {
    R r;
    for (int i = 0; i < W; ++i) r.v[i] = f(i);
    return r;
  }
  static inline R load(const float* p) { return map([&](int i) { return p[i]; }); }
  static inline R load(const uint16_t* p) { return map([&](int i) { return bf16_to_f32(p[i]); }); }
  static inline void store(float* p, R a) {
    for (int i = 0; i < W; ++i) p[i] = a.v[i];
  }
  // The first n (0 <= n <= W) lanes; the others read as 0 and are never touched in memory.
  static inline R loadn(const float* p, int64_t n) { return map([&](int i) { return i < n ? p[i] : 0.f; }); }
  static inline void storen(float* p, R a, int64_t n) {
    for (int i = 0; i < n; ++i) p[i] = a.v[i];
  }
  static inline void store(uint16_t* p, R a) {
    for (int i = 0; i < W; ++i) p[i] = f32_to_bf16(a.v[i]);
  }
  static inline R set1(float x) { return map([&](int) { return x; }); }
  static inline R zero() { return set1(0.f); }
  static inline R add(R a, R b) { return map([&](int i) { return a.v[i] + b.v[i]; }); }
  static inline R sub(R a, R b) { return map([&](int i) { return a.v[i] - b.v[i]; }); }
  static inline R mul(R a, R b) { return map([&](int i) { return a.v[i] * b.v[i]; }); }
  static inline R div(R a, R b) { return map([&](int i) { return a.v[i] / b.v[i]; }); }
  static inline R fmadd(R a, R b, R c) { return map([&](int i) { return a.v[i] * b.v[i] + c.v[i]; }); }
  static inline R sqrt(R a) { return map([&](int i) { return std::sqrt(a.v[i]); }); }
  static inline float max1(float a, float b) { return (a > b || a != a) ? a : b; }
  static inline R max(R a, R b) { return map([&](int i) { return max1(a.v[i], b.v[i]); }); }
  static inline float hsum(R a) {
    const float* v = a.v;  // same pairing as V256::hsum
    const float b0 = v[0] + v[4], b1 = v[1] + v[5], b2 = v[2] + v[6], b3 = v[3] + v[7];
    return (b0 + b2) + (b1 + b3);
  }
  static inline float hmax(R a) {
    float m = a.v[0];
    for (int i = 1; i < W; ++i) m = max1(m, a.v[i]);
    return m;
  }
  static inline R exp(R a) { return map([&](int i) { return std::exp(a.v[i]); }); }
};

// The first n (< W) elements at p as a vector, the other lanes `pad`; and the reverse. With these a
// row's tail goes through the same vector code as its body, so an element's result never depends
// on where a thread's range happens to start or end.
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return bf16_to_f32(*p); }
inline void store1(float* p, float v) { *p = v; }
inline void store1(uint16_t* p, float v) { *p = f32_to_bf16(v); }
template <class V, class T>
inline typename V::R load_part(const T* p, int64_t n, float pad) {
  float buf[V::W];
  for (int64_t i = 0; i < V::W; ++i) buf[i] = i < n ? load1(p + i) : pad;
  return V::load(buf);
}
template <class V, class T>
inline void store_part(T* p, int64_t n, typename V::R v) {
  float buf[V::W];
  V::store(buf, v);
  for (int64_t i = 0; i < n; ++i) store1(p + i, buf[i]);
}

// Elementwise map over [0, n): out[i] = f(in_0[i], in_1[i], ...) with f on vectors (tails padded
// with `pad`).
template <class V, class T, class F, class... In>
inline void map_n(int64_t n, float pad, T* out, F f, const In*... in) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(out + i, f(V::load(in + i)...));
  if (i < n) store_part<V>(out + i, n - i, f(load_part<V>(in + i, n - i, pad)...));
}

}  // namespace vec
}  // namespace cpu
}  // namespace mathrl
