// Streaming pipeline steps over JSONL shards of {url, text} documents: exact-URL + near-duplicate
// removal, decontamination, scoring with top-k / threshold selection, domain statistics, and the
// DeepSeekMath iteration driver. Every step reads its input line by line and keeps only small
// per-document state (hashes, scores, per-domain counts), so pools larger than memory work; what
// each step keeps is stated on it.
import * as fs from 'fs';
import * as path from 'path';
import { BadLine, DocRef, docId, JsonlWriter, readAllDocs, readDocs } from './jsonl';
import { domainOf, normalizeUrl } from './url';
import { hash53 } from './text';
import { U53Map } from './hashmap';
import { NearDupIndex, NearDupOptions } from './minhash';
import { ContaminationIndex, contaminationReason } from './decontaminate';
import { ClassifierOptions, FastTextClassifier, LabelledText } from './classifier';
import { Rng } from '../util/rng';

/** Anything with Progress's tick (lib/util/progress.ts). */
export interface Ticker {
  tick(steps?: number, amount?: number, metrics?: Record<string, number | string>): void;
}

export interface StreamOptions {
  /** Malformed lines: 'skip' (default; reported) or 'stop' (throw with file:line). */
  onBad?: 'skip' | 'stop';
  /** Called for every malformed line skipped. */
  onBadLine?: (bad: BadLine) => void;
  progress?: Ticker;
}

export interface StepReport {
  read: number;
  kept: number;
  removed: number;
  /** Removed documents per reason. */
  reasons: Record<string, number>;
  malformed: number;
  /** The first 100 malformed lines. */
  badLines: BadLine[];
}

function newReport(): StepReport {
  return { read: 0, kept: 0, removed: 0, reasons: {}, malformed: 0, badLines: [] };
}

function reading(inputs: string | string[], opts: StreamOptions, rep: StepReport, requireFields?: string[]): AsyncGenerator<DocRef> {
  return readDocs(inputs, {
    onBad: opts.onBad,
    requireFields,
    onBadLine: (b) => {
      rep.malformed++;
      if (rep.badLines.length < 100) rep.badLines.push(b);
      opts.onBadLine?.(b);
    },
  });
}

function removeDoc(rep: StepReport, reason: string): void {
  rep.removed++;
  rep.reasons[reason] = (rep.reasons[reason] ?? 0) + 1;
}

export interface DedupOptions extends StreamOptions {
  inputs: string | string[];
  /** Kept documents (JSONL). */
  out: string;
  /** Optional JSONL of removed documents: {id, reason, duplicateOf, similarity}. */
  removedOut?: string;
  /** Exact-URL dedup on normalised URLs (default true). */
  url?: boolean;
  /** MinHash LSH near-duplicate removal (default true). */
  near?: boolean;
  minhash?: NearDupOptions;
}

/**
 * Exact-URL then near-duplicate removal, keeping the first occurrence. Keeps in memory a 53-bit hash
 * per distinct normalised URL, and per kept document its LSH bucket entries and signature (~1 KB) plus
 * its id (for the report).
 */
export async function dedup(opts: DedupOptions): Promise<StepReport & { lshThreshold: number; threshold: number }> {
  const rep = newReport();
  const urls = new U53Map(1 << 14);
  const near = opts.near ?? true;
  const index = new NearDupIndex(opts.minhash);
  const keptIds: string[] = [];
  const out = new JsonlWriter(opts.out);
  const removed = opts.removedOut ? new JsonlWriter(opts.removedOut) : null;
  let urlIdx = 0;
  const urlIds: string[] = [];
  for await (const r of reading(opts.inputs, opts, rep)) {
    rep.read++;
    opts.progress?.tick(1, 1);
    const id = docId(r);
    if ((opts.url ?? true) && r.doc.url) {
      const key = hash53(normalizeUrl(r.doc.url));
      const prev = urls.get(key);
      if (prev >= 0) {
        removeDoc(rep, 'url-duplicate');
        await removed?.write({ id, reason: 'url-duplicate', duplicateOf: urlIds[prev] });
        continue;
      }
      urls.set(key, urlIdx++);
      urlIds.push(id);
    }
    if (near) {
      const { dup, similarity } = index.check(r.doc.text);
      if (dup >= 0) {
        removeDoc(rep, 'near-duplicate');
        await removed?.write({ id, reason: 'near-duplicate', duplicateOf: keptIds[dup], similarity });
        continue;
      }
      keptIds.push(id);
    }
    rep.kept++;
    await out.write(r.doc);
  }
  await out.close();
  await removed?.close();
  return { ...rep, lshThreshold: index.hasher.lshThreshold, threshold: index.threshold };
}

