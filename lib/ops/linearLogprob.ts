// Fused linear log-prob: hidden states × lm_head → log-softmax → log-prob of the chosen token (and the
// softmax entropy), chunked over the vocabulary so the [tokens, vocab] logits are never stored; and its
// backward, chunked the same way. Twins: native/cpu/linear_logprob.cpp, native/cuda/linear_logprob.cu
// (both use the gemm op's native functions for the chunk products).
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDevice, sameDType, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    linearLogprob(
      dt: number, N: number, V: number, D: number, C: number, hidden: NativeBuffer, weight: NativeBuffer,
      targets: NativeBuffer, ignoreIndex: number, invTemp: number, logp: NativeBuffer, entropy: NativeBuffer,
      lse: NativeBuffer, state: NativeBuffer, scratch: NativeBuffer,
    ): void;
    linearLogprobBackward(
      dt: number, N: number, V: number, D: number, C: number, hidden: NativeBuffer, weight: NativeBuffer,
      targets: NativeBuffer, ignoreIndex: number, invTemp: number, lse: NativeBuffer, entropy: NativeBuffer,
      dlogp: NativeBuffer, dentropy: NativeBuffer | null, dhidden: NativeBuffer, dweight: NativeBuffer,
      accumulate: boolean, scratch: NativeBuffer, gradScratch: NativeBuffer | null,
    ): void;
  }
}

export interface LinearLogprobOptions {
  /** Logits are divided by this before the softmax (TRL divides by the sampling temperature). Default 1. */
  temperature?: number;
  /** Rows whose target equals this get logp = entropy = 0 and no gradient. Default -100. */
  ignoreIndex?: number;
  /** Vocabulary columns per chunk (the scratch is [N, chunkSize] f32). Default 8192. */
  chunkSize?: number;
}

export interface LinearLogprobResult {
  /** f32, targets' shape: log softmax(hidden·lmHeadᵀ / temperature)[target]. */
  logp: Tensor;
  /** f32, targets' shape: entropy of that softmax (nats). */
  entropy: Tensor;
  /** f32, targets' shape: logsumexp of the tempered logits (saved for the backward). */
  lse: Tensor;
}

export interface LinearLogprobBackwardOptions extends LinearLogprobOptions {
  /** f32, targets' shape: gradient w.r.t. the entropy output (e.g. an entropy bonus). */
  dentropy?: Tensor;
  /** f32 [V, D]: the lm_head gradient is added into it (micro-batch accumulation) and it is returned. */
  dlmHead?: Tensor;
}

export interface LinearLogprobGrads {
  /** f32, hidden's shape. */
  dhidden: Tensor;
  /** f32 [V, D]: opts.dlmHead when given (accumulated into), else a new tensor. */
  dlmHead: Tensor;
}

interface Checked {
  N: number;
  V: number;
  D: number;
  C: number;
  invTemp: number;
  ignoreIndex: number;
}

function checkArgs(op: string, hidden: Tensor, lmHead: Tensor, targets: Tensor, opts: LinearLogprobOptions): Checked {
  tensorArg(op, 'hidden', hidden);
  tensorArg(op, 'lmHead', lmHead);
  tensorArg(op, 'targets', targets);
  sameDevice(op, hidden, lmHead, targets);
  floatDType(op, hidden);
  sameDType(op, hidden, lmHead);
  if (targets.dtype !== 'i32') throw new TypeError(`${op}: targets must be i32, got ${targets.dtype} ${shapeStr(targets.shape)}`);
  if (lmHead.ndim !== 2) throw new RangeError(`${op}: lmHead ${shapeStr(lmHead.shape)} must be [V, D]`);
  const [V, D] = lmHead.shape;
  if (hidden.ndim < 1 || hidden.shape[hidden.ndim - 1] !== D)
    throw new RangeError(`${op}: hidden ${shapeStr(hidden.shape)} must end in D = ${D} (lmHead ${shapeStr(lmHead.shape)})`);
  const lead = hidden.shape.slice(0, -1);
  if (targets.ndim !== lead.length || targets.shape.some((d, i) => d !== lead[i]))
    throw new RangeError(`${op}: targets ${shapeStr(targets.shape)} must be ${shapeStr(lead)} for hidden ${shapeStr(hidden.shape)}`);
  if (V < 1 || D < 1) throw new RangeError(`${op}: lmHead ${shapeStr(lmHead.shape)} is empty`);
  const temperature = numberArg(op, 'temperature', opts.temperature ?? 1);
  if (!(Number.isFinite(temperature) && temperature > 0))
    throw new RangeError(`${op}: temperature must be finite and > 0, got ${temperature}`);
  const ignoreIndex = numberArg(op, 'ignoreIndex', opts.ignoreIndex ?? -100);
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -2147483648 || ignoreIndex > 2147483647)
    throw new RangeError(`${op}: ignoreIndex must be a 32-bit integer, got ${ignoreIndex}`);
  const chunk = numberArg(op, 'chunkSize', opts.chunkSize ?? 8192);
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`${op}: chunkSize must be a positive integer, got ${chunk}`);
  return { N: targets.size, V, D, C: Math.min(chunk, V), invTemp: 1 / temperature, ignoreIndex };
}

