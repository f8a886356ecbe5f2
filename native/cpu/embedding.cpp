// Token embedding lookup and its backward (scatter-add into an f32 table gradient).
#include <algorithm>
#include <cstring>
#include <string>

#include "dtype_io.h"
#include "ops.h"
#include "parallel.h"

namespace mathrl {
namespace cpu {

namespace {
// Refuses the first out-of-range id before anything is written.
void check_ids(const char* op, int64_t N, int64_t V, const int32_t* ids) {
  for (int64_t n = 0; n < N; ++n)
    if (ids[n] < 0 || ids[n] >= V)
      throw Error(std::string(op) + ": token id " + std::to_string(ids[n]) + " at position " + std::to_string(n) +
                  " is out of range [0, " + std::to_string(V) + ")");
}
}  // namespace

void embedding(DType dt, int64_t N, int64_t V, int64_t D, const int32_t* ids, const void* table, void* out) {
  check_ids("embedding", N, V, ids);
  if (dt != DType::F32 && dt != DType::BF16)
    throw Error(std::string("embedding: dtype ") + dtype_name(dt) + " is not supported");
  size_t row = static_cast<size_t>(D) * dtype_size(dt);
  const char* src = static_cast<const char*>(table);
  char* dst = static_cast<char*>(out);
  int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(static_cast<int64_t>(row), 1));
  parallel_for(N, [&](int64_t s, int64_t e, int) {
    for (int64_t n = s; n < e; ++n)
      if (row) std::memcpy(dst + n * row, src + static_cast<int64_t>(ids[n]) * row, row);
  }, grain);
}

void embedding_backward(DType dt, int64_t N, int64_t V, int64_t D, const void* dout, const int32_t* ids,
                        float* dtable) {
  check_ids("embeddingBackward", N, V, ids);
  with_float_dtype(dt, "embeddingBackward", [&](auto io) {
    using IO = decltype(io);
    using T = typename IO::T;
    const T* g = static_cast<const T*>(dout);
    // Each thread owns a range of vocabulary rows and adds the gradient rows of its ids in position
    // order: deterministic and race-free whatever the thread count.
    parallel_for(V, [&](int64_t v0, int64_t v1, int) {
      for (int64_t n = 0; n < N; ++n) {
        int64_t id = ids[n];
        if (id < v0 || id >= v1) continue;
        float* dst = dtable + id * D;
        const T* src = g + n * D;
        for (int64_t c = 0; c < D; ++c) dst[c] += IO::load(src, c);
      }
    }, std::max<int64_t>(1, V / 64));
  });
}

}  // namespace cpu
}  // namespace mathrl
