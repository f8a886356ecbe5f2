// AdamW and gradient-norm clipping vs float64 references (torch.optim.AdamW's algorithm, and
// torch.nn.utils.clip_grad_norm_), on fresh random inputs of odd shapes, f32 and bf16 grads.
import {
  Tensor,
  DType,
  adamw,
  AdamWOptions,
  gradNormSquared,
  clipGradNorm,
  clipGradNormInPlace,
  roundBf16,
  f32ToBf16Bits,
} from '../lib';
import { randn, relErr, describeCuda } from './helpers';

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  wd: number;
}

/** torch.optim.AdamW (docs' algorithm), one step in float64, in place on p, m, v. */
function refAdamW(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, h: Hyper, t: number): void {
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i] - h.lr * h.wd * p[i];
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g[i];
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g[i] * g[i];
    const mhat = m[i] / (1 - h.beta1 ** t);
    const vhat = v[i] / (1 - h.beta2 ** t);
    p[i] = p[i] - (h.lr * mhat) / (Math.sqrt(vhat) + h.eps);
  }
}

const SHAPES: number[][] = [[1], [7], [129], [3, 129], [1025, 3]];
type ScaleKind = 'none' | 'number' | 'tensor';

describe.each(['f32', 'bf16'] as DType[])('adamw, %s grads', (gdt) => {
  const cases: [string, number[], number, ScaleKind][] = [];
  for (const s of SHAPES)
    for (const wd of [0, 0.1])
      for (const sk of ['none', 'number', 'tensor'] as ScaleKind[])
        if (s.length === 1 || sk !== 'number') cases.push([`${s.join('x')} wd=${wd} scale=${sk}`, s, wd, sk]);

  test.each(cases)('5 steps vs float64: %s', (_name, shape, wd, sk) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const h: Hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd };
    const p0 = randn(n);
    const param = Tensor.fromArray(p0, shape);
    const m = Tensor.zeros(shape);
    const v = Tensor.zeros(shape);
    const P = Float64Array.from(p0);
    const M = new Float64Array(n);
    const V = new Float64Array(n);
    const scaleVal = 0.37;
    const scaleT = Tensor.fromArray([scaleVal], []);
    for (let t = 1; t <= 5; t++) {
      const graw = randn(n, 0.5);
      const grad = Tensor.fromArray(graw, shape, { dtype: gdt });
      const s = sk === 'none' ? 1 : Math.fround(scaleVal);
      const G = Float64Array.from(graw, (x) => (gdt === 'bf16' ? roundBf16(x) : Math.fround(x)) * s);
      const before = param.toArray();
      const opts: AdamWOptions = { lr: h.lr, weightDecay: wd, step: t };
      if (sk === 'number') opts.gradScale = scaleVal;
      if (sk === 'tensor') opts.gradScale = scaleT;
      const pRef = Float64Array.from(before);
      adamw(param, grad, m, v, opts);
      refAdamW(P, G, M, V, h, t);
      // Also one step from the kernel's own state, so the per-step update is compared tightly.
      const after = param.toArray();
      const delta = Float64Array.from(after, (x, i) => x - before[i]);
      const refDelta = Float64Array.from(P, (x, i) => x - pRef[i]);
      expect(relErr(after, P)).toBeLessThan(1e-6);
      // The update's error relative to its scale (lr per element): tight, unlike relErr of a delta whose
      // two terms (decay and Adam step) may cancel in a single element.
      let e2 = 0;
      for (let i = 0; i < n; i++) e2 += (delta[i] - refDelta[i]) ** 2;
      expect(Math.sqrt(e2 / n) / h.lr).toBeLessThan(2e-5);
      expect(relErr(m.toArray(), M)).toBeLessThan(1e-5);
      expect(relErr(v.toArray(), V)).toBeLessThan(1e-5);
      grad.dispose();
    }
    for (const t of [param, m, v, scaleT]) t.dispose();
  });

  test('one step from a random state matches float64 tightly (every element)', () => {
    const n = 1031;
    const h: Hyper = { lr: 0.1, beta1: 0.8, beta2: 0.95, eps: 1e-6, wd: 0.05 };
    const p0 = randn(n);
    const m0 = randn(n, 0.1);
    const v0 = Float32Array.from(randn(n, 0.1), (x) => x * x);
    const g0 = randn(n);
    const param = Tensor.fromArray(p0);
    const m = Tensor.fromArray(m0);
    const v = Tensor.fromArray(v0);
    const grad = Tensor.fromArray(g0, [n], { dtype: gdt });
    const t = 7;
    adamw(param, grad, m, v, { lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.wd, step: t });
    const P = Float64Array.from(p0);
    const M = Float64Array.from(m0);
    const V = Float64Array.from(v0);
    const G = Float64Array.from(g0, (x) => (gdt === 'bf16' ? roundBf16(x) : x));
    refAdamW(P, G, M, V, h, t);
    const after = param.toArray();
    expect(relErr(Float64Array.from(after, (x, i) => x - p0[i]), Float64Array.from(P, (x, i) => x - p0[i]))).toBeLessThan(1e-5);
    expect(relErr(m.toArray(), M)).toBeLessThan(1e-6);
    expect(relErr(v.toArray(), V)).toBeLessThan(1e-6);
    for (const x of [param, m, v, grad]) x.dispose();
  });
});

