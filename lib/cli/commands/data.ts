// `mathrl data …`: the DeepSeekMath corpus pipeline (lib/data) on JSONL shards of {url, text}.
import * as fs from 'fs';
import { CliCommand, numberOption, parseOptions } from '../command';
import { Progress } from '../../util/progress';
import { BadLine, readAllDocs, readDocs, JsonlWriter, docId } from '../../data/jsonl';
import { ClassifierOptions, FastTextClassifier, LossKind } from '../../data/classifier';
import { ContaminationIndex, BenchmarkText, loadBenchmarkDir, loadBenchmarkFile } from '../../data/decontaminate';
import { decontaminate, dedup, domainStats, iterate, proposeDomains, scoreAndSelect, StepReport, DomainStat } from '../../data/pipeline';
import { writeSample } from '../../data/sample';

const USAGE = `<step> [options]

steps:
  sample --out DIR [--docs N] [--seed S]            write the synthetic sample pool (pool/, seeds, labelled split, benchmarks)
  classify train --in FILE… --out MODEL [--label-field label] [--dim 16] [--buckets 262144]
                 [--ngrams 2] [--lr 0.5] [--epoch 5] [--loss softmax|ova] [--seed 1]
  classify test --model MODEL --in FILE… [--label-field label]        precision / recall / F1 per label
  classify predict --model MODEL --in FILE… [--out FILE] [--k 1]      adds {predictions: [{label, prob}]}
  dedup --in PATH… --out FILE [--removed FILE] [--no-url] [--no-near]
        [--shingle 5] [--bands 20] [--rows 5] [--threshold 0.7]
  decontaminate --in PATH… --out FILE (--bench-dir DIR | --bench FILE…) [--ngram 10] [--min-short 3]
        [--removed FILE]
  score --model MODEL --in PATH… --out FILE [--top-k N] [--threshold T] [--label math] [--scores FILE]
        [--domains FILE]
  domains --pool PATH… --selected PATH… [--min-fraction 0.1] [--min-pages 5] [--out FILE] [--top 20]
  iterate --seeds PATH… --pool PATH… --out DIR [--rounds 4] [--top-k N | --threshold 0.5]
        [--min-fraction 0.1] [--min-pages 5] [--neg-ratio 1] [--annotations FILE] [classifier options]

PATH is a .jsonl(.gz) file or a folder of them; documents are {"url": …, "text": …} per line.
Every step: --on-bad skip|stop (malformed lines: report with file:line and skip, or stop; default skip),
--quiet (no progress line), --json (print the report as JSON).`;