export interface DecontaminateStreamOptions extends StreamOptions {
  inputs: string | string[];
  out: string;
  index: ContaminationIndex;
  /** Optional JSONL of removed documents: {id, reason, benchmark, item, field, match}. */
  removedOut?: string;
}

/** Removes documents that match a benchmark (ContaminationIndex); state: the index only. */
export async function decontaminate(opts: DecontaminateStreamOptions): Promise<StepReport> {
  const rep = newReport();
  const out = new JsonlWriter(opts.out);
  const removed = opts.removedOut ? new JsonlWriter(opts.removedOut) : null;
  for await (const r of reading(opts.inputs, opts, rep)) {
    rep.read++;
    opts.progress?.tick(1, 1);
    const m = opts.index.match(r.doc.text);
    if (m) {
      const reason = contaminationReason(m, opts.index.ngram);
      removeDoc(rep, reason);
      await removed?.write({ id: docId(r), reason, benchmark: m.benchmark.source, item: m.benchmark.id, field: m.benchmark.field, match: m.match });
      continue;
    }
    rep.kept++;
    await out.write(r.doc);
  }
  await out.close();
  await removed?.close();
  return rep;
}

/** A min-heap of the k largest scores seen. */
class TopK {
  private readonly h: Float64Array;
  size = 0;
  constructor(readonly k: number) {
    this.h = new Float64Array(k);
  }
  push(x: number): void {
    const h = this.h;
    if (this.size < this.k) {
      let i = this.size++;
      h[i] = x;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (h[p] <= h[i]) break;
        [h[p], h[i]] = [h[i], h[p]];
        i = p;
      }
    } else if (x > h[0]) {
      h[0] = x;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.k && h[l] < h[m]) m = l;
        if (r < this.k && h[r] < h[m]) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
  }
  /** How many of the kept scores are above x. */
  countAbove(x: number): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.h[i] > x) n++;
    return n;
  }
  /** The k-th largest score (−Infinity while fewer than k were seen). */
  min(): number {
    return this.size < this.k ? -Infinity : this.h[0];
  }
}

export interface DomainStat {
  domain: string;
  /** Pages of the domain in the pool. */
  total: number;
  /** Pages of the domain selected. */
  selected: number;
  fraction: number;
}

