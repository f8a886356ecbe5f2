// Reductions along the last dimension: sum, max. Twins: native/cpu/reduce.cpp, native/cuda/reduce.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    sum(dt: number, rows: number, cols: number, a: NativeBuffer, out: NativeBuffer): void;
    max(dt: number, rows: number, cols: number, a: NativeBuffer, out: NativeBuffer): void;
  }
}

/** Shared by the row-wise ops: [..., cols] viewed as [rows, cols]. */
export function rows(op: string, a: Tensor): { rows: number; cols: number } {
  if (a.ndim === 0) throw new RangeError(`${op}: needs at least one dimension, got a scalar`);
  const cols = a.shape[a.ndim - 1];
  if (cols === 0 && a.size === 0 && a.shape.slice(0, -1).some((d) => d === 0)) return { rows: 0, cols };
  if (cols === 0) throw new RangeError(`${op}: the last dimension of ${shapeStr(a.shape)} is empty`);
  return { rows: a.size / cols, cols };
}

function reduce(op: 'sum' | 'max', a: Tensor): Tensor {
  tensorArg(op, 'a', a);
  const dt = floatDType(op, a);
  const r = rows(op, a);
  const out = Tensor.empty(a.shape.slice(0, -1), { dtype: dt, device: a.device });
  native()[op](dtypeId(dt), r.rows, r.cols, a.buffer(op), out.buffer(op));
  return out;
}

/** Sum over the last dimension: [..., n] -> [...] (same dtype, f32 accumulation). */
export function sum(a: Tensor): Tensor {
  return reduce('sum', a);
}

/** Max over the last dimension: [..., n] -> [...]; NaN if the row has a NaN. */
export function max(a: Tensor): Tensor {
  return reduce('max', a);
}