const COMMON = {
  'on-bad': { type: 'string' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const CLASSIFIER_OPTS = {
  'label-field': { type: 'string' },
  dim: { type: 'string' },
  buckets: { type: 'string' },
  ngrams: { type: 'string' },
  lr: { type: 'string' },
  epoch: { type: 'string' },
  loss: { type: 'string' },
  seed: { type: 'string' },
} as const;

type Common = { 'on-bad'?: string; quiet?: boolean; json?: boolean };

function onBadOf(v: Common): 'skip' | 'stop' {
  const o = v['on-bad'] ?? 'skip';
  if (o !== 'skip' && o !== 'stop') throw new Error(`--on-bad must be 'skip' or 'stop', got '${o}'`);
  return o;
}

/** Prints malformed lines on stderr (the first 20, then a count at the end). */
function badLineReporter(): { cb: (b: BadLine) => void; done: () => void } {
  let n = 0;
  return {
    cb: (b) => {
      n++;
      if (n <= 20) console.error(`${b.file}:${b.line}: malformed line skipped: ${b.reason}`);
    },
    done: () => {
      if (n > 20) console.error(`… ${n} malformed lines skipped in all`);
    },
  };
}

function progress(v: Common, label: string, total?: number): Progress {
  return new Progress({ label, total, unit: 'doc', silent: !!v.quiet });
}

function need<T>(v: T | undefined, name: string): T {
  if (v === undefined || (Array.isArray(v) && v.length === 0)) throw new Error(`--${name} is required`);
  return v;
}

function classifierOptions(v: Record<string, unknown>): ClassifierOptions {
  const n = (k: string, d: number) => numberOption(k, v[k] as string | undefined, d);
  const loss = (v.loss as string | undefined) ?? 'softmax';
  if (loss !== 'softmax' && loss !== 'ova') throw new Error(`--loss must be 'softmax' or 'ova', got '${loss}'`);
  return {
    dim: n('dim', 16),
    buckets: n('buckets', 1 << 18),
    wordNgrams: n('ngrams', 2),
    lr: n('lr', 0.5),
    epoch: n('epoch', 5),
    loss: loss as LossKind,
    seed: n('seed', 1),
  };
}

function printReport(v: Common, title: string, rep: StepReport, extra: string[] = []): void {
  if (v.json) {
    console.log(JSON.stringify(rep, null, 2));
    return;
  }
  console.log(`${title}: read ${rep.read}, kept ${rep.kept}, removed ${rep.removed}${rep.malformed ? `, malformed lines skipped ${rep.malformed}` : ''}`);
  for (const [k, n] of Object.entries(rep.reasons).sort((a, b) => b[1] - a[1])) console.log(`  removed ${String(n).padStart(7)}  ${k}`);
  for (const l of extra) console.log(l);
}

function domainTable(ds: DomainStat[], top: number): string[] {
  const rows = ds.slice(0, top);
  const w = Math.max(6, ...rows.map((d) => d.domain.length));
  return [`  ${'domain'.padEnd(w)}  selected/total  fraction`, ...rows.map((d) => `  ${(d.domain || '(no url)').padEnd(w)}  ${`${d.selected}/${d.total}`.padStart(14)}  ${d.fraction.toFixed(3)}`)];
}

async function cmdSample(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, { out: { type: 'string' }, docs: { type: 'string' }, seed: { type: 'string' }, ...COMMON });
  const dir = need(v.out, 'out');
  const s = writeSample(dir, { docs: numberOption('docs', v.docs, 3000), seed: numberOption('seed', v.seed, 2024) });
  const math = s.pool.filter((d) => d.label === 'math').length;
  console.log(`wrote ${dir}: pool ${s.pool.length} pages (${math} math) in ${Math.ceil(s.pool.length / 1000)} shards, ${s.seeds.length} seeds, ` +
    `labelled ${s.train.length} train / ${s.test.length} test; planted ${s.truth.urlDuplicates.length} URL duplicates, ` +
    `${s.truth.nearDuplicates.length} near duplicates, ${s.truth.leaks.length} benchmark leaks (truth.json)`);
}

async function cmdClassify(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  const { values: v } = parseOptions(rest, {
    in: { type: 'string', multiple: true },
    out: { type: 'string' },
    model: { type: 'string' },
    k: { type: 'string' },
    ...CLASSIFIER_OPTS,
    ...COMMON,
  });
  const field = v['label-field'] ?? 'label';
  const bad = badLineReporter();
  const ro = { onBad: onBadOf(v), onBadLine: bad.cb };
  const inputs = need(v.in, 'in');
  if (action === 'train') {
    const out = need(v.out, 'out');
    const docs = await readAllDocs(inputs, { ...ro, requireFields: [field] });
    const opts = classifierOptions(v);
    const pr = new Progress({ label: 'train (epochs)', total: opts.epoch, silent: !!v.quiet });
    const t0 = Date.now();
    const model = FastTextClassifier.train(docs.map((r) => ({ text: r.doc.text, label: r.doc[field] as string })), {
      ...opts,
      onEpoch: (_e, loss) => pr.tick(1, 0, { loss }),
    });
    model.save(out);
    bad.done();
    console.log(`trained on ${docs.length} documents (labels ${model.labels.join(', ')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; saved ${out}`);
  } else if (action === 'test') {
    const model = FastTextClassifier.load(need(v.model, 'model'));
    const docs = await readAllDocs(inputs, { ...ro, requireFields: [field] });
    const res = model.test(docs.map((r) => ({ text: r.doc.text, label: r.doc[field] as string })));
    bad.done();
    if (v.json) console.log(JSON.stringify(res, null, 2));
    else {
      console.log(`N ${res.n}  accuracy ${res.accuracy.toFixed(4)}  macro F1 ${res.macroF1.toFixed(4)}`);
      for (const m of res.labels) console.log(`  ${m.label.padEnd(12)} precision ${m.precision.toFixed(4)}  recall ${m.recall.toFixed(4)}  F1 ${m.f1.toFixed(4)}  (support ${m.support})`);
    }
  } else if (action === 'predict') {
    const model = FastTextClassifier.load(need(v.model, 'model'));
    const k = numberOption('k', v.k, 1);
    const out = v.out ? new JsonlWriter(v.out) : null;
    const pr = progress(v, 'predict');
    for await (const r of readDocs(inputs, ro)) {
      pr.tick(1, 1);
      const predictions = model.predict(r.doc.text, k);
      if (out) await out.write({ ...r.doc, predictions });
      else console.log(JSON.stringify({ id: docId(r), predictions }));
    }
    pr.finish();
    await out?.close();
    bad.done();
  } else throw new Error(`classify: expected train, test or predict, got '${action ?? ''}'`);
}

async function cmdDedup(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, {
    in: { type: 'string', multiple: true },
    out: { type: 'string' },
    removed: { type: 'string' },
    'no-url': { type: 'boolean' },
    'no-near': { type: 'boolean' },
    shingle: { type: 'string' },
    bands: { type: 'string' },
    rows: { type: 'string' },
    threshold: { type: 'string' },
    ...COMMON,
  });
  const bad = badLineReporter();
  const pr = progress(v, 'dedup');
  const rep = await dedup({
    inputs: need(v.in, 'in'),
    out: need(v.out, 'out'),
    removedOut: v.removed,
    url: !v['no-url'],
    near: !v['no-near'],
    minhash: {
      shingle: numberOption('shingle', v.shingle, 5),
      bands: numberOption('bands', v.bands, 20),
      rows: numberOption('rows', v.rows, 5),
      threshold: numberOption('threshold', v.threshold, 0.7),
    },
    onBad: onBadOf(v),
    onBadLine: bad.cb,
    progress: pr,
  });
  pr.finish();
  bad.done();
  printReport(v, 'dedup', rep, [`  MinHash LSH: ${numberOption('bands', v.bands, 20)} bands × ${numberOption('rows', v.rows, 5)} rows (S-curve threshold ≈ ${rep.lshThreshold.toFixed(3)}), duplicates confirmed at estimated Jaccard ≥ ${rep.threshold}`]);
}

