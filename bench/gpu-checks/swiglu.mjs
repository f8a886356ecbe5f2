// GPU check: swiglu forward/backward, CUDA vs CPU (loaded by bench/gpu-check.mjs).
export default function ({ m, pair, check }) {
  for (const dt of ['f32', 'bf16'])
    for (const shape of [[1], [7], [129], [7, 129], [33, 4097], [256, 11008]])
      m.tidy(() => {
        const s = `[${shape}]`;
        const [g, gg] = pair(shape, dt);
        const [u, ug] = pair(shape, dt);
        const [dh, dhg] = pair(shape, dt);
        const tol = dt === 'f32' ? 1e-5 : 1e-2;
        check('swiglu', s, dt, m.swiglu(g, u), m.swiglu(gg, ug), tol);
        const c = m.swigluBackward(dh, g, u);
        const k = m.swigluBackward(dhg, gg, ug);
        check('swigluBwd dgate', s, dt, c.dgate, k.dgate, tol);
        check('swigluBwd dup', s, dt, c.dup, k.dup, tol);
      });
}
