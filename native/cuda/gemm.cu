// Batched GEMM for the CUDA backend: C = alpha * op(A) @ op(B) + beta * C (see GemmArgs).
//
// Two kernels:
//  * BF16 inputs: tensor cores via mma.sync.m16n8k16 (bf16 x bf16 -> f32), operands staged
//    global -> shared with 16-byte cp.async in a 4-stage ring, shared -> registers with ldmatrix
//    (.trans where the operand is stored MN-contiguous). Block tile 128x128x32 (8 warps, 64x32
//    per warp) for large problems, 64x64x32 (4 warps, 32x32 per warp) when the large tile would
//    not fill the GPU. All four transpose layouts are specialised at compile time. When a
//    contiguous extent is not a multiple of 8 elements or a base pointer / batch stride is not
//    16-byte aligned, the same kernel is instantiated with element-wise bounds-checked loads.
//  * F32 inputs: SIMT kernel, 64x64x16 block tile, 4x4 outputs per thread, double-buffered
//    shared memory, f32 FMA (no TF32).
//
// The per-thread index math and the block algorithm are written once, as templates over a
// "primitives" policy (barrier, cp.async, ldmatrix, mma). The device policy issues the real PTX;
// defining MATHRL_GEMM_HOST_SIM compiles only the portable part, so a host program can run the
// very same block algorithm against an emulation of the PTX semantics.
#include <cmath>
#include <cstdint>
#include <cstring>

#ifndef MATHRL_GEMM_HOST_SIM
#include <atomic>
#include <climits>

#include "cuda_common.cuh"
#include "ops.h"
#define MRL_HD __host__ __device__ __forceinline__
#define MRL_DEV __device__ __forceinline__
#else
#include "../common.h"
#define MRL_HD inline
#define MRL_DEV inline
#endif

