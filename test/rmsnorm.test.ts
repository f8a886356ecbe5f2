// RMSNorm forward/backward vs float64 references; backward checked against finite differences.
import { DType, Tensor, backends, rmsnorm, rmsnormBackward, roundBf16, setNumThreads } from '../lib';
import { native } from '../lib/native';
import { describeCuda, randn, relErr } from './helpers';
import { dot, f64, fdGrad, input } from './grad-helpers';

const EPS = 1e-5;

function ref(x: Float64Array, w: Float64Array, D: number, eps = EPS): { y: Float64Array; rstd: Float64Array } {
  const rows = x.length / D;
  const y = new Float64Array(x.length);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < D; c++) ss += x[r * D + c] ** 2;
    const rs = 1 / Math.sqrt(ss / D + eps);
    rstd[r] = rs;
    for (let c = 0; c < D; c++) y[r * D + c] = x[r * D + c] * rs * w[c];
  }
  return { y, rstd };
}

function refBackward(dy: Float64Array, x: Float64Array, w: Float64Array, D: number, eps = EPS): { dx: Float64Array; dw: Float64Array } {
  const rows = x.length / D;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    let g = 0;
    for (let c = 0; c < D; c++) {
      ss += x[r * D + c] ** 2;
      g += dy[r * D + c] * w[c] * x[r * D + c];
    }
    const rs = 1 / Math.sqrt(ss / D + eps);
    for (let c = 0; c < D; c++) {
      const i = r * D + c;
      dx[i] = rs * dy[i] * w[c] - (x[i] * rs ** 3 * g) / D;
      dw[c] += dy[i] * x[i] * rs;
    }
  }
  return { dx, dw };
}

const SHAPES: number[][] = [[1, 1], [7, 7], [129, 129], [1, 4096], [7, 4096], [129, 7], [3, 5, 129]];
const TOL: Record<string, number> = { f32: 1e-5, bf16: 1e-2 };
// x dtype, weight dtype
const COMBOS: [DType, DType][] = [['f32', 'f32'], ['bf16', 'f32'], ['bf16', 'bf16']];

describe.each(COMBOS)('rmsnorm x %s, weight %s', (dt, wdt) => {
  test.each(SHAPES.map((s) => [s.join('x'), s] as [string, number[]]))('forward and backward on %s', (_n, shape) => {
    const D = shape[shape.length - 1];
    // With D = 1, y = x/sqrt(x² + eps) is nearly ±w and dx is the tiny difference of two nearly equal
    // terms (cancellation in any f32 formula): a larger eps keeps that case well conditioned.
    const eps = D === 1 ? 0.5 : EPS;
    const x = input(shape, dt);
    const w = input([D], wdt);
    const { y, rstd } = rmsnorm(x.t, w.t, eps);
    expect(y.shape).toEqual(shape);
    expect(y.dtype).toBe(dt);
    expect(rstd.shape).toEqual(shape.slice(0, -1));
    expect(rstd.dtype).toBe('f32');
    const r = ref(x.x, w.x, D, eps);
    expect(relErr(rstd.toArray(), r.rstd)).toBeLessThan(1e-5);
    expect(relErr(y.toArray(), r.y)).toBeLessThan(TOL[dt]);

    const dy = input(shape, dt);
    const b = rmsnormBackward(dy.t, x.t, w.t, rstd);
    const rb = refBackward(dy.x, x.x, w.x, D, eps);
    expect(b.dx.dtype).toBe(dt);
    expect(b.dweight.dtype).toBe('f32');
    expect(b.dweight.shape).toEqual([D]);
    const tol = dt === 'f32' ? 1e-4 : 1e-2;
    expect(relErr(b.dx.toArray(), rb.dx)).toBeLessThan(tol);
    expect(relErr(b.dweight.toArray(), rb.dw)).toBeLessThan(dt === 'f32' ? 1e-4 : 1e-3);
    for (const t of [x.t, w.t, y, rstd, dy.t, b.dx, b.dweight]) t.dispose();
  });
});

