// Byte-level BPE: a trainer for from-scratch corpora and the matching encoder.
//
// No npm package trains byte-level BPE in JS/WASM into HF's format (checked with npm view / pack):
// `tokenizers` (HF's Rust binding, 0.23) is native code shipping ~70 MB of per-platform .node files;
// `bpe-tokenizer` builds character-level vocabularies (no byte level, no split regex, own format);
// `gpt-tokenizer`, `js-tiktoken` and `@huggingface/tokenizers` only encode. So it is written here:
//  - GPT-2 style: pre-tokenise with SPLIT_PATTERN (the Llama-3 split, single digits), count pre-tokens;
//  - start from the 256 bytes, repeatedly merge the most frequent adjacent pair (ties: smallest
//    (left id, right id), as HF's trainer does), with incremental pair counts over the unique words and
//    a lazy max-heap: each merge touches only the words that contain the pair, never a full recount.
// The result is saved as a standard HF tokenizer.json (BPE model + Split/ByteLevel pre-tokenizer +
// ByteLevel decoder + added special tokens), which Tokenizer.fromDir (HF semantics, through
// @huggingface/tokenizers) encodes exactly like ByteLevelBpe.encode below.
import { BYTE_TO_CHAR, SPLIT_PATTERN, SPLIT_REGEX_SOURCE, utf8 } from './bytelevel';
import { DEEPSEEKMATH_CHAT_TEMPLATE, Tokenizer } from './tokenizer';

/** The special tokens every trained tokenizer starts with, at ids 0, 1, 2. */
export const DEFAULT_SPECIAL_TOKENS = ['<|bos|>', '<|eos|>', '<|pad|>'] as const;

export interface TrainBpeProgress {
  /** 'count': pre-tokenising the corpus (done = texts read); 'merge': learning merges (done of total). */
  phase: 'count' | 'merge';
  done: number;
  total?: number;
}

export interface TrainBpeOptions {
  /** Total vocabulary size, special tokens and the 256 byte tokens included. */
  vocabSize: number;
  /** Extra special tokens, after <|bos|>, <|eos|>, <|pad|> (ids 3, 4, ...). */
  specialTokens?: string[];
  /** Stop merging when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  onProgress?: (progress: TrainBpeProgress) => void;
}

export interface BpeEncodeOptions {
  /** Prepend <|bos|> (what the saved tokenizer's post-processor does). Default true. */
  addSpecialTokens?: boolean;
}

/** A binary heap of (primary, secondary) number pairs, smallest first (primary, then secondary). */
class PairHeap {
  private p: number[] = [];
  private s: number[] = [];

  get size(): number {
    return this.p.length;
  }

  private less(i: number, j: number): boolean {
    return this.p[i] < this.p[j] || (this.p[i] === this.p[j] && this.s[i] < this.s[j]);
  }

  private swap(i: number, j: number): void {
    const tp = this.p[i];
    this.p[i] = this.p[j];
    this.p[j] = tp;
    const ts = this.s[i];
    this.s[i] = this.s[j];
    this.s[j] = ts;
  }

  push(primary: number, secondary: number): void {
    this.p.push(primary);
    this.s.push(secondary);
    let i = this.p.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the smallest entry into this.top; false when empty. */
  pop(): boolean {
    const n = this.p.length;
    if (n === 0) return false;
    this.topPrimary = this.p[0];
    this.topSecondary = this.s[0];
    const lastP = this.p.pop()!;
    const lastS = this.s.pop()!;
    if (n > 1) {
      this.p[0] = lastP;
      this.s[0] = lastS;
      let i = 0;
      const m = n - 1;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= m) break;
        const r = l + 1;
        const c = r < m && this.less(r, l) ? r : l;
        if (!this.less(c, i)) break;
        this.swap(c, i);
        i = c;
      }
    }
    return true;
  }

  topPrimary = 0;
  topSecondary = 0;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regex matching any of the special tokens (longest first), or null when there are none. */
function specialSplitter(specials: readonly string[]): RegExp | null {
  if (specials.length === 0) return null;
  const sorted = [...specials].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  return new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
}

