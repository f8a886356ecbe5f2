// Fused per-token GRPO loss, forward and backward in one call. Twins: native/cpu/grpo_loss.cpp,
// native/cuda/grpo_loss.cu. Follows TRL's GRPOTrainer._compute_loss (see grpoLoss below).
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { numberArg, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    grpoLoss(
      N: number, T: number, logp: NativeBuffer, oldLogp: NativeBuffer | null, refLogp: NativeBuffer | null,
      adv: NativeBuffer, advPerToken: boolean, maskDt: number, mask: NativeBuffer, epsLow: number, epsHigh: number,
      beta: number, hasDelta: boolean, delta: number, lossType: number, normalizer: number, gradScale: number,
      loss: NativeBuffer, metrics: NativeBuffer, dlogp: NativeBuffer | null, work: NativeBuffer,
    ): void;
  }
}

export type GrpoLossType = 'grpo' | 'bnpo' | 'dapo' | 'dr_grpo';
const LOSS_TYPES: GrpoLossType[] = ['grpo', 'bnpo', 'dapo', 'dr_grpo'];

export interface GrpoLossInputs {
  /** f32 [N, T]: log-probs of the sampled tokens under the policy being trained. */
  logp: Tensor;
  /** f32 [N, T]: log-probs under the policy that sampled them. Absent: logp itself (ratio 1, μ = 1). */
  oldLogp?: Tensor | null;
  /** f32 [N, T]: log-probs under the frozen reference model. Needed when beta != 0. */
  refLogp?: Tensor | null;
  /** f32 [N] (one per completion: outcome supervision) or [N, T] (per token: process supervision). */
  advantages: Tensor;
  /** f32 or i32 [N, T]: 1 on completion tokens, 0 on padding (any f32 value acts as a token weight). */
  completionMask: Tensor;
}

export interface GrpoLossOptions {
  /** KL coefficient β (TRL `beta`). Default 0 (TRL's default; the paper used 0.04). */
  beta?: number;
  /** Lower clip ε_low (TRL `epsilon`). Default 0.2. */
  epsilon?: number;
  /** Upper clip ε_high (TRL `epsilon_high`, DAPO's clip-higher). Default: epsilon. */
  epsilonHigh?: number;
  /** Two-sided clipping (TRL `delta`): the ratio in the unclipped term is capped at delta (> 1 + ε_high). */
  delta?: number;
  /** Aggregation (TRL `loss_type`). Default 'grpo' (the paper's per-sequence mean). */
  lossType?: GrpoLossType;
  /** dr_grpo's fixed length normaliser (TRL `max_completion_length`). Default T. */
  maxCompletionLength?: number;
  /**
   * dapo's normaliser: the number of completion tokens in the whole global batch (all micro-batches of
   * one optimizer step, divided by the number of processes; TRL `num_items_in_batch`). Default: this
   * call's mask sum (at least 1), which makes dapo equal to bnpo without the accumulation division.
   */
  numItemsInBatch?: number;
  /** grpo, bnpo and dr_grpo divide the loss by this (TRL's current_gradient_accumulation_steps). Default 1. */
  gradientAccumulationSteps?: number;
  /** Compute dlogp. Default true. */
  computeGrad?: boolean;
}

/** Order of the values in GrpoLossResult.metrics. */
export const GRPO_METRIC_NAMES = [
  'klMean',
  'clipRatioLow',
  'clipRatioHigh',
  'clipRatio',
  'ratioMean',
  'ratioMin',
  'ratioMax',
  'completionTokens',
] as const;
export type GrpoMetrics = Record<(typeof GRPO_METRIC_NAMES)[number], number>;

export interface GrpoLossResult {
  /** f32 []: the loss to minimise. */
  loss: Tensor;
  /** f32 [N, T]: d loss / d logp (absent when computeGrad is false). 0 where the mask is 0. */
  dlogp?: Tensor;
  /**
   * f32 [8] on the inputs' device, in GRPO_METRIC_NAMES order: mask-weighted means over the completion
   * tokens (divided by max(1, mask sum), as TRL's masked_batch_mean) of the k3 KL (0 without refLogp),
   * the low-clipped fraction (ratio < 1-ε_low and A < 0), high-clipped (ratio > 1+ε_high and A > 0) and
   * either (TRL's clip_ratio/region); the ratio's mean, min and max over tokens with a non-zero mask
   * (min/max NaN when there is none); and the mask sum. Read with grpoMetrics(metrics) (synchronises).
   */
  metrics: Tensor;
}

