// Fused attention (grouped-query heads, causal and segment masks) vs float64 references: forward
// (out, lse), backward (dq, dk, dv), finite-difference checks of the reference and of the kernel,
// memory (no T×T buffer), determinism, argument errors, and CUDA vs CPU where a GPU is visible.
import {
  Tensor, DType, attention, attentionBackward, memory, resetPeakMemory, roundBf16, setNumThreads, backends,
} from '../lib';
import { native } from '../lib/native';
import { describeCuda, randn, relErr, rng } from './helpers';

interface Cfg {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  Dh: number;
  causal: boolean;
  scale: number;
  seg?: Int32Array; // [B, T]
}

interface Grads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

const allowed = (c: Cfg, b: number, i: number, j: number): boolean =>
  (!c.causal || j <= i) && (!c.seg || c.seg[b * c.T + i] === c.seg[b * c.T + j]);

/** Naive full attention in float64: out [B, T, Hq, Dh], lse [B, Hq, T]. */
function refForward(c: Cfg, q: Float64Array, k: Float64Array, v: Float64Array): { out: Float64Array; lse: Float64Array } {
  const { B, T, Hq, Hkv, Dh } = c;
  const G = Hq / Hkv;
  const out = new Float64Array(B * T * Hq * Dh);
  const lse = new Float64Array(B * Hq * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / G);
      for (let i = 0; i < T; i++) {
        const qo = ((b * T + i) * Hq + h) * Dh;
        let m = -Infinity;
        for (let j = 0; j < T; j++) {
          if (!allowed(c, b, i, j)) {
            s[j] = -Infinity;
            continue;
          }
          const ko = ((b * T + j) * Hkv + g) * Dh;
          let acc = 0;
          for (let d = 0; d < Dh; d++) acc += q[qo + d] * k[ko + d];
          s[j] = acc * c.scale;
          m = Math.max(m, s[j]);
        }
        if (m === -Infinity) {
          lse[(b * Hq + h) * T + i] = -Infinity;
          continue; // out stays 0
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += s[j] === -Infinity ? 0 : Math.exp(s[j] - m);
        for (let j = 0; j < T; j++) {
          if (s[j] === -Infinity) continue;
          const p = Math.exp(s[j] - m) / z;
          const vo = ((b * T + j) * Hkv + g) * Dh;
          for (let d = 0; d < Dh; d++) out[qo + d] += p * v[vo + d];
        }
        lse[(b * Hq + h) * T + i] = m + Math.log(z);
      }
    }
  return { out, lse };
}

/** float64 gradients of sum(out * dout) with respect to q, k, v. */
function refBackward(
  c: Cfg, q: Float64Array, k: Float64Array, v: Float64Array, dout: Float64Array, lse = refForward(c, q, k, v).lse,
): Grads {
  const { B, T, Hq, Hkv, Dh } = c;
  const G = Hq / Hkv;
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const p = new Float64Array(T);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / G);
      for (let i = 0; i < T; i++) {
        const qo = ((b * T + i) * Hq + h) * Dh;
        const L = lse[(b * Hq + h) * T + i];
        let Dsum = 0;
        for (let j = 0; j < T; j++) {
          p[j] = 0;
          dp[j] = 0;
          if (!allowed(c, b, i, j)) continue;
          const ko = ((b * T + j) * Hkv + g) * Dh;
          let s = 0;
          let t = 0;
          for (let d = 0; d < Dh; d++) {
            s += q[qo + d] * k[ko + d];
            t += dout[qo + d] * v[ko + d];
          }
          p[j] = Math.exp(s * c.scale - L);
          dp[j] = t;
          Dsum += p[j] * t;
        }
        for (let j = 0; j < T; j++) {
          if (p[j] === 0) continue;
          const ko = ((b * T + j) * Hkv + g) * Dh;
          const ds = p[j] * (dp[j] - Dsum) * c.scale;
          for (let d = 0; d < Dh; d++) {
            dq[qo + d] += ds * k[ko + d];
            dk[ko + d] += ds * q[qo + d];
            dv[ko + d] += p[j] * dout[qo + d];
          }
        }
      }
    }
  return { dq, dk, dv };
}

