// Elementwise CPU reference kernels: add, mul, scale, cast, fill.
#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
constexpr int64_t kGrain = 1 << 15;  // elements per task; smaller ranges run inline

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
  binary(dt, n, a, b, nb, out, "add", [](float x, float y) { return x + y; });
}

void mul(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out) {
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
