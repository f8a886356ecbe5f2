// safetensors I/O: bit-exact round trips, the exact byte layout, F16/I64 conversion, sharded
// checkpoints, and every malformed header refused with a message naming the file and the tensor.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor, DType } from '../lib';
import { native } from '../lib/native';
import {
  readSafetensors,
  openSafetensors,
  loadSafetensors,
  saveSafetensors,
  saveSharded,
  loadCheckpoint,
  readShardIndex,
  f16BitsToF32,
} from '../lib/io/safetensors';
import { randn } from './helpers';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-st-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The raw bytes of a tensor's storage. */
function rawBits(t: Tensor): Uint8Array {
  const b = new Uint8Array(t.nbytes);
  if (b.length) native().download(t.buffer('test'), b);
  return b;
}

function randTensor(shape: number[], dtype: DType): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'i32') {
    const v = new Int32Array(n);
    const r = randn(n);
    for (let i = 0; i < n; i++) v[i] = Math.round(r[i] * 1e6) | 0;
    if (n > 1) {
      v[0] = -2147483648;
      v[1] = 2147483647;
    }
    return Tensor.fromArray(v, shape, { dtype });
  }
  const r = randn(n);
  if (n > 3) {
    r[0] = -0;
    r[1] = Infinity;
    r[2] = 1e-40; // subnormal in f32
  }
  return Tensor.fromArray(r, shape, { dtype });
}

/** A safetensors file from a header object and a data section, built by hand. */
function handFile(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): string {
  let json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  if (pad && json.length % 8) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
  return file;
}

