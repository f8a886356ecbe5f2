// GPU check: GRPO advantages (outcome and process supervision), CUDA vs CPU (loaded by bench/gpu-check.mjs).
export default function ({ m, check, randn }) {
  for (const scale of ['group', 'batch', 'none'])
    for (const [B, G, S, T] of [[1, 1, 1, 1], [7, 16, 5, 129], [64, 8, 12, 1000], [512, 16, 32, 2048]])
      m.tidy(() => {
        const N = B * G;
        const s = `B${B} G${G} S${S} T${T}`;
        const r = m.Tensor.fromArray(randn(N));
        check(`groupAdv ${scale}`, s, 'f32', m.groupAdvantages(r, G, { scaleRewards: scale }),
          m.groupAdvantages(r.to('cuda'), G, { scaleRewards: scale }), 1e-5);
        const rw = m.Tensor.fromArray(randn(N * S), [N, S]);
        const ends = new Int32Array(N * S);
        for (let i = 0; i < N * S; i++) ends[i] = (i * 2654435761) % 7 === 0 ? -1 : ((i * 40503) >>> 0) % (T + 3);
        const et = m.Tensor.fromArray(ends, [N, S], { dtype: 'i32' });
        const mask = new Int32Array(N * T);
        for (let i = 0; i < N * T; i++) mask[i] = i % T < T - (i % 5) ? 1 : 0;
        const mt = m.Tensor.fromArray(mask, [N, T], { dtype: 'i32' });
        check(`processAdv ${scale}`, s, 'f32', m.processAdvantages(rw, et, G, { completionMask: mt, scaleRewards: scale }),
          m.processAdvantages(rw.to('cuda'), et.to('cuda'), G, { completionMask: mt.to('cuda'), scaleRewards: scale }), 1e-5);
      });
}
