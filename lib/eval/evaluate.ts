// A model-agnostic evaluation runner: prompts -> completions (any generate function) -> extracted
// answers -> greedy accuracy, maj@k and pass@k, with per-problem records. scoreProblem/summarize
// also serve precomputed completions (`mathrl eval --predictions`).
import { MathProblem, PromptOptions, buildPrompt } from './datasets';
import { EquivalenceOptions, isEquivalent } from './equivalence';
import { ExtractOptions, extractAnswer } from './extract';
import { majorityVote, passAtK } from './metrics';

/** Returns n completions per prompt: result[i] has length n. */
export type GenerateFn = (prompts: string[], n: number) => Promise<string[][]>;

export interface SampleRecord {
  completion?: string;
  answer: string | null;
  correct: boolean;
}

export interface ProblemRecord {
  id: string;
  reference: string;
  /** The greedy (temperature 0) completion's result, when one was given. */
  greedy?: SampleRecord;
  samples: SampleRecord[];
  /** Correct samples among all samples. */
  numCorrect: number;
  /** The majority vote over the first k samples. */
  majority: { answer: string | null; votes: number; correct: boolean };
}

export interface EvalReport {
  problems: number;
  /** Samples per problem used for maj@k (the first k of each problem's samples). */
  k: number;
  /** Greedy accuracy, or null when no greedy completions were given. */
  greedyAccuracy: number | null;
  /** maj@k, or null when there are no samples (k = 0). */
  majAtK: number | null;
  /** Mean unbiased pass@j for each reported j (all samples of each problem are used). */
  passAtK: Record<number, number>;
  /** Fraction of samples (not greedy) with no extractable answer. */
  noAnswerRate: number;
  records: ProblemRecord[];
}

export interface ScoreOptions {
  extract?: ExtractOptions;
  equivalence?: EquivalenceOptions;
  /** Keep the completion texts in the records (default true). */
  keepCompletions?: boolean;
}

function sample(completion: string, ref: string, opts: ScoreOptions): SampleRecord {
  const answer = extractAnswer(completion, opts.extract);
  const r: SampleRecord = { answer, correct: isEquivalent(answer, ref, opts.equivalence) };
  if (opts.keepCompletions ?? true) r.completion = completion;
  return r;
}

/** Scores one problem's completions; maj@k votes over the first k samples (default: all). */
export function scoreProblem(
  problem: Pick<MathProblem, 'id' | 'answer'>,
  completions: string[],
  opts: ScoreOptions & { greedy?: string; k?: number } = {},
): ProblemRecord {
  if (!Array.isArray(completions) || completions.some((c) => typeof c !== 'string')) {
    throw new Error(`scoreProblem: completions for '${problem.id}' must be an array of strings`);
  }
  const k = opts.k ?? completions.length;
  if (k > completions.length) throw new Error(`scoreProblem: '${problem.id}' has ${completions.length} completions, k = ${k}`);
  const samples = completions.map((c) => sample(c, problem.answer, opts));
  const vote = majorityVote(samples.slice(0, k).map((s) => s.answer), opts.equivalence);
  const rec: ProblemRecord = {
    id: problem.id,
    reference: problem.answer,
    samples,
    numCorrect: samples.filter((s) => s.correct).length,
    majority: { answer: vote.answer, votes: vote.votes, correct: isEquivalent(vote.answer, problem.answer, opts.equivalence) },
  };
  if (opts.greedy !== undefined) rec.greedy = sample(opts.greedy, problem.answer, opts);
  return rec;
}

/** The pass@j values reported by default: 1, 2, 4, ... below k, and k. */
export function defaultPassKs(k: number): number[] {
  const out: number[] = [];
  for (let j = 1; j < k; j *= 2) out.push(j);
  if (k >= 1) out.push(k);
  return out;
}

