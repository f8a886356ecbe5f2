// CPU GEMM: C = alpha * op(A) @ op(B) + beta * C (see GemmArgs in common.h).
//
// Blocking scheme (BLIS / GotoBLAS style), per thread, over that thread's block of C:
//   for jc in N step NC                      B block KC x NC lives in L3
//     for pc in K step KC                    pack B[pc:+KC, jc:+NC] into NR-wide panels (Bp)
//       for ic in M step MC                  pack A[ic:+MC, pc:+KC] into MR-tall panels (Ap, L2)
//         for jr in NC step NR               Bp micro-panel KC x NR reused over ir (L1/L2)
//           for ir in MC step MR             micro-kernel: MR x NR tile of C in registers
// Packing does the transposes, the bf16 -> f32 conversion and zero-pads partial panels, so the
// micro-kernel only ever sees full MR x NR tiles; partial tiles of C are computed into a scratch
// tile and then copied out with alpha/beta applied. beta is applied on the first KC block only.
// Small f32 problems (few tiles reuse a panel) skip packing and let the kernel read A (any
// strides) and/or B (rows contiguous) in place; see direct_a / direct_b in run_block.
// C^T = op(B)^T op(A)^T is computed instead when that fills the tiles better (e.g. N < 64).
// Kernels (picked at run time with __builtin_cpu_supports, no -march flags needed):
//   AVX-512: 6 x 64 (24 zmm accumulators; KC=384, MC=96), AVX2+FMA: 6 x 16, portable: 4 x 8.
//   (6x64 measured ~= 14x32 / 12x32 / 8x48 on Zen 5, all near FMA peak; MATHRL_GEMM_* macros
//   below allow re-tuning.) MATHRL_GEMM_ISA=generic|avx2 in the environment forces a lower path.
// Threads: C is cut into slabs of whole micro-tiles (rows or columns, whichever dimension is
// larger); threads grab slabs from an atomic counter and run the whole loop nest on each with
// private packing buffers (no other synchronisation inside a GEMM);
// many small batched GEMMs are instead spread over threads one matrix at a time.
// bf16 C: the thread's slab is accumulated in an f32 scratch buffer and rounded once at the end.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {
namespace {

#define MATHRL_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define MATHRL_AVX2 __attribute__((target("avx2,fma")))
#define MATHRL_INLINE inline __attribute__((always_inline))

// Micro-kernel: acc = A(MR x kc) @ B(kc x NR); C[MR x NR] = alpha*acc + beta*C (C not read
// when beta == 0). Element (i, k) of A is A[i*rsa + k*csa]; row k of B is the NR floats at
// B + k*ldb. A packed panel has rsa = 1, csa = MR; a packed B panel has ldb = NR. The "strided A"
// variant lets small problems read f32 A in place (no packing); B may likewise be read in place.
using KernelFn = void (*)(int64_t kc, const float* A, int64_t rsa, int64_t csa, const float* B,
                          int64_t ldb, float* C, int64_t ldc, float alpha, float beta);
// Packs a (rows x kc) block into ceil(rows/P) zero-padded panels of P rows (see pack_panels_t).
using PackFn = void (*)(const void* src, bool bf16, bool trans, int64_t ld, int64_t rows,
                        int64_t kc, float* dst);

struct Isa {
  int MR, NR;
  int64_t KC, MC, NC;
  KernelFn kernel;     // packed A (rsa/csa ignored)
  KernelFn kernel_sa;  // strided A
  PackFn packA;  // MR-tall panels
  PackFn packB;  // NR-wide panels
};

// ------------------------------------------------------------------------------------------
// Packing. One generic routine: element (r, k) of the logical (rows x kc) source block is
// src[r*ld + k] when !trans ("row-major") and src[k*ld + r] when trans. It is written into
// panels of P rows: dst[panel*P*kc + k*P + (r % P)]. For A, r runs over M (trans = transA); for
// B, r runs over N with the logical block being op(B)^T, so trans = !transB.
// always_inline so that the target-specific wrappers below compile it with their ISA.

template <typename T>
MATHRL_INLINE float load_elem(const T* p) {
  if constexpr (sizeof(T) == 2) {
    return bf16_to_f32(*p);
  } else {
    return *p;
  }
}

template <int P, typename T>
MATHRL_INLINE void pack_panels_t(const T* src, bool trans, int64_t ld, int64_t rows, int64_t kc,
                                 float* dst) {
  for (int64_t r0 = 0; r0 < rows; r0 += P, dst += P * kc) {
    const int64_t pr = std::min<int64_t>(P, rows - r0);
    if (trans) {
      // Source rows of the panel are contiguous along r: copy P contiguous values per k.
      const T* s = src + r0;
      if (pr == P) {
        for (int64_t k = 0; k < kc; ++k) {
          const T* sk = s + k * ld;
          float* d = dst + k * P;
          for (int i = 0; i < P; ++i) d[i] = load_elem(sk + i);
        }
      } else {
        for (int64_t k = 0; k < kc; ++k) {
          const T* sk = s + k * ld;
          float* d = dst + k * P;
          int i = 0;
          for (; i < pr; ++i) d[i] = load_elem(sk + i);
          for (; i < P; ++i) d[i] = 0.f;
        }
      }
    } else {
      // Each of the P source rows is contiguous along k: transpose through blocks of 8 k values.
      const T* s = src + r0 * ld;
      int64_t k = 0;
      if (pr == P) {
        for (; k + 8 <= kc; k += 8) {
          float* d = dst + k * P;
          for (int i = 0; i < P; ++i) {
            const T* si = s + i * ld + k;
            for (int kk = 0; kk < 8; ++kk) d[kk * P + i] = load_elem(si + kk);
          }
        }
      }
      for (; k < kc; ++k) {
        float* d = dst + k * P;
        int i = 0;
        for (; i < pr; ++i) d[i] = load_elem(s + i * ld + k);
        for (; i < P; ++i) d[i] = 0.f;
      }
    }
  }
}

template <int P>
MATHRL_INLINE void pack_panels(const void* src, bool bf16, bool trans, int64_t ld, int64_t rows,
                               int64_t kc, float* dst) {
  if (bf16)
    pack_panels_t<P>(static_cast<const uint16_t*>(src), trans, ld, rows, kc, dst);
  else
    pack_panels_t<P>(static_cast<const float*>(src), trans, ld, rows, kc, dst);
}

// ------------------------------------------------------------------------------------------
// Portable kernel (plain C++; the compiler vectorises it with whatever the baseline ISA has).

template <int MR, int NR, bool SA>
void kernel_generic(int64_t kc, const float* __restrict A, int64_t rsa, int64_t csa,
                    const float* __restrict B, int64_t ldb, float* C, int64_t ldc, float alpha,
                    float beta) {
  if (!SA) rsa = 1, csa = MR;
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float a = A[i * rsa];
      for (int j = 0; j < NR; ++j) acc[i][j] += a * B[j];
    }
    A += csa;
    B += ldb;
  }
  for (int i = 0; i < MR; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f) {
      for (int j = 0; j < NR; ++j) c[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) c[j] = alpha * acc[i][j] + beta * c[j];
    }
  }
}

