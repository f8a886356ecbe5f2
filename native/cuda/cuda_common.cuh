// Shared helpers for CUDA kernels: error checks, the one stream, launch sizing.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>

#include <string>

#include "../common.h"

namespace mathrl {
namespace cuda {

// The single stream every kernel and copy of this process runs on (created lazily).
cudaStream_t stream();

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw ::mathrl::Error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace cuda
}  // namespace mathrl

#define CUDA_CHECK(expr) ::mathrl::cuda::check((expr), #expr)
// After a kernel launch: catches bad launch configurations without synchronising.
#define CUDA_CHECK_LAUNCH(name) ::mathrl::cuda::check(cudaGetLastError(), name)
