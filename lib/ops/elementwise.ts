// Elementwise ops: add, mul, scale, cast. Twins: native/cpu/elementwise.cpp, native/cuda/elementwise.cu.
import { native, NativeBuffer } from '../native';
import { DType, Tensor, checkDType, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDType, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    fill(dt: number, n: number, value: number, out: NativeBuffer): void;
    add(dt: number, n: number, a: NativeBuffer, b: NativeBuffer, nb: number, out: NativeBuffer): void;
    mul(dt: number, n: number, a: NativeBuffer, b: NativeBuffer, nb: number, out: NativeBuffer): void;
    scale(dt: number, n: number, a: NativeBuffer, alpha: number, beta: number, out: NativeBuffer): void;
    cast(from: number, to: number, n: number, a: NativeBuffer, out: NativeBuffer): void;
  }
}

function binary(op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor {
  tensorArg(op, 'a', a);
  tensorArg(op, 'b', b);
  sameDevice(op, a, b);
  sameDType(op, a, b);
  const dt = floatDType(op, a);
  // b must have a's shape or a suffix of it (broadcast over the leading dims, e.g. a bias row).
  const k = b.shape.length;
  const suffix = a.shape.slice(a.shape.length - k);
  if (k > a.shape.length || suffix.some((d, i) => d !== b.shape[i]) || (b.size === 0 && a.size !== 0))
    throw new RangeError(
      `${op}: cannot broadcast b ${shapeStr(b.shape)} to a ${shapeStr(a.shape)} (b's shape must be a trailing part of a's)`,
    );
  const out = Tensor.empty(a.shape, { dtype: dt, device: a.device });
  native()[op](dtypeId(dt), a.size, a.buffer(op), b.buffer(op), b.size, out.buffer(op));
  return out;
}

/** a + b, where b has a's shape or a trailing part of it (broadcast). */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary('add', a, b);
}

/** a * b elementwise, with the same broadcasting as add. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary('mul', a, b);
}

/** alpha * a + beta. */
export function scale(a: Tensor, alpha: number, beta = 0): Tensor {
  tensorArg('scale', 'a', a);
  numberArg('scale', 'alpha', alpha);
  numberArg('scale', 'beta', beta);
  const dt = floatDType('scale', a);
  const out = Tensor.empty(a.shape, { dtype: dt, device: a.device });
  native().scale(dtypeId(dt), a.size, a.buffer('scale'), alpha, beta, out.buffer('scale'));
  return out;
}

/** A copy of a converted to dtype (f32 <-> bf16 round to nearest even; i32 -> f32). */
export function cast(a: Tensor, dtype: DType): Tensor {
  tensorArg('cast', 'a', a);
  const to = checkDType('cast', dtype);
  if (to === 'i32' && a.dtype !== 'i32') throw new TypeError(`cast: ${a.dtype} -> i32 is not supported`);
  if (a.dtype === 'i32' && to === 'bf16') throw new TypeError('cast: i32 -> bf16 is not supported (cast to f32)');
  const out = Tensor.empty(a.shape, { dtype: to, device: a.device });
  native().cast(dtypeId(a.dtype), dtypeId(to), a.size, a.buffer('cast'), out.buffer('cast'));
  return out;
}
