// Row-wise softmax / log-softmax (twins of native/cpu/softmax.cpp): one block per row, three passes
// over the row (max, sum of exp, write), f32 math.
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kBlock = 256;

template <typename IO, bool kLog>
__global__ void softmax_kernel(int64_t rows, int64_t cols, const typename IO::T* a, typename IO::T* out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const typename IO::T* in = a + r * cols;
    typename IO::T* dst = out + r * cols;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, IO::load(in, c));
    m = block_reduce(m, MaxOp{}, -INFINITY);
    float z = 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) z += __expf(IO::load(in, c) - m);
    z = block_reduce(z, SumOp{}, 0.f);
    if (kLog) {
      float lz = m + logf(z);
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) IO::store(dst, c, IO::load(in, c) - lz);
    } else {
      float inv = 1.f / z;
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) IO::store(dst, c, __expf(IO::load(in, c) - m) * inv);
    }
  }
}

template <bool kLog>
void softmax_impl(DType dt, int64_t rows, int64_t cols, const void* a, void* out, const char* name) {
  if (rows == 0) return;
  with_float_dtype(dt, name, [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    unsigned g = static_cast<unsigned>(rows < 65535 * 16 ? rows : 65535 * 16);
    softmax_kernel<IO, kLog><<<g, kBlock, 0, stream()>>>(rows, cols, static_cast<const T*>(a), static_cast<T*>(out));
    CUDA_CHECK_LAUNCH(name);
  });
}
}  // namespace

void softmax_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  softmax_impl<false>(dt, rows, cols, a, out, "softmax");
}
void log_softmax_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  softmax_impl<true>(dt, rows, cols, a, out, "logSoftmax");
}

}  // namespace cuda
}  // namespace mathrl
