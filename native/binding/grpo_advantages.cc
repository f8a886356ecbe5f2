// Binding for the GRPO advantages (native/cpu/grpo_advantages.cpp, native/cuda/grpo_advantages.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {
namespace {

int scale_arg(const Args& a, size_t i) {
  double s = a.num(i);
  if (s != 0 && s != 1 && s != 2) throw Error(std::string(a.op) + ": unknown scaleRewards");
  return static_cast<int>(s);
}

float eps_arg(const Args& a, size_t i) {
  double e = a.num(i);
  if (!std::isfinite(e) || e < 0) throw Error(std::string(a.op) + ": eps must be finite and >= 0");
  return static_cast<float>(e);
}

// groupAdvantages(B, G, rewards, scale, eps, adv)
Napi::Value GroupAdvantages(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "groupAdvantages"};
    int64_t B = a.count(0), G = a.count(1);
    Buffer* rewards = a.buffer(2, "rewards");
    int scale = scale_arg(a, 3);
    float eps = eps_arg(a, 4);
    Buffer* adv = a.buffer(5, "advantages");
    if (G < 1) throw Error("groupAdvantages: G must be >= 1");
    Device dev = rewards->device();
    need(a.op, "rewards", rewards, dev, B * G, DType::F32);
    need(a.op, "advantages", adv, dev, B * G, DType::F32);
    dispatch(dev, TWIN(grpo_advantages(B, G, static_cast<const float*>(rewards->ptr()), scale, eps,
                                       static_cast<float*>(adv->ptr()))));
    return info.Env().Undefined();
  });
}

// processAdvantages(B, G, S, T, stepRewards, stepEnds, maskDt, mask|null, scale, eps, adv)
Napi::Value ProcessAdvantages(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "processAdvantages"};
    int64_t B = a.count(0), G = a.count(1), S = a.count(2), T = a.count(3);
    Buffer* rewards = a.buffer(4, "stepRewards");
    Buffer* ends = a.buffer(5, "stepEnds");
    DType mdt = a.dtype(6);
    if (mdt == DType::BF16) throw Error("processAdvantages: completionMask must be f32 or i32");
    Buffer* mask = nullptr;
    Napi::Value mv = a.at(7);
    if (!mv.IsNull() && !mv.IsUndefined()) mask = a.buffer(7, "completionMask");
    int scale = scale_arg(a, 8);
    float eps = eps_arg(a, 9);
    Buffer* adv = a.buffer(10, "advantages");
    if (G < 1) throw Error("processAdvantages: G must be >= 1");
    Device dev = rewards->device();
    int64_t N = B * G;
    need(a.op, "stepRewards", rewards, dev, N * S, DType::F32);
    need(a.op, "stepEnds", ends, dev, N * S, DType::I32);
    if (mask) need(a.op, "completionMask", mask, dev, N * T, mdt);
    need(a.op, "advantages", adv, dev, N * T, DType::F32);
    const void* mp = mask ? mask->ptr() : nullptr;
    dispatch(dev, TWIN(grpo_process_advantages(B, G, S, T, static_cast<const float*>(rewards->ptr()),
                                               static_cast<const int32_t*>(ends->ptr()), mdt, mp, scale, eps,
                                               static_cast<float*>(adv->ptr()))));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("groupAdvantages", GroupAdvantages);
MATHRL_EXPORT("processAdvantages", ProcessAdvantages);

}  // namespace mathrl
