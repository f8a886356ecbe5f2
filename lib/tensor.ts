// Tensor: a JS handle over native memory (CPU or CUDA), plus scopes (tidy) and memory statistics.
import { native, NativeBuffer } from './native';

export type DType = 'f32' | 'bf16' | 'i32';
export type Device = 'cpu' | 'cuda';

export const DTYPES: readonly DType[] = ['f32', 'bf16', 'i32'];
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];
const DTYPE_ID: Record<DType, number> = { f32: 0, bf16: 1, i32: 2 };
const DEVICE_ID: Record<Device, number> = { cpu: 0, cuda: 1 };
const DTYPE_BYTES: Record<DType, number> = { f32: 4, bf16: 2, i32: 4 };

export function dtypeId(d: DType): number {
  return DTYPE_ID[d];
}
export function deviceId(d: Device): number {
  return DEVICE_ID[d];
}
export function dtypeBytes(d: DType): number {
  return DTYPE_BYTES[d];
}

export function checkDType(op: string, d: unknown): DType {
  if (typeof d !== 'string' || !(d in DTYPE_ID))
    throw new TypeError(`${op}: unknown dtype ${JSON.stringify(d)} (expected one of ${DTYPES.join(', ')})`);
  return d as DType;
}
export function checkDevice(op: string, d: unknown): Device {
  if (typeof d !== 'string' || !(d in DEVICE_ID))
    throw new TypeError(`${op}: unknown device ${JSON.stringify(d)} (expected 'cpu' or 'cuda')`);
  return d as Device;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function checkShape(op: string, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of integers`);
  for (const d of shape)
    if (!Number.isInteger(d) || d < 0)
      throw new RangeError(`${op}: invalid shape ${shapeStr(shape)} (dimensions must be non-negative integers)`);
  return [...shape];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// bf16 conversion on the host (round to nearest even, NaN kept quiet), matching native/common.h.
const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function f32ToBf16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
export function bf16BitsToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0];
}
/** Rounds a number to the nearest bf16 value (what storing it as bf16 keeps). */
export function roundBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

// ---------------------------------------------------------------------------------------------
// Storage: a native buffer shared by a tensor and its views; freed when the last one lets go.

class Storage {
  refs = 1;
  constructor(readonly buf: NativeBuffer) {}
  release(): void {
    if (--this.refs === 0) this.buf.free();
  }
}

let liveTensors = 0;
let gcReclaimed = 0;

// Safety net: a tensor that becomes unreachable without dispose() gives its memory back here.
const registry = new FinalizationRegistry<Storage>((storage) => {
  liveTensors--;
  gcReclaimed++;
  storage.release();
});

// Scopes opened by tidy(): every tensor created inside is tracked by the innermost scope.
const scopes: Set<Tensor>[] = [];

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
}

export type TensorData = ArrayLike<number> | Float32Array | Int32Array;

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  private storage: Storage | null;

  /** Internal: use Tensor.empty / zeros / fromArray or an op. */
  private constructor(storage: Storage, shape: number[], dtype: DType, device: Device) {
    this.storage = storage;
    this.shape = Object.freeze(shape);
    this.dtype = dtype;
    this.device = device;
    liveTensors++;
    registry.register(this, storage, this);
    if (scopes.length) scopes[scopes.length - 1].add(this);
  }

  /** Uninitialised tensor. */
  static empty(shape: readonly number[], opts: TensorOptions = {}): Tensor {
    const s = checkShape('Tensor.empty', shape);
    const dtype = checkDType('Tensor.empty', opts.dtype ?? 'f32');
    const device = checkDevice('Tensor.empty', opts.device ?? 'cpu');
    const N = native();
    const buf = new N.NativeBuffer(numel(s) * DTYPE_BYTES[dtype], DEVICE_ID[device]);
    return new Tensor(new Storage(buf), s, dtype, device);
  }

  static full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
    const t = Tensor.empty(shape, opts);
    native().fill(DTYPE_ID[t.dtype], t.size, value, t.buffer('Tensor.full'));
    return t;
  }

  static zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
    return Tensor.full(shape, 0, opts);
  }

  /**
   * Copies host data into a new tensor. `shape` defaults to [data.length]. For bf16 the values are
   * rounded to nearest even; for i32 they must be integers in range.
   */
  static fromArray(data: TensorData, shape?: readonly number[], opts: TensorOptions = {}): Tensor {
    const op = 'Tensor.fromArray';
    if (data == null || typeof (data as ArrayLike<number>).length !== 'number')
      throw new TypeError(`${op}: data must be an array or typed array of numbers`);
    const s = checkShape(op, shape ?? [data.length]);
    if (numel(s) !== data.length)
      throw new RangeError(`${op}: ${data.length} values do not fill shape ${shapeStr(s)} (${numel(s)} elements)`);
    const dtype = checkDType(op, opts.dtype ?? (data instanceof Int32Array ? 'i32' : 'f32'));
    const host = toHost(op, data, dtype);
    const t = Tensor.empty(s, { dtype, device: opts.device ?? 'cpu' });
    native().upload(t.buffer(op), host);
    return t;
  }

  get size(): number {
    return numel(this.shape);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get nbytes(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }
  /** Element strides of the contiguous row-major layout. */
  get strides(): number[] {
    const st = new Array<number>(this.shape.length);
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      st[i] = s;
      s *= this.shape[i];
    }
    return st;
  }
  get disposed(): boolean {
    return this.storage === null;
  }

  /** Internal: the native buffer, or an Error naming the op when the tensor was disposed. */
  buffer(op: string): NativeBuffer {
    if (!this.storage) throw new Error(`${op}: tensor ${shapeStr(this.shape)} ${this.dtype} was disposed`);
    return this.storage.buf;
  }

  /** Copies the values to the host: Float32Array for f32/bf16, Int32Array for i32. */
  toArray(): Float32Array | Int32Array {
    const buf = this.buffer('toArray');
    if (this.dtype === 'i32') {
      const out = new Int32Array(this.size);
      native().download(buf, out);
      return out;
    }
    if (this.dtype === 'f32') {
      const out = new Float32Array(this.size);
      native().download(buf, out);
      return out;
    }
    const bits = new Uint16Array(this.size);
    native().download(buf, bits);
    const out = new Float32Array(this.size);
    for (let i = 0; i < bits.length; i++) out[i] = bf16BitsToF32(bits[i]);
    return out;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`item: tensor ${shapeStr(this.shape)} has ${this.size} elements, not 1`);
    return this.toArray()[0];
  }

  /** A copy on `device` (a new tensor even when it is already there). */
  to(device: Device): Tensor {
    const dev = checkDevice('to', device);
    const src = this.buffer('to');
    const t = Tensor.empty(this.shape, { dtype: this.dtype, device: dev });
    native().copy(t.buffer('to'), src, this.nbytes);
    return t;
  }

  clone(): Tensor {
    return this.to(this.device);
  }

  /** A view with another shape over the same memory; one dimension may be -1. */
  reshape(shape: readonly number[]): Tensor {
    const storage = this.storage;
    if (!storage) throw new Error(`reshape: tensor ${shapeStr(this.shape)} was disposed`);
    const s = [...shape];
    const free = s.indexOf(-1);
    if (free >= 0) {
      if (s.indexOf(-1, free + 1) >= 0) throw new RangeError(`reshape: only one dimension can be -1 in ${shapeStr(s)}`);
      const rest = numel(s.filter((_, i) => i !== free));
      if (rest === 0 || this.size % rest !== 0)
        throw new RangeError(`reshape: cannot reshape ${shapeStr(this.shape)} into ${shapeStr(shape)}`);
      s[free] = this.size / rest;
    }
    checkShape('reshape', s);
    if (numel(s) !== this.size)
      throw new RangeError(`reshape: cannot reshape ${shapeStr(this.shape)} (${this.size} elements) into ${shapeStr(s)}`);
    storage.refs++;
    return new Tensor(storage, s, this.dtype, this.device);
  }

  /** Frees the memory now (a view frees it when the last view of the storage is disposed). Idempotent. */
  dispose(): void {
    const storage = this.storage;
    if (!storage) return;
    this.storage = null;
    registry.unregister(this);
    liveTensors--;
    for (const s of scopes) s.delete(this);
    storage.release();
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}, ${this.device}${this.disposed ? ', disposed' : ''})`;
  }
}

