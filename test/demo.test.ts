// `mathrl demo --quick`: the whole recipe (tokenizer → pretrain → SFT → GRPO) on the synthetic world,
// asserting that each stage improves its own metric, plus the world's guarantees (determinism, no
// problem shared between train and test, correct worked solutions). The run (`mathrl demo --quick`,
// spawned) takes about 2.5 minutes on 2 cores.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeWorld, workedSolution, DEFAULT_LIMITS } from '../lib/demo/world';
import { DemoSummary, demoSettings, summaryTable } from '../lib/demo/pipeline';
import { loadModelDir } from '../lib/train/checkpoint';
import { generate } from '../lib/generate/generate';
import { extractAnswer } from '../lib/eval/extract';
import { trainBpe } from '../lib/tokenizer';
import { checkWellFormedXml } from './xml-check';
import { spawnSync } from 'child_process';

const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');

describe('demo world', () => {
  const w = makeWorld({ seed: 3, trainProblems: 1000, testProblems: 100, factDocuments: 50 });

  test('is deterministic per seed and differs across seeds', () => {
    const again = makeWorld({ seed: 3, trainProblems: 1000, testProblems: 100, factDocuments: 50 });
    expect(again.train.map((p) => p.question)).toEqual(w.train.map((p) => p.question));
    expect(again.corpus).toEqual(w.corpus);
    expect(again.sft.map((r) => r.response)).toEqual(w.sft.map((r) => r.response));
    const other = makeWorld({ seed: 4, trainProblems: 1000, testProblems: 100, factDocuments: 50 });
    expect(other.test.map((p) => p.question)).not.toEqual(w.test.map((p) => p.question));
  });

  test('train and test never share a problem (template + numbers), nor does the corpus', () => {
    const testKeys = new Set(w.test.map((p) => p.key));
    expect(testKeys.size).toBe(w.test.length);
    expect(new Set(w.train.map((p) => p.key)).size).toBe(w.train.length);
    for (const p of w.train) expect(testKeys.has(p.key)).toBe(false);
    const corpus = new Set(w.corpus);
    for (const p of w.test) {
      expect([...corpus].some((d) => d.includes(p.question))).toBe(false);
      expect(w.sft.some((r) => r.problem.question === p.question)).toBe(false);
    }
  });

  test('problems have 2-4 steps, numbers within the limits, and correct worked solutions', () => {
    const templates = new Set<string>();
    for (const p of [...w.train, ...w.test]) {
      templates.add(p.template);
      expect(p.steps.length).toBeGreaterThanOrEqual(2);
      expect(p.steps.length).toBeLessThanOrEqual(4);
      expect(p.solution).toBe(workedSolution(p.start, p.sentences));
      const lines = p.solution.split('\n');
      // one line per sentence of the question (restated), then the answer
      expect(lines).toHaveLength(p.sentences.length + 1);
      expect(p.question.startsWith(p.sentences.map((x) => x.text).join(' ') + ' ')).toBe(true);
      const equations = lines.slice(0, -1).filter((line, i) => {
        expect(line.startsWith(p.sentences[i].text)).toBe(true);
        return p.sentences[i].step !== undefined;
      });
      expect(equations).toHaveLength(p.steps.length);
      let prev: number | undefined;
      for (const line of equations) {
        const m = /\. (\d+) ([-+*]) (\d+) = (\d+)$/.exec(line)!;
        expect(m).not.toBeNull();
        const [a, op, b, r] = [Number(m[1]), m[2], Number(m[3]), Number(m[4])];
        expect(op === '+' ? a + b : op === '-' ? a - b : a * b).toBe(r);
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r).toBeLessThanOrEqual(DEFAULT_LIMITS.maxValue);
        if (prev !== undefined) expect(a === prev || b === prev).toBe(true);
        prev = r;
      }
      expect(extractAnswer(p.solution)).toBe(p.answer);
      expect(String(prev)).toBe(p.answer);
      // every operand that is not a running value appears in the question
      for (const s of p.steps) expect(p.question).toContain(String(s.n));
      expect(p.sentences.filter((x) => x.step).map((x) => x.step)).toEqual(p.steps);
    }
    expect([...templates].sort()).toEqual(['boxes', 'bus', 'shop', 'story']);
  });

  test('the corpus: worked examples ending "Answer: n" (a tenth boxed), and arithmetic facts', () => {
    const examples = w.corpus.filter((d) => d.startsWith('Question: '));
    expect(examples).toHaveLength(w.train.length);
    const byQuestion = new Map(w.train.map((p) => [p.question, p]));
    let boxed = 0;
    for (const d of examples) {
      const [q, ...rest] = d.split('\n');
      const p = byQuestion.get(q.slice('Question: '.length))!;
      expect(p).toBeDefined();
      expect(rest[0]).toBe('Solution:');
      const last = rest[rest.length - 1];
      if (last === `Answer: ${p.answer}`) expect(rest.slice(1).join('\n')).toBe(p.solution.replace(/[^\n]*$/, last));
      else {
        expect(rest.slice(1).join('\n')).toBe(p.solution);
        boxed++;
      }
    }
    expect(boxed / examples.length).toBeGreaterThan(0.05);
    expect(boxed / examples.length).toBeLessThan(0.15);
    for (const d of w.corpus.filter((x) => !x.startsWith('Question: ')))
      for (const line of d.split('\n')) expect(line).toMatch(/^\d+ [-+*] \d+ = \d+$/);
  });

  test('the SFT replies mix worked and answer-only solutions by template', () => {
    const share = (t: string) => {
      const rs = w.sft.filter((r) => r.problem.template === t);
      return rs.filter((r) => r.answerOnly).length / rs.length;
    };
    expect(share('story')).toBeLessThan(share('shop'));
    for (const r of w.sft) expect(extractAnswer(r.response)).toBe(r.problem.answer);
  });

  test('settings: quick and full runs, overrides merged per section, bad overrides refused', () => {
    const q = demoSettings({ quick: true });
    const f = demoSettings({ seed: 2 });
    expect(q.pretrain.steps).toBeLessThan(f.pretrain.steps);
    expect(f.seed).toBe(2);
    const o = demoSettings({ quick: true, overrides: { grpo: { steps: 7 }, world: { limits: { maxValue: 30 } } } });
    expect(o.grpo.steps).toBe(7);
    expect(o.grpo.numGenerations).toBe(q.grpo.numGenerations);
    expect(o.world.limits).toEqual({ maxValue: 30 });
    expect(() => demoSettings({ overrides: { grpo: { stepz: 3 } } as never })).toThrow(/unknown setting 'grpo.stepz'/);
    expect(() => demoSettings({ overrides: { seed: 3 } as never })).toThrow(/its own option/);
    expect(() => demoSettings({ overrides: { nope: {} } as never })).toThrow(/unknown setting 'nope'/);
  });

  test('a BPE trained on the world keeps digits as single tokens', () => {
    const tok = trainBpe(w.corpus.slice(0, 200), { vocabSize: 400 });
    const ids = tok.encode('12 + 34 = 46', { addSpecialTokens: false });
    const digits = ids.map((i) => tok.decode([i])).filter((s) => /\d/.test(s));
    expect(digits).toEqual(['1', '2', '3', '4', '4', '6']);
  });
});

