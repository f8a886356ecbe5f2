// SwiGLU: h = silu(gate) * up, and its backward (f32 math; sigmoid through the vectorised exp of
// vec.h, AVX-512 / AVX2 / portable picked at run time; every element goes through the same vector
// code, so results do not depend on the thread count).
#include "vec.h"  // first: see its note on GCC 12 warnings

#include <algorithm>
#include <cmath>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
using vec::V1;
using vec::V256;
using vec::V512;

template <class V>
inline typename V::R sigmoid(typename V::R g) {
  const typename V::R one = V::set1(1.f);
  return V::div(one, V::add(one, V::exp(V::sub(V::zero(), g))));
}

template <class V, class T>
inline void fwd(int64_t n, const T* g, const T* u, T* o) {
  vec::map_n<V>(n, 0.f, o, [](typename V::R gv, typename V::R uv) { return V::mul(V::mul(gv, sigmoid<V>(gv)), uv); },
                g, u);
}

// One pass, one exp per element; both outputs from the same loads (safe if an output aliases an input).
template <class V, class T>
inline void bwd(int64_t n, const T* d, const T* g, const T* u, T* dg, T* du) {
  using R = typename V::R;
  auto step = [](R dv, R gv, R uv, R& dgv, R& duv) {
    const R one = V::set1(1.f), sig = sigmoid<V>(gv);
    dgv = V::mul(V::mul(dv, uv), V::mul(sig, V::add(one, V::mul(gv, V::sub(one, sig)))));
    duv = V::mul(dv, V::mul(gv, sig));
  };
  int64_t i = 0;
  R a, b;
  for (; i + V::W <= n; i += V::W) {
    step(V::load(d + i), V::load(g + i), V::load(u + i), a, b);
    V::store(dg + i, a);
    V::store(du + i, b);
  }
  if (i < n) {
    const int64_t m = n - i;
    step(vec::load_part<V>(d + i, m, 0.f), vec::load_part<V>(g + i, m, 0.f), vec::load_part<V>(u + i, m, 0.f), a, b);
    vec::store_part<V>(dg + i, m, a);
    vec::store_part<V>(du + i, m, b);
  }
}

template <class T>
MATHRL_VEC_AVX512 void fwd512(int64_t n, const T* g, const T* u, T* o) { fwd<V512>(n, g, u, o); }
template <class T>
MATHRL_VEC_AVX2 void fwd256(int64_t n, const T* g, const T* u, T* o) { fwd<V256>(n, g, u, o); }
template <class T>
void fwd1(int64_t n, const T* g, const T* u, T* o) { fwd<V1>(n, g, u, o); }
template <class T>
MATHRL_VEC_AVX512 void bwd512(int64_t n, const T* d, const T* g, const T* u, T* dg, T* du) {
  bwd<V512>(n, d, g, u, dg, du);
}
template <class T>
MATHRL_VEC_AVX2 void bwd256(int64_t n, const T* d, const T* g, const T* u, T* dg, T* du) {
  bwd<V256>(n, d, g, u, dg, du);
}
template <class T>
void bwd1(int64_t n, const T* d, const T* g, const T* u, T* dg, T* du) { bwd<V1>(n, d, g, u, dg, du); }
}  // namespace

void swiglu(DType dt, int64_t n, const void* gate, const void* up, void* h) {
  with_float_dtype(dt, "swiglu", [&](auto io) {
    using T = typename decltype(io)::T;
    const T* g = static_cast<const T*>(gate);
    const T* u = static_cast<const T*>(up);
    T* o = static_cast<T*>(h);
    const vec::Isa isa = vec::pick_isa();
    auto fn = isa == vec::Isa::Avx512 ? &fwd512<T> : isa == vec::Isa::Avx2 ? &fwd256<T> : &fwd1<T>;
    parallel_for(n, [&](int64_t s, int64_t e, int) { fn(e - s, g + s, u + s, o + s); }, 1 << 14);
  });
}

void swiglu_backward(DType dt, int64_t n, const void* dh, const void* gate, const void* up, void* dgate,
                     void* dup) {
  with_float_dtype(dt, "swigluBackward", [&](auto io) {
    using T = typename decltype(io)::T;
    const T* d = static_cast<const T*>(dh);
    const T* g = static_cast<const T*>(gate);
    const T* u = static_cast<const T*>(up);
    T* dg = static_cast<T*>(dgate);
    T* du = static_cast<T*>(dup);
    const vec::Isa isa = vec::pick_isa();
    auto fn = isa == vec::Isa::Avx512 ? &bwd512<T> : isa == vec::Isa::Avx2 ? &bwd256<T> : &bwd1<T>;
    parallel_for(n, [&](int64_t s, int64_t e, int) { fn(e - s, d + s, g + s, u + s, dg + s, du + s); }, 1 << 14);
  });
}

}  // namespace cpu
}  // namespace mathrl