export interface SelectionEval {
  /** Documents with a `label` field. */
  labelled: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface ScoreOptions extends StreamOptions {
  inputs: string | string[];
  model: FastTextClassifier;
  /** The label whose probability is the score (default 'math'). */
  label?: string;
  /** Selected documents, each with a `score` field added. */
  out?: string;
  /** Optional JSONL of {id, score} for every document. */
  scoresOut?: string;
  /** Keep the topK highest-scoring documents (ties broken by order). */
  topK?: number;
  /** Keep documents scoring at least this (default 0.5 when topK is not given). */
  threshold?: number;
  /** Called once per pass with the pass number (1 or 2). */
  onPass?: (pass: number) => void;
}

export interface ScoreReport extends StepReport {
  selected: number;
  /** The lowest score selected. */
  cutoff: number;
  domains: DomainStat[];
  /** Selection quality against the documents' own `label` field, when they have one. */
  eval?: SelectionEval;
}

/**
 * Scores every document and selects the top-k and/or those above a threshold. With topK it reads
 * the input twice (the first pass keeps a heap of the k best scores); memory: the heap and per-domain
 * counts. Selected documents are written with their score; domain statistics come along.
 */
export async function scoreAndSelect(opts: ScoreOptions): Promise<ScoreReport> {
  const label = opts.label ?? 'math';
  opts.model.labelIndex(label);
  const topK = opts.topK;
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) throw new Error(`score: topK must be a positive integer, got ${topK}`);
  const threshold = opts.threshold ?? (topK === undefined ? 0.5 : -Infinity);
  const rep: ScoreReport = { ...newReport(), selected: 0, cutoff: threshold, domains: [] };
  let cutoff = threshold;
  // With topK, documents scoring exactly the cutoff are taken in input order while `tieQuota` lasts.
  let tieQuota = Infinity;
  if (topK !== undefined) {
    opts.onPass?.(1);
    const heap = new TopK(topK);
    for await (const r of reading(opts.inputs, opts, rep)) {
      opts.progress?.tick(1, 1);
      heap.push(opts.model.prob(r.doc.text, label));
    }
    cutoff = Math.max(threshold, heap.min());
    tieQuota = topK - heap.countAbove(cutoff);
    rep.malformed = 0;
    rep.badLines = [];
  }
  opts.onPass?.(2);
  const totals = new Map<string, number>();
  const sel = new Map<string, number>();
  const out = opts.out ? new JsonlWriter(opts.out) : null;
  const scores = opts.scoresOut ? new JsonlWriter(opts.scoresOut) : null;
  let labelled = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for await (const r of reading(opts.inputs, opts, rep)) {
    rep.read++;
    opts.progress?.tick(1, 1);
    const s = opts.model.prob(r.doc.text, label);
    const dom = domainOf(r.doc.url);
    totals.set(dom, (totals.get(dom) ?? 0) + 1);
    await scores?.write({ id: docId(r), score: s });
    let take = s > cutoff;
    if (s === cutoff && tieQuota > 0) {
      take = true;
      tieQuota--;
    }
    if (take) {
      rep.selected++;
      sel.set(dom, (sel.get(dom) ?? 0) + 1);
      await out?.write({ ...r.doc, score: s });
    }
    if (typeof r.doc.label === 'string') {
      labelled++;
      const pos = r.doc.label === label;
      if (take && pos) tp++;
      else if (take) fp++;
      else if (pos) fn++;
    }
  }
  await out?.close();
  await scores?.close();
  rep.kept = rep.selected;
  rep.removed = rep.read - rep.selected;
  rep.cutoff = cutoff;
  rep.domains = [...totals].map(([domain, total]) => {
    const selected = sel.get(domain) ?? 0;
    return { domain, total, selected, fraction: selected / total };
  });
  rep.domains.sort((a, b) => b.fraction - a.fraction || b.total - a.total || a.domain.localeCompare(b.domain));
  if (labelled > 0) {
    const precision = tp + fp ? tp / (tp + fp) : 0;
    const recall = tp + fn ? tp / (tp + fn) : 0;
    rep.eval = { labelled, precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0 };
  }
  return rep;
}

export interface DomainOptions {
  /** Propose domains whose selected fraction is above this (default 0.1, DeepSeekMath's 10%). */
  minFraction?: number;
  /** ... and that have at least this many pages in the pool (default 5). */
  minPages?: number;
}

/** Domains whose fraction of selected pages exceeds minFraction (and with minPages pages or more). */
export function proposeDomains(stats: DomainStat[], opts: DomainOptions = {}): DomainStat[] {
  const f = opts.minFraction ?? 0.1;
  const p = opts.minPages ?? 5;
  return stats.filter((d) => d.domain !== '' && d.fraction > f && d.total >= p);
}

/** Domain statistics of a selection against its pool (two streams; memory: per-domain counts). */
export async function domainStats(pool: string | string[], selected: string | string[], opts: StreamOptions = {}): Promise<DomainStat[]> {
  const rep = newReport();
  const totals = new Map<string, number>();
  const sel = new Map<string, number>();
  for await (const r of reading(pool, opts, rep)) {
    opts.progress?.tick(1, 1);
    const d = domainOf(r.doc.url);
    totals.set(d, (totals.get(d) ?? 0) + 1);
  }
  for await (const r of reading(selected, opts, rep)) {
    opts.progress?.tick(1, 1);
    const d = domainOf(r.doc.url);
    sel.set(d, (sel.get(d) ?? 0) + 1);
  }
  const out: DomainStat[] = [];
  for (const [domain, total] of totals) {
    const s = sel.get(domain) ?? 0;
    out.push({ domain, total, selected: s, fraction: s / total });
  }
  for (const [domain, s] of sel) if (!totals.has(domain)) out.push({ domain, total: 0, selected: s, fraction: Infinity });
  return out.sort((a, b) => b.fraction - a.fraction || b.total - a.total || a.domain.localeCompare(b.domain));
}