namespace mathrl {
namespace cuda {
namespace gemm_detail {

// ------------------------------------------------------------------------------------------
// Parameters shared by all kernels. Matrices are contiguous per batch, so the leading dimension
// of each operand equals its contiguous extent: A: K (!transA) or M (transA); B: N (!transB)
// or K (transB); C: N.
struct KParams {
  const void* A;
  const void* B;
  void* C;
  int M, N, K;
  int64_t lda, ldb;
  int64_t sA, sB, sC;  // batch strides in elements (0 = broadcast)
  int64_t batch;
  float alpha, beta;
};

MRL_HD float bf16_bits_to_f32(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
#else
  return ::mathrl::bf16_to_f32(h);
#endif
}
MRL_HD uint16_t f32_to_bf16_bits(float f) {
#ifdef __CUDA_ARCH__
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
#else
  return ::mathrl::f32_to_bf16(f);
#endif
}

// ------------------------------------------------------------------------------------------
// Tensor-core tile configuration.
constexpr int TC_BK = 32;  // k extent of a stage; 64 bytes of bf16 per smem row in K-contig tiles

template <int BM_, int BN_, int WM_, int WN_, int STAGES_, int MINB_>
struct TcCfg {
  static constexpr int BM = BM_, BN = BN_;      // block tile
  static constexpr int WM = WM_, WN = WN_;      // warps along M and N
  static constexpr int STAGES = STAGES_;
  static constexpr int MIN_BLOCKS = MINB_;      // __launch_bounds__ min blocks per SM
  static constexpr int BK = TC_BK;
  static constexpr int THREADS = WM * WN * 32;
  static constexpr int WTM = BM / WM, WTN = BN / WN;  // warp tile
  static constexpr int MT = WTM / 16, NT = WTN / 8;   // mma tiles per warp
  static constexpr int A_ELEMS = BM * BK, B_ELEMS = BN * BK;
  static constexpr int STAGE_ELEMS = A_ELEMS + B_ELEMS;
  static constexpr int SMEM_BYTES = STAGES * STAGE_ELEMS * 2;
  static_assert(WTM % 16 == 0 && WTN % 16 == 0, "warp tile must be a multiple of 16x16");
  static_assert((A_ELEMS / 8) % THREADS == 0 && (B_ELEMS / 8) % THREADS == 0,
                "16-byte chunks must divide evenly among threads");
  static_assert(BM >= 64 && BN >= 64 && BM % 64 == 0 && BN % 64 == 0,
                "MN-contiguous tiles need rows of >= 8 chunks for the XOR swizzle");
  static_assert(STAGES >= 2, "need at least two stages");
};
using CfgLarge = TcCfg<128, 128, 2, 4, 4, 2>;  // 256 threads, 64 KiB smem
using CfgSmall = TcCfg<64, 64, 2, 2, 4, 4>;    // 128 threads, 32 KiB smem

// Shared-memory layouts of one operand tile (elements; all offsets are multiples of 8 = 16 B).
// An operand tile is (mn, k) with mn in [0, W) (W = BM for A, BN for B) and k in [0, 32).
//  * K-contiguous ("KC": A when !transA, B when transB): one smem row per mn holding 32 k
//    (4 chunks of 16 B). Physical chunk = c ^ ((r >> 1) & 3): the 8 rows an
//    ldmatrix phase reads (r..r+7, same c) land in 8 distinct 16-byte bank groups.
//  * MN-contiguous ("MC": A when transA, B when !transB): one smem row per k holding W mn
//    (W/8 chunks). Physical chunk = c ^ (k & 7).
MRL_HD int kc_off(int r, int c) { return r * TC_BK + ((c ^ ((r >> 1) & 3)) << 3); }
template <int W>
MRL_HD int mc_off(int k, int c) { return k * W + ((c ^ (k & 7)) << 3); }

// Chunk i (0 .. W*32/8-1) of an operand tile: its smem offset and the tile-relative (mn, k) of
// its first element. The chunk covers 8 consecutive k (KC) or 8 consecutive mn (MC).
template <bool KC, int W>
MRL_HD void chunk_coords(int i, int& s_off, int& dmn, int& dk) {
  if (KC) {
    const int r = i >> 2, c = i & 3;
    dmn = r;
    dk = c * 8;
    s_off = kc_off(r, c);
  } else {
    constexpr int CPR = W / 8;  // chunks per smem row
    const int r = i / CPR, c = i % CPR;
    dk = r;
    dmn = c * 8;
    s_off = mc_off<W>(r, c);
  }
}

// ldmatrix.x4 row address (smem element offset) supplied by `lane` for the A fragment of the
// 16x16 block (mn0.., k0..): matrices 0..3 = (mn+0,k+0), (mn+8,k+0), (mn+0,k+8), (mn+8,k+8),
// i.e. registers a0..a3 of mma.m16n8k16. KC tiles use plain ldmatrix, MC tiles .trans.
template <bool KC, int W>
MRL_HD int ldsm_a_off(int lane, int mn0, int k0) {
  if (KC) {
    const int r = mn0 + (lane & 7) + ((lane >> 3) & 1) * 8;
    const int c = (k0 >> 3) + (lane >> 4);
    return kc_off(r, c);
  } else {
    const int k = k0 + (lane & 7) + (lane >> 4) * 8;
    const int c = (mn0 >> 3) + ((lane >> 3) & 1);
    return mc_off<W>(k, c);
  }
}
// Same for B over 16 mn (two n8 tiles) x 16 k: matrices 0..3 = (n+0,k+0), (n+0,k+8),
// (n+8,k+0), (n+8,k+8) -> registers {b0,b1} of n-tile 0 and {b0,b1} of n-tile 1.
template <bool KC, int W>
MRL_HD int ldsm_b_off(int lane, int mn0, int k0) {
  if (KC) {
    const int r = mn0 + (lane & 7) + (lane >> 4) * 8;
    const int c = (k0 >> 3) + ((lane >> 3) & 1);
    return kc_off(r, c);
  } else {
    const int k = k0 + (lane & 7) + ((lane >> 3) & 1) * 8;
    const int c = (mn0 >> 3) + (lane >> 4);
    return mc_off<W>(k, c);
  }
}

// Accumulator element i (0..3) of an m16n8 tile held by `lane` (PTX ISA, mma.m16n8k16 C/D).
MRL_HD int c_frag_row(int lane, int i) { return (lane >> 2) + (i >> 1) * 8; }
MRL_HD int c_frag_col(int lane, int i) { return (lane & 3) * 2 + (i & 1); }

// ------------------------------------------------------------------------------------------
// Epilogue: store out[0] (and out[1] when two) = alpha * acc + beta * C at p (bounds already
// checked by the caller). Vector access when the pair is naturally aligned.
template <bool OUT_BF16>
MRL_HD void store_pair(void* Cv, int64_t idx, bool two, float v0, float v1, float alpha,
                       float beta) {
  v0 *= alpha;
  v1 *= alpha;
  if (OUT_BF16) {
    uint16_t* p = static_cast<uint16_t*>(Cv) + idx;
    if (two && (reinterpret_cast<uintptr_t>(p) & 3) == 0) {
      uint32_t* q = reinterpret_cast<uint32_t*>(p);
      if (beta != 0.f) {
        const uint32_t old = *q;
        v0 += beta * bf16_bits_to_f32(static_cast<uint16_t>(old & 0xffffu));
        v1 += beta * bf16_bits_to_f32(static_cast<uint16_t>(old >> 16));
      }
      *q = static_cast<uint32_t>(f32_to_bf16_bits(v0)) |
           (static_cast<uint32_t>(f32_to_bf16_bits(v1)) << 16);
    } else {
      if (beta != 0.f) v0 += beta * bf16_bits_to_f32(p[0]);
      p[0] = f32_to_bf16_bits(v0);
      if (two) {
        if (beta != 0.f) v1 += beta * bf16_bits_to_f32(p[1]);
        p[1] = f32_to_bf16_bits(v1);
      }
    }
  } else {
    float* p = static_cast<float*>(Cv) + idx;
    if (two && (reinterpret_cast<uintptr_t>(p) & 7) == 0) {
      struct alignas(8) F2 { float x, y; };
      F2* q = reinterpret_cast<F2*>(p);
      if (beta != 0.f) {
        const F2 old = *q;
        v0 += beta * old.x;
        v1 += beta * old.y;
      }
      F2 nv;
      nv.x = v0;
      nv.y = v1;
      *q = nv;
    } else {
      if (beta != 0.f) v0 += beta * p[0];
      p[0] = v0;
      if (two) {
        if (beta != 0.f) v1 += beta * p[1];
        p[1] = v1;
      }
    }
  }
}
template <bool OUT_BF16>
MRL_HD void store_one(void* Cv, int64_t idx, float v, float alpha, float beta) {
  v *= alpha;
  if (OUT_BF16) {
    uint16_t* p = static_cast<uint16_t*>(Cv) + idx;
    if (beta != 0.f) v += beta * bf16_bits_to_f32(*p);
    *p = f32_to_bf16_bits(v);
  } else {
    float* p = static_cast<float*>(Cv) + idx;
    if (beta != 0.f) v += beta * *p;
    *p = v;
  }
}

// ------------------------------------------------------------------------------------------
// Global -> shared copy of one operand tile (W mn x 32 k starting at (mn0, k0)).
//   KC: element (mn, k) at g[mn * ld + k];  MC: element (mn, k) at g[k * ld + mn].
// VEC: one 16-byte cp.async per chunk, zero-filled (src-size 0) when out of range. Requires
// ld % 8 == 0, MN % 8 == 0 (MC) / K % 8 == 0 (KC) and a 16-byte aligned g, so that a chunk is
// either wholly inside or wholly outside the matrix.
// !VEC: element-wise bounds-checked loads, one 16-byte shared store per chunk.
template <bool KC, int W, int THREADS, bool VEC, class P>
MRL_DEV void load_operand_tile(uint16_t* s_tile, const uint16_t* g, int64_t ld, int MN, int K,
                               int mn0, int k0, int tid, P& prim) {
  constexpr int CHUNKS = W * TC_BK / 8;
#pragma unroll
  for (int j = 0; j < CHUNKS / THREADS; ++j) {
    int s_off, dmn, dk;
    chunk_coords<KC, W>(tid + j * THREADS, s_off, dmn, dk);
    const int gmn = mn0 + dmn, gk = k0 + dk;
    if (VEC) {
      const bool ok = gmn < MN && gk < K;
      const uint16_t* src =
          ok ? g + (KC ? static_cast<int64_t>(gmn) * ld + gk : static_cast<int64_t>(gk) * ld + gmn)
             : g;
      prim.cp_async16(s_tile + s_off, src, ok ? 16 : 0);
    } else {
      // One row pointer and one element count per chunk (little state for the compiler to hoist).
      uint32_t w[4] = {0u, 0u, 0u, 0u};
      const bool row_ok = KC ? gmn < MN : gk < K;
      const int lim = KC ? K - gk : MN - gmn;  // valid elements in this chunk (may be <= 0)
      if (row_ok && lim > 0) {
        const uint16_t* src =
            prim.opaque(g) + (KC ? static_cast<int64_t>(gmn) * ld + gk : static_cast<int64_t>(gk) * ld + gmn);
#pragma unroll
        for (int e = 0; e < 8; ++e)
          if (e < lim) w[e >> 1] |= static_cast<uint32_t>(prim.ld_u16(src + e)) << ((e & 1) * 16);
      }
      prim.st_shared16(s_tile + s_off, w);
    }
  }
}

// The whole block algorithm of the tensor-core kernel. (bx, by, bz) / (gy, gz) are blockIdx and
// gridDim.{y,z}; M tiles and batches beyond the grid are covered by grid-stride loops.
template <class Cfg, bool TA, bool TB, bool VEC, bool OUT_BF16, class P>
MRL_DEV void tc_gemm_block(const KParams& p, uint16_t* smem, int tid, int bx, int by, int bz,
                           int gy, int gz, P& prim) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES;
  constexpr int MT = Cfg::MT, NT = Cfg::NT, THREADS = Cfg::THREADS;
  constexpr bool A_KC = !TA;  // A stored [M,K] -> k contiguous
  constexpr bool B_KC = TB;   // B stored [N,K] -> k contiguous
  const int lane = tid & 31, warp = tid >> 5;
  const int wm0 = (warp / Cfg::WN) * Cfg::WTM;  // warp tile origin inside the block tile
  const int wn0 = (warp % Cfg::WN) * Cfg::WTN;
  const int M = p.M, N = p.N, K = p.K;
  const int mtiles = (M + BM - 1) / BM;
  const int ktiles = (K + BK - 1) / BK;
  const int n0 = bx * BN;

