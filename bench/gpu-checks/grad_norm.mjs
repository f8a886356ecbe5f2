// GPU check: CUDA gradNormSquared / clipGradNorm / clipGradNormInPlace vs the CPU twins.
export default function ({ m, pair, check }) {
  const sets = [
    [[[1], 'f32']],
    [[[7], 'bf16'], [[129, 3], 'f32'], [[70001], 'bf16']],
    [[[4096, 4096], 'f32'], [[1000, 37], 'bf16'], [[3], 'f32']],
  ];
  for (const set of sets)
    m.tidy(() => {
      const s = set.map(([sh, dt]) => `[${sh}]${dt[0]}`).join(' ').slice(0, 17);
      const pairs = set.map(([sh, dt]) => pair(sh, dt));
      const cpu = pairs.map((p) => p[0]), gpu = pairs.map((p) => p[1]);
      check('gradNormSquared', s, 'mix', m.gradNormSquared(cpu), m.gradNormSquared(gpu), 1e-5);
      for (const maxNorm of [1, 1e9]) {
        const rc = m.clipGradNorm(cpu, maxNorm), rg = m.clipGradNorm(gpu, maxNorm);
        check(`clip norm ${maxNorm}`, s, 'mix', rc.norm, rg.norm, 1e-5);
        check(`clip scale ${maxNorm}`, s, 'mix', rc.scale, rg.scale, 1e-5);
      }
      const nc = m.clipGradNormInPlace(cpu, 1), ng = m.clipGradNormInPlace(gpu, 1);
      check('clipInPlace norm', s, 'mix', m.Tensor.fromArray([nc]), m.Tensor.fromArray([ng]), 1e-5);
      cpu.forEach((c, i) => check('clipInPlace grad', `[${c.shape}]`, c.dtype, c, gpu[i], c.dtype === 'f32' ? 1e-5 : 1e-2));
    });
}
