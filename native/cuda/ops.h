// CUDA kernels, twins of the CPU references (same names, same contracts, declared once in
// native/ops.inc). All launch on the one stream (mathrl::cuda::stream()) and return without
// synchronising; pointers are device pointers.
#pragma once
#include <cstdint>

#include "../common.h"

namespace mathrl {
namespace cuda {
#include "../ops.inc"

// CUDA only: out-of-range index reporting (the CPU kernels throw instead).
// Out-of-range ids/targets seen by the embedding / cross_entropy kernels are recorded in host-mapped
// memory (first one wins). Returns true and fills (position, id) if one was recorded since the last
// call, clearing the record. sync=true waits for the stream first; sync=false only sees finished kernels.
bool embedding_index_error(bool sync, int64_t* position, int64_t* id);
bool cross_entropy_index_error(bool sync, int64_t* position, int64_t* id);
// First out-of-range target recorded by linear_logprob (see embedding_index_error).
bool linear_logprob_index_error(bool sync, int64_t* position, int64_t* id);
// Bad (row, start) / (row, length) pairs met by kv_cache_write / attention_decode, recorded in host-mapped
// memory (first one wins): returns true and fills them if one was recorded since the last call.
bool kv_cache_index_error(bool sync, int64_t* row, int64_t* value);
bool attention_decode_index_error(bool sync, int64_t* row, int64_t* value);
}  // namespace cuda
}  // namespace mathrl
