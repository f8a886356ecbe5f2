// RMSNorm (HF Llama) forward and backward. Twins: native/cpu/rmsnorm.cpp, native/cuda/rmsnorm.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDType, sameDevice, sameShape, tensorArg } from './check';
import { rows } from './reduce';

declare module '../native' {
  interface NativeAddon {
    rmsnorm(
      dtx: number, dtw: number, rows: number, D: number, x: NativeBuffer, w: NativeBuffer, eps: number,
      y: NativeBuffer, rstd: NativeBuffer,
    ): void;
    rmsnormBackward(
      dtx: number, dtw: number, rows: number, D: number, dy: NativeBuffer, x: NativeBuffer, w: NativeBuffer,
      rstd: NativeBuffer, dx: NativeBuffer, dweight: NativeBuffer, accumulate: boolean,
    ): void;
  }
}

function checkWeight(op: string, x: Tensor, weight: Tensor, D: number): void {
  sameDevice(op, x, weight);
  const wdt = floatDType(op, weight);
  if (wdt !== 'f32' && wdt !== x.dtype)
    throw new TypeError(`${op}: weight must be f32 or ${x.dtype} like x, got ${wdt}`);
  if (weight.ndim !== 1 || weight.shape[0] !== D)
    throw new RangeError(`${op}: weight ${shapeStr(weight.shape)} must be [${D}] for x ${shapeStr(x.shape)}`);
}

/**
 * RMSNorm over the last dimension of x [..., D] (f32 or bf16), computed in f32:
 * rstd = 1/sqrt(mean(x²) + eps) (f32, one per row, shape x.shape[:-1]), y = x * rstd * weight
 * (dtype of x). weight is [D], f32 or x's dtype. rstd is kept for rmsnormBackward.
 */
export function rmsnorm(x: Tensor, weight: Tensor, eps: number): { y: Tensor; rstd: Tensor } {
  const op = 'rmsnorm';
  tensorArg(op, 'x', x);
  tensorArg(op, 'weight', weight);
  const dt = floatDType(op, x);
  const r = rows(op, x);
  checkWeight(op, x, weight, r.cols);
  numberArg(op, 'eps', eps);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  const y = Tensor.empty(x.shape, { dtype: dt, device: x.device });
  const rstd = Tensor.empty(x.shape.slice(0, -1), { dtype: 'f32', device: x.device });
  native().rmsnorm(
    dtypeId(dt), dtypeId(weight.dtype), r.rows, r.cols, x.buffer(op), weight.buffer(op), eps, y.buffer(op),
    rstd.buffer(op),
  );
  return { y, rstd };
}

export interface RmsNormBackwardOptions {
  /** f32 [D] gradient accumulator: the weight gradient is ADDED into it, and it is returned as dweight. */
  dweight?: Tensor;
}

/**
 * Backward of rmsnorm given dy (x's shape and dtype), x, weight and the forward's rstd:
 * dx (dtype of x) and dweight (f32 [D]; added into opts.dweight when given, which is returned).
 */
export function rmsnormBackward(
  dy: Tensor, x: Tensor, weight: Tensor, rstd: Tensor, opts: RmsNormBackwardOptions = {},
): { dx: Tensor; dweight: Tensor } {
  const op = 'rmsnormBackward';
  tensorArg(op, 'dy', dy);
  tensorArg(op, 'x', x);
  tensorArg(op, 'weight', weight);
  tensorArg(op, 'rstd', rstd);
  const dt = floatDType(op, x);
  sameDevice(op, x, dy, rstd);
  sameDType(op, x, dy);
  sameShape(op, dy, x);
  const r = rows(op, x);
  checkWeight(op, x, weight, r.cols);
  const rshape = x.shape.slice(0, -1);
  if (rstd.dtype !== 'f32' || rstd.size !== r.rows)
    throw new RangeError(`${op}: rstd ${shapeStr(rstd.shape)} ${rstd.dtype} must be f32 ${shapeStr(rshape)} for x ${shapeStr(x.shape)}`);
  let dweight = opts.dweight;
  const accumulate = dweight !== undefined;
  if (dweight !== undefined) {
    tensorArg(op, 'dweight', dweight);
    sameDevice(op, x, dweight);
    if (dweight.dtype !== 'f32' || dweight.ndim !== 1 || dweight.shape[0] !== r.cols)
      throw new RangeError(`${op}: dweight ${shapeStr(dweight.shape)} ${dweight.dtype} must be f32 [${r.cols}]`);
  } else {
    dweight = Tensor.empty([r.cols], { dtype: 'f32', device: x.device });
  }
  const dx = Tensor.empty(x.shape, { dtype: dt, device: x.device });
  native().rmsnormBackward(
    dtypeId(dt), dtypeId(weight.dtype), r.rows, r.cols, dy.buffer(op), x.buffer(op), weight.buffer(op),
    rstd.buffer(op), dx.buffer(op), dweight.buffer(op), accumulate,
  );
  return { dx, dweight };
}