/**
 * Fused GRPO loss over N completions of T tokens, with its exact gradient w.r.t. logp; no host
 * synchronisation. Matches TRL's GRPOTrainer._compute_loss (token-level importance sampling, the
 * scale_rewards / loss_type / num_items_in_batch era, TRL 0.22–0.23): per token
 *   ratio = exp(logp − oldLogp), c1 = ratio (capped at delta when given),
 *   c2 = clamp(ratio, 1 − ε_low, 1 + ε_high),
 *   ℓ = −min(c1·A, c2·A) + β·KL,  KL = exp(ref − logp) − (ref − logp) − 1,
 * aggregated with the completion mask m:
 *   grpo:    mean over sequences of Σ_t m·ℓ / max(1, Σ_t m), ÷ gradientAccumulationSteps
 *   bnpo:    Σ m·ℓ / max(1, Σ m), ÷ gradientAccumulationSteps
 *   dapo:    Σ m·ℓ / numItemsInBatch (default max(1, Σ m))
 *   dr_grpo: Σ m·ℓ / (N · maxCompletionLength), ÷ gradientAccumulationSteps.
 * The gradient is 0 in the clipped region (min picks the clamped term and the clamp is flat), r·A
 * elsewhere, plus β·(1 − exp(ref − logp)); ties split as torch.minimum does. Tokens with mask 0 are
 * skipped entirely (TRL multiplies by 0, which differs only when a padded logp is NaN or infinite).
 */
