// Fused token sampling: repetition penalty, temperature, top-k, top-p, min-p and a seeded draw per row.
// Twins: native/cpu/sample.cpp, native/cuda/sample.cu; the RNG (Philox4x32-10) is native/philox.h.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    sample(
      dt: number, R: number, V: number, logits: NativeBuffer, fparams: NativeBuffer, iparams: NativeBuffer,
      L: number, prev: NativeBuffer | null, offsetLo: number, offsetHi: number, tokens: NativeBuffer,
      logprobs: NativeBuffer,
    ): void;
    samplePhilox(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number): number[];
    sampleUniform(seed: number, stream: number, offsetLo: number, offsetHi: number): number;
  }
}

/** A value for every row, or one for all rows (a typed array or plain array of length R). */
export type PerRow = number | ArrayLike<number>;

export interface SampleOptions {
  /** Softmax temperature, > 0; 0 = greedy (argmax). Default 1. */
  temperature?: PerRow;
  /** Keep the k highest logits (all tokens tied with the k-th are kept). 0 = off (default); k >= V = off. */
  topK?: PerRow;
  /**
   * Nucleus: keep the highest-probability tokens while the mass strictly above them is < p (so the
   * smallest top set whose mass reaches p, plus every token tied with its last one). In (0, 1];
   * 1 = off (default). Computed on the distribution left by top-k.
   */
  topP?: PerRow;
  /** Keep tokens with probability >= minP * (largest probability). In [0, 1]; 0 = off (default). */
  minP?: PerRow;
  /**
   * HF repetition penalty (> 0; 1 = off, the default): each distinct token of previousTokens gets
   * logit / penalty if its logit is > 0, else logit * penalty, before anything else (greedy included).
   */
  repetitionPenalty?: PerRow;
  /**
   * i32 [R, L] tokens to penalise, on the logits' device; negative ids are padding (use -1). Read only
   * when some row's repetitionPenalty is not 1; then an id >= V is an Error on the CPU (thrown before
   * anything is written) and ignored on CUDA (the kernel never reads outside the row). CUDA keeps a
   * bitmask of the row's previous tokens in shared memory, so there V must be <= 327,680.
   */
  previousTokens?: Tensor;
  /**
   * 32-bit seeds (integers in [-2^31, 2^32)): one per row, or one for the batch. Required unless every
   * row is greedy. With a single seed, row r draws from stream r; with per-row seeds every row uses
   * stream 0, so a row's draw depends only on its own seed and the offset (not on its position in the
   * batch -- rows can be dropped or reordered between decode steps).
   */
  seeds?: PerRow;
  /** Step counter, an integer in [0, 2^53): successive decode steps pass 0, 1, 2, ... Default 0. */
  offset?: number;
}

export interface SampleResult {
  /** i32 [R]: the chosen token ids; -1 for an invalid row (see sample). */
  tokens: Tensor;
  /**
   * f32 [R]: log-probability of the chosen token under the final distribution -- the softmax of the
   * penalised, temperature-scaled logits renormalised over the tokens kept by top-k / top-p / min-p.
   * For a greedy row it is the log-softmax of the penalised logits (temperature 1, no filters) at the
   * argmax. NaN for an invalid row.
   */
  logprobs: Tensor;
}

function perRow(op: string, name: string, v: PerRow | undefined, def: number, R: number,
                ok: (x: number) => boolean, what: string): Float64Array {
  const out = new Float64Array(R);
  if (v === undefined) return out.fill(def);
  if (typeof v === 'number') {
    if (!ok(v)) throw new RangeError(`${op}: ${name} must be ${what}, got ${v}`);
    return out.fill(v);
  }
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<number>).length !== 'number')
    throw new TypeError(`${op}: ${name} must be a number or an array of ${R} numbers`);
  if (v.length !== R) throw new RangeError(`${op}: ${name} has ${v.length} values for ${R} rows`);
  for (let r = 0; r < R; r++) {
    const x = Number(v[r]);
    if (!ok(x)) throw new RangeError(`${op}: ${name}[${r}] must be ${what}, got ${v[r]}`);
    out[r] = x;
  }
  return out;
}

const isInt = (x: number, lo: number, hi: number): boolean => Number.isInteger(x) && x >= lo && x <= hi;

