// A sticky record of the first out-of-range index a kernel met (embedding ids, cross-entropy targets),
// kept in mapped pinned host memory: kernels write it with one 64-bit store, and the host reads it
// without synchronising (it sees what finished kernels wrote). Each .cu that includes this has its own.
#pragma once
#include "cuda_common.cuh"

namespace mathrl {
namespace cuda {
namespace {

// 0: nothing recorded; else ((position + 1) << 32) | uint32(id).
struct IndexFlag {
  unsigned long long* host = nullptr;
  unsigned long long* dev = nullptr;
};

inline IndexFlag& index_flag() {
  static IndexFlag f;
  if (!f.host) {
    stream();  // selects the device (and throws if there is none)
    void* h = nullptr;
    CUDA_CHECK(cudaHostAlloc(&h, sizeof(unsigned long long), cudaHostAllocMapped));
    *static_cast<volatile unsigned long long*>(h) = 0ull;
    void* d = nullptr;
    cudaError_t e = cudaHostGetDevicePointer(&d, h, 0);
    if (e != cudaSuccess) {
      cudaFreeHost(h);
      check(e, "cudaHostGetDevicePointer");
    }
    f.host = static_cast<unsigned long long*>(h);
    f.dev = static_cast<unsigned long long*>(d);
  }
  return f;
}

__device__ __forceinline__ void record_bad_index(unsigned long long* flag, int64_t position, int32_t id) {
  volatile unsigned long long* f = flag;
  if (*f == 0ull)
    *f = (static_cast<unsigned long long>(position + 1) << 32) | static_cast<unsigned long long>(static_cast<uint32_t>(id));
}

inline bool take_index_error(bool sync, int64_t* position, int64_t* id) {
  IndexFlag& f = index_flag();
  if (sync) CUDA_CHECK(cudaStreamSynchronize(stream()));
  volatile unsigned long long* h = f.host;
  unsigned long long v = *h;
  if (v == 0ull) return false;
  *h = 0ull;
  *position = static_cast<int64_t>(v >> 32) - 1;
  *id = static_cast<int32_t>(static_cast<uint32_t>(v & 0xffffffffull));
  return true;
}

}  // namespace
}  // namespace cuda
}  // namespace mathrl