/** Calls fn on each non-special segment of text and, with its id, on each special token. */
function forEachSegment(
  text: string,
  splitter: RegExp | null,
  specialIds: ReadonlyMap<string, number>,
  onText: (segment: string) => void,
  onSpecial?: (id: number) => void,
): void {
  if (splitter === null) {
    if (text.length > 0) onText(text);
    return;
  }
  splitter.lastIndex = 0;
  let prev = 0;
  for (let m = splitter.exec(text); m !== null; m = splitter.exec(text)) {
    if (m.index > prev) onText(text.slice(prev, m.index));
    onSpecial?.(specialIds.get(m[0])!);
    prev = m.index + m[0].length;
  }
  if (prev < text.length) onText(text.slice(prev));
}

/**
 * A trained byte-level BPE model: ids 0..S-1 are the special tokens, S..S+255 the bytes 0..255, then
 * one id per merge. encode/decode implement HF's tokenizer.json semantics for the file it saves.
 */
export class ByteLevelBpe {
  /** Special tokens, id = index. */
  readonly specialTokens: readonly string[];
  /** Merges in rank order, as [left id, right id]. */
  readonly merges: readonly (readonly [number, number])[];
  /** Token strings by id (byte-level spelling: ' ' is 'Ġ'; special tokens as they are). */
  readonly tokens: readonly string[];
  readonly vocabSize: number;
  readonly bosId = 0;
  readonly eosId = 1;
  readonly padId = 2;

  private readonly tokenBytes: Uint8Array[];
  private readonly mergeRank: Map<number, number>;
  private readonly mergeResult: Int32Array;
  private readonly specialIds: Map<string, number>;
  private readonly splitter: RegExp | null;
  private readonly cache = new Map<string, number[]>();
  private readonly keyBase: number;

