// CUDA kernels, twins of native/cpu/ops.h (same names, same contracts). All launch on the one
// stream (mathrl::cuda::stream()) and return without synchronising. Pointers are device pointers.
// Callers (native/binding.cc) have already checked that every buffer is large enough.
#pragma once
#include <cstdint>

#include "../common.h"

namespace mathrl {
namespace cuda {

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

// ---- optimizer (adamw, grad_norm) ----
// AdamW step in place over n elements (torch.optim.AdamW; see native/cpu/adamw.cpp for the formula).
// param, m, v: f32; grad: f32 or bf16, multiplied by grad_scale * (*grad_scale_ptr when non-null, a
// scalar on the same device). The host precomputes decay = 1 - lr*wd, omb1 = 1 - beta1, omb2 = 1 - beta2,
// step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t). copy (nullable): the updated param as
// copy_dt (f32 or bf16).
void adamw(int64_t n, float* param, DType grad_dt, const void* grad, float* m, float* v, float decay, float omb1,
           float beta2, float omb2, float eps, float step_size, float bc2_sqrt, float grad_scale,
           const float* grad_scale_ptr, DType copy_dt, void* copy);
// out[0] += sum of g[i]^2 over n elements of g (f32 or bf16); out is one f32 on the same device.
void grad_norm_sq(DType dt, int64_t n, const void* g, float* out);
// norm[0] = sqrt(sumsq[0]); scale[0] = min(1, max_norm / (norm + 1e-6)) (NaN propagates).
void clip_scale(const float* sumsq, float max_norm, float* norm, float* scale);

// ---- attention (native/{cpu,cuda}/attention): fused attention with grouped-query heads ----------
// q, out, dout, dq: [B, T, Hq, Dh]; k, v, dk, dv: [B, T, Hkv, Dh]; all of dtype dt (f32 or bf16).
// Query head h uses kv head h / (Hq / Hkv). seg: i32 [B, T] or nullptr. lse: f32 [B, Hq, T].
// Query i attends key j iff (!causal || j <= i) && (!seg || seg[b,i] == seg[b,j]); scores are
// scale * q·k. A row with no allowed key gets out = 0 and lse = -inf. The backward recomputes the
// probabilities from q, k and lse (FlashAttention-2); dk/dv sum over the query heads of each group.
void attention_forward(DType dt, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal,
                       float scale, const void* q, const void* k, const void* v, const int32_t* seg, void* out,
                       float* lse);
void attention_backward(DType dt, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t Dh, bool causal,
                        float scale, const void* q, const void* k, const void* v, const int32_t* seg,
                        const void* out, const float* lse, const void* dout, void* dq, void* dk, void* dv);

}  // namespace cuda
}  // namespace mathrl
