// Data pipeline: corpus reading (text / JSONL, bad lines by number), token files (streamed writes,
// range reads, corruption detected), packed batches whose labels never cross documents, seeded
// shuffling with a resumable loader state, and SFT data (formats, GSM8K conversion, assistant-only
// labels, over-long examples).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tokenizer, trainBpe } from '../lib/tokenizer';
import {
  InputReport, TOKEN_FILE_HEADER_BYTES, TokenFile, TokenFileWriter, readCorpus, readLines, tokenizeCorpus, unigramCrossEntropy,
} from '../lib/data/tokens';
import { Batch, IGNORE_INDEX, PretrainLoader, emptyBatch, fillRow } from '../lib/data/packing';
import { COT_SUFFIX, SftLoader, gsm8kSolution, loadSftDataset, readSft, toMessages, tokenizeConversation } from '../lib/data/sft';
import { Rng } from '../lib/util/rng';

const FIXTURES = path.join(__dirname, 'fixtures');
const CORPUS = path.join(FIXTURES, 'math-corpus.txt');
const GSM8K = path.join(FIXTURES, 'gsm8k-train-sample.jsonl');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-data-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
}

let tokCache: Tokenizer | undefined;
function tokenizer(): Tokenizer {
  if (!tokCache) {
    const texts = [...readCorpus(CORPUS)].slice(0, 400).map((d) => d.text);
    for (const l of fs.readFileSync(GSM8K, 'utf8').split('\n').filter(Boolean)) {
      const o = JSON.parse(l);
      texts.push(o.question, o.answer);
    }
    tokCache = trainBpe(texts, { vocabSize: 400 });
  }
  return tokCache;
}

describe('corpus reading', () => {
  test('lines of any length across chunk boundaries, CRLF, no trailing newline', () => {
    const long = 'x'.repeat(3 << 20);
    const f = write('lines.txt', `a\r\n${long}\n\nlast`);
    const lines = [...readLines(f)];
    expect(lines.map((l) => l.lineNo)).toEqual([1, 2, 3, 4]);
    expect(lines[0].text).toBe('a');
    expect(lines[1].text.length).toBe(long.length);
    expect(lines[3].text).toBe('last');
  });

  test('text: documents at blank lines (or per line / per file); JSONL text field', () => {
    const f = write('c.txt', 'one\ntwo\n\n\n three \n\n');
    expect([...readCorpus(f)].map((d) => [d.text, d.line])).toEqual([['one\ntwo', 1], [' three ', 5]]);
    expect([...readCorpus(f, { textSplit: 'line' })].map((d) => d.text)).toEqual(['one', 'two', ' three ']);
    expect([...readCorpus(f, { textSplit: 'file' })].map((d) => d.text)).toEqual(['one\ntwo\n\n\n three ']);
    const j = write('c.jsonl', '{"text":"a b"}\n\n{"text":"c","id":2}\n');
    expect([...readCorpus(j)].map((d) => [d.text, d.line])).toEqual([['a b', 1], ['c', 3]]);
    const k = write('k.jsonl', '{"content":"z"}\n');
    expect([...readCorpus(k, { textField: 'content' })].map((d) => d.text)).toEqual(['z']);
  });

  test('malformed JSONL lines: an error naming the line, or skipped and reported', () => {
    const f = write('bad.jsonl', '{"text":"ok"}\n{"text": nope}\n[1]\n{"txt":"x"}\n{"text":"fine"}\n');
    expect(() => [...readCorpus(f)]).toThrow(/bad\.jsonl line 2: invalid JSON/);
    const report = new InputReport();
    expect([...readCorpus(f, { onBadLine: 'skip', report })].map((d) => d.text)).toEqual(['ok', 'fine']);
    expect(report.badLines.map((b) => [b.line, b.reason.split(' (')[0]])).toEqual([
      [2, 'invalid JSON'],
      [3, 'not a JSON object'],
      [4, 'no string field "text"'],
    ]);
    expect(report.summary()[0]).toMatch(/^skipped 3 malformed lines \(.*bad\.jsonl lines 2, 3, 4\)/);
  });

  test('missing files and folders fail before anything is read', () => {
    expect(() => [...readCorpus([CORPUS, path.join(tmp, 'nope.txt')])]).toThrow(/corpus: cannot read '.*nope\.txt': no such file/);
    expect(() => [...readCorpus(tmp)]).toThrow(/is a directory/);
  });
});

