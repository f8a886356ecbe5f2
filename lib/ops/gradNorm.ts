// Global gradient norm and clipping (torch.nn.utils.clip_grad_norm_), computed on the grads' device
// without a host synchronisation. Twins: native/cpu/grad_norm.cpp, native/cuda/grad_norm.cu.
import { native, NativeBuffer } from '../native';
import { Device, Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    gradNormSq(dt: number, n: number, g: NativeBuffer, out: NativeBuffer): void;
    clipScale(sumsq: NativeBuffer, maxNorm: number, norm: NativeBuffer, scale: NativeBuffer): void;
  }
}

function gradsArg(op: string, grads: unknown): Tensor[] {
  if (!Array.isArray(grads)) throw new TypeError(`${op}: grads must be an array of tensors`);
  grads.forEach((g, i) => {
    tensorArg(op, `grads[${i}]`, g);
    floatDType(op, g as Tensor);
  });
  const ts = grads as Tensor[];
  for (const g of ts)
    if (g.device !== ts[0].device)
      throw new Error(`${op}: grads are on different devices (${ts.map((x) => x.device).join(', ')})`);
  return ts;
}

function scalarOut(op: string, out: Tensor, device: Device): void {
  tensorArg(op, 'out', out);
  if (out.dtype !== 'f32' || out.size !== 1)
    throw new TypeError(`${op}: out must be a f32 scalar tensor, got ${out.dtype} ${shapeStr(out.shape)}`);
  if (out.device !== device) throw new Error(`${op}: out is on ${out.device}, the grads on ${device}`);
}

/**
 * Σ over all tensors of Σ g² (f32 or bf16 grads), as a f32 [] tensor on the grads' device (written
 * into `out` when given). Nothing is read back to the host.
 */
export function gradNormSquared(grads: Tensor[], out?: Tensor): Tensor {
  const op = 'gradNormSquared';
  const gs = gradsArg(op, grads);
  if (gs.length === 0 && !out) throw new RangeError(`${op}: no gradients (pass out to get 0 on a chosen device)`);
  const device = gs.length ? gs[0].device : out!.device;
  if (out) scalarOut(op, out, device);
  const o = out ?? Tensor.empty([], { dtype: 'f32', device });
  const N = native();
  N.fill(dtypeId('f32'), 1, 0, o.buffer(op));
  for (const g of gs) N.gradNormSq(dtypeId(g.dtype), g.size, g.buffer(op), o.buffer(op));
  return o;
}

/**
 * The global L2 norm of grads and the clipping scale min(1, maxNorm / (norm + 1e-6)), both f32 []
 * tensors on the grads' device, computed without a host synchronisation: pass `scale` to adamw's
 * gradScale to clip inside the optimizer step. A NaN/Inf norm gives a NaN scale (as torch).
 */
export function clipGradNorm(grads: Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  const op = 'clipGradNorm';
  numberArg(op, 'maxNorm', maxNorm);
  if (!(maxNorm > 0)) throw new RangeError(`${op}: maxNorm must be > 0, got ${maxNorm}`);
  const sumsq = gradNormSquared(grads);
  try {
    const norm = Tensor.empty([], { dtype: 'f32', device: sumsq.device });
    const scale = Tensor.empty([], { dtype: 'f32', device: sumsq.device });
    native().clipScale(sumsq.buffer(op), maxNorm, norm.buffer(op), scale.buffer(op));
    return { norm, scale };
  } finally {
    sumsq.dispose();
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: scales every grad in place by min(1, maxNorm / (norm + 1e-6)) and
 * returns the norm before clipping. Reads the norm back, so it waits for the device.
 */
export function clipGradNormInPlace(grads: Tensor[], maxNorm: number): number {
  const op = 'clipGradNormInPlace';
  const { norm, scale } = clipGradNorm(grads, maxNorm);
  try {
    const n = norm.item();
    const s = scale.item();
    if (s !== 1)
      for (const g of grads) {
        const b = g.buffer(op);
        native().scale(dtypeId(g.dtype), g.size, b, s, 0, b);
      }
    return n;
  } finally {
    norm.dispose();
    scale.dispose();
  }
}