  for (int64_t b = bz; b < p.batch; b += gz) {
    const uint16_t* Ab = static_cast<const uint16_t*>(p.A) + b * p.sA;
    const uint16_t* Bb = static_cast<const uint16_t*>(p.B) + b * p.sB;
    void* Cb = OUT_BF16 ? static_cast<void*>(static_cast<uint16_t*>(p.C) + b * p.sC)
                        : static_cast<void*>(static_cast<float*>(p.C) + b * p.sC);
    for (int tm = by; tm < mtiles; tm += gy) {
      const int m0 = tm * BM;
      float acc[MT][NT][4];
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

      auto load_stage = [&](int kt, int stage) {
        uint16_t* sA = smem + stage * Cfg::STAGE_ELEMS;
        uint16_t* sB = sA + Cfg::A_ELEMS;
        load_operand_tile<A_KC, BM, THREADS, VEC>(sA, Ab, p.lda, M, K, m0, kt * BK, tid, prim);
        load_operand_tile<B_KC, BN, THREADS, VEC>(sB, Bb, p.ldb, N, K, n0, kt * BK, tid, prim);
      };

      // Prologue: stages 0 .. STAGES-2 in flight (one commit group per stage, empty if past K).
#pragma unroll
      for (int s = 0; s < STAGES - 1; ++s) {
        if (s < ktiles) load_stage(s, s);
        prim.commit();
      }

      for (int kt = 0; kt < ktiles; ++kt) {
        // Groups committed so far: STAGES-1+kt; group kt holds tile kt. Leave STAGES-2 pending.
        prim.template wait<STAGES - 2>();
        // Tile kt is visible to all; every warp is done with tile kt-1, whose stage is refilled.
        prim.sync();
        {
          const int nk = kt + STAGES - 1;
          if (nk < ktiles) load_stage(nk, nk % STAGES);
          prim.commit();
        }
        const int stage = kt % STAGES;
        const uint16_t* sA = smem + stage * Cfg::STAGE_ELEMS;
        const uint16_t* sB = sA + Cfg::A_ELEMS;
#pragma unroll
        for (int kk = 0; kk < BK / 16; ++kk) {
          uint32_t af[MT][4];
          uint32_t bfr[NT][2];
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            const int off = ldsm_a_off<A_KC, BM>(lane, wm0 + mt * 16, kk * 16);
            if (A_KC)
              prim.ldsm_x4(af[mt], sA + off);
            else
              prim.ldsm_x4_trans(af[mt], sA + off);
          }
#pragma unroll
          for (int np = 0; np < NT / 2; ++np) {
            uint32_t r[4];
            const int off = ldsm_b_off<B_KC, BN>(lane, wn0 + np * 16, kk * 16);
            if (B_KC)
              prim.ldsm_x4(r, sB + off);
            else
              prim.ldsm_x4_trans(r, sB + off);
            bfr[2 * np][0] = r[0];
            bfr[2 * np][1] = r[1];
            bfr[2 * np + 1][0] = r[2];
            bfr[2 * np + 1][1] = r[3];
          }
#pragma unroll
          for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) prim.mma(acc[mt][nt], af[mt], bfr[nt][0], bfr[nt][1]);
        }
      }
      // Drain (only empty groups can remain) and make sure nobody still reads smem before the
      // next tile's prologue overwrites it.
      prim.template wait<0>();
      prim.sync();

