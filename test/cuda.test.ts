// CUDA vs CPU twins on random inputs. Runs only where a GPU is visible; skipped (and reported) otherwise.
import { Tensor, DType, add, mul, scale, cast, sum, max, softmax, logSoftmax, gemm, synchronize } from '../lib';
import { describeCuda, randn, relErr } from './helpers';

const TOL: Record<DType, number> = { f32: 1e-5, bf16: 1e-2, i32: 0 };

function both(shape: number[], dtype: DType): [Tensor, Tensor] {
  const n = shape.reduce((a, b) => a * b, 1);
  const c = Tensor.fromArray(randn(n), shape, { dtype });
  return [c, c.to('cuda')];
}

describeCuda('CUDA matches CPU', () => {
  const shapes = [[1], [7], [129], [5, 129], [3, 7, 1025]];
  test.each(['f32', 'bf16'] as DType[])('elementwise, reductions, softmax (%s)', (dtype) => {
    for (const shape of shapes) {
      const [a, ag] = both(shape, dtype);
      const [b, bg] = both(shape, dtype);
      const pairs: [Tensor, Tensor, number][] = [
        [add(a, b), add(ag, bg), TOL[dtype]],
        [mul(a, b), mul(ag, bg), TOL[dtype]],
        [scale(a, 0.3, -2), scale(ag, 0.3, -2), TOL[dtype]],
        [cast(a, dtype === 'f32' ? 'bf16' : 'f32'), cast(ag, dtype === 'f32' ? 'bf16' : 'f32'), 0],
        [sum(a), sum(ag), dtype === 'f32' ? 1e-4 : 1e-2],
        [max(a), max(ag), 0],
        [softmax(a), softmax(ag), dtype === 'f32' ? 1e-4 : 1e-2],
        [logSoftmax(a), logSoftmax(ag), dtype === 'f32' ? 1e-4 : 1e-2],
      ];
      for (const [c, g, tol] of pairs) {
        expect(g.device).toBe('cuda');
        const err = relErr(g.toArray(), c.toArray());
        if (tol === 0) expect(err).toBe(0);
        else expect(err).toBeLessThan(tol);
      }
    }
    synchronize();
  });

  test.each([
    [1, 1, 1], [7, 5, 3], [129, 7, 65], [33, 129, 257], [256, 256, 256], [300, 1, 17], [1000, 1024, 520],
  ])('gemm %p x %p x %p, all layouts, f32 and bf16', (M, N, K) => {
    for (const dtype of ['f32', 'bf16'] as DType[])
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const [a, ag] = both(ta ? [2, K, M] : [2, M, K], dtype);
        const [b, bg] = both(tb ? [N, K] : [K, N], dtype);
        const c = gemm(a, b, { transA: ta, transB: tb, alpha: 0.5 });
        const g = gemm(ag, bg, { transA: ta, transB: tb, alpha: 0.5 });
        expect(relErr(g.toArray(), c.toArray())).toBeLessThan(dtype === 'f32' ? 1e-4 : 1e-3);
      }
  });
});
