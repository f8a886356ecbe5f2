// RMSNorm forward and backward over the last dimension (HF Llama: f32 math). Row reductions in f32
// lanes (vec.h, AVX-512 / AVX2 / portable), row scalars and the dweight column sums in double.
#include "vec.h"  // first: see its note on GCC 12 warnings

#include <algorithm>
#include <cmath>
#include <vector>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
using vec::V1;
using vec::V256;
using vec::V512;

// Row sums of squares / of dy*w*x keep one f32 accumulator per lane (fixed order, vec.h), then the
// row scalars are finished in double.
template <class V, class XT, class WT>
inline void fwd_rows(int64_t r0, int64_t r1, int64_t D, const XT* xp, const WT* wp, float eps, XT* yp, float* rstd) {
  using R = typename V::R;
  for (int64_t r = r0; r < r1; ++r) {
    const XT* xr = xp + r * D;
    XT* yr = yp + r * D;
    R acc = V::zero();
    int64_t c = 0;
    for (; c + V::W <= D; c += V::W) {
      const R v = V::load(xr + c);
      acc = V::fmadd(v, v, acc);
    }
    if (c < D) {
      const R v = vec::load_part<V>(xr + c, D - c, 0.f);
      acc = V::fmadd(v, v, acc);
    }
    const double ss = V::hsum(acc);
    const float rs = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps)));
    rstd[r] = rs;
    const R vr = V::set1(rs);
    for (c = 0; c + V::W <= D; c += V::W) V::store(yr + c, V::mul(V::mul(V::load(xr + c), vr), V::load(wp + c)));
    if (c < D)
      vec::store_part<V>(yr + c, D - c,
                         V::mul(V::mul(vec::load_part<V>(xr + c, D - c, 0.f), vr), vec::load_part<V>(wp + c, D - c, 0.f)));
  }
}

template <class V, class XT, class WT>
inline void bwd_rows(int64_t r0, int64_t r1, int64_t D, const XT* dyp, const XT* xp, const WT* wp, const float* rstd,
                     XT* dxp) {
  using R = typename V::R;
  for (int64_t r = r0; r < r1; ++r) {
    const XT* dyr = dyp + r * D;
    const XT* xr = xp + r * D;
    XT* dxr = dxp + r * D;
    R acc = V::zero();
    int64_t c = 0;
    for (; c + V::W <= D; c += V::W) acc = V::fmadd(V::mul(V::load(dyr + c), V::load(wp + c)), V::load(xr + c), acc);
    if (c < D)
      acc = V::fmadd(V::mul(vec::load_part<V>(dyr + c, D - c, 0.f), vec::load_part<V>(wp + c, D - c, 0.f)),
                     vec::load_part<V>(xr + c, D - c, 0.f), acc);
    const double dot = V::hsum(acc);
    const float rs = rstd[r];
    const float k = static_cast<float>(static_cast<double>(rs) * rs * rs * dot / static_cast<double>(D));
    const R vr = V::set1(rs), vk = V::set1(k);
    auto f = [&](R dy, R w, R x) { return V::sub(V::mul(vr, V::mul(dy, w)), V::mul(x, vk)); };
    for (c = 0; c + V::W <= D; c += V::W) V::store(dxr + c, f(V::load(dyr + c), V::load(wp + c), V::load(xr + c)));
    if (c < D)
      vec::store_part<V>(dxr + c, D - c,
                         f(vec::load_part<V>(dyr + c, D - c, 0.f), vec::load_part<V>(wp + c, D - c, 0.f),
                           vec::load_part<V>(xr + c, D - c, 0.f)));
  }
}

// dweight columns [c0, c1): each column summed over rows in row order, in double.
template <class XT>
inline void dweight_cols(int64_t c0, int64_t c1, int64_t rows, int64_t D, const XT* dyp, const XT* xp,
                         const float* rstd, double* acc) {
  for (int64_t r = 0; r < rows; ++r) {
    const XT* dyr = dyp + r * D;
    const XT* xr = xp + r * D;
    const double rs = rstd[r];
    for (int64_t c = c0; c < c1; ++c)
      acc[c - c0] += static_cast<double>(vec::load1(dyr + c)) * vec::load1(xr + c) * rs;
  }
}

template <class XT, class WT>
struct Fns {
  void (*fwd)(int64_t, int64_t, int64_t, const XT*, const WT*, float, XT*, float*);
  void (*bwd)(int64_t, int64_t, int64_t, const XT*, const XT*, const WT*, const float*, XT*);
  void (*dw)(int64_t, int64_t, int64_t, int64_t, const XT*, const XT*, const float*, double*);
};

