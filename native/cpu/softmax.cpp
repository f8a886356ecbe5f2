// Row-wise softmax and log-softmax along the last dimension (max-subtracted, f32 math).
#include <cmath>
#include <limits>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
template <bool kLog>
void softmax_impl(DType dt, int64_t rows, int64_t cols, const void* a, void* out, const char* name) {
  with_float_dtype(dt, name, [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* x = static_cast<const T*>(a);
    T* o = static_cast<T*>(out);
    int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(cols, 1));
    parallel_for(rows, [&](int64_t s, int64_t e, int) {
      for (int64_t r = s; r < e; ++r) {
        const T* in = x + r * cols;
        T* dst = o + r * cols;
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < cols; ++c) m = std::fmax(m, IO::load(in, c));
        // A row of all -inf has no defined softmax; -inf - (-inf) = NaN makes that visible.
        double z = 0;
        for (int64_t c = 0; c < cols; ++c) z += std::exp(IO::load(in, c) - m);
        if (kLog) {
          float lz = m + static_cast<float>(std::log(z));
          for (int64_t c = 0; c < cols; ++c) IO::store(dst, c, IO::load(in, c) - lz);
        } else {
          float inv = static_cast<float>(1.0 / z);
          for (int64_t c = 0; c < cols; ++c) IO::store(dst, c, std::exp(IO::load(in, c) - m) * inv);
        }
      }
    }, grain);
  });
}
}  // namespace

void softmax_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  softmax_impl<false>(dt, rows, cols, a, out, "softmax");
}
void log_softmax_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  softmax_impl<true>(dt, rows, cols, a, out, "logSoftmax");
}

}  // namespace cpu
}  // namespace mathrl