describe('Rng', () => {
  test('the stream is fixed (saved loader states, the demo world); int, pick, shuffle of any array-like', () => {
    const r = new Rng(42);
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([2837322924, 544945897, 479756282]);
    expect([r.int(10), r.int(1000), r.int(2 ** 32), r.int(3000000000), r.int(1)]).toEqual([2, 180, 113173290, 65323186, 0]);
    expect(Array.from(r.permutation(8))).toEqual([4, 2, 7, 1, 5, 3, 0, 6]);
    expect(r.state()).toEqual([526615108, 682122590, 2947249386, 2284344099]);
    expect(Rng.fromState(r.state()).nextU32()).toBe(r.nextU32());
    expect([new Rng(-5).nextU32(), new Rng(2 ** 40 + 3).nextU32()]).toEqual([628514800, 1837739972]);
    // int agrees with the rejection rule written with %, for small and large ranges.
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 20000; i++) {
      const n = 1 + ((i * 2654435761) % 4294967296);
      const limit = 4294967296 - (4294967296 % n);
      let x = b.nextU32();
      while (x >= limit) x = b.nextU32();
      expect(a.int(n)).toBe(x % n);
    }
    expect(() => r.int(0)).toThrow(/bad range 0/);
    expect(() => r.int(2.5)).toThrow(/bad range/);
    const xs = ['a', 'b', 'c'] as const;
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(r.pick(xs));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    const objs = Array.from({ length: 20 }, (_, i) => ({ i }));
    expect(r.shuffle(objs).map((o) => o.i).sort((p, q) => p - q)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(Array.from(r.shuffle(Int32Array.from([1, 2, 3, 4]))).sort()).toEqual([1, 2, 3, 4]);
  });
});

