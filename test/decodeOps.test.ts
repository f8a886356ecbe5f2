// Inference kernels: kvCacheWrite (exact copies, row maps, bounds), attentionDecode (vs a float64
// reference and vs the attention op's causal output at the last position, GQA, odd shapes, empty rows,
// f32/bf16) and argmax (ties, NaN, -inf, log-probabilities). CUDA vs CPU where a GPU is visible.
import { Tensor, DType, attention } from '../lib';
import { kvCacheWrite, checkKvCacheErrors } from '../lib/ops/kvCache';
import { attentionDecode } from '../lib/ops/attentionDecode';
import { argmax } from '../lib/ops/argmax';
import { describeCuda, randn, relErr, rng } from './helpers';

const F = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);

/** float64 decode attention: q [B, Hq, Dh], caches [Bc, S, Hkv, Dh]. */
function refDecode(
  q: Float64Array, k: Float64Array, v: Float64Array, B: number, S: number, Hq: number, Hkv: number, Dh: number,
  lengths: number[], rows: number[], scale: number,
): Float64Array {
  const out = new Float64Array(B * Hq * Dh);
  const G = Hq / Hkv;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / G), r = rows[b], L = lengths[b];
      const s = new Float64Array(L);
      let m = -Infinity;
      for (let j = 0; j < L; j++) {
        let acc = 0;
        for (let d = 0; d < Dh; d++) acc += q[(b * Hq + h) * Dh + d] * k[((r * S + j) * Hkv + g) * Dh + d];
        s[j] = acc * scale;
        m = Math.max(m, s[j]);
      }
      let z = 0;
      for (let j = 0; j < L; j++) z += Math.exp(s[j] - m);
      for (let j = 0; j < L; j++) {
        const p = Math.exp(s[j] - m) / z;
        for (let d = 0; d < Dh; d++) out[(b * Hq + h) * Dh + d] += p * v[((r * S + j) * Hkv + g) * Dh + d];
      }
    }
  return out;
}

