// Supervised fine-tuning data: JSONL conversations → token ids with a loss mask on the assistant's
// tokens only → packed batches.
//
// Accepted lines (one JSON object each):
//   {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}, ...]}
//   {"prompt": ..., "response": ...}   (also "completion" / "output" for the response)
//   {"question": ..., "answer": ...}   (GSM8K: the answer's <<calc>> notes are dropped and its
//                                       "#### n" line becomes "The final answer is \boxed{n}")
//   {"problem": ..., "solution": ...}  (MATH)
// Single-turn formats get the chain-of-thought suffix appended to the question (configurable).
// Conversations are rendered with the tokenizer's chat template (the DeepSeekMath format
// "User: {q}\n\nAssistant: {a}<eos>" when it has none).
import type { ChatMessage, Tokenizer } from '../tokenizer';
import { Rng } from '../util/rng';
import { Batch, IGNORE_INDEX, LoaderState, emptyBatch } from './packing';
import { InputReport, OnBadLine, badLine, listNumbers, readLines, openInput } from './tokens';
import * as fs from 'fs';

export const COT_SUFFIX = 'Please reason step by step, and put your final answer within \\boxed{}.';

export interface SftReadOptions {
  /** Appended to the question of single-turn formats after a newline; '' or null: nothing. */
  cotSuffix?: string | null;
  /** Malformed lines: stop with an error naming the line (default) or skip and report them. */
  onBadLine?: OnBadLine;
  report?: InputReport;
}

export interface SftExample {
  messages: ChatMessage[];
  file: string;
  line: number;
}

/** A GSM8K answer as a solution: calculator notes removed, ending with "The final answer is \boxed{n}". */
export function gsm8kSolution(answer: string): string {
  const i = answer.lastIndexOf('####');
  const body = (i >= 0 ? answer.slice(0, i) : answer).replace(/<<[^>]*>>/g, '').trim();
  if (i < 0) return body;
  const final = answer.slice(i + 4).trim().replace(/,/g, '');
  return `${body}\nThe final answer is \\boxed{${final}}`;
}

function withSuffix(q: string, suffix: string | null | undefined): string {
  const s = suffix === undefined ? COT_SUFFIX : suffix;
  return s ? `${q}\n${s}` : q;
}

function str(x: unknown): x is string {
  return typeof x === 'string';
}

/** The conversation of one parsed JSONL object, or a reason why it is not one. */
export function toMessages(obj: unknown, opts: Pick<SftReadOptions, 'cotSuffix'> = {}): ChatMessage[] | string {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return 'not a JSON object';
  const o = obj as Record<string, unknown>;
  if ('messages' in o) {
    const m = o.messages;
    if (!Array.isArray(m) || m.length === 0) return '"messages" must be a non-empty array';
    const out: ChatMessage[] = [];
    for (let i = 0; i < m.length; i++) {
      const e = m[i] as Record<string, unknown>;
      if (e === null || typeof e !== 'object' || !str(e.role) || !str(e.content))
        return `messages[${i}] must be {"role": string, "content": string}`;
      if (!['system', 'user', 'assistant'].includes(e.role)) return `messages[${i}] has unknown role "${e.role}"`;
      out.push({ role: e.role, content: e.content });
    }
    if (!out.some((x) => x.role === 'assistant')) return 'no assistant message (nothing to learn)';
    return out;
  }
  const pairs: [string, string[], (a: string) => string][] = [
    ['prompt', ['response', 'completion', 'output'], (a) => a],
    ['question', ['answer'], gsm8kSolution],
    ['problem', ['solution'], (a) => a],
  ];
  for (const [qk, aks, conv] of pairs) {
    if (!(qk in o)) continue;
    const ak = aks.find((k) => k in o);
    if (!ak) return `"${qk}" without ${aks.map((k) => `"${k}"`).join(' or ')}`;
    const q = o[qk];
    const a = o[ak];
    if (!str(q) || !str(a)) return `"${qk}" and "${ak}" must be strings`;
    if (a.trim() === '') return `empty "${ak}"`;
    return [
      { role: 'user', content: withSuffix(q, opts.cotSuffix) },
      { role: 'assistant', content: conv(a) },
    ];
  }
  return 'expected "messages", "prompt"/"response", "question"/"answer" or "problem"/"solution"';
}

/** The conversations of SFT JSONL files, streamed, with bad lines reported by number. */
export function* readSft(files: string | string[], opts: SftReadOptions = {}): Generator<SftExample> {
  const list = typeof files === 'string' ? [files] : files;
  if (list.length === 0) throw new Error('sft data: no input files given');
  for (const f of list) fs.closeSync(openInput(f, 'sft data'));
  const report = opts.report ?? new InputReport();
  const onBad = opts.onBadLine ?? 'error';
  for (const file of list) {
    for (const { text, lineNo } of readLines(file, 'sft data')) {
      if (text.trim() === '') continue;
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        badLine(report, onBad, file, lineNo, `invalid JSON (${(e as Error).message})`, 'sft data');
        continue;
      }
      const m = toMessages(obj, opts);
      if (typeof m === 'string') {
        badLine(report, onBad, file, lineNo, m, 'sft data');
        continue;
      }
      yield { messages: m, file, line: lineNo };
    }
  }
}

