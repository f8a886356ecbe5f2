// Softmax and log-softmax along the last dimension. Twins: native/cpu/softmax.cpp, native/cuda/softmax.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId } from '../tensor';
import { floatDType, tensorArg } from './check';
import { rows } from './reduce';

declare module '../native' {
  interface NativeAddon {
    softmax(dt: number, rows: number, cols: number, a: NativeBuffer, out: NativeBuffer): void;
    logSoftmax(dt: number, rows: number, cols: number, a: NativeBuffer, out: NativeBuffer): void;
  }
}

function rowwise(op: 'softmax' | 'logSoftmax', a: Tensor): Tensor {
  tensorArg(op, 'a', a);
  const dt = floatDType(op, a);
  const r = rows(op, a);
  const out = Tensor.empty(a.shape, { dtype: dt, device: a.device });
  native()[op](dtypeId(dt), r.rows, r.cols, a.buffer(op), out.buffer(op));
  return out;
}

/** exp(a - max) / sum(exp(a - max)) over the last dimension. */
export function softmax(a: Tensor): Tensor {
  return rowwise('softmax', a);
}

/** a - logsumexp(a) over the last dimension. */
export function logSoftmax(a: Tensor): Tensor {
  return rowwise('logSoftmax', a);
}
