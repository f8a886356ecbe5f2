// KV-cache write for incremental decoding. Twins: native/cpu/kv_cache.cpp, native/cuda/kv_cache.cu.
// Also home of the index-argument helper shared with attentionDecode (per-row start positions,
// lengths and row maps given as an i32 tensor or a host array).
import { native, NativeBuffer } from '../native';
import { Device, Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, sameDType, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    kvCacheWrite(
      dt: number, Bc: number, S: number, Bx: number, T: number, H: number, Dh: number,
      cache: NativeBuffer, x: NativeBuffer, start: NativeBuffer, rows: NativeBuffer | null,
    ): void;
    kvCacheErrors(): void;
  }
}

/** Per-row integers: an i32 tensor [n] on the op's device, or host numbers (checked on the host). */
export type RowIndex = Tensor | ArrayLike<number>;

/** An index argument resolved to a native buffer; `host` holds the values when they came from the host. */
export interface ResolvedIndex {
  buf: NativeBuffer;
  host?: Int32Array;
  temp?: Tensor;
}

/**
 * Resolves a RowIndex of n entries for `op` on `device`: a tensor must be i32 [n] on that device; host
 * values must be 32-bit integers (they are uploaded to a temporary tensor, which the caller disposes).
 */
export function rowIndexArg(op: string, name: string, v: RowIndex, n: number, device: Device): ResolvedIndex {
  if (v instanceof Tensor) {
    tensorArg(op, name, v);
    if (v.dtype !== 'i32') throw new TypeError(`${op}: ${name} must be i32, got ${v.dtype} ${shapeStr(v.shape)}`);
    if (v.ndim !== 1 || v.shape[0] !== n)
      throw new RangeError(`${op}: ${name} ${shapeStr(v.shape)} must be [${n}]`);
    if (v.device !== device) throw new Error(`${op}: ${name} is on ${v.device}, the other tensors on ${device}`);
    return { buf: v.buffer(op) };
  }
  if (v == null || typeof (v as ArrayLike<number>).length !== 'number')
    throw new TypeError(`${op}: ${name} must be an i32 Tensor or an array of integers`);
  if (v.length !== n) throw new RangeError(`${op}: ${name} has ${v.length} entries, expected ${n}`);
  const host = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const x = v[i];
    if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647)
      throw new RangeError(`${op}: ${name}[${i}] = ${x} is not a 32-bit integer`);
    host[i] = x;
  }
  const temp = Tensor.fromArray(host, [n], { dtype: 'i32', device });
  return { buf: temp.buffer(op), host, temp };
}

/** Checks host row-map values: each in [0, batch), and distinct when `distinct`. */
export function checkRowMap(op: string, rows: Int32Array, batch: number, distinct: boolean): void {
  const seen = distinct ? new Uint8Array(batch) : null;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r < 0 || r >= batch) throw new RangeError(`${op}: rows[${i}] = ${r} is outside the cache batch ${batch}`);
    if (seen) {
      if (seen[r]) throw new RangeError(`${op}: cache row ${r} appears twice in rows`);
      seen[r] = 1;
    }
  }
}

function dims4(op: string, name: string, t: Tensor): number[] {
  if (t.ndim !== 4) throw new RangeError(`${op}: ${name} must be [B, S, H, Dh], got ${shapeStr(t.shape)}`);
  return t.shape as number[];
}

export interface KvCacheWriteOptions {
  /**
   * Row map (distinct entries in [0, cache batch)): x row b goes to cache row rows[b]. Default: row b,
   * which needs x's batch <= the cache's.
   */
  rows?: RowIndex;
}

/**
 * Writes x [Bx, T, H, Dh] into cache [Bc, S, H, Dh] (same dtype, f32 or bf16, same device) in place: x
 * row b goes to cache row rows[b] (default b), positions start[b] .. start[b] + T - 1. `start` (and
 * `rows`) are i32 tensors [Bx] or host arrays. A write past the cache length S (or before 0) is an
 * error: with host arrays, or on the CPU, it is thrown before anything is written; with device tensors
 * on CUDA the bad row is skipped and the next kvCacheWrite / attentionDecode call (or
 * checkKvCacheErrors()) throws. Returns cache.
 */
export function kvCacheWrite(cache: Tensor, x: Tensor, start: RowIndex, opts: KvCacheWriteOptions = {}): Tensor {
  const op = 'kvCacheWrite';
  tensorArg(op, 'cache', cache);
  tensorArg(op, 'x', x);
  sameDevice(op, cache, x);
  sameDType(op, cache, x);
  floatDType(op, cache);
  const [Bc, S, H, Dh] = dims4(op, 'cache', cache);
  if (x.ndim !== 4) throw new RangeError(`${op}: x must be [B, T, H, Dh], got ${shapeStr(x.shape)}`);
  const [Bx, T, Hx, Dx] = x.shape;
  const shapes = `cache ${shapeStr(cache.shape)}, x ${shapeStr(x.shape)}`;
  if (Hx !== H || Dx !== Dh) throw new RangeError(`${op}: x and cache must agree in H and Dh (${shapes})`);
  if (opts.rows === undefined && Bx > Bc)
    throw new RangeError(`${op}: x has more rows than the cache and no row map was given (${shapes})`);
  const temps: (Tensor | undefined)[] = [];
  try {
    const s = rowIndexArg(op, 'start', start, Bx, cache.device);
    temps.push(s.temp);
    if (s.host)
      s.host.forEach((p, b) => {
        if (p < 0 || p + T > S)
          throw new RangeError(
            `${op}: row ${b} writes positions ${p}..${p + T - 1}, outside the cache length ${S} (${shapes})`,
          );
      });
    let rows: NativeBuffer | null = null;
    if (opts.rows !== undefined) {
      const r = rowIndexArg(op, 'rows', opts.rows, Bx, cache.device);
      temps.push(r.temp);
      if (r.host) checkRowMap(op, r.host, Bc, true);
      rows = r.buf;
    }
    if (Bx > 0 && T > 0)
      native().kvCacheWrite(dtypeId(cache.dtype), Bc, S, Bx, T, H, Dh, cache.buffer(op), x.buffer(op), s.buf, rows);
  } finally {
    for (const t of temps) t?.dispose();
  }
  return cache;
}

/**
 * Waits for the CUDA stream and throws if a CUDA kvCacheWrite or attentionDecode kernel met an
 * out-of-range row, start or length given as a device tensor (the record is cleared). No-op without CUDA.
 */
export function checkKvCacheErrors(): void {
  native().kvCacheErrors();
}
