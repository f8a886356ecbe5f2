// Binding for fused attention (native/cpu/attention.cpp, native/cuda/attention.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {
namespace {

struct AttnDims {
  DType dt;
  int64_t B, T, Hq, Hkv, Dh;
  bool causal;
  float scale;
  int64_t nq, nkv, nstat;  // elements of q-shaped, kv-shaped and lse tensors
};

// Arguments 0..7: (dt, B, T, Hq, Hkv, Dh, causal, scale).
AttnDims dims(const Args& a) {
  AttnDims d;
  d.dt = a.dtype(0);
  if (d.dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
  d.B = a.count(1);
  d.T = a.count(2);
  d.Hq = a.count(3);
  d.Hkv = a.count(4);
  d.Dh = a.count(5);
  d.causal = a.flag(6);
  double s = a.num(7);
  if (!std::isfinite(s)) throw Error(std::string(a.op) + ": scale must be finite");
  d.scale = static_cast<float>(s);
  if (d.Hq < 1 || d.Hkv < 1 || d.Dh < 1 || d.Hq % d.Hkv != 0)
    throw Error(std::string(a.op) + ": Hq " + std::to_string(d.Hq) + " must be a positive multiple of Hkv " +
                std::to_string(d.Hkv) + ", and Dh " + std::to_string(d.Dh) + " positive");
  // Sizes are products of four counts: refuse anything whose element count could overflow.
  const double nq = static_cast<double>(d.B) * d.T * d.Hq * d.Dh;
  if (nq > 1e15) throw Error(std::string(a.op) + ": tensors are too large");
  d.nq = d.B * d.T * d.Hq * d.Dh;
  d.nkv = d.B * d.T * d.Hkv * d.Dh;
  d.nstat = d.B * d.Hq * d.T;
  return d;
}

// seg: null/undefined, or an i32 buffer of B*T elements on dev.
const int32_t* segments(const Args& a, size_t i, Device dev, const AttnDims& d) {
  Napi::Value v = a.at(i);
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  Buffer* s = a.buffer(i, "segmentIds");
  need(a.op, "segmentIds", s, dev, d.B * d.T, DType::I32);
  return static_cast<const int32_t*>(s->ptr());
}

#ifdef MATHRL_WITH_CUDA
void cuda_limits(const char* op, Device dev, const AttnDims& d) {
  if (dev != Device::CUDA) return;
  if (d.Dh > 128 || d.Dh % 8 != 0)
    throw Error(std::string(op) + ": the CUDA kernel supports head sizes Dh that are multiples of 8 up to 128, got " +
                std::to_string(d.Dh));
  if (d.Hq > 65535 || d.B > 65535) throw Error(std::string(op) + ": B and Hq must be at most 65535 on CUDA");
}
#else
void cuda_limits(const char*, Device, const AttnDims&) {}
#endif

// attentionForward(dt, B, T, Hq, Hkv, Dh, causal, scale, q, k, v, seg|null, out, lse)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "attention"};
    AttnDims d = dims(a);
    Buffer* q = a.buffer(8, "q");
    Buffer* k = a.buffer(9, "k");
    Buffer* v = a.buffer(10, "v");
    Device dev = q->device();
    const int32_t* seg = segments(a, 11, dev, d);
    Buffer* out = a.buffer(12, "out");
    Buffer* lse = a.buffer(13, "lse");
    need(a.op, "q", q, dev, d.nq, d.dt);
    need(a.op, "k", k, dev, d.nkv, d.dt);
    need(a.op, "v", v, dev, d.nkv, d.dt);
    need(a.op, "out", out, dev, d.nq, d.dt);
    need(a.op, "lse", lse, dev, d.nstat, DType::F32);
    cuda_limits(a.op, dev, d);
    float* lp = static_cast<float*>(lse->ptr());
    dispatch(dev, TWIN(attention_forward(d.dt, d.B, d.T, d.Hq, d.Hkv, d.Dh, d.causal, d.scale, q->ptr(), k->ptr(),
                                         v->ptr(), seg, out->ptr(), lp)));
    return info.Env().Undefined();
  });
}

// attentionBackward(dt, B, T, Hq, Hkv, Dh, causal, scale, q, k, v, seg|null, out, lse, dout, dq, dk, dv)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "attentionBackward"};
    AttnDims d = dims(a);
    Buffer* q = a.buffer(8, "q");
    Buffer* k = a.buffer(9, "k");
    Buffer* v = a.buffer(10, "v");
    Device dev = q->device();
    const int32_t* seg = segments(a, 11, dev, d);
    Buffer* out = a.buffer(12, "out");
    Buffer* lse = a.buffer(13, "lse");
    Buffer* dout = a.buffer(14, "dout");
    Buffer* dq = a.buffer(15, "dq");
    Buffer* dk = a.buffer(16, "dk");
    Buffer* dv = a.buffer(17, "dv");
    need(a.op, "q", q, dev, d.nq, d.dt);
    need(a.op, "k", k, dev, d.nkv, d.dt);
    need(a.op, "v", v, dev, d.nkv, d.dt);
    need(a.op, "out", out, dev, d.nq, d.dt);
    need(a.op, "lse", lse, dev, d.nstat, DType::F32);
    need(a.op, "dout", dout, dev, d.nq, d.dt);
    need(a.op, "dq", dq, dev, d.nq, d.dt);
    need(a.op, "dk", dk, dev, d.nkv, d.dt);
    need(a.op, "dv", dv, dev, d.nkv, d.dt);
    cuda_limits(a.op, dev, d);
    const float* lp = static_cast<const float*>(lse->ptr());
    dispatch(dev, TWIN(attention_backward(d.dt, d.B, d.T, d.Hq, d.Hkv, d.Dh, d.causal, d.scale, q->ptr(),
                                          k->ptr(), v->ptr(), seg, out->ptr(), lp, dout->ptr(), dq->ptr(),
                                          dk->ptr(), dv->ptr())));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("attentionForward", AttentionForward);
MATHRL_EXPORT("attentionBackward", AttentionBackward);

}  // namespace mathrl
