// Fused sampling over logits rows (the reference twin of native/cuda/sample.cu): repetition penalty ->
// temperature -> top-k -> top-p -> min-p, then one inverse-CDF draw per row from the Philox uniform of
// native/philox.h. Every filter is a threshold on the scaled logit d = (v - vmax) / T, so the kept set
// is {i : d_i >= tau}; see the contract in native/cpu/ops.h and lib/ops/sample.ts.
#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
#include <limits>
#include <string>
#include <vector>

#include "../philox.h"
#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Scratch {
  std::vector<float> v;        // penalised logits, then d
  std::vector<float> tmp;      // selection / sorting buffer
  std::vector<uint8_t> mark;   // tokens to penalise
};

// top-p threshold over the values in a (the kept d's): the smallest value w with mass(d > w) < p * Z,
// where Z = mass(all of a) and mass(S) = sum of exp(d) over S; every value tied with w is kept. A
// weighted quickselect (expected O(n), a reordered a): partition the range three ways around a pivot
// value pv; if the mass above the range plus that of the values > pv is < p * Z, pv is kept and the
// answer is pv or lower (continue with the values < pv), else it lies among the values > pv.
float top_p_threshold(std::vector<float>& a, float p) {
  double Z = 0;
  for (float x : a) Z += std::exp(x);
  const double pz = static_cast<double>(p) * Z;
  size_t lo = 0, hi = a.size();
  double above = 0;  // mass of the values greater than every value in [lo, hi)
  float ans = -kInf;
  uint32_t rs = 0x9e3779b9u ^ static_cast<uint32_t>(a.size());
  while (lo < hi) {
    rs ^= rs << 13;  // xorshift32: a deterministic pseudo-random pivot
    rs ^= rs >> 17;
    rs ^= rs << 5;
    const float pv = a[lo + rs % (hi - lo)];
    size_t lt = lo, i = lo, gt = hi;  // -> [lo, lt) > pv, [lt, gt) == pv, [gt, hi) < pv
    while (i < gt) {
      if (a[i] > pv)
        std::swap(a[lt++], a[i++]);
      else if (a[i] < pv)
        std::swap(a[i], a[--gt]);
      else
        ++i;
    }
    double greater = 0;
    for (size_t k = lo; k < lt; ++k) greater += std::exp(a[k]);
    if (above + greater < pz) {
      ans = pv;
      above += greater + static_cast<double>(gt - lt) * std::exp(pv);
      if (above >= pz) break;
      lo = gt;
    } else {
      hi = lt;  // non-empty: above < pz <= above + greater
    }
  }
  return ans;
}

