// SwiGLU forward/backward vs float64 references; backward checked against finite differences.
import { DType, Tensor, swiglu, swigluBackward } from '../lib';
import { native } from '../lib/native';
import { describeCuda, randn, relErr } from './helpers';
import { dot, fdGrad, input } from './grad-helpers';

const sig = (g: number): number => 1 / (1 + Math.exp(-g));
const ref = (g: Float64Array, u: Float64Array): Float64Array => g.map((v, i) => v * sig(v) * u[i]);
function refBackward(dh: Float64Array, g: Float64Array, u: Float64Array): { dg: Float64Array; du: Float64Array } {
  const dg = g.map((v, i) => dh[i] * u[i] * sig(v) * (1 + v * (1 - sig(v))));
  const du = g.map((v, i) => dh[i] * v * sig(v));
  return { dg, du };
}

const SHAPES: number[][] = [[1], [7], [129], [7, 129], [3, 4096], [2, 3, 257]];

describe.each(['f32', 'bf16'] as DType[])('swiglu %s', (dt) => {
  test.each(SHAPES.map((s) => [s.join('x'), s] as [string, number[]]))('forward and backward on %s', (_n, shape) => {
    const g = input(shape, dt, 3);
    const u = input(shape, dt);
    const h = swiglu(g.t, u.t);
    expect(h.shape).toEqual(shape);
    expect(h.dtype).toBe(dt);
    expect(relErr(h.toArray(), ref(g.x, u.x))).toBeLessThan(dt === 'f32' ? 1e-5 : 1e-2);
    const dh = input(shape, dt);
    const b = swigluBackward(dh.t, g.t, u.t);
    const rb = refBackward(dh.x, g.x, u.x);
    expect(b.dgate.dtype).toBe(dt);
    expect(relErr(b.dgate.toArray(), rb.dg)).toBeLessThan(dt === 'f32' ? 1e-5 : 1e-2);
    expect(relErr(b.dup.toArray(), rb.du)).toBeLessThan(dt === 'f32' ? 1e-5 : 1e-2);
    for (const t of [g.t, u.t, h, dh.t, b.dgate, b.dup]) t.dispose();
  });
});

describe('swiglu backward', () => {
  test('float64 reference backward matches finite differences of the reference forward', () => {
    const g = Float64Array.from(randn(40, 3));
    const u = Float64Array.from(randn(40));
    const p = Float64Array.from(randn(40));
    const rb = refBackward(p, g, u);
    expect(relErr(rb.dg, fdGrad((gg) => dot(p, ref(gg, u)), g))).toBeLessThan(1e-7);
    expect(relErr(rb.du, fdGrad((uu) => dot(p, ref(g, uu)), u))).toBeLessThan(1e-7);
  });

  test('finite differences through the f32 kernel', () => {
    const g = Float64Array.from(randn(31, 2));
    const u = Float64Array.from(randn(31));
    const p = input([31]);
    const loss = (gg: Float64Array, uu: Float64Array): number => {
      const a = Tensor.fromArray(Float32Array.from(gg));
      const b = Tensor.fromArray(Float32Array.from(uu));
      const h = swiglu(a, b);
      const v = dot(p.x, h.toArray());
      for (const t of [a, b, h]) t.dispose();
      return v;
    };
    const b = swigluBackward(p.t, Tensor.fromArray(Float32Array.from(g)), Tensor.fromArray(Float32Array.from(u)));
    expect(relErr(b.dgate.toArray(), fdGrad((gg) => loss(gg, u), g, 1e-2))).toBeLessThan(1e-3);
    expect(relErr(b.dup.toArray(), fdGrad((uu) => loss(g, uu), u, 1e-2))).toBeLessThan(1e-3);
  });

  test('extreme gates stay finite', () => {
    const g = Tensor.fromArray([-100, -30, 0, 30, 100]);
    const u = Tensor.fromArray([1, 1, 1, 1, 1]);
    const gs = [-100, -30, 0, 30, 100];
    expect(relErr(swiglu(g, u).toArray(), gs.map((v) => v * sig(v)))).toBeLessThan(1e-6);
    const b = swigluBackward(u, g, u);
    expect(Array.from(b.dgate.toArray()).every(Number.isFinite)).toBe(true);
  });
});

describe('swiglu errors', () => {
  test('the raw native functions check every buffer size', () => {
    const N = native();
    const small = new N.NativeBuffer(16, 0);
    const big = new N.NativeBuffer(4096, 0);
    expect(() => N.swiglu(0, 8, big, big, small)).toThrow(/swiglu: h holds 16 bytes, needs 32/);
    expect(() => N.swigluBackward(0, 8, big, big, big, big, small)).toThrow(/swigluBackward: dup holds 16 bytes, needs 32/);
    small.free();
    big.free();
  });

  test('bad shapes, dtypes and disposed tensors are refused', () => {
    const a = Tensor.zeros([3, 4]);
    expect(() => swiglu(a, Tensor.zeros([4, 3]))).toThrow(/swiglu: shapes \[3, 4\] and \[4, 3\] differ/);
    expect(() => swiglu(a, Tensor.zeros([3, 4], { dtype: 'bf16' }))).toThrow(/swiglu: dtypes differ/);
    expect(() => swiglu(Tensor.zeros([2], { dtype: 'i32' }), Tensor.zeros([2], { dtype: 'i32' }))).toThrow(
      /swiglu: expected a f32 or bf16 tensor, got i32/,
    );
    expect(() => swigluBackward(Tensor.zeros([3]), a, a)).toThrow(/swigluBackward: shapes \[3\] and \[3, 4\] differ/);
    const d = Tensor.zeros([3, 4]);
    d.dispose();
    expect(() => swiglu(a, d)).toThrow(/swiglu: tensor \[3, 4\] f32 was disposed/);
  });
});

describeCuda('swiglu CUDA matches CPU', () => {
  test.each(['f32', 'bf16'] as DType[])('%s', (dt) => {
    for (const shape of [[1], [7], [129], [7, 129], [33, 4097]]) {
      const g = input(shape, dt, 3);
      const u = input(shape, dt);
      const dh = input(shape, dt);
      const [gg, ug, dhg] = [g.t.to('cuda'), u.t.to('cuda'), dh.t.to('cuda')];
      const tol = dt === 'f32' ? 1e-5 : 1e-2;
      expect(relErr(swiglu(gg, ug).toArray(), swiglu(g.t, u.t).toArray())).toBeLessThan(tol);
      const c = swigluBackward(dh.t, g.t, u.t);
      const k = swigluBackward(dhg, gg, ug);
      expect(relErr(k.dgate.toArray(), c.dgate.toArray())).toBeLessThan(tol);
      expect(relErr(k.dup.toArray(), c.dup.toArray())).toBeLessThan(tol);
    }
  });
});