describe('kvCacheWrite', () => {
  test.each([
    ['f32', 3, 7, 2, 1, 2, 5],
    ['bf16', 4, 9, 3, 4, 1, 7],
    ['f32', 2, 129, 2, 33, 3, 8],
  ] as [DType, number, number, number, number, number, number][])(
    '%s cache [%i, %i, ., .] ← x [%i, %i, %i, %i], with and without a row map',
    (dtype, Bc, S, Bx, T, H, Dh) => {
      const cache = Tensor.fromArray(randn(Bc * S * H * Dh), [Bc, S, H, Dh], { dtype });
      const x = Tensor.fromArray(randn(Bx * T * H * Dh), [Bx, T, H, Dh], { dtype });
      const before = cache.toArray();
      const xs = x.toArray();
      const r = rng(Bc * 31 + T);
      const rows = [...Array(Bc).keys()].sort(() => r() - 0.5).slice(0, Bx);
      const start = rows.map(() => Math.floor(r() * (S - T + 1)));
      const row = T * H * Dh;
      // Row map given as host arrays.
      kvCacheWrite(cache, x, start, { rows });
      const want = Float32Array.from(before);
      rows.forEach((c, b) => want.set(xs.subarray(b * row, (b + 1) * row), (c * S + start[b]) * H * Dh));
      expect(cache.toArray()).toEqual(want);
      // Identity rows, indices as i32 tensors.
      const st = Tensor.fromArray(Int32Array.from(start), [Bx], { dtype: 'i32' });
      kvCacheWrite(cache, x, st);
      for (let b = 0; b < Bx; b++) want.set(xs.subarray(b * row, (b + 1) * row), (b * S + start[b]) * H * Dh);
      expect(cache.toArray()).toEqual(want);
      for (const t of [cache, x, st]) t.dispose();
    },
  );

  test('bad inputs throw clear errors and write nothing', () => {
    const cache = Tensor.fromArray(randn(2 * 5 * 2 * 3), [2, 5, 2, 3]);
    const x = Tensor.fromArray(randn(2 * 2 * 2 * 3), [2, 2, 2, 3]);
    const before = cache.toArray();
    expect(() => kvCacheWrite(cache, x, [0, 4])).toThrow(/kvCacheWrite: row 1 writes positions 4\.\.5, outside the cache length 5/);
    expect(() => kvCacheWrite(cache, x, [-1, 0])).toThrow(/outside the cache length/);
    expect(() => kvCacheWrite(cache, x, [0, 0], { rows: [1, 1] })).toThrow(/cache row 1 appears twice/);
    expect(() => kvCacheWrite(cache, x, [0, 0], { rows: [0, 2] })).toThrow(/rows\[1\] = 2 is outside the cache batch 2/);
    expect(() => kvCacheWrite(cache, x, [0])).toThrow(/start has 1 entries, expected 2/);
    expect(() => kvCacheWrite(cache, x, [0.5, 0])).toThrow(/not a 32-bit integer/);
    // Device tensors are checked by the CPU kernel before it writes.
    const st = Tensor.fromArray(Int32Array.from([0, 4]), [2], { dtype: 'i32' });
    expect(() => kvCacheWrite(cache, x, st)).toThrow(/kvCacheWrite: row 1 writes positions 4\.\.5/);
    const rowsT = Tensor.fromArray(Int32Array.from([1, 1]), [2], { dtype: 'i32' });
    expect(() => kvCacheWrite(cache, x, [0, 0], { rows: rowsT })).toThrow(/appears twice/);
    expect(() => kvCacheWrite(cache, Tensor.zeros([2, 2, 2, 4]), [0, 0])).toThrow(/agree in H and Dh/);
    expect(() => kvCacheWrite(cache, Tensor.zeros([3, 2, 2, 3]), [0, 0, 0])).toThrow(/more rows than the cache/);
    expect(() => kvCacheWrite(cache, Tensor.zeros([2, 2, 2, 3], { dtype: 'bf16' }), [0, 0])).toThrow(/dtypes differ/);
    expect(() => kvCacheWrite(cache, x, Tensor.zeros([2]))).toThrow(/start must be i32/);
    expect(cache.toArray()).toEqual(before);
    checkKvCacheErrors(); // nothing recorded (no-op without CUDA)
    x.dispose();
    expect(() => kvCacheWrite(cache, x, [0, 0])).toThrow(/kvCacheWrite: tensor .* was disposed/);
    cache.dispose();
  });
});

