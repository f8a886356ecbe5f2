// GRPOTrainer (CPU): the policy's fused log-probs and their backward match the cross-entropy path; a
// tiny policy's mean reward rises; old log-probs are computed once per step and reused across the μ
// iterations; beta = 0 builds no reference model and a beta > 0 one stays frozen (or follows the policy
// with syncRefModel); reward weighting and null rewards; mask_truncated_completions; a hand-checked step
// on a two-completion toy; bad configs; the `mathrl grpo` CLI (runs dist/: npm run build:ts first).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  GRPOTrainer, GRPOStepMetrics, LlamaConfig, LlamaModel, RolloutEngine, Tensor, Tokenizer, boxedFormatReward,
  logSoftmax, makeMathAccuracyReward, mathAccuracyReward, presetConfig, saveSafetensors, trainBpe, writeConfig,
} from '../lib';
import { checkWellFormedXml } from './xml-check';
import { describeCuda } from './helpers';

const CHARS = ['q', ':', '+', '=', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const EOS = 0;
const id = (c: string) => CHARS.indexOf(c) + 2;

/** 16 ids: <eos>, <pad>, then one per character (no merges, no pre-tokenizer). */
function toyTokenizer(): Tokenizer {
  const vocab: Record<string, number> = { '<eos>': 0, '<pad>': 1 };
  CHARS.forEach((c, i) => (vocab[c] = i + 2));
  const special = (content: string, i: number) => ({
    id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  return Tokenizer.fromJSON(
    { version: '1.0', model: { type: 'BPE', vocab, merges: [] }, added_tokens: [special('<eos>', 0), special('<pad>', 1)], decoder: { type: 'Fuse' } },
    { eos_token: '<eos>', pad_token: '<pad>' },
  );
}

function toyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return presetConfig('tiny-1m', {
    vocabSize: 16, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1,
    headDim: 16, maxPositionEmbeddings: 64, eosTokenId: EOS, bosTokenId: undefined, ...over,
  });
}

const prompts = (n: number) => Array.from({ length: n }, (_, i) => ({ prompt: `q:${i % 10}+${(i * 3) % 10}=` }));
/** Fraction of the completion's characters that are '7'. */
const sevens = (_p: string[], comps: string[]) => comps.map((c) => (c.length ? [...c].filter((x) => x === '7').length / c.length : 0));

let tmp: string;
let tok: Tokenizer;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-grpo-'));
  tok = toyTokenizer();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const outDir = () => path.join(tmp, `run-${dirCount++}`);

const snapshot = (m: LlamaModel) => new Map([...m.params].map(([k, t]) => [k, Float32Array.from(t.toArray())]));
function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let d = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  }
  return d;
}

describe('LlamaModel.logprobs / backwardLogprobs', () => {
  test('log-probs and entropies equal log-softmax of the logits; the gradient of mean(-logp) equals the cross-entropy one', () => {
    const cfg = toyConfig({ numHiddenLayers: 2 });
    const model = LlamaModel.init(cfg, { seed: 3, initStd: 0.3 });
    const B = 3;
    const T = 7;
    const ids = new Int32Array(B * T).map((_, i) => (i * 7 + 3) % 16);
    const tg = new Int32Array(B * T).map((_, i) => (i % 4 === 0 ? -100 : (i * 5 + 1) % 16));
    const idsT = Tensor.fromArray(ids, [B, T], { dtype: 'i32' });
    const tgT = Tensor.fromArray(tg, [B, T], { dtype: 'i32' });
    const logits = model.forward(idsT);
    const ls = logSoftmax(logits).toArray();
    const { logp, entropy } = model.logprobs(idsT, tgT, { temperature: 1 });
    const lp = logp.toArray();
    const en = entropy.toArray();
    let count = 0;
    for (let i = 0; i < B * T; i++) {
      if (tg[i] < 0) {
        expect(lp[i]).toBe(0);
        continue;
      }
      count++;
      expect(lp[i]).toBeCloseTo(ls[i * 16 + tg[i]], 5);
      let h = 0;
      for (let v = 0; v < 16; v++) h -= Math.exp(ls[i * 16 + v]) * ls[i * 16 + v];
      expect(en[i]).toBeCloseTo(h, 5);
    }
    // d(mean -logp)/dθ through backwardLogprobs vs model.loss + backward
    const d = new Float32Array(B * T).map((_, i) => (tg[i] < 0 ? 0 : -1 / count));
    model.zeroGrad();
    model.backwardLogprobs(Tensor.fromArray(d, [B, T]));
    const g1 = new Map([...model.grads].map(([k, t]) => [k, Float32Array.from(t.toArray())]));
    model.zeroGrad();
    model.loss(idsT, tgT);
    model.backward();
    const g2 = new Map([...model.grads].map(([k, t]) => [k, Float32Array.from(t.toArray())]));
    let num = 0;
    let den = 0;
    for (const [k, a] of g1) {
      const b = g2.get(k)!;
      for (let i = 0; i < a.length; i++) {
        num += (a[i] - b[i]) ** 2;
        den += b[i] ** 2;
      }
    }
    expect(den).toBeGreaterThan(0);
    expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
    expect(() => model.backwardLogprobs(Tensor.fromArray(d, [B, T]))).toThrow(/call logprobs\(\)/);
    // temperature divides the logits
    const t2 = model.logprobs(idsT, tgT, { temperature: 2, noGrad: true }).logp.toArray();
    const ls2 = logSoftmax(Tensor.fromArray(Float32Array.from(logits.toArray()).map((x) => x / 2), [B, T, 16])).toArray();
    for (let i = 0; i < B * T; i++) if (tg[i] >= 0) expect(t2[i]).toBeCloseTo(ls2[i * 16 + tg[i]], 5);
    expect(() => model.logprobs(idsT, Tensor.fromArray(tg, [B * T], { dtype: 'i32' }))).toThrow(/LlamaModel\.logprobs: targets i32 \[21\] must be i32 \[3, 7\] like ids/);
    model.dispose();
  });
});

