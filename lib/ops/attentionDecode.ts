// Decode attention: one new query per sequence against its KV cache (grouped-query heads), for
// incremental generation. Twins: native/cpu/attention_decode.cpp, native/cuda/attention_decode.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDType, sameDevice, tensorArg } from './check';
import { RowIndex, checkRowMap, rowIndexArg } from './kvCache';

declare module '../native' {
  interface NativeAddon {
    attentionDecode(
      dt: number, Bq: number, Bc: number, S: number, Hq: number, Hkv: number, Dh: number, scale: number,
      q: NativeBuffer, k: NativeBuffer, v: NativeBuffer, lengths: NativeBuffer, rows: NativeBuffer | null,
      out: NativeBuffer,
    ): void;
  }
}

export interface AttentionDecodeOptions {
  /** Score scale (default 1 / sqrt(Dh)). */
  scale?: number;
  /** Row map: q row b reads cache row rows[b] (entries in [0, cache batch)). Default: row b. */
  rows?: RowIndex;
}

/**
 * Attention of one query per sequence against a KV cache: q [B, Hq, Dh]; kCache, vCache [Bc, S, Hkv, Dh]
 * (Hq a multiple of Hkv; query head h reads kv head h / (Hq / Hkv)); all the same dtype (f32 or bf16)
 * and device. Row b attends positions 0 .. lengths[b] - 1 of cache row rows[b] (default b) — write the
 * new token's own k/v (kvCacheWrite) first. Returns out [B, Hq, Dh] in q's dtype; math in f32; a row
 * with length 0 gets zeros. lengths / rows: i32 tensors [B] or host arrays; a length outside [0, S] or a
 * row outside the cache is an error (thrown at once with host arrays or on the CPU; on CUDA with device
 * tensors the row becomes NaN and the next call, or checkKvCacheErrors(), throws). On CUDA Dh <= 256.
 */
export function attentionDecode(
  q: Tensor, kCache: Tensor, vCache: Tensor, lengths: RowIndex, opts: AttentionDecodeOptions = {},
): Tensor {
  const op = 'attentionDecode';
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${op}: options must be an object`);
  tensorArg(op, 'q', q);
  tensorArg(op, 'kCache', kCache);
  tensorArg(op, 'vCache', vCache);
  sameDevice(op, q, kCache, vCache);
  sameDType(op, q, kCache, vCache);
  floatDType(op, q);
  const shapes = `q ${shapeStr(q.shape)}, kCache ${shapeStr(kCache.shape)}, vCache ${shapeStr(vCache.shape)}`;
  if (q.ndim !== 3) throw new RangeError(`${op}: q must be [B, Hq, Dh] (${shapes})`);
  if (kCache.ndim !== 4) throw new RangeError(`${op}: kCache must be [B, S, Hkv, Dh] (${shapes})`);
  if (vCache.ndim !== 4 || vCache.shape.some((d, i) => d !== kCache.shape[i]))
    throw new RangeError(`${op}: kCache and vCache shapes differ (${shapes})`);
  const [B, Hq, Dh] = q.shape;
  const [Bc, S, Hkv, Dk] = kCache.shape;
  if (Dk !== Dh) throw new RangeError(`${op}: q and the cache must agree in Dh (${shapes})`);
  if (Hq < 1 || Hkv < 1 || Dh < 1) throw new RangeError(`${op}: empty head or head dimension (${shapes})`);
  if (Hq % Hkv !== 0)
    throw new RangeError(`${op}: query heads ${Hq} must be a multiple of kv heads ${Hkv} (${shapes})`);
  if (q.device === 'cuda' && Dh > 256)
    throw new RangeError(`${op}: on CUDA the head size Dh must be at most 256, got ${Dh} (${shapes})`);
  if (opts.rows === undefined && B > Bc)
    throw new RangeError(`${op}: q has more rows than the cache and no row map was given (${shapes})`);
  const scale = numberArg(op, 'scale', opts.scale ?? 1 / Math.sqrt(Dh));
  if (!Number.isFinite(scale)) throw new RangeError(`${op}: scale must be finite, got ${scale}`);
  const temps: (Tensor | undefined)[] = [];
  try {
    const len = rowIndexArg(op, 'lengths', lengths, B, q.device);
    temps.push(len.temp);
    if (len.host)
      len.host.forEach((L, b) => {
        if (L < 0 || L > S)
          throw new RangeError(`${op}: lengths[${b}] = ${L} is outside [0, ${S}] (the cache length; ${shapes})`);
      });
    let rows: NativeBuffer | null = null;
    if (opts.rows !== undefined) {
      const r = rowIndexArg(op, 'rows', opts.rows, B, q.device);
      temps.push(r.temp);
      if (r.host) checkRowMap(op, r.host, Bc, false);
      rows = r.buf;
    }
    const out = Tensor.empty(q.shape, { dtype: q.dtype, device: q.device });
    if (B > 0)
      native().attentionDecode(
        dtypeId(q.dtype), B, Bc, S, Hq, Hkv, Dh, scale,
        q.buffer(op), kCache.buffer(op), vCache.buffer(op), len.buf, rows, out.buffer(op),
      );
    return out;
  } finally {
    for (const t of temps) t?.dispose();
  }
}