template <int P>
void pack_generic(const void* src, bool bf16, bool trans, int64_t ld, int64_t rows, int64_t kc,
                  float* dst) {
  pack_panels<P>(src, bf16, trans, ld, rows, kc, dst);
}

// ------------------------------------------------------------------------------------------
// AVX2 + FMA kernel: 6 x 16 (12 ymm accumulators).

template <bool SA>
MATHRL_AVX2 void kernel_avx2_6x16(int64_t kc, const float* __restrict A, int64_t rsa, int64_t csa,
                                  const float* __restrict B, int64_t ldb, float* C, int64_t ldc,
                                  float alpha, float beta) {
  constexpr int MR = 6;
  if (!SA) rsa = 1, csa = MR;
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i * rsa);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
    A += csa;
    B += ldb;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f) {
      _mm256_storeu_ps(c, _mm256_mul_ps(va, acc[i][0]));
      _mm256_storeu_ps(c + 8, _mm256_mul_ps(va, acc[i][1]));
    } else {
      _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc[i][0], _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
      _mm256_storeu_ps(c + 8,
                       _mm256_fmadd_ps(va, acc[i][1], _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8))));
    }
  }
}

template <int P>
MATHRL_AVX2 void pack_avx2(const void* src, bool bf16, bool trans, int64_t ld, int64_t rows,
                           int64_t kc, float* dst) {
  pack_panels<P>(src, bf16, trans, ld, rows, kc, dst);
}

// ------------------------------------------------------------------------------------------
// AVX-512 kernel: MR x (16*NV), MR*NV zmm accumulators; B rows are loaded, A is broadcast.

