// Argument checks shared by the op wrappers: every failure names the op and the offending shapes.
import { DType, Tensor, shapeStr } from '../tensor';

export function tensorArg(op: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor`);
  t.buffer(op); // throws if disposed
  return t;
}

export function sameDevice(op: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.device !== ts[0].device)
      throw new Error(`${op}: tensors are on different devices (${ts.map((x) => x.device).join(', ')})`);
}

export function sameDType(op: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.dtype !== ts[0].dtype)
      throw new TypeError(`${op}: dtypes differ (${ts.map((x) => x.dtype).join(', ')})`);
}

export function floatDType(op: string, t: Tensor): DType {
  if (t.dtype !== 'f32' && t.dtype !== 'bf16')
    throw new TypeError(`${op}: expected a f32 or bf16 tensor, got ${t.dtype} ${shapeStr(t.shape)}`);
  return t.dtype;
}

export function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
    throw new RangeError(`${op}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
}

export function numberArg(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${op}: ${name} must be a number`);
  return v;
}
