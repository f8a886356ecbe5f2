// Fused attention with grouped-query heads, causal and segment (packed-document) masks, forward and
// backward, FlashAttention-2 style (no T×T matrix). Twins: native/cpu/attention.cpp, native/cuda/attention.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDType, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    attentionForward(
      dt: number, B: number, T: number, Hq: number, Hkv: number, Dh: number, causal: boolean, scale: number,
      q: NativeBuffer, k: NativeBuffer, v: NativeBuffer, seg: NativeBuffer | null, out: NativeBuffer, lse: NativeBuffer,
    ): void;
    attentionBackward(
      dt: number, B: number, T: number, Hq: number, Hkv: number, Dh: number, causal: boolean, scale: number,
      q: NativeBuffer, k: NativeBuffer, v: NativeBuffer, seg: NativeBuffer | null, out: NativeBuffer, lse: NativeBuffer,
      dout: NativeBuffer, dq: NativeBuffer, dk: NativeBuffer, dv: NativeBuffer,
    ): void;
  }
}

export interface AttentionOptions {
  /** Query i attends only keys j <= i (default true). */
  causal?: boolean;
  /**
   * i32 [B, T]: query i attends key j only when both carry the same id, so packed sequences do not
   * attend across documents.
   */
  segmentIds?: Tensor;
  /** Score scale (default 1 / sqrt(Dh)). */
  scale?: number;
}

export interface AttentionResult {
  /** [B, T, Hq, Dh], q's dtype. */
  out: Tensor;
  /** f32 [B, Hq, T]: log-sum-exp of the scaled, masked scores of each query row (-inf for a row with no allowed key). */
  lse: Tensor;
}

export interface AttentionGrads {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

interface Dims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  Dh: number;
  causal: boolean;
  scale: number;
  seg: NativeBuffer | null;
}

function dims4(op: string, name: string, t: Tensor): number[] {
  if (t.ndim !== 4) throw new RangeError(`${op}: ${name} must be [B, T, H, Dh], got ${shapeStr(t.shape)}`);
  return t.shape as number[];
}

function checkInputs(op: string, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions | undefined): Dims {
  tensorArg(op, 'q', q);
  tensorArg(op, 'k', k);
  tensorArg(op, 'v', v);
  sameDevice(op, q, k, v);
  sameDType(op, q, k, v);
  floatDType(op, q);
  const [B, T, Hq, Dh] = dims4(op, 'q', q);
  const [Bk, Tk, Hkv, Dk] = dims4(op, 'k', k);
  const vs = dims4(op, 'v', v);
  const shapes = `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`;
  if (vs.some((d, i) => d !== k.shape[i])) throw new RangeError(`${op}: k and v shapes differ (${shapes})`);
  if (Bk !== B || Tk !== T || Dk !== Dh)
    throw new RangeError(`${op}: q and k/v must agree in B, T and Dh (${shapes})`);
  if (Hq < 1 || Hkv < 1 || Dh < 1) throw new RangeError(`${op}: empty head or head dimension (${shapes})`);
  if (Hq % Hkv !== 0)
    throw new RangeError(`${op}: query heads ${Hq} must be a multiple of kv heads ${Hkv} (${shapes})`);
  if (q.device === 'cuda' && (Dh > 128 || Dh % 8 !== 0))
    throw new RangeError(`${op}: on CUDA the head size Dh must be a multiple of 8 and at most 128, got ${Dh} (${shapes})`);
  const o = opts ?? {};
  if (typeof o !== 'object') throw new TypeError(`${op}: options must be an object`);
  const causal = o.causal === undefined ? true : o.causal;
  if (typeof causal !== 'boolean') throw new TypeError(`${op}: causal must be a boolean`);
  const scale = numberArg(op, 'scale', o.scale ?? 1 / Math.sqrt(Dh));
  if (!Number.isFinite(scale)) throw new RangeError(`${op}: scale must be finite, got ${scale}`);
  let seg: NativeBuffer | null = null;
  if (o.segmentIds !== undefined) {
    const s = tensorArg(op, 'segmentIds', o.segmentIds);
    if (s.dtype !== 'i32') throw new TypeError(`${op}: segmentIds must be i32, got ${s.dtype} ${shapeStr(s.shape)}`);
    if (s.device !== q.device)
      throw new Error(`${op}: segmentIds is on ${s.device}, q on ${q.device}`);
    if (s.ndim !== 2 || s.shape[0] !== B || s.shape[1] !== T)
      throw new RangeError(`${op}: segmentIds must be [${B}, ${T}] (B, T of q ${shapeStr(q.shape)}), got ${shapeStr(s.shape)}`);
    seg = s.buffer(op);
  }
  return { B, T, Hq, Hkv, Dh, causal, scale, seg };
}