template <int MR, int NV, bool SA>
MATHRL_AVX512 void kernel_avx512(int64_t kc, const float* __restrict A, int64_t rsa, int64_t csa,
                                 const float* __restrict B, int64_t ldb, float* C, int64_t ldc,
                                 float alpha, float beta) {
  if (!SA) rsa = 1, csa = MR;
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  // Warm the C tile while the FMAs run.
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);

  // One k step: NV loads of B, MR broadcasts of A, MR*NV FMAs.
#define MATHRL_STEP(a, b)                                                      \
  do {                                                                         \
    __m512 bv[NV];                                                             \
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] =               \
        _mm512_loadu_ps((b) + 16 * v);                                         \
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {                    \
      const __m512 av = _mm512_set1_ps((a)[i * rsa]);                          \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] =         \
          _mm512_fmadd_ps(av, bv[v], acc[i][v]);                               \
    }                                                                          \
  } while (0)
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    if (!SA) {
      _mm_prefetch(reinterpret_cast<const char*>(A + 8 * MR), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(A + 8 * MR + 16), _MM_HINT_T0);
    }
    MATHRL_STEP(A, B);
    MATHRL_STEP(A + csa, B + ldb);
    if (!SA) {
      _mm_prefetch(reinterpret_cast<const char*>(A + 8 * MR + 32), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(A + 8 * MR + 48), _MM_HINT_T0);
    }
    MATHRL_STEP(A + 2 * csa, B + 2 * ldb);
    MATHRL_STEP(A + 3 * csa, B + 3 * ldb);
    A += 4 * csa;
    B += 4 * ldb;
  }
  for (; k < kc; ++k) {
    MATHRL_STEP(A, B);
    A += csa;
    B += ldb;
  }
#undef MATHRL_STEP

  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  if (beta == 0.f) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        _mm512_storeu_ps(C + i * ldc + 16 * v, _mm512_mul_ps(va, acc[i][v]));
  } else {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* c = C + i * ldc + 16 * v;
        _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[i][v], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
      }
  }
}

template <int P>
MATHRL_AVX512 void pack_avx512(const void* src, bool bf16, bool trans, int64_t ld, int64_t rows,
                               int64_t kc, float* dst) {
  pack_panels<P>(src, bf16, trans, ld, rows, kc, dst);
}

// ------------------------------------------------------------------------------------------
// Dispatch.

#ifndef MATHRL_GEMM_MR
#define MATHRL_GEMM_MR 6
#endif
#ifndef MATHRL_GEMM_NV
#define MATHRL_GEMM_NV 4
#endif
#ifndef MATHRL_GEMM_KC
#define MATHRL_GEMM_KC 384
#endif
#ifndef MATHRL_GEMM_MC
#define MATHRL_GEMM_MC 96
#endif

Isa make_isa() {
  // MATHRL_GEMM_ISA=generic|avx2 forces a lower path (used by tests).
  const char* force = std::getenv("MATHRL_GEMM_ISA");
  const bool allow_avx512 = !force || std::strcmp(force, "avx512") == 0;
  const bool allow_avx2 = allow_avx512 || std::strcmp(force, "avx2") == 0;
  __builtin_cpu_init();
  if (allow_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma")) {
    constexpr int MR = MATHRL_GEMM_MR, NR = 16 * MATHRL_GEMM_NV;
    return {MR, NR, MATHRL_GEMM_KC, MATHRL_GEMM_MC, 4096, &kernel_avx512<MR, MATHRL_GEMM_NV, false>,
            &kernel_avx512<MR, MATHRL_GEMM_NV, true>,
            &pack_avx512<MR>, &pack_avx512<NR>};
  }
  if (allow_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return {6, 16, 256, 144, 4096, &kernel_avx2_6x16<false>, &kernel_avx2_6x16<true>,
            &pack_avx2<6>, &pack_avx2<16>};
  }
  return {4, 8, 256, 128, 2048, &kernel_generic<4, 8, false>,
          &kernel_generic<4, 8, true>, &pack_generic<4>, &pack_generic<8>};
}

const Isa& isa() {
  static const Isa s = make_isa();
  return s;
}

// Per-thread scratch, reused across calls (64-byte aligned).
struct Scratch {
  std::vector<float> a, b, c;
  static float* get(std::vector<float>& v, size_t n) {
    if (v.size() < n + 16) v.assign(n + 16, 0.f);
    uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
    return reinterpret_cast<float*>((p + 63) & ~uintptr_t(63));
  }
};
thread_local Scratch tl_scratch;

