// Fused linear log-prob vs an unfused float64 reference (full logits, log_softmax, gather, entropy),
// its backward vs the reference backward, the reference backward vs finite differences.
import { DType, Tensor, linearLogprob, linearLogprobBackward, memory, resetPeakMemory } from '../lib';
import { describeCuda, randn, relErr, rng } from './helpers';
import { dot, f64, fdGrad, input } from './grad-helpers';

interface Ref {
  logp: Float64Array;
  entropy: Float64Array;
  lse: Float64Array;
}

// Unfused float64 forward: logits [N, V] = h·Wᵀ / temp, log_softmax, gather at the target, entropy.
function refForward(h: Float64Array, W: Float64Array, t: ArrayLike<number>, V: number, D: number, temp = 1, ignore = -100): Ref {
  const N = t.length;
  const out: Ref = { logp: new Float64Array(N), entropy: new Float64Array(N), lse: new Float64Array(N) };
  const z = new Float64Array(V);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += h[n * D + d] * W[v * D + d];
      z[v] = s / temp;
      m = Math.max(m, z[v]);
    }
    let se = 0;
    for (let v = 0; v < V; v++) se += Math.exp(z[v] - m);
    const lse = m + Math.log(se);
    let H = 0;
    for (let v = 0; v < V; v++) {
      const lp = z[v] - lse;
      H -= Math.exp(lp) * lp;
    }
    out.lse[n] = lse;
    if (t[n] === ignore) continue;
    out.logp[n] = z[t[n]] - lse;
    out.entropy[n] = H;
  }
  return out;
}

// Float64 backward of L = Σ a·logp + Σ b·entropy (a = dlogp, b = dentropy).
function refBackward(
  h: Float64Array, W: Float64Array, t: ArrayLike<number>, V: number, D: number, a: ArrayLike<number>,
  b: ArrayLike<number> | null, temp = 1, ignore = -100,
): { dh: Float64Array; dW: Float64Array } {
  const N = t.length;
  const dh = new Float64Array(N * D);
  const dW = new Float64Array(V * D);
  const r = refForward(h, W, t, V, D, temp, ignore);
  const z = new Float64Array(V);
  for (let n = 0; n < N; n++) {
    if (t[n] === ignore) continue;
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += h[n * D + d] * W[v * D + d];
      z[v] = s / temp;
    }
    const Ez = r.lse[n] - r.entropy[n];
    for (let v = 0; v < V; v++) {
      const p = Math.exp(z[v] - r.lse[n]);
      let g = a[n] * ((v === t[n] ? 1 : 0) - p);
      if (b) g -= b[n] * p * (z[v] - Ez);
      g /= temp;
      for (let d = 0; d < D; d++) {
        dh[n * D + d] += g * W[v * D + d];
        dW[v * D + d] += g * h[n * D + d];
      }
    }
  }
  return { dh, dW };
}

function targets(N: number, V: number, seed: number, ignoreEvery = 0): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: N }, (_, i) => (ignoreEvery && i % ignoreEvery === 2 ? -100 : Math.floor(r() * V)));
}

describe('linearLogprob reference', () => {
  test('reference backward matches finite differences of the reference forward', () => {
    const N = 4, V = 11, D = 5;
    for (const temp of [1, 0.7]) {
      const h = Float64Array.from(randn(N * D));
      const W = Float64Array.from(randn(V * D));
      const t = targets(N, V, 3, 3);
      const a = randn(N);
      const b = randn(N);
      const L = () => {
        const r = refForward(h, W, t, V, D, temp);
        return dot(a, r.logp) + dot(b, r.entropy);
      };
      const g = refBackward(h, W, t, V, D, a, b, temp);
      expect(relErr(g.dh, fdGrad(() => L(), h))).toBeLessThan(1e-6);
      expect(relErr(g.dW, fdGrad(() => L(), W))).toBeLessThan(1e-6);
    }
  });
});

// [N, V, D, chunk]; V not a multiple of the chunk in most cases.
const CASES: [number, number, number, number][] = [
  [1, 7, 3, 4],
  [7, 129, 17, 32],
  [33, 1000, 64, 256],
  [5, 3001, 31, 8192],
  [129, 517, 8, 100],
];