#define MATHRL_RMS_WRAP(NAME, ATTR, VT)                                                                       \
  template <class XT, class WT>                                                                             \
  ATTR void NAME##_fwd(int64_t r0, int64_t r1, int64_t D, const XT* x, const WT* w, float eps, XT* y, float* rs) { \
    fwd_rows<VT>(r0, r1, D, x, w, eps, y, rs);                                                              \
  }                                                                                                         \
  template <class XT, class WT>                                                                             \
  ATTR void NAME##_bwd(int64_t r0, int64_t r1, int64_t D, const XT* dy, const XT* x, const WT* w,            \
                       const float* rs, XT* dx) {                                                           \
    bwd_rows<VT>(r0, r1, D, dy, x, w, rs, dx);                                                              \
  }                                                                                                         \
  template <class XT>                                                                                       \
  ATTR void NAME##_dw(int64_t c0, int64_t c1, int64_t rows, int64_t D, const XT* dy, const XT* x,            \
                      const float* rs, double* acc) {                                                       \
    dweight_cols(c0, c1, rows, D, dy, x, rs, acc);                                                          \
  }
MATHRL_RMS_WRAP(isa512, MATHRL_VEC_AVX512, V512)
MATHRL_RMS_WRAP(isa256, MATHRL_VEC_AVX2, V256)
MATHRL_RMS_WRAP(isa1, , V1)
#undef MATHRL_RMS_WRAP

template <class XT, class WT>
Fns<XT, WT> fns() {
  switch (vec::pick_isa()) {
    case vec::Isa::Avx512: return {&isa512_fwd<XT, WT>, &isa512_bwd<XT, WT>, &isa512_dw<XT>};
    case vec::Isa::Avx2: return {&isa256_fwd<XT, WT>, &isa256_bwd<XT, WT>, &isa256_dw<XT>};
    default: return {&isa1_fwd<XT, WT>, &isa1_bwd<XT, WT>, &isa1_dw<XT>};
  }
}
}  // namespace

void rmsnorm(DType dx, DType dw, int64_t rows, int64_t D, const void* x, const void* w, float eps, void* y,
             float* rstd) {
  if (rows == 0) return;
  with_float_dtype(dx, "rmsnorm", [&](auto xio) {
    with_float_dtype(dw, "rmsnorm", [&](auto wio) {
      using XT = typename decltype(xio)::T;
      using WT = typename decltype(wio)::T;
      const auto f = fns<XT, WT>();
      const XT* xp = static_cast<const XT*>(x);
      const WT* wp = static_cast<const WT*>(w);
      XT* yp = static_cast<XT*>(y);
      int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1));
      parallel_for(rows, [&](int64_t s, int64_t e, int) { f.fwd(s, e, D, xp, wp, eps, yp, rstd); }, grain);
    });
  });
}

void rmsnorm_backward(DType dx, DType dw, int64_t rows, int64_t D, const void* dy, const void* x, const void* w,
                      const float* rstd, void* dxo, float* dweight, bool accumulate) {
  with_float_dtype(dx, "rmsnormBackward", [&](auto xio) {
    with_float_dtype(dw, "rmsnormBackward", [&](auto wio) {
      using XT = typename decltype(xio)::T;
      using WT = typename decltype(wio)::T;
      const auto f = fns<XT, WT>();
      const XT* dyp = static_cast<const XT*>(dy);
      const XT* xp = static_cast<const XT*>(x);
      const WT* wp = static_cast<const WT*>(w);
      XT* dxp = static_cast<XT*>(dxo);
      // dx: one row at a time.
      int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1));
      parallel_for(rows, [&](int64_t s, int64_t e, int) { f.bwd(s, e, D, dyp, xp, wp, rstd, dxp); }, grain);
      // dweight: split over columns, each column summed over rows in row order (deterministic,
      // independent of the thread count).
      parallel_for(D, [&](int64_t c0, int64_t c1, int) {
        std::vector<double> acc(static_cast<size_t>(c1 - c0), 0.0);
        f.dw(c0, c1, rows, D, dyp, xp, rstd, acc.data());
        for (int64_t c = c0; c < c1; ++c)
          dweight[c] = accumulate ? static_cast<float>(dweight[c] + acc[c - c0]) : static_cast<float>(acc[c - c0]);
      }, 64);
    });
  });
}

}  // namespace cpu
}  // namespace mathrl
