#!/usr/bin/env node
// Memory and time of the fused linear log-prob (linearLogprob: chunked over the vocabulary) against the
// unfused path that stores the [N, V] logits (gemm -> logSoftmax -> gather; backward through
// crossEntropy's in-place dlogits and two GEMMs). Peak memory is memory(device).peakBytes after
// resetPeakMemory(), minus what was allocated before (hidden, lm_head, targets): the op's own footprint.
//
//   node bench/linear-logprob.mjs [--N 256] [--V 151936] [--D 896] [--chunk 8192] [--dtype f32|bf16]
//                                 [--device cpu|cuda] [--reps 1] [--warmup 1] [--only forward]
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const m = require('../dist/cjs/index.js');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const N = Number(arg('N', 256));
const V = Number(arg('V', 151936));
const D = Number(arg('D', 896));
const chunk = Number(arg('chunk', 8192));
const dtype = arg('dtype', 'f32');
const device = arg('device', 'cpu');
const reps = Number(arg('reps', 1));
const warmup = Number(arg('warmup', 1));
const only = arg('only', '');

let seed = 7;
function randn(n, scale) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const u = (seed + 1) / 4294967297;
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * seed) / 4294967296);
  }
  return out;
}

const hidden = m.Tensor.fromArray(randn(N * D, 1), [N, D], { dtype, device });
const lmHead = m.Tensor.fromArray(randn(V * D, 0.05), [V, D], { dtype, device });
const tgt = new Int32Array(N);
for (let i = 0; i < N; i++) tgt[i] = (i * 40503) % V;
const targets = m.Tensor.fromArray(tgt, [N], { dtype: 'i32', device });
const dlogp = m.Tensor.full([N], 1, { device });

function fusedForward() {
  const r = m.linearLogprob(hidden, lmHead, targets, { chunkSize: chunk });
  return [r.logp, r.entropy, r.lse];
}
function fusedTrain() {
  const r = m.linearLogprob(hidden, lmHead, targets, { chunkSize: chunk });
  const g = m.linearLogprobBackward(hidden, lmHead, targets, r, dlogp, { chunkSize: chunk });
  return [r.logp, r.entropy, r.lse, g.dhidden, g.dlmHead];
}
// gather(logSoftmax(h·Wᵀ), targets) with the embedding op as the gather: row n*V + t of the flat [N*V, 1].
const flatIds = m.Tensor.fromArray(Int32Array.from(tgt, (t, n) => n * V + t), [N], { dtype: 'i32', device });
function unfusedForward() {
  const logits = m.gemm(hidden, lmHead, { transB: true });
  const ls = m.logSoftmax(logits);
  const logp = m.embedding(flatIds, ls.reshape([N * V, 1]));
  logits.dispose();
  ls.dispose();
  return [logp];
}
function unfusedTrain() {
  const logits = m.gemm(hidden, lmHead, { transB: true });
  const ls = m.logSoftmax(logits);
  const logp = m.embedding(flatIds, ls.reshape([N * V, 1]));
  ls.dispose();
  // d logp / d logits = onehot - softmax (dlogp = 1), in place over the logits
  const ce = m.crossEntropy(logits, targets, { gradScale: -1, inPlace: true });
  const dl = dtype === 'f32' ? ce.dlogits : m.cast(ce.dlogits, dtype);
  const dh = m.gemm(dl, lmHead);
  const dW = m.gemm(dl, hidden, { transA: true });
  for (const t of [ce.loss, ce.losses, ce.count, logits, dl]) t.dispose();
  return [logp, dh, dW];
}

function measure(name, fn) {
  for (let i = 0; i < warmup; i++) fn().forEach((t) => t.dispose()); // thread pool, CUDA pools, page faults
  if (device === 'cuda') m.synchronize();
  const base = m.memory(device).bytes;
  m.resetPeakMemory();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const outs = fn();
    if (device === 'cuda') m.synchronize();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    outs.forEach((t) => t.dispose());
  }
  const peak = m.memory(device).peakBytes - base;
  return { name, peak, ms: best };
}

const rows = [measure('fused forward', fusedForward), measure('unfused forward', unfusedForward)];
if (only !== 'forward')
  rows.push(measure('fused forward+backward', fusedTrain), measure('unfused forward+backward', unfusedTrain));
const logitsMB = (N * V * 4) / 2 ** 20;
console.log(`linear log-prob: N ${N}, V ${V}, D ${D}, chunk ${chunk}, ${dtype} on ${device}` +
  ` (f32 [N, V] logits = ${logitsMB.toFixed(1)} MiB; dlmHead [V, D] f32 = ${((V * D * 4) / 2 ** 20).toFixed(1)} MiB)`);
console.log('| path | peak extra memory (MiB) | time (ms) |');
console.log('|---|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${(r.peak / 2 ** 20).toFixed(1)} | ${r.ms.toFixed(0)} |`);