describe('GRPOTrainer', () => {
  test('a tiny policy learns to emit the rewarded token: mean reward rises (3 seeds)', async () => {
    for (const seed of [0, 1, 2]) {
      const model = LlamaModel.init(toyConfig(), { seed });
      const t = new GRPOTrainer({
        model, tokenizer: tok, dataset: prompts(20), rewardFuncs: [sevens], outDir: outDir(), steps: 30, promptsPerStep: 4,
        numGenerations: 8, maxCompletionLength: 6, learningRate: 3e-2, beta: 0.04, seed, checkpointEvery: 0,
      });
      const r = await t.train();
      const rw = t.history.map((m) => m.reward);
      const first = rw.slice(0, 3).reduce((a, b) => a + b) / 3;
      const last = rw.slice(-5).reduce((a, b) => a + b) / 5;
      expect(first).toBeLessThan(0.3);
      expect(last).toBeGreaterThan(0.8);
      expect(r.step).toBe(30);
      const m = t.history[t.history.length - 1];
      expect(m.kl).toBeGreaterThan(0);
      expect(m.entropy).toBeGreaterThanOrEqual(0);
      expect(m.entropy).toBeLessThan(t.history[0].entropy);
      expect(m.completionLengthMax).toBeLessThanOrEqual(6);
      expect(m.tokensPerSecond).toBeGreaterThan(0);
      expect(Object.keys(m.rewards)).toEqual(['sevens']);
      if (seed === 0) {
        const lines = fs.readFileSync(t.config.logFile as string, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        expect(lines.length).toBe(30);
        expect(lines[29]).toMatchObject({ type: 'train', step: 30 });
        for (const k of ['reward', 'rewardStd', 'loss', 'kl', 'clipRatio', 'entropy', 'completionLength', 'tokensPerSecond', 'lr'])
          expect(typeof lines[29][k]).toBe('number');
        const svg = fs.readFileSync(t.config.plotFile as string, 'utf8');
        checkWellFormedXml(svg);
        expect(svg).toMatch(/<path d="M/);
        const ck = path.join(t.config.outDir, 'checkpoints', 'step-00000030');
        expect(JSON.parse(fs.readFileSync(path.join(ck, 'trainer_state.json'), 'utf8'))).toMatchObject({ kind: 'grpo', step: 30 });
        expect(fs.existsSync(path.join(ck, 'model.safetensors'))).toBe(true);
      }
      t.dispose();
      model.dispose();
    }
  });

  test('old-policy log-probs are computed once per step and reused across the μ iterations', async () => {
    const model = LlamaModel.init(toyConfig(), { seed: 4 });
    const t = new GRPOTrainer({
      model, tokenizer: tok, dataset: prompts(8), rewardFuncs: sevens, outDir: outDir(), steps: 3, promptsPerStep: 2,
      numGenerations: 4, microBatchSize: 3, numIterations: 3, maxCompletionLength: 4, learningRate: 5e-2, beta: 0,
      logFile: false, plotFile: false, checkpointEvery: 0, maxGradNorm: 0,
    });
    const spy = jest.spyOn(model, 'logprobs');
    await t.train();
    // 8 completions in micro-batches of 3, 3, 2: 3 old-logp passes + 3 iterations x 3 training passes per step
    expect(t.oldLogpPasses).toBe(3 * 3);
    expect(spy).toHaveBeenCalledTimes(3 * (3 + 9));
    for (const m of t.history) {
      expect(m.iterations.length).toBe(3);
      // iteration 1 scores with the sampling weights: ratio exactly 1
      expect(m.iterations[0].ratioMean).toBe(1);
      expect(m.iterations[0].ratioMin).toBe(1);
      expect(m.iterations[0].clipRatio).toBe(0);
      // later iterations compare the updated policy with the cached old log-probs
      expect(Math.abs(m.iterations[1].ratioMax - m.iterations[1].ratioMin)).toBeGreaterThan(1e-4);
      expect(Math.abs(m.iterations[2].ratioMean - 1)).toBeGreaterThan(Math.abs(m.iterations[1].ratioMean - 1) / 10);
      expect(m.kl).toBeUndefined();
    }
    spy.mockRestore();
    t.dispose();
    // μ = 1: no old-logp pass (old = current, detached)
    const t1 = new GRPOTrainer({
      model, tokenizer: tok, dataset: prompts(8), rewardFuncs: sevens, outDir: outDir(), steps: 2, promptsPerStep: 2,
      numGenerations: 4, maxCompletionLength: 4, beta: 0, logFile: false, plotFile: false, checkpointEvery: 0,
    });
    await t1.train();
    expect(t1.oldLogpPasses).toBe(0);
    expect(t1.history[1].iterations[0].ratioMean).toBe(1);
    t1.dispose();
    model.dispose();
  });

  test('beta = 0 builds no reference model; beta > 0 keeps a frozen copy; syncRefModel resets it to the policy', async () => {
    const base = { tokenizer: tok, dataset: prompts(8), rewardFuncs: sevens, promptsPerStep: 2, numGenerations: 4, maxCompletionLength: 4, learningRate: 5e-2, logFile: false as const, plotFile: false as const, checkpointEvery: 0 };
    const m0 = LlamaModel.init(toyConfig(), { seed: 5 });
    const t0 = new GRPOTrainer({ ...base, model: m0, outDir: outDir(), steps: 1, beta: 0 });
    expect(t0.refModel).toBeUndefined();
    t0.dispose();

    const m1 = LlamaModel.init(toyConfig(), { seed: 5 });
    const init = snapshot(m1);
    const t1 = new GRPOTrainer({ ...base, model: m1, outDir: outDir(), steps: 4, beta: 0.1 });
    expect(t1.refModel).toBeDefined();
    await t1.train();
    expect(maxDiff(snapshot(t1.refModel!), init)).toBe(0);
    expect(maxDiff(snapshot(m1), init)).toBeGreaterThan(1e-3);
    expect(t1.history[0].kl).toBe(0);
    expect(t1.history[3].kl).toBeGreaterThan(0);
    t1.dispose();

    const m2 = LlamaModel.init(toyConfig(), { seed: 5 });
    const syncs: number[] = [];
    const t2 = new GRPOTrainer({
      ...base, model: m2, outDir: outDir(), steps: 4, beta: 0.1, syncRefModel: true, refModelSyncSteps: 2,
      checkpointEvery: 2, callbacks: { onStep: (m) => syncs.push(m.kl!) },
    });
    await t2.train();
    // reset at steps 2 and 4: the reference equals the final policy, and step 3 starts with KL 0
    expect(maxDiff(snapshot(t2.refModel!), snapshot(m2))).toBe(0);
    expect(syncs[2]).toBe(0);
    expect(syncs[1]).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(t2.config.outDir, 'checkpoints', 'step-00000004', 'ref_model.safetensors'))).toBe(true);
    t2.dispose();
    m0.dispose();
    m1.dispose();
    m2.dispose();
  });

  test('rewards: weighted sum of the functions, null skipped, per-function metrics, extra columns repeated per completion', async () => {
    const model = LlamaModel.init(toyConfig(), { seed: 6 });
    const seen: { rewards: number[]; completions: string[] }[] = [];
    const extras: Record<string, unknown[]>[] = [];
    const dataset = prompts(4).map((p, i) => ({ ...p, tag: `t${i}` }));
    const len = (_p: string[], c: string[], extra: Record<string, unknown[]>) => {
      extras.push(extra);
      return c.map((x) => x.length);
    };
    const one = (_p: string[], c: string[]) => c.map((_, i) => (i % 3 === 0 ? null : 1));
    const t = new GRPOTrainer({
      model, tokenizer: tok, dataset, rewardFuncs: [len, { name: 'const', fn: one }], rewardWeights: [-0.5, 2], outDir: outDir(),
      steps: 2, promptsPerStep: 2, numGenerations: 3, maxCompletionLength: 3, beta: 0, shuffle: false, logFile: false,
      plotFile: false, checkpointEvery: 0, callbacks: { onCompletions: (r) => seen.push(r) },
    });
    await t.train();
    expect(seen.length).toBe(2);
    for (const s of seen) s.completions.forEach((c, i) => expect(s.rewards[i]).toBeCloseTo(-0.5 * c.length + (i % 3 === 0 ? 0 : 2), 6));
    expect(extras[0].tag).toEqual(['t0', 't0', 't0', 't1', 't1', 't1']);
    expect(extras[1].tag).toEqual(['t2', 't2', 't2', 't3', 't3', 't3']);
    const m = t.history[0];
    expect(Object.keys(m.rewards)).toEqual(['len', 'const']);
    expect(m.rewards.const).toEqual({ mean: 1, std: 0 });
    const lens = seen[0].completions.map((c) => c.length);
    expect(m.rewards.len.mean).toBeCloseTo(lens.reduce((a, b) => a + b) / 6, 6);
    expect(m.accuracy).toBeUndefined();
    t.dispose();

    // built-in math rewards
    const ex = { answer: ['7', '7', '1/2', '3', null] };
    const comps = ['so \\boxed{7}', 'The answer is 7.', '$\\boxed{\\frac{1}{2}}$', 'no answer', '\\boxed{3}'];
    expect(mathAccuracyReward([], comps, ex)).toEqual([1, 1, 1, 0, null]);
    expect(boxedFormatReward([], comps, ex)).toEqual([1, 0, 1, 0, 1]);
    expect(makeMathAccuracyReward({ lastNumberFallback: true })([], ['it is 3'], { answer: ['3'] })).toEqual([1]);
    expect(() => mathAccuracyReward([], comps, {})).toThrow(/no 'answer' column/);

    // a reward of the wrong length is an error naming it
    const bad = new GRPOTrainer({
      model, tokenizer: tok, dataset, rewardFuncs: [function short() { return [1]; }], outDir: outDir(), steps: 1,
      promptsPerStep: 2, numGenerations: 2, maxCompletionLength: 2, beta: 0, logFile: false, plotFile: false,
    });
    await expect(bad.train()).rejects.toThrow(/reward 'short' returned 1 values for 4 completions/);
    bad.dispose();
    model.dispose();
  });

  test('mask_truncated_completions leaves completions without a stop token out of the loss', async () => {
    // every completion hits the length limit without EOS; the rewards still differ
    const engine: RolloutEngine = async (ps, G) => ({ completions: Array.from({ length: ps.length * G }, (_, n) => [id(n % 2 ? '7' : '3'), id('5')]) });
    const run = async (mask: boolean) => {
      const model = LlamaModel.init(toyConfig(), { seed: 7 });
      const before = snapshot(model);
      const t = new GRPOTrainer({
        model, tokenizer: tok, dataset: prompts(4), rewardFuncs: sevens, rolloutEngine: engine, outDir: outDir(), steps: 1,
        promptsPerStep: 2, numGenerations: 4, maxCompletionLength: 2, beta: 0, learningRate: 1e-2, maskTruncatedCompletions: mask,
        logFile: false, plotFile: false, checkpointEvery: 0,
      });
      const m = await t.trainStep();
      const moved = maxDiff(snapshot(model), before);
      t.dispose();
      model.dispose();
      return { m, moved };
    };
    const masked = await run(true);
    expect(masked.m.truncatedFraction).toBe(1);
    expect(masked.m.reward).toBeCloseTo(0.25, 6);
    expect(masked.m.loss).toBe(0);
    expect(masked.moved).toBe(0);
    const unmasked = await run(false);
    expect(unmasked.m.truncatedFraction).toBe(1);
    expect(unmasked.moved).toBeGreaterThan(1e-3);
  });

  test('hand-checked step: two completions of one token, rewards 1 and 0', async () => {
    // G = 2 completions "7" and "3" of the prompt "q:": A = ±a, a = 0.5/(1/√2 + 1e-4) (unbiased std 1/√2); with μ = 1, β = 0 and
    // the 'grpo' loss, L = −½(A₇·logp(7) + A₃·logp(3)), so ∇L = ½·a·(∇(−logp 7) − ∇(−logp 3)), and the
    // loss value is 0 (ratio 1, advantages summing to 0).
    const A = id('7');
    const Bt = id('3');
    const engine: RolloutEngine = async () => ({ completions: [[A], [Bt]] });
    const model = LlamaModel.init(toyConfig(), { seed: 8, initStd: 0.2 });
    const ref = LlamaModel.fromParams(model.config, model.params);
    const reward = (_p: string[], c: string[]) => c.map((x) => (x === '7' ? 1 : 0));
    const t = new GRPOTrainer({
      model, tokenizer: tok, dataset: [{ prompt: 'q:' }], rewardFuncs: reward, rolloutEngine: engine, stopTokenIds: [A, Bt],
      outDir: outDir(), steps: 1, promptsPerStep: 1, numGenerations: 2, maxCompletionLength: 1, beta: 0, learningRate: 1e-3,
      maxGradNorm: 0, logFile: false, plotFile: false, checkpointEvery: 0,
    });
    const m = await t.trainStep();
    expect(m.loss).toBeCloseTo(0, 7);
    expect(m.truncatedFraction).toBe(0);
    const a = 0.5 / (Math.SQRT1_2 + 1e-4); // (r - mean) / (unbiased std + eps)
    // expected gradient from the cross-entropy path on the untouched copy
    const ids = Tensor.fromArray([id('q'), id(':')], [1, 2], { dtype: 'i32' });
    const gradOf = (target: number) => {
      ref.zeroGrad();
      ref.loss(ids, Tensor.fromArray([-100, target], [1, 2], { dtype: 'i32' }));
      ref.backward();
      return new Map([...ref.grads].map(([k, g]) => [k, Float32Array.from(g.toArray())]));
    };
    const gA = gradOf(A);
    const gB = gradOf(Bt);
    let num = 0;
    let den = 0;
    for (const [k, g] of model.grads) {
      const got = g.toArray();
      const x = gA.get(k)!;
      const y = gB.get(k)!;
      for (let i = 0; i < got.length; i++) {
        const want = 0.5 * a * (x[i] - y[i]);
        num += (got[i] - want) ** 2;
        den += want ** 2;
      }
    }
    expect(den).toBeGreaterThan(0);
    expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
    // and the step moved probability from "3" to "7"
    const probs = (mdl: LlamaModel) => {
      const lp = logSoftmax(mdl.forward(ids)).toArray();
      return [Math.exp(lp[16 + A]), Math.exp(lp[16 + Bt])];
    };
    const [pa0, pb0] = probs(ref);
    const [pa1, pb1] = probs(model);
    expect(pa1).toBeGreaterThan(pa0);
    expect(pb1).toBeLessThan(pb0);
    t.dispose();
    ref.dispose();
    model.dispose();
  });

  test('a resumed run reproduces the uninterrupted one (CPU: same completions, rewards and losses)', async () => {
    const opts = (dir: string, steps: number, model: LlamaModel) => ({
      model, tokenizer: tok, dataset: prompts(6), rewardFuncs: sevens, outDir: dir, steps, promptsPerStep: 2, numGenerations: 4,
      numIterations: 2, maxCompletionLength: 4, learningRate: 2e-2, beta: 0.04, syncRefModel: true, refModelSyncSteps: 1,
      checkpointEvery: 1, plotFile: false as const,
    });
    const key = (m: GRPOStepMetrics) => [m.reward, m.loss, m.kl, m.entropy, m.completionLength];
    const full = new GRPOTrainer(opts(outDir(), 4, LlamaModel.init(toyConfig(), { seed: 11 })));
    await full.train();
    const dir = outDir();
    const a = new GRPOTrainer(opts(dir, 2, LlamaModel.init(toyConfig(), { seed: 11 })));
    await a.train();
    const b = new GRPOTrainer({ ...opts(dir, 4, LlamaModel.init(toyConfig(), { seed: 99 })), resume: true });
    await b.train();
    expect(b.resumedFrom).toMatch(/step-00000002$/);
    expect(b.history.map(key)).toEqual(full.history.map(key));
    for (const t of [full, a, b]) {
      t.dispose();
      t.model.dispose();
    }
  });

  test('bad configs are refused with a clear message', () => {
    const model = LlamaModel.init(toyConfig(), { seed: 9 });
    const base = { model, tokenizer: tok, dataset: prompts(2), rewardFuncs: sevens, outDir: outDir(), logFile: false as const, maxCompletionLength: 8 };
    const bad = (over: Record<string, unknown>, re: RegExp) => expect(() => new GRPOTrainer({ ...base, ...over } as never)).toThrow(re);
    bad({ numGenerations: 1 }, /numGenerations must be an integer >= 2, got 1/);
    bad({ beta: -1 }, /beta must be >= 0, got -1/);
    bad({ lossType: 'ppo' }, /lossType must be one of grpo, bnpo, dapo, dr_grpo, got ppo/);
    bad({ scaleRewards: 'yes' }, /scaleRewards must be one of group, batch, none/);
    bad({ temperature: 0 }, /temperature must be > 0/);
    bad({ topP: 1.5 }, /topP must be in \(0, 1\]/);
    bad({ numIterations: 0 }, /numIterations must be an integer >= 1/);
    bad({ epsilonHigh: 0.2, delta: 1.1 }, /delta must be > 1 \+ epsilonHigh/);
    bad({ syncRefModel: true, beta: 0 }, /syncRefModel needs a reference model/);
    bad({ dataset: [] }, /dataset must be a non-empty array/);
    bad({ dataset: [{ question: 'x' }] }, /dataset\[0\]\.prompt must be a string or a list of chat messages/);
    bad({ rewardFuncs: [] }, /at least one reward function/);
    bad({ rewardWeights: [1, 2] }, /rewardWeights has 2 entries for 1 reward functions/);
    bad({ maxCompletionLength: 64 }, /maxCompletionLength 64 leaves no room for a prompt/);
    bad({ outDir: '' }, /outDir is required/);
    bad({ stopTokenIds: [99] }, /stop token id 99 is outside the vocabulary/);
    // the whole message, for the shared validators
    bad({ seed: -1 }, /^GRPOTrainer: seed must be an integer >= 0, got -1$/);
    bad({ steps: '3' }, /^GRPOTrainer: steps must be an integer >= 1, got 3$/);
    bad({ adamEps: 0 }, /^GRPOTrainer: adamEps must be > 0, got 0$/);
    bad({ refModelMixupAlpha: Infinity }, /^GRPOTrainer: refModelMixupAlpha must be in \(0, 1\], got Infinity$/);
    bad({ beta2: 1 }, /^GRPOTrainer: beta2 must be in \[0, 1\), got 1$/);
    bad({ device: 'tpu' }, /^GRPOTrainer: device must be 'cpu' or 'cuda', got tpu$/);
    bad({ outDir: 7 }, /^GRPOTrainer: outDir is required$/);
    expect(() => new GRPOTrainer(null as never)).toThrow(/^GRPOTrainer: options are required$/);
    model.dispose();
  });
});

