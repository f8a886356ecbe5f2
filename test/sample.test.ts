// Fused sampling: the RNG against Random123's known answers, every filter against a float64 reference
// (exact kept sets on hand-built rows, chi-square goodness of fit over many draws, the exact token for
// the op's own uniform), edge cases, per-row parameters, reproducibility and argument errors.
import { DType, Tensor, sample, roundBf16 } from '../lib';
import type { SampleOptions } from '../lib';
import { native } from '../lib/native';
import { describeCuda, randn, rng } from './helpers';

const fr = Math.fround;

// ---------------------------------------------------------------------------------------------------
// Chi-square survival function, written out: Q(df/2, x/2), the regularised upper incomplete gamma
// (series below a + 1, Lentz continued fraction above; Numerical Recipes 6.2).

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
function lgamma(x: number): number {
  // x >= 0.5 here (a = df / 2)
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - lgamma(a));
  if (x < a + 1) {
    let ap = a;
    let del = 1 / a;
    let sum = del;
    for (let n = 0; n < 10000 && Math.abs(del) > Math.abs(sum) * 1e-16; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
    }
    return 1 - sum * front;
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return front * h;
}
const chi2Sf = (x: number, df: number): number => gammaQ(df / 2, x / 2);

/** p-value of Pearson's chi-square for counts against probs (bins with expectation < 5 pooled). */
function chiSquare(counts: ArrayLike<number>, probs: ArrayLike<number>): { stat: number; df: number; p: number } {
  let N = 0;
  for (let i = 0; i < counts.length; i++) N += counts[i];
  const bins: [number, number][] = []; // [observed, expected]
  let pool: [number, number] = [0, 0];
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    const e = probs[i] * N;
    if (e < 5) pool = [pool[0] + counts[i], pool[1] + e];
    else bins.push([counts[i], e]);
  }
  if (pool[1] > 0) bins.push(pool);
  let stat = 0;
  for (const [o, e] of bins) stat += ((o - e) * (o - e)) / e;
  const df = bins.length - 1;
  return { stat, df, p: df > 0 ? chi2Sf(stat, df) : 1 };
}

const P_VALUE = 1e-4; // fixed threshold; the draws are deterministic (fixed seeds), so so is the test

// ---------------------------------------------------------------------------------------------------
// float64 reference of the op's contract, with the op's float32 rounding of d = (v - vmax) * (1/T)
// emulated by Math.fround, so thresholds (ties!) are decided on the same values.

interface RowParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  penalty?: number;
  prev?: number[];
}
type Ref =
  | { kind: 'invalid' }
  | { kind: 'greedy'; token: number; logprob: number }
  | { kind: 'sample'; d: Float64Array; probs: Float64Array; Z: number; tau: number };

function reference(row: ArrayLike<number>, o: RowParams): Ref {
  const V = row.length;
  const v = Array.from(row, (x) => fr(x));
  const pen = o.penalty ?? 1;
  if (pen !== 1 && o.prev) {
    const seen = new Set<number>();
    for (const t of o.prev) {
      if (t < 0 || seen.has(t)) continue;
      seen.add(t);
      v[t] = v[t] > 0 ? fr(v[t] / fr(pen)) : fr(v[t] * fr(pen));
    }
  }
  let vmax = -Infinity;
  let arg = -1;
  for (let c = 0; c < V; c++) {
    if (Number.isNaN(v[c]) || v[c] === Infinity) return { kind: 'invalid' };
    if (v[c] > vmax) {
      vmax = v[c];
      arg = c;
    }
  }
  if (arg < 0) return { kind: 'invalid' };
  const T = o.temperature ?? 1;
  if (!(T > 0)) {
    let z = 0;
    for (let c = 0; c < V; c++) z += Math.exp(v[c] - vmax);
    return { kind: 'greedy', token: arg, logprob: -Math.log(z) };
  }
  const inv = fr(1 / fr(T));
  const d = new Float64Array(V);
  for (let c = 0; c < V; c++) {
    const diff = fr(v[c] - vmax);
    d[c] = diff === 0 ? 0 : fr(diff * inv);
  }
  let tau = -Infinity;
  const k = o.topK ?? 0;
  if (k > 0 && k < V) tau = Float64Array.from(d).sort()[V - k]; // the k-th largest
  const p = o.topP ?? 1;
  if (p < 1) {
    const cand = Float64Array.from(d.filter((x) => x >= tau)).sort().reverse(); // descending
    const Z = cand.reduce((s, x) => s + Math.exp(x), 0);
    let above = 0;
    let kept = cand[0];
    for (let i = 0; i < cand.length; ) {
      if (above >= p * Z) break;
      kept = cand[i];
      let j = i;
      while (j < cand.length && cand[j] === cand[i]) above += Math.exp(cand[j++]);
      i = j;
    }
    tau = Math.max(tau, kept);
  }
  const m = o.minP ?? 0;
  if (m > 0) tau = Math.max(tau, fr(Math.log(fr(m))));
  let Z = 0;
  for (let c = 0; c < V; c++) if (d[c] >= tau) Z += Math.exp(d[c]);
  const probs = new Float64Array(V);
  for (let c = 0; c < V; c++) probs[c] = d[c] >= tau ? Math.exp(d[c]) / Z : 0;
  return { kind: 'sample', d, probs, Z, tau };
}

