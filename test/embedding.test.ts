// Embedding lookup and its scatter-add backward; out-of-range ids are refused.
import { DType, Tensor, backends, checkIndexErrors, embedding, embeddingBackward, setNumThreads } from '../lib';
import { native } from '../lib/native';
import { describeCuda, randn, relErr, rng } from './helpers';
import { dot, f64, input } from './grad-helpers';

function ids(n: number, V: number, seed = 7): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * V));
}

function refGather(id: Int32Array, table: Float64Array, D: number): Float64Array {
  const out = new Float64Array(id.length * D);
  id.forEach((v, n) => out.set(table.subarray(v * D, v * D + D), n * D));
  return out;
}

function refScatter(dout: Float64Array, id: Int32Array, V: number, D: number, init?: Float64Array): Float64Array {
  const g = init ? Float64Array.from(init) : new Float64Array(V * D);
  id.forEach((v, n) => {
    for (let c = 0; c < D; c++) g[v * D + c] += dout[n * D + c];
  });
  return g;
}

// [ids shape, V, D]
const CASES: [number[], number, number][] = [[[1], 7, 1], [[7], 7, 7], [[3, 7], 1000, 129], [[5], 3, 4096], [[2, 5], 32000, 4], [[129], 7, 33]];

describe.each(['f32', 'bf16'] as DType[])('embedding %s', (dt) => {
  test.each(CASES.map((c) => [`ids ${c[0].join('x')}, V ${c[1]}, D ${c[2]}`, ...c] as [string, number[], number, number]))(
    '%s',
    (_n, shape, V, D) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const id = ids(n, V);
      const it = Tensor.fromArray(id, shape);
      const table = input([V, D], dt);
      const out = embedding(it, table.t);
      expect(out.shape).toEqual([...shape, D]);
      expect(out.dtype).toBe(dt);
      expect(Array.from(out.toArray())).toEqual(Array.from(refGather(id, table.x, D)));

      const dout = input([...shape, D], dt);
      const dtable = Tensor.fromArray(randn(V * D), [V, D]);
      const init = f64(dtable);
      expect(embeddingBackward(dout.t, it, dtable)).toBe(dtable);
      expect(relErr(dtable.toArray(), refScatter(dout.x, id, V, D, init))).toBeLessThan(1e-6);
      for (const t of [it, table.t, out, dout.t, dtable]) t.dispose();
    },
  );
});

describe('embedding backward', () => {
  test('the gradient is the linear map of the forward (directional derivative through the kernels)', () => {
    // L(table) = <p, embedding(ids, table)> is linear: L(table + Δ) - L(table) = <dtable, Δ> exactly.
    const V = 50;
    const D = 9;
    const id = ids(40, V);
    id[1] = id[0]; // repeated ids must add up
    id[2] = id[0];
    const it = Tensor.fromArray(id, [40]);
    const table = input([V, D]);
    const delta = input([V, D]);
    const p = input([40, D]);
    const L = (t: Tensor): number => dot(p.x, embedding(it, t).toArray());
    const moved = Tensor.fromArray(Float32Array.from(table.x.map((v, i) => v + delta.x[i])), [V, D]);
    const fd = L(moved) - L(table.t);
    const g = embeddingBackward(p.t, it, Tensor.zeros([V, D]));
    const an = dot(f64(g), delta.x);
    expect(Math.abs(fd - an) / Math.abs(an)).toBeLessThan(1e-5);
    // and the float64 reference scatter is that same linear map
    expect(relErr(g.toArray(), refScatter(p.x, id, V, D))).toBeLessThan(1e-6);
  });

  test('deterministic whatever the thread count (many repeated ids)', () => {
    const V = 5;
    const D = 64;
    const id = ids(1000, V, 3);
    const it = Tensor.fromArray(id, [1000]);
    const dout = input([1000, D]);
    const threads = backends().threads;
    try {
      const a = embeddingBackward(dout.t, it, Tensor.zeros([V, D])).toArray();
      setNumThreads(1);
      const b = embeddingBackward(dout.t, it, Tensor.zeros([V, D])).toArray();
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(relErr(a, refScatter(dout.x, id, V, D))).toBeLessThan(1e-5);
    } finally {
      setNumThreads(threads);
    }
  });
});