describe('rmsnorm backward', () => {
  test('float64 reference backward matches finite differences of the reference forward', () => {
    const D = 7;
    const x = Float64Array.from(randn(3 * D));
    const w = Float64Array.from(randn(D));
    const p = Float64Array.from(randn(3 * D));
    const rb = refBackward(p, x, w, D);
    const fx = fdGrad((xx) => dot(p, ref(xx, w, D).y), x);
    const fw = fdGrad((ww) => dot(p, ref(x, ww, D).y), w);
    expect(relErr(rb.dx, fx)).toBeLessThan(1e-7);
    expect(relErr(rb.dw, fw)).toBeLessThan(1e-7);
  });

  test('finite differences through the f32 kernel', () => {
    const D = 9;
    const x = Float64Array.from(randn(4 * D));
    const w = Float64Array.from(randn(D));
    const p = Float64Array.from(randn(4 * D));
    const loss = (xx: Float64Array, ww: Float64Array): number => {
      const xt = Tensor.fromArray(Float32Array.from(xx), [4, D]);
      const wt = Tensor.fromArray(Float32Array.from(ww), [D]);
      const { y, rstd } = rmsnorm(xt, wt, EPS);
      const v = dot(p, y.toArray());
      for (const t of [xt, wt, y, rstd]) t.dispose();
      return v;
    };
    const xt = Tensor.fromArray(Float32Array.from(x), [4, D]);
    const wt = Tensor.fromArray(Float32Array.from(w), [D]);
    const { rstd } = rmsnorm(xt, wt, EPS);
    const b = rmsnormBackward(Tensor.fromArray(Float32Array.from(p), [4, D]), xt, wt, rstd);
    expect(relErr(b.dx.toArray(), fdGrad((xx) => loss(xx, w), x, 1e-2))).toBeLessThan(1e-2);
    expect(relErr(b.dweight.toArray(), fdGrad((ww) => loss(x, ww), w, 1e-2))).toBeLessThan(1e-2);
  });

  test('opts.dweight accumulates into the given tensor and returns it', () => {
    const D = 33;
    const x = input([5, D]);
    const w = input([D]);
    const dy = input([5, D]);
    const init = Float64Array.from(randn(D));
    const acc = Tensor.fromArray(Float32Array.from(init), [D]);
    const { rstd } = rmsnorm(x.t, w.t, EPS);
    const b = rmsnormBackward(dy.t, x.t, w.t, rstd, { dweight: acc });
    expect(b.dweight).toBe(acc);
    const rb = refBackward(dy.x, x.x, w.x, D);
    expect(relErr(acc.toArray(), init.map((v, i) => v + rb.dw[i]))).toBeLessThan(1e-5);
    // Twice: the sum of two micro-batches.
    rmsnormBackward(dy.t, x.t, w.t, rstd, { dweight: acc });
    expect(relErr(acc.toArray(), init.map((v, i) => v + 2 * rb.dw[i]))).toBeLessThan(1e-5);
  });

  test('dweight is deterministic, whatever the thread count', () => {
    const x = input([257, 65]);
    const w = input([65]);
    const dy = input([257, 65]);
    const { rstd } = rmsnorm(x.t, w.t, EPS);
    const threads = backends().threads;
    try {
      const a = rmsnormBackward(dy.t, x.t, w.t, rstd).dweight.toArray();
      setNumThreads(1);
      const b = rmsnormBackward(dy.t, x.t, w.t, rstd).dweight.toArray();
      expect(Array.from(a)).toEqual(Array.from(b));
    } finally {
      setNumThreads(threads);
    }
  });

  test('large and tiny magnitudes stay accurate', () => {
    const D = 64;
    const raw = randn(2 * D);
    for (let i = 0; i < D; i++) raw[i] *= 1e4;
    for (let i = D; i < 2 * D; i++) raw[i] *= 1e-4;
    const xt = Tensor.fromArray(raw, [2, D]);
    const wt = Tensor.full([D], 1);
    const { y } = rmsnorm(xt, wt, 1e-12);
    const r = ref(Float64Array.from(raw), new Float64Array(D).fill(1), D, 1e-12);
    expect(relErr(y.toArray(), r.y)).toBeLessThan(1e-5);
    expect(roundBf16(1)).toBe(1);
  });
});