      // Epilogue straight from the accumulator fragments.
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int row = m0 + wm0 + mt * 16 + c_frag_row(lane, 2 * h);
            const int col = n0 + wn0 + nt * 8 + c_frag_col(lane, 2 * h);
            if (row < M && col < N)
              store_pair<OUT_BF16>(Cb, static_cast<int64_t>(row) * N + col, col + 1 < N,
                                   acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1], p.alpha, p.beta);
          }
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------------
// F32 SIMT kernel: 64x64 block tile, k step 16, 256 threads, 4x4 outputs per thread.
constexpr int F_BM = 64, F_BN = 64, F_BK = 16, F_THREADS = 256, F_LDS = F_BM + 4;
constexpr int F_SMEM_FLOATS = 2 * 2 * F_BK * F_LDS;  // [buf][A/B][k][mn]

// Element e (0..3) of thread tid's share of an A tile (64 m x 16 k): coalesced along the stored
// contiguous dimension. Same function for B with (n, k) and "k contiguous" = transB.
template <bool KCONTIG>
MRL_HD void f32_elem(int tid, int e, int& mn, int& k) {
  const int idx = tid + e * F_THREADS;
  if (KCONTIG) {
    mn = idx / F_BK;
    k = idx % F_BK;
  } else {
    k = idx / F_BM;
    mn = idx % F_BM;
  }
}

template <bool TA, bool TB, bool OUT_BF16, class P>
MRL_DEV void f32_gemm_block(const KParams& p, float* smem, int tid, int bx, int by, int bz,
                            int gy, int gz, P& prim) {
  const int M = p.M, N = p.N, K = p.K;
  const int mtiles = (M + F_BM - 1) / F_BM;
  const int ktiles = (K + F_BK - 1) / F_BK;
  const int n0 = bx * F_BN;
  const int tx = tid & 15, ty = tid >> 4;

  for (int64_t b = bz; b < p.batch; b += gz) {
    const float* Ab = static_cast<const float*>(p.A) + b * p.sA;
    const float* Bb = static_cast<const float*>(p.B) + b * p.sB;
    void* Cb = OUT_BF16 ? static_cast<void*>(static_cast<uint16_t*>(p.C) + b * p.sC)
                        : static_cast<void*>(static_cast<float*>(p.C) + b * p.sC);
    for (int tm = by; tm < mtiles; tm += gy) {
      const int m0 = tm * F_BM;
      float acc[4][4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
      float ra[4], rb[4];
      auto fetch = [&](int kt) {
        const int k0 = kt * F_BK;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int m, k;
          f32_elem<!TA>(tid, e, m, k);
          const int gm = m0 + m, gk = k0 + k;
          ra[e] = (gm < M && gk < K) ? prim.ld_f32(Ab + (TA ? static_cast<int64_t>(gk) * p.lda + gm
                                                            : static_cast<int64_t>(gm) * p.lda + gk))
                                     : 0.f;
          int n;
          f32_elem<TB>(tid, e, n, k);
          const int gn = n0 + n;
          const int gk2 = k0 + k;
          rb[e] = (gn < N && gk2 < K) ? prim.ld_f32(Bb + (TB ? static_cast<int64_t>(gn) * p.ldb + gk2
                                                              : static_cast<int64_t>(gk2) * p.ldb + gn))
                                      : 0.f;
        }
      };
      auto stash = [&](int buf) {
        float* sA = smem + buf * (2 * F_BK * F_LDS);
        float* sB = sA + F_BK * F_LDS;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int m, k;
          f32_elem<!TA>(tid, e, m, k);
          sA[k * F_LDS + m] = ra[e];
          int n;
          f32_elem<TB>(tid, e, n, k);
          sB[k * F_LDS + n] = rb[e];
        }
      };
      if (ktiles > 0) {
        fetch(0);
        stash(0);
      }
      prim.sync();
      for (int kt = 0; kt < ktiles; ++kt) {
        const int buf = kt & 1;
        if (kt + 1 < ktiles) fetch(kt + 1);
        const float* sA = smem + buf * (2 * F_BK * F_LDS);
        const float* sB = sA + F_BK * F_LDS;
#pragma unroll
        for (int k = 0; k < F_BK; ++k) {
          float a[4], bv[4];
          prim.ld_shared_f32x4(a, sA + k * F_LDS + ty * 4);
          prim.ld_shared_f32x4(bv, sB + k * F_LDS + tx * 4);
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], bv[j], acc[i][j]);
        }
        // Safe: every thread finished reading buf^1 (tile kt-1) before the previous barrier.
        if (kt + 1 < ktiles) stash(buf ^ 1);
        prim.sync();
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = m0 + ty * 4 + i;
        if (row >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j += 2) {
          const int col = n0 + tx * 4 + j;
          if (col < N)
            store_pair<OUT_BF16>(Cb, static_cast<int64_t>(row) * N + col, col + 1 < N, acc[i][j],
                                 acc[i][j + 1], p.alpha, p.beta);
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------------
// Host-side planning (which kernel, vector loads or not, grid), shared with the simulation.
enum class Kind : int { F32 = 0, TcLarge = 1, TcSmall = 2 };
struct Plan {
  Kind kind;
  bool vec;
  int64_t gx, gy, gz;
};
constexpr int64_t kMaxGridYZ = 65535;

inline bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

inline Plan plan_gemm(const GemmArgs& a, int sm_count) {
  Plan pl{};
  int64_t bm, bn;
  if (a.dtA == DType::F32) {
    pl.kind = Kind::F32;
    pl.vec = false;
    bm = F_BM;
    bn = F_BN;
  } else {
    const int64_t lda = a.transA ? a.M : a.K;  // contiguous extents
    const int64_t ldb = a.transB ? a.K : a.N;
    const bool multi = a.batch > 1;
    pl.vec = aligned16(a.A) && aligned16(a.B) && lda % 8 == 0 && ldb % 8 == 0 &&
             (!multi || (a.strideA % 8 == 0 && a.strideB % 8 == 0));
    const int64_t blocks_large =
        ((a.M + CfgLarge::BM - 1) / CfgLarge::BM) * ((a.N + CfgLarge::BN - 1) / CfgLarge::BN) * a.batch;
    pl.kind = blocks_large >= sm_count ? Kind::TcLarge : Kind::TcSmall;
    bm = pl.kind == Kind::TcLarge ? CfgLarge::BM : CfgSmall::BM;
    bn = pl.kind == Kind::TcLarge ? CfgLarge::BN : CfgSmall::BN;
  }
  pl.gx = (a.N + bn - 1) / bn;
  const int64_t mt = (a.M + bm - 1) / bm;
  pl.gy = mt < kMaxGridYZ ? mt : kMaxGridYZ;
  pl.gz = a.batch < kMaxGridYZ ? a.batch : kMaxGridYZ;
  return pl;
}

inline KParams make_params(const GemmArgs& a) {
  KParams kp;
  kp.A = a.A;
  kp.B = a.B;
  kp.C = a.C;
  kp.M = static_cast<int>(a.M);
  kp.N = static_cast<int>(a.N);
  kp.K = static_cast<int>(a.K);
  kp.lda = a.transA ? a.M : a.K;
  kp.ldb = a.transB ? a.K : a.N;
  kp.sA = a.strideA;
  kp.sB = a.strideB;
  kp.sC = a.strideC;
  kp.batch = a.batch;
  // K == 0: C = beta * C (zeros when beta == 0); alpha must not turn 0 into NaN.
  kp.alpha = a.K == 0 ? 0.f : a.alpha;
  kp.beta = a.beta;
  return kp;
}

}  // namespace gemm_detail

// ==========================================================================================
// Device side: PTX primitives, kernels, launch.
#ifndef MATHRL_GEMM_HOST_SIM
namespace gemm_detail {

struct DevPrims {
  MRL_DEV void sync() { __syncthreads(); }
  MRL_DEV void cp_async16(void* sdst, const void* gsrc, int src_bytes) {
    const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(sdst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gsrc),
                 "r"(src_bytes)
                 : "memory");
  }
  MRL_DEV void commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
  template <int N>
  MRL_DEV void wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
  }
  MRL_DEV void ldsm_x4(uint32_t (&r)[4], const uint16_t* sptr) {
    const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(sptr));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
  }
  MRL_DEV void ldsm_x4_trans(uint32_t (&r)[4], const uint16_t* sptr) {
    const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(sptr));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
  }
  MRL_DEV void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  // volatile: keeps the fallback's predicated element loads in program order instead of letting
  // the compiler hoist them into the mma loop (which blew up register use and spilled).
  MRL_DEV uint16_t ld_u16(const uint16_t* g) {
    unsigned short v;
    asm volatile("ld.global.nc.u16 %0, [%1];\n" : "=h"(v) : "l"(g));
    return v;
  }
  // Returns p unchanged, but the compiler cannot see that: stops it from hoisting per-element
  // address math of the fallback loads out of the k loop (which cost > 100 registers).
  MRL_DEV const uint16_t* opaque(const uint16_t* p) {
    asm volatile("" : "+l"(p));
    return p;
  }
  MRL_DEV void st_shared16(uint16_t* sptr, const uint32_t (&w)[4]) {
    *reinterpret_cast<uint4*>(sptr) = make_uint4(w[0], w[1], w[2], w[3]);
  }
  MRL_DEV float ld_f32(const float* g) { return __ldg(g); }
  MRL_DEV void ld_shared_f32x4(float (&v)[4], const float* sptr) {
    const float4 t = *reinterpret_cast<const float4*>(sptr);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  }
};

