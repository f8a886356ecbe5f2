// The corpus pipeline (lib/data): URL normalisation, classifier, MinHash dedup, decontamination,
// scoring, iteration and JSONL error handling, on the synthetic sample pool (lib/data/sample.ts).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { normalizeUrl, domainOf } from '../lib/data/url';
import { FastTextClassifier } from '../lib/data/classifier';
import { MinHasher, jaccard, NearDupIndex } from '../lib/data/minhash';
import { ContaminationIndex, loadBenchmarkDir, BenchmarkText } from '../lib/data/decontaminate';
import { makeSample, writeSample, SamplePool } from '../lib/data/sample';
import { dedup, decontaminate, iterate, scoreAndSelect, domainStats, proposeDomains } from '../lib/data/pipeline';
import { readAllDocs, readDocs, BadLine } from '../lib/data/jsonl';
import { words, wordTokens, U32Buf } from '../lib/data/text';
import { U53Map } from '../lib/data/hashmap';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-data-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SHARED = path.resolve(__dirname, '../../shared/data');

let sample: SamplePool;
const dir = path.join(tmp, 'sample');
beforeAll(() => {
  sample = writeSample(dir, { docs: 1200, seeds: 200, labelled: 1200, shardSize: 500 });
});
const readJsonl = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('URL normalisation', () => {
  test.each([
    ['HTTP://WWW.Example.COM:80/a/b/../c/./d/?utm_source=x&b=2&a=1#frag', 'https://example.com/a/c/d?a=1&b=2'],
    ['https://example.com/', 'https://example.com'],
    ['https://example.com', 'https://example.com'],
    ['https://example.com/x/index.html', 'https://example.com/x'],
    ['https://user:pw@example.com:443//p//q', 'https://example.com/p/q'],
    ['https://example.com:8080/p', 'https://example.com:8080/p'],
    ['https://example.com/%7euser/%2fa', 'https://example.com/~user/%2Fa'],
    ['https://example.com/p?fbclid=1&gclid=2', 'https://example.com/p'],
    ['https://example.com/P?q=A', 'https://example.com/P?q=A'],
    ['  not a url ', 'not a url'],
    ['ftp://example.com/x', 'ftp://example.com/x'],
  ])('%s → %s', (raw, want) => expect(normalizeUrl(raw)).toBe(want));

  test('options and domainOf', () => {
    expect(normalizeUrl('http://www.a.org/x', { unifyScheme: false, dropWww: false })).toBe('http://www.a.org/x');
    expect(domainOf('https://WWW.Math.Example.org:8443/p?q')).toBe('math.example.org');
    expect(domainOf('nonsense')).toBe('');
    expect(domainOf(undefined)).toBe('');
  });
});

describe('text and hashing', () => {
  test('word tokens drop punctuation and case; hashes agree with words()', () => {
    const t = 'Janet’s ducks lay 16 eggs, for $80,000! x-axis \\frac{3}{2}  — done.';
    expect(words(t)).toEqual(['janets', 'ducks', 'lay', '16', 'eggs', 'for', '80000', 'xaxis', 'frac32', 'done']);
    const h = new U32Buf(4);
    wordTokens(t, h, null);
    expect(h.length).toBe(10);
    const h2 = new U32Buf(4);
    wordTokens('JANETS ducks', h2, null);
    expect(h2.data[0]).toBe(h.data[0]);
  });

  test('U53Map keeps 53-bit keys apart and grows', () => {
    const m = new U53Map(4);
    for (let i = 0; i < 5000; i++) m.set(i * 4294967296 + (i % 7), i);
    expect(m.size).toBe(5000);
    for (let i = 0; i < 5000; i += 97) expect(m.get(i * 4294967296 + (i % 7))).toBe(i);
    expect(m.get(12345)).toBe(-1);
    expect(m.set(0 * 4294967296, 99, true)).toBe(false);
    expect(() => m.set(-1, 0)).toThrow(/53-bit/);
  });
});