/** Segment ids for packed rows: several documents of random length per batch row. */
function segmentIds(B: number, T: number, seed: number): Int32Array {
  const r = rng(seed);
  const seg = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let id = Math.floor(r() * 100);
    let left = 1 + Math.floor(r() * Math.max(1, Math.ceil(T / 3)));
    for (let t = 0; t < T; t++) {
      if (left === 0) {
        id += 1 + Math.floor(r() * 3);
        left = 1 + Math.floor(r() * Math.max(1, Math.ceil(T / 3)));
      }
      seg[b * T + t] = id;
      left--;
    }
  }
  return seg;
}

interface Input {
  t: Tensor;
  x: Float64Array; // what the kernel sees (after bf16 rounding)
}
function input(shape: number[], dtype: DType, scale = 1): Input {
  const raw = randn(shape.reduce((a, b) => a * b, 1), scale);
  return {
    t: Tensor.fromArray(raw, shape, { dtype }),
    x: Float64Array.from(raw, (v) => (dtype === 'bf16' ? roundBf16(v) : Math.fround(v))),
  };
}

type Case = [string, number, number, number, number, number, boolean, boolean];
const mk = (B: number, T: number, Hq: number, Hkv: number, Dh: number, causal: boolean, seg: boolean): Case => [
  `B${B} T${T} H${Hq}/${Hkv} Dh${Dh} ${causal ? 'causal' : 'full'}${seg ? ' segments' : ''}`,
  B, T, Hq, Hkv, Dh, causal, seg,
];
const CASES: Case[] = [
  mk(1, 1, 4, 4, 8, true, false),
  mk(2, 1, 4, 2, 16, false, true),
  mk(2, 7, 4, 2, 16, true, true),
  mk(1, 7, 6, 1, 64, false, true),
  mk(1, 33, 6, 1, 64, true, true),
  mk(2, 33, 4, 4, 8, false, false),
  mk(2, 129, 4, 2, 8, true, true),
  mk(2, 129, 6, 1, 16, false, true),
  mk(1, 129, 4, 4, 64, true, false),
  mk(1, 70, 4, 2, 5, true, true), // odd Dh (CPU supports any)
  mk(2, 129, 4, 2, 24, true, true), // a full vector then a masked tail (AVX-512), the demo model's head size
  mk(1, 40, 2, 1, 100, false, true),
];
const TOL: Record<string, number> = { f32: 1e-4, bf16: 1e-2 };

function setup(dtype: DType, B: number, T: number, Hq: number, Hkv: number, Dh: number, causal: boolean, seg: boolean, scale?: number) {
  const cfg: Cfg = { B, T, Hq, Hkv, Dh, causal, scale: scale ?? 1 / Math.sqrt(Dh) };
  const q = input([B, T, Hq, Dh], dtype);
  const k = input([B, T, Hkv, Dh], dtype);
  const v = input([B, T, Hkv, Dh], dtype);
  let segT: Tensor | undefined;
  if (seg) {
    cfg.seg = segmentIds(B, T, 17 * T + B);
    segT = Tensor.fromArray(cfg.seg, [B, T]);
  }
  const opts = { causal, segmentIds: segT, scale };
  return { cfg, q, k, v, segT, opts };
}