extern __shared__ uint4 gemm_dyn_smem[];

// The element-wise (!VEC) fallback needs more registers for its predicated loads; it gets the
// full register file instead of spilling.
template <class Cfg, bool TA, bool TB, bool VEC, bool OUT_BF16>
__global__ void __launch_bounds__(Cfg::THREADS, VEC ? Cfg::MIN_BLOCKS : 1)
    tc_gemm_kernel(KParams p) {
  DevPrims prim;
  tc_gemm_block<Cfg, TA, TB, VEC, OUT_BF16>(p, reinterpret_cast<uint16_t*>(gemm_dyn_smem),
                                            static_cast<int>(threadIdx.x),
                                            static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y),
                                            static_cast<int>(blockIdx.z), static_cast<int>(gridDim.y),
                                            static_cast<int>(gridDim.z), prim);
}

template <bool TA, bool TB, bool OUT_BF16>
__global__ void __launch_bounds__(F_THREADS) f32_gemm_kernel(KParams p) {
  __shared__ __align__(16) float smem[F_SMEM_FLOATS];
  DevPrims prim;
  f32_gemm_block<TA, TB, OUT_BF16>(p, smem, static_cast<int>(threadIdx.x),
                                   static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y),
                                   static_cast<int>(blockIdx.z), static_cast<int>(gridDim.y),
                                   static_cast<int>(gridDim.z), prim);
}