// One GEMM in "kernel space": C' = alpha * op(A) @ op(B) + beta * C' with op(A) [M,K], op(B)
// [K,N]. Element (i, j) of C' lives at C[i*ldc + j], or at C[j*ldc + i] when ct ("C transposed":
// used to run C^T = op(B)^T @ op(A)^T when that wastes less of the MR x NR tiles, e.g. N < NR).
struct Problem {
  const void* A;
  const void* B;
  bool bf16_in, transA, transB;
  int64_t M, N, K;
  float alpha, beta;
  bool ct;
};

// The transposed problem C^T = op(B)^T @ op(A)^T, expressed with the same storage.
Problem transposed(const Problem& p) {
  Problem q = p;
  q.A = p.B;
  q.B = p.A;
  q.transA = !p.transB;
  q.transB = !p.transA;
  q.M = p.N;
  q.N = p.M;
  q.ct = !p.ct;
  return q;
}

// Fraction of micro-tile work that is useful for an M x N output.
double tile_efficiency(const Isa& s, int64_t M, int64_t N) {
  const int64_t mp = (M + s.MR - 1) / s.MR * s.MR, np = (N + s.NR - 1) / s.NR * s.NR;
  return double(M) / double(mp) * double(N) / double(np);
}

// Rows [m0,m1) x cols [n0,n1) of C' (f32) with K > 0.
void run_block(const Isa& s, const Problem& p, float* C, int64_t ldc, int64_t m0, int64_t m1,
               int64_t n0, int64_t n1) {
  const int MR = s.MR, NR = s.NR;
  const int64_t esz = p.bf16_in ? 2 : 4;
  const int64_t lda = p.transA ? p.M : p.K;
  const int64_t ldb = p.transB ? p.K : p.N;
  const int64_t KC = std::min<int64_t>(s.KC, p.K);
  const int64_t MC = std::min<int64_t>(s.MC, (m1 - m0 + MR - 1) / MR * MR);
  const int64_t NC = std::min<int64_t>(s.NC, (n1 - n0 + NR - 1) / NR * NR);
  // Small f32 problems skip packing where it would not pay off: A is read in place when at most
  // one column tile (or, for a small A block, a few) reuses each A panel; B when at most four row
  // tiles reuse each B panel and its rows are contiguous. Partial edge panels are still packed.
  const bool direct_a =
      !p.bf16_in && (n1 - n0 <= NR || (n1 - n0 <= 4 * NR && (m1 - m0) * p.K <= (1 << 16)));
  const bool direct_b = !p.bf16_in && !p.transB && m1 - m0 <= 4 * MR;
  const int64_t rsa = p.transA ? 1 : lda, csa = p.transA ? lda : 1;
  Scratch& sc = tl_scratch;
  float* Ap = Scratch::get(sc.a, MC * KC);
  float* Bp = Scratch::get(sc.b, NC * KC);
  alignas(64) float tile[32 * 64];
  const char* Ab = static_cast<const char*>(p.A);
  const char* Bb = static_cast<const char*>(p.B);
  // Strides of C' in memory.
  const int64_t rs = p.ct ? 1 : ldc, cs = p.ct ? ldc : 1;

  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min(NC, n1 - jc);
    const int64_t nc_full = direct_b ? nc / NR * NR : 0;  // columns read in place
    for (int64_t pc = 0; pc < p.K; pc += KC) {
      const int64_t kc = std::min(KC, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.f;
      // op(B)[pc:+kc, jc:+nc] viewed as (nc x kc) with r = column of C.
      const void* bsrc = Bb + esz * (p.transB ? (jc + nc_full) * ldb + pc : pc * ldb + jc + nc_full);
      if (nc > nc_full) s.packB(bsrc, p.bf16_in, !p.transB, ldb, nc - nc_full, kc, Bp);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = std::min(MC, m1 - ic);
        const int64_t mc_full = direct_a ? mc / MR * MR : 0;  // rows read in place
        const void* asrc =
            Ab + esz * (p.transA ? pc * lda + ic + mc_full : (ic + mc_full) * lda + pc);
        if (mc > mc_full) s.packA(asrc, p.bf16_in, p.transA, lda, mc - mc_full, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const bool bdirect = jr < nc_full;
          const float* bp = bdirect ? static_cast<const float*>(p.B) + pc * ldb + jc + jr
                                    : Bp + (jr - nc_full) * kc;
          const int64_t ldbk = bdirect ? ldb : NR;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            float* c = C + (ic + ir) * rs + (jc + jr) * cs;
            float* out = (mr == MR && nr == NR && !p.ct) ? c : tile;
            const int64_t ldo = out == c ? ldc : NR;
            const float al = out == c ? p.alpha : 1.f, be = out == c ? beta : 0.f;
            if (ir < mc_full) {
              const float* a = static_cast<const float*>(p.A) + (ic + ir) * rsa + pc * csa;
              s.kernel_sa(kc, a, rsa, csa, bp, ldbk, out, ldo, al, be);
            } else {
              s.kernel(kc, Ap + (ir - mc_full) * kc, 1, MR, bp, ldbk, out, ldo, al, be);
            }
            if (out == c) continue;
            for (int64_t i = 0; i < mr; ++i) {
              float* ci = c + i * rs;
              const float* ti = tile + i * NR;
              if (beta == 0.f) {
                for (int64_t j = 0; j < nr; ++j) ci[j * cs] = p.alpha * ti[j];
              } else {
                for (int64_t j = 0; j < nr; ++j) ci[j * cs] = p.alpha * ti[j] + beta * ci[j * cs];
              }
            }
          }
        }
      }
    }
  }
}

