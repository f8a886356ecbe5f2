// Elementwise CUDA kernels: add, mul, scale, cast, fill (twins of native/cpu/elementwise.cpp).
#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {
constexpr int kBlock = 256;

template <typename IO, bool kMul>
__global__ void binary_kernel(int64_t n, const typename IO::T* a, const typename IO::T* b, int64_t nb,
                              typename IO::T* out) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float x = IO::load(a, i), y = IO::load(b, i % nb);
    IO::store(out, i, kMul ? x * y : x + y);
  }
}

template <typename IO>
__global__ void scale_kernel(int64_t n, const typename IO::T* a, float alpha, float beta, typename IO::T* out) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    IO::store(out, i, alpha * IO::load(a, i) + beta);
}

template <typename In, typename Out>
__global__ void cast_kernel(int64_t n, const In* a, Out* out) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    if constexpr (std::is_same<Out, __nv_bfloat16>::value) out[i] = __float2bfloat16_rn(static_cast<float>(a[i]));
    else if constexpr (std::is_same<In, __nv_bfloat16>::value) out[i] = __bfloat162float(a[i]);
    else out[i] = static_cast<Out>(a[i]);
  }
}

template <typename T>
__global__ void fill_kernel(int64_t n, T v, T* out) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = v;
}

template <bool kMul>
void binary(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out, const char* name) {
  if (n == 0) return;
  with_float_dtype(dt, name, [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    binary_kernel<IO, kMul><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(
        n, static_cast<const T*>(a), static_cast<const T*>(b), nb, static_cast<T*>(out));
    CUDA_CHECK_LAUNCH(name);
  });
}
}  // namespace

void add(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out) {
  binary<false>(dt, n, a, b, nb, out, "add");
}
void mul(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out) {
  binary<true>(dt, n, a, b, nb, out, "mul");
}

void scale(DType dt, int64_t n, const void* a, float alpha, float beta_add, void* out) {
  if (n == 0) return;
  with_float_dtype(dt, "scale", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    scale_kernel<IO><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(n, static_cast<const T*>(a), alpha,
                                                                   beta_add, static_cast<T*>(out));
    CUDA_CHECK_LAUNCH("scale");
  });
}

void cast(DType from, DType to, int64_t n, const void* a, void* out) {
  if (n == 0) return;
  if (from == to) {
    CUDA_CHECK(cudaMemcpyAsync(out, a, static_cast<size_t>(n) * dtype_size(from), cudaMemcpyDeviceToDevice,
                               stream()));
    return;
  }
  unsigned g = grid_for(n, kBlock);
  if (from == DType::F32 && to == DType::BF16)
    cast_kernel<<<g, kBlock, 0, stream()>>>(n, static_cast<const float*>(a), static_cast<__nv_bfloat16*>(out));
  else if (from == DType::BF16 && to == DType::F32)
    cast_kernel<<<g, kBlock, 0, stream()>>>(n, static_cast<const __nv_bfloat16*>(a), static_cast<float*>(out));
  else if (from == DType::I32 && to == DType::F32)
    cast_kernel<<<g, kBlock, 0, stream()>>>(n, static_cast<const int32_t*>(a), static_cast<float*>(out));
  else
    throw Error(std::string("cast: ") + dtype_name(from) + " -> " + dtype_name(to) + " is not supported");
  CUDA_CHECK_LAUNCH("cast");
}

void fill(DType dt, int64_t n, float value, void* out) {
  if (n == 0) return;
  unsigned g = grid_for(n, kBlock);
  switch (dt) {
    case DType::F32: fill_kernel<<<g, kBlock, 0, stream()>>>(n, value, static_cast<float*>(out)); break;
    case DType::BF16:
      fill_kernel<<<g, kBlock, 0, stream()>>>(n, __float2bfloat16_rn(value), static_cast<__nv_bfloat16*>(out));
      break;
    case DType::I32:
      fill_kernel<<<g, kBlock, 0, stream()>>>(n, static_cast<int32_t>(value), static_cast<int32_t*>(out));
      break;
  }
  CUDA_CHECK_LAUNCH("fill");
}

}  // namespace cuda
}  // namespace mathrl
