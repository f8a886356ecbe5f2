// RMSNorm forward/backward (twins of native/cpu/rmsnorm.cpp). Forward and dx: one block per row with a
// block reduction. dweight: column tiles x row chunks, each thread sums one column over its chunk in
// registers, then one atomicAdd per (column, chunk) into dweight (zeroed first unless accumulating).
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "ops.h"
#include "runtime.h"

namespace mathrl {
namespace cuda {

namespace {

// Threads per row block: a multiple of 32, at most 256, no more than the row needs.
int row_threads(int64_t D) {
  int64_t t = (D + 31) / 32 * 32;
  return static_cast<int>(t < 32 ? 32 : (t > 256 ? 256 : t));
}
unsigned row_grid(int64_t rows) { return static_cast<unsigned>(rows < 65535LL * 16 ? rows : 65535LL * 16); }

template <typename XIO, typename WIO>
__global__ void rmsnorm_kernel(int64_t rows, int64_t D, const typename XIO::T* x, const typename WIO::T* w,
                               float eps, typename XIO::T* y, float* rstd) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const typename XIO::T* xr = x + r * D;
    typename XIO::T* yr = y + r * D;
    float ss = 0.f;
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) {
      float v = XIO::load(xr, c);
      ss += v * v;
    }
    ss = block_reduce(ss, SumOp{}, 0.f);
    float rs = 1.f / sqrtf(ss / static_cast<float>(D) + eps);
    if (threadIdx.x == 0) rstd[r] = rs;
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) XIO::store(yr, c, XIO::load(xr, c) * rs * WIO::load(w, c));
  }
}

template <typename XIO, typename WIO>
__global__ void rmsnorm_dx_kernel(int64_t rows, int64_t D, const typename XIO::T* dy, const typename XIO::T* x,
                                  const typename WIO::T* w, const float* rstd, typename XIO::T* dx) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const typename XIO::T* dyr = dy + r * D;
    const typename XIO::T* xr = x + r * D;
    typename XIO::T* dxr = dx + r * D;
    float dot = 0.f;
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x)
      dot += XIO::load(dyr, c) * WIO::load(w, c) * XIO::load(xr, c);
    dot = block_reduce(dot, SumOp{}, 0.f);
    float rs = rstd[r];
    float k = rs * rs * rs * dot / static_cast<float>(D);
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x)
      XIO::store(dxr, c, rs * (XIO::load(dyr, c) * WIO::load(w, c)) - XIO::load(xr, c) * k);
  }
}

constexpr int kColThreads = 256;

// grid (ceil(D / kColThreads), chunks): block (bx, by) sums columns [bx*256, bx*256+256) over rows
// [by*per, min(rows, by*per+per)).
template <typename XIO>
__global__ void rmsnorm_dw_kernel(int64_t rows, int64_t D, int64_t per, const typename XIO::T* dy,
                                  const typename XIO::T* x, const float* rstd, float* dweight) {
  int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= D) return;
  int64_t r0 = static_cast<int64_t>(blockIdx.y) * per;
  int64_t r1 = r0 + per < rows ? r0 + per : rows;
  float acc = 0.f;
  for (int64_t r = r0; r < r1; ++r) acc += XIO::load(dy, r * D + c) * XIO::load(x, r * D + c) * rstd[r];
  if (r1 > r0) atomicAdd(dweight + c, acc);
}

}  // namespace

void rmsnorm(DType dx, DType dw, int64_t rows, int64_t D, const void* x, const void* w, float eps, void* y,
             float* rstd) {
  if (rows == 0 || D == 0) return;
  with_float_dtype(dx, "rmsnorm", [&](auto xio) {
    with_float_dtype(dw, "rmsnorm", [&](auto wio) {
      using XIO = decltype(xio);
      using WIO = decltype(wio);
      rmsnorm_kernel<XIO, WIO><<<row_grid(rows), row_threads(D), 0, stream()>>>(
          rows, D, static_cast<const typename XIO::T*>(x), static_cast<const typename WIO::T*>(w), eps,
          static_cast<typename XIO::T*>(y), rstd);
      CUDA_CHECK_LAUNCH("rmsnorm");
    });
  });
}

void rmsnorm_backward(DType dx, DType dw, int64_t rows, int64_t D, const void* dy, const void* x, const void* w,
                      const float* rstd, void* dxo, float* dweight, bool accumulate) {
  if (D == 0) return;
  if (!accumulate) cuda::memset(dweight, 0, static_cast<size_t>(D) * sizeof(float));
  if (rows == 0) return;
  with_float_dtype(dx, "rmsnormBackward", [&](auto xio) {
    with_float_dtype(dw, "rmsnormBackward", [&](auto wio) {
      using XIO = decltype(xio);
      using WIO = decltype(wio);
      using XT = typename XIO::T;
      rmsnorm_dx_kernel<XIO, WIO><<<row_grid(rows), row_threads(D), 0, stream()>>>(
          rows, D, static_cast<const XT*>(dy), static_cast<const XT*>(x), static_cast<const typename WIO::T*>(w),
          rstd, static_cast<XT*>(dxo));
      CUDA_CHECK_LAUNCH("rmsnormBackward (dx)");
      int64_t chunks = (rows + 63) / 64;
      if (chunks > 1024) chunks = 1024;
      int64_t per = (rows + chunks - 1) / chunks;
      chunks = (rows + per - 1) / per;
      dim3 grid(static_cast<unsigned>((D + kColThreads - 1) / kColThreads), static_cast<unsigned>(chunks));
      rmsnorm_dw_kernel<XIO><<<grid, kColThreads, 0, stream()>>>(rows, D, per, static_cast<const XT*>(dy),
                                                                 static_cast<const XT*>(x), rstd, dweight);
      CUDA_CHECK_LAUNCH("rmsnormBackward (dweight)");
    });
  });
}

}  // namespace cuda
}  // namespace mathrl
