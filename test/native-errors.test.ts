// The raw addon must turn every misuse into a JS Error: never a crash, never an out-of-bounds access.
import { native } from '../lib/native';
import { Tensor } from '../lib';

describe('native argument checks', () => {
  const N = native();
  const small = new N.NativeBuffer(16, 0);
  const big = new N.NativeBuffer(4096, 0);
  afterAll(() => {
    small.free();
    big.free();
  });

  test('buffers too small for the op are refused', () => {
    expect(() => N.add(0, 100, small, small, 100, big)).toThrow(/add: a holds 16 bytes, needs 400/);
    expect(() => N.softmax(0, 2, 8, big, small)).toThrow(/softmax: out holds 16 bytes, needs 64/);
    expect(() => N.cast(0, 1, 10, small, big)).toThrow(/cast: a holds 16 bytes, needs 40/);
    expect(() => N.upload(small, new Float32Array(5))).toThrow(/array of 20 bytes exceeds buffer of 16/);
    expect(() => N.copy(small, big, 100)).toThrow(/byte count exceeds a buffer/);
    const opts = { transA: false, transB: false, batch: 2, M: 4, N: 4, K: 4, alpha: 1, beta: 0, dtA: 0, dtB: 0, dtC: 0, strideA: 16, strideB: 16, strideC: 16 };
    expect(() => N.gemm(small, big, big, opts)).toThrow(/gemm: A holds 16 bytes, needs 128/);
    expect(() => N.gemm(big, big, big, { ...opts, strideC: 3 })).toThrow(/C batches would overlap/);
    expect(() => N.gemm(big, big, big, { ...opts, dtB: 1 })).toThrow(/same dtype/);
    expect(() => N.gemm(big, big, big, { ...opts, M: -1 })).toThrow(/option M must be a non-negative integer/);
  });

  test('wrong argument types are refused', () => {
    expect(() => N.add(0, 4, {} as never, small, 4, small)).toThrow(/add: a is not a tensor buffer/);
    expect(() => N.add(7, 4, small, small, 4, small)).toThrow(/unknown dtype id/);
    expect(() => N.add(0, 4, small, small, 3, small)).toThrow(/b has 3 elements, which does not divide 4/);
    expect(() => N.scale(0, 1.5, small, 1, 0, small)).toThrow(/must be a non-negative integer/);
    expect(() => (N.fill as unknown as (...a: unknown[]) => void)(0)).toThrow(/fill: missing argument 1/);
    expect(() => new N.NativeBuffer(-1, 0)).toThrow(/invalid byte size/);
    expect(() => new N.NativeBuffer(8, 5)).toThrow(/invalid device id/);
  });

  test('freed buffers are refused', () => {
    const b = new N.NativeBuffer(64, 0);
    b.free();
    expect(b.freed).toBe(true);
    expect(() => N.fill(0, 4, 1, b)).toThrow(/fill: out was disposed/);
    b.free(); // double free is a no-op
  });

  test('the OpenBLAS peer loader fails softly for a missing library', () => {
    expect(N.openblasLoad('/nonexistent/libopenblas.so')).toBe(false);
  });

  test('Tensor views of a freed storage report the op', () => {
    const t = Tensor.zeros([4]);
    const v = t.reshape([2, 2]);
    t.dispose();
    v.dispose();
    expect(() => v.toArray()).toThrow(/toArray: tensor \[2, 2\] f32 was disposed/);
  });
});
