// Streaming JSONL shards: documents are read line by line (node:readline over a file stream, gzip
// when the name ends in .gz), so a pool never has to fit in memory. A document is one JSON object per
// line with a string `text` (and usually a string `url`); blank lines are ignored. A line that is not
// JSON, not an object, or has no string `text` is malformed: with `onBad: 'skip'` (the default) it is
// reported (file and 1-based line number) and skipped, with 'stop' reading throws at that line.
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import * as zlib from 'zlib';

export interface Doc {
  url?: string;
  text: string;
  [field: string]: unknown;
}

export interface DocRef {
  doc: Doc;
  file: string;
  /** 1-based line number in `file`. */
  line: number;
}

export interface BadLine {
  file: string;
  line: number;
  reason: string;
}

export interface ReadOptions {
  /** What to do with a malformed line: 'skip' (default: report and go on) or 'stop' (throw). */
  onBad?: 'skip' | 'stop';
  /** Called for each malformed line that is skipped. */
  onBadLine?: (bad: BadLine) => void;
  /** Required string fields besides `text` (e.g. ['label'] for training data). */
  requireFields?: string[];
}

const SHARD_RE = /\.jsonl(\.gz)?$/;

/** Expands files and directories (their *.jsonl / *.jsonl.gz files, sorted, not recursive). */
export function listShards(inputs: string | string[]): string[] {
  const out: string[] = [];
  for (const p of Array.isArray(inputs) ? inputs : [inputs]) {
    if (!fs.existsSync(p)) throw new Error(`no such file or directory: ${p}`);
    if (fs.statSync(p).isDirectory()) {
      const files = fs.readdirSync(p).filter((f) => SHARD_RE.test(f)).sort();
      if (files.length === 0) throw new Error(`no .jsonl files in ${p}`);
      for (const f of files) out.push(path.join(p, f));
    } else out.push(p);
  }
  return out;
}

/** Parses one line; returns the document or the reason it is malformed. */
export function parseDocLine(line: string, requireFields: string[] = []): Doc | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return `invalid JSON (${(e as Error).message})`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (typeof o.text !== 'string') return "missing string field 'text'";
  if (o.url !== undefined && typeof o.url !== 'string') return "field 'url' is not a string";
  for (const f of requireFields) if (typeof o[f] !== 'string') return `missing string field '${f}'`;
  return o as Doc;
}

function openLines(file: string): readline.Interface {
  let stream: NodeJS.ReadableStream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  if (file.endsWith('.gz')) stream = stream.pipe(zlib.createGunzip());
  return readline.createInterface({ input: stream, crlfDelay: Infinity });
}

/** Streams the documents of the given shards in order. */
export async function* readDocs(inputs: string | string[], opts: ReadOptions = {}): AsyncGenerator<DocRef> {
  const onBad = opts.onBad ?? 'skip';
  for (const file of listShards(inputs)) {
    let line = 0;
    for await (const text of openLines(file)) {
      line++;
      if (text.length === 0 || /^\s*$/.test(text)) continue;
      const doc = parseDocLine(text, opts.requireFields);
      if (typeof doc === 'string') {
        if (onBad === 'stop') throw new Error(`${file}:${line}: malformed line: ${doc}`);
        opts.onBadLine?.({ file, line, reason: doc });
        continue;
      }
      yield { doc, file, line };
    }
  }
}

/** Reads all documents into memory (small files: seeds, labelled sets). */
export async function readAllDocs(inputs: string | string[], opts: ReadOptions = {}): Promise<DocRef[]> {
  const out: DocRef[] = [];
  for await (const r of readDocs(inputs, opts)) out.push(r);
  return out;
}

/** Reads any JSONL file into plain objects (benchmark files), with line-numbered errors. */
export async function* readJsonObjects(file: string): AsyncGenerator<{ obj: Record<string, unknown>; line: number }> {
  let line = 0;
  for await (const text of openLines(file)) {
    line++;
    if (/^\s*$/.test(text)) continue;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}:${line}: invalid JSON (${(e as Error).message})`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}:${line}: not a JSON object`);
    yield { obj: v as Record<string, unknown>, line };
  }
}

/** A JSONL writer that respects stream back-pressure. */
export class JsonlWriter {
  private readonly stream: fs.WriteStream;
  count = 0;
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.stream = fs.createWriteStream(file);
  }
  async write(obj: unknown): Promise<void> {
    this.count++;
    if (!this.stream.write(JSON.stringify(obj) + '\n')) {
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(e);
        this.stream.once('error', onErr);
        this.stream.once('drain', () => {
          this.stream.off('error', onErr);
          resolve();
        });
      });
    }
  }
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
  }
}

/** A short id for reports: the url when there is one, else file:line. */
export function docId(r: DocRef): string {
  return r.doc.url ?? `${r.file}:${r.line}`;
}
