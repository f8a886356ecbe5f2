#!/usr/bin/env node
// Corpus pipeline throughput: docs/s of classifier predict (P(math) of a document) and of MinHash
// signatures, on 1 thread and on N worker threads (default 2, one per core).
//
//   npm run build:ts && node bench/corpus.mjs [--docs 4000] [--time 2000] [--workers 2] [--buckets 262144] [--dim 16]
//
// Documents: pages of the synthetic sample pool (lib/data/sample.ts): 3-23 sentences, mean length
// printed below (about 190 words / 1.3 KB). The classifier is trained on the sample's labelled split
// with the defaults (words + bigrams, dim 16, 2^18 buckets); MinHash uses 5-word shingles and
// 20 × 5 = 100 hashes.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import os from 'node:os';

const require = createRequire(import.meta.url);
const data = require('../dist/cjs/data/index.js');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/** Runs fn over docs (cycling) for at least ms milliseconds; returns docs/s. */
function rate(docs, ms, fn) {
  for (let i = 0; i < Math.min(docs.length, 300); i++) fn(docs[i]); // warm-up
  let n = 0;
  const t0 = performance.now();
  let el = 0;
  while (el < ms) {
    for (let i = 0; i < 200; i++) fn(docs[(n + i) % docs.length]);
    n += 200;
    el = performance.now() - t0;
  }
  return (n / el) * 1000;
}

function measure(texts, modelBuf, ms) {
  const model = data.FastTextClassifier.fromBuffer(Buffer.from(modelBuf));
  const hasher = new data.MinHasher();
  const sig = new Uint32Array(hasher.numHashes);
  return {
    predict: rate(texts, ms, (t) => model.prob(t, 'math')),
    minhash: rate(texts, ms, (t) => hasher.signature(t, sig)),
  };
}

if (!isMainThread) {
  parentPort.postMessage(measure(workerData.texts, workerData.model, workerData.ms));
} else {
  const nDocs = arg('docs', 4000);
  const ms = arg('time', 2000);
  const workers = arg('workers', 2);
  const s = data.makeSample({ docs: nDocs, seeds: 10, labelled: 1500 });
  const texts = s.pool.map((d) => d.text);
  const words = texts.reduce((a, t) => a + data.words(t).length, 0) / texts.length;
  const chars = texts.reduce((a, t) => a + t.length, 0) / texts.length;
  const model = data.FastTextClassifier.train(s.train, { buckets: arg('buckets', 1 << 18), dim: arg('dim', 16) });
  const buf = model.toBuffer();
  console.log(`documents: ${texts.length} synthetic pages, mean ${words.toFixed(0)} words / ${chars.toFixed(0)} chars; CPU: ${os.cpus()[0]?.model ?? '?'} (${os.cpus().length} logical), node ${process.version}`);
  console.log(`classifier: dim ${model.dim}, ${model.buckets} buckets, word n-grams ${model.wordNgrams}; MinHash: ${new data.MinHasher().numHashes} hashes, 5-word shingles`);
  const one = measure(texts, buf, ms);
  console.log(`1 thread : predict ${one.predict.toFixed(0).padStart(8)} docs/s   minhash ${one.minhash.toFixed(0).padStart(8)} docs/s`);
  if (workers > 1) {
    const per = Math.ceil(texts.length / workers);
    const res = await Promise.all(
      Array.from({ length: workers }, (_, w) => new Promise((resolve, reject) => {
        const wk = new Worker(new URL(import.meta.url), { workerData: { texts: texts.slice(w * per, (w + 1) * per), model: buf, ms } });
        wk.once('message', resolve);
        wk.once('error', reject);
      })),
    );
    const sum = (k) => res.reduce((a, r) => a + r[k], 0);
    console.log(`${workers} threads: predict ${sum('predict').toFixed(0).padStart(8)} docs/s   minhash ${sum('minhash').toFixed(0).padStart(8)} docs/s  (worker_threads, one slice of the documents each)`);
  }
}
