// safetensors checkpoint I/O (the Hugging Face format), in TypeScript over node:fs.
//
// Format: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
//   { "__metadata__"?: {str: str}, "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ... }
// padded with spaces to a multiple of 8 bytes, then the tensor data (little-endian, row-major); offsets
// are relative to the start of the data and must tile it exactly (no gaps, no overlaps), as the
// reference implementation (huggingface/safetensors) requires.
//
// Sharded checkpoints: model.safetensors.index.json = { "metadata": { "total_size": n },
// "weight_map": { "<tensor name>": "model-00001-of-00002.safetensors", ... } } beside the shards.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { native } from '../native';
import { DType, Device, Tensor, checkDevice, shapeStr } from '../tensor';

/** Element types of the safetensors format and their sizes in bytes. */
export const SAFETENSORS_DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_BYTES;

/** Header entry of one tensor; begin/end are byte offsets relative to the start of the data section. */
export interface SafetensorsTensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** One tensor's raw little-endian bytes as stored in the file. */
export interface RawTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

export interface LoadOptions {
  /** Where the tensors go (default 'cpu'). */
  device?: Device;
  /**
   * dtype of the floating-point tensors (default: BF16 stays bf16, F16/F32/F64 become f32). Integer
   * tensors (I32, I64) always become i32.
   */
  dtype?: 'f32' | 'bf16';
}

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

const TENSOR_TO_ST: Record<DType, SafetensorsDType> = { f32: 'F32', bf16: 'BF16', i32: 'I32' };

function fail(file: string, msg: string): never {
  throw new Error(`safetensors: ${file}: ${msg}`);
}

function checkLittleEndian(): void {
  if (os.endianness() !== 'LE') throw new Error('safetensors: only little-endian hosts are supported');
}

// ---------------------------------------------------------------------------------------------
// Header parsing and validation

interface ParsedHeader {
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
}

