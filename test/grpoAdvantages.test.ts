// GRPO advantages (outcome and process supervision) vs float64 references and hand-worked examples.
import { Tensor, groupAdvantages, processAdvantages } from '../lib';
import type { ScaleRewards } from '../lib';
import { describeCuda, randn, relErr, rng } from './helpers';

// Unbiased std (torch.std), 0 for fewer than two values.
function meanStd(v: number[]): [number, number] {
  const m = v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  if (v.length < 2) return [m, 0];
  return [m, Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / (v.length - 1))];
}

function refOutcome(r: ArrayLike<number>, G: number, scale: ScaleRewards, eps: number): Float64Array {
  const all = Array.from(r);
  const [, bstd] = meanStd(all);
  const out = new Float64Array(all.length);
  for (let g = 0; g < all.length / G; g++) {
    const grp = all.slice(g * G, (g + 1) * G);
    const [m, s] = meanStd(grp);
    const sd = scale === 'batch' ? bstd : s;
    grp.forEach((x, i) => (out[g * G + i] = scale === 'none' ? x - m : (x - m) / (sd + eps)));
  }
  return out;
}

function refProcess(
  rw: ArrayLike<number>, ends: ArrayLike<number>, N: number, S: number, T: number, G: number,
  scale: ScaleRewards, eps: number, mask?: ArrayLike<number>,
): Float64Array {
  const valid = (n: number) => [...Array(S).keys()].filter((s) => ends[n * S + s] >= 0).map((s) => rw[n * S + s]);
  const all: number[] = [];
  for (let n = 0; n < N; n++) all.push(...valid(n));
  const [, bstd] = meanStd(all);
  const out = new Float64Array(N * T);
  for (let g = 0; g < N / G; g++) {
    const grp: number[] = [];
    for (let n = g * G; n < (g + 1) * G; n++) grp.push(...valid(n));
    const [m, s] = meanStd(grp);
    const sd = scale === 'batch' ? bstd : s;
    for (let n = g * G; n < (g + 1) * G; n++)
      for (let t = 0; t < T; t++) {
        let a = 0;
        for (let k = 0; k < S; k++) {
          const e = ends[n * S + k];
          if (e >= 0 && e >= t) a += scale === 'none' ? rw[n * S + k] - m : (rw[n * S + k] - m) / (sd + eps);
        }
        out[n * T + t] = mask && mask[n * T + t] === 0 ? 0 : a;
      }
  }
  return out;
}

function randomSteps(N: number, S: number, T: number, seed: number): { rw: Float32Array; ends: Int32Array } {
  const r = rng(seed);
  const rw = randn(N * S);
  const ends = new Int32Array(N * S);
  for (let n = 0; n < N; n++) {
    const k = Math.floor(r() * (S + 1)); // 0..S steps, possibly none
    for (let s = 0; s < S; s++) ends[n * S + s] = s < k ? Math.floor(r() * (T + 2)) : -1; // some beyond T
  }
  return { rw, ends };
}

const SCALES: ScaleRewards[] = ['group', 'batch', 'none'];

describe('groupAdvantages', () => {
  test('hand-worked: one correct answer of four', () => {
    // mean 0.25; unbiased var = (0.75² + 3·0.25²)/3 = 0.25, std 0.5 -> (r − 0.25)/(0.5 + 1e-4)
    const a = groupAdvantages([1, 0, 0, 0], 4).toArray();
    expect(a[0]).toBeCloseTo(0.75 / 0.5001, 6);
    expect(a[1]).toBeCloseTo(-0.25 / 0.5001, 6);
    // Dr. GRPO: only centred
    expect(Array.from(groupAdvantages([1, 0, 0, 0], 4, { scaleRewards: 'none' }).toArray())).toEqual([0.75, -0.25, -0.25, -0.25]);
    // all equal rewards: std exactly 0 -> advantages exactly 0 (statistics in double)
    expect(Array.from(groupAdvantages([3, 3, 3], 3).toArray())).toEqual([0, 0, 0]);
    expect(Array.from(groupAdvantages(new Array(16).fill(0.6), 16).toArray())).toEqual(new Array(16).fill(0));
  });

  test.each(SCALES)('random, scale %s', (scale) => {
    for (const [B, G] of [[1, 1], [1, 7], [5, 16], [33, 4], [3, 129]]) {
      const r = randn(B * G);
      const eps = scale === 'group' ? 1e-4 : 0.01;
      const out = groupAdvantages(Tensor.fromArray(r), G, { scaleRewards: scale, eps });
      expect(out.shape).toEqual([B * G]);
      expect(relErr(out.toArray(), refOutcome(r, G, scale, eps))).toBeLessThan(1e-5);
    }
  });

  test('errors', () => {
    expect(() => groupAdvantages([1, 2, 3], 2)).toThrow(/groupAdvantages: rewards \[3\] is not a whole number of groups of G = 2/);
    expect(() => groupAdvantages([1, 2], 0)).toThrow(/G \(completions per prompt\) must be a positive integer/);
    expect(() => groupAdvantages([1, 2], 2, { scaleRewards: 'std' as ScaleRewards })).toThrow(/scaleRewards must be one of/);
    expect(() => groupAdvantages(Tensor.fromArray([1, 2], [2], { dtype: 'i32' }), 2)).toThrow(/rewards must be f32/);
    expect(() => groupAdvantages([1, 2], 2, { eps: -1 })).toThrow(/eps must be finite and >= 0/);
  });
});

