// Text corpora → token files on disk.
//
// A corpus is one or more files: plain text (documents separated by blank lines, or one per line, or
// one per file) or JSONL with a `text` field. Documents are tokenized one at a time (each followed by
// EOS) and streamed into a token file: a fixed 4096-byte header (magic + JSON) then the ids as
// little-endian u16 (vocabularies up to 65,535) or u32. TokenFile reads ranges with fs.readSync, so
// corpora larger than memory work. Files are written under a temporary name and renamed into place.
import * as fs from 'fs';
import * as path from 'path';
import { StringDecoder } from 'string_decoder';
import type { Tokenizer } from '../tokenizer';
import { Rng } from '../util/rng';

// ---------------------------------------------------------------------------------------------
// Reading files line by line (chunked, any size)

export interface Line {
  text: string;
  /** 1-based line number. */
  lineNo: number;
}

/** Opens a file for reading with a clear message when it is missing or not a file. */
export function openInput(file: string, what: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${what}: cannot read '${file}': ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (st.isDirectory()) throw new Error(`${what}: '${file}' is a directory, not a file`);
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    throw new Error(`${what}: cannot read '${file}': ${(e as Error).message}`);
  }
}

/** The lines of a UTF-8 file (without their \n or \r\n), read in 1 MiB chunks. */
export function* readLines(file: string, what = 'input'): Generator<Line> {
  const fd = openInput(file, what);
  try {
    const buf = Buffer.alloc(1 << 20);
    const dec = new StringDecoder('utf8');
    let rest = '';
    let lineNo = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      rest += dec.write(buf.subarray(0, n));
      let start = 0;
      for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n', start)) {
        let line = rest.slice(start, i);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        yield { text: line, lineNo: ++lineNo };
        start = i + 1;
      }
      rest = rest.slice(start);
    }
    rest += dec.end();
    if (rest.length > 0) yield { text: rest.endsWith('\r') ? rest.slice(0, -1) : rest, lineNo: ++lineNo };
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Bad-line reporting shared by the corpus and SFT readers

export type OnBadLine = 'error' | 'skip';

export interface BadLine {
  file: string;
  line: number;
  reason: string;
}

/** What a reader skipped (bad lines, and for SFT, over-long examples). */
export class InputReport {
  /** Skipped malformed lines (the first 1000 are kept; `badLineCount` counts them all). */
  readonly badLines: BadLine[] = [];
  badLineCount = 0;
  /** Other notes (e.g. skipped or truncated examples), as sentences. */
  readonly notes: string[] = [];

  addBadLine(b: BadLine): void {
    this.badLineCount++;
    if (this.badLines.length < 1000) this.badLines.push(b);
  }

  /** One line per kind of problem, for printing; [] when nothing was skipped. */
  summary(): string[] {
    const out: string[] = [];
    if (this.badLineCount) {
      const byFile = new Map<string, number[]>();
      for (const b of this.badLines) {
        if (!byFile.has(b.file)) byFile.set(b.file, []);
        byFile.get(b.file)!.push(b.line);
      }
      const where = [...byFile].map(([f, ls]) => `${f} line${ls.length > 1 ? 's' : ''} ${listNumbers(ls)}`).join('; ');
      out.push(`skipped ${this.badLineCount} malformed line${this.badLineCount > 1 ? 's' : ''} (${where}); first: ${this.badLines[0].reason}`);
    }
    out.push(...this.notes);
    return out;
  }
}

/** "3, 7, 9 and 12 more" */
export function listNumbers(ns: number[], max = 10): string {
  const head = ns.slice(0, max).join(', ');
  return ns.length > max ? `${head} and ${ns.length - max} more` : head;
}

/** Handles one malformed line: throws (onBadLine 'error') or records it. */
export function badLine(report: InputReport, onBadLine: OnBadLine, file: string, line: number, reason: string, what: string): void {
  if (onBadLine === 'error')
    throw new Error(`${what}: ${file} line ${line}: ${reason} (skip such lines with onBadLine 'skip' / --on-bad-line skip)`);
  report.addBadLine({ file, line, reason });
}

// ---------------------------------------------------------------------------------------------
// Corpus documents

export interface CorpusOptions {
  /** 'auto' (default): .jsonl/.ndjson/.json files are JSONL, everything else text. */
  format?: 'auto' | 'text' | 'jsonl';
  /** How a text file is cut into documents: at blank lines (default), at every line, or not at all. */
  textSplit?: 'paragraph' | 'line' | 'file';
  /** The JSONL field holding the text (default 'text'). */
  textField?: string;
  /** Malformed JSONL lines: stop with an error naming the line (default) or skip and report them. */
  onBadLine?: OnBadLine;
  /** Collects skipped lines. */
  report?: InputReport;
}

