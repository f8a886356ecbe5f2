// Fused softmax cross-entropy: one online max/sum pass per row (no softmax buffer), then the gradient
// written straight into dlogits (which may be the logits buffer itself).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

void cross_entropy(DType dt, int64_t N, int64_t V, const void* logits, const int32_t* targets, int32_t ignore_index,
                   bool has_scale, float grad_scale, float* losses, float* loss, float* count, void* dlogits) {
  int64_t cnt = 0;
  for (int64_t r = 0; r < N; ++r) {
    int32_t t = targets[r];
    if (t == ignore_index) continue;
    if (t < 0 || t >= V)
      throw Error("crossEntropy: target " + std::to_string(t) + " at row " + std::to_string(r) +
                  " is out of range [0, " + std::to_string(V) + ") and is not ignoreIndex (" +
                  std::to_string(ignore_index) + ")");
    ++cnt;
  }
  float scale = has_scale ? grad_scale : (cnt > 0 ? static_cast<float>(1.0 / static_cast<double>(cnt)) : 0.f);
  with_float_dtype(dt, "crossEntropy", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* x = static_cast<const T*>(logits);
    T* dl = static_cast<T*>(dlogits);
    int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(V, 1));
    parallel_for(N, [&](int64_t s, int64_t e, int) {
      for (int64_t r = s; r < e; ++r) {
        const T* row = x + r * V;
        T* drow = dl ? dl + r * V : nullptr;
        int32_t t = targets[r];
        if (t == ignore_index) {
          losses[r] = 0.f;
          if (drow)
            for (int64_t c = 0; c < V; ++c) IO::store(drow, c, 0.f);
          continue;
        }
        float xt = IO::load(row, t);  // read before the gradient may overwrite it (in place)
        // Online max / sum of exp: one pass.
        float m = -std::numeric_limits<float>::infinity();
        double z = 0;
        for (int64_t c = 0; c < V; ++c) {
          float v = IO::load(row, c);
          if (v > m) {
            z = z * std::exp(static_cast<double>(m) - v) + 1.0;
            m = v;
          } else if (v != -std::numeric_limits<float>::infinity()) {
            z += std::exp(static_cast<double>(v) - m);  // NaN propagates
          }
        }
        double lse = static_cast<double>(m) + std::log(z);
        losses[r] = static_cast<float>(lse - xt);
        if (drow)
          for (int64_t c = 0; c < V; ++c) {
            double p = std::exp(static_cast<double>(IO::load(row, c)) - lse);
            IO::store(drow, c, static_cast<float>((p - (c == t ? 1.0 : 0.0)) * scale));
          }
      }
    }, grain);
  });
  double total = 0;
  for (int64_t r = 0; r < N; ++r) total += losses[r];
  *count = static_cast<float>(cnt);
  *loss = cnt > 0 ? static_cast<float>(total / static_cast<double>(cnt)) : 0.f;
}

}  // namespace cpu
}  // namespace mathrl
