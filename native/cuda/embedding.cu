// Token embedding forward/backward (twins of native/cpu/embedding.cpp). One block per token
// (grid-stride). An id outside [0, V) never touches the table: forward writes a NaN row, backward
// skips the row, and the first such (position, id) is recorded for the host (index_flag.cuh).
#include "dtype_io.cuh"
#include "index_flag.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {

int row_threads(int64_t D) {
  int64_t t = (D + 31) / 32 * 32;
  return static_cast<int>(t < 32 ? 32 : (t > 256 ? 256 : t));
}

template <typename IO>
__global__ void embedding_kernel(int64_t N, int64_t V, int64_t D, const int32_t* ids, const typename IO::T* table,
                                 typename IO::T* out, unsigned long long* flag) {
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    int32_t id = ids[n];
    bool ok = id >= 0 && static_cast<int64_t>(id) < V;
    if (!ok && threadIdx.x == 0) record_bad_index(flag, n, id);
    typename IO::T* dst = out + n * D;
    if (ok) {
      const typename IO::T* src = table + static_cast<int64_t>(id) * D;
      for (int64_t c = threadIdx.x; c < D; c += blockDim.x) dst[c] = src[c];
    } else {
      for (int64_t c = threadIdx.x; c < D; c += blockDim.x) IO::store(dst, c, __int_as_float(0x7fffffff));
    }
  }
}

template <typename IO>
__global__ void embedding_backward_kernel(int64_t N, int64_t V, int64_t D, const typename IO::T* dout,
                                          const int32_t* ids, float* dtable, unsigned long long* flag) {
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    int32_t id = ids[n];
    if (id < 0 || static_cast<int64_t>(id) >= V) {
      if (threadIdx.x == 0) record_bad_index(flag, n, id);
      continue;
    }
    float* dst = dtable + static_cast<int64_t>(id) * D;
    const typename IO::T* src = dout + n * D;
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) atomicAdd(dst + c, IO::load(src, c));
  }
}

}  // namespace

void embedding(DType dt, int64_t N, int64_t V, int64_t D, const int32_t* ids, const void* table, void* out) {
  if (N == 0 || D == 0) return;
  unsigned long long* flag = index_flag().dev;
  unsigned grid = static_cast<unsigned>(N < 65535LL * 16 ? N : 65535LL * 16);
  with_float_dtype(dt, "embedding", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    embedding_kernel<IO><<<grid, row_threads(D), 0, stream()>>>(N, V, D, ids, static_cast<const T*>(table),
                                                                static_cast<T*>(out), flag);
    CUDA_CHECK_LAUNCH("embedding");
  });
}

void embedding_backward(DType dt, int64_t N, int64_t V, int64_t D, const void* dout, const int32_t* ids,
                        float* dtable) {
  if (N == 0 || D == 0) return;
  unsigned long long* flag = index_flag().dev;
  unsigned grid = static_cast<unsigned>(N < 65535LL * 16 ? N : 65535LL * 16);
  with_float_dtype(dt, "embeddingBackward", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    embedding_backward_kernel<IO><<<grid, row_threads(D), 0, stream()>>>(N, V, D, static_cast<const T*>(dout), ids,
                                                                         dtable, flag);
    CUDA_CHECK_LAUNCH("embeddingBackward");
  });
}

bool embedding_index_error(bool sync, int64_t* position, int64_t* id) { return take_index_error(sync, position, id); }

}  // namespace cuda
}  // namespace mathrl
