// Loads and stores of one element as f32, for kernels templated over storage dtype.
#pragma once
#include "../common.h"

namespace mathrl {
namespace cpu {

struct F32 {
  using T = float;
  static float load(const T* p, int64_t i) { return p[i]; }
  static void store(T* p, int64_t i, float v) { p[i] = v; }
};
struct BF16 {
  using T = uint16_t;
  static float load(const T* p, int64_t i) { return bf16_to_f32(p[i]); }
  static void store(T* p, int64_t i, float v) { p[i] = f32_to_bf16(v); }
};

// Calls fn.template operator()<IO>() with IO = F32 or BF16 according to dt.
template <typename Fn>
void with_float_dtype(DType dt, const char* op, Fn&& fn) {
  switch (dt) {
    case DType::F32: fn(F32{}); return;
    case DType::BF16: fn(BF16{}); return;
    default: throw Error(std::string(op) + ": dtype " + dtype_name(dt) + " is not supported");
  }
}

}  // namespace cpu
}  // namespace mathrl
