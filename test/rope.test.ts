// Rotary embedding vs a float64 reference (large positions included); backward = inverse rotation.
import { DType, Tensor, rope, ropeBackward } from '../lib';
import { native } from '../lib/native';
import { describeCuda, randn, relErr } from './helpers';
import { dot, fdGrad, input } from './grad-helpers';

function ref(
  x: Float64Array, pos: ArrayLike<number>, shape: number[], theta: number, inverse = false, batched = true,
): Float64Array {
  const [B, T, H, Dh] = shape;
  const half = Dh / 2;
  const y = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const p = pos[batched ? b * T + t : t];
      for (let i = 0; i < half; i++) {
        const ang = p * Math.pow(theta, (-2 * i) / Dh) * (inverse ? -1 : 1);
        const c = Math.cos(ang);
        const s = Math.sin(ang);
        for (let h = 0; h < H; h++) {
          const base = ((b * T + t) * H + h) * Dh;
          const a = x[base + i];
          const e = x[base + i + half];
          y[base + i] = a * c - e * s;
          y[base + i + half] = e * c + a * s;
        }
      }
    }
  return y;
}

function positions(B: number, T: number, start = 0, random = false): Int32Array {
  const p = new Int32Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) p[b * T + t] = random ? Math.floor(Math.random() * 32768) : start + b * 3 + t;
  return p;
}

const SHAPES: number[][] = [[1, 1, 1, 2], [2, 7, 3, 8], [1, 129, 2, 64], [3, 5, 7, 128], [1, 3, 1, 130]];
const TOL: Record<string, number> = { f32: 1e-5, bf16: 1e-2 };

describe.each(['f32', 'bf16'] as DType[])('rope %s', (dt) => {
  test.each(SHAPES.map((s) => [s.join('x'), s] as [string, number[]]))('forward, inverse and backward on %s', (_n, shape) => {
    const [B, T] = shape;
    const x = input(shape, dt);
    const pos = positions(B, T, 0);
    const pt = Tensor.fromArray(pos, [B, T]);
    const y = rope(x.t, pt, 10000);
    expect(y.shape).toEqual(shape);
    expect(y.dtype).toBe(dt);
    expect(relErr(y.toArray(), ref(x.x, pos, shape, 10000))).toBeLessThan(TOL[dt]);
    const inv = rope(x.t, pt, 10000, { inverse: true });
    expect(relErr(inv.toArray(), ref(x.x, pos, shape, 10000, true))).toBeLessThan(TOL[dt]);
    const back = ropeBackward(x.t, pt, 10000);
    expect(Array.from(back.toArray())).toEqual(Array.from(inv.toArray()));
    if (dt === 'f32') {
      // The inverse undoes the rotation.
      const round = rope(y, pt, 10000, { inverse: true });
      expect(relErr(round.toArray(), x.x)).toBeLessThan(1e-6);
    }
    for (const t of [x.t, pt, y, inv, back]) t.dispose();
  });

  test('positions [T] broadcast over the batch', () => {
    const shape = [3, 9, 2, 16];
    const x = input(shape, dt);
    const p1 = positions(1, 9, 100);
    const y = rope(x.t, Tensor.fromArray(p1, [9]), 500000);
    expect(relErr(y.toArray(), ref(x.x, p1, shape, 500000, false, false))).toBeLessThan(TOL[dt]);
  });
});

describe('rope accuracy and backward', () => {
  test.each([10000, 500000])('positions up to 32767 stay accurate (theta %p)', (theta) => {
    const shape = [2, 64, 2, 128];
    const x = input(shape);
    const pos = positions(2, 64, 0, true);
    pos[0] = 32767;
    pos[1] = 30000;
    const y = rope(x.t, Tensor.fromArray(pos, [2, 64]), theta);
    expect(relErr(y.toArray(), ref(x.x, pos, shape, theta))).toBeLessThan(1e-6);
  });

  test('float64 reference backward (inverse rotation) matches finite differences', () => {
    const shape = [2, 3, 2, 6];
    const x = Float64Array.from(randn(72));
    const p = Float64Array.from(randn(72));
    const pos = positions(2, 3, 29995);
    const g = ref(p, pos, shape, 10000, true);
    const fd = fdGrad((xx) => dot(p, ref(xx, pos, shape, 10000)), x);
    expect(relErr(g, fd)).toBeLessThan(1e-7);
  });

  test('kernel backward matches the reference backward and finite differences through the f32 kernel', () => {
    const shape = [2, 5, 3, 10];
    const n = 300;
    const pos = positions(2, 5, 7);
    const pt = Tensor.fromArray(pos, [2, 5]);
    const dy = input(shape);
    const dx = ropeBackward(dy.t, pt, 10000);
    expect(relErr(dx.toArray(), ref(dy.x, pos, shape, 10000, true))).toBeLessThan(1e-5);
    const x = Float64Array.from(randn(n));
    const loss = (xx: Float64Array): number => {
      const xt = Tensor.fromArray(Float32Array.from(xx), shape);
      const y = rope(xt, pt, 10000);
      const v = dot(dy.x, y.toArray());
      xt.dispose();
      y.dispose();
      return v;
    };
    expect(relErr(dx.toArray(), fdGrad(loss, x, 1e-2))).toBeLessThan(1e-3);
  });
});

