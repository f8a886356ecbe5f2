// Row-wise argmax with the log-probability of the winner (twin: native/cuda/argmax.cu), for greedy
// decoding: per row, one pass finds the winner, a second sums exp(x - max) (in double).
// Ties go to the lowest index; a NaN wins over every number (the first NaN), as torch.argmax does.
#include <algorithm>
#include <cmath>
#include <limits>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
template <typename IO>
void rows_argmax(int64_t R, int64_t V, const void* xv, int32_t* index, float* logprob) {
  using T = typename IO::T;
  const T* x = static_cast<const T*>(xv);
  const float ninf = -std::numeric_limits<float>::infinity();
  parallel_for(R, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = x + r * V;
      // Pass 1: the winner (ties: lowest index; the first NaN beats every number).
      float best = ninf;
      int64_t bi = 0;
      bool nan = false;
      for (int64_t j = 0; j < V; ++j) {
        const float val = IO::load(row, j);
        if (val != val) {
          nan = true;
          bi = j;
          break;
        }
        if (val > best) {
          best = val;
          bi = j;
        }
      }
      index[r] = static_cast<int32_t>(bi);
      if (nan || best == ninf) {
        logprob[r] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      // Pass 2: log-sum-exp relative to the winner (double accumulator: rows of 150k entries).
      double sum = 1.0;  // the winner itself
      for (int64_t j = 0; j < V; ++j) {
        const float val = IO::load(row, j);
        if (j != bi && val != ninf) sum += static_cast<double>(std::exp(val - best));
      }
      logprob[r] = 0.f - static_cast<float>(std::log(sum));
    }
  }, std::max<int64_t>(1, 65536 / std::max<int64_t>(V, 1)));
}
}  // namespace

void argmax(DType dt, int64_t R, int64_t V, const void* x, int32_t* index, float* logprob) {
  if (R == 0) return;
  if (V < 1) throw Error("argmax: the last dimension is empty");
  with_float_dtype(dt, "argmax", [&](auto io) { rows_argmax<decltype(io)>(R, V, x, index, logprob); });
}

}  // namespace cpu
}  // namespace mathrl
