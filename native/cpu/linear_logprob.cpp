// Fused linear log-prob: log-softmax of hidden @ weight^T / temperature gathered at the target, and the
// softmax entropy, chunk by chunk over the vocabulary (the [N, V] logits are never stored): CPU reference.
// Chunk logits come from the CPU GEMM (gemm.cpp) into an [N, C] f32 scratch; per-row running state is
// kept in double: max m, s = sum exp(z - m), q = sum exp(z - m) (z - m), and the target logit.
// Then lse = m + log s and entropy = log s - q / s.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {

void check_targets(const char* op, int64_t N, int64_t V, const int32_t* targets, int32_t ignore_index) {
  for (int64_t r = 0; r < N; ++r) {
    int32_t t = targets[r];
    if (t != ignore_index && (t < 0 || t >= V))
      throw Error(std::string(op) + ": target " + std::to_string(t) + " at row " + std::to_string(r) +
                  " is out of range [0, " + std::to_string(V) + ") and is not ignoreIndex (" +
                  std::to_string(ignore_index) + ")");
  }
}

// z[N, Cw] (f32 scratch) = inv_temp * hidden[N, D] @ weight[c0:c0+Cw, D]^T
void chunk_logits(DType dt, int64_t N, int64_t D, int64_t c0, int64_t Cw, const void* hidden, const void* weight,
                  float inv_temp, float* z) {
  GemmArgs g;
  g.transB = true;
  g.M = N;
  g.N = Cw;
  g.K = D;
  g.alpha = inv_temp;
  g.beta = 0.f;
  g.A = hidden;
  g.B = static_cast<const char*>(weight) + static_cast<size_t>(c0 * D) * dtype_size(dt);
  g.C = z;
  g.dtA = g.dtB = dt;
  g.dtC = DType::F32;
  gemm(g);
}

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(cols, 1)); }

}  // namespace

void linear_logprob(DType dt, int64_t N, int64_t V, int64_t D, int64_t C, const void* hidden, const void* weight,
                    const int32_t* targets, int32_t ignore_index, float inv_temp, float* logp, float* entropy,
                    float* lse, float* state, float* scratch) {
  (void)state;  // the CUDA twin keeps its running state there; here it is double
  check_targets("linearLogprob", N, V, targets, ignore_index);
  if (N == 0) return;
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> st(static_cast<size_t>(N * 4));
  for (int64_t r = 0; r < N; ++r) {
    st[r * 4 + 0] = ninf;
    st[r * 4 + 1] = 0;
    st[r * 4 + 2] = 0;
    st[r * 4 + 3] = std::numeric_limits<double>::quiet_NaN();
  }
  for (int64_t c0 = 0; c0 < V; c0 += C) {
    int64_t Cw = std::min(C, V - c0);
    chunk_logits(dt, N, D, c0, Cw, hidden, weight, inv_temp, scratch);
    parallel_for(N, [&](int64_t s0, int64_t s1, int) {
      for (int64_t r = s0; r < s1; ++r) {
        const float* z = scratch + r * Cw;
        double* S = st.data() + r * 4;
        double cm = ninf;
        bool nan = false;
        for (int64_t j = 0; j < Cw; ++j) {
          if (std::isnan(z[j])) nan = true;
          cm = std::max<double>(cm, z[j]);
        }
        if (nan) {
          S[1] = S[2] = std::numeric_limits<double>::quiet_NaN();
        } else if (cm > S[0]) {
          if (S[0] != ninf) {  // rescale the running sums to the new max
            double f = std::exp(S[0] - cm);
            S[2] = f * (S[2] + S[1] * (S[0] - cm));
            S[1] *= f;
          }
          S[0] = cm;
        }
        if (S[0] != ninf && !nan)
          for (int64_t j = 0; j < Cw; ++j) {
            double d = static_cast<double>(z[j]) - S[0];
            double e = std::exp(d);  // exp(-inf) = 0: -inf logits add nothing
            S[1] += e;
            if (e > 0) S[2] += e * d;
          }
        int32_t t = targets[r];
        if (t != ignore_index && t >= c0 && t < c0 + Cw) S[3] = z[t - c0];
      }
    }, row_grain(Cw));
  }
  for (int64_t r = 0; r < N; ++r) {
    const double* S = st.data() + r * 4;
    double ls = std::log(S[1]);
    lse[r] = static_cast<float>(S[0] + ls);
    if (targets[r] == ignore_index) {
      logp[r] = 0.f;
      entropy[r] = 0.f;
    } else {
      logp[r] = static_cast<float>(S[3] - (S[0] + ls));
      entropy[r] = static_cast<float>(ls - S[2] / S[1]);
    }
  }
}