  /**
   * Builds a model from special tokens and merges (each [left id, right id] in rank order; a merge's
   * ids must exist before it). A merge whose string is already a token reuses that token's id (HF's
   * trainer does the same; it happens when e.g. "ab"+"c" and "a"+"bc" are both learnt).
   */
  constructor(specialTokens: readonly string[], merges: readonly (readonly [number, number])[]) {
    const S = specialTokens.length;
    this.specialTokens = [...specialTokens];
    this.specialIds = new Map(this.specialTokens.map((t, i) => [t, i]));
    if (this.specialIds.size !== S) throw new Error('ByteLevelBpe: special tokens must be distinct');
    for (const t of this.specialTokens) {
      if (typeof t !== 'string' || t.length === 0) throw new Error('ByteLevelBpe: special tokens must be non-empty strings');
    }
    const tokens: string[] = [...this.specialTokens];
    const bytes: Uint8Array[] = this.specialTokens.map((t) => utf8(t));
    const index = new Map<string, number>();
    for (let b = 0; b < 256; b++) {
      const ch = BYTE_TO_CHAR[b];
      if (this.specialIds.has(ch)) throw new Error(`ByteLevelBpe: special token '${ch}' collides with a byte token`);
      index.set(ch, tokens.length);
      tokens.push(ch);
      bytes.push(Uint8Array.of(b));
    }
    this.merges = merges.map(([a, b]) => [a, b] as const);
    this.mergeResult = new Int32Array(merges.length);
    this.mergeRank = new Map();
    // Pair keys a * K + b need K > any id; the final size is at most tokens + merges.
    this.keyBase = tokens.length + merges.length;
    merges.forEach(([a, b], rank) => {
      const n = tokens.length;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < S || b < S || a >= n || b >= n) {
        throw new Error(`ByteLevelBpe: merge ${rank} [${a}, ${b}] refers to an unknown or special token`);
      }
      const text = tokens[a] + tokens[b];
      if (this.specialIds.has(text)) throw new Error(`ByteLevelBpe: merge ${rank} makes '${text}', a special token`);
      let id = index.get(text);
      if (id === undefined) {
        id = tokens.length;
        index.set(text, id);
        tokens.push(text);
        const both = new Uint8Array(bytes[a].length + bytes[b].length);
        both.set(bytes[a]);
        both.set(bytes[b], bytes[a].length);
        bytes.push(both);
      }
      // A repeated pair keeps its last rank, as in @huggingface/tokenizers (cannot come from trainBpe).
      this.mergeRank.set(a * this.keyBase + b, rank);
      this.mergeResult[rank] = id;
    });
    this.tokens = tokens;
    this.tokenBytes = bytes;
    this.vocabSize = tokens.length;
    this.splitter = specialSplitter(this.specialTokens);
  }

  /** BPE of one pre-token's bytes: repeatedly merge the lowest-rank adjacent pair, leftmost first. */
  private bpe(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached !== undefined) return cached;
    const raw = utf8(piece);
    const n = raw.length;
    const S = this.specialTokens.length;
    const sym = new Int32Array(n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      sym[i] = S + raw[i];
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new PairHeap(); // (rank, position of the left symbol)
    const K = this.keyBase;
    const rankAt = (i: number): number => {
      const j = next[i];
      if (j < 0) return -1;
      const r = this.mergeRank.get(sym[i] * K + sym[j]);
      return r === undefined ? -1 : r;
    };
    for (let i = 0; i + 1 < n; i++) {
      const r = rankAt(i);
      if (r >= 0) heap.push(r, i);
    }
    while (heap.pop()) {
      const r = heap.topPrimary;
      const i = heap.topSecondary;
      if (!alive[i] || rankAt(i) !== r) continue; // stale entry
      const j = next[i];
      sym[i] = this.mergeResult[r];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) {
        const rp = rankAt(prev[i]);
        if (rp >= 0) heap.push(rp, prev[i]);
      }
      const rn = rankAt(i);
      if (rn >= 0) heap.push(rn, i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]) out.push(sym[i]);
    if (piece.length <= 256) {
      if (this.cache.size >= 1 << 17) this.cache.clear();
      this.cache.set(piece, out);
    }
    return out;
  }

  /** Token ids of text: special-token text becomes its id, the rest is split and BPE-encoded. */
  encode(text: string, options: BpeEncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`ByteLevelBpe.encode: text must be a string, got ${typeof text}`);
    const out: number[] = [];
    if (options.addSpecialTokens ?? true) out.push(this.bosId);
    const re = new RegExp(SPLIT_REGEX_SOURCE, 'gu');
    forEachSegment(
      text,
      this.splitter,
      this.specialIds,
      (segment) => {
        re.lastIndex = 0;
        let prevEnd = 0;
        for (let m = re.exec(segment); m !== null; m = re.exec(segment)) {
          if (m.index > prevEnd) for (const id of this.bpe(segment.slice(prevEnd, m.index))) out.push(id);
          for (const id of this.bpe(m[0])) out.push(id);
          prevEnd = m.index + m[0].length;
        }
        if (prevEnd < segment.length) for (const id of this.bpe(segment.slice(prevEnd))) out.push(id);
      },
      (id) => out.push(id),
    );
    return out;
  }

  /**
   * Text of token ids. As in HF's ByteLevel decoder, the bytes between special tokens are decoded
   * separately, invalid UTF-8 becoming U+FFFD.
   */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const S = this.specialTokens.length;
    const decoder = new TextDecoder();
    let text = '';
    let pending: number[] = [];
    const flush = () => {
      if (pending.length > 0) text += decoder.decode(Uint8Array.from(pending));
      pending = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new Error(`ByteLevelBpe.decode: ids[${i}] = ${id} is not a token id (vocabSize ${this.vocabSize})`);
      }
      if (id < S) {
        if (options.skipSpecialTokens) continue;
        flush();
        text += this.specialTokens[id];
      } else {
        for (const b of this.tokenBytes[id]) pending.push(b);
      }
    }
    flush();
    return text;
  }

  /** The HF tokenizer.json object for this model. */
  toTokenizerJson(): Record<string, unknown> {
    const vocab: Record<string, number> = {};
    this.tokens.forEach((t, id) => {
      vocab[t] = id;
    });
    const bos = this.specialTokens[this.bosId];
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: this.specialTokens.map((content, id) => ({
        id,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          { SpecialToken: { id: bos, type_id: 0 } },
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: bos, type_id: 1 } },
          { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { [bos]: { id: bos, ids: [this.bosId], tokens: [bos] } },
      },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: this.merges.map(([a, b]) => [this.tokens[a], this.tokens[b]]),
      },
    };
  }

  /** The HF tokenizer_config.json object for this model (DeepSeekMath chat template included). */
  toTokenizerConfig(): Record<string, unknown> {
    const addedTokensDecoder: Record<string, unknown> = {};
    this.specialTokens.forEach((content, id) => {
      addedTokensDecoder[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
    });
    return {
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: this.specialTokens[this.bosId],
      eos_token: this.specialTokens[this.eosId],
      pad_token: this.specialTokens[this.padId],
      additional_special_tokens: this.specialTokens.slice(DEFAULT_SPECIAL_TOKENS.length),
      added_tokens_decoder: addedTokensDecoder,
      clean_up_tokenization_spaces: false,
      model_input_names: ['input_ids', 'attention_mask'],
      chat_template: DEEPSEEKMATH_CHAT_TEMPLATE,
    };
  }

  /** This model as a Tokenizer (built from its tokenizer.json through @huggingface/tokenizers). */
  toTokenizer(): Tokenizer {
    return Tokenizer.fromJSON(this.toTokenizerJson(), this.toTokenizerConfig());
  }
}

