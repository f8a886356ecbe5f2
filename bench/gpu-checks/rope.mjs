// GPU check: rope forward/inverse, CUDA vs CPU, positions up to 32767 (loaded by bench/gpu-check.mjs).
export default function ({ m, pair, check }) {
  for (const dt of ['f32', 'bf16'])
    for (const shape of [[1, 1, 1, 2], [2, 7, 3, 8], [2, 129, 4, 128], [1, 3, 1, 130], [4, 512, 32, 128]])
      m.tidy(() => {
        const [B, T] = shape;
        const pos = new Int32Array(B * T);
        for (let i = 0; i < pos.length; i++) pos[i] = (i * 7919) % 32768;
        const p = m.Tensor.fromArray(pos, [B, T]);
        const pg = p.to('cuda');
        const p1 = m.Tensor.fromArray(pos.subarray(0, T), [T]);
        const p1g = p1.to('cuda');
        const [x, xg] = pair(shape, dt);
        const tol = dt === 'f32' ? 1e-5 : 1e-2;
        check('rope', `[${shape}]`, dt, m.rope(x, p, 10000), m.rope(xg, pg, 10000), tol);
        check('rope inverse', `[${shape}]`, dt, m.ropeBackward(x, p, 500000), m.ropeBackward(xg, pg, 500000), tol);
        check('rope pos[T]', `[${shape}]`, dt, m.rope(x, p1, 10000), m.rope(xg, p1g, 10000), tol);
      });
}
