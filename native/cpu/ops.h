// CPU reference kernels. Each has a CUDA twin of the same name in native/cuda/ops.h with the same
// contract. Pointers are to contiguous buffers; sizes are element counts. Callers (native/binding.cc)
// have already checked that every buffer is large enough.
#pragma once
#include <cstdint>

#include "../common.h"

namespace mathrl {
namespace cpu {

// out[i] = a[i] + b[i % nb]  (nb divides n: b is a trailing-shape broadcast, e.g. a bias)
void add(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out);
// out[i] = a[i] * b[i % nb]
void mul(DType dt, int64_t n, const void* a, const void* b, int64_t nb, void* out);
// out[i] = alpha * a[i] + beta_add
void scale(DType dt, int64_t n, const void* a, float alpha, float beta_add, void* out);
// out = cast(a); f32<->bf16 (and identity copies)
void cast(DType from, DType to, int64_t n, const void* a, void* out);
// Fill with a constant.
void fill(DType dt, int64_t n, float value, void* out);
// Reductions along the last dim of a [rows, cols] matrix; out has rows elements of dtype dt.
void sum_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out);
void max_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out);
// Row-wise softmax / log-softmax of a [rows, cols] matrix (numerically stable).
void softmax_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out);
void log_softmax_lastdim(DType dt, int64_t rows, int64_t cols, const void* a, void* out);
// See GemmArgs in common.h.
void gemm(const GemmArgs& args);

}  // namespace cpu
}  // namespace mathrl