describe.each(['f32', 'bf16'] as DType[])('attention %s vs float64 reference', (dtype) => {
  test.each(CASES)('%s', (_name, B, T, Hq, Hkv, Dh, causal, seg) => {
    const { cfg, q, k, v, segT, opts } = setup(dtype, B, T, Hq, Hkv, Dh, causal, seg);
    const ref = refForward(cfg, q.x, k.x, v.x);
    const { out, lse } = attention(q.t, k.t, v.t, opts);
    expect(out.shape).toEqual([B, T, Hq, Dh]);
    expect(out.dtype).toBe(dtype);
    expect(lse.shape).toEqual([B, Hq, T]);
    expect(lse.dtype).toBe('f32');
    expect(relErr(out.toArray(), ref.out)).toBeLessThan(TOL[dtype]);
    expect(relErr(lse.toArray(), ref.lse)).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-3);

    // Backward: the kernel (given its own out, lse) vs the float64 reference backward.
    const g = input([B, T, Hq, Dh], dtype);
    const rg = refBackward(cfg, q.x, k.x, v.x, g.x, ref.lse);
    const { dq, dk, dv } = attentionBackward(g.t, q.t, k.t, v.t, out, lse, opts);
    expect(dq.shape).toEqual(q.t.shape);
    expect(dk.shape).toEqual(k.t.shape);
    expect(dv.shape).toEqual(v.t.shape);
    expect(dk.dtype).toBe(dtype);
    expect(relErr(dq.toArray(), rg.dq)).toBeLessThan(TOL[dtype]);
    expect(relErr(dk.toArray(), rg.dk)).toBeLessThan(TOL[dtype]);
    expect(relErr(dv.toArray(), rg.dv)).toBeLessThan(TOL[dtype]);
    for (const t of [q.t, k.t, v.t, g.t, out, lse, dq, dk, dv, segT]) t?.dispose();
  });
});