export function grpoLoss(inputs: GrpoLossInputs, opts: GrpoLossOptions = {}): GrpoLossResult {
  const op = 'grpoLoss';
  if (typeof inputs !== 'object' || inputs === null) throw new TypeError(`${op}: inputs must be an object`);
  const { logp, advantages, completionMask } = inputs;
  const oldLogp = inputs.oldLogp ?? null;
  const refLogp = inputs.refLogp ?? null;
  tensorArg(op, 'logp', logp);
  tensorArg(op, 'advantages', advantages);
  tensorArg(op, 'completionMask', completionMask);
  if (oldLogp) tensorArg(op, 'oldLogp', oldLogp);
  if (refLogp) tensorArg(op, 'refLogp', refLogp);
  const all = [logp, advantages, completionMask, ...(oldLogp ? [oldLogp] : []), ...(refLogp ? [refLogp] : [])];
  sameDevice(op, ...all);
  if (logp.dtype !== 'f32' || logp.ndim !== 2)
    throw new TypeError(`${op}: logp must be f32 [N, T], got ${logp.dtype} ${shapeStr(logp.shape)}`);
  const [N, T] = logp.shape;
  if (N < 1 || T < 1) throw new RangeError(`${op}: logp ${shapeStr(logp.shape)} is empty`);
  const same = (name: string, t: Tensor | null) => {
    if (!t) return;
    if (t.dtype !== 'f32') throw new TypeError(`${op}: ${name} must be f32, got ${t.dtype}`);
    if (t.ndim !== 2 || t.shape[0] !== N || t.shape[1] !== T)
      throw new RangeError(`${op}: ${name} ${shapeStr(t.shape)} must match logp ${shapeStr(logp.shape)}`);
  };
  same('oldLogp', oldLogp);
  same('refLogp', refLogp);
  if (completionMask.dtype === 'bf16') throw new TypeError(`${op}: completionMask must be f32 or i32, got bf16`);
  if (completionMask.ndim !== 2 || completionMask.shape[0] !== N || completionMask.shape[1] !== T)
    throw new RangeError(`${op}: completionMask ${shapeStr(completionMask.shape)} must match logp ${shapeStr(logp.shape)}`);
  if (advantages.dtype !== 'f32') throw new TypeError(`${op}: advantages must be f32, got ${advantages.dtype}`);
  let advPerToken: boolean;
  if (advantages.ndim === 1 && advantages.shape[0] === N) advPerToken = false;
  else if (advantages.ndim === 2 && advantages.shape[0] === N && advantages.shape[1] === T) advPerToken = true;
  else
    throw new RangeError(`${op}: advantages ${shapeStr(advantages.shape)} must be [${N}] or [${N}, ${T}] for logp ${shapeStr(logp.shape)}`);

  const beta = numberArg(op, 'beta', opts.beta ?? 0);
  const epsLow = numberArg(op, 'epsilon', opts.epsilon ?? 0.2);
  const epsHigh = numberArg(op, 'epsilonHigh', opts.epsilonHigh ?? epsLow);
  for (const [k, v] of [['beta', beta], ['epsilon', epsLow], ['epsilonHigh', epsHigh]] as const)
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${op}: ${k} must be finite and >= 0, got ${v}`);
  if (beta !== 0 && !refLogp) throw new Error(`${op}: beta = ${beta} needs refLogp`);
  const hasDelta = opts.delta !== undefined;
  const delta = hasDelta ? numberArg(op, 'delta', opts.delta) : 0;
  if (hasDelta && !(Number.isFinite(delta) && delta > 1 + epsHigh))
    throw new RangeError(`${op}: delta must be finite and > 1 + epsilonHigh (${1 + epsHigh}), got ${delta}`);
  const lossType = opts.lossType ?? 'grpo';
  const lt = LOSS_TYPES.indexOf(lossType);
  if (lt < 0) throw new RangeError(`${op}: lossType must be one of ${LOSS_TYPES.join(', ')}, got ${String(lossType)}`);
  let normalizer = 0;
  if (lossType === 'dr_grpo') {
    normalizer = numberArg(op, 'maxCompletionLength', opts.maxCompletionLength ?? T);
    if (!(Number.isFinite(normalizer) && normalizer > 0))
      throw new RangeError(`${op}: maxCompletionLength must be > 0, got ${normalizer}`);
  } else if (lossType === 'dapo' && opts.numItemsInBatch !== undefined) {
    normalizer = numberArg(op, 'numItemsInBatch', opts.numItemsInBatch);
    if (!(Number.isFinite(normalizer) && normalizer > 0))
      throw new RangeError(`${op}: numItemsInBatch must be > 0, got ${normalizer}`);
  }
  const gas = numberArg(op, 'gradientAccumulationSteps', opts.gradientAccumulationSteps ?? 1);
  if (!(Number.isFinite(gas) && gas > 0)) throw new RangeError(`${op}: gradientAccumulationSteps must be > 0, got ${gas}`);
  const computeGrad = opts.computeGrad ?? true;

  const dev = logp.device;
  const loss = Tensor.empty([], { device: dev });
  const metrics = Tensor.empty([GRPO_METRIC_NAMES.length], { device: dev });
  const dlogp = computeGrad ? Tensor.empty([N, T], { device: dev }) : undefined;
  const work = Tensor.empty([N * 9 + 1], { device: dev });
  try {
    native().grpoLoss(
      N, T, logp.buffer(op), oldLogp ? oldLogp.buffer(op) : null, refLogp ? refLogp.buffer(op) : null,
      advantages.buffer(op), advPerToken, dtypeId(completionMask.dtype), completionMask.buffer(op), epsLow, epsHigh,
      beta, hasDelta, delta, lt, normalizer, 1 / gas, loss.buffer(op), metrics.buffer(op),
      dlogp ? dlogp.buffer(op) : null, work.buffer(op),
    );
  } finally {
    work.dispose();
  }
  const out: GrpoLossResult = { loss, metrics };
  if (dlogp) out.dlogp = dlogp;
  return out;
}

/** Reads a grpoLoss metrics tensor into named numbers (synchronises on CUDA). */
export function grpoMetrics(metrics: Tensor): GrpoMetrics {
  tensorArg('grpoMetrics', 'metrics', metrics);
  if (metrics.dtype !== 'f32' || metrics.size !== GRPO_METRIC_NAMES.length)
    throw new RangeError(`grpoMetrics: expected f32 [${GRPO_METRIC_NAMES.length}], got ${metrics.dtype} ${shapeStr(metrics.shape)}`);
  const v = metrics.toArray();
  const out = {} as GrpoMetrics;
  GRPO_METRIC_NAMES.forEach((k, i) => (out[k] = v[i]));
  return out;
}