describe('classifier', () => {
  let model: FastTextClassifier;
  beforeAll(() => {
    model = FastTextClassifier.train(sample.train, { buckets: 1 << 16, epoch: 5 });
  });

  test('separates math from other on the held-out split (F1 ≥ 0.95)', () => {
    const res = model.test(sample.test);
    const math = res.labels.find((l) => l.label === 'math')!;
    expect(res.n).toBe(sample.test.length);
    expect(math.f1).toBeGreaterThan(0.95);
    expect(res.macroF1).toBeGreaterThan(0.95);
    const p = model.predict('Let $f(x)=3x^2+1$; the derivative is $f\'(x)=6x$ by the power rule.', 2);
    expect(p[0].label).toBe('math');
    expect(p[0].prob + p[1].prob).toBeCloseTo(1, 5);
    expect(model.predict('The striker scored twice as the Rovers beat City on Saturday.')[0].label).toBe('other');
  });

  test('save/load round trip gives identical predictions', () => {
    const f = path.join(tmp, 'model.bin');
    model.save(f);
    const back = FastTextClassifier.load(f);
    expect(back.labels).toEqual(model.labels);
    for (const d of sample.test.slice(0, 50)) expect(back.probabilities(d.text)).toEqual(model.probabilities(d.text));
    const buf = fs.readFileSync(f);
    expect(buf.toString('latin1', 0, 8)).toBe('MRLFT001');
    expect(() => FastTextClassifier.fromBuffer(buf.subarray(0, buf.length - 4))).toThrow(/bytes, expected/);
    expect(() => FastTextClassifier.fromBuffer(Buffer.from('nope nope nope'))).toThrow(/bad magic/);
  });

  test('ova loss, word n-grams and argument errors', () => {
    const m = FastTextClassifier.train(sample.train, { buckets: 1 << 16, loss: 'ova', wordNgrams: 3, epoch: 5 });
    expect(m.test(sample.test.slice(0, 200)).macroF1).toBeGreaterThan(0.9);
    expect(() => FastTextClassifier.train([{ text: 'a', label: 'x' }])).toThrow(/only the label/);
    expect(() => FastTextClassifier.train([])).toThrow(/no training examples/);
    expect(() => model.prob('x', 'nope')).toThrow(/unknown label 'nope'/);
  });
});

describe('MinHash', () => {
  test('signature agreement estimates Jaccard; banding threshold', () => {
    const h = new MinHasher({ bands: 32, rows: 4 });
    const a = sample.pool[0].text + ' ' + sample.pool[1].text;
    const b = sample.pool[0].text + ' ' + sample.pool[2].text;
    const j = jaccard(h, a, b);
    const sa = h.signature(a).slice();
    const sb = h.signature(b).slice();
    let eq = 0;
    for (let i = 0; i < sa.length; i++) if (sa[i] === sb[i]) eq++;
    expect(Math.abs(eq / sa.length - j)).toBeLessThan(0.15);
    expect(new MinHasher().lshThreshold).toBeCloseTo(Math.pow(1 / 20, 1 / 5), 10);
    expect(new MinHasher().candidateProbability(0.9)).toBeGreaterThan(0.999);
    const idx = new NearDupIndex();
    expect(idx.check(sample.pool[0].text).dup).toBe(-1);
    expect(idx.check(sample.pool[0].text.toUpperCase() + ' Share this page.').dup).toBe(0);
    expect(idx.check(sample.pool[1].text).dup).toBe(-1);
  });

  test('dedup removes the planted URL and near duplicates and keeps every distinct page', async () => {
    const out = path.join(tmp, 'dedup.jsonl');
    const rep = await dedup({ inputs: path.join(dir, 'pool'), out, removedOut: path.join(tmp, 'dups.jsonl') });
    // Groups of copies (a page, its URL variants and near copies) must keep exactly one member.
    const parent = new Map<string, string>();
    const find = (u: string): string => (parent.has(u) && parent.get(u) !== u ? find(parent.get(u)!) : u);
    for (const p of [...sample.truth.urlDuplicates, ...sample.truth.nearDuplicates]) parent.set(find(p.url), find(p.of));
    const kept = readJsonl(out).map((d) => d.url as string);
    const perGroup = new Map<string, number>();
    for (const u of kept) perGroup.set(find(u), (perGroup.get(find(u)) ?? 0) + 1);
    const groups = new Set(sample.pool.map((d) => find(d.url)));
    for (const g of groups) expect([g, perGroup.get(g) ?? 0]).toEqual([g, 1]);
    expect(rep.kept).toBe(groups.size);
    expect(rep.reasons['url-duplicate']).toBe(sample.truth.urlDuplicates.length);
    expect(rep.read).toBe(sample.pool.length);
    expect(readJsonl(path.join(tmp, 'dups.jsonl'))).toHaveLength(rep.removed);
  });
});

