#!/usr/bin/env node
// Benchmarks. `npm run bench -- gemm` times our CPU GEMM against OpenBLAS sgemm (Debian's libopenblas,
// loaded with dlopen only here) in the same process with tinybench and prints the ratio;
// `npm run bench -- model` times a CPU training step of a Llama-shaped model.
//
//   npm run bench -- gemm [--sizes 256,512,1024] [--threads 2] [--time 2000] [--keep-openblas-env]
//   npm run bench -- model [--preset small-10m] [--batch 4] [--seq 256] [--steps 5]
//   npm run bench -- attention [--dh 24,32,64] [--heads 4/2] [--batch 8] [--seq 256] [--steps 20]
//
// By default OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed before OpenBLAS loads, so the peer picks
// its best kernel for this CPU; --keep-openblas-env keeps them as the environment sets them.
import { Bench } from 'tinybench';
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const mathrl = require('../dist/cjs/index.js');
const { native } = require('../dist/cjs/native.js');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const flag = (name) => process.argv.includes(`--${name}`);

const OPENBLAS_PATHS = [
  process.env.MATHRL_OPENBLAS,
  '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0',
  '/usr/lib/x86_64-linux-gnu/libopenblas.so.0',
  '/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0',
  '/usr/lib/libopenblas.so.0',
].filter(Boolean);

function loadOpenblas(threads) {
  if (!flag('keep-openblas-env')) {
    delete process.env.OPENBLAS_CORETYPE;
    delete process.env.OPENBLAS_L2_SIZE;
  }
  const N = native();
  for (const p of OPENBLAS_PATHS) {
    if (fs.existsSync(p) && N.openblasLoad(p)) {
      N.openblasSetThreads(threads);
      return { path: p, info: N.openblasInfo() };
    }
  }
  return null;
}