describe('mathrl grpo', () => {
  const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  test('trains from a model folder on question/answer JSONL, writes metrics, plot and checkpoints; --resume continues', () => {
    const dir = path.join(tmp, 'cli-model');
    const qs = Array.from({ length: 6 }, (_, i) => ({ question: `What is ${i} + ${i + 1}?`, answer: `${i} plus ${i + 1}\n#### ${2 * i + 1}` }));
    const btok = trainBpe(qs.map((q) => q.question + ' ' + q.answer + ' User: Assistant: Please reason step by step \\boxed{}'), { vocabSize: 300 });
    btok.save(dir);
    const cfg = toyConfig({ vocabSize: btok.vocabSize, maxPositionEmbeddings: 128, eosTokenId: btok.eosId });
    const model = LlamaModel.init(cfg, { seed: 1 });
    writeConfig(dir, cfg);
    saveSafetensors(path.join(dir, 'model.safetensors'), model.params, { format: 'pt' });
    model.dispose();
    const data = path.join(tmp, 'qa.jsonl');
    fs.writeFileSync(data, qs.map((q) => JSON.stringify(q)).join('\n') + '\n');
    const out = path.join(tmp, 'cli-out');
    const args = [
      'grpo', '--model', dir, '--data', data, '--out', out, '--steps', '2', '--prompts-per-step', '2', '--num-generations', '2',
      '--max-completion-length', '4', '--lr', '1e-3', '--reward', 'accuracy,format', '--reward-weights', '1,0.1', '--ckpt-every', '1',
    ];
    const r = run(...args);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/grpo +\[[#.]+\] 2\/2 .*reward [\d.e+-]+ +acc [\d.e+-]+ +kl [\d.e+-]+/);
    expect(r.stderr).toMatch(/done at step 2: reward/);
    const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as GRPOStepMetrics);
    expect(lines.map((l) => l.step)).toEqual([1, 2]);
    expect(Object.keys(lines[0].rewards)).toEqual(['accuracy', 'format']);
    expect(typeof lines[0].accuracy).toBe('number');
    checkWellFormedXml(fs.readFileSync(path.join(out, 'reward.svg'), 'utf8'));
    expect(fs.existsSync(path.join(out, 'checkpoints', 'step-00000002', 'model.safetensors'))).toBe(true);

    const r2 = run('grpo', '--out', out, '--resume', '--steps', '3', '--quiet');
    expect(r2.status).toBe(0);
    const after = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as GRPOStepMetrics);
    expect(after.map((l) => l.step)).toEqual([1, 2, 3]);
    expect(after[1]).toEqual(lines[1]);

    // bad input: one clear line, exit 1, nothing written
    const bad = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(bad, '{"question": "1+1?"}\n');
    const r3 = run('grpo', '--model', dir, '--data', bad, '--out', path.join(tmp, 'cli-bad'));
    expect(r3.status).toBe(1);
    expect(r3.stderr).toMatch(/mathrl grpo: grpo data: .*bad\.jsonl:1: no reference answer/);
    expect(fs.existsSync(path.join(tmp, 'cli-bad'))).toBe(false);
    const r4 = run('grpo', '--model', dir, '--data', data, '--out', path.join(tmp, 'cli-bad'), '--loss-type', 'x');
    expect(r4.status).toBe(1);
    expect(r4.stderr).toMatch(/--loss-type must be one of grpo, bnpo, dapo, dr_grpo, got 'x'/);
    const r5 = run('grpo', '--model', dir, '--data', data, '--out', path.join(tmp, 'cli-bad'), '--num-generations', '1');
    expect(r5.status).toBe(1);
    expect(r5.stderr).toMatch(/numGenerations must be an integer >= 2, got 1/);
    expect(fs.existsSync(path.join(tmp, 'cli-bad'))).toBe(false);
  });
});

