// AdamW step (torch.optim.AdamW, decoupled weight decay), in place: CPU reference.
// Per element, in f32 (the host precomputed the step's scalars in double):
//   g = grad * scale;  p *= decay (= 1 - lr*wd);  m += (1-b1)(g - m);  v = b2 v + (1-b2) g^2
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps)      step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t)
// and optionally copy[i] = p (f32, or bf16 rounded to nearest even). Vectorised with vec.h (AVX-512 /
// AVX2 / portable, picked at run time); each element's result is independent of the thread split.
#include "vec.h"  // first: see its note on GCC 12 warnings

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
using vec::V1;
using vec::V256;
using vec::V512;
constexpr int64_t kGrain = 1 << 14;

struct Step {
  float decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt, scale;
};

// Elements [0, n) of the given slices (vector body; the tail through the same vector code).
// CT: float or uint16_t for the compute copy, void for none.
template <class V, class GT, class CT>
inline void adamw_range(int64_t n, float* param, const GT* grad, float* m, float* v, const Step& k, CT* copy) {
  using R = typename V::R;
  auto step = [&](R g, R p, R mi, R vi, R& po, R& mo, R& vo) {
    g = V::mul(g, V::set1(k.scale));
    p = V::mul(p, V::set1(k.decay));
    mo = V::add(mi, V::mul(V::set1(k.omb1), V::sub(g, mi)));
    vo = V::add(V::mul(V::set1(k.beta2), vi), V::mul(V::set1(k.omb2), V::mul(g, g)));
    const R den = V::add(V::div(V::sqrt(vo), V::set1(k.bc2_sqrt)), V::set1(k.eps));
    po = V::sub(p, V::mul(V::set1(k.step_size), V::div(mo, den)));
  };
  int64_t i = 0;
  R po, mo, vo;
  for (; i + V::W <= n; i += V::W) {
    step(V::load(grad + i), V::load(param + i), V::load(m + i), V::load(v + i), po, mo, vo);
    V::store(param + i, po);
    V::store(m + i, mo);
    V::store(v + i, vo);
    if constexpr (!std::is_void<CT>::value) V::store(copy + i, po);
  }
  if (i < n) {
    const int64_t r = n - i;
    step(vec::load_part<V>(grad + i, r, 0.f), vec::load_part<V>(param + i, r, 0.f), vec::load_part<V>(m + i, r, 0.f),
         vec::load_part<V>(v + i, r, 1.f), po, mo, vo);
    vec::store_part<V>(param + i, r, po);
    vec::store_part<V>(m + i, r, mo);
    vec::store_part<V>(v + i, r, vo);
    if constexpr (!std::is_void<CT>::value) vec::store_part<V>(copy + i, r, po);
  }
}

template <class GT, class CT>
MATHRL_VEC_AVX512 void range512(int64_t n, float* p, const GT* g, float* m, float* v, const Step& k, CT* c) {
  adamw_range<V512>(n, p, g, m, v, k, c);
}
template <class GT, class CT>
MATHRL_VEC_AVX2 void range256(int64_t n, float* p, const GT* g, float* m, float* v, const Step& k, CT* c) {
  adamw_range<V256>(n, p, g, m, v, k, c);
}
template <class GT, class CT>
void range1(int64_t n, float* p, const GT* g, float* m, float* v, const Step& k, CT* c) {
  adamw_range<V1>(n, p, g, m, v, k, c);
}

template <class GT, class CT>
void adamw_impl(int64_t n, float* param, const void* gradv, float* m, float* v, const Step& k, void* copyv) {
  const GT* grad = static_cast<const GT*>(gradv);
  CT* copy = static_cast<CT*>(copyv);
  const vec::Isa isa = vec::pick_isa();
  auto fn = isa == vec::Isa::Avx512 ? &range512<GT, CT> : isa == vec::Isa::Avx2 ? &range256<GT, CT> : &range1<GT, CT>;
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    CT* c = nullptr;
    if constexpr (!std::is_void<CT>::value) c = copy + s;
    fn(e - s, param + s, grad + s, m + s, v + s, k, c);
  }, kGrain);
}

template <class GT>
void adamw_copy(int64_t n, float* param, const void* grad, float* m, float* v, const Step& k, DType copy_dt,
                void* copy) {
  if (!copy)
    adamw_impl<GT, void>(n, param, grad, m, v, k, copy);
  else if (copy_dt == DType::F32)
    adamw_impl<GT, float>(n, param, grad, m, v, k, copy);
  else if (copy_dt == DType::BF16)
    adamw_impl<GT, uint16_t>(n, param, grad, m, v, k, copy);
  else
    throw Error(std::string("adamw: computeCopy dtype ") + dtype_name(copy_dt) + " is not supported");
}
}  // namespace

void adamw(int64_t n, float* param, DType grad_dt, const void* grad, float* m, float* v, float decay, float omb1,
           float beta2, float omb2, float eps, float step_size, float bc2_sqrt, float grad_scale,
           const float* grad_scale_ptr, DType copy_dt, void* copy) {
  if (n <= 0) return;
  const Step k{decay, omb1, beta2, omb2, eps, step_size, bc2_sqrt,
               grad_scale * (grad_scale_ptr ? *grad_scale_ptr : 1.f)};
  if (grad_dt == DType::F32)
    adamw_copy<float>(n, param, grad, m, v, k, copy_dt, copy);
  else if (grad_dt == DType::BF16)
    adamw_copy<uint16_t>(n, param, grad, m, v, k, copy_dt, copy);
  else
    throw Error(std::string("adamw: grad dtype ") + dtype_name(grad_dt) + " is not supported");
}

}  // namespace cpu
}  // namespace mathrl
