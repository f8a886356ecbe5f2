// Squared L2 norm of gradients, accumulated into one f32 scalar, and the clipping scale: CPU reference.
// Blocks of kBlock elements are summed in double (in parallel; 8 lanes per block, vectorised per ISA),
// then the block sums in order, so the result does not depend on the thread count.
#include "vec.h"  // first: see its note on GCC 12 warnings

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mathrl {
namespace cpu {

namespace {
constexpr int64_t kBlock = 4096;

// Sum of squares of x[0, n) in double, in 8 interleaved lanes (element i goes to lane i % 8) added
// in a fixed order: the lane loop vectorises without reassociating, whatever the ISA.
template <class IO>
inline double block_sumsq(const typename IO::T* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const double v = IO::load(x, i + j);
      acc[j] += v * v;
    }
  for (int j = 0; i + j < n; ++j) {
    const double v = IO::load(x, i + j);
    acc[j] += v * v;
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}
template <class IO>
MATHRL_VEC_AVX512 double sumsq512(const typename IO::T* x, int64_t n) { return block_sumsq<IO>(x, n); }
template <class IO>
MATHRL_VEC_AVX2 double sumsq256(const typename IO::T* x, int64_t n) { return block_sumsq<IO>(x, n); }
template <class IO>
double sumsq1(const typename IO::T* x, int64_t n) { return block_sumsq<IO>(x, n); }
}  // namespace

void grad_norm_sq(DType dt, int64_t n, const void* g, float* out) {
  if (n <= 0) return;
  int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  with_float_dtype(dt, "grad_norm", [&](auto io) {
    using IO = decltype(io);
    const auto* x = static_cast<const typename IO::T*>(g);
    const vec::Isa isa = vec::pick_isa();
    auto fn = isa == vec::Isa::Avx512 ? &sumsq512<IO> : isa == vec::Isa::Avx2 ? &sumsq256<IO> : &sumsq1<IO>;
    parallel_for(blocks, [&](int64_t s, int64_t e, int) {
      for (int64_t b = s; b < e; ++b) {
        int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
        partial[static_cast<size_t>(b)] = fn(x + lo, hi - lo);
      }
    }, 8);
  });
  double total = 0;
  for (double p : partial) total += p;
  out[0] = static_cast<float>(static_cast<double>(out[0]) + total);
}

void clip_scale(const float* sumsq, float max_norm, float* norm, float* scale) {
  float nrm = std::sqrt(sumsq[0]);
  float c = max_norm / (nrm + 1e-6f);
  norm[0] = nrm;
  scale[0] = std::isnan(c) ? c : std::min(c, 1.f);  // NaN propagates, as torch.clamp(max=1)
}

}  // namespace cpu
}  // namespace mathrl
