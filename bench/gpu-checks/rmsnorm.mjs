// GPU check: rmsnorm forward/backward, CUDA vs CPU (loaded by bench/gpu-check.mjs).
export default function ({ m, pair, check }) {
  for (const [dt, wdt] of [['f32', 'f32'], ['bf16', 'f32'], ['bf16', 'bf16']])
    for (const shape of [[1, 1], [7, 7], [129, 129], [33, 4096], [3, 5, 129], [512, 4096]])
      m.tidy(() => {
        const D = shape[shape.length - 1];
        const s = `[${shape}] w:${wdt}`;
        const [x, xg] = pair(shape, dt);
        const [w, wg] = pair([D], wdt);
        const [dy, dyg] = pair(shape, dt);
        const c = m.rmsnorm(x, w, 1e-5);
        const g = m.rmsnorm(xg, wg, 1e-5);
        check('rmsnorm y', s, dt, c.y, g.y, dt === 'f32' ? 1e-5 : 1e-2);
        check('rmsnorm rstd', s, dt, c.rstd, g.rstd, 1e-5);
        const cb = m.rmsnormBackward(dy, x, w, c.rstd);
        const gb = m.rmsnormBackward(dyg, xg, wg, g.rstd);
        check('rmsnormBwd dx', s, dt, cb.dx, gb.dx, dt === 'f32' ? 1e-4 : 1e-2);
        check('rmsnormBwd dweight', s, dt, cb.dweight, gb.dweight, 1e-4);
        const [acc, accg] = pair([D], 'f32');
        m.rmsnormBackward(dy, x, w, c.rstd, { dweight: acc });
        m.rmsnormBackward(dyg, xg, wg, g.rstd, { dweight: accg });
        check('rmsnormBwd dw accum', s, dt, acc, accg, 1e-4);
      });
}