/**
 * Per-token log-prob of targets and softmax entropy under logits = hidden · lmHeadᵀ / temperature,
 * without storing the logits: the vocabulary is processed in chunks of chunkSize columns (one GEMM into
 * an [N, chunkSize] f32 scratch each), updating a running max / sum of exp / entropy sum / target logit
 * per row. hidden [..., D] and lmHead [V, D] share a dtype (f32 or bf16); targets i32 [...]. Peak extra
 * memory is N·chunkSize·4 bytes instead of N·V·4 (twice that for logits + log-softmax unfused).
 * Out-of-range targets: the CPU throws before writing; CUDA sets that logp to NaN and a later
 * linearLogprob call throws.
 */
export function linearLogprob(hidden: Tensor, lmHead: Tensor, targets: Tensor, opts: LinearLogprobOptions = {}): LinearLogprobResult {
  const op = 'linearLogprob';
  const c = checkArgs(op, hidden, lmHead, targets, opts);
  const dev = hidden.device;
  const logp = Tensor.empty(targets.shape, { device: dev });
  const entropy = Tensor.empty(targets.shape, { device: dev });
  const lse = Tensor.empty(targets.shape, { device: dev });
  const state = Tensor.empty([c.N, 4], { device: dev });
  const scratch = Tensor.empty([c.N, c.C], { device: dev });
  try {
    native().linearLogprob(
      dtypeId(hidden.dtype), c.N, c.V, c.D, c.C, hidden.buffer(op), lmHead.buffer(op), targets.buffer(op),
      c.ignoreIndex, c.invTemp, logp.buffer(op), entropy.buffer(op), lse.buffer(op), state.buffer(op), scratch.buffer(op),
    );
  } catch (e) {
    for (const t of [logp, entropy, lse]) t.dispose();
    throw e;
  } finally {
    state.dispose();
    scratch.dispose();
  }
  return { logp, entropy, lse };
}

/**
 * Backward of linearLogprob: given dlogp (and optionally dentropy) of the targets' shape and the forward's
 * lse and entropy, recomputes each chunk's logits and forms
 *   dz = dlogp·(onehot(target) − p) − dentropy·p·(z − (lse − entropy))
 * (the entropy's gradient −p·(log p + H)), then dhidden += dz·W_chunk / temperature and
 * dlmHead[chunk] += dzᵀ·hidden / temperature. Ignored rows contribute nothing. Same options as the
 * forward (use the same temperature, ignoreIndex).
 */
export function linearLogprobBackward(
  hidden: Tensor,
  lmHead: Tensor,
  targets: Tensor,
  saved: { lse: Tensor; entropy: Tensor },
  dlogp: Tensor,
  opts: LinearLogprobBackwardOptions = {},
): LinearLogprobGrads {
  const op = 'linearLogprobBackward';
  const c = checkArgs(op, hidden, lmHead, targets, opts);
  const perRow = (name: string, t: Tensor) => {
    tensorArg(op, name, t);
    sameDevice(op, hidden, t);
    if (t.dtype !== 'f32' || t.ndim !== targets.ndim || t.shape.some((d, i) => d !== targets.shape[i]))
      throw new RangeError(`${op}: ${name} must be f32 ${shapeStr(targets.shape)} like targets, got ${t.dtype} ${shapeStr(t.shape)}`);
  };
  if (typeof saved !== 'object' || saved === null) throw new TypeError(`${op}: saved must be { lse, entropy }`);
  perRow('lse', saved.lse);
  perRow('entropy', saved.entropy);
  perRow('dlogp', dlogp);
  if (opts.dentropy) perRow('dentropy', opts.dentropy);
  const dev = hidden.device;
  let dW = opts.dlmHead;
  if (dW) {
    tensorArg(op, 'dlmHead', dW);
    sameDevice(op, hidden, dW);
    if (dW.dtype !== 'f32' || dW.ndim !== 2 || dW.shape[0] !== c.V || dW.shape[1] !== c.D)
      throw new RangeError(`${op}: dlmHead must be f32 [${c.V}, ${c.D}], got ${dW.dtype} ${shapeStr(dW.shape)}`);
  }
  const accumulate = !!dW;
  const dhidden = Tensor.empty(hidden.shape, { device: dev });
  if (!dW) dW = Tensor.empty([c.V, c.D], { device: dev });
  const scratch = Tensor.empty([c.N, c.C], { device: dev });
  const gscratch = hidden.dtype === 'bf16' ? Tensor.empty([c.N, c.C], { dtype: 'bf16', device: dev }) : null;
  try {
    native().linearLogprobBackward(
      dtypeId(hidden.dtype), c.N, c.V, c.D, c.C, hidden.buffer(op), lmHead.buffer(op), targets.buffer(op),
      c.ignoreIndex, c.invTemp, saved.lse.buffer(op), saved.entropy.buffer(op), dlogp.buffer(op),
      opts.dentropy ? opts.dentropy.buffer(op) : null, dhidden.buffer(op), dW.buffer(op), accumulate,
      scratch.buffer(op), gscratch ? gscratch.buffer(op) : null,
    );
  } catch (e) {
    dhidden.dispose();
    if (!accumulate) dW.dispose();
    throw e;
  } finally {
    scratch.dispose();
    gscratch?.dispose();
  }
  return { dhidden, dlmHead: dW };
}
