// Binding for GEMM (native/cpu/gemm.cpp, native/cuda/gemm.cu).
#include "binding.h"

namespace mathrl {
namespace {

// gemm(A, B, C, {transA, transB, batch, M, N, K, alpha, beta, dtA, dtB, dtC, strideA, strideB, strideC})
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Args a{info, "gemm"};
    Buffer* A = a.buffer(0, "A");
    Buffer* B = a.buffer(1, "B");
    Buffer* C = a.buffer(2, "C");
    Napi::Value ov = a.at(3);
    if (!ov.IsObject()) throw Error("gemm: options must be an object");
    Napi::Object o = ov.As<Napi::Object>();
    auto get = [&](const char* k) -> double {
      Napi::Value v = o.Get(k);
      if (!v.IsNumber()) throw Error(std::string("gemm: option ") + k + " must be a number");
      return v.As<Napi::Number>().DoubleValue();
    };
    auto geti = [&](const char* k) -> int64_t {
      double d = get(k);
      if (!(d >= 0) || d > 9e15 || d != static_cast<double>(static_cast<int64_t>(d)))
        throw Error(std::string("gemm: option ") + k + " must be a non-negative integer");
      return static_cast<int64_t>(d);
    };
    auto getdt = [&](const char* k) {
      double d = get(k);
      if (d != 0 && d != 1) throw Error(std::string("gemm: ") + k + " must be f32 or bf16");
      return static_cast<DType>(static_cast<int>(d));
    };
    GemmArgs g;
    g.transA = o.Get("transA").ToBoolean().Value();
    g.transB = o.Get("transB").ToBoolean().Value();
    g.batch = geti("batch");
    g.M = geti("M");
    g.N = geti("N");
    g.K = geti("K");
    g.alpha = static_cast<float>(get("alpha"));
    g.beta = static_cast<float>(get("beta"));
    g.dtA = getdt("dtA");
    g.dtB = getdt("dtB");
    g.dtC = getdt("dtC");
    g.strideA = geti("strideA");
    g.strideB = geti("strideB");
    g.strideC = geti("strideC");
    if (g.dtA != g.dtB) throw Error("gemm: A and B must have the same dtype");
    if (g.batch < 1) throw Error("gemm: batch must be >= 1");
    if (g.strideC < g.M * g.N && g.batch > 1) throw Error("gemm: C batches would overlap");
    Device dev = A->device();
    auto extent = [&](int64_t stride, int64_t rows, int64_t cols) {
      return stride * (g.batch - 1) + rows * cols;
    };
    need("gemm", "A", A, dev, extent(g.strideA, g.M, g.K), g.dtA);
    need("gemm", "B", B, dev, extent(g.strideB, g.K, g.N), g.dtB);
    need("gemm", "C", C, dev, extent(g.strideC, g.M, g.N), g.dtC);
    g.A = A->ptr();
    g.B = B->ptr();
    g.C = C->ptr();
    dispatch(dev, TWIN(gemm(g)));
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("gemm", Gemm);

}  // namespace mathrl
