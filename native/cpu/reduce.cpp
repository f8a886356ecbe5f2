// Row reductions along the last dimension: sum (8 interleaved f32 partial sums) and max.
#include <cmath>
#include <limits>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
// Rows per task chosen so each task touches at least ~32k elements.
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(cols, 1)); }

// Sums x[0..n) in blocks of 8 partial accumulators (less rounding error than a running sum).
template <typename IO>
float row_sum(const typename IO::T* x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += IO::load(x, i + k);
  float tail = 0;
  for (; i < n; ++i) tail += IO::load(x, i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}
}  // namespace

void sum_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  with_float_dtype(dt, "sum", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* x = static_cast<const T*>(a);
    T* o = static_cast<T*>(out);
    parallel_for(rows, [&](int64_t s, int64_t e, int) {
      for (int64_t r = s; r < e; ++r) IO::store(o, r, row_sum<IO>(x + r * cols, cols));
    }, row_grain(cols));
  });
}

void max_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  with_float_dtype(dt, "max", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* x = static_cast<const T*>(a);
    T* o = static_cast<T*>(out);
    parallel_for(rows, [&](int64_t s, int64_t e, int) {
      for (int64_t r = s; r < e; ++r) {
        const T* row = x + r * cols;
        float m = -std::numeric_limits<float>::infinity();
        bool nan = false;
        for (int64_t c = 0; c < cols; ++c) {
          float v = IO::load(row, c);
          nan |= std::isnan(v);
          m = v > m ? v : m;
        }
        IO::store(o, r, nan ? std::numeric_limits<float>::quiet_NaN() : m);  // NaN propagates
      }
    }, row_grain(cols));
  });
}

}  // namespace cpu
}  // namespace mathrl
