// Metrics: greedy accuracy, majority voting over equivalence classes (maj@k), and the unbiased
// pass@k estimator against brute-force enumeration of k-subsets.
import { greedyAccuracy, majorityAtK, majorityVote, meanPassAtK, passAtK } from '../lib/eval';

/** C(n, k) as a float (small n). */
function binom(n: number, k: number): number {
  let r = 1;
  for (let i = 0; i < k; i++) r = (r * (n - i)) / (i + 1);
  return r;
}

/** pass@k by enumerating every k-subset of n samples of which the first c are correct. */
function bruteForcePassAtK(n: number, c: number, k: number): number {
  let hit = 0;
  let total = 0;
  const rec = (start: number, left: number, any: boolean) => {
    if (left === 0) {
      total++;
      if (any) hit++;
      return;
    }
    for (let i = start; i <= n - left; i++) rec(i + 1, left - 1, any || i < c);
  };
  rec(0, k, false);
  return hit / total;
}

describe('passAtK', () => {
  test('matches brute-force enumeration for every n <= 10', () => {
    for (let n = 1; n <= 10; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) {
          const bf = bruteForcePassAtK(n, c, k);
          expect(Math.abs(passAtK(n, c, k) - bf)).toBeLessThan(1e-12);
          expect(Math.abs(passAtK(n, c, k) - (1 - binom(n - c, k) / binom(n, k)))).toBeLessThan(1e-12);
        }
      }
    }
  });

  test('hand-computed values and limits', () => {
    expect(passAtK(4, 1, 1)).toBeCloseTo(0.25, 15);
    expect(passAtK(4, 1, 2)).toBeCloseTo(0.5, 15); // 1 - C(3,2)/C(4,2) = 1 - 3/6
    expect(passAtK(5, 2, 2)).toBeCloseTo(0.7, 15); // 1 - C(3,2)/C(5,2) = 1 - 3/10
    expect(passAtK(10, 0, 5)).toBe(0);
    expect(passAtK(10, 6, 5)).toBe(1); // fewer than k wrong samples
    expect(passAtK(3, 3, 1)).toBe(1);
    // pass@1 is the fraction correct.
    expect(passAtK(64, 17, 1)).toBeCloseTo(17 / 64, 14);
  });

  test('stable for large n where binomials overflow', () => {
    const v = passAtK(2000, 3, 1000);
    expect(v).toBeCloseTo(1 - (1000 * 999 * 998) / (2000 * 1999 * 1998), 12);
    expect(Number.isFinite(passAtK(5000, 1, 2500))).toBe(true);
    expect(passAtK(5000, 1, 2500)).toBeCloseTo(0.5, 12);
  });

  test('bad arguments', () => {
    expect(() => passAtK(4, 5, 1)).toThrow(/0 <= c <= n/);
    expect(() => passAtK(4, 1, 5)).toThrow(/k=5/);
    expect(() => passAtK(4, 1, 0)).toThrow(/passAtK/);
    expect(() => passAtK(4.5, 1, 1)).toThrow(/integers/);
    expect(() => passAtK(0, 0, 1)).toThrow(/n >= 1/);
  });

  test('meanPassAtK averages over problems', () => {
    expect(meanPassAtK([{ n: 4, c: 1 }, { n: 4, c: 4 }], 2)).toBeCloseTo((0.5 + 1) / 2, 15);
    expect(meanPassAtK([], 1)).toBeNaN();
  });
});

describe('greedyAccuracy', () => {
  test('counts equivalent answers; null is wrong', () => {
    expect(greedyAccuracy(['\\frac12', '3', null, '1,000'], ['0.5', '4', '7', '1000'])).toBe(0.5);
    expect(greedyAccuracy([], [])).toBeNaN();
    expect(() => greedyAccuracy(['1'], [])).toThrow(/1 problems but 0 reference answers/);
  });
});

describe('majority voting', () => {
  test('groups equivalent answers, not equal strings', () => {
    // "1/2", "\frac12" and "0.5" are one class of 3; "3" has 2 votes.
    const v = majorityVote(['3', '1/2', '\\frac12', '3', '0.5']);
    expect(v).toEqual({ answer: '1/2', votes: 3, classes: 2 });
  });

  test('ties go to the class seen first; null answers do not vote', () => {
    expect(majorityVote(['7', '8', '8', '7']).answer).toBe('7');
    expect(majorityVote(['8', '7', '7', '8']).answer).toBe('8');
    expect(majorityVote([null, null, '5']).answer).toBe('5');
    expect(majorityVote([null, undefined, '']).answer).toBeNull();
    expect(majorityVote([])).toEqual({ answer: null, votes: 0, classes: 0 });
  });

  test('majorityAtK uses the first k samples (hand-computed)', () => {
    const samples = [
      ['2', '3', '3', '2', '2'], // ref 2: maj@3 -> 3 (wrong), maj@5 -> 2 (right)
      ['x=4', '4', '5', '5', '5'], // ref 4: maj@3 -> 4, maj@5 -> 5
      [null, '\\frac{3}{2}', '1.5', '2', '2'], // ref 3/2: maj@3 -> 3/2; maj@5 -> tie 2:2, first class 3/2 wins
    ];
    const refs = ['2', '4', '\\dfrac32'];
    expect(majorityAtK(samples, refs, 1)).toBeCloseTo(2 / 3, 15); // first samples: right, right (x=4), none
    expect(majorityAtK(samples, refs, 3)).toBeCloseTo(2 / 3, 15);
    expect(majorityAtK(samples, refs, 5)).toBeCloseTo(2 / 3, 15);
  });

  test('bad input', () => {
    expect(() => majorityAtK([['1']], ['1'], 2)).toThrow(/problem 0 has 1 samples, k = 2/);
    expect(() => majorityAtK([['1']], ['1'], 0)).toThrow(/positive integer/);
    expect(() => majorityAtK([['1']], ['1', '2'], 1)).toThrow(/reference answers/);
  });
});
