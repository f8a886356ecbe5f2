// GPU check: fused linear log-prob forward/backward, CUDA vs CPU, up to vocabulary 151936 (loaded by
// bench/gpu-check.mjs).
export default function ({ m, pair, check, randn }) {
  for (const dt of ['f32', 'bf16'])
    for (const [N, V, D, chunk] of [[1, 7, 3, 4], [7, 129, 17, 32], [64, 32000, 128, 8192], [33, 151936, 64, 8192], [256, 4099, 896, 1000]])
      m.tidy(() => {
        const s = `N${N} V${V} D${D} C${chunk}`;
        const [h, hg] = pair([N, D], dt);
        const w = m.scale(m.Tensor.fromArray(randn(V * D), [V, D], { dtype: dt }), 0.1, 0);
        const wg = w.to('cuda');
        const t = new Int32Array(N);
        for (let i = 0; i < N; i++) t[i] = i % 5 === 3 ? -100 : (i * 40503) % V;
        const tt = m.Tensor.fromArray(t, [N], { dtype: 'i32' });
        const tg = tt.to('cuda');
        const opts = { temperature: 0.9, chunkSize: chunk };
        const a = m.linearLogprob(h, w, tt, opts);
        const b = m.linearLogprob(hg, wg, tg, opts);
        const tol = dt === 'f32' ? 1e-4 : 1e-2;
        check('linLogprob logp', s, dt, a.logp, b.logp, tol);
        check('linLogprob entropy', s, dt, a.entropy, b.entropy, tol);
        check('linLogprob lse', s, dt, a.lse, b.lse, tol);
        const dl = m.Tensor.fromArray(randn(N), [N]);
        const de = m.Tensor.fromArray(randn(N), [N]);
        const ga = m.linearLogprobBackward(h, w, tt, a, dl, { ...opts, dentropy: de });
        const gb = m.linearLogprobBackward(hg, wg, tg, b, dl.to('cuda'), { ...opts, dentropy: de.to('cuda') });
        check('linLogprob dhidden', s, dt, ga.dhidden, gb.dhidden, tol);
        check('linLogprob dlmHead', s, dt, ga.dlmHead, gb.dlmHead, tol);
      });
}