describe('token files', () => {
  test('streamed writes, range reads, u16 / u32 by vocabulary size', () => {
    for (const V of [300, 70000]) {
      const f = path.join(tmp, `t${V}.tok`);
      const w = new TokenFileWriter(f, { vocabSize: V, eosId: 1 });
      const all: number[] = [];
      const r = new Rng(V);
      for (let d = 0; d < 50; d++) {
        const doc = Array.from({ length: 1 + r.int(7000) }, () => r.int(V));
        w.addDocument(doc);
        all.push(...doc);
      }
      expect(fs.existsSync(f)).toBe(false); // temporary name until finish()
      const h = w.finish();
      expect(h).toMatchObject({ dtype: V > 65535 ? 'u32' : 'u16', numTokens: all.length, numDocs: 50, vocabSize: V });
      const t = TokenFile.open(f);
      expect(fs.statSync(f).size).toBe(TOKEN_FILE_HEADER_BYTES + all.length * (V > 65535 ? 4 : 2));
      for (const [s, n] of [[0, 10], [12345, 999], [all.length - 3, 10], [all.length, 5]])
        expect(Array.from(t.read(s, n))).toEqual(all.slice(s, s + n));
      t.close();
    }
  });

  test('corrupt or truncated files and out-of-range ids are refused', () => {
    const f = path.join(tmp, 'c.tok');
    const w = new TokenFileWriter(f, { vocabSize: 10, eosId: 1 });
    expect(() => w.addDocument([3, 10])).toThrow(/token id 10 is outside the vocabulary \(10\)/);
    w.addDocument([1, 2, 3]);
    w.finish();
    fs.truncateSync(f, fs.statSync(f).size - 1);
    expect(() => TokenFile.open(f)).toThrow(/does not match its header.*truncated/);
    expect(() => TokenFile.open(write('x.tok', 'hello'))).toThrow(/too short/);
    expect(() => TokenFile.open(write('y.tok', 'z'.repeat(5000)))).toThrow(/not a mathrl token file/);
  });

  test('tokenizeCorpus: EOS after every document, a seeded held-out split, nothing left on failure', () => {
    const tok = tokenizer();
    const out = path.join(tmp, 'tc');
    const SUB = write('sub.txt', [...readCorpus(CORPUS)].slice(0, 300).map((d) => d.text).join('\n\n'));
    const r = tokenizeCorpus(SUB, { tokenizer: tok, trainFile: path.join(out, 'train.tok'), evalFile: path.join(out, 'eval.tok'), evalFraction: 0.1, seed: 3 });
    const docs = [...readCorpus(SUB)];
    expect(r.train.numDocs + r.eval!.numDocs).toBe(docs.length);
    expect(r.eval!.numDocs).toBeGreaterThan(docs.length * 0.05);
    const t = TokenFile.open(path.join(out, 'train.tok'));
    const ids = t.read(0, t.numTokens);
    expect(ids.filter((x) => x === tok.eosId).length).toBe(r.train.numDocs);
    expect(ids[ids.length - 1]).toBe(tok.eosId);
    const texts = new Set(docs.map((d) => d.text));
    let start = 0;
    for (let k = 0; k < 5; k++) {
      const end = ids.indexOf(tok.eosId!, start);
      expect(texts.has(tok.decode(Array.from(ids.subarray(start, end)), { skipSpecialTokens: true }))).toBe(true);
      start = end + 1;
    }
    // the same seed gives the same split
    const r2 = tokenizeCorpus(SUB, { tokenizer: tok, trainFile: path.join(out, 'train2.tok'), evalFile: path.join(out, 'eval2.tok'), evalFraction: 0.1, seed: 3 });
    expect(r2.train).toEqual(r.train);
    expect(Buffer.compare(fs.readFileSync(path.join(out, 'train.tok')), fs.readFileSync(path.join(out, 'train2.tok')))).toBe(0);
    // the unigram baseline is a proper cross-entropy: positive, below log V
    const h = unigramCrossEntropy(t);
    expect(h).toBeGreaterThan(1);
    expect(h).toBeLessThan(Math.log(tok.vocabSize));
    t.close();

    const failDir = path.join(tmp, 'fail');
    fs.mkdirSync(failDir);
    const bad = write('bad2.jsonl', '{"text":"a"}\n'.repeat(5) + 'oops\n');
    expect(() => tokenizeCorpus(bad, { tokenizer: tok, trainFile: path.join(failDir, 'train.tok') })).toThrow(/bad2\.jsonl line 6/);
    expect(() => tokenizeCorpus(write('e.txt', '\n\n  \n'), { tokenizer: tok, trainFile: path.join(failDir, 'train.tok') })).toThrow(
      /no documents in .*e\.txt \(empty\)/,
    );
    expect(fs.readdirSync(failDir)).toEqual([]);
  });
});

/** Violations of the packed-batch invariants (plain checks: thousands of expect() calls are slow). */
function rowViolations(b: Batch, eos: number): string[] {
  const T = b.seqLen;
  const bad: string[] = [];
  for (let r = 0; r < b.batchSize; r++) {
    for (let t = 0; t < T; t++) {
      const i = r * T + t;
      // a new document starts exactly after an EOS
      if (t > 0 && b.inputs[i - 1] === eos && b.segmentIds[i] === b.segmentIds[i - 1]) bad.push(`no new segment after EOS at ${i}`);
      if (b.labels[i] === IGNORE_INDEX) continue;
      // a target is the next input of the same document
      if (b.inputs[i] === eos) bad.push(`EOS at ${i} has a target`);
      if (t + 1 < T && (b.labels[i] !== b.inputs[i + 1] || b.segmentIds[i + 1] !== b.segmentIds[i])) bad.push(`label ${i} crosses`);
    }
  }
  return bad;
}

