// Fused softmax cross-entropy vs a float64 reference; dlogits checked against finite differences.
import { DType, Tensor, crossEntropy } from '../lib';
import { native } from '../lib/native';
import { describeCuda, randn, relErr, rng } from './helpers';
import { f64, fdGrad, input } from './grad-helpers';

interface Ref {
  losses: Float64Array;
  loss: number;
  count: number;
  dlogits: Float64Array;
}

function ref(x: Float64Array, t: ArrayLike<number>, V: number, ignore = -100, gradScale?: number): Ref {
  const N = t.length;
  const losses = new Float64Array(N);
  const dlogits = new Float64Array(N * V);
  let count = 0;
  for (let r = 0; r < N; r++) if (t[r] !== ignore) count++;
  const scale = gradScale ?? (count > 0 ? 1 / count : 0);
  let total = 0;
  for (let r = 0; r < N; r++) {
    if (t[r] === ignore) continue;
    let m = -Infinity;
    for (let c = 0; c < V; c++) m = Math.max(m, x[r * V + c]);
    let z = 0;
    for (let c = 0; c < V; c++) z += Math.exp(x[r * V + c] - m);
    const lse = m + Math.log(z);
    losses[r] = lse - x[r * V + t[r]];
    total += losses[r];
    for (let c = 0; c < V; c++) dlogits[r * V + c] = (Math.exp(x[r * V + c] - lse) - (c === t[r] ? 1 : 0)) * scale;
  }
  return { losses, loss: count > 0 ? total / count : 0, count, dlogits };
}

function targets(N: number, V: number, ignoreEvery = 0, seed = 11): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: N }, (_, i) => (ignoreEvery && i % ignoreEvery === 1 ? -100 : Math.floor(r() * V)));
}

// [N, V]
const CASES: [number, number][] = [[1, 7], [7, 7], [129, 7], [7, 1000], [129, 257], [3, 32000], [2, 151936]];

describe.each(['f32', 'bf16'] as DType[])('crossEntropy %s', (dt) => {
  test.each(CASES)('N %p, V %p', (N, V) => {
    const x = input([N, V], dt, 3);
    const t = targets(N, V, 3);
    const tt = Tensor.fromArray(t, [N]);
    const r = ref(x.x, t, V);
    const out = crossEntropy(x.t, tt);
    expect(out.loss.shape).toEqual([]);
    expect(out.losses.shape).toEqual([N]);
    expect(out.count.shape).toEqual([]);
    expect(out.count.item()).toBe(r.count);
    expect(relErr(out.losses.toArray(), r.losses)).toBeLessThan(1e-5);
    expect(Math.abs(out.loss.item() - r.loss) / r.loss).toBeLessThan(1e-5);
    const dl = out.dlogits as Tensor;
    expect(dl.shape).toEqual([N, V]);
    expect(dl.dtype).toBe(dt);
    expect(relErr(dl.toArray(), r.dlogits)).toBeLessThan(dt === 'f32' ? 1e-5 : 1e-2);
    for (const k of [x.t, tt, out.loss, out.losses, out.count, dl]) k.dispose();
  });
});