describeCuda('GRPO on CUDA', () => {
  test('bf16 logprobs match the CPU within bf16 tolerance, and a GRPO step runs', async () => {
    const cfg = toyConfig();
    const cpu = LlamaModel.init(cfg, { seed: 2, initStd: 0.2 });
    const gpu = LlamaModel.fromParams(cfg, cpu.params, { device: 'cuda' });
    const ids = Tensor.fromArray(new Int32Array(14).map((_, i) => (i * 5 + 2) % 16), [2, 7], { dtype: 'i32' });
    const tg = Tensor.fromArray(new Int32Array(14).map((_, i) => (i < 3 ? -100 : (i * 3) % 16)), [2, 7], { dtype: 'i32' });
    const a = cpu.logprobs(ids, tg, { noGrad: true }).logp.toArray();
    const b = gpu.logprobs(ids.to('cuda'), tg.to('cuda'), { noGrad: true }).logp.toArray();
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) ** 2;
      den += a[i] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(2e-2);
    const t = new GRPOTrainer({
      model: gpu, tokenizer: tok, dataset: prompts(4), rewardFuncs: sevens, outDir: outDir(), steps: 2, promptsPerStep: 2,
      numGenerations: 4, numIterations: 2, maxCompletionLength: 4, beta: 0.04, logFile: false, plotFile: false, checkpointEvery: 0,
    });
    await t.train();
    expect(Number.isFinite(t.history[1].loss)).toBe(true);
    expect(t.history[1].iterations[0].ratioMean).toBeCloseTo(1, 5);
    t.dispose();
    gpu.dispose();
    cpu.dispose();
  });
});
