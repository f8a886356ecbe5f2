// Binding for the row-wise argmax with log-probabilities (native/cpu/argmax.cpp, native/cuda/argmax.cu).
#include "binding.h"

namespace mathrl {
namespace {

// argmax(dt, R, V, x, index, logprob)
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "argmax"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
    const int64_t R = a.count(1), V = a.count(2);
    if (R > 0 && V == 0) throw Error(std::string(a.op) + ": the last dimension is empty");
    if (V > 2147483647LL) throw Error(std::string(a.op) + ": rows longer than 2^31-1 are not supported");
    Buffer* x = a.buffer(3, "x");
    Buffer* index = a.buffer(4, "index");
    Buffer* logprob = a.buffer(5, "logprob");
    Device dev = x->device();
    need(a.op, "x", x, dev, R * V, dt);
    need(a.op, "index", index, dev, R, DType::I32);
    need(a.op, "logprob", logprob, dev, R, DType::F32);
    dispatch(dev, TWIN(argmax(dt, R, V, x->ptr(), static_cast<int32_t*>(index->ptr()),
                              static_cast<float*>(logprob->ptr()))));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("argmax", Argmax);

}  // namespace mathrl
