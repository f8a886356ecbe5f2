// Fused GRPO loss vs a float64 TS transcription of TRL's GRPOTrainer._compute_loss; the reference
// gradient vs finite differences, the kernel gradient vs the reference, hand-worked examples per loss type.
import { GRPO_METRIC_NAMES, Tensor, grpoLoss, grpoMetrics } from '../lib';
import type { GrpoLossOptions, GrpoLossType } from '../lib';
import { describeCuda, randn, relErr, rng } from './helpers';
import { fdGrad } from './grad-helpers';

interface RefIn {
  N: number;
  T: number;
  logp: Float64Array;
  old?: Float64Array;
  ref?: Float64Array;
  adv: Float64Array; // [N] or [N*T]
  mask: Float64Array;
}

// Float64 forward of TRL's loss; returns the loss and the metrics in GRPO_METRIC_NAMES order.
function refForward(x: RefIn, o: GrpoLossOptions): { loss: number; metrics: number[] } {
  const { N, T } = x;
  const el = o.epsilon ?? 0.2;
  const eh = o.epsilonHigh ?? el;
  const beta = o.beta ?? 0;
  const lt = o.lossType ?? 'grpo';
  const gas = o.gradientAccumulationSteps ?? 1;
  const perTok = x.adv.length === N * T;
  const rowLoss = new Float64Array(N);
  const rowCnt = new Float64Array(N);
  let kl = 0, low = 0, high = 0, region = 0, rsum = 0, rmin = Infinity, rmax = -Infinity;
  for (let n = 0; n < N; n++)
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      const m = x.mask[i];
      if (m === 0) continue;
      const A = perTok ? x.adv[i] : x.adv[n];
      const r = Math.exp(x.logp[i] - (x.old ? x.old[i] : x.logp[i]));
      const c1 = o.delta !== undefined ? Math.min(r, o.delta) : r;
      const c2 = Math.min(Math.max(r, 1 - el), 1 + eh);
      let l = -Math.min(c1 * A, c2 * A);
      let k = 0;
      if (x.ref) {
        const d = x.ref[i] - x.logp[i];
        k = Math.exp(d) - d - 1;
        if (beta !== 0) l += beta * k;
      }
      rowLoss[n] += m * l;
      rowCnt[n] += m;
      kl += m * k;
      const lo = c1 < 1 - el && A < 0;
      const hi = c1 > 1 + eh && A > 0;
      low += lo ? m : 0;
      high += hi ? m : 0;
      region += lo || hi ? m : 0;
      rsum += m * r;
      rmin = Math.min(rmin, r);
      rmax = Math.max(rmax, r);
    }
  const total = rowLoss.reduce((a, b) => a + b, 0);
  const cnt = rowCnt.reduce((a, b) => a + b, 0);
  const c1 = Math.max(1, cnt);
  let loss: number;
  if (lt === 'grpo') loss = rowLoss.reduce((a, v, n) => a + v / Math.max(1, rowCnt[n]), 0) / N / gas;
  else if (lt === 'bnpo') loss = total / c1 / gas;
  else if (lt === 'dapo') loss = total / (o.numItemsInBatch ?? c1);
  else loss = total / (N * (o.maxCompletionLength ?? T)) / gas;
  const any = rmax !== -Infinity;
  return { loss, metrics: [kl / c1, low / c1, high / c1, region / c1, rsum / c1, any ? rmin : NaN, any ? rmax : NaN, cnt] };
}

