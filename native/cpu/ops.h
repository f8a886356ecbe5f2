// CPU reference kernels. Each has a CUDA twin of the same name and contract (native/cuda/ops.h);
// both are declared by native/ops.inc.
#pragma once
#include <cstdint>

#include "../common.h"

namespace mathrl {
namespace cpu {
#include "../ops.inc"
}  // namespace cpu
}  // namespace mathrl
