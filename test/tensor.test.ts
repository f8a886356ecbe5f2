import { Tensor, tidy, keep, memory, emptyCache, backends, roundBf16, f32ToBf16Bits, bf16BitsToF32, add } from '../lib';
import { randn } from './helpers';

describe('Tensor', () => {
  test('fromArray/toArray round-trips f32 and i32 exactly', () => {
    const x = randn(129);
    const t = Tensor.fromArray(x, [3, 43]);
    expect(t.shape).toEqual([3, 43]);
    expect(t.dtype).toBe('f32');
    expect(t.device).toBe('cpu');
    expect(t.size).toBe(129);
    expect(t.nbytes).toBe(516);
    expect(t.strides).toEqual([43, 1]);
    expect(Array.from(t.toArray())).toEqual(Array.from(x));
    const ints = Int32Array.from([-5, 0, 7, 2147483647, -2147483648]);
    const ti = Tensor.fromArray(ints);
    expect(ti.dtype).toBe('i32');
    expect(Array.from(ti.toArray())).toEqual(Array.from(ints));
    t.dispose();
    ti.dispose();
  });

  test('bf16 storage rounds to nearest even', () => {
    // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even (1).
    expect(roundBf16(1 + 2 ** -8)).toBe(1);
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(roundBf16(-2.5)).toBe(-2.5);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(bf16BitsToF32(f32ToBf16Bits(Infinity))).toBe(Infinity);
    const x = randn(1000);
    const t = Tensor.fromArray(x, [10, 100], { dtype: 'bf16' });
    const back = t.toArray();
    for (let i = 0; i < x.length; i++) {
      expect(back[i]).toBe(roundBf16(x[i]));
      expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -8);
    }
    t.dispose();
  });

  test('zeros, full, item, clone, toString', () => {
    const z = Tensor.zeros([2, 3], { dtype: 'bf16' });
    expect(Array.from(z.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
    const f = Tensor.full([1], 3.5);
    expect(f.item()).toBe(3.5);
    const c = f.clone();
    f.dispose();
    expect(c.item()).toBe(3.5);
    expect(String(c)).toBe('Tensor([1], f32, cpu)');
    expect(() => z.item()).toThrow(/item: tensor \[2, 3\] has 6 elements/);
    z.dispose();
    c.dispose();
  });

  test('reshape is a view; storage lives until the last view is disposed', () => {
    const before = memory().bytes;
    const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const v = t.reshape([3, -1]);
    expect(v.shape).toEqual([3, 2]);
    expect(Array.from(v.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(memory().bytes - before).toBe(24);
    t.dispose();
    expect(Array.from(v.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    v.dispose();
    expect(memory().bytes).toBe(before);
    const u = Tensor.zeros([4]);
    expect(() => u.reshape([3])).toThrow(/reshape: cannot reshape \[4\] \(4 elements\) into \[3\]/);
    expect(() => u.reshape([-1, -1])).toThrow(/only one dimension can be -1/);
    u.dispose();
  });

  test('use after dispose and bad arguments throw clear errors', () => {
    const t = Tensor.fromArray([1, 2, 3]);
    t.dispose();
    t.dispose(); // idempotent
    expect(t.disposed).toBe(true);
    expect(() => t.toArray()).toThrow(/toArray: tensor \[3\] f32 was disposed/);
    expect(() => add(t, t)).toThrow(/add: tensor \[3\] f32 was disposed/);
    expect(() => Tensor.fromArray([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
    expect(() => Tensor.empty([2, -1])).toThrow(/invalid shape \[2, -1\]/);
    expect(() => Tensor.empty([2.5])).toThrow(/invalid shape/);
    expect(() => Tensor.empty([2], { dtype: 'f16' as never })).toThrow(/unknown dtype "f16"/);
    expect(() => Tensor.empty([2], { device: 'tpu' as never })).toThrow(/unknown device "tpu"/);
    expect(() => Tensor.fromArray([1.5], [1], { dtype: 'i32' })).toThrow(/value 1.5 at index 0 is not a 32-bit integer/);
    expect(() => Tensor.fromArray(null as never)).toThrow(/data must be an array/);
  });

  test('cuda tensors fail cleanly when no GPU is visible', () => {
    const b = backends();
    expect(b.cpu).toBe(true);
    expect(b.threads).toBeGreaterThan(0);
    expect(typeof b.cuda.compiled).toBe('boolean');
    if (b.cuda.available) return; // covered by the CUDA tests
    expect(b.defaultDevice).toBe('cpu');
    expect(() => Tensor.zeros([4], { device: 'cuda' })).toThrow(b.cuda.compiled ? /CUDA device not available/ : /no CUDA backend/);
    const t = Tensor.fromArray([1, 2]);
    expect(() => t.to('cuda')).toThrow(/CUDA/);
    t.dispose();
  });
});

describe('tidy and memory', () => {
  test('tidy disposes intermediates and keeps results and keep()', () => {
    const before = memory();
    let inner: Tensor | undefined;
    let kept: Tensor | undefined;
    const out = tidy(() => {
      const a = Tensor.fromArray([1, 2, 3]);
      inner = add(a, a);
      kept = keep(add(inner, a));
      const r = add(inner, inner);
      return { r, list: [a] };
    });
    expect(inner!.disposed).toBe(true);
    expect(kept!.disposed).toBe(false);
    expect(Array.from(out.r.toArray())).toEqual([4, 8, 12]);
    expect(out.list[0].disposed).toBe(false);
    out.r.dispose();
    out.list[0].dispose();
    kept!.dispose();
    expect(memory().bytes).toBe(before.bytes);
    expect(memory().tensors).toBe(before.tensors);
  });

  test('nested tidy hands returned tensors to the outer scope; throwing disposes', () => {
    let leaked: Tensor | undefined;
    const outer = tidy(() => {
      const x = tidy(() => Tensor.fromArray([1]));
      expect(x.disposed).toBe(false);
      return [x];
    });
    expect(outer[0].disposed).toBe(false);
    outer[0].dispose();
    expect(() =>
      tidy(() => {
        leaked = Tensor.fromArray([1]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(leaked!.disposed).toBe(true);
  });

  test('10k alloc/dispose cycles leave memory flat', () => {
    const before = memory();
    for (let i = 0; i < 10000; i++) {
      const t = Tensor.empty([257]);
      const v = t.reshape([1, 257]);
      t.dispose();
      v.dispose();
    }
    for (let i = 0; i < 1000; i++) tidy(() => add(Tensor.fromArray([1, 2]), Tensor.fromArray([3, 4]))).dispose();
    const after = memory();
    expect(after.bytes).toBe(before.bytes);
    expect(after.buffers).toBe(before.buffers);
    expect(after.tensors).toBe(before.tensors);
    expect(after.allocations - before.allocations).toBe(10000 + 3000);
  });

  test('freed host blocks are cached for reuse and poisoned again when handed out', () => {
    emptyCache();
    expect(memory().cachedBytes).toBe(0);
    const t = Tensor.full([1000], 7);
    t.dispose();
    expect(memory().cachedBytes).toBe(4032); // 4000 bytes rounded up to its size class
    const u = Tensor.empty([1000]); // same size class: reuses the block
    expect(memory().cachedBytes).toBe(0);
    expect(Array.from(u.toArray()).every(Number.isNaN)).toBe(true); // MATHRL_POISON refills it
    u.dispose();
    emptyCache();
    expect(memory().cachedBytes).toBe(0);
  });

  test('an undisposed tensor is reclaimed by the garbage collector', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run jest with node --expose-gc (npm test does)');
    // Let garbage from earlier tests be reclaimed first, so the counts below are this test's alone.
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    const before = memory();
    (() => {
      for (let i = 0; i < 100; i++) Tensor.empty([1024]);
    })();
    expect(memory().bytes - before.bytes).toBe(100 * 4096);
    for (let i = 0; i < 20 && memory().bytes !== before.bytes; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(memory().bytes).toBe(before.bytes);
    expect(memory().gcReclaimed - before.gcReclaimed).toBe(100);
  });
});