inline int current_device() {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

inline int sm_count(int dev) {
  static std::atomic<int> cache[64];
  if (dev >= 0 && dev < 64) {
    const int c = cache[dev].load(std::memory_order_relaxed);
    if (c > 0) return c;
  }
  int n = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  if (n <= 0) n = 1;
  if (dev >= 0 && dev < 64) cache[dev].store(n, std::memory_order_relaxed);
  return n;
}

template <class Cfg, bool TA, bool TB, bool VEC, bool OUT_BF16>
void launch_tc_one(const KParams& kp, const Plan& pl, int dev) {
  auto kern = tc_gemm_kernel<Cfg, TA, TB, VEC, OUT_BF16>;
  // Opt in to > 48 KiB of dynamic shared memory, once per device.
  static std::atomic<uint64_t> configured{0};
  const uint64_t bit = (dev >= 0 && dev < 64) ? (uint64_t{1} << dev) : 0;
  if (bit == 0 || !(configured.load(std::memory_order_acquire) & bit)) {
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    Cfg::SMEM_BYTES));
    configured.fetch_or(bit, std::memory_order_acq_rel);
  }
  const dim3 grid(static_cast<unsigned>(pl.gx), static_cast<unsigned>(pl.gy),
                  static_cast<unsigned>(pl.gz));
  kern<<<grid, Cfg::THREADS, Cfg::SMEM_BYTES, stream()>>>(kp);
  CUDA_CHECK_LAUNCH("gemm (bf16 tensor-core kernel)");
}

