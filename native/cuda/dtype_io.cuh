// Device-side element loads/stores as f32, mirroring native/cpu/dtype_io.h.
#pragma once
#include "cuda_common.cuh"

namespace mathrl {
namespace cuda {

struct F32 {
  using T = float;
  static __device__ __forceinline__ float load(const T* p, int64_t i) { return p[i]; }
  static __device__ __forceinline__ void store(T* p, int64_t i, float v) { p[i] = v; }
};
struct BF16 {
  using T = __nv_bfloat16;
  static __device__ __forceinline__ float load(const T* p, int64_t i) { return __bfloat162float(p[i]); }
  static __device__ __forceinline__ void store(T* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
};

template <typename Fn>
void with_float_dtype(DType dt, const char* op, Fn&& fn) {
  switch (dt) {
    case DType::F32: fn(F32{}); return;
    case DType::BF16: fn(BF16{}); return;
    default: throw Error(std::string(op) + ": dtype " + dtype_name(dt) + " is not supported");
  }
}

// Grid size for a grid-stride loop over n elements.
inline unsigned grid_for(int64_t n, int block) {
  int64_t g = (n + block - 1) / block;
  if (g > 65535LL * 8) g = 65535LL * 8;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

}  // namespace cuda
}  // namespace mathrl
