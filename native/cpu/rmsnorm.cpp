// RMSNorm forward and backward over the last dimension (HF Llama: f32 math, double accumulation here).
#include <algorithm>
#include <cmath>
#include <vector>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

void rmsnorm(DType dx, DType dw, int64_t rows, int64_t D, const void* x, const void* w, float eps, void* y,
             float* rstd) {
  if (rows == 0) return;
  with_float_dtype(dx, "rmsnorm", [&](auto xio) {
    with_float_dtype(dw, "rmsnorm", [&](auto wio) {
      using XIO = decltype(xio);
      using WIO = decltype(wio);
      using XT = typename XIO::T;
      using WT = typename WIO::T;
      const XT* xp = static_cast<const XT*>(x);
      const WT* wp = static_cast<const WT*>(w);
      XT* yp = static_cast<XT*>(y);
      int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1));
      parallel_for(rows, [&](int64_t s, int64_t e, int) {
        for (int64_t r = s; r < e; ++r) {
          const XT* xr = xp + r * D;
          XT* yr = yp + r * D;
          double ss = 0;
          for (int64_t c = 0; c < D; ++c) {
            double v = XIO::load(xr, c);
            ss += v * v;
          }
          float rs = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps)));
          rstd[r] = rs;
          for (int64_t c = 0; c < D; ++c) XIO::store(yr, c, XIO::load(xr, c) * rs * WIO::load(wp, c));
        }
      }, grain);
    });
  });
}

void rmsnorm_backward(DType dx, DType dw, int64_t rows, int64_t D, const void* dy, const void* x, const void* w,
                      const float* rstd, void* dxo, float* dweight, bool accumulate) {
  with_float_dtype(dx, "rmsnormBackward", [&](auto xio) {
    with_float_dtype(dw, "rmsnormBackward", [&](auto wio) {
      using XIO = decltype(xio);
      using WIO = decltype(wio);
      using XT = typename XIO::T;
      using WT = typename WIO::T;
      const XT* dyp = static_cast<const XT*>(dy);
      const XT* xp = static_cast<const XT*>(x);
      const WT* wp = static_cast<const WT*>(w);
      XT* dxp = static_cast<XT*>(dxo);
      // dx: one row at a time.
      int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1));
      parallel_for(rows, [&](int64_t s, int64_t e, int) {
        for (int64_t r = s; r < e; ++r) {
          const XT* dyr = dyp + r * D;
          const XT* xr = xp + r * D;
          XT* dxr = dxp + r * D;
          double dot = 0;
          for (int64_t c = 0; c < D; ++c)
            dot += static_cast<double>(XIO::load(dyr, c)) * WIO::load(wp, c) * XIO::load(xr, c);
          float rs = rstd[r];
          float k = static_cast<float>(static_cast<double>(rs) * rs * rs * dot / static_cast<double>(D));
          for (int64_t c = 0; c < D; ++c)
            XIO::store(dxr, c, rs * (XIO::load(dyr, c) * WIO::load(wp, c)) - XIO::load(xr, c) * k);
        }
      }, grain);
      // dweight: split over columns, each column summed over rows in row order (deterministic,
      // independent of the thread count).
      parallel_for(D, [&](int64_t c0, int64_t c1, int) {
        std::vector<double> acc(static_cast<size_t>(c1 - c0), 0.0);
        for (int64_t r = 0; r < rows; ++r) {
          const XT* dyr = dyp + r * D;
          const XT* xr = xp + r * D;
          double rs = rstd[r];
          for (int64_t c = c0; c < c1; ++c)
            acc[c - c0] += static_cast<double>(XIO::load(dyr, c)) * XIO::load(xr, c) * rs;
        }
        for (int64_t c = c0; c < c1; ++c)
          dweight[c] = accumulate ? static_cast<float>(dweight[c] + acc[c - c0]) : static_cast<float>(acc[c - c0]);
      }, 64);
    });
  });
}

}  // namespace cpu
}  // namespace mathrl
