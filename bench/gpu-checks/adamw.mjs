// GPU check: CUDA adamw vs its CPU twin (3 steps, weight decay, gradScale tensor, bf16 computeCopy).
export default function ({ m, pair, check }) {
  const shapes = [[1], [7], [129], [5, 129], [1000, 37], [4096, 4096]];
  for (const gdt of ['f32', 'bf16'])
    for (const shape of shapes)
      m.tidy(() => {
        const s = `[${shape}]`;
        const [p, pg] = pair(shape, 'f32');
        const mc = m.Tensor.zeros(shape), mg = m.Tensor.zeros(shape, { device: 'cuda' });
        const vc = m.Tensor.zeros(shape), vg = m.Tensor.zeros(shape, { device: 'cuda' });
        const cc = m.Tensor.empty(shape, { dtype: 'bf16' }), cg = m.Tensor.empty(shape, { dtype: 'bf16', device: 'cuda' });
        const sc = m.Tensor.fromArray([0.7], []), sg = sc.to('cuda');
        for (let t = 1; t <= 3; t++) {
          const [g, gg] = pair(shape, gdt);
          const o = { lr: 1e-2, step: t, weightDecay: 0.1 };
          m.adamw(p, g, mc, vc, { ...o, gradScale: sc, computeCopy: cc });
          m.adamw(pg, gg, mg, vg, { ...o, gradScale: sg, computeCopy: cg });
        }
        check('adamw param', s, gdt, p, pg, 1e-6);
        check('adamw m', s, gdt, mc, mg, 1e-5);
        check('adamw v', s, gdt, vc, vg, 1e-5);
        check('adamw copy', s, gdt, cc, cg, 1e-2);
        // The copy is exactly the CUDA param rounded to bf16.
        check('adamw copy exact', s, gdt, m.cast(pg, 'bf16'), cg, 0);
      });
}