/**
 * Fused scaled-dot-product attention with grouped-query heads. q: [B, T, Hq, Dh]; k, v: [B, T, Hkv, Dh]
 * with Hq a multiple of Hkv (query head h uses kv head h / (Hq / Hkv)); same dtype (f32 or bf16) and
 * device. Query i attends key j iff (!causal || j <= i) and (no segmentIds || seg[b,i] == seg[b,j]).
 * Returns out ([B, T, Hq, Dh], q's dtype) and lse (f32 [B, Hq, T], needed by attentionBackward).
 * Math in f32; memory O(T·Dh) per head besides inputs and outputs. On CUDA, Dh must be a multiple
 * of 8 and at most 128.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts?: AttentionOptions): AttentionResult {
  const op = 'attention';
  const d = checkInputs(op, q, k, v, opts);
  const out = Tensor.empty(q.shape, { dtype: q.dtype, device: q.device });
  const lse = Tensor.empty([d.B, d.Hq, d.T], { dtype: 'f32', device: q.device });
  if (d.B > 0 && d.T > 0)
    native().attentionForward(
      dtypeId(q.dtype), d.B, d.T, d.Hq, d.Hkv, d.Dh, d.causal, d.scale,
      q.buffer(op), k.buffer(op), v.buffer(op), d.seg, out.buffer(op), lse.buffer(op),
    );
  return { out, lse };
}

/**
 * Gradients of attention(q, k, v, opts).out with respect to q, k and v, given dout (the gradient of
 * out) and the forward's out and lse. dk and dv sum over the query heads that share each kv head.
 * Recomputes the attention probabilities tile by tile (FlashAttention-2); opts must be the forward's.
 */
export function attentionBackward(
  dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, opts?: AttentionOptions,
): AttentionGrads {
  const op = 'attentionBackward';
  const d = checkInputs(op, q, k, v, opts);
  tensorArg(op, 'dout', dout);
  tensorArg(op, 'out', out);
  tensorArg(op, 'lse', lse);
  sameDevice(op, q, dout, out, lse);
  sameDType(op, q, dout, out);
  for (const [name, t] of [['dout', dout], ['out', out]] as [string, Tensor][])
    if (t.ndim !== 4 || t.shape.some((x, i) => x !== q.shape[i]))
      throw new RangeError(`${op}: ${name} ${shapeStr(t.shape)} must have q's shape ${shapeStr(q.shape)}`);
  if (lse.dtype !== 'f32') throw new TypeError(`${op}: lse must be f32, got ${lse.dtype}`);
  const lseShape = [d.B, d.Hq, d.T];
  if (lse.ndim !== 3 || lse.shape.some((x, i) => x !== lseShape[i]))
    throw new RangeError(`${op}: lse ${shapeStr(lse.shape)} must be ${shapeStr(lseShape)} (B, Hq, T of q ${shapeStr(q.shape)})`);
  const dq = Tensor.empty(q.shape, { dtype: q.dtype, device: q.device });
  const dk = Tensor.empty(k.shape, { dtype: k.dtype, device: k.device });
  const dv = Tensor.empty(v.shape, { dtype: v.dtype, device: v.device });
  if (d.B > 0 && d.T > 0)
    native().attentionBackward(
      dtypeId(q.dtype), d.B, d.T, d.Hq, d.Hkv, d.Dh, d.causal, d.scale,
      q.buffer(op), k.buffer(op), v.buffer(op), d.seg, out.buffer(op), lse.buffer(op),
      dout.buffer(op), dq.buffer(op), dk.buffer(op), dv.buffer(op),
    );
  return { dq, dk, dv };
}
