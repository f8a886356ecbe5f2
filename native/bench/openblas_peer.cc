// Benchmark-only peer: calls OpenBLAS cblas_sgemm through dlopen so the addon never links or requires
// OpenBLAS. Used by bench/ to time our CPU GEMM against it in the same process.
#include <dlfcn.h>
#include <napi.h>

#include <string>

namespace mathrl {

namespace {
enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };
using sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                          float*, int);
using set_threads_fn = void (*)(int);
using str_fn = char* (*)();

struct Peer {
  void* lib = nullptr;
  sgemm_fn sgemm = nullptr;
  set_threads_fn set_threads = nullptr;
  str_fn config = nullptr, corename = nullptr;
  std::string path;
};
Peer g_peer;

// openblasLoad(path) -> boolean: loads the library; false (with no throw) if it cannot.
Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "openblasLoad(path)");
  std::string path = info[0].As<Napi::String>();
  if (g_peer.lib && g_peer.path == path) return Napi::Boolean::New(env, true);
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return Napi::Boolean::New(env, false);
  auto fn = reinterpret_cast<sgemm_fn>(dlsym(lib, "cblas_sgemm"));
  if (!fn) {
    dlclose(lib);
    return Napi::Boolean::New(env, false);
  }
  g_peer = {lib, fn, reinterpret_cast<set_threads_fn>(dlsym(lib, "openblas_set_num_threads")),
            reinterpret_cast<str_fn>(dlsym(lib, "openblas_get_config")),
            reinterpret_cast<str_fn>(dlsym(lib, "openblas_get_corename")), path};
  return Napi::Boolean::New(env, true);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (g_peer.set_threads && info.Length() > 0 && info[0].IsNumber())
    g_peer.set_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// openblasInfo() -> "config; core" of the loaded library.
Napi::Value InfoStr(const Napi::CallbackInfo& info) {
  std::string s;
  if (g_peer.config) s += g_peer.config();
  if (g_peer.corename) s += std::string("; core ") + g_peer.corename();
  return Napi::String::New(info.Env(), s);
}

// openblasSgemm(transA, transB, M, N, K, alpha, A: Float32Array, B, beta, C) on row-major data.
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_peer.sgemm) throw Napi::Error::New(env, "openblasSgemm: call openblasLoad first");
  if (info.Length() < 10) throw Napi::TypeError::New(env, "openblasSgemm: 10 arguments expected");
  bool ta = info[0].ToBoolean(), tb = info[1].ToBoolean();
  int M = info[2].As<Napi::Number>().Int32Value(), N = info[3].As<Napi::Number>().Int32Value(),
      K = info[4].As<Napi::Number>().Int32Value();
  float alpha = info[5].As<Napi::Number>().FloatValue(), beta = info[8].As<Napi::Number>().FloatValue();
  auto A = info[6].As<Napi::Float32Array>(), B = info[7].As<Napi::Float32Array>(),
       C = info[9].As<Napi::Float32Array>();
  if (M < 0 || N < 0 || K < 0 || A.ElementLength() < size_t(M) * K || B.ElementLength() < size_t(K) * N ||
      C.ElementLength() < size_t(M) * N)
    throw Napi::RangeError::New(env, "openblasSgemm: array too small for the shape");
  g_peer.sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, M, N, K, alpha, A.Data(),
               ta ? M : K, B.Data(), tb ? K : N, beta, C.Data(), N);
  return env.Undefined();
}
}  // namespace

void register_bench_peers(Napi::Env env, Napi::Object exports) {
  exports.Set("openblasLoad", Napi::Function::New(env, Load));
  exports.Set("openblasSetThreads", Napi::Function::New(env, SetThreads));
  exports.Set("openblasSgemm", Napi::Function::New(env, Sgemm));
  exports.Set("openblasInfo", Napi::Function::New(env, InfoStr));
}

}  // namespace mathrl
