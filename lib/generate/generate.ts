// Text generation with a KV cache: batched prefill, then one decodeStep per token for the rows still
// running (finished rows drop out of compute), per-row stop on EOS ids, stop strings and
// max_new_tokens, and streaming of the text as it becomes valid UTF-8.
import { Tensor } from '../tensor';
import { LlamaModel } from '../model/llama';
import { Tokenizer } from '../tokenizer/tokenizer';
import { Sampler, greedySampler, temperatureSampler } from './samplers';

export type FinishReason = 'eos' | 'stop' | 'length';

export interface StopOptions {
  /**
   * Token ids that end a sequence (kept as its last token, left out of its text). Default: the
   * tokenizer's eos_token and the model config's eos_token_id(s).
   */
  eosIds?: number[];
  /** Strings that end a sequence when they appear in its decoded text; the text is cut before them. */
  strings?: string[];
}

export interface GenerateOptions {
  /** Most tokens to generate per prompt (default 256). A prompt plus its completion never exceeds max_position_embeddings. */
  maxNewTokens?: number;
  stop?: StopOptions;
  /** How to pick tokens (default: temperatureSampler from temperature/topP/topK/seed, greedy at temperature 0). */
  sampler?: Sampler;
  /** For the default sampler: temperature (default 0 = greedy), topP (1), topK (0 = off), seed (0). */
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  /**
   * Called for every generated token of every row, in order: (prompt index, token id, the text that
   * this token makes final). The deltas of a row concatenate to its final text: text is held back
   * while it ends inside a multi-byte character or could still be the start of a stop string.
   */
  onToken?: (row: number, tokenId: number, textDelta: string) => void;
  /** Leave special tokens out of the text (default true). */
  skipSpecialTokens?: boolean;
  /** For string prompts: let the tokenizer add its special tokens, e.g. BOS (default true). */
  addSpecialTokens?: boolean;
  /** Prompts per batch (default: all at once). */
  batchSize?: number;
}

export interface GenerateResult {
  /** Generated token ids per prompt (the EOS id included when the row ended on it). */
  tokens: number[][];
  /** Decoded completions (without EOS, cut before a stop string). */
  text: string[];
  finishReason: FinishReason[];
  /** The sampler's log-probability of each generated token. */
  logprobs: number[][];
}

/**
 * Incremental detokenisation (vLLM's scheme): the text of the tokens since `prefix` is decoded with and
 * without the newest ones, and the difference is accepted only when it does not end in U+FFFD (an
 * unfinished multi-byte character). `text` only ever grows.
 */
class RowText {
  private ids: number[] = [];
  private prefix = 0;
  private read = 0;
  text = '';

  constructor(private readonly decode: (ids: number[]) => string) {}

  push(id: number): void {
    this.ids.push(id);
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const after = this.decode(this.ids.slice(this.prefix));
    if (after.length > before.length && !after.endsWith('\uFFFD')) {
      this.text += after.slice(before.length);
      this.prefix = this.read;
      this.read = this.ids.length;
    }
  }

  /** Accepts whatever is still held back (an invalid byte sequence stays U+FFFD, as a full decode gives). */
  flush(): void {
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const after = this.decode(this.ids.slice(this.prefix));
    if (after.length > before.length) this.text += after.slice(before.length);
    this.prefix = this.read = this.ids.length;
  }
}

function promptIds(tokenizer: Tokenizer, prompts: unknown, vocab: number, addSpecialTokens: boolean): number[][] {
  if (!Array.isArray(prompts)) throw new TypeError('generate: prompts must be an array of strings or of token id arrays');
  if (prompts.length === 0) throw new RangeError('generate: no prompts');
  return prompts.map((p, i) => {
    let ids: number[];
    if (typeof p === 'string') ids = tokenizer.encode(p, { addSpecialTokens });
    else if (Array.isArray(p)) ids = p;
    else throw new TypeError(`generate: prompts[${i}] must be a string or an array of token ids`);
    if (ids.length === 0) throw new RangeError(`generate: prompts[${i}] has no tokens`);
    ids.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new RangeError(`generate: prompts[${i}][${t}] = ${id} is not a token id of the model (vocab ${vocab})`);
    });
    return ids;
  });
}

/**
 * Generates a completion for each prompt (strings are encoded with the tokenizer; token arrays are
 * used as they are). Rows stop independently on an EOS id, a stop string or maxNewTokens (or when
 * prompt + completion reach max_position_embeddings, reported as 'length'); finished rows leave the
 * batch. Returns per prompt the generated ids, text, finish reason and log-probabilities.
 */
