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
// ---- Per-token transformer kernels (rmsnorm, rope, swiglu, embedding, cross_entropy) ----------
// RMSNorm over the last dim of x [rows, D] (f32 math): rstd[r] = 1/sqrt(mean(x_r^2) + eps),
// y = x * rstd * w. x/y have dtype dx, w has dtype dw (f32 or bf16 each).
void rmsnorm(DType dx, DType dw, int64_t rows, int64_t D, const void* x, const void* w, float eps, void* y,
             float* rstd);
// Backward of rmsnorm: dxo = rstd*(dy*w) - x*rstd^3/D*sum(dy*w*x) (dy, x, dxo of dtype dx);
// dweight (f32 [D]) = sum over rows of dy*x*rstd, added into dweight when accumulate, else written.
void rmsnorm_backward(DType dx, DType dw, int64_t rows, int64_t D, const void* dy, const void* x, const void* w,
                      const float* rstd, void* dxo, float* dweight, bool accumulate);
// Rotary embedding (HF Llama rotate_half) of x [B, T, H, Dh] (Dh even): for i < Dh/2,
// angle = pos * theta^(-2i/Dh) (double), (x_i, x_{i+Dh/2}) -> (x_i c - x_{i+Dh/2} s, x_{i+Dh/2} c + x_i s);
// inverse rotates by -angle. pos is [B, T] when pos_batched, else [T]. y may equal x.
void rope(DType dt, int64_t B, int64_t T, int64_t H, int64_t Dh, const void* x, const int32_t* pos,
          bool pos_batched, double theta, bool inverse, void* y);
// h = silu(gate) * up, elementwise over n values; and its backward.
void swiglu(DType dt, int64_t n, const void* gate, const void* up, void* h);
void swiglu_backward(DType dt, int64_t n, const void* dh, const void* gate, const void* up, void* dgate,
                     void* dup);
// out[n, :] = table[ids[n], :] for n < N; table [V, D] and out of dtype dt. Out-of-range ids: the CPU
// throws (before writing anything); CUDA writes a NaN row and records the error (see cuda/ops.h).
void embedding(DType dt, int64_t N, int64_t V, int64_t D, const int32_t* ids, const void* table, void* out);
// dtable[ids[n], :] += dout[n, :] (dtable f32 [V, D], dout of dtype dt). Deterministic on the CPU.
void embedding_backward(DType dt, int64_t N, int64_t V, int64_t D, const void* dout, const int32_t* ids,
                        float* dtable);
// Fused softmax cross-entropy over logits [N, V] (dtype dt), targets [N]. Rows whose target is
// ignore_index are ignored. Writes losses[N] (0 for ignored rows), count[0] = non-ignored rows,
// loss[0] = sum(losses)/count (0 when count is 0) and, when dlogits is not null, dlogits [N, V]
// (dtype dt) = (softmax - onehot) * scale (0 on ignored rows), scale = has_scale ? grad_scale :
// 1/count. dlogits may equal logits (in place). No [N, V] temporary is formed.
void cross_entropy(DType dt, int64_t N, int64_t V, const void* logits, const int32_t* targets, int32_t ignore_index,
                   bool has_scale, float grad_scale, float* losses, float* loss, float* count, void* dlogits);

// ---- Inference (kv_cache, attention_decode, argmax) ----------------------------------------------
// cache [Bc, S, H, Dh] and x [Bx, T, H, Dh] of dtype dt (f32 or bf16): for each x row b, cache row
// r = rows ? rows[b] : b gets x[b] at positions start[b] .. start[b] + T - 1. rows must be distinct and
// in [0, Bc), 0 <= start[b] and start[b] + T <= S: the CPU throws (before writing anything); CUDA skips
// a bad row and records it (see kv_cache_index_error).
void kv_cache_write(DType dt, int64_t Bc, int64_t S, int64_t Bx, int64_t T, int64_t H, int64_t Dh, void* cache,
                    const void* x, const int32_t* start, const int32_t* rows);
// out[b, h] = softmax_j(scale * q[b, h] · k[r, j, g]) · v[r, j, g] over j < lengths[b], with
// r = rows ? rows[b] : b and g = h / (Hq / Hkv). q, out [Bq, Hq, Dh]; k, v [Bc, S, Hkv, Dh]; dtype dt;
// f32 math. lengths[b] = 0 gives zeros. Bad rows / lengths: the CPU throws; CUDA writes a NaN row and
// records it (see attention_decode_index_error).
void attention_decode(DType dt, int64_t Bq, int64_t Bc, int64_t S, int64_t Hq, int64_t Hkv, int64_t Dh, float scale,
                      const void* q, const void* k, const void* v, const int32_t* lengths, const int32_t* rows,
                      void* out);
// For each row of x [R, V] (dtype dt): index[r] = argmax (lowest index on ties; the first NaN wins over
// numbers) and logprob[r] = log_softmax(x[r])[index[r]] (NaN when the row has a NaN or is all -inf).
void argmax(DType dt, int64_t R, int64_t V, const void* x, int32_t* index, float* logprob);

}  // namespace cpu
}  // namespace mathrl
