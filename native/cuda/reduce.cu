// Row reductions along the last dimension (twins of native/cpu/reduce.cpp): one block per row.
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kBlock = 256;

template <typename IO, typename Op>
__global__ void row_reduce_kernel(int64_t rows, int64_t cols, const typename IO::T* a, typename IO::T* out,
                                  Op op, float identity) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const typename IO::T* row = a + r * cols;
    float v = identity;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) v = op(v, IO::load(row, c));
    v = block_reduce(v, op, identity);
    if (threadIdx.x == 0) IO::store(out, r, v);
  }
}

template <typename Op>
void row_reduce(DType dt, int64_t rows, int64_t cols, const void* a, void* out, const char* name, Op op,
                float identity) {
  if (rows == 0) return;
  with_float_dtype(dt, name, [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    unsigned g = static_cast<unsigned>(rows < 65535 * 16 ? rows : 65535 * 16);
    row_reduce_kernel<IO><<<g, kBlock, 0, stream()>>>(rows, cols, static_cast<const T*>(a), static_cast<T*>(out),
                                                      op, identity);
    CUDA_CHECK_LAUNCH(name);
  });
}
}  // namespace

void sum_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  row_reduce(dt, rows, cols, a, out, "sum", SumOp{}, 0.f);
}
void max_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out) {
  row_reduce(dt, rows, cols, a, out, "max", MaxOp{}, -INFINITY);
}

}  // namespace cuda
}  // namespace mathrl