describe('attentionDecode', () => {
  test.each([
    // B, Bc, S, Hq, Hkv, Dh, dtype
    [1, 1, 1, 1, 1, 1, 'f32'],
    [3, 3, 7, 4, 2, 8, 'f32'],
    [2, 5, 129, 6, 2, 33, 'f32'],
    [4, 4, 40, 3, 1, 7, 'f32'],
    [3, 4, 65, 8, 8, 16, 'bf16'],
    [2, 2, 129, 6, 3, 33, 'bf16'],
  ] as [number, number, number, number, number, number, DType][])(
    'B %i, cache %i x %i, Hq %i / Hkv %i, Dh %i, %s vs float64',
    (B, Bc, S, Hq, Hkv, Dh, dtype) => {
      const q = Tensor.fromArray(randn(B * Hq * Dh), [B, Hq, Dh], { dtype });
      const k = Tensor.fromArray(randn(Bc * S * Hkv * Dh), [Bc, S, Hkv, Dh], { dtype });
      const v = Tensor.fromArray(randn(Bc * S * Hkv * Dh), [Bc, S, Hkv, Dh], { dtype });
      const r = rng(S + 7 * B);
      const rows = Array.from({ length: B }, (_, b) => (B === Bc ? b : Math.floor(r() * Bc)));
      const lengths = Array.from({ length: B }, (_, b) => (b === 0 ? S : b === 1 ? 0 : 1 + Math.floor(r() * S)));
      const scale = 0.7 / Math.sqrt(Dh);
      const out = attentionDecode(q, k, v, lengths, { rows, scale });
      expect(out.shape).toEqual([B, Hq, Dh]);
      expect(out.dtype).toBe(dtype);
      const ref = refDecode(F(q.toArray()), F(k.toArray()), F(v.toArray()), B, S, Hq, Hkv, Dh, lengths, rows, scale);
      expect(relErr(out.toArray(), ref)).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-2);
      if (B > 1) {
        // The empty row is exactly zero.
        expect(Array.from(out.toArray().subarray(Hq * Dh, 2 * Hq * Dh)).every((x) => x === 0)).toBe(true);
      }
      // Identity rows as i32 tensors, default scale.
      if (B <= Bc) {
        const lt = Tensor.fromArray(Int32Array.from(lengths), [B], { dtype: 'i32' });
        const out2 = attentionDecode(q, k, v, lt);
        const ref2 = refDecode(F(q.toArray()), F(k.toArray()), F(v.toArray()), B, S, Hq, Hkv, Dh, lengths,
          [...Array(B).keys()], 1 / Math.sqrt(Dh));
        expect(relErr(out2.toArray(), ref2)).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-2);
        out2.dispose();
        lt.dispose();
      }
      for (const t of [q, k, v, out]) t.dispose();
    },
  );

  test.each([
    [3, 37, 4, 2, 16, 'f32'],
    [2, 129, 6, 1, 9, 'f32'],
    [2, 50, 4, 4, 8, 'bf16'],
  ] as [number, number, number, number, number, DType][])(
    'equals the causal attention op at each prefix length (B %i, T %i, %i/%i heads, Dh %i, %s)',
    (B, T, Hq, Hkv, Dh, dtype) => {
      const q = Tensor.fromArray(randn(B * T * Hq * Dh), [B, T, Hq, Dh], { dtype });
      const k = Tensor.fromArray(randn(B * T * Hkv * Dh), [B, T, Hkv, Dh], { dtype });
      const v = Tensor.fromArray(randn(B * T * Hkv * Dh), [B, T, Hkv, Dh], { dtype });
      const full = attention(q, k, v, { causal: true });
      const fo = full.out.toArray();
      const qa = q.toArray();
      // The cache is k/v themselves ([B, S = T, Hkv, Dh]); row b's query is position L_b - 1.
      const r = rng(T);
      const lengths = Array.from({ length: B }, (_, b) => (b === 0 ? T : 1 + Math.floor(r() * T)));
      const qd = new Float32Array(B * Hq * Dh);
      const want = new Float32Array(B * Hq * Dh);
      lengths.forEach((L, b) => {
        const o = ((b * T + L - 1) * Hq) * Dh;
        qd.set(qa.subarray(o, o + Hq * Dh), b * Hq * Dh);
        want.set(fo.subarray(o, o + Hq * Dh), b * Hq * Dh);
      });
      const qt = Tensor.fromArray(qd, [B, Hq, Dh], { dtype });
      const out = attentionDecode(qt, k, v, lengths);
      expect(relErr(out.toArray(), want)).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-2);
      for (const t of [q, k, v, full.out, full.lse, qt, out]) t.dispose();
    },
  );

  test('bad inputs throw clear errors', () => {
    const q = Tensor.fromArray(randn(2 * 4 * 8), [2, 4, 8]);
    const k = Tensor.fromArray(randn(2 * 5 * 2 * 8), [2, 5, 2, 8]);
    const v = Tensor.fromArray(randn(2 * 5 * 2 * 8), [2, 5, 2, 8]);
    expect(() => attentionDecode(q, k, v, [6, 1])).toThrow(/attentionDecode: lengths\[0\] = 6 is outside \[0, 5\]/);
    expect(() => attentionDecode(q, k, v, [-1, 1])).toThrow(/lengths\[0\] = -1/);
    const lt = Tensor.fromArray(Int32Array.from([1, 9]), [2], { dtype: 'i32' });
    expect(() => attentionDecode(q, k, v, lt)).toThrow(/attentionDecode: lengths\[1\] = 9 is outside \[0, 5\]/);
    expect(() => attentionDecode(q, k, v, [1, 1], { rows: [0, 2] })).toThrow(/rows\[1\] = 2 is outside the cache batch 2/);
    expect(() => attentionDecode(q, k, Tensor.zeros([2, 5, 2, 4]), [1, 1])).toThrow(/kCache and vCache shapes differ/);
    expect(() => attentionDecode(Tensor.zeros([2, 3, 8]), k, v, [1, 1])).toThrow(/query heads 3 must be a multiple of kv heads 2/);
    expect(() => attentionDecode(Tensor.zeros([2, 4, 4]), k, v, [1, 1])).toThrow(/agree in Dh/);
    expect(() => attentionDecode(Tensor.zeros([3, 4, 8]), k, v, [1, 1, 1])).toThrow(/more rows than the cache/);
    expect(() => attentionDecode(q.reshape([2, 32]), k, v, [1, 1])).toThrow(/q must be \[B, Hq, Dh\]/);
    expect(() => attentionDecode(q, k, v, [1, 1], { scale: NaN })).toThrow(/scale must be a number/);
    // Duplicated rows are fine for reading.
    const out = attentionDecode(q, k, v, [3, 5], { rows: [1, 1] });
    expect(out.toArray().every(Number.isFinite)).toBe(true);
    for (const t of [q, k, v, lt, out]) t.dispose();
  });
});