describe('attention options and properties', () => {
  test('custom scale; default options are causal with 1/sqrt(Dh)', () => {
    const { cfg, q, k, v } = setup('f32', 2, 19, 4, 2, 8, true, false);
    const a = attention(q.t, k.t, v.t);
    expect(relErr(a.out.toArray(), refForward(cfg, q.x, k.x, v.x).out)).toBeLessThan(1e-5);
    const c2 = { ...cfg, scale: 0.77, causal: false };
    const b = attention(q.t, k.t, v.t, { scale: 0.77, causal: false });
    expect(relErr(b.out.toArray(), refForward(c2, q.x, k.x, v.x).out)).toBeLessThan(1e-5);
    const g = input([2, 19, 4, 8], 'f32');
    const gr = attentionBackward(g.t, q.t, k.t, v.t, b.out, b.lse, { scale: 0.77, causal: false });
    const rg = refBackward(c2, q.x, k.x, v.x, g.x);
    expect(relErr(gr.dq.toArray(), rg.dq)).toBeLessThan(1e-4);
    expect(relErr(gr.dk.toArray(), rg.dk)).toBeLessThan(1e-4);
    expect(relErr(gr.dv.toArray(), rg.dv)).toBeLessThan(1e-4);
  });

  test('segments: a token only sees its own document (one document per token = identity on v)', () => {
    const B = 1, T = 9, H = 2, Dh = 8;
    const q = input([B, T, H, Dh], 'f32');
    const k = input([B, T, H, Dh], 'f32');
    const v = input([B, T, H, Dh], 'f32');
    const seg = Tensor.fromArray(Int32Array.from({ length: T }, (_, i) => i), [B, T]);
    const { out, lse } = attention(q.t, k.t, v.t, { causal: false, segmentIds: seg });
    expect(relErr(out.toArray(), v.x)).toBeLessThan(1e-6);
    const lr = lse.toArray();
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        let s = 0;
        for (let d = 0; d < Dh; d++) s += q.x[(i * H + h) * Dh + d] * k.x[(i * H + h) * Dh + d];
        expect(lr[h * T + i]).toBeCloseTo(s / Math.sqrt(Dh), 5);
      }
  });

  test('backward is deterministic and independent of the thread count', () => {
    const { q, k, v, segT, opts } = setup('f32', 2, 77, 4, 2, 16, true, true);
    const { out, lse } = attention(q.t, k.t, v.t, opts);
    const g = input([2, 77, 4, 16], 'f32');
    const run = () => {
      const r = attentionBackward(g.t, q.t, k.t, v.t, out, lse, opts);
      return [r.dq, r.dk, r.dv].map((t) => Array.from(t.toArray()));
    };
    const a = run();
    const threads = backends().threads;
    setNumThreads(1);
    try {
      expect(run()).toEqual(a);
      expect(Array.from(attention(q.t, k.t, v.t, opts).out.toArray())).toEqual(Array.from(out.toArray()));
    } finally {
      setNumThreads(threads);
    }
    expect(run()).toEqual(a);
    segT?.dispose();
  });

  test('CPU forward at T = 2048 allocates no T×T buffer', () => {
    const T = 2048, Dh = 64;
    // Uniform values from the seeded PRNG: randn is slow at this size and the values do not matter here.
    const r = rng(2048);
    const uni = () => {
      const raw = Float32Array.from({ length: T * Dh }, () => 2 * r() - 1);
      return { t: Tensor.fromArray(raw, [1, T, 1, Dh]), x: Float64Array.from(raw) };
    };
    const q = uni();
    const k = uni();
    const v = uni();
    resetPeakMemory();
    const before = memory('cpu').bytes;
    const { out, lse } = attention(q.t, k.t, v.t);
    const delta = memory('cpu').peakBytes - before;
    expect(delta).toBeLessThan((T * T * 4) / 8);
    expect(delta).toBeLessThanOrEqual(T * Dh * 4 + T * 4 + 1024); // out + lse only
    // Spot-check a few rows against the reference (full rows of the causal mask).
    const o = out.toArray();
    const l = lse.toArray();
    const sc = 1 / Math.sqrt(Dh);
    for (const i of [0, 1, 1000, T - 1]) {
      const s = Array.from({ length: i + 1 }, (_, j) => {
        let acc = 0;
        for (let d = 0; d < Dh; d++) acc += q.x[i * Dh + d] * k.x[j * Dh + d];
        return acc * sc;
      });
      const m = Math.max(...s);
      const z = s.reduce((a, x) => a + Math.exp(x - m), 0);
      const row = new Float64Array(Dh);
      s.forEach((x, j) => {
        for (let d = 0; d < Dh; d++) row[d] += (Math.exp(x - m) / z) * v.x[j * Dh + d];
      });
      expect(relErr(o.subarray(i * Dh, (i + 1) * Dh), row)).toBeLessThan(1e-4);
      expect(l[i]).toBeCloseTo(m + Math.log(z), 4);
    }
    for (const t of [q.t, k.t, v.t, out, lse]) t.dispose();
  });
});