/** Aggregates records into the report (passKs above the smallest sample count are left out). */
export function summarize(records: ProblemRecord[], k: number, passKs: number[] = defaultPassKs(k)): EvalReport {
  const n = records.length;
  const withGreedy = records.filter((r) => r.greedy);
  if (withGreedy.length !== 0 && withGreedy.length !== n) {
    throw new Error(`summarize: ${withGreedy.length} of ${n} problems have a greedy completion (all or none)`);
  }
  const minSamples = n ? Math.min(...records.map((r) => r.samples.length)) : 0;
  const passAt: Record<number, number> = {};
  for (const j of passKs) {
    if (j < 1 || j > minSamples || !n) continue;
    passAt[j] = records.reduce((s, r) => s + passAtK(r.samples.length, r.numCorrect, j), 0) / n;
  }
  const totalSamples = records.reduce((s, r) => s + r.samples.length, 0);
  return {
    problems: n,
    k,
    greedyAccuracy: n && withGreedy.length ? withGreedy.filter((r) => r.greedy!.correct).length / n : null,
    majAtK: n && k > 0 ? records.filter((r) => r.majority.correct).length / n : null,
    passAtK: passAt,
    noAnswerRate: totalSamples ? records.reduce((s, r) => s + r.samples.filter((x) => x.answer === null).length, 0) / totalSamples : 0,
    records,
  };
}

export interface EvaluateOptions extends ScoreOptions {
  problems: MathProblem[];
  /** Sampling generator: called with n = k (omit it, or k = 0, for greedy only). */
  generate?: GenerateFn;
  /** Samples per problem for maj@k and pass@k. */
  k?: number;
  /** Greedy (temperature 0) generator, called with n = 1. */
  greedy?: GenerateFn;
  /**
   * Take the first sample of `generate` as the greedy completion (when the caller's generate
   * makes its first sample at temperature 0). Ignored when `greedy` is given.
   */
  firstSampleIsGreedy?: boolean;
  /** Problems per generate call (default 32). */
  batchSize?: number;
  /** Prompt options, or a function from problem to prompt. */
  prompt?: PromptOptions | ((p: MathProblem) => string);
  /** pass@j values to report (default defaultPassKs(k)). */
  passKs?: number[];
  onProgress?: (p: { done: number; total: number; records: ProblemRecord[] }) => void;
}

function checkShape(what: string, out: unknown, prompts: number, n: number): string[][] {
  if (!Array.isArray(out) || out.length !== prompts) {
    throw new Error(`evaluate: ${what} returned ${Array.isArray(out) ? out.length : typeof out} rows for ${prompts} prompts`);
  }
  out.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== n || row.some((c) => typeof c !== 'string')) {
      throw new Error(`evaluate: ${what} row ${i} must be ${n} strings`);
    }
  });
  return out as string[][];
}

/** Generates, extracts and scores; see EvalReport. */
export async function evaluate(opts: EvaluateOptions): Promise<EvalReport> {
  const { problems } = opts;
  if (!Array.isArray(problems)) throw new Error('evaluate: problems must be an array');
  const k = opts.k ?? (opts.generate ? 1 : 0);
  if (!Number.isInteger(k) || k < 0) throw new Error(`evaluate: k must be a non-negative integer, got ${k}`);
  if (k > 0 && !opts.generate) throw new Error('evaluate: k > 0 needs a generate function');
  if (k === 0 && !opts.greedy) throw new Error('evaluate: nothing to do (give generate with k >= 1, or greedy)');
  if (opts.firstSampleIsGreedy && k === 0) throw new Error('evaluate: firstSampleIsGreedy needs k >= 1');
  const batch = opts.batchSize ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`evaluate: batchSize must be a positive integer, got ${batch}`);
  const toPrompt = typeof opts.prompt === 'function' ? opts.prompt : (p: MathProblem) => buildPrompt(p, opts.prompt as PromptOptions);

  const records: ProblemRecord[] = [];
  for (let start = 0; start < problems.length; start += batch) {
    const chunk = problems.slice(start, start + batch);
    const prompts = chunk.map(toPrompt);
    const sampled = k > 0 ? checkShape('generate', await opts.generate!(prompts, k), prompts.length, k) : chunk.map(() => []);
    let greedy: (string | undefined)[] = chunk.map(() => undefined);
    if (opts.greedy) greedy = checkShape('greedy', await opts.greedy(prompts, 1), prompts.length, 1).map((r) => r[0]);
    else if (opts.firstSampleIsGreedy) greedy = sampled.map((r) => r[0]);
    chunk.forEach((p, i) => records.push(scoreProblem(p, sampled[i], { ...opts, greedy: greedy[i], k })));
    opts.onProgress?.({ done: records.length, total: problems.length, records });
  }
  return summarize(records, k, opts.passKs ?? defaultPassKs(k));
}
