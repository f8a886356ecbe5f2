// Rotary position embedding (HF Llama rotate_half). Twins: native/cpu/rope.cpp, native/cuda/rope.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    rope(
      dt: number, B: number, T: number, H: number, Dh: number, x: NativeBuffer, positions: NativeBuffer,
      posBatched: boolean, theta: number, inverse: boolean, y: NativeBuffer,
    ): void;
  }
}

export interface RopeOptions {
  /** Rotate by -angle (the backward of rope). */
  inverse?: boolean;
}

/**
 * Rotary embedding of x [B, T, H, Dh] (Dh even, f32 or bf16) at positions (i32 [B, T], or [T] shared
 * by every batch row), HF Llama "rotate_half" convention: for i < Dh/2, angle = pos · theta^(-2i/Dh)
 * (computed in double, so large positions stay accurate),
 * (x_i, x_{i+Dh/2}) → (x_i cos − x_{i+Dh/2} sin, x_{i+Dh/2} cos + x_i sin). Returns y (x's shape/dtype).
 */
export function rope(x: Tensor, positions: Tensor, theta: number, opts: RopeOptions = {}): Tensor {
  const op = opts.inverse ? 'ropeBackward' : 'rope';
  tensorArg(op, 'x', x);
  tensorArg(op, 'positions', positions);
  sameDevice(op, x, positions);
  const dt = floatDType(op, x);
  numberArg(op, 'theta', theta);
  if (!(theta > 0) || !Number.isFinite(theta)) throw new RangeError(`${op}: theta must be a positive number, got ${theta}`);
  if (x.ndim !== 4) throw new RangeError(`${op}: x ${shapeStr(x.shape)} must be [B, T, H, Dh]`);
  const [B, T, H, Dh] = x.shape;
  if (Dh % 2 !== 0) throw new RangeError(`${op}: the head dimension of x ${shapeStr(x.shape)} must be even`);
  if (positions.dtype !== 'i32') throw new TypeError(`${op}: positions must be i32, got ${positions.dtype}`);
  const p = positions.shape;
  const batched = p.length === 2 && p[0] === B && p[1] === T;
  if (!batched && !(p.length === 1 && p[0] === T))
    throw new RangeError(`${op}: positions ${shapeStr(p)} must be [${B}, ${T}] or [${T}] for x ${shapeStr(x.shape)}`);
  const y = Tensor.empty(x.shape, { dtype: dt, device: x.device });
  native().rope(dtypeId(dt), B, T, H, Dh, x.buffer(op), positions.buffer(op), batched, theta, !!opts.inverse, y.buffer(op));
  return y;
}

/** The backward of rope: rope(dy, positions, theta, { inverse: true }). */
export function ropeBackward(dy: Tensor, positions: Tensor, theta: number): Tensor {
  return rope(dy, positions, theta, { inverse: true });
}