describe('argmax', () => {
  test.each([
    ['f32', 1, 1],
    ['f32', 7, 129],
    ['bf16', 5, 1000],
    ['f32', 3, 32000],
  ] as [DType, number, number][])('%s [%i, %i] vs float64 (index and log-probability)', (dtype, R, V) => {
    const x = Tensor.fromArray(randn(R * V, 3), [R, V], { dtype });
    const xs = x.toArray();
    const { indices, logprobs } = argmax(x);
    expect(indices.shape).toEqual([R]);
    const idx = indices.toArray();
    const lp = logprobs.toArray();
    for (let r = 0; r < R; r++) {
      let bi = 0;
      for (let j = 1; j < V; j++) if (xs[r * V + j] > xs[r * V + bi]) bi = j;
      expect(idx[r]).toBe(bi);
      let z = 0;
      for (let j = 0; j < V; j++) z += Math.exp(xs[r * V + j] - xs[r * V + bi]);
      expect(Math.abs(lp[r] + Math.log(z))).toBeLessThan(1e-5 * Math.max(1, Math.log(z)));
    }
    for (const t of [x, indices, logprobs]) t.dispose();
  });

  test('ties take the lowest index; NaN wins; -inf entries and rows; leading dims', () => {
    const ninf = -Infinity;
    const rows = [
      [1, 5, 5, 2],
      [ninf, ninf, 3, ninf],
      [ninf, ninf, ninf, ninf],
      [0, NaN, 9, NaN],
      [2, 2, 2, 2],
      [-3, ninf, -3, -4],
    ];
    const x = Tensor.fromArray(rows.flat(), [2, 3, 4]);
    const { indices, logprobs } = argmax(x);
    expect(indices.shape).toEqual([2, 3]);
    expect(Array.from(indices.toArray())).toEqual([1, 2, 0, 1, 0, 0]);
    const lp = logprobs.toArray();
    expect(lp[0]).toBeCloseTo(5 - Math.log(Math.exp(1) + 2 * Math.exp(5) + Math.exp(2)), 5);
    expect(lp[1]).toBe(0);
    expect(lp[2]).toBeNaN();
    expect(lp[3]).toBeNaN();
    expect(lp[4]).toBeCloseTo(-Math.log(4), 6);
    expect(lp[5]).toBeCloseTo(-3 - Math.log(2 * Math.exp(-3) + Math.exp(-4)), 6);
    expect(() => argmax(Tensor.fromArray(Int32Array.from([1]), [1], { dtype: 'i32' }))).toThrow(/argmax: expected a f32 or bf16/);
    expect(() => argmax(Tensor.zeros([2, 0]))).toThrow(/last dimension of \[2, 0\] is empty/);
    for (const t of [x, indices, logprobs]) t.dispose();
  });
});