template <class Cfg, bool VEC>
void launch_tc(const KParams& kp, const Plan& pl, bool ta, bool tb, bool out_bf16, int dev) {
  const int sel = (ta ? 4 : 0) | (tb ? 2 : 0) | (out_bf16 ? 1 : 0);
  switch (sel) {
    case 0: launch_tc_one<Cfg, false, false, VEC, false>(kp, pl, dev); break;
    case 1: launch_tc_one<Cfg, false, false, VEC, true>(kp, pl, dev); break;
    case 2: launch_tc_one<Cfg, false, true, VEC, false>(kp, pl, dev); break;
    case 3: launch_tc_one<Cfg, false, true, VEC, true>(kp, pl, dev); break;
    case 4: launch_tc_one<Cfg, true, false, VEC, false>(kp, pl, dev); break;
    case 5: launch_tc_one<Cfg, true, false, VEC, true>(kp, pl, dev); break;
    case 6: launch_tc_one<Cfg, true, true, VEC, false>(kp, pl, dev); break;
    default: launch_tc_one<Cfg, true, true, VEC, true>(kp, pl, dev); break;
  }
}

template <bool TA, bool TB, bool OUT_BF16>
void launch_f32_one(const KParams& kp, const Plan& pl) {
  const dim3 grid(static_cast<unsigned>(pl.gx), static_cast<unsigned>(pl.gy),
                  static_cast<unsigned>(pl.gz));
  f32_gemm_kernel<TA, TB, OUT_BF16><<<grid, F_THREADS, 0, stream()>>>(kp);
  CUDA_CHECK_LAUNCH("gemm (f32 kernel)");
}