export function generate(
  model: LlamaModel, tokenizer: Tokenizer, prompts: string[] | number[][], opts: GenerateOptions = {},
): GenerateResult {
  if (!(model instanceof LlamaModel)) throw new TypeError('generate: model must be a LlamaModel');
  if (!(tokenizer instanceof Tokenizer)) throw new TypeError('generate: tokenizer must be a Tokenizer');
  const cfg = model.config;
  const maxNew = opts.maxNewTokens ?? 256;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new RangeError(`generate: maxNewTokens must be an integer >= 0, got ${maxNew}`);
  const ids = promptIds(tokenizer, prompts, cfg.vocabSize, opts.addSpecialTokens ?? true);
  ids.forEach((p, i) => {
    if (p.length > cfg.maxPositionEmbeddings)
      throw new RangeError(`generate: prompts[${i}] has ${p.length} tokens, more than max_position_embeddings ${cfg.maxPositionEmbeddings}`);
  });
  const eos = new Set<number>(
    opts.stop?.eosIds ?? [
      ...(tokenizer.eosId !== undefined ? [tokenizer.eosId] : []),
      ...(cfg.eosTokenId === undefined ? [] : Array.isArray(cfg.eosTokenId) ? cfg.eosTokenId : [cfg.eosTokenId]),
    ],
  );
  const stops = (opts.stop?.strings ?? []).filter((s) => {
    if (typeof s !== 'string') throw new TypeError('generate: stop strings must be strings');
    return s.length > 0;
  });
  const holdBack = stops.length ? Math.max(...stops.map((s) => s.length)) - 1 : 0;
  const sampler = opts.sampler ??
    temperatureSampler({ temperature: opts.temperature ?? 0, topP: opts.topP, topK: opts.topK, seed: opts.seed });
  if (typeof sampler !== 'function') throw new TypeError('generate: sampler must be a function');
  const batchSize = opts.batchSize ?? ids.length;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`generate: batchSize must be a positive integer, got ${batchSize}`);
  const skipSpecialTokens = opts.skipSpecialTokens ?? true;
  const decode = (list: number[]): string =>
    tokenizer.decode(list.filter((t) => tokenizer.idToToken(t) !== undefined), { skipSpecialTokens });

  const n = ids.length;
  const result: GenerateResult = {
    tokens: ids.map(() => []),
    text: ids.map(() => ''),
    finishReason: ids.map(() => 'length' as FinishReason),
    logprobs: ids.map(() => []),
  };
  for (let b0 = 0; b0 < n; b0 += batchSize) {
    const rows = [...Array(Math.min(batchSize, n - b0)).keys()].map((i) => b0 + i);
    runBatch(model, rows, ids, maxNew, eos, stops, holdBack, sampler, decode, opts.onToken, result);
  }
  return result;
}

function runBatch(
  model: LlamaModel, rows: number[], ids: number[][], maxNew: number, eos: Set<number>, stops: string[],
  holdBack: number, sampler: Sampler, decode: (ids: number[]) => string,
  onToken: GenerateOptions['onToken'], result: GenerateResult,
): void {
  const cfg = model.config;
  // Per-row budget: maxNew, and prompt + completion <= max_position_embeddings.
  const limit = new Map(rows.map((r) => [r, Math.min(maxNew, cfg.maxPositionEmbeddings - ids[r].length)]));
  let active = rows.filter((r) => limit.get(r)! > 0);
  if (active.length === 0) return;
  const slot = new Map(rows.map((r, i) => [r, i])); // prompt index → cache row
  const maxPrompt = Math.max(...active.map((r) => ids[r].length));
  const cache = model.createCache(rows.length, Math.min(cfg.maxPositionEmbeddings, maxPrompt + maxNew));
  const texts = new Map(rows.map((r) => [r, new RowText(decode)]));
  const emitted = new Map(rows.map((r) => [r, 0]));
  const searched = new Map(rows.map((r) => [r, 0]));
  let logits: Tensor | undefined;
  try {
    const T = maxPrompt;
    const packed = new Int32Array(active.length * T);
    active.forEach((r, i) => packed.set(ids[r], i * T));
    const idsT = Tensor.fromArray(packed, [active.length, T], { dtype: 'i32' });
    try {
      logits = model.prefill(idsT, cache, { lengths: active.map((r) => ids[r].length), rows: active.map((r) => slot.get(r)!) });
    } finally {
      idsT.dispose();
    }
    for (let step = 0; ; step++) {
      const out = sampler(logits, step, active);
      if (!out || !(out.tokens instanceof Int32Array) || out.tokens.length !== active.length ||
          out.logprobs === undefined || out.logprobs.length !== active.length)
        throw new Error(`generate: the sampler must return { tokens: Int32Array, logprobs: Float32Array } with ${active.length} entries`);
      logits.dispose();
      logits = undefined;
      const next: number[] = [];
      const nextTokens: number[] = [];
      active.forEach((r, i) => {
        const tok = out.tokens[i];
        if (!Number.isInteger(tok) || tok < 0 || tok >= cfg.vocabSize)
          throw new Error(`generate: the sampler returned token ${tok} for prompt ${r} (vocab ${cfg.vocabSize})`);
        result.tokens[r].push(tok);
        result.logprobs[r].push(out.logprobs[i]);
        const rt = texts.get(r)!;
        let reason: FinishReason | undefined;
        if (eos.has(tok)) reason = 'eos';
        else {
          rt.push(tok);
          if (result.tokens[r].length >= limit.get(r)!) reason = 'length';
        }
        if (reason) rt.flush();
        if (stops.length) {
          // A stop string that is complete now starts after the text that was searched before, minus
          // its own length - 1.
          const from = Math.max(0, searched.get(r)! - holdBack);
          let at = -1;
          for (const s of stops) {
            const k = rt.text.indexOf(s, from);
            if (k >= 0 && (at < 0 || k < at)) at = k;
          }
          if (at >= 0) {
            rt.text = rt.text.slice(0, at);
            reason = 'stop';
          }
          searched.set(r, rt.text.length);
        }
        const end = reason ? rt.text.length : Math.max(emitted.get(r)!, rt.text.length - holdBack);
        const delta = rt.text.slice(emitted.get(r)!, end);
        emitted.set(r, end);
        if (reason) {
          result.finishReason[r] = reason;
          result.text[r] = rt.text;
        } else {
          next.push(r);
          nextTokens.push(tok);
        }
        onToken?.(r, tok, delta);
      });
      if (next.length === 0) break;
      active = next;
      logits = model.decodeStep(nextTokens, cache, active.map((r) => slot.get(r)!));
    }
  } finally {
    logits?.dispose();
    cache.dispose();
  }
}
