#!/usr/bin/env node
// Sampling throughput (tinybench): rows/s of sample() on a batch of logits rows, for greedy, top-p 0.9
// and top-k 50, at vocabularies 151,936 (Qwen) and 32,000 (Llama 2). CPU always; CUDA too when a GPU
// is visible (each call synchronised). The logits are N(0, 2^2): a flat row, the hard case for top-p
// (about 90% of the mass spreads over tens of thousands of tokens).
//
//   npm run build:ts && node bench/sample.mjs [--time 500] [--batch 64] [--vocab 151936,32000]
//                                             [--threads N] [--device cpu|cuda|both]
import { Bench } from 'tinybench';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const m = require('../dist/cjs/index.js');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

const time = Number(arg('time', '500'));
const batch = Number(arg('batch', '64'));
const vocabs = arg('vocab', '151936,32000').split(',').map(Number);
const threads = Number(arg('threads', String(m.backends().threads)));
const cudaOk = m.backends().cuda.available;
const wantDevice = arg('device', cudaOk ? 'both' : 'cpu');
const devices = wantDevice === 'both' ? ['cpu', 'cuda'] : [wantDevice];
if (devices.includes('cuda') && !cudaOk) {
  console.error('no usable GPU for --device cuda');
  process.exit(2);
}
m.setNumThreads(threads);

function logits(n) {
  let s = 12345;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 1) / 4294967297;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = 2 * Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * s) / 4294967296);
  }
  return out;
}

const MODES = [
  ['greedy', { temperature: 0 }],
  ['top-p 0.9', { topP: 0.9 }],
  ['top-k 50', { topK: 50 }],
];

console.log(`sample benchmark: batch ${batch}, ${threads} CPU threads, tinybench ${time} ms per task, devices ${devices.join(', ')}`);
const rows = [];
for (const V of vocabs) {
  const host = m.Tensor.fromArray(logits(batch * V), [batch, V]);
  for (const device of devices) {
    const x = device === 'cpu' ? host : host.to(device);
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 2) });
    let step = 0;
    for (const [name, opts] of MODES)
      bench.add(name, () => {
        const out = m.sample(x, { ...opts, seeds: 7, offset: step++ });
        if (device !== 'cpu') m.synchronize();
        out.tokens.dispose();
        out.logprobs.dispose();
      });
    await bench.run();
    for (const t of bench.tasks) {
      const r = t.result;
      const ms = r.latency ? r.latency.p50 : (r.median ?? r.mean); // tinybench 3+ reports latency
      rows.push({ V, device, mode: t.name, ms, rowsPerS: batch / (ms / 1e3) });
    }
    if (x !== host) x.dispose();
  }
  host.dispose();
}

console.log('\n  vocab  device  mode        ms/batch     rows/s   (median)');
for (const r of rows)
  console.log(
    `${String(r.V).padStart(7)}  ${r.device.padEnd(6)}  ${r.mode.padEnd(10)}  ${r.ms.toFixed(3).padStart(9)}  ${Math.round(r.rowsPerS).toString().padStart(9)}`,
  );
