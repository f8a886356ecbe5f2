// GPU check for the inference kernels (lib/ops/kvCache.ts, attentionDecode.ts, argmax.ts): CUDA vs the
// CPU twin on random inputs — cache writes through a row map (exact), decode attention with grouped-query
// heads, odd head sizes up to 256, lengths 0..S and long caches, and argmax at vocabulary sizes.
export default function ({ m, pair, check, randn }) {
  const cases = [
    // B, Bc, S, Hq, Hkv, Dh
    [1, 1, 1, 1, 1, 8],
    [3, 4, 37, 4, 2, 64],
    [5, 8, 300, 8, 2, 128],
    [2, 2, 1030, 6, 1, 40],
    [1, 1, 9, 2, 2, 200],
    [4, 4, 4096, 32, 8, 128],
    [64, 64, 513, 14, 2, 64],
  ];
  for (const dtype of ['f32', 'bf16'])
    for (const [B, Bc, S, Hq, Hkv, Dh] of cases)
      m.tidy(() => {
        const [kc, kg] = pair([Bc, S, Hkv, Dh], dtype);
        const [vc, vg] = pair([Bc, S, Hkv, Dh], dtype);
        const rows = [];
        for (let b = 0; b < B; b++) if (!rows.includes((b * 3) % Bc)) rows.push((b * 3) % Bc);
        const n = rows.length;
        const [xc, xg] = pair([n, 1, Hkv, Dh], dtype);
        const start = rows.map((_, i) => (i * 7919) % S);
        m.kvCacheWrite(kc, xc, start, { rows });
        m.kvCacheWrite(kg, xg, start, { rows });
        m.kvCacheWrite(vc, xc, start, { rows });
        m.kvCacheWrite(vg, xg, start, { rows });
        const s = `${B}/${Bc}x${S}x${Hq}/${Hkv}x${Dh}`;
        check('kvCacheWrite', s, dtype, kc, kg, 0);
        const [q, qg] = pair([n, Hq, Dh], dtype);
        const lengths = start.map((p, i) => (i === 1 ? 0 : p + 1));
        const oc = m.attentionDecode(q, kc, vc, lengths, { rows });
        const og = m.attentionDecode(qg, kg, vg, lengths, { rows });
        check('attentionDecode', s, dtype, oc, og, dtype === 'f32' ? 1e-5 : 1e-2);
      });
  m.checkKvCacheErrors();
  for (const dtype of ['f32', 'bf16'])
    for (const [R, V] of [[1, 1], [7, 129], [64, 32000], [3, 151936]])
      m.tidy(() => {
        const x = m.Tensor.fromArray(randn(R * V).map((v) => 3 * v), [R, V], { dtype });
        const c = m.argmax(x);
        const g = m.argmax(x.to('cuda'));
        check('argmax index', `${R}x${V}`, dtype, c.indices, g.indices, 0);
        check('argmax logprob', `${R}x${V}`, dtype, c.logprobs, g.logprobs, 1e-5);
      });
}
