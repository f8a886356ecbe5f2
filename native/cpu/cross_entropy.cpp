// Fused softmax cross-entropy, per row: max, then e = exp(x - max) into an f32 scratch row with its
// sum z, then loss = (max - x_t) + log z and dlogits = (e / z - [c == t]) * scale written straight
// into dlogits (which may be the logits buffer itself). f32 math with a vectorised exp (vec.h:
// AVX-512 / AVX2 picked at run time, portable code otherwise); sums keep one accumulator per lane
// in a fixed order, so results do not depend on the thread count.
#include "vec.h"  // first: see its note on GCC 12 warnings

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
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

using vec::load1;
using vec::load_part;
using vec::store1;
using vec::store_part;

// One row (target t valid). e: scratch of n + 16 floats (used only when drow). Returns the loss.
template <class V, class T>
float ce_row(const T* row, T* drow, int64_t n, int32_t t, float scale, float* e) {
  constexpr int64_t W = V::W;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const float xt = load1(row + t);  // read before the gradient may overwrite it (in place)
  const int64_t nv = n - n % W;
  typename V::R vm = V::set1(kNegInf);
  for (int64_t c = 0; c < nv; c += W) vm = V::max(vm, V::load(row + c));
  if (nv < n) vm = V::max(vm, load_part<V>(row + nv, n - nv, kNegInf));
  const float m = V::hmax(vm);
  // m = -inf: every logit is -inf (no probability anywhere): NaN, as exp(-inf - -inf) gives.
  const typename V::R vmax = V::set1(m);
  typename V::R vz = V::zero();
  for (int64_t c = 0; c < nv; c += W) {
    const typename V::R ex = V::exp(V::sub(V::load(row + c), vmax));
    if (drow) V::store(e + c, ex);
    vz = V::add(vz, ex);
  }
  if (nv < n) {
    const typename V::R ex = V::exp(V::sub(load_part<V>(row + nv, n - nv, kNegInf), vmax));
    if (drow) V::store(e + nv, ex);  // e has room: the caller pads it to a multiple of W
    vz = V::add(vz, ex);
  }
  const float z = V::hsum(vz);
  const float logz = std::log(z);
  if (drow) {
    const float inv = 1.f / z;
    const typename V::R vs = V::set1(inv * scale);
    for (int64_t c = 0; c < nv; c += W) V::store(drow + c, V::mul(V::load(e + c), vs));
    if (nv < n) store_part<V>(drow + nv, n - nv, V::mul(V::load(e + nv), vs));
    store1(drow + t, (e[t] * inv - 1.f) * scale);
  }
  return (m - xt) + logz;
}

template <class T>
using RowFn = float (*)(const T*, T*, int64_t, int32_t, float, float*);

MATHRL_VEC_AVX512 float row512(const float* r, float* d, int64_t n, int32_t t, float s, float* e) {
  return ce_row<V512>(r, d, n, t, s, e);
}
MATHRL_VEC_AVX512 float row512(const uint16_t* r, uint16_t* d, int64_t n, int32_t t, float s, float* e) {
  return ce_row<V512>(r, d, n, t, s, e);
}
MATHRL_VEC_AVX2 float row256(const float* r, float* d, int64_t n, int32_t t, float s, float* e) {
  return ce_row<V256>(r, d, n, t, s, e);
}
MATHRL_VEC_AVX2 float row256(const uint16_t* r, uint16_t* d, int64_t n, int32_t t, float s, float* e) {
  return ce_row<V256>(r, d, n, t, s, e);
}
float row1(const float* r, float* d, int64_t n, int32_t t, float s, float* e) { return ce_row<V1>(r, d, n, t, s, e); }
float row1(const uint16_t* r, uint16_t* d, int64_t n, int32_t t, float s, float* e) {
  return ce_row<V1>(r, d, n, t, s, e);
}

template <class T>
RowFn<T> pick_row() {
  switch (vec::pick_isa()) {
    case vec::Isa::Avx512: return static_cast<RowFn<T>>(&row512);
    case vec::Isa::Avx2: return static_cast<RowFn<T>>(&row256);
    default: return static_cast<RowFn<T>>(&row1);
  }
}
}  // namespace

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
    const RowFn<T> row_fn = pick_row<T>();
    int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(V, 1));
    parallel_for(N, [&](int64_t s, int64_t e, int) {
      std::vector<float> scratch(dl ? static_cast<size_t>(V + 16) : 0);
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
        losses[r] = row_fn(row, drow, V, t, scale, scratch.data());
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
