// Bindings for the KV-cache write (native/cpu/kv_cache.cpp, native/cuda/kv_cache.cu) and the report of
// bad rows / positions recorded by the CUDA kv-cache and decode-attention kernels.
#include "binding.h"

namespace mathrl {

// Throws a bad (row, start) / (row, length) that an earlier CUDA kvCacheWrite / attentionDecode call
// recorded, if any. sync=false reads only what finished kernels wrote (cheap: every call does it).
void throw_cuda_decode_errors(bool sync) {
#ifdef MATHRL_WITH_CUDA
  if (!cuda::info().available) return;
  int64_t row = 0, value = 0;
  if (cuda::kv_cache_index_error(sync, &row, &value))
    throw Error("kvCacheWrite (CUDA): row " + std::to_string(row) + " had an out-of-range cache row or start (" +
                std::to_string(value) + ") in an earlier call; that row was not written");
  if (cuda::attention_decode_index_error(sync, &row, &value))
    throw Error("attentionDecode (CUDA): row " + std::to_string(row) + " had an out-of-range cache row or length (" +
                std::to_string(value) + ") in an earlier call; its output was set to NaN");
#else
  (void)sync;
#endif
}

namespace {

// kvCacheWrite(dt, Bc, S, Bx, T, H, Dh, cache, x, start, rows|null)
Napi::Value KvCacheWrite(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "kvCacheWrite"};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
    const int64_t Bc = a.count(1), S = a.count(2), Bx = a.count(3), T = a.count(4), H = a.count(5), Dh = a.count(6);
    if (static_cast<double>(Bc) * S * H * Dh > 1e15 || static_cast<double>(Bx) * T * H * Dh > 1e15)
      throw Error(std::string(a.op) + ": tensors are too large");
    if (S > 2147483647LL) throw Error(std::string(a.op) + ": the cache length must fit in 32 bits");
    Buffer* cache = a.buffer(7, "cache");
    Buffer* x = a.buffer(8, "x");
    Buffer* start = a.buffer(9, "start");
    Device dev = cache->device();
    need(a.op, "cache", cache, dev, Bc * S * H * Dh, dt);
    need(a.op, "x", x, dev, Bx * T * H * Dh, dt);
    need(a.op, "start", start, dev, Bx, DType::I32);
    const int32_t* rows = nullptr;
    Napi::Value rv = a.at(10);
    if (!rv.IsNull() && !rv.IsUndefined()) {
      Buffer* rb = a.buffer(10, "rows");
      need(a.op, "rows", rb, dev, Bx, DType::I32);
      rows = static_cast<const int32_t*>(rb->ptr());
    } else if (Bx > Bc) {
      throw Error(std::string(a.op) + ": x has " + std::to_string(Bx) + " rows but the cache only " +
                  std::to_string(Bc));
    }
    if (dev == Device::CUDA) throw_cuda_decode_errors(false);
    const int32_t* sp = static_cast<const int32_t*>(start->ptr());
    dispatch(dev, TWIN(kv_cache_write(dt, Bc, S, Bx, T, H, Dh, cache->ptr(), x->ptr(), sp, rows)));
    return info.Env().Undefined();
  });
}

// kvCacheErrors(): waits for the CUDA stream, then throws any recorded bad row / position.
Napi::Value KvCacheErrors(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    throw_cuda_decode_errors(true);
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("kvCacheWrite", KvCacheWrite);
MATHRL_EXPORT("kvCacheErrors", KvCacheErrors);

}  // namespace mathrl
