// Binding for the fused GRPO loss (native/cpu/grpo_loss.cpp, native/cuda/grpo_loss.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {
namespace {

Buffer* optional_buffer(const Args& a, size_t i, const char* name) {
  Napi::Value v = a.at(i);
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return a.buffer(i, name);
}

float finite_arg(const Args& a, size_t i, const char* name) {
  double d = a.num(i);
  if (!std::isfinite(d)) throw Error(std::string(a.op) + ": " + name + " must be finite");
  return static_cast<float>(d);
}

// grpoLoss(N, T, logp, old|null, ref|null, adv, advPerToken, maskDt, mask, epsLow, epsHigh, beta, hasDelta,
//          delta, lossType, normalizer, gradScale, loss, metrics, dlogp|null, work)
Napi::Value GrpoLoss(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "grpoLoss"};
    int64_t N = a.count(0), T = a.count(1);
    Buffer* logp = a.buffer(2, "logp");
    Buffer* old = optional_buffer(a, 3, "oldLogp");
    Buffer* ref = optional_buffer(a, 4, "refLogp");
    Buffer* adv = a.buffer(5, "advantages");
    bool adv_tok = a.flag(6);
    DType mdt = a.dtype(7);
    if (mdt == DType::BF16) throw Error("grpoLoss: completionMask must be f32 or i32");
    Buffer* mask = a.buffer(8, "completionMask");
    float eps_low = finite_arg(a, 9, "epsilon"), eps_high = finite_arg(a, 10, "epsilonHigh");
    float beta = finite_arg(a, 11, "beta");
    bool has_delta = a.flag(12);
    float delta = finite_arg(a, 13, "delta");
    double lt = a.num(14);
    if (lt != 0 && lt != 1 && lt != 2 && lt != 3) throw Error("grpoLoss: unknown loss type");
    float normalizer = finite_arg(a, 15, "normalizer");
    float grad_scale = finite_arg(a, 16, "gradScale");
    Buffer* loss = a.buffer(17, "loss");
    Buffer* metrics = a.buffer(18, "metrics");
    Buffer* dlogp = optional_buffer(a, 19, "dlogp");
    Buffer* work = a.buffer(20, "work");
    if (N < 1 || T < 1) throw Error("grpoLoss: needs N >= 1 and T >= 1");
    if (lt == 3 && !(normalizer > 0)) throw Error("grpoLoss: dr_grpo needs maxCompletionLength > 0");
    Device dev = logp->device();
    need(a.op, "logp", logp, dev, N * T, DType::F32);
    if (old) need(a.op, "oldLogp", old, dev, N * T, DType::F32);
    if (ref) need(a.op, "refLogp", ref, dev, N * T, DType::F32);
    need(a.op, "advantages", adv, dev, adv_tok ? N * T : N, DType::F32);
    need(a.op, "completionMask", mask, dev, N * T, mdt);
    need(a.op, "loss", loss, dev, 1, DType::F32);
    need(a.op, "metrics", metrics, dev, 8, DType::F32);
    if (dlogp) need(a.op, "dlogp", dlogp, dev, N * T, DType::F32);
    need(a.op, "work", work, dev, N * 9 + 1, DType::F32);
    auto f = [](Buffer* b) { return b ? static_cast<const float*>(b->ptr()) : nullptr; };
    float* dl = dlogp ? static_cast<float*>(dlogp->ptr()) : nullptr;
    dispatch(dev, TWIN(grpo_loss(N, T, f(logp), f(old), f(ref), f(adv), adv_tok, mdt, mask->ptr(), eps_low, eps_high,
                                 beta, has_delta, delta, static_cast<int>(lt), normalizer, grad_scale,
                                 static_cast<float*>(loss->ptr()), static_cast<float*>(metrics->ptr()), dl,
                                 static_cast<float*>(work->ptr()))));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("grpoLoss", GrpoLoss);

}  // namespace mathrl