describe('packing', () => {
  test('labels never cross documents; segments restart after EOS; short windows are padded', () => {
    const eos = 1;
    const b = emptyBatch(2, 8);
    fillRow(b, 0, [5, 6, 1, 7, 8, 9, 1, 4, 3], eos, 2);
    fillRow(b, 1, [5, 1, 6], eos, 2);
    expect(Array.from(b.inputs)).toEqual([5, 6, 1, 7, 8, 9, 1, 4, 5, 1, 6, 2, 2, 2, 2, 2]);
    const I = IGNORE_INDEX;
    expect(Array.from(b.labels)).toEqual([6, 1, I, 8, 9, 1, I, 3, 1, I, I, I, I, I, I, I]);
    expect(Array.from(b.segmentIds)).toEqual([0, 0, 0, 1, 1, 1, 1, 2, 0, 0, 1, 2, 2, 2, 2, 2]);
    expect(b.numTargets).toBe(7);
    expect(b.numTokens).toBe(11);
  });

  test('loader: every window once per epoch, seeded order, exact resume from state()', () => {
    const tok = tokenizer();
    const f = path.join(tmp, 'pk.tok');
    tokenizeCorpus(write('small.txt', [...readCorpus(CORPUS)].slice(0, 60).map((d) => d.text).join('\n\n')), { tokenizer: tok, trainFile: f });
    const file = TokenFile.open(f);
    const T = 32;
    const a = new PretrainLoader(file, { seqLen: T, batchSize: 3, seed: 7 });
    const windows = Math.ceil((file.numTokens - 1) / T);
    expect(a.size).toBe(windows);
    // one epoch covers every window exactly once: the concatenated inputs are a permutation of them
    const seen = new Set<string>();
    const all = file.read(0, file.numTokens);
    const batches: Batch[] = [];
    while (a.epoch === 0) {
      const b = a.next();
      expect(rowViolations(b, tok.eosId!)).toEqual([]);
      batches.push(b);
    }
    for (const b of batches)
      for (let r = 0; r < b.batchSize; r++) seen.add(Array.from(b.inputs.subarray(r * T, r * T + 4)).join(','));
    const starts = new Set<string>();
    for (let w = 0; w < windows; w++) starts.add(Array.from(all.subarray(w * T, w * T + 4)).join(','));
    for (const s of starts) expect(seen.has(s)).toBe(true);
    // a different seed gives a different order; the same seed the same
    const b1 = new PretrainLoader(file, { seqLen: T, batchSize: 3, seed: 7 }).next();
    const b2 = new PretrainLoader(file, { seqLen: T, batchSize: 3, seed: 8 }).next();
    expect(Array.from(b1.inputs)).toEqual(Array.from(batches[0].inputs));
    expect(Array.from(b2.inputs)).not.toEqual(Array.from(b1.inputs));
    // resume: state() → JSON → setState() continues with identical batches (across an epoch boundary)
    const c = new PretrainLoader(file, { seqLen: T, batchSize: 3, seed: 7 });
    for (let i = 0; i < Math.floor(windows / 3) - 1; i++) c.next();
    const saved = JSON.parse(JSON.stringify(c.state()));
    const d = new PretrainLoader(file, { seqLen: T, batchSize: 3, seed: 999 });
    d.setState(saved);
    for (let i = 0; i < 4; i++) expect(Array.from(d.next().inputs)).toEqual(Array.from(c.next().inputs));
    expect(c.epoch).toBe(1);
    const other = new PretrainLoader(file, { seqLen: 16, batchSize: 3 });
    expect(() => other.setState(saved)).toThrow(/different data or seqLen/);
    file.close();
  });
});

