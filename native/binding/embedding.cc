// Bindings for the token embedding (native/cpu/embedding.cpp, native/cuda/embedding.cu), and the
// report of out-of-range indices seen by CUDA kernels (embedding and cross_entropy).
#include "binding.h"

namespace mathrl {

// Throws the out-of-range index a previous CUDA embedding / crossEntropy kernel recorded, if any.
// sync=false reads only what finished kernels wrote (no synchronisation: cheap, so every call does it).
void throw_cuda_index_errors(bool sync) {
#ifdef MATHRL_WITH_CUDA
  if (!cuda::info().available) return;
  int64_t pos = 0, id = 0;
  if (cuda::embedding_index_error(sync, &pos, &id))
    throw Error("embedding (CUDA): token id " + std::to_string(id) + " at position " + std::to_string(pos) +
                " was out of range in an earlier call; its output row was set to NaN (forward) or skipped "
                "(backward)");
  if (cuda::cross_entropy_index_error(sync, &pos, &id))
    throw Error("crossEntropy (CUDA): target " + std::to_string(id) + " at row " + std::to_string(pos) +
                " was out of range in an earlier call; its loss was set to NaN and its gradient row to 0");
#else
  (void)sync;
#endif
}

namespace {

DType float_dtype(const Args& a, size_t i) {
  DType dt = a.dtype(i);
  if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
  return dt;
}

// embedding(dt, N, V, D, ids, table, out)
Napi::Value Embedding(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "embedding"};
    DType dt = float_dtype(a, 0);
    int64_t N = a.count(1), V = a.count(2), D = a.count(3);
    Buffer* ids = a.buffer(4, "ids");
    Buffer* table = a.buffer(5, "table");
    Buffer* out = a.buffer(6, "out");
    Device dev = table->device();
    need(a.op, "ids", ids, dev, N, DType::I32);
    need(a.op, "table", table, dev, V * D, dt);
    need(a.op, "out", out, dev, N * D, dt);
    if (dev == Device::CUDA) throw_cuda_index_errors(false);
    dispatch(dev, TWIN(embedding(dt, N, V, D, static_cast<const int32_t*>(ids->ptr()), table->ptr(), out->ptr())));
    return info.Env().Undefined();
  });
}

// embeddingBackward(dt, N, V, D, dout, ids, dtable)
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "embeddingBackward"};
    DType dt = float_dtype(a, 0);
    int64_t N = a.count(1), V = a.count(2), D = a.count(3);
    Buffer* dout = a.buffer(4, "dout");
    Buffer* ids = a.buffer(5, "ids");
    Buffer* dtable = a.buffer(6, "dtable");
    Device dev = dtable->device();
    need(a.op, "dout", dout, dev, N * D, dt);
    need(a.op, "ids", ids, dev, N, DType::I32);
    need(a.op, "dtable", dtable, dev, V * D, DType::F32);
    if (dev == Device::CUDA) throw_cuda_index_errors(false);
    dispatch(dev, TWIN(embedding_backward(dt, N, V, D, dout->ptr(), static_cast<const int32_t*>(ids->ptr()),
                                          static_cast<float*>(dtable->ptr()))));
    return info.Env().Undefined();
  });
}

// cudaIndexErrors(): waits for the CUDA stream, then throws any recorded out-of-range index.
Napi::Value CudaIndexErrors(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    throw_cuda_index_errors(true);
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("embedding", Embedding);
MATHRL_EXPORT("embeddingBackward", EmbeddingBackward);
MATHRL_EXPORT("cudaIndexErrors", CudaIndexErrors);

}  // namespace mathrl