describe('adamw options', () => {
  test('gradScale as a number and as a tensor give bit-identical results', () => {
    const n = 517;
    const p0 = randn(n);
    const g = Tensor.fromArray(randn(n), [n], { dtype: 'bf16' });
    const runs = [0.25, Tensor.fromArray([0.25], [1])].map((gs) => {
      const p = Tensor.fromArray(p0);
      const m = Tensor.zeros([n]);
      const v = Tensor.zeros([n]);
      for (let t = 1; t <= 3; t++) adamw(p, g, m, v, { lr: 0.1, step: t, weightDecay: 0.01, gradScale: gs });
      return [p.toArray(), m.toArray(), v.toArray()];
    });
    for (let k = 0; k < 3; k++) expect(Array.from(runs[1][k])).toEqual(Array.from(runs[0][k]));
  });

  test.each(['bf16', 'f32'] as DType[])('computeCopy (%s) is exactly the updated param, rounded to nearest even', (cdt) => {
    const shape = [13, 77];
    const n = 13 * 77;
    const p = Tensor.fromArray(randn(n), shape);
    const m = Tensor.zeros(shape);
    const v = Tensor.zeros(shape);
    const copy = Tensor.empty(shape, { dtype: cdt });
    for (let t = 1; t <= 3; t++) {
      const g = Tensor.fromArray(randn(n), shape);
      adamw(p, g, m, v, { lr: 0.05, step: t, computeCopy: copy });
      const pv = p.toArray();
      const cv = copy.toArray();
      if (cdt === 'bf16') {
        const bits = new Uint16Array(n);
        for (let i = 0; i < n; i++) bits[i] = f32ToBf16Bits(cv[i]);
        expect(Array.from(bits)).toEqual(Array.from(pv, f32ToBf16Bits));
        expect(Array.from(cv)).toEqual(Array.from(pv, roundBf16));
      } else expect(Array.from(cv)).toEqual(Array.from(pv));
      g.dispose();
    }
    for (const x of [p, m, v, copy]) x.dispose();
  });

  test('empty tensors are a no-op', () => {
    const z = () => Tensor.zeros([0, 3]);
    expect(() => adamw(z(), z(), z(), z(), { lr: 1, step: 1 })).not.toThrow();
  });

  test('errors name the op and the shapes', () => {
    const s = [3, 5];
    const p = Tensor.fromArray(randn(15), s);
    const g = Tensor.fromArray(randn(15), s);
    const m = Tensor.zeros(s);
    const v = Tensor.zeros(s);
    const o = { lr: 1e-3, step: 1 };
    expect(() => adamw(Tensor.zeros(s, { dtype: 'bf16' }), g, m, v, o)).toThrow('adamw: param must be f32 (master weights), got bf16 [3, 5]');
    expect(() => adamw(p, Tensor.zeros(s, { dtype: 'i32' }), m, v, o)).toThrow(/adamw: expected a f32 or bf16 tensor, got i32 \[3, 5\]/);
    expect(() => adamw(p, g, Tensor.zeros(s, { dtype: 'bf16' }), v, o)).toThrow('adamw: m must be f32, got bf16 [3, 5]');
    expect(() => adamw(p, Tensor.zeros([5, 3]), m, v, o)).toThrow('adamw: shapes [3, 5] and [5, 3] differ');
    expect(() => adamw(p, g, m, Tensor.zeros([15]), o)).toThrow('adamw: shapes [3, 5] and [15] differ');
    expect(() => adamw(p, g, m, v, { lr: 1e-3, step: 0 })).toThrow(/step must be an integer >= 1/);
    expect(() => adamw(p, g, m, v, { lr: 1e-3, step: 1.5 })).toThrow(/step must be an integer >= 1/);
    expect(() => adamw(p, g, m, v, { lr: -1, step: 1 })).toThrow(/lr must be a finite number >= 0/);
    expect(() => adamw(p, g, m, v, { lr: NaN, step: 1 })).toThrow(/adamw: lr must be a number/);
    expect(() => adamw(p, g, m, v, { ...o, beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => adamw(p, g, m, v, { ...o, beta2: -0.1 })).toThrow(/beta2 must be in \[0, 1\)/);
    expect(() => adamw(p, g, m, v, { ...o, eps: -1 })).toThrow(/eps must be/);
    expect(() => adamw(p, g, m, v, { ...o, weightDecay: -1 })).toThrow(/weightDecay must be/);
    expect(() => adamw(p, g, m, v, { ...o, gradScale: Infinity })).toThrow(/gradScale must be finite/);
    expect(() => adamw(p, g, m, v, { ...o, gradScale: Tensor.zeros([2]) })).toThrow('adamw: gradScale must be a f32 scalar tensor, got f32 [2]');
    expect(() => adamw(p, g, m, v, { ...o, gradScale: Tensor.zeros([], { dtype: 'bf16' }) })).toThrow(/gradScale must be a f32 scalar/);
    expect(() => adamw(p, g, m, v, { ...o, computeCopy: Tensor.zeros([15]) })).toThrow('adamw: shapes [3, 5] and [15] differ');
    expect(() => adamw(p, g, m, v, { ...o, computeCopy: Tensor.zeros(s, { dtype: 'i32' }) })).toThrow(/expected a f32 or bf16 tensor, got i32/);
    expect(() => adamw(p, g, m, m, o)).toThrow('adamw: m and v share memory');
    expect(() => adamw(p, g, m, p.reshape([3, 5]), o)).toThrow('adamw: param and v share memory');
    expect(() => adamw(p, g, m, v, undefined as unknown as AdamWOptions)).toThrow(/options/);
    const d = Tensor.zeros(s);
    d.dispose();
    expect(() => adamw(p, g, m, d, o)).toThrow('adamw: tensor [3, 5] f32 was disposed');
    // Nothing was modified by the refused calls.
    expect(Array.from(m.toArray()).every((x) => x === 0)).toBe(true);
  });
});

describe('gradient norm and clipping', () => {
  function grads(): { ts: Tensor[]; xs: Float64Array[] } {
    const spec: [number[], DType][] = [[[1], 'f32'], [[7], 'bf16'], [[129, 3], 'f32'], [[5003], 'bf16'], [[70001], 'f32'], [[2, 4099], 'f32']];
    const ts: Tensor[] = [];
    const xs: Float64Array[] = [];
    for (const [s, dt] of spec) {
      const n = s.reduce((a, b) => a * b, 1);
      const r = randn(n, 0.01);
      ts.push(Tensor.fromArray(r, s, { dtype: dt }));
      xs.push(Float64Array.from(r, (x) => (dt === 'bf16' ? roundBf16(x) : Math.fround(x))));
    }
    return { ts, xs };
  }
  const sumsq = (xs: Float64Array[]) => xs.reduce((a, x) => a + x.reduce((b, y) => b + y * y, 0), 0);

  test('gradNormSquared vs float64 over tensors of odd sizes; out is reused', () => {
    const { ts, xs } = grads();
    const ref = sumsq(xs);
    const s = gradNormSquared(ts);
    expect(s.shape).toEqual([]);
    expect(s.dtype).toBe('f32');
    expect(Math.abs(s.item() - ref) / ref).toBeLessThan(1e-6);
    const out = Tensor.fromArray([123], []);
    expect(gradNormSquared(ts.slice(2), out)).toBe(out);
    const ref2 = sumsq(xs.slice(2));
    expect(Math.abs(out.item() - ref2) / ref2).toBeLessThan(1e-6);
    expect(gradNormSquared([], out).item()).toBe(0);
    for (const t of [...ts, s, out]) t.dispose();
  });

  test.each([[0.5], [1e6]])('clipGradNorm (maxNorm %p): norm and scale on device; InPlace scales the grads', (maxNorm) => {
    const { ts, xs } = grads();
    const norm = Math.sqrt(sumsq(xs));
    const ref = Math.min(1, maxNorm / (norm + 1e-6));
    const r = clipGradNorm(ts, maxNorm);
    expect(r.norm.shape).toEqual([]);
    expect(Math.abs(r.norm.item() - norm) / norm).toBeLessThan(1e-6);
    expect(Math.abs(r.scale.item() - ref) / ref).toBeLessThan(1e-6);
    if (maxNorm > norm) expect(r.scale.item()).toBe(1);
    const returned = clipGradNormInPlace(ts, maxNorm);
    expect(returned).toBe(r.norm.item());
    const s = r.scale.item();
    ts.forEach((t, i) => {
      const want = xs[i].map((x) => Math.fround(Math.fround(s) * x));
      const got = t.toArray();
      expect(Array.from(got)).toEqual(Array.from(want, t.dtype === 'bf16' ? roundBf16 : (x: number) => x));
    });
    if (ref < 1) expect(Math.abs(Math.sqrt(sumsq(ts.map((t) => Float64Array.from(t.toArray())))) - maxNorm) / maxNorm).toBeLessThan(1e-2);
    for (const t of [...ts, r.norm, r.scale]) t.dispose();
  });

  test('the clip scale feeds adamw without a host read: same result as clipping first', () => {
    const n = 300;
    const g = Tensor.fromArray(randn(n, 3), [n]);
    const p0 = randn(n);
    const [pa, ma, va, pb, mb, vb] = [Tensor.fromArray(p0), Tensor.zeros([n]), Tensor.zeros([n]), Tensor.fromArray(p0), Tensor.zeros([n]), Tensor.zeros([n])];
    const { norm, scale } = clipGradNorm([g], 1.0);
    adamw(pa, g, ma, va, { lr: 0.01, step: 1, gradScale: scale });
    const gc = g.clone();
    clipGradNormInPlace([gc], 1.0);
    adamw(pb, gc, mb, vb, { lr: 0.01, step: 1 });
    expect(Array.from(pa.toArray())).toEqual(Array.from(pb.toArray()));
    expect(norm.item()).toBeGreaterThan(1);
    for (const t of [g, gc, pa, ma, va, pb, mb, vb, norm, scale]) t.dispose();
  });

  test('a NaN or Inf gradient gives a NaN scale (as torch)', () => {
    const g = Tensor.fromArray([1, NaN, 2]);
    const r = clipGradNorm([g], 1);
    expect(r.norm.item()).toBeNaN();
    expect(r.scale.item()).toBeNaN();
    const h = Tensor.fromArray([1, Infinity]);
    const r2 = clipGradNorm([h], 1);
    expect(r2.norm.item()).toBe(Infinity);
    expect(r2.scale.item()).toBe(0);
    for (const t of [g, h, r.norm, r.scale, r2.norm, r2.scale]) t.dispose();
  });

  test('errors', () => {
    const g = Tensor.fromArray(randn(5));
    expect(() => gradNormSquared([])).toThrow(/gradNormSquared: no gradients/);
    expect(() => gradNormSquared(g as unknown as Tensor[])).toThrow(/grads must be an array/);
    expect(() => gradNormSquared([g, Tensor.zeros([2], { dtype: 'i32' })])).toThrow(/gradNormSquared: expected a f32 or bf16 tensor, got i32 \[2\]/);
    expect(() => gradNormSquared([g, 3 as unknown as Tensor])).toThrow(/grads\[1\] must be a Tensor/);
    expect(() => gradNormSquared([g], Tensor.zeros([2]))).toThrow('gradNormSquared: out must be a f32 scalar tensor, got f32 [2]');
    expect(() => clipGradNorm([g], 0)).toThrow(/maxNorm must be > 0/);
    expect(() => clipGradNorm([g], NaN)).toThrow(/maxNorm must be a number/);
    expect(() => clipGradNormInPlace([g], -1)).toThrow(/maxNorm must be > 0/);
    g.dispose();
    expect(() => gradNormSquared([g])).toThrow(/gradNormSquared: tensor \[5\] f32 was disposed/);
  });
});

describeCuda('optimizer kernels: CUDA vs CPU', () => {
  test.each(['f32', 'bf16'] as DType[])('adamw with gradScale tensor and computeCopy, %s grads', (gdt) => {
    for (const shape of [[1], [129], [1000, 37]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const c = { p: Tensor.fromArray(randn(n), shape), m: Tensor.zeros(shape), v: Tensor.zeros(shape), copy: Tensor.empty(shape, { dtype: 'bf16' }), s: Tensor.fromArray([0.7], []) };
      const d = { p: c.p.to('cuda'), m: c.m.to('cuda'), v: c.v.to('cuda'), copy: Tensor.empty(shape, { dtype: 'bf16', device: 'cuda' }), s: c.s.to('cuda') };
      for (let t = 1; t <= 3; t++) {
        const g = Tensor.fromArray(randn(n), shape, { dtype: gdt });
        const gd = g.to('cuda');
        adamw(c.p, g, c.m, c.v, { lr: 0.01, step: t, weightDecay: 0.1, gradScale: c.s, computeCopy: c.copy });
        adamw(d.p, gd, d.m, d.v, { lr: 0.01, step: t, weightDecay: 0.1, gradScale: d.s, computeCopy: d.copy });
        g.dispose();
        gd.dispose();
      }
      expect(relErr(d.p.toArray(), c.p.toArray())).toBeLessThan(1e-6);
      expect(relErr(d.m.toArray(), c.m.toArray())).toBeLessThan(1e-5);
      expect(relErr(d.v.toArray(), c.v.toArray())).toBeLessThan(1e-5);
      expect(Array.from(d.copy.toArray())).toEqual(Array.from(d.p.toArray(), roundBf16));
      for (const t of [...Object.values(c), ...Object.values(d)]) t.dispose();
    }
  });

  test('gradNormSquared and clipGradNorm', () => {
    const cpu = [[1], [129, 3], [1 << 20], [70001]].map((s, i) =>
      Tensor.fromArray(randn(s.reduce((a, b) => a * b, 1)), s, { dtype: i % 2 ? 'bf16' : 'f32' }),
    );
    const gpu = cpu.map((t) => t.to('cuda'));
    const a = gradNormSquared(cpu).item();
    const b = gradNormSquared(gpu).item();
    expect(Math.abs(a - b) / a).toBeLessThan(1e-5);
    const rc = clipGradNorm(cpu, 10);
    const rg = clipGradNorm(gpu, 10);
    expect(rg.norm.device).toBe('cuda');
    expect(Math.abs(rg.scale.item() - rc.scale.item()) / rc.scale.item()).toBeLessThan(1e-5);
    expect(Math.abs(clipGradNormInPlace(gpu, 10) - rc.norm.item()) / rc.norm.item()).toBeLessThan(1e-5);
    for (const t of [...cpu, ...gpu, rc.norm, rc.scale, rg.norm, rg.scale]) t.dispose();
  });
});
