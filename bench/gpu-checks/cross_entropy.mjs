// GPU check: fused cross-entropy, CUDA vs CPU, V up to 151936 (loaded by bench/gpu-check.mjs).
export default function ({ m, pair, check }) {
  for (const dt of ['f32', 'bf16'])
    for (const [N, V] of [[1, 7], [129, 7], [7, 1000], [64, 32000], [5, 151936], [512, 32000]])
      m.tidy(() => {
        const s = `N${N} V${V}`;
        const t = new Int32Array(N);
        for (let i = 0; i < N; i++) t[i] = i % 5 === 3 ? -100 : (i * 40503) % V;
        const tt = m.Tensor.fromArray(t, [N]);
        const tg = tt.to('cuda');
        const [x, xg] = pair([N, V], dt);
        for (const [name, opts] of [['', {}], [' scale', { gradScale: 0.5 }]]) {
          const c = m.crossEntropy(x, tt, opts);
          const g = m.crossEntropy(xg, tg, opts);
          check(`CE losses${name}`, s, dt, c.losses, g.losses, 1e-4);
          check(`CE loss${name}`, s, dt, c.loss, g.loss, 1e-4);
          check(`CE count${name}`, s, dt, c.count, g.count, 0);
          check(`CE dlogits${name}`, s, dt, c.dlogits, g.dlogits, dt === 'f32' ? 1e-4 : 1e-2);
        }
        const copy = xg.clone();
        m.crossEntropy(copy, tg, { inPlace: true });
        check('CE inPlace', s, dt, m.crossEntropy(x, tt).dlogits, copy, dt === 'f32' ? 1e-4 : 1e-2);
      });
}