function randomArray(n, seed) {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function fmt(x, d = 1) {
  return x.toFixed(d).padStart(8);
}

async function benchGemm() {
  const threads = Number(arg('threads', String(mathrl.backends().threads)));
  mathrl.setNumThreads(threads);
  const sizes = arg('sizes', '256,512,1024').split(',').map(Number);
  const time = Number(arg('time', '2000'));
  const peer = loadOpenblas(threads);
  console.log(`mathrl gemm benchmark: ${threads} threads, tinybench ${time} ms per task`);
  if (peer) console.log(`peer: OpenBLAS ${peer.path} (${peer.info})`);
  else console.log('peer: OpenBLAS not found (apt-get install libopenblas0-pthread, or set MATHRL_OPENBLAS=path)');
  const rows = [];
  for (const n of sizes) {
    const flops = 2 * n * n * n;
    const a32 = randomArray(n * n, 1);
    const b32 = randomArray(n * n, 2);
    const A = mathrl.Tensor.fromArray(a32, [n, n]);
    const B = mathrl.Tensor.fromArray(b32, [n, n]);
    const Ah = mathrl.cast(A, 'bf16');
    const Bh = mathrl.cast(B, 'bf16');
    const C = mathrl.Tensor.zeros([n, n]);
    const Cpeer = new Float32Array(n * n);
    const bench = new Bench({ time, warmupTime: 200 });
    bench.add('mathrl f32', () => mathrl.gemm(A, B, { c: C }));
    bench.add('mathrl bf16-in', () => mathrl.gemm(Ah, Bh, { c: C }));
    if (peer) bench.add('openblas f32', () => native().openblasSgemm(false, false, n, n, n, 1, a32, b32, 0, Cpeer));
    await bench.run();
    const res = Object.fromEntries(
      bench.tasks.map((t) => {
        const r = t.result;
        const ms = r.latency ? r.latency.p50 : r.median ?? r.mean; // tinybench 3+ reports latency
        return [t.name, ms];
      }),
    );
    if (peer) {
      // Same inputs, same math: the two results must agree before their times mean anything.
      mathrl.gemm(A, B, { c: C });
      const ours = C.toArray();
      let num = 0, den = 0;
      for (let i = 0; i < ours.length; i++) {
        num += (ours[i] - Cpeer[i]) ** 2;
        den += Cpeer[i] ** 2;
      }
      const rel = Math.sqrt(num / den);
      if (!(rel < 1e-4)) throw new Error(`gemm ${n}: ours and OpenBLAS disagree (rel. error ${rel})`);
    }
    const gf = (ms) => flops / (ms * 1e-3) / 1e9;
    rows.push({
      n,
      ours: gf(res['mathrl f32']),
      bf16: gf(res['mathrl bf16-in']),
      peer: peer ? gf(res['openblas f32']) : NaN,
    });
    for (const t of [A, B, Ah, Bh, C]) t.dispose();
  }
  console.log('\n   size   mathrl f32  mathrl bf16-in  OpenBLAS f32   ratio f32 (GFLOP/s, median)');
  for (const r of rows)
    console.log(
      `${String(r.n).padStart(5)}³ ${fmt(r.ours)}     ${fmt(r.bf16)}       ${fmt(r.peer)}      ${peer ? (r.ours / r.peer).toFixed(2) + 'x' : 'n/a'}`,
    );
}

// Training-step throughput of a Llama-shaped model on the CPU: forward + loss + backward
// (+ AdamW) on random tokens, tokens/s median over steps.
async function benchModel() {
  const preset = arg('preset', 'small-10m');
  const B = Number(arg('batch', '4'));
  const T = Number(arg('seq', '256'));
  const steps = Number(arg('steps', '5'));
  const threads = Number(arg('threads', String(mathrl.backends().threads)));
  mathrl.setNumThreads(threads);
  const cfg = mathrl.presetConfig(preset);
  const model = mathrl.LlamaModel.init(cfg, { seed: 1 });
  const opt = new mathrl.AdamW(model.params, { lr: 1e-4 });
  const n = B * T;
  const ids = mathrl.Tensor.fromArray(randomArray(n, 3).map((v) => Math.floor((v + 0.5) * cfg.vocabSize)), [B, T], { dtype: 'i32' });
  const labels = mathrl.Tensor.fromArray(randomArray(n, 4).map((v) => Math.floor((v + 0.5) * cfg.vocabSize)), [B, T], { dtype: 'i32' });
  console.log(`model benchmark: ${preset} (${(model.numParameters() / 1e6).toFixed(2)}M params), batch ${B}x${T}, ${threads} threads, ${steps} steps`);
  const times = { fwd: [], bwd: [], opt: [] };
  for (let s = 0; s < steps + 1; s++) {
    const t0 = performance.now();
    model.zeroGrad();
    model.loss(ids, labels);
    const t1 = performance.now();
    model.backward();
    const t2 = performance.now();
    opt.step(model.grads, { maxGradNorm: 1 }).gradNorm?.dispose();
    model.paramsChanged();
    const t3 = performance.now();
    if (s > 0) {
      times.fwd.push(t1 - t0);
      times.bwd.push(t2 - t1);
      times.opt.push(t3 - t2);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const total = med(times.fwd) + med(times.bwd) + med(times.opt);
  // 6·N·tokens for forward+backward of the dense layers, plus attention's 12·L·T·D per token (causal halves it).
  const flops = 6 * model.numParameters() * n + 6 * cfg.numHiddenLayers * T * cfg.hiddenSize * n;
  console.log(`  forward+loss ${med(times.fwd).toFixed(0)} ms, backward ${med(times.bwd).toFixed(0)} ms, AdamW ${med(times.opt).toFixed(0)} ms`);
  console.log(`  ${(n / (total / 1000)).toFixed(0)} tokens/s (training step), ${(n / ((med(times.fwd) + med(times.bwd)) / 1000)).toFixed(0)} tokens/s (forward+backward), ~${(flops / (total / 1000) / 1e9).toFixed(1)} GFLOP/s`);
  opt.dispose();
  model.dispose();
}

// CPU fused attention forward and backward (causal, GQA) at several head sizes: median ms over steps.
async function benchAttention() {
  const B = Number(arg('batch', '8'));
  const T = Number(arg('seq', '256'));
  const [Hq, Hkv] = arg('heads', '4/2').split('/').map(Number);
  const steps = Number(arg('steps', '20'));
  const dhs = arg('dh', '24,32,64').split(',').map(Number);
  mathrl.setNumThreads(Number(arg('threads', String(mathrl.backends().threads))));
  console.log(`attention benchmark (CPU, causal): batch ${B}, seq ${T}, heads ${Hq}/${Hkv}, ${steps} steps, ${mathrl.backends().threads} threads`);
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const Dh of dhs) {
    const t = (shape, seed) => mathrl.Tensor.fromArray(randomArray(shape.reduce((a, b) => a * b, 1), seed), shape);
    const q = t([B, T, Hq, Dh], 1), k = t([B, T, Hkv, Dh], 2), v = t([B, T, Hkv, Dh], 3), dout = t([B, T, Hq, Dh], 4);
    const fwd = [], bwd = [];
    for (let s = 0; s < steps + 2; s++) {
      const t0 = performance.now();
      const r = mathrl.attention(q, k, v);
      const t1 = performance.now();
      const g = mathrl.attentionBackward(dout, q, k, v, r.out, r.lse);
      const t2 = performance.now();
      if (s >= 2) {
        fwd.push(t1 - t0);
        bwd.push(t2 - t1);
      }
      for (const x of [r.out, r.lse, g.dq, g.dk, g.dv]) x.dispose();
    }
    // causal: about half of the 4·B·Hq·T²·Dh forward FLOPs, and 2.5× that for the backward
    const f = 2 * B * Hq * T * T * Dh;
    console.log(`  Dh ${String(Dh).padStart(3)}: forward ${med(fwd).toFixed(2)} ms (${(f / med(fwd) / 1e6).toFixed(1)} GFLOP/s), backward ${med(bwd).toFixed(2)} ms (${((2.5 * f) / med(bwd) / 1e6).toFixed(1)} GFLOP/s)`);
    for (const x of [q, k, v, dout]) x.dispose();
  }
}

const BENCHES = { gemm: benchGemm, model: benchModel, attention: benchAttention };
const VALUE_FLAGS = new Set(['--sizes', '--threads', '--time', '--preset', '--batch', '--seq', '--steps', '--heads', '--dh']);
const which = [];
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (VALUE_FLAGS.has(a)) i++;
  else if (!a.startsWith('--')) which.push(a);
}
const names = which.length ? which : ['gemm'];
for (const name of names) {
  if (!BENCHES[name]) {
    console.error(`unknown benchmark ${name}; available: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  await BENCHES[name]();
}