export interface CorpusDocument {
  text: string;
  file: string;
  /** Line where the document starts (1-based). */
  line: number;
}

function isJsonl(file: string, format: CorpusOptions['format']): boolean {
  if (format === 'jsonl') return true;
  if (format === 'text') return false;
  return /\.(jsonl|ndjson|json)$/i.test(file);
}

/** The documents of corpus files, streamed (whitespace-only documents are dropped). */
export function* readCorpus(files: string | string[], opts: CorpusOptions = {}): Generator<CorpusDocument> {
  const list = typeof files === 'string' ? [files] : files;
  if (list.length === 0) throw new Error('corpus: no input files given');
  const report = opts.report ?? new InputReport();
  const onBad = opts.onBadLine ?? 'error';
  const field = opts.textField ?? 'text';
  const split = opts.textSplit ?? 'paragraph';
  for (const f of list) fs.closeSync(openInput(f, 'corpus')); // fail early on a missing file, before any work
  for (const file of list) {
    if (isJsonl(file, opts.format)) {
      for (const { text, lineNo } of readLines(file, 'corpus')) {
        if (text.trim() === '') continue;
        let obj: unknown;
        try {
          obj = JSON.parse(text);
        } catch (e) {
          badLine(report, onBad, file, lineNo, `invalid JSON (${(e as Error).message})`, 'corpus');
          continue;
        }
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
          badLine(report, onBad, file, lineNo, 'not a JSON object', 'corpus');
          continue;
        }
        const t = (obj as Record<string, unknown>)[field];
        if (typeof t !== 'string') {
          badLine(report, onBad, file, lineNo, `no string field "${field}"`, 'corpus');
          continue;
        }
        if (t.trim() !== '') yield { text: t, file, line: lineNo };
      }
    } else if (split === 'line') {
      for (const { text, lineNo } of readLines(file, 'corpus')) if (text.trim() !== '') yield { text, file, line: lineNo };
    } else {
      let cur: string[] = [];
      let start = 0;
      for (const { text, lineNo } of readLines(file, 'corpus')) {
        if (split === 'paragraph' && text.trim() === '') {
          if (cur.length) yield { text: cur.join('\n'), file, line: start };
          cur = [];
          continue;
        }
        if (cur.length === 0) start = lineNo;
        cur.push(text);
      }
      while (cur.length && cur[cur.length - 1].trim() === '') cur.pop(); // trailing blank lines
      if (cur.length) yield { text: cur.join('\n'), file, line: start };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Token files

export const TOKEN_FILE_MAGIC = 'MRLTOK01';
export const TOKEN_FILE_HEADER_BYTES = 4096;

export interface TokenFileHeader {
  version: 1;
  dtype: 'u16' | 'u32';
  numTokens: number;
  numDocs: number;
  vocabSize: number;
  eosId: number;
  bosId?: number;
}

function tempPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
}

/** Streams documents' token ids into a token file (temporary name until finish()). */
export class TokenFileWriter {
  readonly file: string;
  private readonly tmp: string;
  private fd: number | null;
  private readonly dtype: 'u16' | 'u32';
  private buf: Uint16Array | Uint32Array;
  private used = 0;
  numTokens = 0;
  numDocs = 0;

  constructor(
    file: string,
    private readonly meta: { vocabSize: number; eosId: number; bosId?: number },
  ) {
    if (!Number.isSafeInteger(meta.vocabSize) || meta.vocabSize <= 0 || meta.vocabSize > 2 ** 32)
      throw new RangeError(`TokenFileWriter: bad vocabSize ${meta.vocabSize}`);
    this.file = file;
    this.dtype = meta.vocabSize <= 65535 ? 'u16' : 'u32';
    this.buf = this.dtype === 'u16' ? new Uint16Array(1 << 18) : new Uint32Array(1 << 18);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.tmp = tempPath(file);
    this.fd = fs.openSync(this.tmp, 'w');
    fs.writeSync(this.fd, Buffer.alloc(TOKEN_FILE_HEADER_BYTES, 0x20));
  }

  /** Appends one document's ids (the caller includes its EOS). */
  addDocument(ids: ArrayLike<number>): void {
    if (this.fd === null) throw new Error('TokenFileWriter: already finished');
    const V = this.meta.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new RangeError(`TokenFileWriter: token id ${id} is outside the vocabulary (${V})`);
      this.buf[this.used++] = id;
      if (this.used === this.buf.length) this.flush();
    }
    this.numTokens += ids.length;
    this.numDocs++;
  }

  private flush(): void {
    if (this.used === 0 || this.fd === null) return;
    const b = this.buf.subarray(0, this.used);
    writeAll(this.fd, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    this.used = 0;
  }

  header(): TokenFileHeader {
    const h: TokenFileHeader = {
      version: 1,
      dtype: this.dtype,
      numTokens: this.numTokens,
      numDocs: this.numDocs,
      vocabSize: this.meta.vocabSize,
      eosId: this.meta.eosId,
    };
    if (this.meta.bosId !== undefined) h.bosId = this.meta.bosId;
    return h;
  }

  /** Writes the header and renames the file into place. */
  finish(): TokenFileHeader {
    if (this.fd === null) throw new Error('TokenFileWriter: already finished');
    const fd = this.fd;
    try {
      this.flush();
      const h = this.header();
      const json = Buffer.from(JSON.stringify(h), 'utf8');
      const head = Buffer.alloc(TOKEN_FILE_HEADER_BYTES, 0x20);
      head.write(TOKEN_FILE_MAGIC, 0, 'latin1');
      head.writeUInt32LE(json.length, 8);
      json.copy(head, 12);
      fs.writeSync(fd, head, 0, head.length, 0);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      this.fd = null;
      fs.renameSync(this.tmp, this.file);
      return h;
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Removes the temporary file (nothing is left behind). */
  abort(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = null;
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

/** Random access to a token file: read(start, count) reads just that range from disk. */
export class TokenFile {
  readonly file: string;
  readonly header: TokenFileHeader;
  private fd: number | null;
  private readonly bytes: number;

  private constructor(file: string, fd: number, header: TokenFileHeader) {
    this.file = file;
    this.fd = fd;
    this.header = header;
    this.bytes = header.dtype === 'u16' ? 2 : 4;
  }

  static open(file: string): TokenFile {
    const fd = openInput(file, 'token file');
    const bad = (m: string): never => {
      fs.closeSync(fd);
      throw new Error(`token file: '${file}': ${m}`);
    };
    const size = fs.fstatSync(fd).size;
    if (size < TOKEN_FILE_HEADER_BYTES) bad(`too short (${size} bytes) to hold a header`);
    const head = Buffer.alloc(TOKEN_FILE_HEADER_BYTES);
    fs.readSync(fd, head, 0, head.length, 0);
    if (head.toString('latin1', 0, 8) !== TOKEN_FILE_MAGIC) bad(`not a mathrl token file (no ${TOKEN_FILE_MAGIC} magic)`);
    const len = head.readUInt32LE(8);
    if (len > TOKEN_FILE_HEADER_BYTES - 12) bad(`header length ${len} is too large`);
    let h: TokenFileHeader;
    try {
      h = JSON.parse(head.toString('utf8', 12, 12 + len)) as TokenFileHeader;
    } catch (e) {
      return bad(`invalid header JSON (${(e as Error).message})`);
    }
    if (h.version !== 1 || (h.dtype !== 'u16' && h.dtype !== 'u32')) bad(`unsupported version/dtype ${h.version}/${h.dtype}`);
    for (const k of ['numTokens', 'numDocs', 'vocabSize', 'eosId'] as const)
      if (!Number.isSafeInteger(h[k]) || h[k] < 0) bad(`header field ${k} is not a count`);
    const want = TOKEN_FILE_HEADER_BYTES + h.numTokens * (h.dtype === 'u16' ? 2 : 4);
    if (size !== want) bad(`size ${size} bytes does not match its header (${h.numTokens} tokens → ${want} bytes); truncated?`);
    return new TokenFile(file, fd, h);
  }

  get numTokens(): number {
    return this.header.numTokens;
  }

  /** Tokens [start, start + count) (clipped to the file's end). */
  read(start: number, count: number): Uint32Array {
    if (this.fd === null) throw new Error(`token file: '${this.file}' is closed`);
    const n = Math.max(0, Math.min(count, this.numTokens - start));
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`token file: bad start ${start}`);
    const raw = Buffer.alloc(n * this.bytes);
    let off = 0;
    while (off < raw.length) {
      const r = fs.readSync(this.fd, raw, off, raw.length - off, TOKEN_FILE_HEADER_BYTES + start * this.bytes + off);
      if (r === 0) throw new Error(`token file: '${this.file}': unexpected end of file`);
      off += r;
    }
    const out = new Uint32Array(n);
    if (this.bytes === 2) for (let i = 0; i < n; i++) out[i] = raw.readUInt16LE(2 * i);
    else for (let i = 0; i < n; i++) out[i] = raw.readUInt32LE(4 * i);
    return out;
  }

  /** Token counts over the whole file (read in chunks). */
  counts(): Float64Array {
    const c = new Float64Array(this.header.vocabSize);
    const chunk = 1 << 20;
    for (let s = 0; s < this.numTokens; s += chunk) {
      const t = this.read(s, chunk);
      for (let i = 0; i < t.length; i++) c[t[i]]++;
    }
    return c;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Cross-entropy (nats per token) of the unigram model fitted on `train` (add-one smoothed), scored on
 * `evaluate` (default: train itself, i.e. the unigram entropy). The baseline a language model must beat.
 */
export function unigramCrossEntropy(train: TokenFile, evaluate: TokenFile = train): number {
  const c = train.counts();
  const V = c.length;
  const total = train.numTokens + V;
  const e = evaluate === train ? c : evaluate.counts();
  let h = 0;
  let n = 0;
  for (let i = 0; i < V; i++) {
    if (e[i] === 0) continue;
    h -= e[i] * Math.log((c[i] + 1) / total);
    n += e[i];
  }
  return n > 0 ? h / n : NaN;
}

// ---------------------------------------------------------------------------------------------
// Corpus → token files

export interface TokenizeCorpusOptions extends CorpusOptions {
  tokenizer: Tokenizer;
  /** Output token file of the training split. */
  trainFile: string;
  /** Output token file of the held-out split (required when evalFraction > 0). */
  evalFile?: string;
  /** Fraction of documents held out for evaluation (default 0). */
  evalFraction?: number;
  /** Seed of the (deterministic) train/eval document assignment. Default 0. */
  seed?: number;
  /** Encode with the tokenizer's post-processor (e.g. BOS first). Default true. */
  addSpecialTokens?: boolean;
  /** Called every 1000 documents. */
  onProgress?: (p: { docs: number; tokens: number }) => void;
}

export interface TokenizeCorpusResult {
  train: TokenFileHeader;
  eval?: TokenFileHeader;
  report: InputReport;
}

/**
 * Tokenizes corpus files into a training token file (and a held-out one): each document gets EOS
 * appended. Nothing is left behind when reading fails (missing file, malformed line, empty corpus).
 */
export function tokenizeCorpus(files: string | string[], opts: TokenizeCorpusOptions): TokenizeCorpusResult {
  const tok = opts.tokenizer;
  const eos = tok.eosId;
  if (eos === undefined) throw new Error('tokenizeCorpus: the tokenizer has no eos_token (needed between documents)');
  const frac = opts.evalFraction ?? 0;
  if (!(frac >= 0 && frac < 1)) throw new RangeError(`tokenizeCorpus: evalFraction must be in [0, 1), got ${frac}`);
  if (frac > 0 && !opts.evalFile) throw new Error('tokenizeCorpus: evalFraction > 0 needs an evalFile');
  const report = opts.report ?? new InputReport();
  const docs = readCorpus(files, { ...opts, report });
  const meta = { vocabSize: tok.vocabSize, eosId: eos, bosId: tok.bosId };
  const train = new TokenFileWriter(opts.trainFile, meta);
  const ev = frac > 0 ? new TokenFileWriter(opts.evalFile!, meta) : undefined;
  const rng = new Rng(opts.seed ?? 0);
  const addSpecial = opts.addSpecialTokens ?? true;
  let pending: number[] | null = null; // the last train document, held back so the eval split is never empty
  let n = 0;
  let tokens = 0;
  try {
    for (const d of docs) {
      const ids = tok.encode(d.text, { addSpecialTokens: addSpecial });
      if (ids[ids.length - 1] !== eos) ids.push(eos);
      n++;
      tokens += ids.length;
      if (ev && rng.next() < frac) ev.addDocument(ids);
      else {
        if (pending) train.addDocument(pending);
        pending = ids;
      }
      if (n % 1000 === 0) opts.onProgress?.({ docs: n, tokens });
    }
    const list = typeof files === 'string' ? [files] : files;
    if (n === 0)
      throw new Error(`corpus: no documents in ${list.join(', ')} (empty${report.badLineCount ? ' after skipping malformed lines' : ''})`);
    if (ev && ev.numDocs === 0) {
      if (n < 2) throw new Error(`corpus: only 1 document; an eval split needs at least 2 (or set evalFraction 0)`);
      ev.addDocument(pending!);
      pending = null;
    }
    if (pending) train.addDocument(pending);
    if (train.numDocs === 0) throw new Error(`corpus: all ${n} documents went to the eval split; lower evalFraction`);
    const trainHeader = train.finish();
    const evalHeader = ev?.finish();
    return { train: trainHeader, eval: evalHeader, report };
  } catch (e) {
    train.abort();
    ev?.abort();
    throw e;
  }
}