// Float64 analytic gradient w.r.t. logp (branch of the min, flat clamp, k3 KL).
function refGrad(x: RefIn, o: GrpoLossOptions): Float64Array {
  const { N, T } = x;
  const el = o.epsilon ?? 0.2;
  const eh = o.epsilonHigh ?? el;
  const beta = o.beta ?? 0;
  const lt = o.lossType ?? 'grpo';
  const gas = o.gradientAccumulationSteps ?? 1;
  const perTok = x.adv.length === N * T;
  const rowCnt = new Float64Array(N);
  for (let i = 0; i < N * T; i++) rowCnt[Math.floor(i / T)] += x.mask[i];
  const cnt = Math.max(1, rowCnt.reduce((a, b) => a + b, 0));
  const g = new Float64Array(N * T);
  for (let n = 0; n < N; n++) {
    const w =
      lt === 'grpo' ? 1 / (N * Math.max(1, rowCnt[n]) * gas)
      : lt === 'bnpo' ? 1 / (cnt * gas)
      : lt === 'dapo' ? 1 / (o.numItemsInBatch ?? cnt)
      : 1 / (N * (o.maxCompletionLength ?? T) * gas);
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      const m = x.mask[i];
      if (m === 0) continue;
      const A = perTok ? x.adv[i] : x.adv[n];
      const r = Math.exp(x.logp[i] - (x.old ? x.old[i] : x.logp[i]));
      const capped = o.delta !== undefined && r > o.delta;
      const c1 = capped ? (o.delta as number) : r;
      const c2 = Math.min(Math.max(r, 1 - el), 1 + eh);
      const g1 = capped ? 0 : r * A;
      const g2 = r >= 1 - el && r <= 1 + eh ? r * A : 0;
      const l1 = c1 * A, l2 = c2 * A;
      let gi = -(l1 < l2 ? g1 : l2 < l1 ? g2 : 0.5 * (g1 + g2));
      if (x.ref && beta !== 0) gi += beta * (1 - Math.exp(x.ref[i] - x.logp[i]));
      g[i] = m * gi * w;
    }
  }
  return g;
}

const f64of = (a: Float32Array) => Float64Array.from(a);

function randomCase(N: number, T: number, seed: number, perToken = false): { x: RefIn; mask: Float32Array } {
  const r = rng(seed);
  const logp = randn(N * T, 0.5).map((v) => v - 1.5);
  // old policy: close to logp (ratios around 1, some outside the clip range)
  const old = logp.map((v, i) => v + 0.3 * randn(1)[0] * (i % 3 === 0 ? 2 : 1));
  const ref = logp.map((v) => v + 0.4 * randn(1)[0]);
  const adv = randn(perToken ? N * T : N);
  const mask = new Float32Array(N * T);
  for (let n = 0; n < N; n++) {
    const len = n === 0 ? T : 1 + Math.floor(r() * T); // row 0 full length; others shorter
    for (let t = 0; t < len; t++) mask[n * T + t] = 1;
  }
  if (N > 2) for (let t = 0; t < T; t++) mask[2 * T + t] = 0; // an all-padding row
  return {
    x: { N, T, logp: f64of(logp), old: f64of(old), ref: f64of(ref), adv: f64of(adv), mask: f64of(mask) },
    mask,
  };
}

function tensors(x: RefIn, mask: Float32Array, maskI32 = false) {
  const { N, T } = x;
  const f = (a: Float64Array, shape: number[]) => Tensor.fromArray(Float32Array.from(a), shape);
  return {
    logp: f(x.logp, [N, T]),
    oldLogp: x.old ? f(x.old, [N, T]) : undefined,
    refLogp: x.ref ? f(x.ref, [N, T]) : undefined,
    advantages: f(x.adv, x.adv.length === N ? [N] : [N, T]),
    completionMask: maskI32 ? Tensor.fromArray(Int32Array.from(mask), [N, T], { dtype: 'i32' }) : Tensor.fromArray(mask, [N, T]),
  };
}

function relScalar(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}

const LOSS_TYPES: GrpoLossType[] = ['grpo', 'bnpo', 'dapo', 'dr_grpo'];
const OPTS: [string, GrpoLossOptions][] = [
  ['beta 0', {}],
  ['beta 0.04, eps 0.2/0.28', { beta: 0.04, epsilon: 0.2, epsilonHigh: 0.28 }],
  ['beta 0.1, delta 1.5, gas 4', { beta: 0.1, delta: 1.5, gradientAccumulationSteps: 4 }],
];