describe('decontamination', () => {
  const leakUrls = () => new Set(sample.truth.leaks.map((l) => l.url));

  test('removes exactly the planted leaks (sample benchmark files)', async () => {
    const index = new ContaminationIndex(await loadBenchmarkDir(path.join(dir, 'benchmarks')));
    const out = path.join(tmp, 'clean.jsonl');
    const removedOut = path.join(tmp, 'leaks.jsonl');
    const rep = await decontaminate({ inputs: path.join(dir, 'pool'), out, removedOut, index });
    const removed = readJsonl(removedOut);
    expect(new Set(removed.map((r) => r.id))).toEqual(leakUrls());
    expect(rep.reasons).toEqual({ '10-gram gsm8k': 7, '10-gram math500': 2, 'short-text math500': 1 });
    expect(rep.kept).toBe(sample.pool.length - leakUrls().size);
    const short = removed.find((r) => r.reason === 'short-text math500');
    expect(short.match).toBe('left 3 fracpi2 right');
  });

  (fs.existsSync(path.join(SHARED, 'gsm8k/test.jsonl')) ? test : test.skip)('full GSM8K test + MATH-500: the same leaks and no clean page', async () => {
    const index = new ContaminationIndex(await loadBenchmarkDir(SHARED));
    expect(index.stats.texts).toBeGreaterThan(5000);
    const leaks = leakUrls();
    const hits = [...sample.pool, ...sample.seeds, ...sample.train, ...sample.test].filter((d) => index.match(d.text));
    expect(new Set(hits.map((d) => d.url))).toEqual(leaks);
  });

  test('short-text rule: whole 3-9 word strings only; under 3 words ignored; 10-gram rule', () => {
    const b = (text: string, id = 'q'): BenchmarkText => ({ source: 'toy', id, field: 'answer', text });
    const long = 'one two three four five six seven eight nine ten eleven';
    const index = new ContaminationIndex([b('Alpha beta, gamma delta!'), b('x y'), b(long, 'long')]);
    expect(index.stats).toMatchObject({ longTexts: 1, shortTexts: 1, ignoredTexts: 1 });
    expect(index.match('we saw ALPHA beta gamma delta here')?.rule).toBe('short');
    expect(index.match('we saw alpha beta gamma here')).toBeNull(); // part of a short string
    expect(index.match('x y x y x y')).toBeNull(); // under 3 words
    expect(index.match('zero two three four five six seven eight nine ten eleven')?.rule).toBe('ngram');
    expect(index.match('zero two three four five six seven eight nine ten')).toBeNull(); // a 9-gram
    const m = index.match('... One, two three four five six seven eight nine ten! more');
    expect(m).toMatchObject({ rule: 'ngram', position: 0, match: 'one two three four five six seven eight nine ten' });
    const three = new ContaminationIndex([b('p q r')], { minShort: 3 });
    expect(three.match('a p q r b')?.rule).toBe('short');
  });
});

