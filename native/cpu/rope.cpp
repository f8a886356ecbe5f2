// Rotary position embedding (HF Llama rotate_half convention); angles in double so that large
// positions stay accurate.
#include <algorithm>
#include <cmath>
#include <vector>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

void rope(DType dt, int64_t B, int64_t T, int64_t H, int64_t Dh, const void* x, const int32_t* pos,
          bool pos_batched, double theta, bool inverse, void* y) {
  int64_t ntok = B * T, half = Dh / 2;
  if (ntok == 0 || H == 0 || half == 0) return;
  std::vector<double> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    freq[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(Dh));
  // cos / sin per (position row, i), computed once: T rows when positions are shared by the batch
  // (the usual case: B times fewer sin/cos than per token), one row per token otherwise.
  const int64_t prow = pos_batched ? ntok : T;
  std::vector<float> cs(static_cast<size_t>(prow * half * 2));
  parallel_for(prow, [&](int64_t s, int64_t e, int) {
    for (int64_t r = s; r < e; ++r) {
      double p = pos[r];
      for (int64_t i = 0; i < half; ++i) {
        double ang = p * freq[i];
        float sn = static_cast<float>(std::sin(ang));
        cs[(r * half + i) * 2] = static_cast<float>(std::cos(ang));
        cs[(r * half + i) * 2 + 1] = inverse ? -sn : sn;
      }
    }
  }, std::max<int64_t>(1, 256 / half));
  with_float_dtype(dt, "rope", [&](auto io) {
    using IO = decltype(io);
    using T_ = typename IO::T;
    const T_* xp = static_cast<const T_*>(x);
    T_* yp = static_cast<T_*>(y);
    int64_t grain = std::max<int64_t>(1, (1 << 13) / std::max<int64_t>(H * Dh, 1));
    parallel_for(ntok, [&](int64_t s, int64_t e, int) {
      for (int64_t tok = s; tok < e; ++tok) {
        const float* cst = cs.data() + (pos_batched ? tok : tok % T) * half * 2;
        for (int64_t h = 0; h < H; ++h) {
          const int64_t base = (tok * H + h) * Dh;
          for (int64_t i = 0; i < half; ++i) {
            const float c = cst[2 * i], sn = cst[2 * i + 1];
            float a = IO::load(xp, base + i), b = IO::load(xp, base + i + half);
            IO::store(yp, base + i, a * c - b * sn);
            IO::store(yp, base + i + half, b * c + a * sn);
          }
        }
      }
    }, grain);
  });
}

}  // namespace cpu
}  // namespace mathrl