describe('saveSafetensors / loadSafetensors', () => {
  const SHAPES = [[1], [7], [3, 5], [2, 3, 129], [0], [4, 0, 3], []];

  test('round trip is bit-exact for f32, bf16 and i32 of odd shapes', () => {
    const tensors = new Map<string, Tensor>();
    for (const dtype of ['f32', 'bf16', 'i32'] as DType[])
      SHAPES.forEach((s, i) => tensors.set(`layer.${dtype}.${i}`, randTensor(s, dtype)));
    const file = path.join(dir, 'rt.safetensors');
    saveSafetensors(file, tensors, { format: 'pt', note: 'héllo' });
    const back = loadSafetensors(file);
    expect([...back.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const u = back.get(name)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(Buffer.from(rawBits(u)).equals(Buffer.from(rawBits(t)))).toBe(true);
    }
    const raw = readSafetensors(file);
    expect(raw.metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect(raw.tensors.get('layer.bf16.1')!.dtype).toBe('BF16');
    expect(Buffer.from(raw.tensors.get('layer.f32.2')!.data).equals(Buffer.from(rawBits(tensors.get('layer.f32.2')!)))).toBe(true);
    for (const t of [...tensors.values(), ...back.values()]) t.dispose();
  });

  test('the byte layout: u64 LE length, space-padded JSON to 8 bytes, data in sorted name order', () => {
    const b = Tensor.fromArray([1, 2, 3], [3], { dtype: 'f32' });
    const a = Tensor.fromArray([-1.5], [1, 1], { dtype: 'bf16' });
    const c = Tensor.fromArray(Int32Array.from([7, -7]), [2]);
    const file = path.join(dir, 'layout.safetensors');
    saveSafetensors(file, { b, c, a });
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    const json =
      '{"a":{"dtype":"BF16","shape":[1,1],"data_offsets":[0,2]},' +
      '"b":{"dtype":"F32","shape":[3],"data_offsets":[2,14]},' +
      '"c":{"dtype":"I32","shape":[2],"data_offsets":[14,22]}}';
    expect(text.trimEnd()).toBe(json);
    expect(text.slice(json.length)).toMatch(/^ *$/);
    expect(n - json.length).toBeLessThan(8);
    const data = bytes.subarray(8 + n);
    expect(data.length).toBe(22);
    expect(data.readUInt16LE(0)).toBe(0xbfc0); // bf16 -1.5
    expect([data.readFloatLE(2), data.readFloatLE(6), data.readFloatLE(10)]).toEqual([1, 2, 3]);
    expect([data.readInt32LE(14), data.readInt32LE(18)]).toEqual([7, -7]);
    // No temporary file left behind.
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    for (const t of [a, b, c]) t.dispose();
  });

  test('dtype conversion on load: BF16 -> f32, F32 -> bf16 (round to nearest even)', () => {
    const x = randn(77);
    const f = Tensor.fromArray(x, [7, 11]);
    const h = Tensor.fromArray(x, [7, 11], { dtype: 'bf16' });
    const file = path.join(dir, 'conv.safetensors');
    saveSafetensors(file, { f, h });
    const asBf16 = loadSafetensors(file, { dtype: 'bf16' });
    expect(asBf16.get('f')!.dtype).toBe('bf16');
    expect(Buffer.from(rawBits(asBf16.get('f')!)).equals(Buffer.from(rawBits(h)))).toBe(true);
    const asF32 = loadSafetensors(file, { dtype: 'f32' });
    expect(asF32.get('h')!.dtype).toBe('f32');
    expect(Array.from(asF32.get('h')!.toArray())).toEqual(Array.from(h.toArray()));
    for (const t of [f, h, ...asBf16.values(), ...asF32.values()]) t.dispose();
  });

  test('a hand-built file with F16, I64 and F32 values', () => {
    // f16 bits: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), -0, inf, NaN, 1/3≈
    const f16 = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x0400, 0x8000, 0x7c00, 0x7e00, 0x3555];
    const want = [1, -2, 0.5, 65504, 2 ** -24, 2 ** -14, -0, Infinity, NaN, 0.333251953125];
    const i64 = [0n, -5n, 2147483647n, -2147483648n];
    const data = Buffer.alloc(20 + 32 + 4);
    f16.forEach((h, i) => data.writeUInt16LE(h, 2 * i));
    i64.forEach((v, i) => data.writeBigInt64LE(v, 20 + 8 * i));
    data.writeFloatLE(3.25, 52);
    const file = handFile('f16.safetensors', {
      __metadata__: { format: 'pt' },
      half: { dtype: 'F16', shape: [2, 5], data_offsets: [0, 20] },
      ids: { dtype: 'I64', shape: [4], data_offsets: [20, 52] },
      s: { dtype: 'F32', shape: [], data_offsets: [52, 56] },
    }, data);
    const m = loadSafetensors(file);
    const half = m.get('half')!;
    expect(half.dtype).toBe('f32');
    expect(half.shape).toEqual([2, 5]);
    const got = Array.from(half.toArray());
    want.forEach((w, i) => (Number.isNaN(w) ? expect(got[i]).toBeNaN() : expect(Object.is(got[i], w)).toBe(true)));
    expect(Array.from(m.get('ids')!.toArray())).toEqual([0, -5, 2147483647, -2147483648]);
    expect(m.get('ids')!.dtype).toBe('i32');
    expect(m.get('s')!.shape).toEqual([]);
    expect(m.get('s')!.item()).toBe(3.25);
    // F16 -> bf16 goes through the exact f32 value.
    const mb = loadSafetensors(file, { dtype: 'bf16' });
    expect(Array.from(mb.get('half')!.toArray()).slice(0, 6)).toEqual([1, -2, 0.5, 65536, 2 ** -24, 2 ** -14]);
    // Every f16 bit pattern matches a direct decoding.
    for (let h = 0; h < 65536; h += 37) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 31;
      const fr = h & 1023;
      const ref = e === 0 ? s * fr * 2 ** -24 : e === 31 ? (fr ? NaN : s * Infinity) : s * (1 + fr / 1024) * 2 ** (e - 15);
      expect(Object.is(f16BitsToF32(h), ref)).toBe(true);
    }
    for (const t of [...m.values(), ...mb.values()]) t.dispose();
  });

  test('I64 values outside i32 are refused, naming the tensor', () => {
    const data = Buffer.alloc(16);
    data.writeBigInt64LE(1n, 0);
    data.writeBigInt64LE(1n << 40n, 8);
    const file = handFile('i64big.safetensors', { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data);
    expect(() => loadSafetensors(file)).toThrow(/i64big\.safetensors: tensor "ids": I64 value 1099511627776 at index 1 does not fit in i32/);
    // readSafetensors (raw bytes) still works.
    expect(readSafetensors(file).tensors.get('ids')!.data.length).toBe(16);
  });

  test('lazy reader reads the header, then tensors on demand', () => {
    const a = Tensor.fromArray(randn(10), [2, 5]);
    const b = Tensor.fromArray(randn(3), [3], { dtype: 'bf16' });
    const file = path.join(dir, 'lazy.safetensors');
    saveSafetensors(file, { a, b });
    const f = openSafetensors(file);
    expect(f.names()).toEqual(['a', 'b']);
    expect(f.info('b')).toEqual({ dtype: 'BF16', shape: [3], begin: 40, end: 46 });
    const bt = f.load('b');
    expect(Array.from(bt.toArray())).toEqual(Array.from(b.toArray()));
    expect(f.read('a').data.length).toBe(40);
    expect(() => f.read('zzz')).toThrow(/lazy\.safetensors: no tensor named "zzz"/);
    f.close();
    expect(() => f.read('a')).toThrow(/is closed/);
    for (const t of [a, b, bt]) t.dispose();
  });

  test('save argument errors', () => {
    const a = Tensor.fromArray([1]);
    expect(() => saveSafetensors(path.join(dir, 'x.safetensors'), { a: 3 as unknown as Tensor })).toThrow(
      /saveSafetensors: "a" is not a Tensor/,
    );
    expect(() => saveSafetensors(path.join(dir, 'x.safetensors'), { __metadata__: a })).toThrow(/reserved/);
    expect(() => saveSafetensors(path.join(dir, 'x.safetensors'), { a }, { k: 1 as unknown as string })).toThrow(
      /metadata value of "k" must be a string/,
    );
    const d = Tensor.fromArray([1]);
    d.dispose();
    expect(() => saveSafetensors(path.join(dir, 'x.safetensors'), { d })).toThrow(/saveSafetensors: tensor \[1\] f32 was disposed/);
    expect(fs.existsSync(path.join(dir, 'x.safetensors'))).toBe(false);
    a.dispose();
  });
});

describe('malformed files are refused with a clear message', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);

  test('file shorter than 8 bytes', () => {
    const file = path.join(dir, 'short.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    expect(() => readSafetensors(file)).toThrow(/short\.safetensors: file is 3 bytes, shorter than the 8-byte header length/);
  });

  test('header length larger than the file, or over 100 MB', () => {
    const big = Buffer.alloc(16);
    big.writeBigUInt64LE(1000n);
    const f1 = path.join(dir, 'hlen.safetensors');
    fs.writeFileSync(f1, big);
    expect(() => readSafetensors(f1)).toThrow(/hlen\.safetensors: header length 1000 exceeds the file size \(16 bytes\)/);
    big.writeBigUInt64LE(200_000_000n);
    const f2 = path.join(dir, 'huge.safetensors');
    fs.writeFileSync(f2, big);
    expect(() => readSafetensors(f2)).toThrow(/huge\.safetensors: header length 200000000 exceeds the limit of 100000000 bytes/);
    big.writeBigUInt64LE(0xffffffffffffffffn);
    fs.writeFileSync(f2, big);
    expect(() => readSafetensors(f2)).toThrow(/exceeds the limit/);
  });

  test('invalid JSON, a non-object header', () => {
    expect(() => readSafetensors(handFile('json.safetensors', '{"t": {"dtype": "F32",'))).toThrow(
      /json\.safetensors: header is not valid JSON/,
    );
    expect(() => readSafetensors(handFile('arr.safetensors', '[1, 2]'))).toThrow(/arr\.safetensors: header does not start with '\{'/);
    expect(() => readSafetensors(handFile('ent.safetensors', { t: 5 }))).toThrow(/ent\.safetensors: tensor "t": entry is not an object/);
    expect(() => readSafetensors(handFile('md.safetensors', { __metadata__: { a: 1 } }))).toThrow(
      /md\.safetensors: __metadata__ value of "a" is not a string/,
    );
  });

  test('unknown dtype', () => {
    const file = handFile('dt.safetensors', { w: { dtype: 'F17', shape: [2], data_offsets: [0, 8] } }, eight);
    expect(() => readSafetensors(file)).toThrow(/dt\.safetensors: tensor "w": unknown dtype "F17"/);
  });

  test('negative or non-integer shape', () => {
    const f1 = handFile('neg.safetensors', { w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, eight);
    expect(() => readSafetensors(f1)).toThrow(/neg\.safetensors: tensor "w": invalid shape \[-2\]/);
    const f2 = handFile('frac.safetensors', { w: { dtype: 'F32', shape: [1.5, 2], data_offsets: [0, 8] } }, eight);
    expect(() => readSafetensors(f2)).toThrow(/frac\.safetensors: tensor "w": invalid shape \[1\.5,2\]/);
    const f3 = handFile('str.safetensors', { w: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, eight);
    expect(() => readSafetensors(f3)).toThrow(/str\.safetensors: tensor "w": shape is not an array/);
  });

  test('offsets out of range, reversed, not matching shape x dtype, overlapping, with gaps', () => {
    const f1 = handFile('oor.safetensors', { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, eight);
    expect(() => readSafetensors(f1)).toThrow(/oor\.safetensors: tensor "w": data_offsets \[0, 16\] out of range \(the data section has 8 bytes\)/);
    const f2 = handFile('rev.safetensors', { w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, eight);
    expect(() => readSafetensors(f2)).toThrow(/rev\.safetensors: tensor "w": data_offsets \[8, 0\] end before begin/);
    const f3 = handFile('size.safetensors', { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, eight);
    expect(() => readSafetensors(f3)).toThrow(/size\.safetensors: tensor "w": data_offsets \[0, 8\] hold 8 bytes, but F32 \[3\] needs 12/);
    const f4 = handFile('ovl.safetensors', {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, new Uint8Array(12));
    expect(() => readSafetensors(f4)).toThrow(/ovl\.safetensors: tensor "b": data_offsets \[4, 12\] overlap tensor "a"/);
    const f5 = handFile('gap.safetensors', {
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    }, new Uint8Array(12));
    expect(() => readSafetensors(f5)).toThrow(/gap\.safetensors: tensor "b": data_offsets \[8, 12\] leave a gap after byte 4/);
    const f6 = handFile('trail.safetensors', ok, new Uint8Array(12));
    expect(() => readSafetensors(f6)).toThrow(/trail\.safetensors: the tensors cover 8 bytes but the data section has 12/);
    const f7 = handFile('offs.safetensors', { w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, eight);
    expect(() => readSafetensors(f7)).toThrow(/offs\.safetensors: tensor "w": data_offsets \[0\] must be two non-negative integers/);
    // The well-formed file of the same shape reads fine.
    expect(readSafetensors(handFile('good.safetensors', ok, eight)).tensors.get('t')!.shape).toEqual([2]);
  });

  test('a dtype that cannot become a tensor', () => {
    const file = handFile('u8.safetensors', { m: { dtype: 'U8', shape: [8], data_offsets: [0, 8] } }, eight);
    expect(readSafetensors(file).tensors.get('m')!.dtype).toBe('U8');
    expect(() => loadSafetensors(file)).toThrow(/u8\.safetensors: tensor "m": dtype U8 cannot be loaded/);
  });

  test('a missing file', () => {
    expect(() => readSafetensors(path.join(dir, 'nope.safetensors'))).toThrow(/safetensors: cannot open .*nope\.safetensors/);
  });
});

describe('sharded checkpoints', () => {
  test('saveSharded -> loadCheckpoint round trip, index written and read', () => {
    const tensors: Record<string, Tensor> = {};
    for (let i = 0; i < 7; i++) tensors[`model.layers.${i}.w`] = randTensor([3, 33], i % 2 ? 'bf16' : 'f32');
    tensors['model.embed_tokens.weight'] = randTensor([50, 8], 'f32'); // 1600 bytes: a shard of its own
    tensors['ids'] = randTensor([5], 'i32');
    const out = path.join(dir, 'sharded');
    const files = saveSharded(out, tensors, { maxShardBytes: 800, metadata: { format: 'pt' } });
    expect(files[files.length - 1]).toBe('model.safetensors.index.json');
    const shards = files.slice(0, -1);
    expect(shards.length).toBeGreaterThan(2);
    shards.forEach((f, i) => expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
    for (const f of shards) {
      const sz = [...readSafetensors(path.join(out, f)).tensors.values()].reduce((a, t) => a + t.data.length, 0);
      expect(sz <= 800 || readSafetensors(path.join(out, f)).tensors.size === 1).toBe(true);
    }
    const idx = readShardIndex(path.join(out, 'model.safetensors.index.json'));
    expect([...idx.weightMap.keys()].sort()).toEqual(Object.keys(tensors).sort());
    const total = Object.values(tensors).reduce((a, t) => a + t.nbytes, 0);
    expect(idx.metadata.total_size).toBe(total);

    const back = loadCheckpoint(out);
    expect(back.size).toBe(Object.keys(tensors).length);
    for (const [name, t] of Object.entries(tensors)) {
      const u = back.get(name)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(Buffer.from(rawBits(u)).equals(Buffer.from(rawBits(t)))).toBe(true);
    }
    // A single shard is written as model.safetensors with no index, and loads the same way.
    const one = path.join(dir, 'single');
    expect(saveSharded(one, tensors, { maxShardBytes: 1e9 })).toEqual(['model.safetensors']);
    const back1 = loadCheckpoint(one);
    expect(back1.size).toBe(back.size);
    for (const t of [...Object.values(tensors), ...back.values(), ...back1.values()]) t.dispose();
  });

  test('bad indexes are refused', () => {
    const d = path.join(dir, 'badidx');
    fs.mkdirSync(d, { recursive: true });
    const idx = path.join(d, 'model.safetensors.index.json');
    fs.writeFileSync(idx, JSON.stringify({ metadata: {} }));
    expect(() => loadCheckpoint(d)).toThrow(/badidx.model\.safetensors\.index\.json: weight_map is missing/);
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { w: '../../etc/passwd' } }));
    expect(() => loadCheckpoint(d)).toThrow(/weight_map entry "w" points outside the checkpoint folder/);
    const a = Tensor.fromArray([1, 2]);
    saveSafetensors(path.join(d, 's1.safetensors'), { a });
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's1.safetensors' } }));
    expect(() => loadCheckpoint(d)).toThrow(/tensor "b" is not in its shard s1\.safetensors/);
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 's2.safetensors' } }));
    expect(() => loadCheckpoint(d)).toThrow(/cannot open .*s2\.safetensors/);
    expect(() => loadCheckpoint(path.join(dir, 'f16.safetensors'.replace('f16', 'nothing-here')))).toThrow(/cannot open/);
    const empty = path.join(dir, 'emptydir');
    fs.mkdirSync(empty, { recursive: true });
    expect(() => loadCheckpoint(empty)).toThrow(/has neither model\.safetensors\.index\.json nor model\.safetensors/);
    expect(() => saveSharded(d, { a }, { maxShardBytes: 0 })).toThrow(/maxShardBytes must be a positive number/);
    a.dispose();
  });
});