describe('scoring, domains, iteration', () => {
  test('top-k selection is exact, ties broken by order, domain fractions', async () => {
    const f = path.join(tmp, 'tiny.jsonl');
    const docs = ['a', 'b', 'c', 'd', 'e'].map((x, i) => ({ url: `https://${i < 3 ? 'm' : 'o'}.org/${x}`, text: i < 2 ? 'same text' : `text ${x}`, label: 'math' }));
    fs.writeFileSync(f, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
    const model = FastTextClassifier.train(sample.train.slice(0, 200), { buckets: 1 << 12, epoch: 2 });
    const all = await Promise.all(docs.map(async (d) => model.prob(d.text, 'math')));
    for (const k of [1, 2, 3, 5, 9]) {
      const out = path.join(tmp, `top${k}.jsonl`);
      const rep = await scoreAndSelect({ inputs: f, model, topK: k, out });
      expect(rep.selected).toBe(Math.min(k, 5));
      const sel = readJsonl(out);
      const want = [...all].sort((x, y) => y - x)[Math.min(k, 5) - 1];
      for (const s of sel) expect(s.score).toBeGreaterThanOrEqual(want);
      expect(rep.eval?.labelled).toBe(5);
    }
    const rep = await scoreAndSelect({ inputs: f, model, threshold: 0 });
    expect(rep.selected).toBe(5);
    expect(rep.domains.map((d) => [d.domain, d.total])).toEqual(expect.arrayContaining([['m.org', 3], ['o.org', 2]]));
    const stats = await domainStats(f, path.join(tmp, 'top1.jsonl'));
    expect(stats.reduce((a, d) => a + d.total, 0)).toBe(5);
    expect(proposeDomains([{ domain: 'a', total: 10, selected: 2, fraction: 0.2 }, { domain: 'b', total: 3, selected: 3, fraction: 1 }, { domain: 'c', total: 50, selected: 5, fraction: 0.1 }]).map((d) => d.domain)).toEqual(['a']);
  });

  test('iterate runs two rounds on the sample pool; the domain step raises recall', async () => {
    const outDir = path.join(tmp, 'iter');
    const logs: string[] = [];
    const annotations = fs.readFileSync(path.join(dir, 'annotations.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => new RegExp(l));
    const summary = await iterate({
      seeds: path.join(dir, 'seeds.jsonl'),
      pool: path.join(dir, 'pool'),
      outDir,
      rounds: 2,
      annotations,
      classifier: { buckets: 1 << 16, epoch: 4 },
      log: (m) => logs.push(m),
    });
    expect(summary).toHaveLength(2);
    for (const r of [1, 2]) for (const f of ['model.bin', 'selected.jsonl', 'domains.json']) expect(fs.existsSync(path.join(outDir, `round-${r}`, f))).toBe(true);
    expect(summary[0].proposedDomains.map((d) => d.domain)).toEqual(expect.arrayContaining(['algebra-notes.example.org']));
    expect(summary[0].added).toBeGreaterThan(0);
    expect(summary[1].positives).toBe(summary[0].positives + summary[0].added);
    expect(summary[1].eval!.recall).toBeGreaterThan(summary[0].eval!.recall);
    expect(summary[1].eval!.precision).toBeGreaterThan(0.9);
    expect(JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8'))).toHaveLength(2);
    expect(logs.join('\n')).toMatch(/round 2: selected/);
  });
});

describe('JSONL input', () => {
  const bad = path.join(tmp, 'bad.jsonl');
  beforeAll(() => {
    fs.writeFileSync(bad, ['{"url":"u1","text":"one"}', '{"url":"u2",', '', '[1,2]', '{"url":"u3"}', '{"url":5,"text":"x"}', '{"url":"u4","text":"four"}'].join('\n') + '\n');
  });

  test('malformed lines are reported with line numbers and skipped', async () => {
    const seen: BadLine[] = [];
    const docs = await readAllDocs(bad, { onBadLine: (b) => seen.push(b) });
    expect(docs.map((d) => [d.doc.url, d.line])).toEqual([['u1', 1], ['u4', 7]]);
    expect(seen.map((b) => b.line)).toEqual([2, 4, 5, 6]);
    expect(seen[0].reason).toMatch(/invalid JSON/);
    expect(seen[1].reason).toBe('not a JSON object');
    expect(seen[2].reason).toBe("missing string field 'text'");
    expect(seen[3].file).toBe(bad);
  });

  test("onBad 'stop' throws at the first malformed line; steps count them", async () => {
    await expect(readAllDocs(bad, { onBad: 'stop' })).rejects.toThrow(/bad\.jsonl:2: malformed line: invalid JSON/);
    const rep = await dedup({ inputs: bad, out: path.join(tmp, 'bad-out.jsonl') });
    expect([rep.read, rep.malformed, rep.badLines.map((b) => b.line)]).toEqual([2, 4, [2, 4, 5, 6]]);
    await expect(dedup({ inputs: bad, out: path.join(tmp, 'bad-out.jsonl'), onBad: 'stop' })).rejects.toThrow(/:2:/);
    await expect(readAllDocs(path.join(tmp, 'missing.jsonl'))).rejects.toThrow(/no such file/);
    const gen = readDocs(tmp + '/nothing-here');
    await expect(gen.next()).rejects.toThrow(/no such file/);
  });

  test('the sample is deterministic', () => {
    const a = makeSample({ docs: 200, seeds: 10, labelled: 30 });
    const b = makeSample({ docs: 200, seeds: 10, labelled: 30 });
    expect(a).toEqual(b);
    expect(a.truth.leaks).toHaveLength(10);
  });
});
