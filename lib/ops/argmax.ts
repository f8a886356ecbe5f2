// Row-wise argmax with the winner's log-probability (greedy decoding). Twins: native/cpu/argmax.cpp,
// native/cuda/argmax.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    argmax(dt: number, R: number, V: number, x: NativeBuffer, index: NativeBuffer, logprob: NativeBuffer): void;
  }
}

export interface ArgmaxResult {
  /** i32 [...lead]: index of the largest value of each row (lowest index on ties; the first NaN wins). */
  indices: Tensor;
  /** f32 [...lead]: log_softmax of the row at that index (NaN when the row has a NaN or is all -inf). */
  logprobs: Tensor;
}

/** Argmax over the last dimension of x [..., V] (f32 or bf16), with log-probabilities, in one pass. */
export function argmax(x: Tensor): ArgmaxResult {
  const op = 'argmax';
  tensorArg(op, 'x', x);
  floatDType(op, x);
  if (x.ndim < 1) throw new RangeError(`${op}: x must have at least one dimension, got ${shapeStr(x.shape)}`);
  const V = x.shape[x.ndim - 1];
  const lead = x.shape.slice(0, -1);
  const R = lead.reduce((a, b) => a * b, 1);
  if (V === 0 && R > 0) throw new RangeError(`${op}: the last dimension of ${shapeStr(x.shape)} is empty`);
  const indices = Tensor.empty(lead, { dtype: 'i32', device: x.device });
  const logprobs = Tensor.empty(lead, { dtype: 'f32', device: x.device });
  if (R > 0) native().argmax(dtypeId(x.dtype), R, V, x.buffer(op), indices.buffer(op), logprobs.buffer(op));
  return { indices, logprobs };
}