template <typename IO>
void sample_row(int64_t r, int64_t V, const typename IO::T* row, const float* fp, const int32_t* ip, int64_t L,
                const int32_t* prev, uint64_t offset, int32_t* tokens, float* logprobs, Scratch& s) {
  const float temp = fp[0], top_p = fp[1], min_p = fp[2], penalty = fp[3];
  const int32_t top_k = ip[0];
  const uint32_t seed = static_cast<uint32_t>(ip[1]), stream = static_cast<uint32_t>(ip[2]);
  std::vector<float>& v = s.v;
  v.resize(V);
  for (int64_t c = 0; c < V; ++c) v[c] = IO::load(row, c);
  // Repetition penalty (HF): once per distinct previous token; negative ids are padding.
  if (L > 0 && penalty != 1.f) {
    const int32_t* pr = prev + r * L;
    for (int64_t j = 0; j < L; ++j)
      if (pr[j] >= 0 && !s.mark[pr[j]]) {
        s.mark[pr[j]] = 1;
        float& x = v[pr[j]];
        x = x > 0.f ? x / penalty : x * penalty;
      }
    for (int64_t j = 0; j < L; ++j)
      if (pr[j] >= 0) s.mark[pr[j]] = 0;
  }
  // Maximum (lowest index on ties); NaN / +inf anywhere, or nothing above -inf, make the row invalid.
  float vmax = -kInf;
  int64_t arg = -1;
  bool bad = false;
  for (int64_t c = 0; c < V; ++c) {
    float x = v[c];
    if (x != x || x == kInf) bad = true;
    if (x > vmax) {
      vmax = x;
      arg = c;
    }
  }
  if (bad || arg < 0) {
    tokens[r] = -1;
    logprobs[r] = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  if (!(temp > 0.f)) {  // greedy: log-softmax of the (penalised) logits at the argmax, no filters
    double z = 0;
    for (int64_t c = 0; c < V; ++c) z += std::exp(v[c] - vmax);
    tokens[r] = static_cast<int32_t>(arg);
    logprobs[r] = static_cast<float>(-std::log(z)) + 0.0f;  // + 0: log 1 gives +0, not -0
    return;
  }
  // d = (v - vmax) * (1 / T), exactly as on CUDA (one IEEE subtract and multiply; 0 at the maximum, so
  // no -0 and no 0 * inf for a tiny T).
  const float inv = 1.0f / temp;
  for (int64_t c = 0; c < V; ++c) {
    float diff = v[c] - vmax;
    v[c] = diff == 0.f ? 0.f : diff * inv;
  }
  float tau = -kInf;
  std::vector<float>& t = s.tmp;
  if (top_k > 0 && top_k < V) {  // the k-th largest value; every value tied with it is kept
    t.assign(v.begin(), v.end());
    std::nth_element(t.begin(), t.begin() + (top_k - 1), t.end(), std::greater<float>());
    tau = t[top_k - 1];
  }
  if (top_p < 1.f) {
    t.clear();
    for (int64_t c = 0; c < V; ++c)
      if (v[c] >= tau) t.push_back(v[c]);
    tau = std::max(tau, top_p_threshold(t, top_p));
  }
  if (min_p > 0.f) tau = std::max(tau, std::log(min_p));  // p_i >= min_p * p_max  <=>  d_i >= log(min_p)
  double Z = 0;
  for (int64_t c = 0; c < V; ++c)
    if (v[c] >= tau) Z += std::exp(v[c]);
  // Inverse CDF in index order: the first kept token whose running mass exceeds u * Z.
  const double target = static_cast<double>(sample_uniform(seed, stream, offset)) * Z;
  double cum = 0;
  int64_t tok = -1, last = -1;
  for (int64_t c = 0; c < V; ++c) {
    if (!(v[c] >= tau)) continue;
    float e = std::exp(v[c]);
    if (e <= 0.f) continue;
    cum += e;
    last = c;
    if (cum > target) {
      tok = c;
      break;
    }
  }
  if (tok < 0) tok = last;  // rounding: u * Z beyond the accumulated mass
  tokens[r] = static_cast<int32_t>(tok);
  logprobs[r] = static_cast<float>(static_cast<double>(v[tok]) - std::log(Z));
}

}  // namespace

void sample(DType dt, int64_t R, int64_t V, const void* logits, const float* fparams, const int32_t* iparams,
            int64_t L, const int32_t* prev, uint64_t offset, int32_t* tokens, float* logprobs) {
  // Refuse out-of-range previous tokens before writing anything.
  for (int64_t i = 0; i < R * L; ++i)
    if (prev[i] >= V)
      throw Error("sample: previousTokens[" + std::to_string(i / L) + ", " + std::to_string(i % L) + "] = " +
                  std::to_string(prev[i]) + " is out of range for a vocabulary of " + std::to_string(V));
  with_float_dtype(dt, "sample", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* x = static_cast<const T*>(logits);
    parallel_for(R, [&](int64_t b, int64_t e, int) {
      Scratch s;
      if (L > 0) s.mark.assign(V, 0);
      for (int64_t r = b; r < e; ++r)
        sample_row<IO>(r, V, x + r * V, fparams + r * 4, iparams + r * 3, L, prev, offset, tokens, logprobs, s);
    });
  });
}

}  // namespace cpu
}  // namespace mathrl