/**
 * Learns a byte-level BPE model from texts. The vocabulary is special tokens (<|bos|>, <|eos|>,
 * <|pad|>, then options.specialTokens) + 256 bytes + merges, exactly options.vocabSize tokens unless
 * the corpus runs out of pairs occurring at least minFrequency times. Special-token text in the
 * corpus is cut out before counting. Deterministic: the same texts give the same merges.
 */
export function trainBpeModel(texts: Iterable<string>, options: TrainBpeOptions): ByteLevelBpe {
  if (!isIterable(texts)) throw new Error('trainBpe: texts must be an iterable of strings');
  if (typeof options !== 'object' || options === null) throw new Error('trainBpe: options { vocabSize } are required');
  const extra = options.specialTokens ?? [];
  if (!Array.isArray(extra) || extra.some((t) => typeof t !== 'string' || t.length === 0)) {
    throw new Error('trainBpe: specialTokens must be an array of non-empty strings');
  }
  const specials: string[] = [...DEFAULT_SPECIAL_TOKENS];
  for (const t of extra) if (!specials.includes(t)) specials.push(t);
  const S = specials.length;
  const { vocabSize } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < S + 256 || vocabSize > 1 << 20) {
    throw new Error(`trainBpe: vocabSize must be an integer in [${S + 256} (special tokens + 256 bytes), ${1 << 20}], got ${vocabSize}`);
  }
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new Error(`trainBpe: minFrequency must be a positive integer, got ${minFrequency}`);
  }
  const onProgress = options.onProgress;

  // 1. Count pre-tokens.
  const specialIds = new Map(specials.map((t, i) => [t, i]));
  const splitter = specialSplitter(specials);
  const re = new RegExp(SPLIT_REGEX_SOURCE, 'gu');
  const wordFreq = new Map<string, number>();
  const add = (w: string) => wordFreq.set(w, (wordFreq.get(w) ?? 0) + 1);
  let nTexts = 0;
  for (const text of texts) {
    if (typeof text !== 'string') throw new Error(`trainBpe: texts[${nTexts}] is ${typeof text}, not a string`);
    forEachSegment(text, splitter, specialIds, (segment) => {
      re.lastIndex = 0;
      let prevEnd = 0;
      for (let m = re.exec(segment); m !== null; m = re.exec(segment)) {
        if (m.index > prevEnd) add(segment.slice(prevEnd, m.index));
        add(m[0]);
        prevEnd = m.index + m[0].length;
      }
      if (prevEnd < segment.length) add(segment.slice(prevEnd));
    });
    nTexts++;
    if (onProgress && nTexts % 1000 === 0) onProgress({ phase: 'count', done: nTexts });
  }
  onProgress?.({ phase: 'count', done: nTexts });

  // 2. Unique words as symbol-id arrays; pair counts and pair -> words index.
  const K = vocabSize; // pair key = left * K + right (ids < vocabSize)
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of wordFreq) {
    const bytes = utf8(w);
    if (bytes.length < 2) continue; // no pairs: nothing to learn from
    const sym = new Array<number>(bytes.length);
    for (let i = 0; i < bytes.length; i++) sym[i] = S + bytes[i];
    words.push(sym);
    counts.push(c);
  }
  wordFreq.clear();
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addWord = (key: number, w: number) => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < words.length; w++) {
    const sym = words[w];
    const c = counts[w];
    for (let i = 0; i + 1 < sym.length; i++) {
      const key = sym[i] * K + sym[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + c);
      addWord(key, w);
    }
  }
  // Max-heap on count (stored negated), ties to the smallest key, with lazy updates: an entry is
  // valid when its count is the pair's current count.
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(-c, key);

  // 3. Merge.
  const tokens: string[] = [...specials];
  for (let b = 0; b < 256; b++) tokens.push(BYTE_TO_CHAR[b]);
  const index = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (i >= S) index.set(t, i);
  });
  const merges: [number, number][] = [];
  const target = vocabSize - tokens.length;
  const touched = new Set<number>();
  while (tokens.length < vocabSize) {
    let best = -1;
    while (heap.pop()) {
      const c = -heap.topPrimary;
      const key = heap.topSecondary;
      const current = pairCount.get(key) ?? 0;
      if (current === c) {
        best = key;
        break;
      }
      if (current > 0 && current < c) heap.push(-current, key); // stale: requeue with the current count
    }
    if (best < 0 || (pairCount.get(best) ?? 0) < minFrequency) break;
    const a = Math.floor(best / K);
    const b = best - a * K;
    const text = tokens[a] + tokens[b];
    let id = index.get(text);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(text);
      index.set(text, id);
    }
    merges.push([a, b]);

    const list = pairWords.get(best) ?? [];
    pairWords.delete(best);
    touched.clear();
    for (const w of list) {
      const sym = words[w];
      let found = false;
      for (let i = 0; i + 1 < sym.length; i++) {
        if (sym[i] === a && sym[i + 1] === b) {
          found = true;
          break;
        }
      }
      if (!found) continue;
      const c = counts[w];
      for (let i = 0; i + 1 < sym.length; i++) {
        const key = sym[i] * K + sym[i + 1];
        const left = pairCount.get(key)! - c;
        if (left > 0) pairCount.set(key, left);
        else pairCount.delete(key);
      }
      const out: number[] = [];
      for (let i = 0; i < sym.length; i++) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(sym[i]);
      }
      words[w] = out;
      for (let i = 0; i + 1 < out.length; i++) {
        const key = out[i] * K + out[i + 1];
        pairCount.set(key, (pairCount.get(key) ?? 0) + c);
        if (out[i] === id || out[i + 1] === id) {
          touched.add(key);
          addWord(key, w);
        }
      }
    }
    // Only pairs with the new token can have grown; every other count only shrinks (lazy entries).
    for (const key of touched) {
      const c = pairCount.get(key);
      if (c !== undefined) heap.push(-c, key);
    }
    if (onProgress && merges.length % 256 === 0) onProgress({ phase: 'merge', done: merges.length, total: target });
  }
  onProgress?.({ phase: 'merge', done: merges.length, total: target });
  return new ByteLevelBpe(specials, merges);
}

/** Trains a byte-level BPE tokenizer (see trainBpeModel); save it with tokenizer.save(dir). */
export function trainBpe(texts: Iterable<string>, options: TrainBpeOptions): Tokenizer {
  return trainBpeModel(texts, options).toTokenizer();
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && x !== undefined && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function' && typeof x !== 'string';
}