describe('grpoLoss vs float64 reference', () => {
  for (const lossType of LOSS_TYPES)
    for (const [name, base] of OPTS)
      for (const [N, T] of [[1, 1], [7, 13], [16, 129]] as [number, number][])
        test(`${lossType}, ${name}, N ${N} T ${T}`, () => {
          const { x, mask } = randomCase(N, T, N * 1000 + T);
          const o: GrpoLossOptions = { ...base, lossType };
          if (lossType === 'dapo' && N > 1) o.numItemsInBatch = 3 * N * T;
          if (lossType === 'dr_grpo' && N > 1) o.maxCompletionLength = T + 5;
          const ts = tensors(x, mask, N === 7);
          const out = grpoLoss(ts, o);
          const r = refForward(x, o);
          expect(out.loss.shape).toEqual([]);
          expect(relScalar(out.loss.item(), r.loss)).toBeLessThan(1e-4);
          const m = out.metrics.toArray();
          expect(m.length).toBe(GRPO_METRIC_NAMES.length);
          expect(relErr(m, r.metrics)).toBeLessThan(1e-5);
          expect(relErr((out.dlogp as Tensor).toArray(), refGrad(x, o))).toBeLessThan(1e-5);
        });

  test('reference gradient matches finite differences of the reference forward', () => {
    for (const lossType of LOSS_TYPES)
      for (const [, base] of OPTS)
        for (const perToken of [false, true]) {
          const { x } = randomCase(5, 7, 77, perToken);
          const o: GrpoLossOptions = { ...base, lossType };
          const fd = fdGrad((lp) => refForward({ ...x, logp: lp }, o).loss, x.logp, 1e-6);
          expect(relErr(refGrad(x, o), fd)).toBeLessThan(1e-6);
        }
  });

  test('finite differences through the f32 kernel', () => {
    const { x, mask } = randomCase(4, 9, 5);
    const o: GrpoLossOptions = { beta: 0.05, lossType: 'grpo' };
    const ts = tensors(x, mask);
    const g = (grpoLoss(ts, o).dlogp as Tensor).toArray();
    const h = 1e-3;
    const fd = new Float64Array(x.N * x.T);
    const lp = Float32Array.from(x.logp);
    for (let i = 0; i < lp.length; i++) {
      const at = (v: number) => {
        const c = Float32Array.from(lp);
        c[i] = v;
        const t = Tensor.fromArray(c, [x.N, x.T]);
        const l = grpoLoss({ ...ts, logp: t }, { ...o, computeGrad: false }).loss.item();
        t.dispose();
        return l;
      };
      fd[i] = (at(lp[i] + h) - at(lp[i] - h)) / (2 * h);
    }
    // f32 rounding of the loss over 2h, and h may straddle a kink of the clip: loose tolerance
    expect(relErr(g, fd)).toBeLessThan(1e-2);
  });

  test('per-token advantages (process supervision), i32 mask, no oldLogp', () => {
    const { x, mask } = randomCase(6, 11, 99, true);
    for (const lossType of LOSS_TYPES) {
      const o: GrpoLossOptions = { beta: 0.02, lossType };
      const out = grpoLoss(tensors(x, mask, true), o);
      expect(relScalar(out.loss.item(), refForward(x, o).loss)).toBeLessThan(1e-4);
      expect(relErr((out.dlogp as Tensor).toArray(), refGrad(x, o))).toBeLessThan(1e-5);
      const noOld = { ...x, old: undefined };
      const ts = tensors(noOld, mask);
      const out2 = grpoLoss(ts, o);
      expect(relScalar(out2.loss.item(), refForward(noOld, o).loss)).toBeLessThan(1e-4);
      expect(relErr((out2.dlogp as Tensor).toArray(), refGrad(noOld, o))).toBeLessThan(1e-5);
      expect(grpoMetrics(out2.metrics).ratioMean).toBe(1);
    }
  });
});

