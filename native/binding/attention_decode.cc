// Binding for decode attention (native/cpu/attention_decode.cpp, native/cuda/attention_decode.cu).
#include <cmath>

#include "binding.h"

namespace mathrl {

void throw_cuda_decode_errors(bool sync);  // native/binding/kv_cache.cc

namespace {

// attentionDecode(dt, Bq, Bc, S, Hq, Hkv, Dh, scale, q, k, v, lengths, rows|null, out)
Napi::Value AttentionDecode(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "attentionDecode"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
    const int64_t Bq = a.count(1), Bc = a.count(2), S = a.count(3), Hq = a.count(4), Hkv = a.count(5),
                  Dh = a.count(6);
    const double sc = a.num(7);
    if (!std::isfinite(sc)) throw Error(std::string(a.op) + ": scale must be finite");
    if (Hq < 1 || Hkv < 1 || Dh < 1 || Hq % Hkv != 0)
      throw Error(std::string(a.op) + ": Hq " + std::to_string(Hq) + " must be a positive multiple of Hkv " +
                  std::to_string(Hkv) + ", and Dh " + std::to_string(Dh) + " positive");
    if (static_cast<double>(Bc) * S * Hkv * Dh > 1e15 || static_cast<double>(Bq) * Hq * Dh > 1e15)
      throw Error(std::string(a.op) + ": tensors are too large");
    if (S > 2147483647LL) throw Error(std::string(a.op) + ": the cache length must fit in 32 bits");
    Buffer* q = a.buffer(8, "q");
    Buffer* k = a.buffer(9, "kCache");
    Buffer* v = a.buffer(10, "vCache");
    Buffer* len = a.buffer(11, "lengths");
    Device dev = q->device();
    const int32_t* rows = nullptr;
    Napi::Value rv = a.at(12);
    if (!rv.IsNull() && !rv.IsUndefined()) {
      Buffer* rb = a.buffer(12, "rows");
      need(a.op, "rows", rb, dev, Bq, DType::I32);
      rows = static_cast<const int32_t*>(rb->ptr());
    } else if (Bq > Bc) {
      throw Error(std::string(a.op) + ": q has " + std::to_string(Bq) + " rows but the cache only " +
                  std::to_string(Bc));
    }
    Buffer* out = a.buffer(13, "out");
    need(a.op, "q", q, dev, Bq * Hq * Dh, dt);
    need(a.op, "kCache", k, dev, Bc * S * Hkv * Dh, dt);
    need(a.op, "vCache", v, dev, Bc * S * Hkv * Dh, dt);
    need(a.op, "lengths", len, dev, Bq, DType::I32);
    need(a.op, "out", out, dev, Bq * Hq * Dh, dt);
    if (dev == Device::CUDA) throw_cuda_decode_errors(false);
    const int32_t* lp = static_cast<const int32_t*>(len->ptr());
    dispatch(dev, TWIN(attention_decode(dt, Bq, Bc, S, Hq, Hkv, Dh, static_cast<float>(sc), q->ptr(), k->ptr(),
                                        v->ptr(), lp, rows, out->ptr())));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("attentionDecode", AttentionDecode);

}  // namespace mathrl
