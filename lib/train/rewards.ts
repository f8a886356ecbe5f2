// Reward functions for GRPO, in TRL's shape: (prompts, completions, extra) => one reward per
// completion. `extra` holds the dataset's other columns (e.g. `answer`), one entry per completion
// (each prompt's row repeated G times). A reward may be null (or NaN) for "not applicable"; the
// trainer sums the weighted rewards of all functions ignoring those (TRL's nansum).
import { extractAnswer, ExtractOptions } from '../eval/extract';
import { isEquivalent } from '../eval/equivalence';
import { findBoxes } from '../eval/extract';

export type RewardValue = number | null;

/** One reward per completion; may be async. */
export type RewardFunction = (
  prompts: string[],
  completions: string[],
  extra: Record<string, unknown[]>,
) => RewardValue[] | Promise<RewardValue[]>;

/** A reward function with a name (for the metrics) and a weight (default 1). */
export interface NamedReward {
  name: string;
  fn: RewardFunction;
  weight?: number;
}

export interface MathRewardOptions extends ExtractOptions {
  /** Column of `extra` holding the reference answers (default 'answer'). */
  answerKey?: string;
}

/** Whether a completion's final answer (extractAnswer) is equivalent to the reference (isEquivalent). */
export function isCorrect(completion: string, reference: unknown, opts: ExtractOptions = {}): boolean {
  if (reference === undefined || reference === null) return false;
  const got = extractAnswer(completion, opts);
  if (got === null) return false;
  return isEquivalent(got, String(reference));
}

/**
 * Accuracy reward (DeepSeekMath's rule-based outcome reward): 1 when the completion's final answer
 * (the last \boxed{}, "#### n" or "The answer is ...", see extractAnswer) is equivalent to the
 * reference answer in extra[answerKey], else 0. A completion without a reference gets null.
 */
export function makeMathAccuracyReward(opts: MathRewardOptions = {}): RewardFunction {
  const key = opts.answerKey ?? 'answer';
  const { answerKey: _k, ...extract } = opts;
  return function accuracy(_prompts, completions, extra) {
    const refs = extra[key];
    if (!Array.isArray(refs))
      throw new Error(`accuracy reward: the dataset has no '${key}' column (reference answers) for the completions`);
    if (refs.length !== completions.length)
      throw new Error(`accuracy reward: ${refs.length} reference answers for ${completions.length} completions`);
    return completions.map((c, i) => (refs[i] === undefined || refs[i] === null ? null : isCorrect(c, refs[i], extract) ? 1 : 0));
  };
}

/** makeMathAccuracyReward() with the defaults (column 'answer', format 'auto'). */
export const mathAccuracyReward: RewardFunction = makeMathAccuracyReward();

/** Format reward: 1 when the completion holds a complete, non-empty \boxed{...} answer, else 0. */
export const boxedFormatReward: RewardFunction = function format(_prompts, completions) {
  return completions.map((c) => (findBoxes(c).some((b) => b.complete && b.content !== '') ? 1 : 0));
};

/**
 * Normalises a list of reward functions / named rewards with optional weights (TRL's reward_weights)
 * into NamedReward[]: names from the function's name (deduplicated with a suffix), weights default 1.
 */
export function resolveRewards(
  funcs: RewardFunction | (RewardFunction | NamedReward)[],
  weights?: number[],
): Required<NamedReward>[] {
  const list = typeof funcs === 'function' ? [funcs] : funcs;
  if (!Array.isArray(list) || list.length === 0) throw new Error('GRPOTrainer: rewardFuncs must hold at least one reward function');
  if (weights !== undefined) {
    if (!Array.isArray(weights) || weights.length !== list.length)
      throw new Error(`GRPOTrainer: rewardWeights has ${Array.isArray(weights) ? weights.length : 'no'} entries for ${list.length} reward functions`);
    weights.forEach((w, i) => {
      if (typeof w !== 'number' || !Number.isFinite(w)) throw new Error(`GRPOTrainer: rewardWeights[${i}] must be a finite number, got ${w}`);
    });
  }
  const seen = new Map<string, number>();
  return list.map((f, i) => {
    let r: NamedReward;
    if (typeof f === 'function') r = { name: f.name || `reward${i}`, fn: f };
    else if (f && typeof f === 'object' && typeof f.fn === 'function') r = f;
    else throw new Error(`GRPOTrainer: rewardFuncs[${i}] must be a function or { name, fn, weight }`);
    const w = weights?.[i] ?? r.weight ?? 1;
    if (!Number.isFinite(w)) throw new Error(`GRPOTrainer: the weight of reward '${r.name}' must be a finite number, got ${w}`);
    let name = String(r.name || `reward${i}`);
    const k = seen.get(name) ?? 0;
    seen.set(name, k + 1);
    if (k > 0) name = `${name}_${k}`;
    return { name, fn: r.fn, weight: w };
  });
}
