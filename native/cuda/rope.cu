// Rotary position embedding (twin of native/cpu/rope.cpp): one block per token (grid-stride); thread i
// computes the angle pos * theta^(-2i/Dh) and its sin/cos in double once, then rotates pair i of
// every head. Reads x_i and x_{i+Dh/2} before writing them, so y may equal x.
#include "dtype_io.cuh"
#include "ops.h"

namespace mathrl {
namespace cuda {

namespace {

template <typename IO>
__global__ void rope_kernel(int64_t ntok, int64_t T, int64_t H, int64_t Dh, const typename IO::T* x,
                            const int32_t* pos, bool pos_batched, double theta, bool inverse, typename IO::T* y) {
  int64_t half = Dh / 2;
  for (int64_t tok = blockIdx.x; tok < ntok; tok += gridDim.x) {
    double p = static_cast<double>(pos[pos_batched ? tok : tok % T]);
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
      double freq = pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(Dh));
      double sd, cd;
      sincos(p * freq, &sd, &cd);
      float c = static_cast<float>(cd);
      float s = static_cast<float>(inverse ? -sd : sd);
      for (int64_t h = 0; h < H; ++h) {
        int64_t base = (tok * H + h) * Dh;
        float a = IO::load(x, base + i), b = IO::load(x, base + i + half);
        IO::store(y, base + i, a * c - b * s);
        IO::store(y, base + i + half, b * c + a * s);
      }
    }
  }
}

}  // namespace

void rope(DType dt, int64_t B, int64_t T, int64_t H, int64_t Dh, const void* x, const int32_t* pos,
          bool pos_batched, double theta, bool inverse, void* y) {
  int64_t ntok = B * T, half = Dh / 2;
  if (ntok == 0 || H == 0 || half == 0) return;
  int64_t t = (half + 31) / 32 * 32;
  int threads = static_cast<int>(t > 128 ? 128 : t);
  unsigned grid = static_cast<unsigned>(ntok < 65535LL * 16 ? ntok : 65535LL * 16);
  with_float_dtype(dt, "rope", [&](auto io) {
    using IO = decltype(io);
    rope_kernel<IO><<<grid, threads, 0, stream()>>>(ntok, T, H, Dh, static_cast<const typename IO::T*>(x), pos,
                                                    pos_batched, theta, inverse, static_cast<typename IO::T*>(y));
    CUDA_CHECK_LAUNCH("rope");
  });
}

}  // namespace cuda
}  // namespace mathrl