describe('attention gradients by finite differences', () => {
  const loss = (c: Cfg, q: Float64Array, k: Float64Array, v: Float64Array, R: Float64Array): number => {
    const { out } = refForward(c, q, k, v);
    return out.reduce((a, x, i) => a + x * R[i], 0);
  };

  test.each([
    ['causal with segments', true, true],
    ['full with segments', false, true],
    ['causal', true, false],
  ] as [string, boolean, boolean][])('float64 reference backward vs central differences (%s)', (_n, causal, seg) => {
    const c: Cfg = { B: 2, T: 6, Hq: 4, Hkv: 2, Dh: 3, causal, scale: 0.6 };
    if (seg) c.seg = Int32Array.from([0, 0, 1, 1, 1, 2, 5, 5, 5, 5, 7, 7]);
    const q = Float64Array.from(randn(2 * 6 * 4 * 3));
    const k = Float64Array.from(randn(2 * 6 * 2 * 3));
    const v = Float64Array.from(randn(2 * 6 * 2 * 3));
    const R = Float64Array.from(randn(2 * 6 * 4 * 3));
    const g = refBackward(c, q, k, v, R);
    const eps = 1e-6;
    for (const [x, gx] of [[q, g.dq], [k, g.dk], [v, g.dv]] as [Float64Array, Float64Array][]) {
      const fd = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const x0 = x[i];
        x[i] = x0 + eps;
        const lp = loss(c, q, k, v, R);
        x[i] = x0 - eps;
        const lm = loss(c, q, k, v, R);
        x[i] = x0;
        fd[i] = (lp - lm) / (2 * eps);
      }
      expect(relErr(gx, fd)).toBeLessThan(1e-7);
    }
  });

  test('f32 kernel backward vs central differences through the f32 kernel', () => {
    const [B, T, Hq, Hkv, Dh] = [1, 9, 2, 1, 4];
    const seg = Tensor.fromArray(Int32Array.from([3, 3, 3, 3, 4, 4, 4, 4, 4]), [B, T]);
    const opts = { segmentIds: seg };
    const q = Float32Array.from(randn(B * T * Hq * Dh));
    const k = Float32Array.from(randn(B * T * Hkv * Dh));
    const v = Float32Array.from(randn(B * T * Hkv * Dh));
    const R = randn(B * T * Hq * Dh);
    const qs = [B, T, Hq, Dh];
    const ks = [B, T, Hkv, Dh];
    const lossK = (): number => {
      const qt = Tensor.fromArray(q, qs);
      const kt = Tensor.fromArray(k, ks);
      const vt = Tensor.fromArray(v, ks);
      const { out, lse } = attention(qt, kt, vt, opts);
      const o = out.toArray() as Float32Array;
      for (const t of [qt, kt, vt, out, lse]) t.dispose();
      return o.reduce((a, x, i) => a + x * R[i], 0);
    };
    const qt = Tensor.fromArray(q, qs);
    const kt = Tensor.fromArray(k, ks);
    const vt = Tensor.fromArray(v, ks);
    const { out, lse } = attention(qt, kt, vt, opts);
    const g = attentionBackward(Tensor.fromArray(R, qs), qt, kt, vt, out, lse, opts);
    const eps = 1e-2;
    for (const [x, gx] of [[q, g.dq], [k, g.dk], [v, g.dv]] as [Float32Array, Tensor][]) {
      const fd = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const x0 = x[i];
        x[i] = x0 + eps;
        const lp = lossK();
        x[i] = x0 - eps;
        const lm = lossK();
        x[i] = x0;
        fd[i] = (lp - lm) / (2 * eps);
      }
      expect(relErr(gx.toArray(), fd)).toBeLessThan(1e-2);
    }
  });
});