describe('mathrl demo --quick', () => {
  let out: string;
  let summary: DemoSummary;

  beforeAll(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-demo-'));
    // the command users run, in its own process (outside jest's module sandbox, which slows the JS
    // of the training loops by about a third)
    const r = spawnSync(process.execPath, [cli, 'demo', '--quick', '--seed', '0', '--out', out, '--json', '--quiet'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mathrl demo --quick failed (${r.status}): ${r.stderr}`);
    summary = JSON.parse(r.stdout);
    // eslint-disable-next-line no-console
    console.log(`${summaryTable(summary.stages)}\n(${summary.minutes.toFixed(2)} min)`);
  }, 600_000);

  afterAll(() => {
    if (out) fs.rmSync(out, { recursive: true, force: true });
  });

  const stage = (name: string) => summary.stages.find((s) => s.stage === name)!;

  test('runs the three stages and writes the summary, curves and model folders', () => {
    expect(summary.stages.map((s) => s.stage)).toEqual(['pretrain', 'sft', 'grpo']);
    const onDisk = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(onDisk.stages.map((s: { accuracy: number }) => s.accuracy)).toEqual(summary.stages.map((s) => s.accuracy));
    for (const f of ['accuracy.svg', 'pretrain/loss.svg', 'sft/loss.svg', 'grpo/reward.svg'])
      checkWellFormedXml(fs.readFileSync(path.join(out, f), 'utf8'));
    for (const s of summary.stages) {
      expect(s.accuracy).toBeGreaterThanOrEqual(0);
      expect(s.majAtK).toBeGreaterThanOrEqual(0);
      expect(s.minutes).toBeGreaterThan(0);
      expect(fs.existsSync(path.join(out, s.stage, 'eval.jsonl'))).toBe(true);
    }
  });

  test('pretraining: the training and held-out losses fall', () => {
    const m = stage('pretrain').metrics;
    expect(m.lastLoss).toBeLessThan(m.firstLoss * 0.5);
    expect(m.lastEvalLoss).toBeLessThan(m.firstEvalLoss * 0.5);
  });

  test('SFT: boxed answers, held-out accuracy above the base model, some replies answer-only', () => {
    const base = stage('pretrain');
    const sft = stage('sft');
    expect(sft.metrics.lastEvalLoss).toBeLessThan(sft.metrics.firstEvalLoss);
    expect(sft.accuracy).toBeGreaterThan(base.accuracy + 0.1);
    expect(sft.majAtK).toBeGreaterThan(base.majAtK);
    // the SFT set mixes worked and answer-only replies, and so does the model
    expect(sft.workedShare).toBeGreaterThan(0.2);
    expect(sft.workedShare).toBeLessThan(0.8);
  });

  test('GRPO: the reward rises, held-out accuracy beats SFT, and the model works problems out', () => {
    const sft = stage('sft');
    const g = stage('grpo');
    expect(g.metrics.lastReward).toBeGreaterThan(g.metrics.firstReward);
    expect(g.accuracy).toBeGreaterThan(sft.accuracy + 0.05);
    expect(g.sampleAccuracy).toBeGreaterThan(sft.sampleAccuracy);
    expect(g.workedShare).toBeGreaterThan(sft.workedShare);
    expect(g.metrics.lastKl).toBeGreaterThan(0);
    expect(g.metrics.lastKl).toBeLessThan(0.5);
  });

  // issue 5's "mathrl eval on a trained tiny model": the CLI scores the GRPO model on the held-out
  // problems (written as GSM8K JSONL) with the demo's prompt and grading, and agrees with the demo.
  test('mathrl eval --model scores the trained model on the held-out GSM8K-format slice', () => {
    const data = path.join(out, 'data', 'test.jsonl');
    const args = [cli, 'eval', '--model', path.join(out, 'grpo'), '--data', data, '--chat', '--prompt-suffix', '', '--format', 'boxed',
      '--fallback', 'none', '--max-new-tokens', '128', '--k', '4', '--batch-size', '100', '--json'];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const g = stage('grpo');
    expect(report.problems).toBe(summary.world.test);
    // same prompts, greedy decoding and grading as the demo's own evaluation (batching may move a reply or two)
    expect(Math.abs(report.greedyAccuracy - g.accuracy)).toBeLessThanOrEqual(0.02);
    expect(report.greedyAccuracy).toBeGreaterThan(stage('sft').accuracy);
    expect(report.k).toBe(4);
    expect(report.majAtK).toBeGreaterThan(0.2);
    expect(report.passAtK['4']).toBeGreaterThanOrEqual(report.passAtK['1']);
    const human = spawnSync(process.execPath, args.slice(0, -1).concat(['--limit', '20']), { encoding: 'utf8' });
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/maj@4/);
    expect(human.stdout).toMatch(/pass@4/);
  });

  test('each stage folder loads as a model and generates', () => {
    for (const name of ['pretrain', 'sft', 'grpo']) {
      const { model, tokenizer } = loadModelDir(path.join(out, name));
      try {
        expect(tokenizer).toBeDefined();
        const prompt = tokenizer!.encodeChat([{ role: 'user', content: 'Ana has 7 apples. She buys 5 more. How many apples does Ana have now?' }], {
          addGenerationPrompt: true,
        });
        const r = generate(model, tokenizer!, [prompt], { maxNewTokens: 24 });
        expect(r.tokens[0].length).toBeGreaterThan(0);
      } finally {
        model.dispose();
      }
    }
  });
});
