// Shared definitions for the CPU and CUDA backends: dtypes, bf16 conversion, errors.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mathrl {

enum class DType : int { F32 = 0, BF16 = 1, I32 = 2 };
enum class Device : int { CPU = 0, CUDA = 1 };

inline size_t dtype_size(DType d) { return d == DType::BF16 ? 2 : 4; }
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
  }
  return "?";
}

// Any failure inside native code throws this; the binding turns it into a JS Error.
struct Error : std::runtime_error {
  explicit Error(const std::string& m) : std::runtime_error(m) {}
};

#define MATHRL_CHECK(cond, msg)                                   \
  do {                                                            \
    if (!(cond)) throw ::mathrl::Error(std::string(msg));         \
  } while (0)

// bf16 <-> f32 on the host. Round to nearest even; NaN stays NaN (quiet).
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// C = alpha * op(A) @ op(B) + beta * C, batched, row-major, contiguous per batch.
//   op(A) is [M,K]: A is stored [M,K] when !transA, [K,M] when transA.
//   op(B) is [K,N]: B is stored [K,N] when !transB, [N,K] when transB.
//   C is [M,N]. stride* = elements between consecutive batch matrices; 0 broadcasts one matrix.
//   dtA == dtB, each F32 or BF16 (accumulation is always f32); dtC is F32 or BF16.
//   beta == 0 means C is write-only (never read, so NaN in C does not propagate), as in BLAS.
struct GemmArgs {
  bool transA = false, transB = false;
  int64_t batch = 1, M = 0, N = 0, K = 0;
  float alpha = 1.f, beta = 0.f;
  const void* A = nullptr;
  const void* B = nullptr;
  void* C = nullptr;
  DType dtA = DType::F32, dtB = DType::F32, dtC = DType::F32;
  int64_t strideA = 0, strideB = 0, strideC = 0;
};

}  // namespace mathrl