/** Token ids of a conversation and which of them are assistant tokens (the loss targets). */
export interface TokenizedExample {
  ids: Int32Array;
  /** 1 where ids[i] was written by the assistant (its reply and the EOS closing it). */
  target: Uint8Array;
  file?: string;
  line?: number;
}

function commonPrefix(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Tokenizes a conversation with the chat template and marks the assistant's tokens: for each
 * assistant turn, the tokens after the rendered prefix with the generation prompt ("...Assistant:")
 * up to the end of that turn (its EOS included).
 */
export function tokenizeConversation(tok: Tokenizer, messages: ChatMessage[]): TokenizedExample {
  const ids = tok.encodeChat(messages);
  const target = new Uint8Array(ids.length);
  for (let i = 0; i < messages.length; i++) {
    if (messages[i].role !== 'assistant') continue;
    const prefix = tok.encodeChat(messages.slice(0, i), { addGenerationPrompt: true });
    const upto = i + 1 === messages.length ? ids : tok.encodeChat(messages.slice(0, i + 1));
    const start = commonPrefix(prefix, ids);
    const end = commonPrefix(upto, ids);
    for (let j = start; j < end; j++) target[j] = 1;
  }
  return { ids: Int32Array.from(ids), target };
}

export interface SftDatasetOptions extends SftReadOptions {
  tokenizer: Tokenizer;
  /** Longest training sequence: an example may hold seqLen + 1 tokens (seqLen input positions). */
  seqLen: number;
  /** Longer examples are skipped (default) or truncated to seqLen + 1 tokens; either is reported. */
  overLength?: 'skip' | 'truncate';
  /** Fraction of examples held out for evaluation (default 0). */
  evalFraction?: number;
  /** Seed of the train/eval assignment (default 0). */
  seed?: number;
}

export interface SftDataset {
  train: TokenizedExample[];
  eval: TokenizedExample[];
  report: InputReport;
}

/** Reads, tokenizes and splits SFT files (all in memory: SFT sets are small). */
export function loadSftDataset(files: string | string[], opts: SftDatasetOptions): SftDataset {
  const report = opts.report ?? new InputReport();
  const max = opts.seqLen + 1;
  if (!Number.isSafeInteger(opts.seqLen) || opts.seqLen < 1) throw new RangeError(`sft data: seqLen must be a positive integer, got ${opts.seqLen}`);
  const frac = opts.evalFraction ?? 0;
  if (!(frac >= 0 && frac < 1)) throw new RangeError(`sft data: evalFraction must be in [0, 1), got ${frac}`);
  const mode = opts.overLength ?? 'skip';
  const rng = new Rng(opts.seed ?? 0);
  const train: TokenizedExample[] = [];
  const evalSet: TokenizedExample[] = [];
  const long: number[] = [];
  const empty: number[] = [];
  let longest = 0;
  let n = 0;
  for (const ex of readSft(files, { ...opts, report })) {
    n++;
    let t: TokenizedExample;
    try {
      t = tokenizeConversation(opts.tokenizer, ex.messages);
    } catch (e) {
      badLine(report, opts.onBadLine ?? 'error', ex.file, ex.line, (e as Error).message, 'sft data');
      continue;
    }
    t.file = ex.file;
    t.line = ex.line;
    if (t.ids.length > max) {
      long.push(ex.line);
      longest = Math.max(longest, t.ids.length);
      if (mode === 'skip') continue;
      t = { ...t, ids: t.ids.slice(0, max), target: t.target.slice(0, max) };
    }
    // a target at position 0 has no input before it: only positions >= 1 are scored
    if (!t.target.subarray(1).some((v) => v === 1)) {
      empty.push(ex.line);
      continue;
    }
    (frac > 0 && rng.next() < frac ? evalSet : train).push(t);
  }
  const list = typeof files === 'string' ? [files] : files;
  if (long.length)
    report.notes.push(
      `${mode === 'skip' ? 'skipped' : 'truncated'} ${long.length} example${long.length > 1 ? 's' : ''} longer than ${max} tokens ` +
        `(seqLen ${opts.seqLen} + 1; longest ${longest}) at line${long.length > 1 ? 's' : ''} ${listNumbers(long)}`,
    );
  if (empty.length)
    report.notes.push(`skipped ${empty.length} example${empty.length > 1 ? 's' : ''} with no assistant tokens left at line${empty.length > 1 ? 's' : ''} ${listNumbers(empty)}`);
  if (n === 0) throw new Error(`sft data: no examples in ${list.join(', ')} (empty${report.badLineCount ? ' after skipping malformed lines' : ''})`);
  if (train.length + evalSet.length === 0)
    throw new Error(`sft data: none of the ${n} examples can be used: ${report.notes.join('; ')}`);
  if (frac > 0 && evalSet.length === 0) {
    if (train.length < 2) throw new Error('sft data: an eval split needs at least 2 usable examples');
    evalSet.push(train.pop()!);
  }
  if (train.length === 0) throw new Error(`sft data: all ${evalSet.length} usable examples went to the eval split; lower evalFraction`);
  return { train, eval: evalSet, report };
}

export interface SftPackOptions {
  seqLen: number;
  batchSize: number;
  seed?: number;
  shuffle?: boolean;
  /** Several examples per row, separated by segment ids (default true); false: one per row. */
  pack?: boolean;
  /** Input id at padding positions (default 0). */
  padId?: number;
}

/**
 * Writes example ex at row `row`, offset `at` (it occupies ids.length - 1 positions): labels are its
 * next tokens where they are assistant tokens.
 */
function placeExample(b: Batch, row: number, at: number, ex: TokenizedExample, seg: number): number {
  const o = row * b.seqLen + at;
  const n = ex.ids.length - 1;
  for (let t = 0; t < n; t++) {
    b.inputs[o + t] = ex.ids[t];
    b.segmentIds[o + t] = seg;
    if (ex.target[t + 1]) {
      b.labels[o + t] = ex.ids[t + 1];
      b.numTargets++;
    }
  }
  b.numTokens += n;
  return n;
}

/** Batches of SFT examples, packed greedily in a seeded random order per epoch; resumable. */
export class SftLoader {
  readonly seqLen: number;
  readonly batchSize: number;
  readonly size: number;
  private readonly examples: TokenizedExample[];
  private readonly shuffle: boolean;
  private readonly pack: boolean;
  private readonly padId: number;
  private rng: Rng;
  private epochRng;
  private order: Uint32Array | null = null;
  epoch = 0;
  position = 0;

  constructor(examples: TokenizedExample[], opts: SftPackOptions) {
    if (!Number.isSafeInteger(opts.seqLen) || opts.seqLen < 1) throw new RangeError(`SftLoader: seqLen must be a positive integer`);
    if (!Number.isSafeInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`SftLoader: batchSize must be a positive integer`);
    if (examples.length === 0) throw new Error('SftLoader: no examples');
    for (const e of examples)
      if (e.ids.length > opts.seqLen + 1 || e.ids.length < 2)
        throw new RangeError(`SftLoader: an example has ${e.ids.length} tokens; each needs 2..${opts.seqLen + 1} (seqLen + 1)`);
    this.examples = examples;
    this.seqLen = opts.seqLen;
    this.batchSize = opts.batchSize;
    this.size = examples.length;
    this.shuffle = opts.shuffle ?? true;
    this.pack = opts.pack ?? true;
    this.padId = opts.padId ?? 0;
    this.rng = new Rng(opts.seed ?? 0);
    this.epochRng = this.rng.state();
  }

  private ensureOrder(): Uint32Array {
    if (!this.order) {
      this.epochRng = this.rng.state();
      if (this.shuffle) this.order = this.rng.permutation(this.size);
      else this.order = Uint32Array.from({ length: this.size }, (_, i) => i);
    }
    return this.order;
  }

  private advance(): void {
    if (++this.position >= this.size) {
      this.epoch++;
      this.position = 0;
      this.order = null;
    }
  }

  private finishRow(b: Batch, row: number, used: number, seg: number): void {
    const o = row * this.seqLen;
    for (let t = used; t < this.seqLen; t++) {
      b.inputs[o + t] = this.padId;
      b.segmentIds[o + t] = seg;
    }
  }

  next(): Batch {
    const b = emptyBatch(this.batchSize, this.seqLen);
    for (let r = 0; r < this.batchSize; r++) {
      let used = 0;
      let seg = 0;
      for (;;) {
        const ex = this.examples[this.ensureOrder()[this.position]];
        if (used > 0 && (!this.pack || used + ex.ids.length - 1 > this.seqLen)) break;
        used += placeExample(b, r, used, ex, seg++);
        this.advance();
        if (!this.pack) break;
      }
      this.finishRow(b, r, used, seg);
    }
    return b;
  }

  state(): LoaderState {
    this.ensureOrder();
    return { epoch: this.epoch, position: this.position, rng: [...this.epochRng] as LoaderState['rng'], size: this.size };
  }

  setState(s: LoaderState): void {
    if (s.size !== this.size) throw new Error(`SftLoader: saved state is for ${s.size} examples, this data has ${this.size}`);
    this.rng = Rng.fromState(s.rng);
    this.order = null;
    this.epoch = s.epoch;
    this.position = s.position;
    this.ensureOrder();
  }

  /** All examples in order (packed the same way), at most maxBatches batches; for evaluation. */
  *inOrder(maxBatches = Infinity): Generator<Batch> {
    let i = 0;
    for (let k = 0; k < maxBatches && i < this.size; k++) {
      const b = emptyBatch(this.batchSize, this.seqLen);
      for (let r = 0; r < this.batchSize && i < this.size; r++) {
        let used = 0;
        let seg = 0;
        while (i < this.size) {
          const ex = this.examples[i];
          if (used > 0 && (!this.pack || used + ex.ids.length - 1 > this.seqLen)) break;
          used += placeExample(b, r, used, ex, seg++);
          i++;
          if (!this.pack) break;
        }
        this.finishRow(b, r, used, seg);
      }
      yield b;
    }
  }
}

export { IGNORE_INDEX };