describe('rmsnorm errors', () => {
  test('the raw native functions check every buffer size', () => {
    const N = native();
    const small = new N.NativeBuffer(16, 0);
    const big = new N.NativeBuffer(4096, 0);
    expect(() => N.rmsnorm(0, 0, 2, 8, big, small, 1e-5, big, big)).toThrow(/rmsnorm: weight holds 16 bytes, needs 32/);
    expect(() => N.rmsnorm(0, 0, 8, 8, big, big, 1e-5, big, small)).toThrow(/rmsnorm: rstd holds 16 bytes, needs 32/);
    expect(() => N.rmsnormBackward(1, 0, 4, 8, big, big, big, big, big, small, false)).toThrow(
      /rmsnormBackward: dweight holds 16 bytes, needs 32/,
    );
    expect(() => N.rmsnorm(2, 0, 1, 1, big, big, 1e-5, big, big)).toThrow(/rmsnorm: i32 is not supported/);
    small.free();
    big.free();
  });

  test('bad shapes, dtypes and disposed tensors are refused with clear messages', () => {
    const x = Tensor.zeros([3, 8]);
    const w = Tensor.zeros([8]);
    expect(() => rmsnorm(x, Tensor.zeros([7]), EPS)).toThrow(/rmsnorm: weight \[7\] must be \[8\] for x \[3, 8\]/);
    expect(() => rmsnorm(x, Tensor.zeros([8], { dtype: 'bf16' }), EPS)).toThrow(/rmsnorm: weight must be f32 or f32 like x, got bf16/);
    expect(() => rmsnorm(Tensor.zeros([3, 8], { dtype: 'i32' }), w, EPS)).toThrow(/rmsnorm: expected a f32 or bf16 tensor, got i32/);
    expect(() => rmsnorm(Tensor.zeros([]), w, EPS)).toThrow(/rmsnorm: needs at least one dimension/);
    expect(() => rmsnorm(x, w, NaN)).toThrow(/rmsnorm: eps must be a number/);
    expect(() => rmsnorm(x, w, -1)).toThrow(/rmsnorm: eps must be a finite number >= 0/);
    const { rstd } = rmsnorm(x, w, EPS);
    expect(() => rmsnormBackward(Tensor.zeros([3, 7]), x, w, rstd)).toThrow(/rmsnormBackward: shapes \[3, 7\] and \[3, 8\] differ/);
    expect(() => rmsnormBackward(x, x, w, Tensor.zeros([4]))).toThrow(/rmsnormBackward: rstd \[4\] f32 must be f32 \[3\]/);
    expect(() => rmsnormBackward(x, x, w, rstd, { dweight: Tensor.zeros([9]) })).toThrow(/dweight \[9\] f32 must be f32 \[8\]/);
    expect(() => rmsnormBackward(Tensor.zeros([3, 8], { dtype: 'bf16' }), x, w, rstd)).toThrow(/rmsnormBackward: dtypes differ/);
    w.dispose();
    expect(() => rmsnorm(x, w, EPS)).toThrow(/rmsnorm: tensor \[8\] f32 was disposed/);
  });
});

describeCuda('rmsnorm CUDA matches CPU', () => {
  test.each(COMBOS)('x %s, weight %s', (dt, wdt) => {
    for (const shape of [[1, 1], [7, 7], [129, 129], [33, 4096], [3, 5, 129]]) {
      const D = shape[shape.length - 1];
      const x = input(shape, dt);
      const w = input([D], wdt);
      const dy = input(shape, dt);
      const c = rmsnorm(x.t, w.t, EPS);
      const [xg, wg, dyg] = [x.t.to('cuda'), w.t.to('cuda'), dy.t.to('cuda')];
      const g = rmsnorm(xg, wg, EPS);
      const tol = dt === 'f32' ? 1e-5 : 1e-2;
      expect(relErr(g.y.toArray(), c.y.toArray())).toBeLessThan(tol);
      expect(relErr(g.rstd.toArray(), c.rstd.toArray())).toBeLessThan(1e-5);
      const cb = rmsnormBackward(dy.t, x.t, w.t, c.rstd);
      const gb = rmsnormBackward(dyg, xg, wg, g.rstd);
      expect(relErr(gb.dx.toArray(), cb.dx.toArray())).toBeLessThan(dt === 'f32' ? 1e-4 : 1e-2);
      expect(relErr(gb.dweight.toArray(), cb.dweight.toArray())).toBeLessThan(1e-4);
      const acc = Tensor.full([D], 0.5, { device: 'cuda' });
      rmsnormBackward(dyg, xg, wg, g.rstd, { dweight: acc });
      expect(relErr(acc.toArray(), f64(cb.dweight).map((v) => v + 0.5))).toBeLessThan(1e-4);
    }
  });
});
