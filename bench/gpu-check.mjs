#!/usr/bin/env node
// GPU check for a device machine: every CUDA op against its CPU twin on fresh random inputs
// (odd shapes included; this file and bench/gpu-checks/*.mjs), then bf16 GEMM throughput at 4096³. Needs only node + dist/ + build/ (and
// node_modules/node-gyp-build). Exits 1 if any check fails or no GPU is visible.
//
//   node bench/gpu-check.mjs [--gemm-size 4096] [--reps 20]
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const m = require('../dist/cjs/index.js');

const argOf = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};

const b = m.backends();
console.log(`cuda: ${JSON.stringify(b.cuda)}`);
if (!b.cuda.available) {
  console.error('no usable GPU: nothing to check');
  process.exit(1);
}

let seed = 42;
function randn(n) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const u = (seed + 1) / 4294967297;
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const v = seed / 4294967296;
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}
function relErr(out, ref) {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    if (Number.isNaN(out[i]) !== Number.isNaN(ref[i])) return Infinity;
    num += (out[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
const pair = (shape, dtype) => {
  const c = m.Tensor.fromArray(randn(shape.reduce((a, x) => a * x, 1)), shape, { dtype });
  return [c, c.to('cuda')];
};

const rows = [];
let failed = 0;
function check(op, shape, dtype, cpuT, gpuT, tol) {
  const err = relErr(gpuT.toArray(), cpuT.toArray());
  const pass = tol === 0 ? err === 0 : err < tol;
  if (!pass) failed++;
  rows.push([op, shape, dtype, err.toExponential(2), pass ? 'pass' : 'FAIL']);
}

const shapes = [[1], [7], [129], [5, 129], [3, 7, 1025], [64, 32000]];
for (const dtype of ['f32', 'bf16']) {
  const tolE = dtype === 'f32' ? 1e-5 : 1e-2;
  const tolR = dtype === 'f32' ? 1e-4 : 1e-2;
  for (const shape of shapes) {
    m.tidy(() => {
      const s = `[${shape}]`;
      const [a, ag] = pair(shape, dtype);
      const [c, cg] = pair(shape, dtype);
      const [bias, biasg] = pair([shape[shape.length - 1]], dtype);
      check('add', s, dtype, m.add(a, c), m.add(ag, cg), tolE);
      check('add(bias)', s, dtype, m.add(a, bias), m.add(ag, biasg), tolE);
      check('mul', s, dtype, m.mul(a, c), m.mul(ag, cg), tolE);
      check('scale', s, dtype, m.scale(a, 0.3, -2), m.scale(ag, 0.3, -2), tolE);
      const to = dtype === 'f32' ? 'bf16' : 'f32';
      check(`cast->${to}`, s, dtype, m.cast(a, to), m.cast(ag, to), 0);
      check('sum', s, dtype, m.sum(a), m.sum(ag), tolR);
      check('max', s, dtype, m.max(a), m.max(ag), 0);
      check('softmax', s, dtype, m.softmax(a), m.softmax(ag), tolR);
      check('logSoftmax', s, dtype, m.logSoftmax(a), m.logSoftmax(ag), tolR);
    });
  }
}
const gemmShapes = [[1, 1, 1], [7, 5, 3], [129, 7, 65], [33, 129, 257], [128, 128, 64], [300, 1, 17], [1000, 1024, 520], [2048, 2048, 2048]];
for (const dtype of ['f32', 'bf16'])
  for (const [M, N, K] of gemmShapes)
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      if (M * N * K > 1e9 && (ta || tb || dtype === 'f32')) continue; // keep the CPU side short
      m.tidy(() => {
        const [a, ag] = pair(ta ? [2, K, M] : [2, M, K], dtype);
        const [b2, bg] = pair(tb ? [N, K] : [K, N], dtype);
        const opts = { transA: ta, transB: tb, alpha: 0.5 };
        check(`gemm ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`, `2x${M}x${N}x${K}`, dtype, m.gemm(a, b2, opts), m.gemm(ag, bg, opts), dtype === 'f32' ? 1e-4 : 1e-3);
        const [c0, c0g] = pair([2, M, N], 'f32');
        m.gemm(a, b2, { ...opts, beta: 0.25, c: c0 });
        m.gemm(ag, bg, { ...opts, beta: 0.25, c: c0g });
        check(`gemm ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} beta`, `2x${M}x${N}x${K}`, dtype, c0, c0g, dtype === 'f32' ? 1e-4 : 1e-3);
      });
    }

// Checks of the other ops live beside this file, one module per op group: bench/gpu-checks/<op>.mjs
// default-exports a function ({ m, pair, check, randn, relErr }) that calls check() for each case.
const dir = new URL('./gpu-checks/', import.meta.url);
const fs = await import('node:fs');
if (fs.existsSync(dir))
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort()) {
    const mod = await import(new URL(f, dir).href);
    await mod.default({ m, pair, check, randn, relErr });
  }

console.log('\nop                  shape             dtype  rel.err    result');
for (const r of rows) console.log(`${r[0].padEnd(20)}${r[1].padEnd(18)}${r[2].padEnd(7)}${r[3].padEnd(11)}${r[4]}`);

// Throughput: bf16 GEMM n³, timed on the host around a synchronised loop.
const n = argOf('gemm-size', 4096);
const reps = argOf('reps', 20);
for (const dtype of ['bf16', 'f32']) {
  m.tidy(() => {
    const A = m.Tensor.fromArray(randn(n * n), [n, n], { dtype, device: 'cuda' });
    const B = m.Tensor.fromArray(randn(n * n), [n, n], { dtype, device: 'cuda' });
    const C = m.Tensor.empty([n, n], { device: 'cuda' });
    for (let i = 0; i < 3; i++) m.gemm(A, B, { c: C });
    m.synchronize();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) m.gemm(A, B, { c: C });
    m.synchronize();
    const s = Number(process.hrtime.bigint() - t0) / 1e9 / reps;
    console.log(`gemm ${dtype} ${n}³: ${(s * 1e3).toFixed(3)} ms, ${((2 * n * n * n) / s / 1e12).toFixed(1)} TFLOP/s`);
  });
}
console.log(`\n${rows.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
