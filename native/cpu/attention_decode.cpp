// Decode attention (twin: native/cuda/attention_decode.cu): one new query per sequence against the
// first lengths[b] positions of a KV cache, grouped-query heads, f32 math (f32 or bf16 storage).
// Parallel over (row, q head); per task a two-pass softmax over the row's keys (scores in a scratch
// vector of length lengths[b]), then out = sum_j p_j v_j. Rows of length 0 get zeros.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
template <typename IO>
void decode(int64_t Bq, int64_t S, int64_t Hq, int64_t Hkv, int64_t Dh, float scale, const void* qv,
            const void* kv, const void* vv, const int32_t* lengths, const int32_t* rows, void* outv) {
  using T = typename IO::T;
  const T* q = static_cast<const T*>(qv);
  const T* k = static_cast<const T*>(kv);
  const T* v = static_cast<const T*>(vv);
  T* out = static_cast<T*>(outv);
  const int64_t G = Hq / Hkv;
  parallel_for(Bq * Hq, [&](int64_t t0, int64_t t1, int) {
    std::vector<float> qf(Dh), acc(Dh), s;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / Hq, h = t % Hq, g = h / G;
      const int64_t r = rows ? rows[b] : b;
      const int64_t L = lengths[b];
      const T* qr = q + (b * Hq + h) * Dh;
      for (int64_t d = 0; d < Dh; ++d) qf[d] = IO::load(qr, d);
      std::fill(acc.begin(), acc.end(), 0.f);
      s.resize(static_cast<size_t>(L));
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < L; ++j) {
        const T* kr = k + ((r * S + j) * Hkv + g) * Dh;
        float dot = 0.f;
        for (int64_t d = 0; d < Dh; ++d) dot += qf[d] * IO::load(kr, d);
        s[j] = dot * scale;
        mx = std::max(mx, s[j]);
      }
      float sum = 0.f;
      for (int64_t j = 0; j < L; ++j) {
        const float p = std::exp(s[j] - mx);
        sum += p;
        const T* vr = v + ((r * S + j) * Hkv + g) * Dh;
        for (int64_t d = 0; d < Dh; ++d) acc[d] += p * IO::load(vr, d);
      }
      const float inv = L > 0 ? 1.f / sum : 0.f;
      T* o = out + (b * Hq + h) * Dh;
      for (int64_t d = 0; d < Dh; ++d) IO::store(o, d, acc[d] * inv);
    }
  });
}
}  // namespace

void attention_decode(DType dt, int64_t Bq, int64_t Bc, int64_t S, int64_t Hq, int64_t Hkv, int64_t Dh, float scale,
                      const void* q, const void* k, const void* v, const int32_t* lengths, const int32_t* rows,
                      void* out) {
  const char* op = "attentionDecode";
  if (Hq < 1 || Hkv < 1 || Dh < 1 || Hq % Hkv != 0)
    throw Error(std::string(op) + ": invalid head configuration (Hq " + std::to_string(Hq) + ", Hkv " +
                std::to_string(Hkv) + ", Dh " + std::to_string(Dh) + ")");
  for (int64_t b = 0; b < Bq; ++b) {
    const int64_t r = rows ? rows[b] : b;
    if (r < 0 || r >= Bc)
      throw Error(std::string(op) + ": rows[" + std::to_string(b) + "] = " + std::to_string(r) +
                  " is outside the cache batch " + std::to_string(Bc));
    if (lengths[b] < 0 || lengths[b] > S)
      throw Error(std::string(op) + ": lengths[" + std::to_string(b) + "] = " + std::to_string(lengths[b]) +
                  " is outside [0, " + std::to_string(S) + "] (the cache length)");
  }
  if (Bq == 0) return;
  with_float_dtype(dt, op, [&](auto io) {
    decode<decltype(io)>(Bq, S, Hq, Hkv, Dh, scale, q, k, v, lengths, rows, out);
  });
}

}  // namespace cpu
}  // namespace mathrl
