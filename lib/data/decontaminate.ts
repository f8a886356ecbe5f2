// Benchmark decontamination (DeepSeekMath §2.1): a document is removed when it shares a 10-gram with
// a benchmark question or answer; a benchmark string shorter than 10 words but with at least 3 is
// matched whole, i.e. the document is removed when it contains that string's full word sequence.
// Strings of fewer than 3 words (e.g. most final answers: "18", "\frac{3}{2}") are not used.
//
// Words are those of `wordTokens` (lib/data/text.ts): whitespace-separated, lower-cased, with
// punctuation and markup characters removed, so `$80,000` and `80,000` match. N-grams are kept as
// 53-bit hashes (two independent 32-bit word hashes), so the index of GSM8K test + MATH-500 (~0.3M
// n-grams) is a few MB and a false match has probability ~1e-10 per document n-gram.
import * as fs from 'fs';
import * as path from 'path';
import { ngramKey, U32Buf, words, wordTokens } from './text';
import { readJsonObjects } from './jsonl';
import { U53Map } from './hashmap';

export interface BenchmarkText {
  /** Benchmark name, e.g. 'gsm8k' or 'math500'. */
  source: string;
  /** Item id: `unique_id` when the item has one, else file line number. */
  id: string;
  /** Field the text came from, e.g. 'question'. */
  field: string;
  text: string;
}

const KNOWN_FIELDS = ['question', 'answer', 'problem', 'solution', 'prompt', 'text'];

/** GSM8K's calculator annotations `<<48/2=24>>`, absent from solutions as published elsewhere. */
export function stripCalculatorNotes(s: string): string {
  return s.replace(/<<[^<>]*>>/g, '');
}

/**
 * Loads a benchmark JSONL file: the string fields among question, answer, problem, solution, prompt,
 * text (or the given `fields`). GSM8K answers are indexed twice: as written and without calculator
 * annotations.
 */
export async function loadBenchmarkFile(file: string, source?: string, fields?: string[]): Promise<BenchmarkText[]> {
  const name = source ?? path.basename(file).replace(/\.jsonl(\.gz)?$/, '');
  const out: BenchmarkText[] = [];
  for await (const { obj, line } of readJsonObjects(file)) {
    const id = typeof obj.unique_id === 'string' ? obj.unique_id : `${path.basename(file)}:${line}`;
    const fs_ = fields ?? KNOWN_FIELDS.filter((f) => typeof obj[f] === 'string');
    for (const f of fs_) {
      const v = obj[f];
      if (typeof v !== 'string') throw new Error(`${file}:${line}: field '${f}' is not a string`);
      out.push({ source: name, id, field: f, text: v });
      const stripped = stripCalculatorNotes(v);
      if (stripped !== v) out.push({ source: name, id, field: `${f}(no calculator notes)`, text: stripped });
    }
  }
  if (out.length === 0) throw new Error(`${file}: no benchmark texts found`);
  return out;
}

/** The benchmark test sets in a data folder laid out like ../shared/data: gsm8k/test.jsonl, math/math500_test.jsonl. */
export async function loadBenchmarkDir(dir: string): Promise<BenchmarkText[]> {
  const files: [string, string][] = [
    ['gsm8k', path.join(dir, 'gsm8k', 'test.jsonl')],
    ['math500', path.join(dir, 'math', 'math500_test.jsonl')],
  ];
  const out: BenchmarkText[] = [];
  for (const [name, f] of files) {
    if (!fs.existsSync(f)) throw new Error(`benchmark file ${f} not found (expected ${dir}/gsm8k/test.jsonl and ${dir}/math/math500_test.jsonl)`);
    out.push(...(await loadBenchmarkFile(f, name, name === 'gsm8k' ? ['question', 'answer'] : ['problem', 'solution', 'answer'])));
  }
  return out;
}

export interface DecontaminateOptions {
  /** N-gram length of the main rule (default 10). */
  ngram?: number;
  /** Shortest benchmark string (in words) matched whole by the short-text rule (default 3). */
  minShort?: number;
}

export interface Contamination {
  rule: 'ngram' | 'short';
  benchmark: BenchmarkText;
  /** The matching words of the document. */
  match: string;
  /** Word position of the match in the document. */
  position: number;
}

export class ContaminationIndex {
  readonly ngram: number;
  readonly minShort: number;
  readonly texts: BenchmarkText[];
  /** Long-rule n-gram key → text index. */
  private readonly long = new U53Map(1 << 16);
  /** Short-rule: word count → key → text index. */
  private readonly short = new Map<number, U53Map>();
  readonly stats = { texts: 0, longTexts: 0, shortTexts: 0, ignoredTexts: 0, ngrams: 0 };
  private readonly h1 = new U32Buf(4096);
  private readonly h2 = new U32Buf(4096);

  constructor(texts: BenchmarkText[], opts: DecontaminateOptions = {}) {
    this.ngram = opts.ngram ?? 10;
    this.minShort = opts.minShort ?? 3;
    if (!(Number.isInteger(this.ngram) && this.ngram >= 1)) throw new Error(`decontaminate: ngram must be a positive integer, got ${this.ngram}`);
    if (!(Number.isInteger(this.minShort) && this.minShort >= 1)) throw new Error(`decontaminate: minShort must be a positive integer, got ${this.minShort}`);
    this.texts = texts;
    texts.forEach((t, idx) => {
      this.stats.texts++;
      const [a, b] = this.hashes(t.text);
      const n = a.length;
      if (n >= this.ngram) {
        this.stats.longTexts++;
        for (let i = 0; i + this.ngram <= n; i++) {
          this.long.set(ngramKey(a, b, i, this.ngram), idx, true);
        }
      } else if (n >= this.minShort) {
        this.stats.shortTexts++;
        let m = this.short.get(n);
        if (!m) this.short.set(n, (m = new U53Map(64)));
        m.set(ngramKey(a, b, 0, n), idx, true);
      } else this.stats.ignoredTexts++;
    });
    this.stats.ngrams = this.long.size;
  }

  private hashes(text: string): [Uint32Array, Uint32Array] {
    this.h1.reset();
    this.h2.reset();
    wordTokens(text, this.h1, this.h2);
    return [this.h1.view(), this.h2.view()];
  }

  /** The first benchmark match in `text`, or null when it is clean. */
  match(text: string): Contamination | null {
    const [a, b] = this.hashes(text);
    const n = a.length;
    const found = (rule: 'ngram' | 'short', idx: number, pos: number, len: number): Contamination => ({
      rule,
      benchmark: this.texts[idx],
      match: words(text).slice(pos, pos + len).join(' '),
      position: pos,
    });
    if (this.long.size > 0) {
      for (let i = 0; i + this.ngram <= n; i++) {
        const idx = this.long.get(ngramKey(a, b, i, this.ngram));
        if (idx >= 0) return found('ngram', idx, i, this.ngram);
      }
    }
    for (const [len, m] of this.short) {
      for (let i = 0; i + len <= n; i++) {
        const idx = m.get(ngramKey(a, b, i, len));
        if (idx >= 0) return found('short', idx, i, len);
      }
    }
    return null;
  }
}

/** The reason string of a removal, e.g. '10-gram gsm8k' or 'short-text math500'. */
export function contaminationReason(c: Contamination, ngram: number): string {
  return `${c.rule === 'ngram' ? `${ngram}-gram` : 'short-text'} ${c.benchmark.source}`;
}