describe('processAdvantages', () => {
  test('hand-worked: two completions, three steps', () => {
    // Row 0: steps ending at tokens 1 and 4 with rewards 1 and 0; row 1: one step ending at 2, reward 1.
    // Group steps [1, 0, 1]: mean 2/3, unbiased std sqrt((1/9 + 4/9 + 1/9)/2) = 1/√3 (eps 0):
    // normalised [√3/3, −2√3/3, √3/3] = [0.577, −1.155, 0.577].
    // Row 0: tokens 0-1 see both steps: 0.577 − 1.155 = −0.577; tokens 2-4 only the second: −1.155.
    // Row 1: tokens 0-2: 0.577; tokens 3-4 are after the last step (and masked): 0.
    const rw = Tensor.fromArray([1, 0, 1, 9], [2, 2]);
    const ends = Tensor.fromArray(Int32Array.from([1, 4, 2, -1]), [2, 2], { dtype: 'i32' });
    const mask = Tensor.fromArray([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [2, 5]);
    const a = processAdvantages(rw, ends, 2, { completionMask: mask, eps: 0 }).toArray();
    const s = Math.sqrt(3) / 3;
    const want = [-s, -s, -2 * s, -2 * s, -2 * s, s, s, s, 0, 0];
    want.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));
  });

  test.each(SCALES)('random, scale %s', (scale) => {
    for (const [B, G, S, T] of [[1, 1, 1, 1], [2, 3, 4, 7], [5, 4, 9, 129], [1, 16, 3, 33]]) {
      const N = B * G;
      const { rw, ends } = randomSteps(N, S, T, N * 31 + T);
      const mask = Float32Array.from({ length: N * T }, (_, i) => ((i * 7) % 5 === 0 ? 0 : 1));
      const eps = 1e-4;
      const noMask = processAdvantages(Tensor.fromArray(rw, [N, S]), Tensor.fromArray(ends, [N, S], { dtype: 'i32' }), G, { T, scaleRewards: scale, eps });
      expect(noMask.shape).toEqual([N, T]);
      expect(relErr(noMask.toArray(), refProcess(rw, ends, N, S, T, G, scale, eps))).toBeLessThan(1e-5);
      const m = Tensor.fromArray(Int32Array.from(mask), [N, T], { dtype: 'i32' });
      const withMask = processAdvantages(Tensor.fromArray(rw, [N, S]), Tensor.fromArray(ends, [N, S], { dtype: 'i32' }), G, { completionMask: m, scaleRewards: scale, eps });
      expect(relErr(withMask.toArray(), refProcess(rw, ends, N, S, T, G, scale, eps, mask))).toBeLessThan(1e-5);
    }
  });

  test('errors', () => {
    const rw = Tensor.fromArray(randn(6), [3, 2]);
    const ends = Tensor.fromArray(Int32Array.from([0, 1, 0, 1, 0, 1]), [3, 2], { dtype: 'i32' });
    expect(() => processAdvantages(rw, ends, 2, { T: 4 })).toThrow(/processAdvantages: stepRewards \[3, 2\] is not a whole number of groups of G = 2/);
    expect(() => processAdvantages(rw, ends, 3)).toThrow(/needs opts.T/);
    expect(() => processAdvantages(rw, Tensor.fromArray(randn(6), [3, 2]), 3, { T: 4 })).toThrow(/stepEnds must be i32 \[3, 2\]/);
    expect(() => processAdvantages(rw, ends, 3, { completionMask: Tensor.full([2, 4], 1) })).toThrow(/completionMask must be f32 or i32 \[3, T\]/);
    expect(() => processAdvantages(rw, ends, 3, { T: 5, completionMask: Tensor.full([3, 4], 1) })).toThrow(/T = 5 differs/);
  });
});

describeCuda('GRPO advantages CUDA vs CPU', () => {
  test.each(SCALES)('scale %s', (scale) => {
    for (const [B, G, S, T] of [[1, 1, 1, 1], [7, 16, 5, 129], [64, 8, 12, 1000]]) {
      const N = B * G;
      const r = Tensor.fromArray(randn(N));
      const a = groupAdvantages(r, G, { scaleRewards: scale });
      const b = groupAdvantages(r.to('cuda'), G, { scaleRewards: scale });
      expect(relErr(b.toArray(), a.toArray())).toBeLessThan(1e-5);
      const eq = groupAdvantages(Tensor.full([N], 0.6, { device: 'cuda' }), G, { scaleRewards: scale });
      expect(Array.from(eq.toArray())).toEqual(new Array(N).fill(0));
      const { rw, ends } = randomSteps(N, S, T, B + T);
      const rt = Tensor.fromArray(rw, [N, S]);
      const et = Tensor.fromArray(ends, [N, S], { dtype: 'i32' });
      const mask = Tensor.fromArray(Float32Array.from({ length: N * T }, (_, i) => (i % 7 === 3 ? 0 : 1)), [N, T]);
      const c = processAdvantages(rt, et, G, { completionMask: mask, scaleRewards: scale });
      const d = processAdvantages(rt.to('cuda'), et.to('cuda'), G, { completionMask: mask.to('cuda'), scaleRewards: scale });
      expect(relErr(d.toArray(), c.toArray())).toBeLessThan(1e-5);
    }
  });
});
