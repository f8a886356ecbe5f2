#include "cuda_common.cuh"
#include "ops.h"
namespace mathrl { namespace cuda {
void attention_forward(DType, int64_t, int64_t, int64_t, int64_t, int64_t, bool, float, const void*, const void*, const void*, const int32_t*, void*, float*) { throw Error("todo"); }
void attention_backward(DType, int64_t, int64_t, int64_t, int64_t, int64_t, bool, float, const void*, const void*, const void*, const int32_t*, const void*, const float*, const void*, void*, void*, void*) { throw Error("todo"); }
}}