/** Validates the JSON header against a data section of dataBytes bytes. */
function parseHeader(file: string, headerBytes: Uint8Array, dataBytes: number): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(file, `header does not start with '{' (invalid header)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(file, 'header is not a JSON object');

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
        fail(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `__metadata__ value of "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(file, `${where}: entry is not an object`);
    const e = entry as Record<string, unknown>;
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, dtype))
      fail(file, `${where}: unknown dtype ${JSON.stringify(dtype)}`);
    const shape = e.shape;
    if (!Array.isArray(shape)) fail(file, `${where}: shape is not an array`);
    for (const d of shape)
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
        fail(file, `${where}: invalid shape ${JSON.stringify(shape)} (dimensions must be non-negative integers)`);
    const offs = e.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    )
      fail(file, `${where}: data_offsets ${JSON.stringify(offs)} must be two non-negative integers`);
    const [begin, end] = offs as number[];
    if (end < begin) fail(file, `${where}: data_offsets [${begin}, ${end}] end before begin`);
    if (end > dataBytes)
      fail(file, `${where}: data_offsets [${begin}, ${end}] out of range (the data section has ${dataBytes} bytes)`);
    const elems = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = elems * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDType];
    if (want !== end - begin)
      fail(
        file,
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} ${shapeStr(shape as number[])} needs ${want}`,
      );
    tensors.set(name, { dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], begin, end });
  }

  // The tensors must tile the data section: sorted by offset, each starts where the previous ended.
  const sorted = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let pos = 0;
  let prev = '';
  for (const [name, t] of sorted) {
    if (t.begin < pos)
      fail(file, `tensor "${name}": data_offsets [${t.begin}, ${t.end}] overlap tensor "${prev}" (which ends at ${pos})`);
    if (t.begin > pos)
      fail(file, `tensor "${name}": data_offsets [${t.begin}, ${t.end}] leave a gap after byte ${pos} of the data`);
    pos = t.end;
    prev = name;
  }
  if (pos !== dataBytes)
    fail(file, `the tensors cover ${pos} bytes but the data section has ${dataBytes} (trailing bytes or truncated header)`);
  return { tensors, metadata };
}

function readFully(fd: number, buf: Uint8Array, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const len = Math.min(buf.length - done, 1 << 30);
    const n = fs.readSync(fd, buf, done, len, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function writeFully(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) {
    const len = Math.min(buf.length - done, 1 << 30);
    done += fs.writeSync(fd, buf, done, len);
  }
}

// ---------------------------------------------------------------------------------------------
// Lazy reader

/**
 * A safetensors file opened lazily: the header is read and validated at open, each tensor's bytes
 * only when asked for. Call close() when done.
 */
export class SafetensorsFile {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly dataStart: number,
    readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.fd = fd;
  }

  static open(file: string): SafetensorsFile {
    checkLittleEndian();
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new Error(`safetensors: cannot open ${file}: ${(e as Error).message}`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < 8) fail(file, `file is ${size} bytes, shorter than the 8-byte header length`);
      const lenBuf = new Uint8Array(8);
      readFully(fd, lenBuf, 0);
      const n = Buffer.from(lenBuf.buffer).readBigUInt64LE(0);
      if (n > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
      if (n > BigInt(size - 8)) fail(file, `header length ${n} exceeds the file size (${size} bytes)`);
      const hlen = Number(n);
      const header = new Uint8Array(hlen);
      if (readFully(fd, header, 8) !== hlen) fail(file, 'file ended inside the header');
      const parsed = parseHeader(file, header, size - 8 - hlen);
      return new SafetensorsFile(file, fd, 8 + hlen, parsed.tensors, parsed.metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Tensor names in the file, sorted. */
  names(): string[] {
    return [...this.tensors.keys()].sort();
  }

  info(name: string): SafetensorsTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`safetensors: ${this.path}: no tensor named "${name}"`);
    return t;
  }

  /** The raw bytes of one tensor. */
  read(name: string): RawTensor {
    const t = this.info(name);
    if (this.fd === null) throw new Error(`safetensors: ${this.path} is closed`);
    const data = new Uint8Array(t.end - t.begin);
    if (readFully(this.fd, data, this.dataStart + t.begin) !== data.length)
      fail(this.path, `tensor "${name}": file ended inside its data`);
    return { dtype: t.dtype, shape: [...t.shape], data };
  }

  /** One tensor as a mathrl Tensor (see loadSafetensors for the dtype conversions). */
  load(name: string, opts: LoadOptions = {}): Tensor {
    return rawToTensor(this.path, name, this.read(name), opts);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Opens a safetensors file lazily (header now, tensors on demand). */
export function openSafetensors(file: string): SafetensorsFile {
  return SafetensorsFile.open(file);
}

/** Reads every tensor of a safetensors file as raw bytes, with the header's metadata. */
export function readSafetensors(file: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(file);
  try {
    const tensors = new Map<string, RawTensor>();
    for (const name of f.names()) tensors.set(name, f.read(name));
    return { tensors, metadata: { ...f.metadata } };
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Host conversions

let f16Table: Float32Array | null = null;

/** IEEE half-precision bits to the (exactly representable) f32 value. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24; // zero and subnormals
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * (1024 + f) * 2 ** (e - 25);
}

function f16ToF32Array(bits: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  const t = f16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/** f32 -> bf16 bits, round to nearest even, NaN kept quiet (as native/common.h). */
function f32ToBf16Array(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < u.length; i++) {
    const v = u[i];
    out[i] = (v & 0x7fffffff) > 0x7f800000 ? ((v >>> 16) | 0x40) & 0xffff : ((v + 0x7fff + ((v >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

function bf16ToF32Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return out;
}

/** A typed view over raw little-endian bytes (copied first when misaligned). */
function view<T>(data: Uint8Array, bytes: number, make: (b: ArrayBuffer, off: number, n: number) => T): T {
  const n = data.length / bytes;
  if (data.byteOffset % bytes === 0) return make(data.buffer as ArrayBuffer, data.byteOffset, n);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return make(copy.buffer, 0, n);
}

function upload(shape: number[], dtype: DType, device: Device, host: ArrayBufferView): Tensor {
  const t = Tensor.empty(shape, { dtype, device });
  try {
    if (host.byteLength > 0) native().upload(t.buffer('loadSafetensors'), host);
  } catch (e) {
    t.dispose();
    throw e;
  }
  return t;
}

function rawToTensor(file: string, name: string, raw: RawTensor, opts: LoadOptions): Tensor {
  const device = checkDevice('loadSafetensors', opts.device ?? 'cpu');
  const want = opts.dtype;
  if (want !== undefined && want !== 'f32' && want !== 'bf16')
    throw new TypeError(`loadSafetensors: dtype must be 'f32' or 'bf16', got ${JSON.stringify(want)}`);
  const { shape, data } = raw;
  switch (raw.dtype) {
    case 'BF16': {
      if (want !== 'f32') return upload(shape, 'bf16', device, data);
      const bits = view(data, 2, (b, o, n) => new Uint16Array(b, o, n));
      return upload(shape, 'f32', device, bf16ToF32Array(bits));
    }
    case 'F16': {
      const f = f16ToF32Array(view(data, 2, (b, o, n) => new Uint16Array(b, o, n)));
      return want === 'bf16' ? upload(shape, 'bf16', device, f32ToBf16Array(f)) : upload(shape, 'f32', device, f);
    }
    case 'F32': {
      if (want !== 'bf16') return upload(shape, 'f32', device, data);
      return upload(shape, 'bf16', device, f32ToBf16Array(view(data, 4, (b, o, n) => new Float32Array(b, o, n))));
    }
    case 'F64': {
      const f = Float32Array.from(view(data, 8, (b, o, n) => new Float64Array(b, o, n)));
      return want === 'bf16' ? upload(shape, 'bf16', device, f32ToBf16Array(f)) : upload(shape, 'f32', device, f);
    }
    case 'I32':
      return upload(shape, 'i32', device, data);
    case 'I64': {
      const v = view(data, 8, (b, o, n) => new BigInt64Array(b, o, n));
      const out = new Int32Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (x < -2147483648n || x > 2147483647n)
          fail(file, `tensor "${name}": I64 value ${x} at index ${i} does not fit in i32`);
        out[i] = Number(x);
      }
      return upload(shape, 'i32', device, out);
    }
    default:
      fail(file, `tensor "${name}": dtype ${raw.dtype} cannot be loaded (supported: BF16, F16, F32, F64, I32, I64)`);
  }
}

/**
 * Loads every tensor of a safetensors file (one at a time, so the whole file is never in memory).
 * BF16 stays bf16 (or becomes f32 with dtype 'f32'); F16 and F64 are converted to f32 on the host; F32
 * stays f32 (or is rounded to bf16 with dtype 'bf16'); I32 stays i32; I64 becomes i32 (values out of
 * range are an error).
 */
export function loadSafetensors(file: string, opts: LoadOptions = {}): Map<string, Tensor> {
  const f = SafetensorsFile.open(file);
  const out = new Map<string, Tensor>();
  try {
    for (const name of f.names()) out.set(name, f.load(name, opts));
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  } finally {
    f.close();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writer

export type TensorMap = Map<string, Tensor> | Record<string, Tensor>;

function entriesOf(op: string, tensors: TensorMap): [string, Tensor][] {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of list) {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: "${name}" is not a Tensor`);
    t.buffer(op);
    if (name === '__metadata__') throw new Error(`${op}: "__metadata__" is reserved and cannot name a tensor`);
    if (name.length === 0) throw new Error(`${op}: tensor names must not be empty`);
  }
  // Byte order of the UTF-8 names, as the reference implementation sorts.
  return list.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
}

