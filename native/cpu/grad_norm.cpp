// Squared L2 norm of gradients, accumulated into one f32 scalar, and the clipping scale: CPU reference.
// Blocks of kBlock elements are summed in double (in parallel), then the block sums in order, so the
// result does not depend on the thread count.
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
}

void grad_norm_sq(DType dt, int64_t n, const void* g, float* out) {
  if (n <= 0) return;
  int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  with_float_dtype(dt, "grad_norm", [&](auto io) {
    using IO = decltype(io);
    const auto* x = static_cast<const typename IO::T*>(g);
    parallel_for(blocks, [&](int64_t s, int64_t e, int) {
      for (int64_t b = s; b < e; ++b) {
        int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
        double acc = 0;
        for (int64_t i = lo; i < hi; ++i) {
          double v = IO::load(x, i);
          acc += v * v;
        }
        partial[static_cast<size_t>(b)] = acc;
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