describe('attention argument errors', () => {
  const t = (shape: number[], dtype: DType = 'f32') => Tensor.zeros(shape, { dtype });
  const q = t([2, 5, 4, 8]);
  const k = t([2, 5, 2, 8]);
  const v = t([2, 5, 2, 8]);

  test('shapes', () => {
    expect(() => attention(q, t([2, 5, 3, 8]), t([2, 5, 3, 8]))).toThrow(
      /attention: query heads 4 must be a multiple of kv heads 3/,
    );
    expect(() => attention(q, t([1, 5, 2, 8]), t([1, 5, 2, 8]))).toThrow(/attention: q and k\/v must agree in B, T and Dh \(q \[2, 5, 4, 8\], k \[1, 5, 2, 8\]/);
    expect(() => attention(q, t([2, 6, 2, 8]), t([2, 6, 2, 8]))).toThrow(/must agree in B, T and Dh/);
    expect(() => attention(q, t([2, 5, 2, 4]), t([2, 5, 2, 4]))).toThrow(/must agree in B, T and Dh/);
    expect(() => attention(q, k, t([2, 5, 1, 8]))).toThrow(/attention: k and v shapes differ/);
    expect(() => attention(t([5, 4, 8]), k, v)).toThrow(/attention: q must be \[B, T, H, Dh\], got \[5, 4, 8\]/);
    expect(() => attention(t([2, 5, 4, 0]), t([2, 5, 2, 0]), t([2, 5, 2, 0]))).toThrow(/empty head/);
  });

  test('dtypes, devices, disposed tensors, options', () => {
    expect(() => attention(q, t([2, 5, 2, 8], 'bf16'), v)).toThrow(/attention: dtypes differ \(f32, bf16, f32\)/);
    expect(() => attention(t([2, 5, 4, 8], 'i32'), t([2, 5, 2, 8], 'i32'), t([2, 5, 2, 8], 'i32'))).toThrow(
      /attention: expected a f32 or bf16 tensor, got i32/,
    );
    const d = t([2, 5, 2, 8]);
    d.dispose();
    expect(() => attention(q, d, v)).toThrow(/attention: tensor \[2, 5, 2, 8\] f32 was disposed/);
    expect(() => attention(q, k, v, { scale: NaN })).toThrow(/attention: scale must be a number/);
    expect(() => attention(q, k, v, { scale: Infinity })).toThrow(/attention: scale must be finite/);
    expect(() => attention(q, k, v, { causal: 1 as unknown as boolean })).toThrow(/causal must be a boolean/);
    expect(() => attention({} as Tensor, k, v)).toThrow(/attention: q must be a Tensor/);
  });

  test('segmentIds of the wrong shape or dtype', () => {
    expect(() => attention(q, k, v, { segmentIds: t([2, 5]) })).toThrow(/attention: segmentIds must be i32, got f32 \[2, 5\]/);
    expect(() => attention(q, k, v, { segmentIds: t([2, 4], 'i32') })).toThrow(
      /attention: segmentIds must be \[2, 5\] \(B, T of q \[2, 5, 4, 8\]\), got \[2, 4\]/,
    );
    expect(() => attention(q, k, v, { segmentIds: t([10], 'i32') })).toThrow(/segmentIds must be \[2, 5\]/);
    expect(() => attentionBackward(q, q, k, v, q, t([2, 4, 5]), { segmentIds: t([5, 2], 'i32') })).toThrow(
      /attentionBackward: segmentIds must be \[2, 5\]/,
    );
  });

  test('backward: dout, out and lse must match', () => {
    const lse = t([2, 4, 5]);
    expect(() => attentionBackward(t([2, 5, 4, 4]), q, k, v, q, lse)).toThrow(
      /attentionBackward: dout \[2, 5, 4, 4\] must have q's shape \[2, 5, 4, 8\]/,
    );
    expect(() => attentionBackward(q, q, k, v, t([2, 5, 2, 8]), lse)).toThrow(/attentionBackward: out \[2, 5, 2, 8\] must have q's shape/);
    expect(() => attentionBackward(q, q, k, v, q, t([2, 5, 4]))).toThrow(/attentionBackward: lse \[2, 5, 4\] must be \[2, 4, 5\]/);
    expect(() => attentionBackward(q, q, k, v, q, t([2, 4, 5], 'bf16'))).toThrow(/attentionBackward: lse must be f32, got bf16/);
    expect(() => attentionBackward(t([2, 5, 4, 8], 'bf16'), q, k, v, q, lse)).toThrow(/attentionBackward: dtypes differ/);
    expect(() => attentionBackward(q, q, t([2, 5, 3, 8]), t([2, 5, 3, 8]), q, lse)).toThrow(/multiple of kv heads 3/);
  });

  test('the native functions check every buffer', () => {
    const N = native();
    const small = new N.NativeBuffer(16, 0);
    const big = new N.NativeBuffer(1 << 16, 0);
    try {
      expect(() => N.attentionForward(0, 2, 5, 4, 2, 8, true, 0.3, small, big, big, null, big, big)).toThrow(
        /attention: q holds 16 bytes, needs 1280/,
      );
      expect(() => N.attentionForward(0, 2, 5, 4, 2, 8, true, 0.3, big, big, big, small, big, big)).toThrow(
        /attention: segmentIds holds 16 bytes, needs 40/,
      );
      expect(() => N.attentionForward(0, 2, 5, 4, 3, 8, true, 0.3, big, big, big, null, big, big)).toThrow(
        /attention: Hq 4 must be a positive multiple of Hkv 3/,
      );
      expect(() => N.attentionForward(2, 2, 5, 4, 2, 8, true, 0.3, big, big, big, null, big, big)).toThrow(/i32 is not supported/);
      expect(() => N.attentionForward(0, 2, 5, 4, 2, 8, true, NaN, big, big, big, null, big, big)).toThrow(/scale must be finite/);
      expect(() => N.attentionForward(0, 1e8, 1e8, 4, 2, 8, true, 0.3, big, big, big, null, big, big)).toThrow(/too large/);
      expect(() =>
        N.attentionBackward(0, 2, 5, 4, 2, 8, true, 0.3, big, big, big, null, big, big, big, big, small, big),
      ).toThrow(/attentionBackward: dk holds 16 bytes, needs 640/);
      expect(() =>
        N.attentionBackward(0, 2, 5, 4, 2, 8, true, 0.3, big, big, big, null, big, small, big, big, big, big),
      ).toThrow(/attentionBackward: lse holds 16 bytes, needs 160/);
    } finally {
      small.free();
      big.free();
    }
  });
});

describeCuda('attention: CUDA matches CPU', () => {
  const GPU_CASES: Case[] = [
    mk(1, 1, 4, 4, 8, true, false),
    mk(2, 7, 4, 2, 16, true, true),
    mk(1, 33, 6, 1, 64, false, true),
    mk(2, 129, 4, 2, 128, true, true),
    mk(2, 129, 6, 1, 40, false, false),
    mk(1, 300, 8, 2, 64, true, true),
    mk(1, 97, 4, 4, 96, true, false),
  ];
  test.each(['f32', 'bf16'] as DType[])('forward and backward (%s)', (dtype) => {
    for (const [, B, T, Hq, Hkv, Dh, causal, seg] of GPU_CASES) {
      const { q, k, v, segT, opts } = setup(dtype, B, T, Hq, Hkv, Dh, causal, seg);
      const g = input([B, T, Hq, Dh], dtype);
      const c = attention(q.t, k.t, v.t, opts);
      const cg = attentionBackward(g.t, q.t, k.t, v.t, c.out, c.lse, opts);
      const [qg, kg, vg, gg] = [q.t, k.t, v.t, g.t].map((t) => t.to('cuda'));
      const optsG = { ...opts, segmentIds: segT?.to('cuda') };
      const r = attention(qg, kg, vg, optsG);
      const rg = attentionBackward(gg, qg, kg, vg, r.out, r.lse, optsG);
      const tol = dtype === 'f32' ? 1e-4 : 1e-2;
      expect(relErr(r.out.toArray(), c.out.toArray())).toBeLessThan(tol);
      expect(relErr(r.lse.toArray(), c.lse.toArray())).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-3);
      expect(relErr(rg.dq.toArray(), cg.dq.toArray())).toBeLessThan(tol);
      expect(relErr(rg.dk.toArray(), cg.dk.toArray())).toBeLessThan(tol);
      expect(relErr(rg.dv.toArray(), cg.dv.toArray())).toBeLessThan(tol);
    }
  });

  test('head sizes the CUDA kernel does not support are refused', () => {
    const q = Tensor.zeros([1, 4, 2, 12], { device: 'cuda' });
    expect(() => attention(q, q, q)).toThrow(/attention: on CUDA the head size Dh must be a multiple of 8 and at most 128, got 12/);
    const q2 = Tensor.zeros([1, 4, 2, 136], { device: 'cuda' });
    expect(() => attention(q2, q2, q2)).toThrow(/at most 128, got 136/);
  });
});