function checkMetadata(op: string, metadata: Record<string, string> | undefined): void {
  if (metadata === undefined) return;
  if (metadata === null || typeof metadata !== 'object') throw new TypeError(`${op}: metadata must be an object of strings`);
  for (const [k, v] of Object.entries(metadata))
    if (typeof v !== 'string') throw new TypeError(`${op}: metadata value of "${k}" must be a string`);
}

/** The header bytes (length prefix + JSON + space padding to a multiple of 8) for entries in order. */
function buildHeader(entries: [string, Tensor][], metadata?: Record<string, string>): { header: Uint8Array; dataBytes: number } {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) obj.__metadata__ = metadata;
  let pos = 0;
  for (const [name, t] of entries) {
    obj[name] = { dtype: TENSOR_TO_ST[t.dtype], shape: [...t.shape], data_offsets: [pos, pos + t.nbytes] };
    pos += t.nbytes;
  }
  const json = Buffer.from(JSON.stringify(obj), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const header = Buffer.alloc(8 + padded, 0x20);
  header.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(header, 8);
  return { header, dataBytes: pos };
}

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
}

/** Writes via a temporary file in the same folder, then renames it over `file` (atomic on POSIX). */
function atomicWrite(file: string, write: (fd: number) => void): void {
  const tmp = tempName(file);
  const fd = fs.openSync(tmp, 'w');
  try {
    write(fd);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Saves tensors (f32 → F32, bf16 → BF16, i32 → I32) to a safetensors file, in sorted name order, with
 * optional string metadata. The file is written to a temporary name and renamed into place.
 */
export function saveSafetensors(file: string, tensors: TensorMap, metadata?: Record<string, string>): void {
  const op = 'saveSafetensors';
  checkLittleEndian();
  checkMetadata(op, metadata);
  const entries = entriesOf(op, tensors);
  const { header } = buildHeader(entries, metadata);
  atomicWrite(file, (fd) => {
    writeFully(fd, header);
    for (const [, t] of entries) {
      if (t.nbytes === 0) continue;
      const bytes = new Uint8Array(t.nbytes);
      native().download(t.buffer(op), bytes);
      writeFully(fd, bytes);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

export interface ShardIndex {
  metadata: Record<string, unknown>;
  /** tensor name -> shard file name (relative to the index's folder) */
  weightMap: Map<string, string>;
}

/** Reads and validates a model.safetensors.index.json. */
export function readShardIndex(file: string): ShardIndex {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`safetensors index: ${file}: ${(e as Error).message}`);
  }
  const bad = (m: string): never => {
    throw new Error(`safetensors index: ${file}: ${m}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) bad('not a JSON object');
  const j = json as Record<string, unknown>;
  const wm = j.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) bad('weight_map is missing or not an object');
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.length === 0) bad(`weight_map entry "${name}" is not a file name`);
    const s = shard as string;
    if (path.isAbsolute(s) || s.split(/[\\/]/).includes('..'))
      bad(`weight_map entry "${name}" points outside the checkpoint folder (${s})`);
    weightMap.set(name, s);
  }
  const md = j.metadata;
  const metadata = md !== null && typeof md === 'object' && !Array.isArray(md) ? (md as Record<string, unknown>) : {};
  return { metadata, weightMap };
}

/**
 * Loads a checkpoint folder (or an index file, or a single .safetensors file): the shards named by
 * model.safetensors.index.json when it exists, else model.safetensors.
 */
export function loadCheckpoint(dirOrFile: string, opts: LoadOptions = {}): Map<string, Tensor> {
  let index: string | null = null;
  if (fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory()) {
    if (fs.existsSync(path.join(dirOrFile, INDEX_FILE))) index = path.join(dirOrFile, INDEX_FILE);
    else if (fs.existsSync(path.join(dirOrFile, SINGLE_FILE))) return loadSafetensors(path.join(dirOrFile, SINGLE_FILE), opts);
    else throw new Error(`loadCheckpoint: ${dirOrFile} has neither ${INDEX_FILE} nor ${SINGLE_FILE}`);
  } else if (dirOrFile.endsWith('.json')) index = dirOrFile;
  else return loadSafetensors(dirOrFile, opts);

  const { weightMap } = readShardIndex(index);
  const dir = path.dirname(index);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of weightMap) {
    if (!byShard.has(shard)) byShard.set(shard, []);
    byShard.get(shard)!.push(name);
  }
  const out = new Map<string, Tensor>();
  try {
    for (const [shard, names] of [...byShard.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const f = SafetensorsFile.open(path.join(dir, shard));
      try {
        for (const name of names.sort()) {
          if (!f.tensors.has(name))
            throw new Error(`safetensors index: ${index}: tensor "${name}" is not in its shard ${shard}`);
          out.set(name, f.load(name, opts));
        }
      } finally {
        f.close();
      }
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}

export interface SaveShardedOptions {
  /** Largest shard in bytes of tensor data (a tensor bigger than this gets a shard of its own). */
  maxShardBytes: number;
  /** File name prefix (default 'model'): model-00001-of-00003.safetensors. */
  prefix?: string;
  /** String metadata written into every shard (e.g. { format: 'pt' }). */
  metadata?: Record<string, string>;
}

/**
 * Saves tensors as shards of at most maxShardBytes each (greedy, in sorted name order) plus
 * model.safetensors.index.json; with one shard, writes model.safetensors alone (as transformers does).
 * Returns the files written (relative names).
 */
export function saveSharded(dir: string, tensors: TensorMap, opts: SaveShardedOptions): string[] {
  const op = 'saveSharded';
  const max = opts.maxShardBytes;
  if (typeof max !== 'number' || !(max > 0)) throw new RangeError(`${op}: maxShardBytes must be a positive number`);
  const prefix = opts.prefix ?? 'model';
  checkMetadata(op, opts.metadata);
  const entries = entriesOf(op, tensors);
  const shards: [string, Tensor][][] = [];
  let cur: [string, Tensor][] = [];
  let curBytes = 0;
  for (const e of entries) {
    if (cur.length && curBytes + e[1].nbytes > max) {
      shards.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(e);
    curBytes += e[1].nbytes;
  }
  if (cur.length || shards.length === 0) shards.push(cur);
  fs.mkdirSync(dir, { recursive: true });
  if (shards.length === 1) {
    const name = `${prefix}.safetensors`;
    saveSafetensors(path.join(dir, name), new Map(shards[0]), opts.metadata);
    return [name];
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((shard, i) => {
    const name = `${prefix}-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    saveSafetensors(path.join(dir, name), new Map(shard), opts.metadata);
    files.push(name);
    for (const [n, t] of shard) {
      weightMap[n] = name;
      total += t.nbytes;
    }
  });
  const indexName = prefix === 'model' ? INDEX_FILE : `${prefix}.safetensors.index.json`;
  const body = Buffer.from(JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  atomicWrite(path.join(dir, indexName), (fd) => writeFully(fd, body));
  files.push(indexName);
  return files;
}
