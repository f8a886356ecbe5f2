// SwiGLU: h = silu(gate) * up, and its backward (f32 math).
#include <algorithm>
#include <cmath>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

void swiglu(DType dt, int64_t n, const void* gate, const void* up, void* h) {
  with_float_dtype(dt, "swiglu", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* g = static_cast<const T*>(gate);
    const T* u = static_cast<const T*>(up);
    T* o = static_cast<T*>(h);
    parallel_for(n, [&](int64_t s, int64_t e, int) {
      for (int64_t i = s; i < e; ++i) {
        float gv = IO::load(g, i);
        float sig = 1.f / (1.f + std::exp(-gv));
        IO::store(o, i, gv * sig * IO::load(u, i));
      }
    }, 1 << 14);
  });
}

void swiglu_backward(DType dt, int64_t n, const void* dh, const void* gate, const void* up, void* dgate,
                     void* dup) {
  with_float_dtype(dt, "swigluBackward", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* d = static_cast<const T*>(dh);
    const T* g = static_cast<const T*>(gate);
    const T* u = static_cast<const T*>(up);
    T* dg = static_cast<T*>(dgate);
    T* du = static_cast<T*>(dup);
    parallel_for(n, [&](int64_t s, int64_t e, int) {
      for (int64_t i = s; i < e; ++i) {
        float gv = IO::load(g, i), dv = IO::load(d, i);
        float sig = 1.f / (1.f + std::exp(-gv));
        float silu = gv * sig;
        IO::store(dg, i, dv * IO::load(u, i) * (sig * (1.f + gv * (1.f - sig))));
        IO::store(du, i, dv * silu);
      }
    }, 1 << 14);
  });
}

}  // namespace cpu
}  // namespace mathrl