describe('grpoLoss hand-worked examples', () => {
  // ε = 0.2, β = 0, oldLogp = 0 so ratio = exp(logp). Two completions, T = 3:
  //   row 0, A = +1, mask [1, 1, 0]:
  //     t0: r = 1.5 > 1.2 and A > 0: min(1.5·1, 1.2·1) = 1.2 -> ℓ = -1.2, gradient 0 (high-clipped)
  //     t1: r = 1: ℓ = -1, dℓ/dlogp = -r·A = -1
  //     t2: padding
  //   row 1, A = -0.5, mask [1, 1, 1]:
  //     t0: r = 0.5 < 0.8 and A < 0: min(-0.25, -0.4) = -0.4 -> ℓ = 0.4, gradient 0 (low-clipped)
  //     t1: r = 2 > 1.2 but A < 0: min(-1, -0.6) = -1 (unclipped) -> ℓ = 1, dℓ/dlogp = -r·A = 1
  //     t2: r = 1: ℓ = 0.5, dℓ/dlogp = 0.5
  //   Row sums: Σℓ_0 = -2.2 over 2 tokens, Σℓ_1 = 1.9 over 3 tokens; all 5 tokens sum to -0.3.
  const N = 2;
  const T = 3;
  const logp = Float32Array.from([Math.log(1.5), 0, -7, Math.log(0.5), Math.log(2), 0]);
  const make = () => ({
    logp: Tensor.fromArray(logp, [N, T]),
    oldLogp: Tensor.zeros([N, T]),
    advantages: Tensor.fromArray([1, -0.5], [N]),
    completionMask: Tensor.fromArray([1, 1, 0, 1, 1, 1], [N, T]),
  });
  const cases: [GrpoLossOptions, number, number[]][] = [
    // grpo: (-2.2/2 + 1.9/3) / 2 = -0.2333…; row 0 tokens weigh 1/(2·2), row 1 tokens 1/(2·3)
    [{ lossType: 'grpo' }, (-2.2 / 2 + 1.9 / 3) / 2, [0, -1 / 4, 0, 0, 1 / 6, 0.5 / 6]],
    // bnpo: -0.3 / 5 = -0.06; every token weighs 1/5
    [{ lossType: 'bnpo' }, -0.06, [0, -0.2, 0, 0, 0.2, 0.1]],
    // dapo with 10 completion tokens in the global batch: -0.3 / 10 = -0.03
    [{ lossType: 'dapo', numItemsInBatch: 10 }, -0.03, [0, -0.1, 0, 0, 0.1, 0.05]],
    // dr_grpo with max_completion_length 4: -0.3 / (2·4) = -0.0375
    [{ lossType: 'dr_grpo', maxCompletionLength: 4 }, -0.0375, [0, -1 / 8, 0, 0, 1 / 8, 0.5 / 8]],
    // grpo with 2 accumulation steps: half of the grpo case
    [{ lossType: 'grpo', gradientAccumulationSteps: 2 }, (-2.2 / 2 + 1.9 / 3) / 4, [0, -1 / 8, 0, 0, 1 / 12, 0.5 / 12]],
  ];
  test.each(cases)('%p', (o, loss, grad) => {
    const out = grpoLoss(make(), o);
    expect(out.loss.item()).toBeCloseTo(loss, 6);
    const g = (out.dlogp as Tensor).toArray();
    grad.forEach((v, i) => expect(g[i]).toBeCloseTo(v, 6));
    const m = grpoMetrics(out.metrics);
    // 1 low-clipped and 1 high-clipped token of 5; ratios 1.5, 1, 0.5, 2, 1 (mean 6/5)
    expect(m.clipRatioLow).toBeCloseTo(0.2, 6);
    expect(m.clipRatioHigh).toBeCloseTo(0.2, 6);
    expect(m.clipRatio).toBeCloseTo(0.4, 6);
    expect(m.ratioMean).toBeCloseTo(1.2, 6);
    expect(m.ratioMin).toBeCloseTo(0.5, 6);
    expect(m.ratioMax).toBeCloseTo(2, 6);
    expect(m.klMean).toBe(0);
    expect(m.completionTokens).toBe(5);
  });

  test('k3 KL term: A = 0, ref - logp = ln 2, β = 0.1', () => {
    // KL = e^{ln 2} - ln 2 - 1 = 1 - ln 2 = 0.30685…; ℓ = β·KL = 0.030685…;
    // dℓ/dlogp = β·(1 - e^{ref - logp}) = 0.1·(1 - 2) = -0.1
    const out = grpoLoss(
      {
        logp: Tensor.fromArray([-1], [1, 1]),
        refLogp: Tensor.fromArray([-1 + Math.log(2)], [1, 1]),
        advantages: Tensor.fromArray([0], [1]),
        completionMask: Tensor.fromArray([1], [1, 1]),
      },
      { beta: 0.1 },
    );
    expect(out.loss.item()).toBeCloseTo(0.1 * (1 - Math.log(2)), 6);
    expect((out.dlogp as Tensor).item()).toBeCloseTo(-0.1, 6);
    expect(grpoMetrics(out.metrics).klMean).toBeCloseTo(1 - Math.log(2), 6);
  });

  test('an all-padding batch: loss 0, zero gradient, NaN ratio min/max', () => {
    const out = grpoLoss({
      logp: Tensor.fromArray(randn(6), [2, 3]),
      advantages: Tensor.fromArray(randn(2), [2]),
      completionMask: Tensor.zeros([2, 3], { dtype: 'i32' }),
    });
    expect(out.loss.item()).toBe(0);
    expect(Array.from((out.dlogp as Tensor).toArray())).toEqual([0, 0, 0, 0, 0, 0]);
    const m = grpoMetrics(out.metrics);
    expect(m.ratioMin).toBeNaN();
    expect(m.completionTokens).toBe(0);
  });
});