function toHost(op: string, data: TensorData, dtype: DType): ArrayBufferView {
  const n = data.length;
  if (dtype === 'f32') return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
  if (dtype === 'bf16') {
    const bits = new Uint16Array(n);
    for (let i = 0; i < n; i++) bits[i] = f32ToBf16Bits(data[i]);
    return bits;
  }
  if (data instanceof Int32Array) return data;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647)
      throw new RangeError(`${op}: value ${v} at index ${i} is not a 32-bit integer (dtype i32)`);
    out[i] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scopes

type Tensors = Tensor | Tensors[] | { [k: string]: Tensors } | unknown;

function collect(x: Tensors, out: Set<Tensor>, depth = 0): void {
  if (depth > 8 || x == null) return;
  if (x instanceof Tensor) out.add(x);
  else if (Array.isArray(x)) for (const v of x) collect(v, out, depth + 1);
  else if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype)
    for (const v of Object.values(x as Record<string, unknown>)) collect(v, out, depth + 1);
}

/**
 * Runs fn and disposes every tensor it created, except the ones it returns (a Tensor, or arrays /
 * plain objects of them) and the ones passed to keep(). Returned tensors belong to the outer scope.
 * fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    for (const t of scope) t.dispose();
    throw new Error('tidy: fn returned a Promise; tidy only supports synchronous functions');
  }
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = scopes.length ? scopes[scopes.length - 1] : null;
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Removes t from every open tidy scope, so it survives them. Returns t. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

export interface MemoryInfo {
  /** Bytes currently allocated by mathrl on the device. */
  bytes: number;
  peakBytes: number;
  /** Native buffers alive (views share one). */
  buffers: number;
  /** Allocations made since start. */
  allocations: number;
  /** Freed host blocks kept for reuse (not counted in bytes); emptyCache() releases them. */
  cachedBytes: number;
  /** JS tensor handles alive (all devices). */
  tensors: number;
  /** Tensors that were never disposed and were reclaimed by the garbage collector. */
  gcReclaimed: number;
}

export function memory(device: Device = 'cpu'): MemoryInfo {
  const m = native().memory(DEVICE_ID[checkDevice('memory', device)]);
  return { ...m, tensors: liveTensors, gcReclaimed };
}

export function resetPeakMemory(): void {
  native().resetPeakMemory();
}

/** Returns the cached, unused host blocks to the system. */
export function emptyCache(): void {
  native().emptyCache();
}