async function benchmarkTexts(v: { 'bench-dir'?: string; bench?: string[] }): Promise<BenchmarkText[]> {
  const texts: BenchmarkText[] = [];
  if (v['bench-dir']) texts.push(...(await loadBenchmarkDir(v['bench-dir'])));
  for (const f of v.bench ?? []) texts.push(...(await loadBenchmarkFile(f)));
  if (texts.length === 0) throw new Error('give the benchmarks: --bench-dir DIR (gsm8k/test.jsonl and math/math500_test.jsonl, e.g. ../shared/data) or --bench FILE');
  return texts;
}

async function cmdDecontaminate(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, {
    in: { type: 'string', multiple: true },
    out: { type: 'string' },
    removed: { type: 'string' },
    'bench-dir': { type: 'string' },
    bench: { type: 'string', multiple: true },
    ngram: { type: 'string' },
    'min-short': { type: 'string' },
    ...COMMON,
  });
  const inputs = need(v.in, 'in');
  const out = need(v.out, 'out');
  const index = new ContaminationIndex(await benchmarkTexts(v), { ngram: numberOption('ngram', v.ngram, 10), minShort: numberOption('min-short', v['min-short'], 3) });
  const s = index.stats;
  const bad = badLineReporter();
  const pr = progress(v, 'decontaminate');
  const rep = await decontaminate({ inputs, out, removedOut: v.removed, index, onBad: onBadOf(v), onBadLine: bad.cb, progress: pr });
  pr.finish();
  bad.done();
  printReport(v, 'decontaminate', Object.assign(rep, { benchmarks: s }), [
    `  benchmark texts ${s.texts}: ${s.longTexts} with ≥ ${index.ngram} words (${s.ngrams} distinct ${index.ngram}-grams), ` +
      `${s.shortTexts} of ${index.minShort}-${index.ngram - 1} words matched whole, ${s.ignoredTexts} shorter ignored`,
  ]);
}

async function cmdScore(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, {
    model: { type: 'string' },
    in: { type: 'string', multiple: true },
    out: { type: 'string' },
    scores: { type: 'string' },
    domains: { type: 'string' },
    'top-k': { type: 'string' },
    threshold: { type: 'string' },
    label: { type: 'string' },
    top: { type: 'string' },
    ...COMMON,
  });
  const model = FastTextClassifier.load(need(v.model, 'model'));
  const bad = badLineReporter();
  const pr = progress(v, 'score');
  const rep = await scoreAndSelect({
    inputs: need(v.in, 'in'),
    model,
    label: v.label ?? 'math',
    out: need(v.out, 'out'),
    scoresOut: v.scores,
    topK: v['top-k'] === undefined ? undefined : numberOption('top-k', v['top-k'], 0),
    threshold: v.threshold === undefined ? undefined : numberOption('threshold', v.threshold, 0.5),
    onBad: onBadOf(v),
    onBadLine: bad.cb,
    progress: pr,
  });
  pr.finish();
  bad.done();
  if (v.domains) fs.writeFileSync(v.domains, JSON.stringify(rep.domains, null, 2) + '\n');
  if (v.json) return void console.log(JSON.stringify(rep, null, 2));
  console.log(`score: read ${rep.read}, selected ${rep.selected} (score ≥ ${rep.cutoff.toFixed(4)})` +
    (rep.eval ? `; against the documents' labels: precision ${rep.eval.precision.toFixed(4)}, recall ${rep.eval.recall.toFixed(4)}, F1 ${rep.eval.f1.toFixed(4)}` : ''));
  for (const l of domainTable(rep.domains, numberOption('top', v.top, 10))) console.log(l);
}