export interface IterateOptions extends StreamOptions, DomainOptions {
  /** Seed positives (JSONL of {url, text}). */
  seeds: string | string[];
  /** The pool to mine (deduplicated first; JSONL shards). */
  pool: string | string[];
  /** Where round-<n>/ folders and summary.json go. */
  outDir: string;
  /** Rounds (default 4, as DeepSeekMath). */
  rounds?: number;
  /** Per round, select the topK best pages ... */
  topK?: number;
  /** ... or (and) those scoring at least this (default 0.5 without topK). */
  threshold?: number;
  /** Positive / negative label names (default 'math' / 'other'). */
  label?: string;
  negativeLabel?: string;
  /** Random pool pages per positive as negatives (default 1). */
  negativesPerPositive?: number;
  /** At most this many positives are held (default 1e6; they are kept in memory). */
  maxPositives?: number;
  /**
   * URL patterns standing in for DeepSeekMath's manual annotation: pages of proposed domains are
   * added to the positives only when their normalised URL (normalizeUrl) matches one. Without them,
   * every page of a proposed domain is added, which pulls in the non-math pages of mixed domains.
   */
  annotations?: RegExp[];
  classifier?: ClassifierOptions;
  seed?: number;
  log?: (msg: string) => void;
  /** Makes a progress line for a pass over the pool. */
  makeProgress?: (label: string, total?: number) => Ticker & { finish?: () => void };
}

export interface RoundSummary {
  round: number;
  positives: number;
  negatives: number;
  trainLoss: number;
  selected: number;
  cutoff: number;
  proposedDomains: DomainStat[];
  /** Positives added for the next round from the proposed domains. */
  added: number;
  eval?: SelectionEval;
  dir: string;
}

/**
 * The DeepSeekMath iteration: each round trains the classifier on the positives (seeds plus pages
 * added by earlier rounds) against as many random pool pages, scores the pool and selects pages,
 * computes each domain's selected fraction, proposes the domains above minFraction, and adds their
 * (annotated) pages to the positives. Round n writes round-n/{model.bin, selected.jsonl,
 * domains.json, added.jsonl}; summary.json has one entry per round. Memory: the positives and
 * negatives (texts), URL hashes of the positives, the classifier, and per-domain counts.
 */