/**
 * Draws one token per row of logits [R, V] (f32 or bf16; 1-D [V] is one row, results [1]), on the
 * logits' device.
 *
 * Per row, in the order of HF / vLLM: repetition penalty -> temperature (d = (v - max v) / T) -> top-k
 * -> top-p -> min-p -> one draw from the renormalised softmax over the kept tokens. Each filter is a
 * threshold on d, so every token tied with the last kept value is kept too. The draw is the inverse
 * CDF, in token-id order, at a uniform u in [0, 1) from Philox4x32-10 keyed by (seed, stream) with
 * counter (offset, 0, 0) -- reproducible from the seeds, and the same u on CPU and CUDA, so both pick
 * the same token except when u lands within rounding of a CDF step. Temperature 0 is greedy: the
 * lowest index of the largest penalised logit.
 *
 * Invalid rows: a row whose (penalised) logits contain NaN or +inf, or that has no logit above -inf,
 * gets token -1 and logprob NaN on both devices (no throw, so CUDA never synchronises); -1 then fails
 * loudly in embedding(). The CUDA kernel never sorts the vocabulary: one block per row finds the top-k
 * and top-p thresholds by radix select on the float bits and draws with a block-wide prefix sum.
 */
export function sample(logits: Tensor, opts: SampleOptions = {}): SampleResult {
  const op = 'sample';
  tensorArg(op, 'logits', logits);
  const dt = floatDType(op, logits);
  if (logits.ndim !== 1 && logits.ndim !== 2)
    throw new RangeError(`${op}: logits ${shapeStr(logits.shape)} must be [R, V] or [V]`);
  const R = logits.ndim === 2 ? logits.shape[0] : 1;
  const V = logits.shape[logits.ndim - 1];
  if (V === 0 && R > 0) throw new RangeError(`${op}: the vocabulary dimension of logits ${shapeStr(logits.shape)} is empty`);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const temperature = perRow(op, 'temperature', opts.temperature, 1, R, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
  const topK = perRow(op, 'topK', opts.topK, 0, R, (x) => isInt(x, 0, 2147483647), 'an integer >= 0');
  const topP = perRow(op, 'topP', opts.topP, 1, R, (x) => x > 0 && x <= 1, 'in (0, 1]');
  const minP = perRow(op, 'minP', opts.minP, 0, R, (x) => x >= 0 && x <= 1, 'in [0, 1]');
  const penalty = perRow(op, 'repetitionPenalty', opts.repetitionPenalty, 1, R, (x) => x > 0 && Number.isFinite(x), 'a finite number > 0');
  const sampling = temperature.some((t) => t > 0);
  if (opts.seeds === undefined && sampling)
    throw new TypeError(`${op}: seeds are required when a row samples (temperature > 0)`);
  const seeds = perRow(op, 'seeds', opts.seeds, 0, R, (x) => isInt(x, -2147483648, 4294967295), 'a 32-bit integer');
  const offset = opts.offset ?? 0;
  if (typeof offset !== 'number' || !isInt(offset, 0, Number.MAX_SAFE_INTEGER))
    throw new RangeError(`${op}: offset must be an integer in [0, 2^53), got ${offset}`);
  let prev: Tensor | undefined;
  let L = 0;
  if (opts.previousTokens !== undefined) {
    prev = tensorArg(op, 'previousTokens', opts.previousTokens);
    sameDevice(op, logits, prev);
    if (prev.dtype !== 'i32') throw new TypeError(`${op}: previousTokens must be i32, got ${prev.dtype}`);
    if (prev.ndim !== 2 || prev.shape[0] !== R)
      throw new RangeError(`${op}: previousTokens ${shapeStr(prev.shape)} must be [${R}, L] for logits ${shapeStr(logits.shape)}`);
    if (penalty.some((p) => p !== 1)) L = prev.shape[1];
  }
  const perRowSeed = typeof opts.seeds === 'object';
  const fp = new Float32Array(R * 4);
  const ip = new Int32Array(R * 3);
  for (let r = 0; r < R; r++) {
    fp[r * 4] = temperature[r];
    fp[r * 4 + 1] = topP[r];
    fp[r * 4 + 2] = minP[r];
    fp[r * 4 + 3] = penalty[r];
    ip[r * 3] = topK[r];
    ip[r * 3 + 1] = seeds[r] | 0;
    ip[r * 3 + 2] = perRowSeed ? 0 : r;
  }
  const dev = logits.device;
  const tokens = Tensor.empty([R], { dtype: 'i32', device: dev });
  const logprobs = Tensor.empty([R], { dtype: 'f32', device: dev });
  const fparams = Tensor.fromArray(fp, [R, 4], { dtype: 'f32', device: dev });
  const iparams = Tensor.fromArray(ip, [R, 3], { dtype: 'i32', device: dev });
  try {
    native().sample(
      dtypeId(dt), R, V, logits.buffer(op), fparams.buffer(op), iparams.buffer(op), L,
      L > 0 && prev ? prev.buffer(op) : null, offset % 4294967296, Math.floor(offset / 4294967296),
      tokens.buffer(op), logprobs.buffer(op),
    );
  } catch (e) {
    tokens.dispose();
    logprobs.dispose();
    throw e;
  } finally {
    fparams.dispose(); // stream-ordered free on CUDA: safe right after the launch
    iparams.dispose();
  }
  return { tokens, logprobs };
}