async function cmdDomains(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, {
    pool: { type: 'string', multiple: true },
    selected: { type: 'string', multiple: true },
    'min-fraction': { type: 'string' },
    'min-pages': { type: 'string' },
    out: { type: 'string' },
    top: { type: 'string' },
    ...COMMON,
  });
  const bad = badLineReporter();
  const pr = progress(v, 'domains');
  const stats = await domainStats(need(v.pool, 'pool'), need(v.selected, 'selected'), { onBad: onBadOf(v), onBadLine: bad.cb, progress: pr });
  pr.finish();
  bad.done();
  const opts = { minFraction: numberOption('min-fraction', v['min-fraction'], 0.1), minPages: numberOption('min-pages', v['min-pages'], 5) };
  const proposed = proposeDomains(stats, opts);
  if (v.out) fs.writeFileSync(v.out, JSON.stringify({ proposed, all: stats }, null, 2) + '\n');
  if (v.json) return void console.log(JSON.stringify({ proposed, all: stats }, null, 2));
  console.log(`domains: ${stats.length}; proposed for the next round (selected fraction > ${opts.minFraction}, ≥ ${opts.minPages} pages): ${proposed.length}`);
  for (const l of domainTable(proposed, proposed.length)) console.log(l);
  if (stats.length > proposed.length) {
    console.log('top domains:');
    for (const l of domainTable(stats, numberOption('top', v.top, 20))) console.log(l);
  }
}

async function cmdIterate(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, {
    seeds: { type: 'string', multiple: true },
    pool: { type: 'string', multiple: true },
    out: { type: 'string' },
    rounds: { type: 'string' },
    'top-k': { type: 'string' },
    threshold: { type: 'string' },
    'min-fraction': { type: 'string' },
    'min-pages': { type: 'string' },
    'neg-ratio': { type: 'string' },
    'max-positives': { type: 'string' },
    annotations: { type: 'string' },
    label: { type: 'string' },
    ...CLASSIFIER_OPTS,
    ...COMMON,
  });
  const annotations = v.annotations
    ? fs.readFileSync(v.annotations, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => new RegExp(l))
    : undefined;
  const bad = badLineReporter();
  const summary = await iterate({
    seeds: need(v.seeds, 'seeds'),
    pool: need(v.pool, 'pool'),
    outDir: need(v.out, 'out'),
    rounds: numberOption('rounds', v.rounds, 4),
    topK: v['top-k'] === undefined ? undefined : numberOption('top-k', v['top-k'], 0),
    threshold: v.threshold === undefined ? undefined : numberOption('threshold', v.threshold, 0.5),
    minFraction: numberOption('min-fraction', v['min-fraction'], 0.1),
    minPages: numberOption('min-pages', v['min-pages'], 5),
    negativesPerPositive: numberOption('neg-ratio', v['neg-ratio'], 1),
    maxPositives: numberOption('max-positives', v['max-positives'], 1_000_000),
    annotations,
    label: v.label ?? 'math',
    classifier: classifierOptions(v),
    onBad: onBadOf(v),
    onBadLine: bad.cb,
    log: (m) => (v.json ? console.error(m) : console.log(m)),
    makeProgress: (label, total) => progress(v, label, total),
  });
  bad.done();
  if (v.json) console.log(JSON.stringify(summary, null, 2));
  else console.log(`wrote ${v.out}/round-1 … round-${summary.length} and summary.json; final selection: ${summary[summary.length - 1].dir}/selected.jsonl`);
}

export const command: CliCommand = {
  name: 'data',
  summary: 'the math corpus pipeline: sample, classify, dedup, decontaminate, score, domains, iterate',
  usage: USAGE,
  async run(argv) {
    const [step, ...rest] = argv;
    switch (step) {
      case 'sample': return cmdSample(rest);
      case 'classify': return cmdClassify(rest);
      case 'dedup': return cmdDedup(rest);
      case 'decontaminate': return cmdDecontaminate(rest);
      case 'score': return cmdScore(rest);
      case 'domains': return cmdDomains(rest);
      case 'iterate': return cmdIterate(rest);
      default:
        throw new Error(`expected a step (sample, classify, dedup, decontaminate, score, domains, iterate), got '${step ?? ''}'; see mathrl data --help`);
    }
  },
};
