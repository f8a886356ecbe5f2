// Elementwise CPU reference kernels: add, mul, scale, cast, fill.
#include "vec.h"  // first: see its note on GCC 12 warnings

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
constexpr int64_t kGrain = 1 << 15;  // elements per task; smaller ranges run inline

// Same-shape add / mul (no broadcast), vectorised per ISA (vec.h); elementwise, so the result of each
// element is the same whatever the thread split.
template <class V, class T>
inline void add_same(int64_t n, const T* a, const T* b, T* o) {
  vec::map_n<V>(n, 0.f, o, [](typename V::R x, typename V::R y) { return V::add(x, y); }, a, b);
}
template <class V, class T>
inline void mul_same(int64_t n, const T* a, const T* b, T* o) {
  vec::map_n<V>(n, 0.f, o, [](typename V::R x, typename V::R y) { return V::mul(x, y); }, a, b);
}
#define MATHRL_EW_WRAP(NAME, ATTR, VT)                                                                      \
  template <class T>                                                                                      \
  ATTR void NAME##_add(int64_t n, const T* a, const T* b, T* o) { add_same<VT>(n, a, b, o); }            \
  template <class T>                                                                                      \
  ATTR void NAME##_mul(int64_t n, const T* a, const T* b, T* o) { mul_same<VT>(n, a, b, o); }
MATHRL_EW_WRAP(isa512, MATHRL_VEC_AVX512, vec::V512)
MATHRL_EW_WRAP(isa256, MATHRL_VEC_AVX2, vec::V256)
MATHRL_EW_WRAP(isa1, , vec::V1)
#undef MATHRL_EW_WRAP

template <bool Mul>
bool same_shape(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out) {
  if (nb != n || (dt != DType::F32 && dt != DType::BF16)) return false;
  with_float_dtype(dt, Mul ? "mul" : "add", [&](auto io) {
    using T = typename decltype(io)::T;
    const T* x = static_cast<const T*>(a);
    const T* y = static_cast<const T*>(b);
    T* o = static_cast<T*>(out);
    const vec::Isa isa = vec::pick_isa();
    auto fn = isa == vec::Isa::Avx512 ? (Mul ? &isa512_mul<T> : &isa512_add<T>)
              : isa == vec::Isa::Avx2 ? (Mul ? &isa256_mul<T> : &isa256_add<T>)
                                      : (Mul ? &isa1_mul<T> : &isa1_add<T>);
    parallel_for(n, [&](int64_t s, int64_t e, int) { fn(e - s, x + s, y + s, o + s); }, kGrain);
  });
  return true;
}

template <typename Op>
void binary(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out, const char* name,
            Op op) {
  with_float_dtype(dt, name, [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* x = static_cast<const T*>(a);
    const T* y = static_cast<const T*>(b);
    T* o = static_cast<T*>(out);
    parallel_for(n, [&](int64_t s, int64_t e, int) {
      int64_t j = s % nb;
      for (int64_t i = s; i < e; ++i) {
        IO::store(o, i, op(IO::load(x, i), IO::load(y, j)));
        if (++j == nb) j = 0;
      }
    }, kGrain);
  });
}
}  // namespace

void add(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out) {
  if (same_shape<false>(dt, n, a, b, nb, out)) return;
  binary(dt, n, a, b, nb, out, "add", [](float x, float y) { return x + y; });
}

void mul(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out) {
  if (same_shape<true>(dt, n, a, b, nb, out)) return;
  binary(dt, n, a, b, nb, out, "mul", [](float x, float y) { return x * y; });
}

void scale(DType dt, int64_t n, const void* a, float alpha, float beta_add, void* out) {
  with_float_dtype(dt, "scale", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* x = static_cast<const T*>(a);
    T* o = static_cast<T*>(out);
    parallel_for(n, [&](int64_t s, int64_t e, int) {
      for (int64_t i = s; i < e; ++i) IO::store(o, i, alpha * IO::load(x, i) + beta_add);
    }, kGrain);
  });
}

void cast(DType from, DType to, int64_t n, const void* a, void* out) {
  if (from == to) {
    std::memmove(out, a, static_cast<size_t>(n) * dtype_size(from));
    return;
  }
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    if (from == DType::F32 && to == DType::BF16) {
      const float* x = static_cast<const float*>(a);
      uint16_t* o = static_cast<uint16_t*>(out);
      for (int64_t i = s; i < e; ++i) o[i] = f32_to_bf16(x[i]);
    } else if (from == DType::BF16 && to == DType::F32) {
      const uint16_t* x = static_cast<const uint16_t*>(a);
      float* o = static_cast<float*>(out);
      for (int64_t i = s; i < e; ++i) o[i] = bf16_to_f32(x[i]);
    } else if (from == DType::I32 && to == DType::F32) {
      const int32_t* x = static_cast<const int32_t*>(a);
      float* o = static_cast<float*>(out);
      for (int64_t i = s; i < e; ++i) o[i] = static_cast<float>(x[i]);
    } else {
      throw Error(std::string("cast: ") + dtype_name(from) + " -> " + dtype_name(to) + " is not supported");
    }
  }, kGrain);
}

void fill(DType dt, int64_t n, float value, void* out) {
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    switch (dt) {
      case DType::F32: {
        float* o = static_cast<float*>(out);
        for (int64_t i = s; i < e; ++i) o[i] = value;
        break;
      }
      case DType::BF16: {
        uint16_t* o = static_cast<uint16_t*>(out);
        uint16_t v = f32_to_bf16(value);
        for (int64_t i = s; i < e; ++i) o[i] = v;
        break;
      }
      case DType::I32: {
        int32_t* o = static_cast<int32_t*>(out);
        int32_t v = static_cast<int32_t>(value);
        for (int64_t i = s; i < e; ++i) o[i] = v;
        break;
      }
    }
  }, kGrain);
}

}  // namespace cpu
}  // namespace mathrl