describe('embedding errors', () => {
  test('the raw native functions check every buffer size', () => {
    const N = native();
    const small = new N.NativeBuffer(16, 0);
    const big = new N.NativeBuffer(4096, 0);
    expect(() => N.embedding(0, 8, 4, 4, small, big, big)).toThrow(/embedding: ids holds 16 bytes, needs 32/);
    expect(() => N.embedding(0, 2, 400, 4, big, big, big)).toThrow(/embedding: table holds 4096 bytes, needs 6400/);
    expect(() => N.embeddingBackward(0, 2, 4, 4, big, big, small)).toThrow(/embeddingBackward: dtable holds 16 bytes, needs 64/);
    small.free();
    big.free();
  });

  test('out-of-range ids are refused on the CPU, naming the first bad id and its position', () => {
    const table = Tensor.zeros([10, 4]);
    expect(() => embedding(Tensor.fromArray(Int32Array.from([1, 2, 10, -1]), [2, 2]), table)).toThrow(
      /embedding: token id 10 at position 2 is out of range \[0, 10\)/,
    );
    expect(() => embedding(Tensor.fromArray(Int32Array.from([-3])), table)).toThrow(/token id -3 at position 0/);
    const dtable = Tensor.fromArray(Float32Array.from(randn(40)), [10, 4]);
    const before = Array.from(dtable.toArray());
    expect(() => embeddingBackward(Tensor.zeros([3, 4]), Tensor.fromArray(Int32Array.from([0, 1, 99])), dtable)).toThrow(
      /embeddingBackward: token id 99 at position 2 is out of range \[0, 10\)/,
    );
    expect(Array.from(dtable.toArray())).toEqual(before); // nothing was added
    checkIndexErrors(); // no CUDA here: nothing to report
  });

  test('bad shapes and dtypes are refused', () => {
    const table = Tensor.zeros([10, 4]);
    const id = Tensor.fromArray(Int32Array.from([1, 2, 3]));
    expect(() => embedding(Tensor.zeros([3]), table)).toThrow(/embedding: ids must be i32, got f32 \[3\]/);
    expect(() => embedding(id, Tensor.zeros([40]))).toThrow(/embedding: table \[40\] must be \[V, D\]/);
    expect(() => embedding(id, Tensor.zeros([10, 4], { dtype: 'i32' }))).toThrow(/expected a f32 or bf16 tensor, got i32/);
    expect(() => embeddingBackward(Tensor.zeros([3, 5]), id, table)).toThrow(
      /embeddingBackward: dout \[3, 5\] must be \[3, 4\] for ids \[3\] and dtable \[10, 4\]/,
    );
    expect(() => embeddingBackward(Tensor.zeros([3, 4]), id, Tensor.zeros([10, 4], { dtype: 'bf16' }))).toThrow(
      /embeddingBackward: dtable must be f32, got bf16/,
    );
    id.dispose();
    expect(() => embedding(id, table)).toThrow(/embedding: tensor \[3\] i32 was disposed/);
  });
});

describeCuda('embedding CUDA matches CPU', () => {
  test.each(['f32', 'bf16'] as DType[])('%s', (dt) => {
    for (const [shape, V, D] of CASES) {
      const n = shape.reduce((a, b) => a * b, 1);
      const it = Tensor.fromArray(ids(n, V), shape);
      const table = input([V, D], dt);
      const itg = it.to('cuda');
      expect(Array.from(embedding(itg, table.t.to('cuda')).toArray())).toEqual(Array.from(embedding(it, table.t).toArray()));
      const dout = input([...shape, D], dt);
      const c = embeddingBackward(dout.t, it, Tensor.full([V, D], 0.25));
      const g = embeddingBackward(dout.t.to('cuda'), itg, Tensor.full([V, D], 0.25, { device: 'cuda' }));
      expect(relErr(g.toArray(), c.toArray())).toBeLessThan(1e-6);
    }
  });

  test('out-of-range ids stay in bounds: NaN row / skipped row, reported later', () => {
    const table = Tensor.fromArray(Float32Array.from(randn(40)), [10, 4], { device: 'cuda' });
    const bad = Tensor.fromArray(Int32Array.from([1, 10, 2]), [3], { device: 'cuda' });
    const out = embedding(bad, table).toArray();
    expect(Array.from(out.subarray(4, 8)).every(Number.isNaN)).toBe(true);
    expect(Array.from(out.subarray(0, 4)).every(Number.isFinite)).toBe(true);
    expect(() => checkIndexErrors()).toThrow(/embedding \(CUDA\): token id 10 at position 1/);
    checkIndexErrors(); // cleared
    const dtable = Tensor.zeros([10, 4], { device: 'cuda' });
    embeddingBackward(Tensor.full([3, 4], 1, { device: 'cuda' }), bad, dtable);
    const d = dtable.toArray();
    expect(Array.from(d).reduce((a, b) => a + b, 0)).toBe(8);
    expect(() => embedding(bad, table)).toThrow(/token id 10 at position 1 was out of range in an earlier call/);
    checkIndexErrors();
  });
});
