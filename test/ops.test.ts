// Elementwise, reduction and softmax ops vs float64 references on fresh random inputs.
import { Tensor, DType, add, mul, scale, cast, sum, max, softmax, logSoftmax, roundBf16 } from '../lib';
import { randn, relErr } from './helpers';

const SHAPES: number[][] = [[1], [7], [129], [3, 7], [5, 129], [2, 3, 257], [1, 4097]];
const CASES = SHAPES.map((s) => [s.join('x'), s] as [string, number[]]);
// bf16 inputs are rounded first, so the reference sees exactly what the kernel sees; the output
// rounding to bf16 is the remaining error.
const TOL: Record<string, { elementwise: number; reduction: number }> = {
  f32: { elementwise: 1e-5, reduction: 1e-4 },
  bf16: { elementwise: 1e-2, reduction: 1e-2 },
};
const DTYPES: DType[] = ['f32', 'bf16'];

function input(shape: number[], dtype: DType): { t: Tensor; x: Float64Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = randn(n);
  const x = Float64Array.from(raw, (v) => (dtype === 'bf16' ? roundBf16(v) : Math.fround(v)));
  return { t: Tensor.fromArray(raw, shape, { dtype }), x };
}

function rowsOf(x: Float64Array, cols: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < x.length; i += cols) out.push(x.subarray(i, i + cols));
  return out;
}

describe.each(DTYPES)('elementwise %s', (dtype) => {
  test.each(CASES)('add, mul, scale on %s', (_name, shape) => {
    const a = input(shape, dtype);
    const b = input(shape, dtype);
    const tol = TOL[dtype].elementwise;
    const s = add(a.t, b.t);
    expect(s.shape).toEqual(shape);
    expect(s.dtype).toBe(dtype);
    expect(relErr(s.toArray(), a.x.map((v, i) => v + b.x[i]))).toBeLessThan(tol);
    const p = mul(a.t, b.t);
    expect(relErr(p.toArray(), a.x.map((v, i) => v * b.x[i]))).toBeLessThan(tol);
    const sc = scale(a.t, -1.75, 0.5);
    expect(relErr(sc.toArray(), a.x.map((v) => -1.75 * v + 0.5))).toBeLessThan(tol);
    for (const t of [a.t, b.t, s, p, sc]) t.dispose();
  });

  test('add/mul broadcast a trailing shape (bias)', () => {
    const a = input([5, 3, 129], dtype);
    const b = input([3, 129], dtype);
    const c = input([129], dtype);
    const n = 3 * 129;
    const s = add(a.t, b.t);
    expect(relErr(s.toArray(), a.x.map((v, i) => v + b.x[i % n]))).toBeLessThan(TOL[dtype].elementwise);
    const p = mul(a.t, c.t);
    expect(relErr(p.toArray(), a.x.map((v, i) => v * c.x[i % 129]))).toBeLessThan(TOL[dtype].elementwise);
    expect(() => add(a.t, Tensor.zeros([3, 128], { dtype }))).toThrow(
      /add: cannot broadcast b \[3, 128\] to a \[5, 3, 129\]/,
    );
    for (const t of [a.t, b.t, c.t, s, p]) t.dispose();
  });
});

describe('cast', () => {
  test.each(CASES)('f32 -> bf16 -> f32 on %s', (_name, shape) => {
    const a = input(shape, 'f32');
    const h = cast(a.t, 'bf16');
    expect(h.dtype).toBe('bf16');
    expect(Array.from(h.toArray())).toEqual(Array.from(a.x, roundBf16));
    const f = cast(h, 'f32');
    expect(f.dtype).toBe('f32');
    expect(Array.from(f.toArray())).toEqual(Array.from(a.x, roundBf16));
    for (const t of [a.t, h, f]) t.dispose();
  });

  test('i32 -> f32, identity casts, and unsupported casts', () => {
    const i = Tensor.fromArray(Int32Array.from([-3, 0, 5, 1 << 20]));
    const f = cast(i, 'f32');
    expect(Array.from(f.toArray())).toEqual([-3, 0, 5, 1 << 20]);
    const same = cast(f, 'f32');
    expect(Array.from(same.toArray())).toEqual([-3, 0, 5, 1 << 20]);
    expect(() => cast(f, 'i32')).toThrow(/cast: f32 -> i32 is not supported/);
    expect(() => cast(i, 'bf16')).toThrow(/i32 -> bf16 is not supported/);
    expect(() => add(i, i)).toThrow(/add: expected a f32 or bf16 tensor, got i32/);
    for (const t of [i, f, same]) t.dispose();
  });
});

describe.each(DTYPES)('reductions and softmax %s', (dtype) => {
  test.each(CASES)('sum, max, softmax, logSoftmax on %s', (_name, shape) => {
    const a = input(shape, dtype);
    const cols = shape[shape.length - 1];
    const rows = rowsOf(a.x, cols);
    const tol = TOL[dtype].reduction;

    const s = sum(a.t);
    expect(s.shape).toEqual(shape.slice(0, -1));
    expect(relErr(s.toArray(), rows.map((r) => r.reduce((p, v) => p + v, 0)))).toBeLessThan(tol);
    const m = max(a.t);
    expect(Array.from(m.toArray())).toEqual(rows.map((r) => Math.max(...r)));

    const ref = (log: boolean): number[] =>
      rows.flatMap((r) => {
        const mx = Math.max(...r);
        const z = r.reduce((p, v) => p + Math.exp(v - mx), 0);
        return Array.from(r, (v) => (log ? v - mx - Math.log(z) : Math.exp(v - mx) / z));
      });
    const sm = softmax(a.t);
    expect(sm.shape).toEqual(shape);
    expect(relErr(sm.toArray(), ref(false))).toBeLessThan(tol);
    const ls = logSoftmax(a.t);
    expect(relErr(ls.toArray(), ref(true))).toBeLessThan(tol);
    for (const t of [a.t, s, m, sm, ls]) t.dispose();
  });
});

describe('reductions: edge cases', () => {
  test('large-magnitude rows stay finite; NaN propagates; -inf entries get zero probability', () => {
    const big = Tensor.fromArray([1000, 999, -1000, 0], [1, 4]);
    const p = softmax(big).toArray();
    const e = Math.exp(-1);
    expect(relErr(p, [1 / (1 + e), e / (1 + e), 0, 0])).toBeLessThan(1e-6);
    const nan = Tensor.fromArray([1, NaN, 3], [1, 3]);
    expect(Number.isNaN(max(nan).item())).toBe(true);
    expect(Number.isNaN(sum(nan).item())).toBe(true);
    expect(Array.from(softmax(nan).toArray()).every(Number.isNaN)).toBe(true);
    const inf = Tensor.fromArray([0, -Infinity, 0], [1, 3]);
    expect(Array.from(softmax(inf).toArray())).toEqual([0.5, 0, 0.5]);
    expect(Array.from(logSoftmax(inf).toArray())).toEqual([-Math.fround(Math.LN2), -Infinity, -Math.fround(Math.LN2)]);
  });

  test('scalars and empty last dims are refused', () => {
    const s = Tensor.zeros([]);
    expect(() => sum(s)).toThrow(/sum: needs at least one dimension/);
    const e = Tensor.zeros([3, 0]);
    expect(() => softmax(e)).toThrow(/softmax: the last dimension of \[3, 0\] is empty/);
    s.dispose();
    e.dispose();
  });
});
