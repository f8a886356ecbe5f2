// GPU check: embedding forward/backward, CUDA vs CPU, plus the out-of-range report (bench/gpu-check.mjs).
export default function ({ m, pair, check, randn }) {
  for (const dt of ['f32', 'bf16'])
    for (const [N, V, D] of [[1, 7, 1], [7, 7, 7], [129, 1000, 129], [10, 32000, 64], [2048, 32000, 4096]])
      m.tidy(() => {
        const s = `N${N} V${V} D${D}`;
        const ids = new Int32Array(N);
        for (let i = 0; i < N; i++) ids[i] = (i * 2654435761) % V >>> 0;
        ids[0] = ids[N - 1]; // a repeated id
        const it = m.Tensor.fromArray(ids, [N]);
        const itg = it.to('cuda');
        const [table, tableg] = pair([V, D], dt);
        check('embedding', s, dt, m.embedding(it, table), m.embedding(itg, tableg), 0);
        const [dout, doutg] = pair([N, D], dt);
        const [acc, accg] = pair([V, D], 'f32');
        m.embeddingBackward(dout, it, acc);
        m.embeddingBackward(doutg, itg, accg);
        check('embeddingBwd', s, dt, acc, accg, 1e-6);
      });
  m.tidy(() => {
    const table = m.Tensor.fromArray(randn(40), [10, 4], { device: 'cuda' });
    const bad = m.Tensor.fromArray(Int32Array.from([1, 10, 2]), [3], { device: 'cuda' });
    const out = m.embedding(bad, table).toArray();
    let msg = '';
    try {
      m.checkIndexErrors();
    } catch (e) {
      msg = e.message;
    }
    const ok = out.subarray(4, 8).every(Number.isNaN) && /token id 10 at position 1/.test(msg);
    const cpu = m.Tensor.fromArray(ok ? [0] : [1]);
    check('embedding bad id', '[3] V10', 'f32', m.Tensor.fromArray([0]), cpu, 0);
  });
}
