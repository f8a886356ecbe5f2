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

// ---- Sampling (sample) -------------------------------------------------------------------------
// One token per row of logits [R, V] (dtype dt). Per-row parameters: fparams f32 [R, 4] =
// (temperature, top_p, min_p, repetition_penalty), iparams i32 [R, 3] = (top_k, seed, stream).
// prev i32 [R, L] (L may be 0, prev then unused): tokens to penalise, negative ids are padding; an id
// >= V is an Error on the CPU (thrown before writing) and ignored on CUDA (whose penalty needs
// V <= 327,680). Filters: penalty -> d = (v - vmax)/T -> top-k -> top-p -> min-p, each a threshold on d
// (ties at a threshold kept); the draw is the inverse CDF, in index order, of the kept softmax at
// u = sample_uniform(seed, stream, offset) (native/philox.h). T <= 0: greedy (argmax, lowest index).
// tokens[r] = -1 and logprobs[r] = NaN for a row with NaN / +inf or no finite logit.
void sample(DType dt, int64_t R, int64_t V, const void* logits, const float* fparams, const int32_t* iparams,
            int64_t L, const int32_t* prev, uint64_t offset, int32_t* tokens, float* logprobs);
// ---- GRPO (grpo_advantages, grpo_loss, linear_logprob) ------------------------------------------
// Group-relative advantages (outcome supervision). rewards f32 [B*G], groups of G consecutive entries:
// adv = (r - mean_group) / (std + eps) with the unbiased std over the group (scale 0 'group') or over all
// B*G rewards (scale 1 'batch'; the mean stays per group), or adv = r - mean_group (scale 2 'none').
// A std over one value is 0 (TRL). Needs G >= 1 and B*G divisible by G.
void grpo_advantages(int64_t B, int64_t G, const float* rewards, int scale, float eps, float* adv);
// Process supervision (DeepSeekMath 4.1.3). Rows n in [0, B*G) (groups of G rows); each row has up to S
// steps: step s exists iff ends[n, s] >= 0 (pad with -1); its reward is rewards[n, s] and its last token
// is ends[n, s] (positions >= T count as T-1). The rewards of all steps of a group are normalised with the
// group's mean and unbiased std (or the batch's std, or not scaled, as above); then
// adv[n, t] = sum of normalised rewards of the row's steps with end >= t, times (mask[n, t] != 0) when a
// mask (f32 or i32 [B*G, T]) is given.
void grpo_process_advantages(int64_t B, int64_t G, int64_t S, int64_t T, const float* rewards, const int32_t* ends,
                             DType mask_dt, const void* mask, int scale, float eps, float* adv);
// Fused GRPO loss over [N, T] tokens (TRL GRPOTrainer._compute_loss). Per token with mask m != 0:
// r = exp(logp - old) (old = logp when old_logp is null), c1 = has_delta ? min(r, delta) : r,
// c2 = clamp(r, 1 - eps_low, 1 + eps_high), l = -min(c1*A, c2*A) + beta*kl (beta term when beta != 0),
// kl = exp(ref - logp) - (ref - logp) - 1 (k3; 0 without ref). A = adv[n] or adv[n, t] (adv_per_token).
// loss_type 0 grpo: mean_n(sum_t m*l / max(1, sum_t m)) * grad_scale; 1 bnpo: sum m*l / max(1, sum m) *
// grad_scale; 2 dapo: sum m*l / (normalizer > 0 ? normalizer : max(1, sum m)); 3 dr_grpo:
// sum m*l / (N * normalizer) * grad_scale. dlogp (nullable) = d loss / d logp exactly (torch.minimum
// splits ties evenly; clamp passes the gradient on its closed interval). metrics f32 [8]: mask-weighted
// means over max(1, sum m) of kl, low-clipped (c1 < 1-eps_low & A < 0), high-clipped (c1 > 1+eps_high &
// A > 0), either; ratio mean, min, max (NaN when no token); sum m. work: f32 [N*9 + 1] scratch.
void grpo_loss(int64_t N, int64_t T, const float* logp, const float* old_logp, const float* ref_logp,
               const float* adv, bool adv_per_token, DType mask_dt, const void* mask, float eps_low, float eps_high,
               float beta, bool has_delta, float delta, int loss_type, float normalizer, float grad_scale,
               float* loss, float* metrics, float* dlogp, float* work);
// Fused linear log-prob over a vocabulary in chunks of C columns (the [N, V] logits are never stored).
// hidden [N, D] and weight [V, D] of dtype dt (f32 or bf16), targets i32 [N]. z = inv_temp * hidden @
// weight^T, computed per chunk with gemm into scratch f32 [N, min(C, V)]; state f32 [N, 4] holds the
// running (max, sum exp, shifted entropy sum, target logit) between chunks. Writes lse[N] = logsumexp(z),
// logp[N] = z[target] - lse and entropy[N] = -sum softmax(z) log softmax(z); rows whose target is
// ignore_index get logp = entropy = 0. Out-of-range targets: the CPU throws before writing; CUDA writes a
// NaN logp (no gradient in the backward) and records the target (linear_logprob_index_error).
void linear_logprob(DType dt, int64_t N, int64_t V, int64_t D, int64_t C, const void* hidden, const void* weight,
                    const int32_t* targets, int32_t ignore_index, float inv_temp, float* logp, float* entropy,
                    float* lse, float* state, float* scratch);
// Backward of linear_logprob given its lse and entropy: per chunk, z is recomputed and
// dz = dlogp * (onehot(target) - p) - dentropy * p * (z - (lse - entropy)) (dentropy nullable; 0 on
// ignored rows), then dhidden f32 [N, D] = inv_temp * sum_chunks dz @ W_chunk (written) and
// dweight f32 [V, D] (+)= inv_temp * dz^T @ hidden (added when accumulate, else written). scratch f32
// [N, min(C, V)]; grad_scratch (bf16 only) bf16 [N, min(C, V)] holds dz for the bf16 GEMMs.
void linear_logprob_backward(DType dt, int64_t N, int64_t V, int64_t D, int64_t C, const void* hidden,
                             const void* weight, const int32_t* targets, int32_t ignore_index, float inv_temp,
                             const float* lse, const float* entropy, const float* dlogp, const float* dentropy,
                             float* dhidden, float* dweight, bool accumulate, float* scratch, void* grad_scratch);

}  // namespace cpu
}  // namespace mathrl