// Rows [m0,m1) x cols [n0,n1) of C' for one batch (ldc = row length of the real C); handles
// bf16 C, K == 0 and alpha == 0 (C = beta * C, A and B not read, as in BLAS).
void run_slab(const Isa& s, const Problem& p, void* Cv, int64_t ldc, bool bf16_out, int64_t m0,
              int64_t m1, int64_t n0, int64_t n1) {
  if (m0 >= m1 || n0 >= n1) return;
  const int64_t rs = p.ct ? 1 : ldc, cs = p.ct ? ldc : 1;
  const bool scale_only = p.K == 0 || p.alpha == 0.f;
  if (!bf16_out) {
    float* C = static_cast<float*>(Cv);
    if (scale_only) {
      for (int64_t i = m0; i < m1; ++i)
        for (int64_t j = n0; j < n1; ++j) {
          float& c = C[i * rs + j * cs];
          c = p.beta == 0.f ? 0.f : p.beta * c;
        }
      return;
    }
    run_block(s, p, C, ldc, m0, m1, n0, n1);
    return;
  }
  uint16_t* C = static_cast<uint16_t*>(Cv);
  if (scale_only) {
    for (int64_t i = m0; i < m1; ++i)
      for (int64_t j = n0; j < n1; ++j) {
        uint16_t& c = C[i * rs + j * cs];
        c = f32_to_bf16(p.beta == 0.f ? 0.f : p.beta * bf16_to_f32(c));
      }
    return;
  }
  // Accumulate the block in an f32 scratch T (row-major mm x nn) and round to bf16 once.
  const int64_t mm = m1 - m0, nn = n1 - n0;
  float* T = Scratch::get(tl_scratch.c, mm * nn);
  if (p.beta != 0.f) {
    for (int64_t i = 0; i < mm; ++i)
      for (int64_t j = 0; j < nn; ++j) T[i * nn + j] = bf16_to_f32(C[(m0 + i) * rs + (n0 + j) * cs]);
  }
  // Shift A/B so that the block starts at (0, 0) of T; M/N/K stay as leading dimensions.
  const int64_t esz = p.bf16_in ? 2 : 4;
  Problem q = p;
  q.A = static_cast<const char*>(p.A) + esz * (p.transA ? m0 : m0 * p.K);
  q.B = static_cast<const char*>(p.B) + esz * (p.transB ? n0 * p.K : n0);
  q.ct = false;
  run_block(s, q, T, nn, 0, mm, 0, nn);
  for (int64_t i = 0; i < mm; ++i)
    for (int64_t j = 0; j < nn; ++j) C[(m0 + i) * rs + (n0 + j) * cs] = f32_to_bf16(T[i * nn + j]);
}

}  // namespace