void linear_logprob_backward(DType dt, int64_t N, int64_t V, int64_t D, int64_t C, const void* hidden,
                             const void* weight, const int32_t* targets, int32_t ignore_index, float inv_temp,
                             const float* lse, const float* entropy, const float* dlogp, const float* dentropy,
                             float* dhidden, float* dweight, bool accumulate, float* scratch, void* grad_scratch) {
  check_targets("linearLogprobBackward", N, V, targets, ignore_index);
  if (N == 0) {
    if (!accumulate) std::fill(dweight, dweight + V * D, 0.f);
    return;
  }
  const size_t esz = dtype_size(dt);
  for (int64_t c0 = 0; c0 < V; c0 += C) {
    int64_t Cw = std::min(C, V - c0);
    chunk_logits(dt, N, D, c0, Cw, hidden, weight, inv_temp, scratch);
    // dz = dlogp * (onehot - p) - dentropy * p * (z - E[z]),  E[z] = lse - entropy
    parallel_for(N, [&](int64_t s0, int64_t s1, int) {
      for (int64_t r = s0; r < s1; ++r) {
        float* z = scratch + r * Cw;
        uint16_t* gb = dt == DType::BF16 ? static_cast<uint16_t*>(grad_scratch) + r * Cw : nullptr;
        int32_t t = targets[r];
        bool skip = t == ignore_index;
        double L = lse[r], Ez = static_cast<double>(lse[r]) - entropy[r];
        double dl = dlogp[r], de = dentropy ? dentropy[r] : 0.0;
        for (int64_t j = 0; j < Cw; ++j) {
          float g = 0.f;
          if (!skip) {
            double p = std::exp(static_cast<double>(z[j]) - L);
            double v = dl * ((c0 + j == t ? 1.0 : 0.0) - p);
            if (de != 0.0) v -= de * p * (static_cast<double>(z[j]) - Ez);
            g = static_cast<float>(v);
          }
          if (gb) gb[j] = f32_to_bf16(g);
          else z[j] = g;
        }
      }
    }, row_grain(Cw));
    const void* G = dt == DType::BF16 ? grad_scratch : static_cast<const void*>(scratch);
    const void* Wc = static_cast<const char*>(weight) + static_cast<size_t>(c0 * D) * esz;
    GemmArgs a;  // dhidden (+)= inv_temp * dz @ W_chunk
    a.M = N;
    a.N = D;
    a.K = Cw;
    a.alpha = inv_temp;
    a.beta = c0 > 0 ? 1.f : 0.f;
    a.A = G;
    a.B = Wc;
    a.C = dhidden;
    a.dtA = a.dtB = dt;
    a.dtC = DType::F32;
    gemm(a);
    GemmArgs b;  // dweight[chunk] (+)= inv_temp * dz^T @ hidden
    b.transA = true;
    b.M = Cw;
    b.N = D;
    b.K = N;
    b.alpha = inv_temp;
    b.beta = accumulate ? 1.f : 0.f;
    b.A = G;
    b.B = hidden;
    b.C = dweight + c0 * D;
    b.dtA = b.dtB = dt;
    b.dtC = DType::F32;
    gemm(b);
  }
}

}  // namespace cpu
}  // namespace mathrl
