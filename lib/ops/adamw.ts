// AdamW optimizer step, in place. Twins: native/cpu/adamw.cpp, native/cuda/adamw.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDevice, sameShape, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    adamw(
      n: number, param: NativeBuffer, gradDt: number, grad: NativeBuffer, m: NativeBuffer, v: NativeBuffer,
      decay: number, omb1: number, beta2: number, omb2: number, eps: number, stepSize: number, bc2Sqrt: number,
      gradScale: number, gradScaleBuf: NativeBuffer | null, copyDt: number, copy: NativeBuffer | null,
    ): void;
  }
}

export interface AdamWOptions {
  /** Learning rate. */
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (param -= lr * weightDecay * param), as torch.optim.AdamW. Default 0. */
  weightDecay?: number;
  /** 1-based step number, for the bias corrections 1 - beta^step. */
  step: number;
  /**
   * Multiplies the gradient: a number, or a f32 one-element tensor on the param's device (e.g. the
   * scale from clipGradNorm), read by the kernel so the host never waits for it.
   */
  gradScale?: number | Tensor;
  /** Also write the updated param into this f32 or bf16 tensor (same shape), in the same pass. */
  computeCopy?: Tensor;
}

/**
 * One AdamW step (torch.optim.AdamW), in place on param (f32), m and v (f32 first and second moments,
 * zero-initialised before step 1), with grad f32 or bf16 of the same shape:
 *   param *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;
 *   param -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 */
export function adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void {
  const op = 'adamw';
  tensorArg(op, 'param', param);
  tensorArg(op, 'grad', grad);
  tensorArg(op, 'm', m);
  tensorArg(op, 'v', v);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options { lr, step, ... } are required`);
  if (param.dtype !== 'f32') throw new TypeError(`${op}: param must be f32 (master weights), got ${param.dtype} ${shapeStr(param.shape)}`);
  floatDType(op, grad);
  for (const [name, t] of [['m', m], ['v', v]] as const)
    if (t.dtype !== 'f32') throw new TypeError(`${op}: ${name} must be f32, got ${t.dtype} ${shapeStr(t.shape)}`);
  sameDevice(op, param, grad, m, v);
  sameShape(op, param, grad);
  sameShape(op, param, m);
  sameShape(op, param, v);

  const lr = numberArg(op, 'lr', opts.lr);
  const beta1 = numberArg(op, 'beta1', opts.beta1 ?? 0.9);
  const beta2 = numberArg(op, 'beta2', opts.beta2 ?? 0.999);
  const eps = numberArg(op, 'eps', opts.eps ?? 1e-8);
  const wd = numberArg(op, 'weightDecay', opts.weightDecay ?? 0);
  const step = numberArg(op, 'step', opts.step);
  if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`${op}: lr must be a finite number >= 0, got ${lr}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new RangeError(`${op}: beta1 must be in [0, 1), got ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new RangeError(`${op}: beta2 must be in [0, 1), got ${beta2}`);
  if (!Number.isFinite(eps) || eps < 0) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  if (!Number.isFinite(wd) || wd < 0) throw new RangeError(`${op}: weightDecay must be a finite number >= 0, got ${wd}`);
  if (!Number.isSafeInteger(step) || step < 1) throw new RangeError(`${op}: step must be an integer >= 1 (1-based), got ${step}`);

  let gscale = 1;
  let gscaleBuf: NativeBuffer | null = null;
  const gs = opts.gradScale;
  if (gs instanceof Tensor) {
    tensorArg(op, 'gradScale', gs);
    if (gs.dtype !== 'f32' || gs.size !== 1)
      throw new TypeError(`${op}: gradScale must be a f32 scalar tensor, got ${gs.dtype} ${shapeStr(gs.shape)}`);
    sameDevice(op, param, gs);
    gscaleBuf = gs.buffer(op);
  } else if (gs !== undefined) {
    gscale = numberArg(op, 'gradScale', gs);
    if (!Number.isFinite(gscale)) throw new RangeError(`${op}: gradScale must be finite, got ${gscale}`);
  }

  let copyBuf: NativeBuffer | null = null;
  let copyDt = dtypeId('f32');
  const copy = opts.computeCopy;
  if (copy !== undefined) {
    tensorArg(op, 'computeCopy', copy);
    floatDType(op, copy);
    sameDevice(op, param, copy);
    sameShape(op, param, copy);
    copyBuf = copy.buffer(op);
    copyDt = dtypeId(copy.dtype);
  }
  const bufs: [string, NativeBuffer][] = [['param', param.buffer(op)], ['grad', grad.buffer(op)], ['m', m.buffer(op)], ['v', v.buffer(op)]];
  if (copyBuf) bufs.push(['computeCopy', copyBuf]);
  for (let i = 0; i < bufs.length; i++)
    for (let j = i + 1; j < bufs.length; j++)
      if (bufs[i][1] === bufs[j][1]) throw new Error(`${op}: ${bufs[i][0]} and ${bufs[j][0]} share memory`);

  // The step's scalars in double, as torch computes them on the host.
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  if (!(bc2 > 0)) throw new RangeError(`${op}: 1 - beta2^step is 0 (beta2 ${beta2}, step ${step})`);
  native().adamw(
    param.size, param.buffer(op), dtypeId(grad.dtype), grad.buffer(op), m.buffer(op), v.buffer(op),
    1 - lr * wd, 1 - beta1, beta2, 1 - beta2, eps, bc1 > 0 ? lr / bc1 : 0, Math.sqrt(bc2),
    gscale, gscaleBuf, copyDt, copyBuf,
  );
}
