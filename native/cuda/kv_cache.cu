// KV-cache write: the CUDA twin of native/cpu/kv_cache.cpp (contract in native/cuda/ops.h). A grid-stride
// copy of x's elements into their cache rows. A row whose cache row or start position is out of range is
// skipped entirely (nothing outside the cache is touched) and recorded for the host (index_flag.cuh).
// Duplicate rows are not detected here (the writes would race, inside the cache).
#include <cstdint>

#include "dtype_io.cuh"
#include "index_flag.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
template <typename T>
__global__ void kv_cache_write_kernel(int64_t Bc, int64_t S, int64_t Bx, int64_t T_, int64_t HD, T* cache,
                                      const T* x, const int32_t* start, const int32_t* rows,
                                      unsigned long long* flag) {
  const int64_t row = T_ * HD;  // elements of one x row
  const int64_t n = Bx * row;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / row, e = i - b * row;
    const int64_t r = rows ? static_cast<int64_t>(rows[b]) : b;
    const int64_t s = start[b];
    if (r < 0 || r >= Bc || s < 0 || s + T_ > S) {
      if (e == 0) record_bad_index(flag, b, static_cast<int32_t>(r < 0 || r >= Bc ? r : s));
      continue;
    }
    cache[(r * S + s) * HD + e] = x[i];
  }
}
}  // namespace

void kv_cache_write(DType dt, int64_t Bc, int64_t S, int64_t Bx, int64_t T, int64_t H, int64_t Dh, void* cache,
                    const void* x, const int32_t* start, const int32_t* rows) {
  if (dt != DType::F32 && dt != DType::BF16) throw Error("kvCacheWrite: dtype must be f32 or bf16");
  if (Bx == 0 || T == 0 || H == 0 || Dh == 0) return;
  unsigned long long* flag = index_flag().dev;
  const int64_t n = Bx * T * H * Dh;
  const unsigned grid = grid_for(n, 256);
  if (dt == DType::F32)
    kv_cache_write_kernel<float><<<grid, 256, 0, stream()>>>(Bc, S, Bx, T, H * Dh, static_cast<float*>(cache),
                                                              static_cast<const float*>(x), start, rows, flag);
  else
    kv_cache_write_kernel<uint16_t><<<grid, 256, 0, stream()>>>(Bc, S, Bx, T, H * Dh, static_cast<uint16_t*>(cache),
                                                                 static_cast<const uint16_t*>(x), start, rows, flag);
  CUDA_CHECK_LAUNCH("kvCacheWrite");
}

bool kv_cache_index_error(bool sync, int64_t* row, int64_t* value) { return take_index_error(sync, row, value); }

}  // namespace cuda
}  // namespace mathrl
