// Bindings for the row-wise ops: reductions (native/*/reduce) and softmax (native/*/softmax).
#include "binding.h"

namespace mathrl {
namespace {

// Row-wise ops over [rows, cols]: (dt, rows, cols, a, out). Reductions write rows elements.
enum class RowOp { Sum, Max, Softmax, LogSoftmax };
template <RowOp kOp>
Napi::Value Rowwise(const Napi::CallbackInfo& info) {
  static const char* names[] = {"sum", "max", "softmax", "logSoftmax"};
  return guard(info, [&]() -> Napi::Value {
    Args a{info, names[static_cast<int>(kOp)]};
    DType dt = a.dtype(0);
    if (dt == DType::I32) throw Error(std::string(a.op) + ": i32 is not supported");
    int64_t rows = a.count(1), cols = a.count(2);
    Buffer* x = a.buffer(3, "a");
    Buffer* out = a.buffer(4, "out");
    if (cols == 0 && rows > 0) throw Error(std::string(a.op) + ": last dimension is empty");
    Device dev = x->device();
    need(a.op, "a", x, dev, rows * cols, dt);
    bool reduce = kOp == RowOp::Sum || kOp == RowOp::Max;
    need(a.op, "out", out, dev, reduce ? rows : rows * cols, dt);
    switch (kOp) {
      case RowOp::Sum: dispatch(dev, TWIN(sum_lastdim(dt, rows, cols, x->ptr(), out->ptr()))); break;
      case RowOp::Max: dispatch(dev, TWIN(max_lastdim(dt, rows, cols, x->ptr(), out->ptr()))); break;
      case RowOp::Softmax: dispatch(dev, TWIN(softmax_lastdim(dt, rows, cols, x->ptr(), out->ptr()))); break;
      case RowOp::LogSoftmax:
        dispatch(dev, TWIN(log_softmax_lastdim(dt, rows, cols, x->ptr(), out->ptr())));
        break;
    }
    return info.Env().Undefined();
  });
}

}  // namespace

MATHRL_EXPORT("sum", Rowwise<RowOp::Sum>);
MATHRL_EXPORT("max", Rowwise<RowOp::Max>);
MATHRL_EXPORT("softmax", Rowwise<RowOp::Softmax>);
MATHRL_EXPORT("logSoftmax", Rowwise<RowOp::LogSoftmax>);

}  // namespace mathrl