describe.each(['f32', 'bf16'] as DType[])('linearLogprob %s vs float64 reference', (dt) => {
  const tol = dt === 'f32' ? 1e-4 : 1e-2;
  test.each(CASES)('N %p V %p D %p chunk %p', (N, V, D, chunk) => {
    const temp = N % 2 ? 0.7 : 1;
    const h = input([N, D], dt);
    const W = input([V, D], dt, 0.5);
    const t = targets(N, V, N + V, 4);
    const tt = Tensor.fromArray(t, [N], { dtype: 'i32' });
    const opts = { temperature: temp, chunkSize: chunk };
    const out = linearLogprob(h.t, W.t, tt, opts);
    const r = refForward(h.x, W.x, t, V, D, temp);
    expect(out.logp.shape).toEqual([N]);
    expect(relErr(out.logp.toArray(), r.logp)).toBeLessThan(tol);
    expect(relErr(out.entropy.toArray(), r.entropy)).toBeLessThan(tol);
    expect(relErr(out.lse.toArray(), r.lse)).toBeLessThan(tol);
    const lp = out.logp.toArray();
    for (let n = 0; n < N; n++) if (t[n] === -100) expect(lp[n]).toBe(0);

    const a = randn(N);
    const b = randn(N);
    const g = linearLogprobBackward(h.t, W.t, tt, out, Tensor.fromArray(a, [N]), { ...opts, dentropy: Tensor.fromArray(b, [N]) });
    const rg = refBackward(h.x, W.x, t, V, D, a, b, temp);
    expect(g.dhidden.shape).toEqual([N, D]);
    expect(g.dhidden.dtype).toBe('f32');
    expect(g.dlmHead.shape).toEqual([V, D]);
    expect(relErr(g.dhidden.toArray(), rg.dh)).toBeLessThan(tol);
    expect(relErr(g.dlmHead.toArray(), rg.dW)).toBeLessThan(tol);
    const dh = g.dhidden.toArray();
    for (let n = 0; n < N; n++) if (t[n] === -100) for (let d = 0; d < D; d++) expect(dh[n * D + d]).toBe(0);
  });
});

describe('linearLogprob options', () => {
  test('chunk size does not change the result; dlmHead accumulates; no dentropy', () => {
    const N = 9, V = 301, D = 13;
    const h = input([N, D]);
    const W = input([V, D]);
    const t = targets(N, V, 5, 3);
    const tt = Tensor.fromArray(t, [N], { dtype: 'i32' });
    const one = linearLogprob(h.t, W.t, tt, { chunkSize: V });
    const many = linearLogprob(h.t, W.t, tt, { chunkSize: 7 });
    expect(relErr(many.logp.toArray(), one.logp.toArray())).toBeLessThan(1e-5);
    expect(relErr(many.entropy.toArray(), one.entropy.toArray())).toBeLessThan(1e-5);
    const a = randn(N);
    const acc = Tensor.fromArray(randn(V * D), [V, D]);
    const before = f64(acc);
    const g = linearLogprobBackward(h.t, W.t, tt, many, Tensor.fromArray(a, [N]), { chunkSize: 7, dlmHead: acc });
    expect(g.dlmHead).toBe(acc);
    const rg = refBackward(h.x, W.x, t, V, D, a, null);
    expect(relErr(acc.toArray(), before.map((v, i) => v + rg.dW[i]))).toBeLessThan(1e-4);
    expect(relErr(g.dhidden.toArray(), rg.dh)).toBeLessThan(1e-4);
  });

  test('leading dims: hidden [B, T, D], targets [B, T]', () => {
    const h = input([2, 3, 4]);
    const W = input([10, 4]);
    const t = targets(6, 10, 9);
    const out = linearLogprob(h.t, W.t, Tensor.fromArray(t, [2, 3], { dtype: 'i32' }));
    expect(out.logp.shape).toEqual([2, 3]);
    expect(relErr(out.logp.toArray(), refForward(h.x, W.x, t, 10, 4).logp)).toBeLessThan(1e-4);
  });

  test('finite differences through the f32 kernel', () => {
    const N = 3, V = 23, D = 4;
    const h = input([N, D]);
    const W = input([V, D]);
    const t = targets(N, V, 13);
    const tt = Tensor.fromArray(t, [N], { dtype: 'i32' });
    const a = randn(N);
    const b = randn(N);
    const opts = { temperature: 0.8, chunkSize: 5 };
    const out = linearLogprob(h.t, W.t, tt, opts);
    const g = linearLogprobBackward(h.t, W.t, tt, out, Tensor.fromArray(a, [N]), { ...opts, dentropy: Tensor.fromArray(b, [N]) });
    const L = (hx: Float64Array) => {
      const ht = Tensor.fromArray(Float32Array.from(hx), [N, D]);
      const o = linearLogprob(ht, W.t, tt, opts);
      const v = dot(a, o.logp.toArray()) + dot(b, o.entropy.toArray());
      for (const x of [ht, o.logp, o.entropy, o.lse]) x.dispose();
      return v;
    };
    expect(relErr(g.dhidden.toArray(), fdGrad(L, Float64Array.from(h.x), 1e-2))).toBeLessThan(1e-2);
  });

  test('the fused path never allocates [N, V]', () => {
    const N = 16, V = 20000, D = 8;
    const h = input([N, D]);
    const W = input([V, D], 'f32', 0.1);
    const tt = Tensor.fromArray(targets(N, V, 1), [N], { dtype: 'i32' });
    const base = memory('cpu').bytes;
    resetPeakMemory();
    const out = linearLogprob(h.t, W.t, tt, { chunkSize: 1024 });
    linearLogprobBackward(h.t, W.t, tt, out, Tensor.fromArray(randn(N), [N]), { chunkSize: 1024 });
    const extra = memory('cpu').peakBytes - base;
    // outputs + dlmHead [V, D] + scratch [N, 1024]; the logits alone would be N·V·4 = 1.28 MB
    expect(extra).toBeLessThan(V * D * 4 + N * 1024 * 4 + 64 * N + 4096);
    expect(extra).toBeLessThan(N * V * 4);
  });
});