describe('grpoLoss errors', () => {
  const ok = () => ({
    logp: Tensor.fromArray(randn(6), [2, 3]),
    advantages: Tensor.fromArray(randn(2), [2]),
    completionMask: Tensor.full([2, 3], 1),
  });
  test('shapes, dtypes, options, disposed tensors', () => {
    expect(() => grpoLoss({ ...ok(), logp: Tensor.fromArray(randn(6), [6]) })).toThrow(/grpoLoss: logp must be f32 \[N, T\]/);
    expect(() => grpoLoss({ ...ok(), advantages: Tensor.fromArray(randn(3), [3]) })).toThrow(/advantages \[3\] must be \[2\] or \[2, 3\]/);
    expect(() => grpoLoss({ ...ok(), completionMask: Tensor.full([3, 2], 1) })).toThrow(/completionMask \[3, 2\] must match logp \[2, 3\]/);
    expect(() => grpoLoss({ ...ok(), completionMask: Tensor.full([2, 3], 1, { dtype: 'bf16' }) })).toThrow(/f32 or i32/);
    expect(() => grpoLoss({ ...ok(), oldLogp: Tensor.fromArray(randn(4), [2, 2]) })).toThrow(/oldLogp \[2, 2\] must match/);
    expect(() => grpoLoss(ok(), { beta: 0.1 })).toThrow(/beta = 0.1 needs refLogp/);
    expect(() => grpoLoss(ok(), { lossType: 'ppo' as GrpoLossType })).toThrow(/lossType must be one of/);
    expect(() => grpoLoss(ok(), { lossType: 'dapo', numItemsInBatch: 0 })).toThrow(/numItemsInBatch must be > 0/);
    expect(() => grpoLoss(ok(), { delta: 1.1 })).toThrow(/delta must be finite and > 1 \+ epsilonHigh/);
    expect(() => grpoLoss(ok(), { epsilon: -1 })).toThrow(/epsilon must be finite and >= 0/);
    const d = ok();
    d.logp.dispose();
    expect(() => grpoLoss(d)).toThrow(/grpoLoss.*disposed/);
  });
});

describeCuda('grpoLoss CUDA vs CPU', () => {
  test.each(LOSS_TYPES)('%s', (lossType) => {
    for (const [N, T] of [[1, 1], [7, 129], [64, 1000]] as [number, number][]) {
      const { x, mask } = randomCase(N, T, N + T);
      const o: GrpoLossOptions = { beta: 0.04, epsilonHigh: 0.28, lossType };
      const c = tensors(x, mask);
      const g = {
        logp: c.logp.to('cuda'),
        oldLogp: c.oldLogp?.to('cuda'),
        refLogp: c.refLogp?.to('cuda'),
        advantages: c.advantages.to('cuda'),
        completionMask: c.completionMask.to('cuda'),
      };
      const a = grpoLoss(c, o);
      const b = grpoLoss(g, o);
      expect(relScalar(b.loss.item(), a.loss.item())).toBeLessThan(1e-4);
      expect(relErr(b.metrics.toArray(), a.metrics.toArray())).toBeLessThan(1e-4);
      expect(relErr((b.dlogp as Tensor).toArray(), (a.dlogp as Tensor).toArray())).toBeLessThan(1e-5);
    }
  });
});
