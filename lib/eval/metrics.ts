// Accuracy metrics: greedy accuracy, majority voting (self-consistency, maj@k) and the unbiased
// pass@k estimator (Chen et al. 2021).
import { EquivalenceOptions, analyzeAnswer, isEquivalent } from './equivalence';

export type Answer = string | null | undefined;

function checkRefs(fn: string, n: number, refs: string[]): void {
  if (!Array.isArray(refs) || refs.length !== n) {
    throw new Error(`${fn}: ${n} problems but ${Array.isArray(refs) ? refs.length : 'no'} reference answers`);
  }
}

/** Fraction of problems whose (greedy) answer is equivalent to the reference. 0 problems gives NaN. */
export function greedyAccuracy(preds: Answer[], refs: string[], opts: EquivalenceOptions = {}): number {
  checkRefs('greedyAccuracy', preds.length, refs);
  if (preds.length === 0) return NaN;
  let c = 0;
  for (let i = 0; i < preds.length; i++) if (isEquivalent(preds[i], refs[i], opts)) c++;
  return c / preds.length;
}

export interface Vote {
  /** The winning answer (its first occurrence), or null when no sample had an answer. */
  answer: string | null;
  /** Samples in the winning equivalence class. */
  votes: number;
  /** Number of equivalence classes among the answered samples. */
  classes: number;
}

/**
 * Majority vote over answers: answers are grouped into equivalence classes (isEquivalent against
 * each class's first member; identical normalised strings are grouped without comparing), the
 * largest class wins, ties go to the class that appeared first. Null answers do not vote.
 */
export function majorityVote(answers: Answer[], opts: EquivalenceOptions = {}): Vote {
  const classes: { rep: string; count: number }[] = [];
  const byNorm = new Map<string, number>();
  for (const a of answers) {
    if (a === null || a === undefined) continue;
    const norm = analyzeAnswer(a).norm.text;
    if (norm === '') continue;
    let idx = byNorm.get(norm);
    if (idx === undefined) {
      idx = classes.findIndex((c) => isEquivalent(a, c.rep, opts));
      if (idx < 0) {
        idx = classes.length;
        classes.push({ rep: a, count: 0 });
      }
      byNorm.set(norm, idx);
    }
    classes[idx].count++;
  }
  let best = -1;
  for (let i = 0; i < classes.length; i++) if (best < 0 || classes[i].count > classes[best].count) best = i;
  return best < 0
    ? { answer: null, votes: 0, classes: 0 }
    : { answer: classes[best].rep, votes: classes[best].count, classes: classes.length };
}

/**
 * maj@k: fraction of problems where the majority vote over the first k sampled answers is correct.
 * samples[i] holds problem i's answers (at least k of them).
 */
export function majorityAtK(samples: Answer[][], refs: string[], k: number, opts: EquivalenceOptions = {}): number {
  checkRefs('majorityAtK', samples.length, refs);
  checkK('majorityAtK', k);
  if (samples.length === 0) return NaN;
  let c = 0;
  samples.forEach((s, i) => {
    if (!Array.isArray(s) || s.length < k) {
      throw new Error(`majorityAtK: problem ${i} has ${Array.isArray(s) ? s.length : 'no'} samples, k = ${k}`);
    }
    if (isEquivalent(majorityVote(s.slice(0, k), opts).answer, refs[i], opts)) c++;
  });
  return c / samples.length;
}

function checkK(fn: string, k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new Error(`${fn}: k must be a positive integer, got ${k}`);
}

/**
 * Unbiased pass@k estimate for one problem with n samples of which c are correct:
 * 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i) (no large binomials).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw new Error(`passAtK: need integers n >= 1, 0 <= c <= n, 1 <= k <= n; got n=${n}, c=${c}, k=${k}`);
  }
  if (n - c < k) return 1;
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

/** Mean pass@k over problems, each given as {n, c} (every n must be >= k). */
export function meanPassAtK(counts: { n: number; c: number }[], k: number): number {
  if (counts.length === 0) return NaN;
  let s = 0;
  for (const { n, c } of counts) s += passAtK(n, c, k);
  return s / counts.length;
}