describe('linearLogprob errors', () => {
  const h = () => Tensor.fromArray(randn(6), [2, 3]);
  const W = () => Tensor.fromArray(randn(15), [5, 3]);
  const t = () => Tensor.fromArray(Int32Array.from([1, 4]), [2], { dtype: 'i32' });
  test('shapes, dtypes, targets, options', () => {
    expect(() => linearLogprob(h(), Tensor.fromArray(randn(10), [5, 2]), t())).toThrow(/linearLogprob: hidden \[2, 3\] must end in D = 2/);
    expect(() => linearLogprob(h(), W(), Tensor.fromArray(Int32Array.from([1, 2, 3]), [3], { dtype: 'i32' }))).toThrow(/targets \[3\] must be \[2\]/);
    expect(() => linearLogprob(h(), W(), Tensor.fromArray([1, 2], [2]))).toThrow(/targets must be i32/);
    expect(() => linearLogprob(h(), Tensor.fromArray(randn(15), [5, 3], { dtype: 'bf16' }), t())).toThrow(/linearLogprob: dtypes differ/);
    expect(() => linearLogprob(h(), W(), Tensor.fromArray(Int32Array.from([1, 5]), [2], { dtype: 'i32' }))).toThrow(
      /linearLogprob: target 5 at row 1 is out of range \[0, 5\)/,
    );
    expect(() => linearLogprob(h(), W(), t(), { temperature: 0 })).toThrow(/temperature must be finite and > 0/);
    expect(() => linearLogprob(h(), W(), t(), { chunkSize: 0 })).toThrow(/chunkSize must be a positive integer/);
    const out = linearLogprob(h(), W(), t());
    expect(() => linearLogprobBackward(h(), W(), t(), out, Tensor.fromArray([1, 2, 3], [3]))).toThrow(/dlogp must be f32 \[2\]/);
    expect(() => linearLogprobBackward(h(), W(), t(), out, Tensor.fromArray([1, 2], [2]), { dlmHead: Tensor.zeros([5, 2]) })).toThrow(
      /dlmHead must be f32 \[5, 3\]/,
    );
    const d = h();
    d.dispose();
    expect(() => linearLogprob(d, W(), t())).toThrow(/linearLogprob.*disposed/);
  });
});

describeCuda('linearLogprob CUDA vs CPU', () => {
  test.each(['f32', 'bf16'] as DType[])('%s', (dt) => {
    for (const [N, V, D, chunk] of [[7, 129, 17, 32], [64, 32000, 128, 8192], [3, 151936, 64, 8192]]) {
      const h = input([N, D], dt);
      const W = input([V, D], dt, 0.1);
      const tt = Tensor.fromArray(targets(N, V, N, 4), [N], { dtype: 'i32' });
      const opts = { temperature: 0.9, chunkSize: chunk };
      const a = linearLogprob(h.t, W.t, tt, opts);
      const hg = h.t.to('cuda'), Wg = W.t.to('cuda'), tg = tt.to('cuda');
      const b = linearLogprob(hg, Wg, tg, opts);
      const tol = dt === 'f32' ? 1e-4 : 1e-2;
      expect(relErr(b.logp.toArray(), a.logp.toArray())).toBeLessThan(tol);
      expect(relErr(b.entropy.toArray(), a.entropy.toArray())).toBeLessThan(tol);
      const dl = Tensor.fromArray(randn(N), [N]);
      const de = Tensor.fromArray(randn(N), [N]);
      const ga = linearLogprobBackward(h.t, W.t, tt, a, dl, { ...opts, dentropy: de });
      const gb = linearLogprobBackward(hg, Wg, tg, b, dl.to('cuda'), { ...opts, dentropy: de.to('cuda') });
      expect(relErr(gb.dhidden.toArray(), ga.dhidden.toArray())).toBeLessThan(tol);
      expect(relErr(gb.dlmHead.toArray(), ga.dlmHead.toArray())).toBeLessThan(tol);
    }
  });
});