describe('crossEntropy options', () => {
  test('ignoreIndex, gradScale, computeGrad and inPlace', () => {
    const N = 9;
    const V = 13;
    const x = input([N, V], 'f32', 2);
    const t = targets(N, V);
    t[0] = 5; // ignored with ignoreIndex 5 below
    t[4] = 5;
    const tt = Tensor.fromArray(t, [N]);
    const a = crossEntropy(x.t, tt, { ignoreIndex: 5, gradScale: 0.25 });
    const r = ref(x.x, t, V, 5, 0.25);
    expect(a.count.item()).toBe(r.count);
    expect(a.losses.toArray()[0]).toBe(0);
    expect(relErr(a.losses.toArray(), r.losses)).toBeLessThan(1e-5);
    expect(relErr((a.dlogits as Tensor).toArray(), r.dlogits)).toBeLessThan(1e-5);
    expect(Array.from((a.dlogits as Tensor).toArray().subarray(0, V))).toEqual(new Array(V).fill(0));

    const b = crossEntropy(x.t, tt, { ignoreIndex: 5, computeGrad: false });
    expect(b.dlogits).toBeUndefined();
    expect(b.loss.item()).toBe(a.loss.item());

    const copy = x.t.clone();
    const c = crossEntropy(copy, tt, { ignoreIndex: 5, inPlace: true });
    expect(c.dlogits).toBe(copy);
    expect(relErr(copy.toArray(), ref(x.x, t, V, 5).dlogits)).toBeLessThan(1e-5);
    expect(c.loss.item()).toBe(a.loss.item());
  });

  test('all rows ignored: count 0, loss 0, zero gradient', () => {
    const x = input([3, 5]);
    const out = crossEntropy(x.t, Tensor.fromArray(Int32Array.from([-100, -100, -100])));
    expect(out.count.item()).toBe(0);
    expect(out.loss.item()).toBe(0);
    expect(Array.from(out.losses.toArray())).toEqual([0, 0, 0]);
    expect(Array.from((out.dlogits as Tensor).toArray()).every((v) => v === 0)).toBe(true);
  });

  test('leading dims [B, T, V] with targets [B, T]; large logits stay finite', () => {
    const raw = randn(2 * 3 * 11, 1);
    for (let i = 0; i < raw.length; i++) raw[i] += i % 2 ? 1000 : -1000;
    const x = Tensor.fromArray(raw, [2, 3, 11]);
    const t = targets(6, 11);
    const out = crossEntropy(x, Tensor.fromArray(t, [2, 3]));
    expect(out.losses.shape).toEqual([2, 3]);
    const r = ref(f64(x), t, 11);
    expect(relErr(out.losses.toArray(), r.losses)).toBeLessThan(1e-5);
    expect(relErr((out.dlogits as Tensor).toArray(), r.dlogits)).toBeLessThan(1e-5);
  });

  test('-inf logits (masked vocabulary) get zero probability', () => {
    const x = Tensor.fromArray([0, -Infinity, 0, -Infinity], [1, 4]);
    const out = crossEntropy(x, Tensor.fromArray(Int32Array.from([2])));
    expect(out.loss.item()).toBeCloseTo(Math.LN2, 6);
    expect(Array.from((out.dlogits as Tensor).toArray())).toEqual([0.5, 0, -0.5, 0]);
  });
});

describe('crossEntropy backward', () => {
  test('float64 reference dlogits matches finite differences of the reference mean loss', () => {
    const N = 4;
    const V = 7;
    const x = Float64Array.from(randn(N * V, 2));
    const t = Int32Array.from([3, -100, 0, 6]);
    const fd = fdGrad((xx) => ref(xx, t, V).loss, x);
    expect(relErr(ref(x, t, V).dlogits, fd)).toBeLessThan(1e-7);
  });

  test('finite differences through the f32 kernel', () => {
    const N = 3;
    const V = 6;
    const x = Float64Array.from(randn(N * V, 2));
    const t = Tensor.fromArray(Int32Array.from([1, 5, -100]));
    const loss = (xx: Float64Array): number => {
      const xt = Tensor.fromArray(Float32Array.from(xx), [N, V]);
      const o = crossEntropy(xt, t, { computeGrad: false });
      const v = o.loss.item();
      xt.dispose();
      return v;
    };
    const g = crossEntropy(Tensor.fromArray(Float32Array.from(x), [N, V]), t).dlogits as Tensor;
    expect(relErr(g.toArray(), fdGrad(loss, x, 1e-2))).toBeLessThan(1e-3);
  });
});