export async function iterate(opts: IterateOptions): Promise<RoundSummary[]> {
  const rounds = opts.rounds ?? 4;
  const label = opts.label ?? 'math';
  const negLabel = opts.negativeLabel ?? 'other';
  if (label === negLabel) throw new Error(`iterate: positive and negative labels are both '${label}'`);
  const maxPos = opts.maxPositives ?? 1_000_000;
  const ratio = opts.negativesPerPositive ?? 1;
  const log = opts.log ?? (() => {});
  const seedDocs = await readAllDocs(opts.seeds, { onBad: opts.onBad, onBadLine: opts.onBadLine });
  if (seedDocs.length === 0) throw new Error('iterate: no seed documents');
  const positives: string[] = [];
  const posUrls = new U53Map(1 << 12);
  const addPositive = (r: DocRef): boolean => {
    if (positives.length >= maxPos) return false;
    if (r.doc.url) {
      if (!posUrls.set(hash53(normalizeUrl(r.doc.url)), 0, true)) return false;
    }
    positives.push(r.doc.text);
    return true;
  };
  for (const r of seedDocs) addPositive(r);
  const summary: RoundSummary[] = [];
  fs.mkdirSync(opts.outDir, { recursive: true });
  let poolSize: number | undefined;
  const isPositive = (url: string | undefined) => !!url && posUrls.has(hash53(normalizeUrl(url)));

  for (let round = 1; round <= rounds; round++) {
    const dir = path.join(opts.outDir, `round-${round}`);
    fs.mkdirSync(dir, { recursive: true });
    // 1. negatives: a reservoir sample of pool pages that are not positives.
    const want = Math.max(1, Math.round(positives.length * ratio));
    const rng = new Rng((opts.seed ?? 1) * 1000 + round);
    const negatives: string[] = [];
    let seen = 0;
    const pr1 = opts.makeProgress?.(`round ${round}: sample negatives`, poolSize);
    for await (const r of readDocs(opts.pool, { onBad: opts.onBad, onBadLine: opts.onBadLine })) {
      pr1?.tick(1, 1);
      if (isPositive(r.doc.url)) continue;
      seen++;
      if (negatives.length < want) negatives.push(r.doc.text);
      else {
        const j = rng.int(seen);
        if (j < want) negatives[j] = r.doc.text;
      }
    }
    pr1?.finish?.();
    if (negatives.length === 0) throw new Error('iterate: the pool has no pages to use as negatives');
    // 2. train
    const examples: LabelledText[] = [
      ...positives.map((text) => ({ text, label })),
      ...negatives.map((text) => ({ text, label: negLabel })),
    ];
    let trainLoss = NaN;
    const model = FastTextClassifier.train(examples, {
      ...opts.classifier,
      seed: (opts.classifier?.seed ?? 1) + round,
      onEpoch: (_e, l) => (trainLoss = l),
    });
    model.save(path.join(dir, 'model.bin'));
    log(`round ${round}: trained on ${positives.length} positives, ${negatives.length} negatives (loss ${trainLoss.toFixed(4)})`);
    // 3. score and select
    const pr2 = opts.makeProgress?.(`round ${round}: score`, poolSize === undefined ? undefined : poolSize * (opts.topK ? 2 : 1));
    const rep = await scoreAndSelect({
      inputs: opts.pool,
      model,
      label,
      out: path.join(dir, 'selected.jsonl'),
      topK: opts.topK,
      threshold: opts.threshold,
      onBad: opts.onBad,
      progress: pr2,
    });
    pr2?.finish?.();
    poolSize = rep.read;
    // 4. domains
    const proposed = proposeDomains(rep.domains, opts);
    fs.writeFileSync(path.join(dir, 'domains.json'), JSON.stringify({ proposed, all: rep.domains }, null, 2) + '\n');
    log(`round ${round}: selected ${rep.selected} of ${rep.read} (cutoff ${rep.cutoff.toFixed(4)})` +
      (rep.eval ? `, precision ${rep.eval.precision.toFixed(3)} recall ${rep.eval.recall.toFixed(3)} against the pool's labels` : '') +
      `; ${proposed.length} domains over ${((opts.minFraction ?? 0.1) * 100).toFixed(0)}%: ${proposed.map((d) => d.domain).join(', ')}`);
    // 5. add (annotated) pages of the proposed domains to the positives
    let added = 0;
    if (round < rounds && proposed.length > 0) {
      const doms = new Set(proposed.map((d) => d.domain));
      const addedOut = new JsonlWriter(path.join(dir, 'added.jsonl'));
      const pr3 = opts.makeProgress?.(`round ${round}: add domain pages`, poolSize);
      for await (const r of readDocs(opts.pool, { onBad: opts.onBad })) {
        pr3?.tick(1, 1);
        if (!doms.has(domainOf(r.doc.url))) continue;
        if (opts.annotations && !opts.annotations.some((re) => re.test(normalizeUrl(r.doc.url ?? '')))) continue;
        if (addPositive(r)) {
          added++;
          await addedOut.write({ url: r.doc.url, text: r.doc.text });
        }
      }
      pr3?.finish?.();
      await addedOut.close();
      log(`round ${round}: added ${added} pages of the proposed domains to the positives`);
    }
    summary.push({ round, positives: examples.length - negatives.length, negatives: negatives.length, trainLoss, selected: rep.selected, cutoff: rep.cutoff, proposedDomains: proposed, added, eval: rep.eval, dir });
    fs.writeFileSync(path.join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  }
  return summary;
}
