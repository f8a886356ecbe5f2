// Group-relative advantages for GRPO: outcome supervision (one reward per completion) and process
// supervision (one reward per reasoning step). Twins: native/cpu/grpo_advantages.cpp,
// native/cuda/grpo_advantages.cu.
import { native, NativeBuffer } from '../native';
import { Device, Tensor, dtypeId, shapeStr } from '../tensor';
import { numberArg, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    groupAdvantages(B: number, G: number, rewards: NativeBuffer, scale: number, eps: number, adv: NativeBuffer): void;
    processAdvantages(
      B: number, G: number, S: number, T: number, stepRewards: NativeBuffer, stepEnds: NativeBuffer, maskDt: number,
      mask: NativeBuffer | null, scale: number, eps: number, adv: NativeBuffer,
    ): void;
  }
}

/**
 * How advantages are scaled (TRL `scale_rewards`): 'group' divides by the std of the group, 'batch' by
 * the std of the whole batch (the mean is still the group's), 'none' only subtracts the group mean
 * (Dr. GRPO).
 */
export type ScaleRewards = 'group' | 'batch' | 'none';
const SCALES: ScaleRewards[] = ['group', 'batch', 'none'];

export interface AdvantageOptions {
  /** Default 'group' (the paper). */
  scaleRewards?: ScaleRewards;
  /** Added to the std: Â = (r − mean) / (std + eps). Default 1e-4 (TRL). */
  eps?: number;
}

export interface GroupAdvantageOptions extends AdvantageOptions {
  /** Device of the result when rewards is a Float32Array / number[]. Default 'cpu'. */
  device?: Device;
}

function scaleArg(op: string, s: unknown): number {
  const i = SCALES.indexOf((s ?? 'group') as ScaleRewards);
  if (i < 0) throw new RangeError(`${op}: scaleRewards must be one of ${SCALES.join(', ')}, got ${String(s)}`);
  return i;
}

function epsArg(op: string, e: unknown): number {
  const v = numberArg(op, 'eps', e ?? 1e-4);
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${op}: eps must be finite and >= 0, got ${v}`);
  return v;
}

function groupArg(op: string, G: unknown): number {
  if (typeof G !== 'number' || !Number.isInteger(G) || G < 1)
    throw new RangeError(`${op}: G (completions per prompt) must be a positive integer, got ${String(G)}`);
  return G;
}

/**
 * Outcome supervision (DeepSeekMath §4.1.2): rewards f32 [B·G] hold G consecutive completions per
 * prompt; returns f32 [B·G] with Â = (r − mean_group) / (std + eps). The std is the unbiased one
 * (torch.Tensor.std, as TRL's GRPOTrainer uses), over the group or over the whole batch; a std over a
 * single value is 0 (TRL). NaN rewards propagate to their group (TRL nansums reward functions before).
 */
export function groupAdvantages(
  rewards: Tensor | Float32Array | number[],
  G: number,
  opts: GroupAdvantageOptions = {},
): Tensor {
  const op = 'groupAdvantages';
  groupArg(op, G);
  const scale = scaleArg(op, opts.scaleRewards);
  const eps = epsArg(op, opts.eps);
  const owned = !(rewards instanceof Tensor);
  const r = rewards instanceof Tensor ? rewards : Tensor.fromArray(Float32Array.from(rewards), undefined, { device: opts.device ?? 'cpu' });
  try {
    tensorArg(op, 'rewards', r);
    if (r.dtype !== 'f32' || r.ndim !== 1)
      throw new TypeError(`${op}: rewards must be f32 [B*G], got ${r.dtype} ${shapeStr(r.shape)}`);
    if (r.size % G !== 0) throw new RangeError(`${op}: rewards ${shapeStr(r.shape)} is not a whole number of groups of G = ${G}`);
    const adv = Tensor.empty(r.shape, { device: r.device });
    native().groupAdvantages(r.size / G, G, r.buffer(op), scale, eps, adv.buffer(op));
    return adv;
  } finally {
    if (owned) r.dispose();
  }
}

export interface ProcessAdvantageOptions extends AdvantageOptions {
  /** f32 or i32 [B·G, T]: advantages are 0 where it is 0. Gives T when present. */
  completionMask?: Tensor;
  /** Completion length T (needed without completionMask). */
  T?: number;
}

/**
 * Process supervision (DeepSeekMath §4.1.3). Layout: completion n of B·G (G consecutive per prompt) has
 * up to S reasoning steps; stepRewards f32 [B·G, S] holds their rewards and stepEnds i32 [B·G, S] the
 * completion-token index (0-based, in [0, T)) of each step's last token; unused slots have stepEnds
 * −1 (their reward is ignored). Positions ≥ T count as the last token. The rewards of all steps of a
 * group's G completions are normalised with that group's mean and unbiased std (or the batch's std, or
 * only centred, per scaleRewards), and each token's advantage is the sum of the normalised rewards of
 * its completion's steps ending at or after it: Â[n, t] = Σ_{s: end_s ≥ t} r̃_s. Returns f32 [B·G, T]
 * (0 where completionMask is 0), ready for grpoLoss's per-token advantages.
 */
export function processAdvantages(
  stepRewards: Tensor,
  stepEnds: Tensor,
  G: number,
  opts: ProcessAdvantageOptions = {},
): Tensor {
  const op = 'processAdvantages';
  groupArg(op, G);
  tensorArg(op, 'stepRewards', stepRewards);
  tensorArg(op, 'stepEnds', stepEnds);
  sameDevice(op, stepRewards, stepEnds);
  if (stepRewards.dtype !== 'f32' || stepRewards.ndim !== 2)
    throw new TypeError(`${op}: stepRewards must be f32 [B*G, S], got ${stepRewards.dtype} ${shapeStr(stepRewards.shape)}`);
  const [N, S] = stepRewards.shape;
  if (stepEnds.dtype !== 'i32' || stepEnds.ndim !== 2 || stepEnds.shape[0] !== N || stepEnds.shape[1] !== S)
    throw new TypeError(`${op}: stepEnds must be i32 ${shapeStr([N, S])} like stepRewards, got ${stepEnds.dtype} ${shapeStr(stepEnds.shape)}`);
  if (N % G !== 0) throw new RangeError(`${op}: stepRewards ${shapeStr(stepRewards.shape)} is not a whole number of groups of G = ${G}`);
  const mask = opts.completionMask;
  let T: number;
  if (mask) {
    tensorArg(op, 'completionMask', mask);
    sameDevice(op, stepRewards, mask);
    if (mask.dtype === 'bf16' || mask.ndim !== 2 || mask.shape[0] !== N)
      throw new TypeError(`${op}: completionMask must be f32 or i32 [${N}, T], got ${mask.dtype} ${shapeStr(mask.shape)}`);
    T = mask.shape[1];
    if (opts.T !== undefined && opts.T !== T)
      throw new RangeError(`${op}: T = ${opts.T} differs from completionMask ${shapeStr(mask.shape)}`);
  } else {
    if (opts.T === undefined || !Number.isInteger(opts.T) || opts.T < 0)
      throw new RangeError(`${op}: needs opts.T (a non-negative integer) or opts.completionMask`);
    T = opts.T;
  }
  const scale = scaleArg(op, opts.scaleRewards);
  const eps = epsArg(op, opts.eps);
  const adv = Tensor.empty([N, T], { device: stepRewards.device });
  native().processAdvantages(
    N / G, G, S, T, stepRewards.buffer(op), stepEnds.buffer(op), dtypeId(mask ? mask.dtype : 'f32'),
    mask ? mask.buffer(op) : null, scale, eps, adv.buffer(op),
  );
  return adv;
}
