// Fused softmax cross-entropy with its gradient. Twins: native/cpu/cross_entropy.cpp,
// native/cuda/cross_entropy.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    crossEntropy(
      dt: number, N: number, V: number, logits: NativeBuffer, targets: NativeBuffer, ignoreIndex: number,
      hasScale: boolean, gradScale: number, losses: NativeBuffer, loss: NativeBuffer, count: NativeBuffer,
      dlogits: NativeBuffer | null,
    ): void;
  }
}

export interface CrossEntropyOptions {
  /** Targets equal to this are ignored (loss 0, gradient 0, not counted). Default -100. */
  ignoreIndex?: number;
  /** Compute dlogits. Default true. */
  computeGrad?: boolean;
  /** dlogits = (softmax - onehot) * gradScale. Default 1/count (the gradient of the mean loss). */
  gradScale?: number;
  /** Write dlogits into logits (which is returned as dlogits) instead of a new tensor. */
  inPlace?: boolean;
}

export interface CrossEntropyResult {
  /** f32 [] : sum(losses) / count (0 when count is 0). */
  loss: Tensor;
  /** f32, targets' shape: logsumexp(row) - row[target]; 0 for ignored rows. */
  losses: Tensor;
  /**
   * f32 []: the number of non-ignored rows. A tensor (on the logits' device) rather than a number so
   * that CUDA never has to synchronise; read it with count.item().
   */
  count: Tensor;
  /** Logits' shape and dtype; absent when computeGrad is false. */
  dlogits?: Tensor;
}

/**
 * Softmax cross-entropy over the last dimension, fused: one online max/sum-of-exp pass per row (no
 * softmax buffer), then the gradient written directly. logits [..., V] f32|bf16, targets i32 [...].
 * A target that is neither ignoreIndex nor in [0, V) is an Error on the CPU; on CUDA the kernel stays
 * in bounds, sets that row's loss to NaN (so loss is NaN) and its gradient to 0, and records it for the
 * next embedding / crossEntropy call on CUDA or checkIndexErrors() to throw.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): CrossEntropyResult {
  const op = 'crossEntropy';
  tensorArg(op, 'logits', logits);
  tensorArg(op, 'targets', targets);
  sameDevice(op, logits, targets);
  const dt = floatDType(op, logits);
  if (targets.dtype !== 'i32') throw new TypeError(`${op}: targets must be i32, got ${targets.dtype}`);
  if (logits.ndim < 1) throw new RangeError(`${op}: logits must have a vocabulary dimension, got a scalar`);
  const V = logits.shape[logits.ndim - 1];
  const lead = logits.shape.slice(0, -1);
  if (targets.ndim !== lead.length || targets.shape.some((d, i) => d !== lead[i]))
    throw new RangeError(`${op}: targets ${shapeStr(targets.shape)} must be ${shapeStr(lead)} for logits ${shapeStr(logits.shape)}`);
  const N = targets.size;
  if (V === 0 && N > 0) throw new RangeError(`${op}: the vocabulary dimension of logits ${shapeStr(logits.shape)} is empty`);
  const ignoreIndex = numberArg(op, 'ignoreIndex', opts.ignoreIndex ?? -100);
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -2147483648 || ignoreIndex > 2147483647)
    throw new RangeError(`${op}: ignoreIndex must be a 32-bit integer, got ${ignoreIndex}`);
  const computeGrad = opts.computeGrad ?? true;
  const hasScale = opts.gradScale !== undefined;
  const gradScale = hasScale ? numberArg(op, 'gradScale', opts.gradScale) : 0;
  if (opts.inPlace && !computeGrad) throw new RangeError(`${op}: inPlace needs computeGrad`);
  const dev = logits.device;
  const losses = Tensor.empty(targets.shape, { dtype: 'f32', device: dev });
  const loss = Tensor.empty([], { dtype: 'f32', device: dev });
  const count = Tensor.empty([], { dtype: 'f32', device: dev });
  const dlogits = !computeGrad ? undefined : opts.inPlace ? logits : Tensor.empty(logits.shape, { dtype: dt, device: dev });
  native().crossEntropy(
    dtypeId(dt), N, V, logits.buffer(op), targets.buffer(op), ignoreIndex, hasScale, gradScale,
    losses.buffer(op), loss.buffer(op), count.buffer(op), dlogits ? dlogits.buffer(op) : null,
  );
  const out: CrossEntropyResult = { loss, losses, count };
  if (dlogits) out.dlogits = dlogits;
  return out;
}