void gemm(const GemmArgs& args) {
  MATHRL_CHECK(args.batch >= 1, "gemm: batch must be >= 1");
  MATHRL_CHECK(args.M >= 0 && args.N >= 0 && args.K >= 0, "gemm: negative dimension");
  MATHRL_CHECK(args.dtA == args.dtB, "gemm: A and B must have the same dtype");
  MATHRL_CHECK(args.dtA == DType::F32 || args.dtA == DType::BF16, "gemm: A/B must be f32 or bf16");
  MATHRL_CHECK(args.dtC == DType::F32 || args.dtC == DType::BF16, "gemm: C must be f32 or bf16");
  if (args.M == 0 || args.N == 0) return;
  MATHRL_CHECK(args.C != nullptr, "gemm: null C");
  MATHRL_CHECK(args.K == 0 || (args.A != nullptr && args.B != nullptr), "gemm: null A or B");

  const Isa& s = isa();
  const bool bf16_in = args.dtA == DType::BF16;
  const bool bf16_out = args.dtC == DType::BF16;
  const int64_t esz_in = bf16_in ? 2 : 4, esz_out = bf16_out ? 2 : 4;
  const int64_t ldc = args.N;
  // Run C^T = op(B)^T op(A)^T instead when it fills the micro-tiles clearly better.
  const bool ct = tile_efficiency(s, args.N, args.M) > 1.15 * tile_efficiency(s, args.M, args.N);

  auto problem = [&](int64_t b) {
    Problem p;
    p.A = static_cast<const char*>(args.A) + esz_in * args.strideA * b;
    p.B = static_cast<const char*>(args.B) + esz_in * args.strideB * b;
    p.bf16_in = bf16_in;
    p.transA = args.transA;
    p.transB = args.transB;
    p.M = args.M;
    p.N = args.N;
    p.K = args.K;
    p.alpha = args.alpha;
    p.beta = args.beta;
    p.ct = false;
    return ct ? transposed(p) : p;
  };
  auto cptr = [&](int64_t b) { return static_cast<char*>(args.C) + esz_out * args.strideC * b; };
  // Kernel-space sizes.
  const int64_t M = ct ? args.N : args.M, N = ct ? args.M : args.N, K = args.K;

  const double flops = 2.0 * double(M) * double(N) * double(std::max<int64_t>(K, 1));
  const int threads = num_threads();
  if (threads <= 1 || flops * double(args.batch) < 4e6) {
    for (int64_t b = 0; b < args.batch; ++b)
      run_slab(s, problem(b), cptr(b), ldc, bf16_out, 0, M, 0, N);
    return;
  }
  // Many (or evenly divisible) batches: one whole matrix per task. Only when C matrices do not
  // alias (strideC != 0); otherwise batches must run in order.
  if (args.strideC != 0 && args.batch >= threads &&
      (args.batch % threads == 0 || args.batch >= 4 * threads || flops < 4e6)) {
    parallel_for(args.batch, [&](int64_t b0, int64_t b1, int) {
      for (int64_t b = b0; b < b1; ++b) run_slab(s, problem(b), cptr(b), ldc, bf16_out, 0, M, 0, N);
    });
    return;
  }
  // Otherwise split each matrix into slabs of whole micro-tiles along its larger dimension;
  // threads take slabs from a shared counter, so a thread that gets less CPU does less work.
  // Slabs are kept wide enough that the redundant packing of the other operand stays cheap.
  const bool split_n = N >= M;
  const int64_t unit = split_n ? s.NR : s.MR;
  const int64_t extent = split_n ? N : M, other = split_n ? M : N;
  const int64_t units = (extent + unit - 1) / unit;
  const double unit_flops = 2.0 * double(unit) * double(other) * double(std::max<int64_t>(K, 1));
#ifndef MATHRL_SLABS_PER_THREAD
#define MATHRL_SLABS_PER_THREAD 2
#endif
  int64_t slab_units = std::max<int64_t>((split_n ? 256 : 192) / unit, int64_t(1 + 2e6 / unit_flops));
  slab_units = std::max(slab_units, units / (MATHRL_SLABS_PER_THREAD * threads));
  slab_units = std::min(slab_units, std::max<int64_t>(1, units / threads));
  const int64_t slabs = (units + slab_units - 1) / slab_units;
  const int64_t workers = std::min<int64_t>(threads, slabs);
  for (int64_t b = 0; b < args.batch; ++b) {
    const Problem p = problem(b);
    void* C = cptr(b);
    std::atomic<int64_t> next{0};
    parallel_for(workers, [&](int64_t, int64_t, int) {
      for (int64_t i; (i = next.fetch_add(1)) < slabs;) {
        const int64_t lo = i * slab_units * unit, hi = std::min(extent, (i + 1) * slab_units * unit);
        if (split_n)
          run_slab(s, p, C, ldc, bf16_out, 0, M, lo, hi);
        else
          run_slab(s, p, C, ldc, bf16_out, lo, hi, 0, N);
      }
    });
  }
}

}  // namespace cpu
}  // namespace mathrl
