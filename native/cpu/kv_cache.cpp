// KV-cache write (twin: native/cuda/kv_cache.cu): copies the keys or values of T new tokens into a
// per-sequence cache at per-row start positions. Plain row copies; every index is checked before
// anything is written.
#include <cstring>
#include <string>
#include <vector>

#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

void kv_cache_write(DType dt, int64_t Bc, int64_t S, int64_t Bx, int64_t T, int64_t H, int64_t Dh, void* cache,
                    const void* x, const int32_t* start, const int32_t* rows) {
  const char* op = "kvCacheWrite";
  if (dt != DType::F32 && dt != DType::BF16) throw Error(std::string(op) + ": dtype must be f32 or bf16");
  if (Bx == 0 || T == 0) return;
  // Validate every row before writing anything.
  std::vector<char> seen(static_cast<size_t>(Bc), 0);
  for (int64_t b = 0; b < Bx; ++b) {
    const int64_t r = rows ? rows[b] : b;
    if (r < 0 || r >= Bc)
      throw Error(std::string(op) + ": rows[" + std::to_string(b) + "] = " + std::to_string(r) +
                  " is outside the cache batch " + std::to_string(Bc));
    if (seen[r]) throw Error(std::string(op) + ": cache row " + std::to_string(r) + " appears twice in rows");
    seen[r] = 1;
    const int64_t s = start[b];
    if (s < 0 || s + T > S)
      throw Error(std::string(op) + ": row " + std::to_string(b) + " writes positions " + std::to_string(s) + ".." +
                  std::to_string(s + T - 1) + ", outside the cache length " + std::to_string(S));
  }
  const size_t esz = dtype_size(dt);
  const int64_t row = T * H * Dh;  // elements of one x row (contiguous in the cache too)
  const char* src = static_cast<const char*>(x);
  char* dst = static_cast<char*>(cache);
  parallel_for(Bx, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r = rows ? rows[b] : b;
      std::memcpy(dst + static_cast<size_t>((r * S + start[b]) * H * Dh) * esz,
                  src + static_cast<size_t>(b * row) * esz, static_cast<size_t>(row) * esz);
    }
  }, 1);
}

}  // namespace cpu
}  // namespace mathrl