/** The token the inverse CDF picks at u, and how far u * Z is from the nearest CDF step (relative). */
function inverseCdf(ref: Extract<Ref, { kind: 'sample' }>, u: number): { token: number; margin: number } {
  const target = u * ref.Z;
  let cum = 0;
  for (let c = 0; c < ref.d.length; c++) {
    if (ref.probs[c] <= 0) continue;
    const before = cum;
    cum += Math.exp(ref.d[c]);
    if (cum > target) return { token: c, margin: Math.min(target - before, cum - target) / ref.Z };
  }
  return { token: -1, margin: 0 };
}

// ---------------------------------------------------------------------------------------------------

interface Drawn {
  tokens: Int32Array;
  logprobs: Float32Array;
}

function draw(rows: ArrayLike<number>[] | Float32Array, V: number, opts: SampleOptions, dtype: DType = 'f32'): Drawn {
  const flat = rows instanceof Float32Array ? rows : Float32Array.from(rows.flatMap((r) => Array.from(r)));
  const R = flat.length / V;
  const t = Tensor.fromArray(flat, [R, V], { dtype });
  const out = sample(t, opts);
  const res = { tokens: out.tokens.toArray() as Int32Array, logprobs: out.logprobs.toArray() as Float32Array };
  expect(out.tokens.shape).toEqual([R]);
  expect(out.tokens.dtype).toBe('i32');
  expect(out.logprobs.shape).toEqual([R]);
  expect(out.logprobs.dtype).toBe('f32');
  t.dispose();
  out.tokens.dispose();
  out.logprobs.dispose();
  return res;
}

/** R copies of one row, seeds 0..R-1 (per-row seeds), so every draw is independent. */
function manyDraws(row: number[], R: number, opts: Omit<SampleOptions, 'seeds'>, prev?: number[]): Drawn {
  const V = row.length;
  const flat = new Float32Array(R * V);
  for (let r = 0; r < R; r++) flat.set(row, r * V);
  const seeds = Int32Array.from({ length: R }, (_, i) => i * 7919 + 13);
  if (!prev) return draw(flat, V, { ...opts, seeds });
  const L = prev.length;
  const pt = new Int32Array(R * L);
  for (let r = 0; r < R; r++) pt.set(prev, r * L);
  const prevT = Tensor.fromArray(pt, [R, L], { dtype: 'i32' });
  const res = draw(flat, V, { ...opts, seeds, previousTokens: prevT });
  prevT.dispose();
  return res;
}

function histogram(tokens: Int32Array, V: number): number[] {
  const h = new Array(V).fill(0);
  for (const t of tokens) h[t]++;
  return h;
}

const logOf = (ps: number[]): number[] => ps.map((p) => Math.log(p));
const keptSet = (tokens: Int32Array): number[] => [...new Set(tokens)].sort((a, b) => a - b);
const paramsOf = (o: SampleOptions): RowParams => ({
  temperature: o.temperature as number | undefined,
  topK: o.topK as number | undefined,
  topP: o.topP as number | undefined,
  minP: o.minP as number | undefined,
  penalty: o.repetitionPenalty as number | undefined,
});

/** Draws many times and checks the kept set exactly, every logprob, and the chi-square fit. */
function checkDistribution(row: number[], opts: Omit<SampleOptions, 'seeds'>, R = 20000, prev?: number[]): number[] {
  const ref = reference(row, { ...paramsOf(opts), prev });
  if (ref.kind !== 'sample') throw new Error('expected a sampling row');
  const { tokens, logprobs } = manyDraws(row, R, opts, prev);
  const h = histogram(tokens, row.length);
  for (let c = 0; c < row.length; c++) if (ref.probs[c] === 0) expect([c, h[c]]).toEqual([c, 0]);
  for (let i = 0; i < R; i++) {
    const want = Math.log(ref.probs[tokens[i]]);
    if (Math.abs(logprobs[i] - want) > 1e-5 * Math.max(1, Math.abs(want))) expect([i, logprobs[i]]).toEqual([i, want]);
  }
  const cs = chiSquare(h, ref.probs);
  if (cs.p < P_VALUE) throw new Error(`chi-square ${cs.stat.toFixed(1)} (df ${cs.df}) p = ${cs.p.toExponential(2)}`);
  return keptSet(tokens);
}

