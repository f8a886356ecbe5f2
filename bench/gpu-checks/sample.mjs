// GPU check: fused sampling, CUDA vs CPU on the same logits and seeds (loaded by bench/gpu-check.mjs).
// Both twins draw the same Philox uniform per row, so tokens must agree; a draw whose uniform lands
// within float rounding of a CDF step may legitimately differ, so sampled rows allow a mismatch fraction
// of at most 1/64 (reported as `mismatch`), greedy rows none. Logprobs are compared where tokens agree.
export default function ({ m, check, randn }) {
  const tensor = (data, shape, dtype = 'f32') => m.Tensor.fromArray(data, shape, { dtype });
  for (const dt of ['f32', 'bf16'])
    for (const [R, V] of [[1, 1], [3, 7], [64, 50], [33, 1000], [64, 32000], [16, 151936], [5, 200003]])
      m.tidy(() => {
        const s = `R${R} V${V}`;
        const x = tensor(randn(R * V).map((v) => 3 * v), [R, V], dt);
        const xg = x.to('cuda');
        const L = 9;
        const prev = tensor(Int32Array.from({ length: R * L }, (_, i) => (i % L === 8 ? -1 : (i * 7919) % V)), [R, L], 'i32');
        const prevg = prev.to('cuda');
        const seeds = Int32Array.from({ length: R }, (_, i) => i * 65537 + 3);
        const cases = [
          ['greedy', { temperature: 0 }],
          ['plain', { seeds }],
          ['topK 50', { seeds: 11, topK: 50 }],
          ['topP 0.9', { seeds, topP: 0.9 }],
          ['all', { seeds, topK: 200, topP: 0.8, minP: 0.02, temperature: 0.7, offset: 5 }],
          ['tiny T', { seeds, temperature: 1e-20 }],
          ['penalty', { seeds, repetitionPenalty: 1.3, topP: 0.95, offset: 2 ** 33 + 1 }],
        ];
        for (const [name, o] of cases) {
          const usePrev = o.repetitionPenalty !== undefined && V <= 327680;
          if (o.repetitionPenalty !== undefined && !usePrev) continue;
          const a = m.sample(x, usePrev ? { ...o, previousTokens: prev } : o);
          const b = m.sample(xg, usePrev ? { ...o, previousTokens: prevg } : o);
          const ta = a.tokens.toArray();
          const tb = b.tokens.toArray();
          const la = a.logprobs.toArray();
          const lb = b.logprobs.toArray();
          let bad = 0;
          const ka = [];
          const kb = [];
          for (let i = 0; i < R; i++) {
            if (ta[i] !== tb[i]) bad++;
            else {
              ka.push(la[i]);
              kb.push(lb[i]);
            }
          }
          const frac = bad / R;
          const allowed = name === 'greedy' ? 0 : 1 / 64;
          // check(op, shape, dtype, cpu, gpu, tol): relErr against [0] is the value itself
          check(`sample ${name} mismatch`, s, dt, tensor([0], [1]), tensor([frac], [1]), allowed === 0 ? 0 : allowed + 1e-9);
          check(`sample ${name} logprobs`, s, dt, tensor(ka, [ka.length]), tensor(kb, [kb.length]), 1e-4);
        }
      });
}
