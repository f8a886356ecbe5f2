// Binding for the fused linear log-prob (native/cpu/linear_logprob.cpp, native/cuda/linear_logprob.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {
namespace {

// Throws the out-of-range target an earlier CUDA call recorded (read without synchronising).
void throw_pending_target_error(Device dev) {
#ifdef MATHRL_WITH_CUDA
  if (dev != Device::CUDA) return;
  int64_t pos = 0, id = 0;
  if (cuda::linear_logprob_index_error(false, &pos, &id))
    throw Error("linearLogprob (CUDA): target " + std::to_string(id) + " at row " + std::to_string(pos) +
                " was out of range in an earlier call; its logp was set to NaN and it got no gradient");
#else
  (void)dev;
#endif
}

struct Common {
  DType dt;
  int64_t N, V, D, C;
  Buffer *hidden, *weight, *targets;
  int32_t ignore;
  float inv_temp;
  Device dev;
};

// (dt, N, V, D, C, hidden, weight, targets, ignoreIndex, invTemp) at arguments 0..9.
Common common(const Args& a) {
  Common c;
  c.dt = a.dtype(0);
  if (c.dt == DType::I32) throw Error(std::string(a.op) + ": i32 hidden states are not supported");
  c.N = a.count(1);
  c.V = a.count(2);
  c.D = a.count(3);
  c.C = a.count(4);
  c.hidden = a.buffer(5, "hidden");
  c.weight = a.buffer(6, "lmHead");
  c.targets = a.buffer(7, "targets");
  double ig = a.num(8);
  if (ig != std::floor(ig) || ig < -2147483648.0 || ig > 2147483647.0)
    throw Error(std::string(a.op) + ": ignoreIndex must be a 32-bit integer");
  c.ignore = static_cast<int32_t>(ig);
  double it = a.num(9);
  if (!(std::isfinite(it) && it > 0)) throw Error(std::string(a.op) + ": 1/temperature must be finite and > 0");
  c.inv_temp = static_cast<float>(it);
  if (c.V < 1 || c.D < 1 || c.C < 1) throw Error(std::string(a.op) + ": V, D and the chunk size must be >= 1");
  c.dev = c.hidden->device();
  need(a.op, "hidden", c.hidden, c.dev, c.N * c.D, c.dt);
  need(a.op, "lmHead", c.weight, c.dev, c.V * c.D, c.dt);
  need(a.op, "targets", c.targets, c.dev, c.N, DType::I32);
  return c;
}

// linearLogprob(dt, N, V, D, C, hidden, weight, targets, ignoreIndex, invTemp, logp, entropy, lse, state, scratch)
Napi::Value LinearLogprob(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "linearLogprob"};
    Common c = common(a);
    Buffer* logp = a.buffer(10, "logp");
    Buffer* entropy = a.buffer(11, "entropy");
    Buffer* lse = a.buffer(12, "lse");
    Buffer* state = a.buffer(13, "state");
    Buffer* scratch = a.buffer(14, "scratch");
    int64_t Cs = c.C < c.V ? c.C : c.V;
    need(a.op, "logp", logp, c.dev, c.N, DType::F32);
    need(a.op, "entropy", entropy, c.dev, c.N, DType::F32);
    need(a.op, "lse", lse, c.dev, c.N, DType::F32);
    need(a.op, "state", state, c.dev, c.N * 4, DType::F32);
    need(a.op, "scratch", scratch, c.dev, c.N * Cs, DType::F32);
    throw_pending_target_error(c.dev);
    dispatch(c.dev, TWIN(linear_logprob(c.dt, c.N, c.V, c.D, Cs, c.hidden->ptr(), c.weight->ptr(),
                                        static_cast<const int32_t*>(c.targets->ptr()), c.ignore, c.inv_temp,
                                        static_cast<float*>(logp->ptr()), static_cast<float*>(entropy->ptr()),
                                        static_cast<float*>(lse->ptr()), static_cast<float*>(state->ptr()),
                                        static_cast<float*>(scratch->ptr()))));
    return info.Env().Undefined();
  });
}

// linearLogprobBackward(dt, N, V, D, C, hidden, weight, targets, ignoreIndex, invTemp, lse, entropy, dlogp,
//                       dentropy|null, dhidden, dweight, accumulate, scratch, gradScratch|null)
Napi::Value LinearLogprobBackward(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "linearLogprobBackward"};
    Common c = common(a);
    Buffer* lse = a.buffer(10, "lse");
    Buffer* entropy = a.buffer(11, "entropy");
    Buffer* dlogp = a.buffer(12, "dlogp");
    Buffer* dentropy = nullptr;
    Napi::Value dv = a.at(13);
    if (!dv.IsNull() && !dv.IsUndefined()) dentropy = a.buffer(13, "dentropy");
    Buffer* dhidden = a.buffer(14, "dhidden");
    Buffer* dweight = a.buffer(15, "dlmHead");
    bool accumulate = a.flag(16);
    Buffer* scratch = a.buffer(17, "scratch");
    Buffer* gscratch = nullptr;
    Napi::Value gv = a.at(18);
    if (!gv.IsNull() && !gv.IsUndefined()) gscratch = a.buffer(18, "gradScratch");
    int64_t Cs = c.C < c.V ? c.C : c.V;
    need(a.op, "lse", lse, c.dev, c.N, DType::F32);
    need(a.op, "entropy", entropy, c.dev, c.N, DType::F32);
    need(a.op, "dlogp", dlogp, c.dev, c.N, DType::F32);
    if (dentropy) need(a.op, "dentropy", dentropy, c.dev, c.N, DType::F32);
    need(a.op, "dhidden", dhidden, c.dev, c.N * c.D, DType::F32);
    need(a.op, "dlmHead", dweight, c.dev, c.V * c.D, DType::F32);
    need(a.op, "scratch", scratch, c.dev, c.N * Cs, DType::F32);
    if (c.dt == DType::BF16) {
      if (!gscratch) throw Error("linearLogprobBackward: bf16 needs a gradient scratch buffer");
      need(a.op, "gradScratch", gscratch, c.dev, c.N * Cs, DType::BF16);
    }
    throw_pending_target_error(c.dev);
    const float* de = dentropy ? static_cast<const float*>(dentropy->ptr()) : nullptr;
    void* gs = gscratch ? gscratch->ptr() : nullptr;
    dispatch(c.dev, TWIN(linear_logprob_backward(
                        c.dt, c.N, c.V, c.D, Cs, c.hidden->ptr(), c.weight->ptr(),
                        static_cast<const int32_t*>(c.targets->ptr()), c.ignore, c.inv_temp,
                        static_cast<const float*>(lse->ptr()), static_cast<const float*>(entropy->ptr()),
                        static_cast<const float*>(dlogp->ptr()), de, static_cast<float*>(dhidden->ptr()),
                        static_cast<float*>(dweight->ptr()), accumulate, static_cast<float*>(scratch->ptr()), gs)));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("linearLogprob", LinearLogprob);
MATHRL_EXPORT("linearLogprobBackward", LinearLogprobBackward);

}  // namespace mathrl
