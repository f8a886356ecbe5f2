// Binding for the fused softmax cross-entropy (native/cpu/cross_entropy.cpp, native/cuda/cross_entropy.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {

void throw_cuda_index_errors(bool sync);  // native/binding/embedding.cc

namespace {

// crossEntropy(dt, N, V, logits, targets, ignoreIndex, hasScale, gradScale, losses, loss, count, dlogits|null)
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "crossEntropy"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error("crossEntropy: i32 logits are not supported");
    int64_t N = a.count(1), V = a.count(2);
    Buffer* logits = a.buffer(3, "logits");
    Buffer* targets = a.buffer(4, "targets");
    double ig = a.num(5);
    if (ig != std::floor(ig) || ig < -2147483648.0 || ig > 2147483647.0)
      throw Error("crossEntropy: ignoreIndex must be a 32-bit integer");
    bool has_scale = a.flag(6);
    double scale = a.num(7);
    Buffer* losses = a.buffer(8, "losses");
    Buffer* loss = a.buffer(9, "loss");
    Buffer* count = a.buffer(10, "count");
    Buffer* dlogits = nullptr;
    Napi::Value dv = a.at(11);
    if (!dv.IsNull() && !dv.IsUndefined()) dlogits = a.buffer(11, "dlogits");
    if (V == 0 && N > 0) throw Error("crossEntropy: the vocabulary dimension is empty");
    Device dev = logits->device();
    need(a.op, "logits", logits, dev, N * V, dt);
    need(a.op, "targets", targets, dev, N, DType::I32);
    need(a.op, "losses", losses, dev, N, DType::F32);
    need(a.op, "loss", loss, dev, 1, DType::F32);
    need(a.op, "count", count, dev, 1, DType::F32);
    if (dlogits) need(a.op, "dlogits", dlogits, dev, N * V, dt);
    if (dev == Device::CUDA) throw_cuda_index_errors(false);
    void* dl = dlogits ? dlogits->ptr() : nullptr;
    dispatch(dev, TWIN(cross_entropy(dt, N, V, logits->ptr(), static_cast<const int32_t*>(targets->ptr()),
                                     static_cast<int32_t>(ig), has_scale, static_cast<float>(scale),
                                     static_cast<float*>(losses->ptr()), static_cast<float*>(loss->ptr()),
                                     static_cast<float*>(count->ptr()), dl)));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("crossEntropy", CrossEntropy);

}  // namespace mathrl