describe('SFT data', () => {
  test('GSM8K answers become solutions ending with \\boxed{n}; formats map to conversations', () => {
    const line = JSON.parse(fs.readFileSync(GSM8K, 'utf8').split('\n')[0]);
    const sol = gsm8kSolution(line.answer);
    expect(sol).not.toMatch(/<<|>>|####/);
    expect(sol).toMatch(/Natalia sold 48\/2 = 24 clips in May\./);
    expect(sol.endsWith('The final answer is \\boxed{72}')).toBe(true);
    expect(gsm8kSolution('So 1,000 + 200 = <<1000+200=1200>>1,200.\n#### 1,200')).toBe('So 1,000 + 200 = 1,200.\nThe final answer is \\boxed{1200}');
    expect(toMessages({ question: 'Q?', answer: 'x\n#### 3' })).toEqual([
      { role: 'user', content: `Q?\n${COT_SUFFIX}` },
      { role: 'assistant', content: 'x\nThe final answer is \\boxed{3}' },
    ]);
    expect(toMessages({ prompt: 'P', response: 'R' }, { cotSuffix: null })).toEqual([
      { role: 'user', content: 'P' },
      { role: 'assistant', content: 'R' },
    ]);
    expect(toMessages({ prompt: 'P', completion: 'R' }, { cotSuffix: 'Think.' })).toEqual([
      { role: 'user', content: 'P\nThink.' },
      { role: 'assistant', content: 'R' },
    ]);
    const msgs = [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }, { role: 'assistant', content: 'A' }];
    expect(toMessages({ messages: msgs })).toEqual(msgs);
    expect(toMessages({ messages: [{ role: 'user', content: 'U' }] })).toMatch(/no assistant message/);
    expect(toMessages({ messages: [{ role: 'bot', content: 'U' }] })).toMatch(/unknown role "bot"/);
    expect(toMessages({ question: 'Q' })).toMatch(/"question" without "answer"/);
    expect(toMessages({ foo: 1 })).toMatch(/expected "messages"/);
  });

  test('labels cover exactly the assistant tokens (reply + EOS), for every turn', () => {
    const tok = tokenizer();
    const q = 'What is 2 + 3?';
    const a = 'We add: 2 + 3 = 5. The answer is \\boxed{5}';
    const ex = tokenizeConversation(tok, [{ role: 'user', content: q }, { role: 'assistant', content: a }]);
    const prompt = tok.encode(`User: ${q}\n\nAssistant:`);
    const reply = tok.encode(` ${a}<|eos|>`, { addSpecialTokens: false });
    expect(Array.from(ex.ids)).toEqual([...prompt, ...reply]);
    expect(Array.from(ex.target)).toEqual([...prompt.map(() => 0), ...reply.map(() => 1)]);

    // two turns: both replies are targets, the second question is not
    const two = tokenizeConversation(tok, [
      { role: 'user', content: 'A?' },
      { role: 'assistant', content: 'yes' },
      { role: 'user', content: 'B?' },
      { role: 'assistant', content: 'no' },
    ]);
    const text = tok.decode(Array.from(two.ids).filter((_, i) => two.target[i]));
    expect(text).toBe(' yes<|eos|> no<|eos|>');

    // in a batch the labels are the next tokens exactly where those are assistant tokens
    const loader = new SftLoader([ex], { seqLen: 64, batchSize: 1, pack: false, padId: 2 });
    const b = loader.next();
    const n = ex.ids.length - 1;
    for (let t = 0; t < 64; t++) {
      const want = t < n && ex.target[t + 1] ? ex.ids[t + 1] : IGNORE_INDEX;
      expect(b.labels[t]).toBe(want);
    }
    expect(b.numTargets).toBe(reply.length);
    expect(Array.from(b.labels).filter((l) => l === IGNORE_INDEX).length).toBe(64 - reply.length);
  });

  test('GSM8K file: split, over-long examples skipped or truncated and reported, bad lines by number', () => {
    const tok = tokenizer();
    const lens = [...readSft(GSM8K)].map((e) => tokenizeConversation(tok, e.messages).ids.length);
    const seqLen = [...lens].sort((x, y) => x - y)[Math.floor(lens.length / 2)]; // about half are too long
    const tooLong = lens.filter((l) => l > seqLen + 1).length;
    const ds = loadSftDataset(GSM8K, { tokenizer: tok, seqLen, evalFraction: 0.2, seed: 1 });
    expect(ds.train.length + ds.eval.length).toBe(lens.length - tooLong);
    expect(ds.eval.length).toBeGreaterThan(0);
    expect(ds.report.notes[0]).toMatch(new RegExp(`^skipped ${tooLong} examples longer than ${seqLen + 1} tokens`));
    const tr = loadSftDataset(GSM8K, { tokenizer: tok, seqLen, overLength: 'truncate' });
    expect(tr.train.length).toBe(lens.length);
    expect(tr.report.notes[0]).toMatch(/^truncated/);
    for (const e of tr.train) expect(e.ids.length).toBeLessThanOrEqual(seqLen + 1);

    const bad = write('bad-sft.jsonl', fs.readFileSync(GSM8K, 'utf8').split('\n').slice(0, 3).join('\n') + '\n{"question": 1, "answer": "x"}\nnot json\n');
    expect(() => loadSftDataset(bad, { tokenizer: tok, seqLen: 1024 })).toThrow(/bad-sft\.jsonl line 4: "question" and "answer" must be strings/);
    const sk = loadSftDataset(bad, { tokenizer: tok, seqLen: 1024, onBadLine: 'skip' });
    expect(sk.train.length).toBe(3);
    expect(sk.report.summary()[0]).toMatch(/skipped 2 malformed lines \(.*lines 4, 5\)/);
    expect(() => loadSftDataset(write('empty.jsonl', '\n'), { tokenizer: tok, seqLen: 64 })).toThrow(/no examples in/);
    expect(() => loadSftDataset(GSM8K, { tokenizer: tok, seqLen: 8 })).toThrow(/none of the 24 examples can be used: skipped 24 examples longer/);
  });

  test('packed SFT batches keep examples apart and resume exactly', () => {
    const tok = tokenizer();
    const ds = loadSftDataset(GSM8K, { tokenizer: tok, seqLen: 1024 });
    const mk = () => new SftLoader(ds.train, { seqLen: 1024, batchSize: 2, seed: 5, padId: 2 });
    const a = mk();
    const b0 = a.next();
    // packed: more than one example in a row, each segment's labels stay inside it
    expect(b0.segmentIds[1023]).toBeGreaterThan(0);
    for (let i = 0; i + 1 < b0.inputs.length; i++)
      if (b0.labels[i] !== IGNORE_INDEX && (i + 1) % 1024 !== 0) {
        // inside an example the label is the next input; an example's last label is its EOS
        if (b0.segmentIds[i + 1] === b0.segmentIds[i]) expect(b0.labels[i]).toBe(b0.inputs[i + 1]);
        else expect(b0.labels[i]).toBe(tok.eosId);
      }
    const totalTargets = ds.train.reduce((s, e) => s + e.target.subarray(1).reduce((x, y) => x + y, 0), 0);
    let sum = b0.numTargets;
    while (a.epoch === 0) sum += a.next().numTargets;
    expect(sum).toBeGreaterThanOrEqual(totalTargets); // the last batch may already hold next-epoch examples
    const s = JSON.parse(JSON.stringify(a.state()));
    const next = a.next();
    const c = mk();
    c.setState(s);
    expect(Array.from(c.next().inputs)).toEqual(Array.from(next.inputs));
  });
});