// ---------------------------------------------------------------------------------------------------

describe('sample: RNG (native/philox.h)', () => {
  const philox = (c: number[], k: number[]): number[] => native().samplePhilox(c[0], c[1], c[2], c[3], k[0], k[1]);

  test('Philox4x32-10 matches the Random123 known-answer vectors', () => {
    expect(philox([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect(philox([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    expect(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });

  test('the per-row uniform is the top 24 bits of the first word of philox(offset lo, offset hi, 0, 0; seed, stream)', () => {
    const r = rng(5);
    for (let i = 0; i < 50; i++) {
      const seed = Math.floor(r() * 2 ** 32);
      const stream = Math.floor(r() * 1000);
      const lo = Math.floor(r() * 2 ** 32);
      const hi = i % 3 === 0 ? 0 : Math.floor(r() * 2 ** 21);
      const w = philox([lo, hi, 0, 0], [seed, stream])[0];
      const u = native().sampleUniform(seed, stream, lo, hi);
      expect(u).toBe((w >>> 8) / 2 ** 24);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
  });

  test('the chi-square survival function matches tabulated critical values', () => {
    expect(chi2Sf(3.841458820694124, 1)).toBeCloseTo(0.05, 10);
    expect(chi2Sf(18.307038053275146, 10)).toBeCloseTo(0.05, 10);
    expect(chi2Sf(124.34211340400407, 100)).toBeCloseTo(0.05, 10);
    expect(chi2Sf(6.6348966010212145, 1)).toBeCloseTo(0.01, 10);
    expect(chi2Sf(0.10258658877510106, 2)).toBeCloseTo(0.95, 10);
    expect(chi2Sf(0, 3)).toBe(1);
  });
});

describe('sample: distributions (chi-square over 20k draws, exact kept sets and logprobs)', () => {
  const r = rng(77);
  const row = (V: number, scale: number): number[] => Array.from({ length: V }, () => fr((r() - 0.5) * scale));

  test.each([
    ['plain', 10, {}],
    ['temperature 0.6', 37, { temperature: 0.6 }],
    ['temperature 2.5', 50, { temperature: 2.5 }],
    ['top-k 7', 50, { topK: 7 }],
    ['top-p 0.8', 37, { topP: 0.8 }],
    ['min-p 0.2', 50, { minP: 0.2 }],
    ['all filters', 50, { temperature: 0.8, topK: 20, topP: 0.9, minP: 0.05 }],
  ] as [string, number, Omit<SampleOptions, 'seeds'>][])('%s (V %p)', (_name, V, opts) => {
    checkDistribution(row(V, 6), opts);
  });

  test('repetition penalty then temperature and top-p', () => {
    const logits = row(24, 6);
    checkDistribution(logits, { repetitionPenalty: 1.7, temperature: 0.9, topP: 0.95 }, 20000, [3, 5, 3, -1, 11, 0, -1]);
  });

  test('the test has power: draws from a different temperature fail it', () => {
    const logits = row(30, 6);
    const { tokens } = manyDraws(logits, 20000, { temperature: 1.15 });
    const ref = reference(logits, { temperature: 1 });
    if (ref.kind !== 'sample') throw new Error('unreachable');
    expect(chiSquare(histogram(tokens, 30), ref.probs).p).toBeLessThan(P_VALUE);
  });
});

describe('sample: exact kept sets on hand-built rows', () => {
  const R = 4000;

  test('top-k keeps the k largest; all tokens tied with the k-th are kept', () => {
    const x = [1, 5, 3, 5, 2, 4];
    expect(checkDistribution(x, { topK: 1 }, R)).toEqual([1, 3]); // 1st largest is 5: both 5s
    expect(checkDistribution(x, { topK: 2 }, R)).toEqual([1, 3]);
    expect(checkDistribution(x, { topK: 3 }, R)).toEqual([1, 3, 5]);
    expect(checkDistribution(x, { topK: 5 }, R)).toEqual([1, 2, 3, 4, 5]);
    expect(checkDistribution([3, 1, 3, 3, 0], { topK: 2 }, R)).toEqual([0, 2, 3]);
  });

  test('top-p keeps the smallest top set reaching p, plus ties with its last value', () => {
    const x = logOf([0.15, 0.5, 0.05, 0.2, 0.1]);
    expect(checkDistribution(x, { topP: 0.01 }, R)).toEqual([1]);
    expect(checkDistribution(x, { topP: 0.45 }, R)).toEqual([1]);
    expect(checkDistribution(x, { topP: 0.6 }, R)).toEqual([1, 3]);
    expect(checkDistribution(x, { topP: 0.75 }, R)).toEqual([0, 1, 3]);
    expect(checkDistribution(x, { topP: 0.9 }, R)).toEqual([0, 1, 3, 4]);
    expect(checkDistribution(x, { topP: 0.99 }, R)).toEqual([0, 1, 2, 3, 4]);
    // ties: the mass above the 0.2 group is 0.4 < 0.5, so the whole group stays
    expect(checkDistribution(logOf([0.2, 0.4, 0.2, 0.2]), { topP: 0.5 }, R)).toEqual([0, 1, 2, 3]);
    expect(checkDistribution(logOf([0.3, 0.4, 0.3]), { topP: 0.35 }, R)).toEqual([1]);
  });

  test('top-p is computed on the distribution left by top-k (HF / vLLM order)', () => {
    const x = logOf([0.4, 0.3, 0.2, 0.1]);
    expect(checkDistribution(x, { topP: 0.5 }, R)).toEqual([0, 1]);
    expect(checkDistribution(x, { topK: 2, topP: 0.5 }, R)).toEqual([0]); // 0.4 / 0.7 > 0.5
    // above 0.2: 0.7 / 0.9 = 0.78 >= 0.75 (top-p over the whole row would keep it: 0.7 < 0.75)
    expect(checkDistribution(x, { topK: 3, topP: 0.75 }, R)).toEqual([0, 1]);
  });

  test('min-p keeps p >= minP * pmax, after temperature', () => {
    const x = logOf([0.5, 0.3, 0.1, 0.06, 0.04]);
    expect(checkDistribution(x, { minP: 0.15 }, R)).toEqual([0, 1, 2]);
    expect(checkDistribution(x, { minP: 0.5 }, R)).toEqual([0, 1]);
    expect(checkDistribution(x, { minP: 1 }, R)).toEqual([0]);
    // T = 2: ratios become sqrt(p / pmax): 0.1 / 0.5 -> 0.447, 0.06 / 0.5 -> 0.346, 0.04 / 0.5 -> 0.283
    expect(checkDistribution(x, { minP: 0.4, temperature: 2 }, R)).toEqual([0, 1, 2]);
    expect(checkDistribution(x, { minP: 0.3, temperature: 2 }, R)).toEqual([0, 1, 2, 3]);
  });

  test('repetition penalty (HF): positive logits divided, negative multiplied, once per distinct token', () => {
    const x = [2, -1, 1, 0.5];
    const base = { temperature: 0 };
    // penalised: [0.5, -4, 1, 0.5] -> argmax 2
    const g = manyDraws(x, 1, { ...base, repetitionPenalty: 4 }, [0, 1, 1, -1, 0]);
    expect(g.tokens[0]).toBe(2);
    const lse = Math.log(Math.exp(0.5) + Math.exp(-4) + Math.exp(1) + Math.exp(0.5));
    expect(g.logprobs[0]).toBeCloseTo(1 - lse, 6);
    const once = manyDraws(x, 1, { ...base, repetitionPenalty: 4 }, [0, 1]);
    expect(once.logprobs[0]).toBe(g.logprobs[0]);
    // penalty 1 (off) leaves the argmax at 0
    expect(manyDraws(x, 1, { ...base, repetitionPenalty: 1 }, [0]).tokens[0]).toBe(0);
    // a penalty < 1 rewards: token 3 goes from 0.5 to 2.5 and wins
    expect(manyDraws(x, 1, { ...base, repetitionPenalty: 0.2 }, [3]).tokens[0]).toBe(3);
    // and the sampled distribution follows the penalised logits
    checkDistribution(x, { repetitionPenalty: 3 }, R, [0, 2, -1]);
  });
});

describe('sample: edge cases', () => {
  test('all -inf but one: that token, logprob 0, whatever the filters', () => {
    const x = [-Infinity, -Infinity, 1.5, -Infinity, -Infinity];
    for (const o of [{ temperature: 0 }, {}, { topK: 3 }, { topP: 0.3 }, { minP: 0.9 }, { temperature: 0.1, topK: 1, topP: 0.5, minP: 0.5 }]) {
      const d = manyDraws(x, 50, o);
      expect(Array.from(d.tokens)).toEqual(new Array(50).fill(2));
      expect(Array.from(d.logprobs)).toEqual(new Array(50).fill(0));
    }
  });

  test('-inf tokens are never drawn, and count as values for top-k', () => {
    const x = [0, -Infinity, 1, -Infinity, 0.5];
    expect(checkDistribution(x, {}, 4000)).toEqual([0, 2, 4]);
    expect(checkDistribution(x, { topK: 4 }, 4000)).toEqual([0, 2, 4]);
  });

  test('invalid rows (NaN, +inf, all -inf) give token -1 and logprob NaN; other rows are unaffected', () => {
    const rows = [
      [0, 1, 2],
      [0, NaN, 2],
      [0, Infinity, 2],
      [-Infinity, -Infinity, -Infinity],
      [2, 1, 0],
    ];
    for (const opts of [{ temperature: 0 }, { seeds: 3 }, { seeds: 3, topP: 0.5, topK: 2 }]) {
      const d = draw(rows, 3, opts);
      expect(Array.from(d.tokens.subarray(1, 4))).toEqual([-1, -1, -1]);
      expect(Array.from(d.logprobs.subarray(1, 4)).every(Number.isNaN)).toBe(true);
      expect(d.tokens[0]).toBeGreaterThanOrEqual(0);
      expect(d.tokens[4]).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(d.logprobs[0]) && Number.isFinite(d.logprobs[4])).toBe(true);
    }
    // a penalty that overflows a logit to +inf makes the row invalid too
    const prev = Tensor.fromArray(new Int32Array([1]), [1, 1], { dtype: 'i32' });
    const d = draw([[0, 3e38, 1]], 3, { temperature: 0, repetitionPenalty: 0.1, previousTokens: prev });
    expect(d.tokens[0]).toBe(-1);
    prev.dispose();
  });

  test('temperature 0 is greedy: lowest index on ties, logprob = log-softmax of the raw logits', () => {
    const x = [1, 3, -2, 3, 0.5];
    const d = draw([x], 5, { temperature: 0, topK: 1, topP: 0.1, minP: 0.9 }); // filters do not matter
    expect(d.tokens[0]).toBe(1);
    const lse = Math.log(x.reduce((s, v) => s + Math.exp(v), 0));
    expect(d.logprobs[0]).toBeCloseTo(3 - lse, 6);
    // no seeds needed when every row is greedy; -0 and +0 tie
    expect(draw([[-0, 0, -1]], 3, { temperature: 0 }).tokens[0]).toBe(0);
    expect(draw([[-1, -0, 0]], 3, { temperature: 0 }).tokens[0]).toBe(1);
  });

  test('p = 1, k = 0 and k >= V are off: the same draws as no filter', () => {
    const R = 64;
    const V = 33;
    const x = Float32Array.from(randn(R * V, 2));
    const seeds = Int32Array.from({ length: R }, (_, i) => i * 31 + 1);
    const plain = draw(x, V, { seeds });
    for (const o of [{ topP: 1 }, { topK: 0 }, { topK: V }, { topK: 1000 }, { minP: 0 }, { repetitionPenalty: 1 }]) {
      const d = draw(x, V, { seeds, ...o });
      expect(d.tokens).toEqual(plain.tokens);
      expect(d.logprobs).toEqual(plain.logprobs);
    }
  });

  test('V = 1: token 0, logprob 0', () => {
    const d = draw(Float32Array.from([0.3, -2, 7]), 1, { seeds: 1, topP: 0.5, topK: 1 });
    expect(Array.from(d.tokens)).toEqual([0, 0, 0]);
    expect(Array.from(d.logprobs)).toEqual([0, 0, 0]);
    expect(draw(Float32Array.from([5]), 1, { temperature: 0 }).logprobs[0]).toBe(0);
  });

  test('1-D logits are one row; R = 0 is allowed', () => {
    const t = Tensor.fromArray(new Float32Array([0, 9, 1]), [3]);
    const out = sample(t, { temperature: 0 });
    expect(out.tokens.shape).toEqual([1]);
    expect(out.tokens.toArray()[0]).toBe(1);
    const e = Tensor.empty([0, 5]);
    const o2 = sample(e, { seeds: 1 });
    expect(o2.tokens.shape).toEqual([0]);
    for (const k of [t, out.tokens, out.logprobs, e, o2.tokens, o2.logprobs]) k.dispose();
  });
});

describe('sample: the op picks exactly the inverse-CDF token of its uniform', () => {
  const cases: [number, number, DType][] = [[1, 40, 'f32'], [7, 30, 'f32'], [33, 20, 'f32'], [257, 20, 'bf16'], [1000, 12, 'f32'], [4099, 6, 'bf16'], [151936, 2, 'f32']];
  test.each(cases)('V %p, %p rows, %s, random per-row parameters', (V, R, dtype) => {
    const r = rng(V);
    const raw = randn(R * V, 3);
    const x = dtype === 'bf16' ? raw.map((v) => roundBf16(v)) : raw;
    const temperature = Float32Array.from({ length: R }, (_, i) => (i % 5 === 4 ? 0 : 0.3 + 1.5 * r()));
    const topK = Int32Array.from({ length: R }, (_, i) => (i % 3 === 0 ? 0 : 1 + Math.floor(r() * Math.min(V, 300))));
    const topP = Float32Array.from({ length: R }, (_, i) => (i % 4 === 1 ? 1 : 0.05 + 0.9 * r()));
    const minP = Float32Array.from({ length: R }, (_, i) => (i % 2 === 0 ? 0 : 0.3 * r()));
    const seeds = Int32Array.from({ length: R }, () => Math.floor(r() * 2 ** 32) | 0);
    const offset = 12345678901;
    const d = draw(raw, V, { temperature, topK, topP, minP, seeds, offset }, dtype);
    let skipped = 0;
    for (let i = 0; i < R; i++) {
      const ref = reference(x.subarray(i * V, (i + 1) * V), { temperature: temperature[i], topK: topK[i], topP: topP[i], minP: minP[i] });
      if (ref.kind === 'greedy') {
        expect([i, d.tokens[i]]).toEqual([i, ref.token]);
        expect(Math.abs(d.logprobs[i] - ref.logprob)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.logprob)));
        continue;
      }
      if (ref.kind !== 'sample') throw new Error('unexpected invalid row');
      const u = native().sampleUniform(seeds[i] >>> 0, 0, offset % 2 ** 32, Math.floor(offset / 2 ** 32));
      const want = inverseCdf(ref, u);
      if (want.margin < 1e-6) {
        skipped++;
        continue;
      }
      expect([i, d.tokens[i]]).toEqual([i, want.token]);
      const lp = Math.log(ref.probs[want.token]);
      expect(Math.abs(d.logprobs[i] - lp)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lp)));
    }
    expect(skipped).toBeLessThanOrEqual(1);
  });
});

describe('sample: seeds, offsets and per-row parameters', () => {
  const R = 200;
  const V = 50;
  const x = Float32Array.from(randn(R * V, 1.5));

  test('the same seeds and offset reproduce the draws; other seeds or offsets change them', () => {
    const a = draw(x, V, { seeds: 42 });
    const b = draw(x, V, { seeds: 42 });
    expect(b.tokens).toEqual(a.tokens);
    expect(b.logprobs).toEqual(a.logprobs);
    const differ = (p: Int32Array, q: Int32Array): number => p.reduce((n, t, i) => n + (t !== q[i] ? 1 : 0), 0);
    expect(differ(draw(x, V, { seeds: 43 }).tokens, a.tokens)).toBeGreaterThan(R / 2);
    expect(differ(draw(x, V, { seeds: 42, offset: 1 }).tokens, a.tokens)).toBeGreaterThan(R / 2);
    expect(differ(draw(x, V, { seeds: 42, offset: 2 ** 32 }).tokens, a.tokens)).toBeGreaterThan(R / 2);
    // seeds given as unsigned or signed 32-bit values are the same seeds
    expect(draw(x, V, { seeds: 2 ** 32 - 5 }).tokens).toEqual(draw(x, V, { seeds: -5 }).tokens);
  });

  test('one seed: rows draw from different streams (identical rows differ)', () => {
    const row = Array.from(x.subarray(0, V));
    const same = new Float32Array(R * V);
    for (let r = 0; r < R; r++) same.set(row, r * V);
    const d = draw(same, V, { seeds: 9 });
    expect(new Set(d.tokens).size).toBeGreaterThan(10);
  });

  test('per-row seeds: a row depends only on its own seed, not its position', () => {
    const seeds = Int32Array.from({ length: R }, (_, i) => i * 1000003);
    const a = draw(x, V, { seeds, topP: 0.9 });
    const perm = Array.from({ length: R }, (_, i) => (i * 37) % R);
    const px = new Float32Array(R * V);
    perm.forEach((src, dst) => px.set(x.subarray(src * V, (src + 1) * V), dst * V));
    const b = draw(px, V, { seeds: Int32Array.from(perm, (s) => seeds[s]), topP: 0.9 });
    perm.forEach((src, dst) => {
      expect(b.tokens[dst]).toBe(a.tokens[src]);
      expect(b.logprobs[dst]).toBe(a.logprobs[src]);
    });
  });

  test('per-row parameters are the same as the scalar ones row by row', () => {
    const temperature = Float32Array.from({ length: R }, (_, i) => [0, 0.5, 1, 1.7][i % 4]);
    const topK = Int32Array.from({ length: R }, (_, i) => [0, 3, 10, 49][i % 7 % 4]);
    const topP = Float32Array.from({ length: R }, (_, i) => [1, 0.5, 0.9][i % 3]);
    const minP = Float32Array.from({ length: R }, (_, i) => [0, 0.1][i % 2]);
    const penalty = Float32Array.from({ length: R }, (_, i) => [1, 1.3, 0.8][i % 5 % 3]);
    const prevData = Int32Array.from({ length: R * 4 }, (_, i) => (i % 4 === 3 ? -1 : (i * 13) % V));
    const prev = Tensor.fromArray(prevData, [R, 4], { dtype: 'i32' });
    const seeds = Int32Array.from({ length: R }, (_, i) => 100 + i);
    const all = draw(x, V, { temperature, topK, topP, minP, repetitionPenalty: penalty, previousTokens: prev, seeds });
    for (const i of [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 199]) {
      const p1 = Tensor.fromArray(prevData.subarray(i * 4, i * 4 + 4), [1, 4], { dtype: 'i32' });
      const one = draw([x.subarray(i * V, (i + 1) * V)], V, {
        temperature: temperature[i], topK: topK[i], topP: topP[i], minP: minP[i], repetitionPenalty: penalty[i],
        previousTokens: p1, seeds: Int32Array.of(seeds[i]),
      });
      expect([i, one.tokens[0], one.logprobs[0]]).toEqual([i, all.tokens[i], all.logprobs[i]]);
      p1.dispose();
    }
    prev.dispose();
  });

  test('bf16 logits draw like their f32 values', () => {
    const xb = x.map((v) => roundBf16(v));
    const a = draw(x, V, { seeds: 5, topP: 0.9 }, 'bf16');
    const b = draw(xb, V, { seeds: 5, topP: 0.9 }, 'f32');
    expect(a.tokens).toEqual(b.tokens);
    expect(a.logprobs).toEqual(b.logprobs);
  });
});

describe('sample: errors', () => {
  const x = Tensor.fromArray(new Float32Array(12).map((_, i) => i * 0.1), [3, 4]);
  afterAll(() => x.dispose());

  test('wrong tensors', () => {
    const xi = Tensor.fromArray(new Int32Array(12), [3, 4], { dtype: 'i32' });
    expect(() => sample(xi, { seeds: 1 })).toThrow(/sample: expected a f32 or bf16 tensor, got i32 \[3, 4\]/);
    const x3 = Tensor.zeros([2, 3, 4]);
    expect(() => sample(x3, { seeds: 1 })).toThrow(/sample: logits \[2, 3, 4\] must be \[R, V\] or \[V\]/);
    expect(() => sample(Tensor.zeros([3, 0]), { seeds: 1 })).toThrow(/vocabulary dimension of logits \[3, 0\] is empty/);
    expect(() => sample({} as Tensor, { seeds: 1 })).toThrow(/sample: logits must be a Tensor/);
    const gone = Tensor.zeros([2, 2]);
    gone.dispose();
    expect(() => sample(gone, { seeds: 1 })).toThrow(/sample: .*disposed/);
    const pf = Tensor.zeros([3, 2]);
    expect(() => sample(x, { seeds: 1, repetitionPenalty: 2, previousTokens: pf })).toThrow(/previousTokens must be i32, got f32/);
    const pbad = Tensor.fromArray(new Int32Array(4), [2, 2], { dtype: 'i32' });
    expect(() => sample(x, { seeds: 1, repetitionPenalty: 2, previousTokens: pbad })).toThrow(/previousTokens \[2, 2\] must be \[3, L\] for logits \[3, 4\]/);
    for (const t of [xi, x3, pf, pbad]) t.dispose();
  });

  test('out-of-range previous tokens are refused on the CPU', () => {
    const p = Tensor.fromArray(new Int32Array([0, -1, 2, 1, 4, -1]), [3, 2], { dtype: 'i32' });
    expect(() => sample(x, { seeds: 1, repetitionPenalty: 2, previousTokens: p })).toThrow(/sample: previousTokens\[2, 0\] = 4 is out of range for a vocabulary of 4/);
    p.dispose();
  });

  test('bad options', () => {
    expect(() => sample(x, {})).toThrow(/sample: seeds are required when a row samples/);
    expect(() => sample(x, { seeds: 1.5 })).toThrow(/sample: seeds must be a 32-bit integer, got 1.5/);
    expect(() => sample(x, { seeds: 2 ** 32 })).toThrow(/seeds must be a 32-bit integer/);
    expect(() => sample(x, { seeds: Int32Array.of(1, 2) })).toThrow(/sample: seeds has 2 values for 3 rows/);
    expect(() => sample(x, { seeds: 1, temperature: -1 })).toThrow(/temperature must be a finite number >= 0, got -1/);
    expect(() => sample(x, { seeds: 1, temperature: NaN })).toThrow(/temperature must be/);
    expect(() => sample(x, { seeds: 1, temperature: Float32Array.of(1, Infinity, 1) })).toThrow(/temperature\[1\] must be a finite number >= 0, got Infinity/);
    expect(() => sample(x, { seeds: 1, topK: -1 })).toThrow(/topK must be an integer >= 0/);
    expect(() => sample(x, { seeds: 1, topK: 2.5 })).toThrow(/topK must be an integer >= 0/);
    expect(() => sample(x, { seeds: 1, topP: 0 })).toThrow(/topP must be in \(0, 1\], got 0/);
    expect(() => sample(x, { seeds: 1, topP: 1.01 })).toThrow(/topP must be in \(0, 1\]/);
    expect(() => sample(x, { seeds: 1, minP: -0.1 })).toThrow(/minP must be in \[0, 1\]/);
    expect(() => sample(x, { seeds: 1, repetitionPenalty: 0 })).toThrow(/repetitionPenalty must be a finite number > 0/);
    expect(() => sample(x, { seeds: 1, offset: -1 })).toThrow(/offset must be an integer in \[0, 2\^53\)/);
    expect(() => sample(x, { seeds: 1, offset: 0.5 })).toThrow(/offset must be an integer/);
    expect(() => sample(x, { seeds: 1, topP: 'a' as unknown as number })).toThrow(/topP must be a number or an array of 3 numbers/);
  });

  test('the raw binding checks every buffer size', () => {
    const N = native();
    const small = new N.NativeBuffer(8, 0);
    const big = new N.NativeBuffer(4096, 0);
    expect(() => N.sample(0, 3, 4, small, big, big, 0, null, 0, 0, big, big)).toThrow(/sample: logits holds 8 bytes, needs 48/);
    expect(() => N.sample(0, 3, 4, big, small, big, 0, null, 0, 0, big, big)).toThrow(/sample: fparams holds 8 bytes, needs 48/);
    expect(() => N.sample(0, 3, 4, big, big, small, 0, null, 0, 0, big, big)).toThrow(/sample: iparams holds 8 bytes, needs 36/);
    expect(() => N.sample(0, 3, 4, big, big, big, 5, small, 0, 0, big, big)).toThrow(/sample: previousTokens holds 8 bytes, needs 60/);
    expect(() => N.sample(0, 3, 4, big, big, big, 5, null, 0, 0, big, big)).toThrow(/sample: previousTokens is missing/);
    expect(() => N.sample(0, 3, 4, big, big, big, 0, null, 0, 0, small, big)).toThrow(/sample: tokens holds 8 bytes, needs 12/);
    expect(() => N.sample(0, 3, 4, big, big, big, 0, null, 0, 0, big, small)).toThrow(/sample: logprobs holds 8 bytes, needs 12/);
    expect(() => N.sample(2, 3, 4, big, big, big, 0, null, 0, 0, big, big)).toThrow(/i32 logits are not supported/);
    expect(() => N.sample(0, 3, 4, big, big, big, 0, null, -1, 0, big, big)).toThrow(/offset \(low word\) must be an unsigned 32-bit integer/);
    small.free();
    big.free();
  });
});

describeCuda('sample: CUDA vs CPU', () => {
  test.each([[1, 7], [64, 50], [33, 1000], [8, 32000], [4, 151936]] as [number, number][])('R %p, V %p', (R, V) => {
    for (const dtype of ['f32', 'bf16'] as DType[]) {
      const cpu = Tensor.fromArray(randn(R * V, 3), [R, V], { dtype });
      const gpu = cpu.to('cuda');
      const prevData = Int32Array.from({ length: R * 6 }, (_, i) => (i % 6 === 5 ? -1 : (i * 7919) % V));
      const pc = Tensor.fromArray(prevData, [R, 6], { dtype: 'i32' });
      const pg = pc.to('cuda');
      const seeds = Int32Array.from({ length: R }, (_, i) => i * 65537 + 3);
      for (const o of [
        { temperature: 0 },
        { seeds },
        { seeds: 11, topK: 40 },
        { seeds, topP: 0.9 },
        { seeds, topK: 100, topP: 0.8, minP: 0.02, temperature: 0.7 },
        { seeds, repetitionPenalty: 1.3, topP: 0.95, offset: 77 },
      ] as SampleOptions[]) {
        const a = sample(cpu, { ...o, previousTokens: o.repetitionPenalty ? pc : undefined });
        const b = sample(gpu, { ...o, previousTokens: o.repetitionPenalty ? pg : undefined });
        const ta = a.tokens.toArray();
        const tb = b.tokens.toArray();
        let mismatch = 0;
        for (let i = 0; i < R; i++) if (ta[i] !== tb[i]) mismatch++;
        expect(mismatch).toBeLessThanOrEqual(R >= 32 ? 1 : 0);
        const la = a.logprobs.toArray();
        const lb = b.logprobs.toArray();
        for (let i = 0; i < R; i++)
          if (ta[i] === tb[i]) expect(Math.abs(la[i] - lb[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(la[i])));
        for (const t of [a.tokens, a.logprobs, b.tokens, b.logprobs]) t.dispose();
      }
      for (const t of [cpu, gpu, pc, pg]) t.dispose();
    }
  });
});
