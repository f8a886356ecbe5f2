// GPU check: fused GRPO loss (loss, dlogp, metrics), CUDA vs CPU (loaded by bench/gpu-check.mjs).
export default function ({ m, check, randn }) {
  for (const lossType of ['grpo', 'bnpo', 'dapo', 'dr_grpo'])
    for (const [N, T, perTok] of [[1, 1, false], [7, 129, false], [64, 1000, true], [256, 2048, false]])
      m.tidy(() => {
        const s = `N${N} T${T}${perTok ? ' tok' : ''}`;
        const logp = randn(N * T).map((v) => 0.5 * v - 1.5);
        const noise = randn(N * T);
        const old = logp.map((v, i) => v + 0.3 * noise[i]);
        const ref = logp.map((v, i) => v - 0.2 * noise[(i * 7) % (N * T)]);
        const mask = new Float32Array(N * T);
        for (let n = 0; n < N; n++) for (let t = 0; t < T - ((n * 13) % T); t++) mask[n * T + t] = 1;
        const cpu = {
          logp: m.Tensor.fromArray(logp, [N, T]),
          oldLogp: m.Tensor.fromArray(old, [N, T]),
          refLogp: m.Tensor.fromArray(ref, [N, T]),
          advantages: m.Tensor.fromArray(randn(perTok ? N * T : N), perTok ? [N, T] : [N]),
          completionMask: m.Tensor.fromArray(mask, [N, T]),
        };
        const gpu = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.to('cuda')]));
        const opts = { beta: 0.04, epsilon: 0.2, epsilonHigh: 0.28, lossType, numItemsInBatch: lossType === 'dapo' ? 2 * N * T : undefined };
        const a = m.grpoLoss(cpu, opts);
        const b = m.grpoLoss(gpu, opts);
        check(`grpoLoss ${lossType} loss`, s, 'f32', a.loss, b.loss, 1e-4);
        check(`grpoLoss ${lossType} dlogp`, s, 'f32', a.dlogp, b.dlogp, 1e-5);
        check(`grpoLoss ${lossType} metrics`, s, 'f32', a.metrics, b.metrics, 1e-4);
      });
}
