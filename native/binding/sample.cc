// Binding for the fused sampling op (native/cpu/sample.cpp, native/cuda/sample.cu), and the host side of
// its RNG (native/philox.h) exposed for known-answer tests.
#include <cmath>

#include "../philox.h"
#include "binding.h"

namespace mathrl {

namespace {

uint32_t word(const Args& a, size_t i, const char* name) {
  double d = a.num(i);
  if (d != std::floor(d) || d < 0 || d > 4294967295.0)
    throw Error(std::string(a.op) + ": " + name + " must be an unsigned 32-bit integer");
  return static_cast<uint32_t>(d);
}

// sample(dt, R, V, logits, fparams, iparams, L, prev|null, offsetLo, offsetHi, tokens, logprobs)
Napi::Value Sample(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "sample"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error("sample: i32 logits are not supported");
    int64_t R = a.count(1), V = a.count(2);
    Buffer* logits = a.buffer(3, "logits");
    Buffer* fparams = a.buffer(4, "fparams");
    Buffer* iparams = a.buffer(5, "iparams");
    int64_t L = a.count(6);
    Buffer* prev = nullptr;
    Napi::Value pv = a.at(7);
    if (!pv.IsNull() && !pv.IsUndefined()) prev = a.buffer(7, "previousTokens");
    uint64_t offset = static_cast<uint64_t>(word(a, 8, "offset (low word)")) |
                      (static_cast<uint64_t>(word(a, 9, "offset (high word)")) << 32);
    Buffer* tokens = a.buffer(10, "tokens");
    Buffer* logprobs = a.buffer(11, "logprobs");
    if (V == 0 && R > 0) throw Error("sample: the vocabulary dimension is empty");
    if (V > 2147483647) throw Error("sample: vocabularies over 2^31 - 1 tokens are not supported");
    if (L > 0 && !prev) throw Error("sample: previousTokens is missing");
    Device dev = logits->device();
    need(a.op, "logits", logits, dev, R * V, dt);
    need(a.op, "fparams", fparams, dev, R * 4, DType::F32);
    need(a.op, "iparams", iparams, dev, R * 3, DType::I32);
    if (L > 0) need(a.op, "previousTokens", prev, dev, R * L, DType::I32);
    need(a.op, "tokens", tokens, dev, R, DType::I32);
    need(a.op, "logprobs", logprobs, dev, R, DType::F32);
    if (R == 0) return info.Env().Undefined();
    const int32_t* pp = L > 0 ? static_cast<const int32_t*>(prev->ptr()) : nullptr;
    dispatch(dev, TWIN(sample(dt, R, V, logits->ptr(), static_cast<const float*>(fparams->ptr()),
                              static_cast<const int32_t*>(iparams->ptr()), L, pp, offset,
                              static_cast<int32_t*>(tokens->ptr()), static_cast<float*>(logprobs->ptr()))));
    return info.Env().Undefined();
  });
}

// samplePhilox(c0, c1, c2, c3, k0, k1) -> [4 words]: Philox4x32-10 on the host.
Napi::Value SamplePhilox(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "samplePhilox"};
    Philox4 r = philox4x32_10(word(a, 0, "c0"), word(a, 1, "c1"), word(a, 2, "c2"), word(a, 3, "c3"),
                              word(a, 4, "k0"), word(a, 5, "k1"));
    Napi::Array out = Napi::Array::New(info.Env(), 4);
    for (uint32_t i = 0; i < 4; ++i) out.Set(i, Napi::Number::New(info.Env(), r.v[i]));
    return out;
  });
}

// sampleUniform(seed, stream, offsetLo, offsetHi) -> the uniform the sampling op draws for that row.
Napi::Value SampleUniform(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "sampleUniform"};
    uint64_t offset = static_cast<uint64_t>(word(a, 2, "offset (low word)")) |
                      (static_cast<uint64_t>(word(a, 3, "offset (high word)")) << 32);
    return Napi::Number::New(info.Env(), sample_uniform(word(a, 0, "seed"), word(a, 1, "stream"), offset));
  });
}

}  // namespace

MATHRL_EXPORT("sample", Sample);
MATHRL_EXPORT("samplePhilox", SamplePhilox);
MATHRL_EXPORT("sampleUniform", SampleUniform);

}  // namespace mathrl