describeCuda('inference kernels on CUDA vs CPU', () => {
  test.each([
    [3, 4, 37, 4, 2, 64, 'f32'],
    [5, 8, 300, 8, 2, 128, 'bf16'],
    [2, 2, 1030, 6, 1, 40, 'f32'],
    [1, 1, 9, 2, 2, 200, 'bf16'],
  ] as [number, number, number, number, number, number, DType][])(
    'kvCacheWrite + attentionDecode (B %i, cache %i x %i, %i/%i heads, Dh %i, %s)',
    (B, Bc, S, Hq, Hkv, Dh, dtype) => {
      const kc = Tensor.fromArray(randn(Bc * S * Hkv * Dh), [Bc, S, Hkv, Dh], { dtype });
      const vc = Tensor.fromArray(randn(Bc * S * Hkv * Dh), [Bc, S, Hkv, Dh], { dtype });
      const kg = kc.to('cuda');
      const vg = vc.to('cuda');
      const xk = Tensor.fromArray(randn(B * Hkv * Dh), [B, 1, Hkv, Dh], { dtype });
      const rows = Array.from({ length: B }, (_, b) => (b * 3) % Bc).filter((r, i, a) => a.indexOf(r) === i);
      const n = rows.length;
      const xkn = Tensor.fromArray(xk.toArray().subarray(0, n * Hkv * Dh), [n, 1, Hkv, Dh], { dtype });
      const start = rows.map((_, i) => (i * 7) % S);
      kvCacheWrite(kc, xkn, start, { rows });
      kvCacheWrite(kg, xkn.to('cuda'), start, { rows });
      expect(relErr(kg.toArray(), kc.toArray())).toBe(0);
      const q = Tensor.fromArray(randn(n * Hq * Dh), [n, Hq, Dh], { dtype });
      const lengths = start.map((s) => s + 1);
      const oc = attentionDecode(q, kc, vc, lengths, { rows });
      const og = attentionDecode(q.to('cuda'), kg, vg, lengths, { rows });
      expect(relErr(og.toArray(), oc.toArray())).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-2);
      checkKvCacheErrors();
    },
  );

  test('argmax matches the CPU', () => {
    for (const [R, V] of [[1, 1], [7, 129], [64, 32000], [3, 151936]]) {
      const x = Tensor.fromArray(randn(R * V, 3), [R, V]);
      const c = argmax(x);
      const g = argmax(x.to('cuda'));
      expect(Array.from(g.indices.toArray())).toEqual(Array.from(c.indices.toArray()));
      expect(relErr(g.logprobs.toArray(), c.logprobs.toArray())).toBeLessThan(1e-5);
    }
  });

  test('bad device-side lengths are recorded and reported', () => {
    const k = Tensor.zeros([1, 4, 1, 8], { device: 'cuda' });
    const q = Tensor.zeros([1, 1, 8], { device: 'cuda' });
    const lt = Tensor.fromArray(Int32Array.from([9]), [1], { dtype: 'i32', device: 'cuda' });
    const out = attentionDecode(q, k, k, lt);
    expect(() => checkKvCacheErrors()).toThrow(/attentionDecode \(CUDA\): row 0/);
    expect(Array.from(out.toArray()).every(Number.isNaN)).toBe(true);
    const st = Tensor.fromArray(Int32Array.from([4]), [1], { dtype: 'i32', device: 'cuda' });
    kvCacheWrite(k, Tensor.zeros([1, 1, 1, 8], { device: 'cuda' }), st);
    expect(() => checkKvCacheErrors()).toThrow(/kvCacheWrite \(CUDA\): row 0/);
  });
});
