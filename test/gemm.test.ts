// GEMM vs a float64 reference: every transpose combination, f32 and bf16 inputs, f32 and bf16
// outputs, alpha/beta, batches with broadcasting, and shapes that are not multiples of any tile.
import { Tensor, DType, gemm, matmul, roundBf16 } from '../lib';
import { randn, relErr } from './helpers';

interface Mat {
  t: Tensor;
  x: Float64Array; // the values the kernel sees (after bf16 rounding)
}

function rand(shape: number[], dtype: DType): Mat {
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = randn(n);
  return {
    t: Tensor.fromArray(raw, shape, { dtype }),
    x: Float64Array.from(raw, (v) => (dtype === 'bf16' ? roundBf16(v) : Math.fround(v))),
  };
}

/** float64 C = alpha * op(A) op(B) + beta * C0 for one batch. */
function refGemm(
  A: Float64Array, B: Float64Array, M: number, N: number, K: number,
  transA: boolean, transB: boolean, alpha: number, beta: number, C0?: Float64Array,
): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += (transA ? A[k * M + i] : A[i * K + k]) * (transB ? B[j * K + k] : B[k * N + j]);
      C[i * N + j] = alpha * acc + (beta !== 0 && C0 ? beta * C0[i * N + j] : 0);
    }
  return C;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [7, 5, 3], [129, 7, 65], [33, 129, 257], [1, 1000, 1], [300, 1, 17], [64, 64, 64], [17, 200, 300],
];
const TRANS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
const CASES = SHAPES.flatMap(([M, N, K]) =>
  TRANS.map(([ta, tb]) => [`${M}x${N}x${K} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`, M, N, K, ta, tb] as const),
);

describe.each(['f32', 'bf16'] as DType[])('gemm %s inputs', (dtype) => {
  test.each(CASES)('%s', (_name, M, N, K, ta, tb) => {
    const A = rand(ta ? [K, M] : [M, K], dtype);
    const B = rand(tb ? [N, K] : [K, N], dtype);
    const ref = refGemm(A.x, B.x, M, N, K, ta, tb, 1.5, 0);
    const C = gemm(A.t, B.t, { transA: ta, transB: tb, alpha: 1.5 });
    expect(C.shape).toEqual([M, N]);
    expect(C.dtype).toBe('f32');
    expect(relErr(C.toArray(), ref)).toBeLessThan(1e-4); // f32 accumulation of exact products
    const Ch = gemm(A.t, B.t, { transA: ta, transB: tb, alpha: 1.5, outDtype: 'bf16' });
    expect(Ch.dtype).toBe('bf16');
    expect(relErr(Ch.toArray(), ref)).toBeLessThan(1e-2);
    for (const t of [A.t, B.t, C, Ch]) t.dispose();
  });
});

describe('gemm accumulation and batches', () => {
  test.each(['f32', 'bf16'] as DType[])('beta accumulates into c (%s c), NaN in c ignored when beta = 0', (cdt) => {
    const [M, N, K] = [37, 45, 70];
    const A = rand([M, K], 'f32');
    const B = rand([N, K], 'f32');
    const C0 = rand([M, N], cdt);
    const out = gemm(A.t, B.t, { transB: true, alpha: -0.5, beta: 0.75, c: C0.t });
    expect(out).toBe(C0.t);
    const ref = refGemm(A.x, B.x, M, N, K, false, true, -0.5, 0.75, C0.x);
    expect(relErr(out.toArray(), ref)).toBeLessThan(cdt === 'f32' ? 1e-4 : 1e-2);
    const nanC = Tensor.full([M, N], NaN, { dtype: cdt });
    gemm(A.t, B.t, { transB: true, beta: 0, c: nanC });
    expect(relErr(nanC.toArray(), refGemm(A.x, B.x, M, N, K, false, true, 1, 0))).toBeLessThan(cdt === 'f32' ? 1e-4 : 1e-2);
    for (const t of [A.t, B.t, C0.t, nanC]) t.dispose();
  });

  test.each([
    ['batched', [3, 2], [3, 2]],
    ['A broadcast', [], [2, 3]],
    ['B broadcast', [4], []],
    ['B broadcast with ones', [2, 2], [1]],
  ] as [string, number[], number[]][])('%s: A batch %p, B batch %p', (_n, ba, bb) => {
    const [M, N, K] = [19, 23, 31];
    const A = rand([...ba, M, K], 'bf16');
    const B = rand([...bb, K, N], 'bf16');
    const C = matmul(A.t, B.t);
    const nA = ba.reduce((a, b) => a * b, 1);
    const nB = bb.reduce((a, b) => a * b, 1);
    const batchShape = nA >= nB && ba.length ? ba : bb;
    expect(C.shape).toEqual([...batchShape, M, N]);
    const batch = Math.max(nA, nB);
    const out = C.toArray();
    for (let b = 0; b < batch; b++) {
      const a = A.x.subarray((nA === 1 ? 0 : b) * M * K, ((nA === 1 ? 0 : b) + 1) * M * K);
      const bm = B.x.subarray((nB === 1 ? 0 : b) * K * N, ((nB === 1 ? 0 : b) + 1) * K * N);
      expect(relErr(out.subarray(b * M * N, (b + 1) * M * N), refGemm(a, bm, M, N, K, false, false, 1, 0))).toBeLessThan(1e-4);
    }
    for (const t of [A.t, B.t, C]) t.dispose();
  });

  test('K = 0 gives zeros (or beta * C); empty M or N give empty results', () => {
    const A = Tensor.zeros([3, 0]);
    const B = Tensor.zeros([0, 4]);
    expect(Array.from(matmul(A, B).toArray())).toEqual(new Array(12).fill(0));
    const c = Tensor.full([3, 4], 2);
    gemm(A, B, { beta: 0.5, c });
    expect(Array.from(c.toArray())).toEqual(new Array(12).fill(1));
    expect(matmul(Tensor.zeros([0, 5]), Tensor.zeros([5, 4])).shape).toEqual([0, 4]);
  });

  test('bad shapes, dtypes and options throw with the shapes in the message', () => {
    const a = Tensor.zeros([2, 3]);
    const b = Tensor.zeros([4, 5]);
    expect(() => matmul(a, b)).toThrow(/gemm: inner dimensions differ: A \[2, 3\] @ B \[4, 5\] \(3 vs 4\)/);
    expect(() => matmul(Tensor.zeros([3]), b)).toThrow(/at least 2 dimensions/);
    expect(() => matmul(Tensor.zeros([2, 2, 3]), Tensor.zeros([3, 3, 5]))).toThrow(
      /batch dimensions \[2\] of A \[2, 2, 3\] and \[3\] of B \[3, 3, 5\] do not match/,
    );
    expect(() => matmul(a, Tensor.zeros([3, 5], { dtype: 'bf16' }))).toThrow(/gemm: dtypes differ \(f32, bf16\)/);
    expect(() => matmul(Tensor.zeros([2, 3], { dtype: 'i32' }), Tensor.zeros([3, 5], { dtype: 'i32' }))).toThrow(
      /expected a f32 or bf16 tensor, got i32/,
    );
    expect(() => gemm(a, Tensor.zeros([3, 5]), { beta: 1 })).toThrow(/beta = 1 needs an existing c/);
    expect(() => gemm(a, Tensor.zeros([3, 5]), { c: Tensor.zeros([5, 2]) })).toThrow(/c has shape \[5, 2\], expected \[2, 5\]/);
  });
});
