#include "cuda_common.cuh"
#include "runtime.h"

namespace mathrl {
namespace cuda {

namespace {
cudaStream_t g_stream = nullptr;
}

const Info& info() {
  static Info inf = [] {
    Info r;
    cudaRuntimeGetVersion(&r.runtime_version);
    cudaDriverGetVersion(&r.driver_version);  // 0 when no driver is installed
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      r.reason = r.driver_version == 0 ? std::string("no NVIDIA driver found (") + cudaGetErrorString(e) + ")"
                                       : std::string(cudaGetErrorString(e));
      cudaGetLastError();  // clear the error so later calls start clean
      return r;
    }
    r.devices = n;
    if (n == 0) {
      r.reason = "no CUDA device visible";
      return r;
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess) {
      r.reason = cudaGetErrorString(e);
      cudaGetLastError();
      return r;
    }
    r.name = p.name;
    r.cc_major = p.major;
    r.cc_minor = p.minor;
    r.total_memory = p.totalGlobalMem;
    if (p.major < 8) {
      r.reason = "compute capability " + std::to_string(p.major) + "." + std::to_string(p.minor) +
                 " is below 8.0 (bf16 tensor cores needed)";
      return r;
    }
    r.available = true;
    return r;
  }();
  return inf;
}

void require() {
  const Info& i = info();
  if (!i.available) throw Error("CUDA device not available: " + i.reason);
}

cudaStream_t stream() {
  if (!g_stream) {
    require();
    CUDA_CHECK(cudaSetDevice(0));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  }
  return g_stream;
}

void* malloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 1, stream());
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error("CUDA out of memory allocating " + std::to_string(bytes) + " bytes (" +
                cudaGetErrorString(e) + ")");
  }
  return p;
}

void free(void* p) {
  if (p && g_stream) cudaFreeAsync(p, g_stream);
}

void memcpy_h2d(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()));
  // The source is JS-owned pageable memory that may move or die after we return.
  CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void memcpy_d2h(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
  CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void memcpy_d2d(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

void memset(void* p, int value, size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, value, bytes, stream()));
}

void synchronize() {
  if (g_stream) CUDA_CHECK(cudaStreamSynchronize(g_stream));
}

}  // namespace cuda
}  // namespace mathrl