describe('crossEntropy errors', () => {
  test('the raw native function checks every buffer size', () => {
    const N = native();
    const small = new N.NativeBuffer(16, 0);
    const big = new N.NativeBuffer(4096, 0);
    expect(() => N.crossEntropy(0, 4, 8, big, big, -100, false, 0, big, big, big, small)).toThrow(
      /crossEntropy: dlogits holds 16 bytes, needs 128/,
    );
    expect(() => N.crossEntropy(0, 8, 8, big, big, -100, false, 0, small, big, big, null)).toThrow(
      /crossEntropy: losses holds 16 bytes, needs 32/,
    );
    expect(() => N.crossEntropy(0, 1, 1, big, big, 0.5, false, 0, big, big, big, null)).toThrow(
      /crossEntropy: ignoreIndex must be a 32-bit integer/,
    );
    small.free();
    big.free();
  });

  test('out-of-range targets are refused on the CPU, naming the row', () => {
    const x = Tensor.zeros([3, 10]);
    expect(() => crossEntropy(x, Tensor.fromArray(Int32Array.from([0, 10, 1])))).toThrow(
      /crossEntropy: target 10 at row 1 is out of range \[0, 10\) and is not ignoreIndex \(-100\)/,
    );
    expect(() => crossEntropy(x, Tensor.fromArray(Int32Array.from([0, 1, -1])))).toThrow(/target -1 at row 2/);
  });

  test('bad shapes, dtypes, options and disposed tensors are refused', () => {
    const x = Tensor.zeros([3, 10]);
    const t = Tensor.fromArray(Int32Array.from([0, 1, 2]));
    expect(() => crossEntropy(x, Tensor.zeros([3]))).toThrow(/crossEntropy: targets must be i32, got f32/);
    expect(() => crossEntropy(x, Tensor.fromArray(Int32Array.from([0, 1])))).toThrow(
      /crossEntropy: targets \[2\] must be \[3\] for logits \[3, 10\]/,
    );
    expect(() => crossEntropy(Tensor.zeros([3, 10], { dtype: 'i32' }), t)).toThrow(/expected a f32 or bf16 tensor, got i32/);
    expect(() => crossEntropy(Tensor.zeros([3, 0]), t)).toThrow(/the vocabulary dimension of logits \[3, 0\] is empty/);
    expect(() => crossEntropy(x, t, { ignoreIndex: 1.5 })).toThrow(/ignoreIndex must be a 32-bit integer/);
    expect(() => crossEntropy(x, t, { gradScale: NaN })).toThrow(/gradScale must be a number/);
    expect(() => crossEntropy(x, t, { inPlace: true, computeGrad: false })).toThrow(/inPlace needs computeGrad/);
    t.dispose();
    expect(() => crossEntropy(x, t)).toThrow(/crossEntropy: tensor \[3\] i32 was disposed/);
  });
});

describeCuda('crossEntropy CUDA matches CPU', () => {
  test.each(['f32', 'bf16'] as DType[])('%s', (dt) => {
    for (const [N, V] of [[1, 7], [129, 7], [7, 1000], [64, 32000], [3, 151936]]) {
      const x = input([N, V], dt, 3);
      const t = Tensor.fromArray(targets(N, V, 4), [N]);
      const xg = x.t.to('cuda');
      const tg = t.to('cuda');
      for (const opts of [{}, { gradScale: 0.5 }, { ignoreIndex: 0 }]) {
        const c = crossEntropy(x.t, t, opts);
        const g = crossEntropy(xg, tg, opts);
        expect(g.count.item()).toBe(c.count.item());
        expect(relErr(g.losses.toArray(), c.losses.toArray())).toBeLessThan(1e-4);
        expect(relErr(g.loss.toArray(), c.loss.toArray())).toBeLessThan(1e-4);
        expect(relErr((g.dlogits as Tensor).toArray(), (c.dlogits as Tensor).toArray())).toBeLessThan(dt === 'f32' ? 1e-4 : 1e-2);
      }
      const copy = xg.clone();
      crossEntropy(copy, tg, { inPlace: true });
      expect(relErr(copy.toArray(), (crossEntropy(x.t, t).dlogits as Tensor).toArray())).toBeLessThan(dt === 'f32' ? 1e-4 : 1e-2);
    }
  });

  test('out-of-range targets stay in bounds: NaN loss, zero gradient row, reported later', () => {
    const x = Tensor.fromArray(randn(30), [3, 10], { device: 'cuda' });
    const out = crossEntropy(x, Tensor.fromArray(Int32Array.from([0, 10, 1]), [3], { device: 'cuda' }));
    expect(Number.isNaN(out.loss.item())).toBe(true);
    expect(Array.from((out.dlogits as Tensor).toArray().subarray(10, 20))).toEqual(new Array(10).fill(0));
    expect(() => crossEntropy(x, Tensor.fromArray(Int32Array.from([0, 1, 2]), [3], { device: 'cuda' }))).toThrow(
      /crossEntropy \(CUDA\): target 10 at row 1 was out of range in an earlier call/,
    );
  });
});