inline void launch_f32(const KParams& kp, const Plan& pl, bool ta, bool tb, bool out_bf16) {
  const int sel = (ta ? 4 : 0) | (tb ? 2 : 0) | (out_bf16 ? 1 : 0);
  switch (sel) {
    case 0: launch_f32_one<false, false, false>(kp, pl); break;
    case 1: launch_f32_one<false, false, true>(kp, pl); break;
    case 2: launch_f32_one<false, true, false>(kp, pl); break;
    case 3: launch_f32_one<false, true, true>(kp, pl); break;
    case 4: launch_f32_one<true, false, false>(kp, pl); break;
    case 5: launch_f32_one<true, false, true>(kp, pl); break;
    case 6: launch_f32_one<true, true, false>(kp, pl); break;
    default: launch_f32_one<true, true, true>(kp, pl); break;
  }
}

}  // namespace gemm_detail

void gemm(const GemmArgs& args) {
  using namespace gemm_detail;
  const GemmArgs& a = args;
  MATHRL_CHECK(a.dtA == a.dtB, "gemm: A and B must have the same dtype");
  MATHRL_CHECK(a.dtA == DType::F32 || a.dtA == DType::BF16, "gemm: A/B dtype must be f32 or bf16");
  MATHRL_CHECK(a.dtC == DType::F32 || a.dtC == DType::BF16, "gemm: C dtype must be f32 or bf16");
  MATHRL_CHECK(a.M >= 0 && a.N >= 0 && a.K >= 0 && a.batch >= 0,
               "gemm: dimensions must be non-negative");
  constexpr int64_t kMaxDim = INT_MAX - 256;  // the kernels index with int plus a tile of slack
  MATHRL_CHECK(a.M <= kMaxDim && a.N <= kMaxDim && a.K <= kMaxDim, "gemm: dimension too large");
  MATHRL_CHECK(a.strideA >= 0 && a.strideB >= 0 && a.strideC >= 0,
               "gemm: batch strides must be non-negative");
  if (a.M == 0 || a.N == 0 || a.batch == 0) return;
  MATHRL_CHECK(a.C != nullptr, "gemm: C is null");
  MATHRL_CHECK(a.K == 0 || (a.A != nullptr && a.B != nullptr), "gemm: A or B is null");

  const KParams kp = make_params(a);
  const int dev = current_device();
  const Plan pl = plan_gemm(a, a.dtA == DType::BF16 ? sm_count(dev) : 1);
  const bool out_bf16 = a.dtC == DType::BF16;
  switch (pl.kind) {
    case Kind::F32: launch_f32(kp, pl, a.transA, a.transB, out_bf16); break;
    case Kind::TcLarge:
      if (pl.vec)
        launch_tc<CfgLarge, true>(kp, pl, a.transA, a.transB, out_bf16, dev);
      else
        launch_tc<CfgLarge, false>(kp, pl, a.transA, a.transB, out_bf16, dev);
      break;
    case Kind::TcSmall:
      if (pl.vec)
        launch_tc<CfgSmall, true>(kp, pl, a.transA, a.transB, out_bf16, dev);
      else
        launch_tc<CfgSmall, false>(kp, pl, a.transA, a.transB, out_bf16, dev);
      break;
  }
}

#endif  // MATHRL_GEMM_HOST_SIM

}  // namespace cuda
}  // namespace mathrl
