// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the counter-based
// RNG of the sampling op. One definition, compiled both for the host (native/cpu/sample.cpp) and the
// device (native/cuda/sample.cu), so the CPU and CUDA twins draw bit-identical uniforms for the same
// (seed, stream, offset). Checked against Random123's known-answer vectors in test/sample.test.ts.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define MATHRL_HD __host__ __device__ __forceinline__
#else
#define MATHRL_HD inline
#endif

namespace mathrl {

struct Philox4 {
  uint32_t v[4];
};

MATHRL_HD uint32_t philox_mulhi(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}

// Philox4x32 with 10 rounds: counter (c0..c3), key (k0, k1) -> 4 random 32-bit words.
MATHRL_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += W0;
      k1 += W1;
    }
    uint32_t hi0 = philox_mulhi(M0, c0), lo0 = M0 * c0;
    uint32_t hi1 = philox_mulhi(M1, c2), lo1 = M1 * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  Philox4 r;
  r.v[0] = c0;
  r.v[1] = c1;
  r.v[2] = c2;
  r.v[3] = c3;
  return r;
}

// The one uniform the sampling op draws for a row: key (seed, stream), counter (offset low word,
// offset high word, 0, 0); the top 24 bits of the first output word scaled to [0, 1) -- exactly
// representable as a float, so host and device get the same value.
MATHRL_HD float sample_uniform(uint32_t seed, uint32_t stream, uint64_t offset) {
  Philox4 r = philox4x32_10(static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32), 0u, 0u, seed, stream);
  return static_cast<float>(r.v[0] >> 8) * (1.0f / 16777216.0f);
}

}  // namespace mathrl