describe('rope errors', () => {
  test('the raw native function checks every buffer size', () => {
    const N = native();
    const small = new N.NativeBuffer(16, 0);
    const big = new N.NativeBuffer(4096, 0);
    expect(() => N.rope(0, 1, 2, 2, 7, big, big, true, 10000, false, big)).toThrow(/rope: head dimension 7 is odd/);
    expect(() => N.rope(0, 2, 4, 2, 8, big, small, true, 10000, false, big)).toThrow(/rope: positions holds 16 bytes, needs 32/);
    expect(() => N.rope(0, 2, 4, 2, 8, big, big, true, 10000, false, small)).toThrow(/rope: y holds 16 bytes, needs 512/);
    expect(() => N.rope(0, 1, 1, 1, 2, big, big, true, 0, false, big)).toThrow(/rope: theta must be a positive finite number/);
    small.free();
    big.free();
  });

  test('bad shapes, dtypes, theta and disposed tensors are refused', () => {
    const x = Tensor.zeros([2, 3, 4, 8]);
    const p = Tensor.fromArray(Int32Array.from([0, 1, 2]));
    expect(() => rope(Tensor.zeros([2, 3, 4, 7]), p, 10000)).toThrow(/rope: the head dimension of x \[2, 3, 4, 7\] must be even/);
    expect(() => rope(Tensor.zeros([3, 4, 8]), p, 10000)).toThrow(/rope: x \[3, 4, 8\] must be \[B, T, H, Dh\]/);
    expect(() => rope(x, Tensor.zeros([3]), 10000)).toThrow(/rope: positions must be i32, got f32/);
    expect(() => rope(x, Tensor.fromArray(Int32Array.from([0, 1])), 10000)).toThrow(
      /rope: positions \[2\] must be \[2, 3\] or \[3\] for x \[2, 3, 4, 8\]/,
    );
    expect(() => rope(x, p, 0)).toThrow(/rope: theta must be a positive number/);
    expect(() => ropeBackward(x, p, -1)).toThrow(/ropeBackward: theta must be a positive number/);
    expect(() => rope(Tensor.zeros([2, 3, 4, 8], { dtype: 'i32' }), p, 10000)).toThrow(/expected a f32 or bf16 tensor/);
    p.dispose();
    expect(() => rope(x, p, 10000)).toThrow(/rope: tensor \[3\] i32 was disposed/);
  });
});

describeCuda('rope CUDA matches CPU', () => {
  test.each(['f32', 'bf16'] as DType[])('%s', (dt) => {
    for (const shape of [[1, 1, 1, 2], [2, 7, 3, 8], [2, 129, 4, 128], [1, 3, 1, 130]]) {
      const [B, T] = shape;
      const x = input(shape, dt);
      const pos = positions(B, T, 0, true);
      const pt = Tensor.fromArray(pos, [B, T]);
      const xg = x.t.to('cuda');
      const pg = pt.to('cuda');
      for (const inverse of [false, true]) {
        const c = rope(x.t, pt, 10000, { inverse });
        const g = rope(xg, pg, 10000, { inverse });
        expect(relErr(g.toArray(), c.toArray())).toBeLessThan(dt === 'f32' ? 1e-6 : 1e-2);
        expect(relErr(g.toArray(), ref(x.x, pos, shape, 10000, inverse))).toBeLessThan(TOL[dt]);
      }
      const pt1 = Tensor.fromArray(pos.subarray(0, T), [T]);
      expect(relErr(rope(xg, pt1.to('cuda'), 500000).toArray(), rope(x.t, pt1, 500000).toArray())).toBeLessThan(
        dt === 'f32' ? 1e-6 : 1e-2,
      );
    }
  });
});
