// GPU check for fused attention (lib/ops/attention.ts): CUDA forward (out, lse) and backward (dq, dk, dv)
// vs the CPU twin on random inputs, grouped-query heads, causal / full, with and without segment ids,
// head sizes 8..128 and sequence lengths that are not multiples of the 32-row tiles.
export default function ({ m, pair, check }) {
  const cases = [
    // B, T, Hq, Hkv, Dh, causal, segments
    [1, 1, 4, 4, 8, true, false],
    [2, 7, 4, 2, 16, true, true],
    [1, 33, 6, 1, 64, false, true],
    [2, 129, 4, 2, 128, true, true],
    [2, 129, 6, 1, 40, false, false],
    [1, 300, 8, 2, 64, true, true],
    [1, 97, 4, 4, 96, true, false],
    [1, 1024, 8, 2, 128, true, true],
  ];
  for (const dtype of ['f32', 'bf16'])
    for (const [B, T, Hq, Hkv, Dh, causal, seg] of cases)
      m.tidy(() => {
        const [q, qg] = pair([B, T, Hq, Dh], dtype);
        const [k, kg] = pair([B, T, Hkv, Dh], dtype);
        const [v, vg] = pair([B, T, Hkv, Dh], dtype);
        const [g, gg] = pair([B, T, Hq, Dh], dtype);
        let segC, segG;
        if (seg) {
          const ids = new Int32Array(B * T);
          for (let i = 0; i < ids.length; i++) ids[i] = Math.floor((i % T) / 23) + (i % T > T / 2 ? 7 : 0);
          segC = m.Tensor.fromArray(ids, [B, T]);
          segG = segC.to('cuda');
        }
        const oc = { causal, segmentIds: segC };
        const og = { causal, segmentIds: segG };
        const c = m.attention(q, k, v, oc);
        const r = m.attention(qg, kg, vg, og);
        const cb = m.attentionBackward(g, q, k, v, c.out, c.lse, oc);
        const rb = m.attentionBackward(gg, qg, kg, vg, r.out, r.lse, og);
        const s = `${B}x${T}x${Hq}/${Hkv}x${Dh}${causal ? 'c' : ''}${seg ? 's' : ''}`;
        const tol = dtype === 'f32' ? 1e-4 : 1e-2;
        check('attention out', s, dtype, c.out, r.out, tol);
        check('attention lse', s, dtype, c.lse, r.lse, dtype === 'f32' ? 1e-5 : 1e-3);
        check('attention dq', s, dtype, cb.dq, rb.dq, tol);
        check('attention dk', s, dtype, cb.dk, rb.dk, tol);
        check('attention dv', s, dtype, cb.dv, rb.dv, tol);
      });
}
