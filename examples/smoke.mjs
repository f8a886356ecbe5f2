#!/usr/bin/env node
// Smoke example: what the addon found on this machine, then a small forward computation on each
// available device. Later issues replace this with the full pretrain -> SFT -> GRPO demo.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const m = require('../dist/cjs/index.js');

const b = m.backends();
console.log(`mathrl backends: cpu (${b.threads} threads), cuda ${b.cuda.compiled ? 'compiled' : 'not compiled'}, ` +
  `${b.cuda.available ? `GPU: ${b.cuda.name}` : `no GPU (${b.cuda.reason})`}`);

const devices = b.cuda.available ? ['cpu', 'cuda'] : ['cpu'];
for (const device of devices) {
  const t0 = performance.now();
  const probs = m.tidy(() => {
    // A toy "layer": logits = x @ Wᵀ + bias, then softmax over a 32-word vocabulary.
    const x = m.Tensor.fromArray(Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i)), [4, 64], { device });
    const w = m.Tensor.fromArray(Array.from({ length: 32 * 64 }, (_, i) => Math.cos(i * 0.37) * 0.1), [32, 64], { device });
    const bias = m.Tensor.fromArray(Array.from({ length: 32 }, (_, i) => i / 32), [32], { device });
    const logits = m.add(m.gemm(m.cast(x, 'bf16'), m.cast(w, 'bf16'), { transB: true }), bias);
    return m.softmax(logits);
  });
  const p = probs.toArray();
  const top = Array.from({ length: 4 }, (_, r) => {
    const row = p.subarray(r * 32, r * 32 + 32);
    return row.indexOf(Math.max(...row));
  });
  const sums = m.sum(probs);
  console.log(`${device}: softmax rows sum to ${Array.from(sums.toArray(), (v) => v.toFixed(4)).join(', ')}; ` +
    `argmax ${top.join(', ')} (${(performance.now() - t0).toFixed(1)} ms)`);
  probs.dispose();
  sums.dispose();
}
console.log(`memory: ${JSON.stringify(m.memory('cpu'))}`);
