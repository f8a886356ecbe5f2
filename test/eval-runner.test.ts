// The model-agnostic runner (evaluate) with fake generators, and `mathrl eval --predictions` on tiny
// prediction files (against the answers in the file, and against the real GSM8K / MATH-500 data).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { GenerateFn, MathProblem, evaluate, passAtK } from '../lib/eval';

const PROBLEMS: MathProblem[] = [
  { id: 'a', question: 'What is 1/2 + 1/2?', answer: '1' },
  { id: 'b', question: 'What is 2^10?', answer: '1,024' },
  { id: 'c', question: 'Solve x^2 = 4.', answer: '-2, 2' },
];

// Canned completions per problem id: 4 samples each.
const CANNED: Record<string, string[]> = {
  a: ['so \\boxed{1}', 'The answer is 1.', '\\boxed{\\frac{2}{2}}', '\\boxed{2}'], // 3 correct
  b: ['#### 1024', '\\boxed{1000}', '\\boxed{1000}', 'The answer is 1,024.'], // 2 correct, tie -> 1024 first
  c: ['\\boxed{2}', '\\boxed{x = \\pm 2}', 'hmm', '\\boxed{2, -2}'], // 2 correct (pm, list)
};

function fakeGenerate(calls: { prompts: string[]; n: number }[]): GenerateFn {
  return async (prompts, n) => {
    calls.push({ prompts, n });
    return prompts.map((p) => {
      const prob = PROBLEMS.find((q) => p.startsWith(q.question))!;
      return CANNED[prob.id].slice(0, n);
    });
  };
}

describe('evaluate', () => {
  test('greedy, maj@k and pass@k from a fake model; batches and progress', async () => {
    const calls: { prompts: string[]; n: number }[] = [];
    const progress: number[] = [];
    const greedy: GenerateFn = async (prompts, n) => {
      expect(n).toBe(1);
      return prompts.map((p) => [p.startsWith('What is 1/2') ? '\\boxed{1}' : '\\boxed{0}']);
    };
    const r = await evaluate({
      problems: PROBLEMS,
      generate: fakeGenerate(calls),
      greedy,
      k: 4,
      batchSize: 2,
      onProgress: (p) => progress.push(p.done),
    });
    expect(calls.map((c) => [c.prompts.length, c.n])).toEqual([[2, 4], [1, 4]]);
    expect(calls[0].prompts[0]).toBe('What is 1/2 + 1/2?\nPlease reason step by step, and put your final answer within \\boxed{}.');
    expect(progress).toEqual([2, 3]);
    expect(r.problems).toBe(3);
    expect(r.greedyAccuracy).toBeCloseTo(1 / 3, 15);
    expect(r.majAtK).toBe(1); // a: 1 (3 votes); b: 1024 vs 1000 tie, 1024 first; c: {2,-2} (2 votes) vs 2 (1)
    expect(r.passAtK[1]).toBeCloseTo((3 / 4 + 2 / 4 + 2 / 4) / 3, 15);
    expect(r.passAtK[2]).toBeCloseTo((passAtK(4, 3, 2) + passAtK(4, 2, 2) * 2) / 3, 15);
    expect(r.passAtK[4]).toBe(1);
    expect(r.noAnswerRate).toBeCloseTo(1 / 12, 15);
    const c = r.records[2];
    expect(c.samples.map((s) => s.correct)).toEqual([false, true, false, true]);
    expect(c.majority).toEqual({ answer: 'x = \\pm 2', votes: 2, correct: true });
    expect(c.samples[0].completion).toBe('\\boxed{2}');
  });

  test('firstSampleIsGreedy, custom prompts, keepCompletions: false', async () => {
    const r = await evaluate({
      problems: PROBLEMS,
      generate: fakeGenerate([]),
      k: 2,
      firstSampleIsGreedy: true,
      prompt: (p) => `${p.question} Think.`,
      keepCompletions: false,
    });
    expect(r.greedyAccuracy).toBeCloseTo(2 / 3, 15); // a: 1 right, b: 1024 right, c: 2 wrong
    expect(r.majAtK).toBeCloseTo(2 / 3, 15); // c: 2 vs {2,-2} tie -> 2 first (wrong)
    expect(Object.keys(r.passAtK)).toEqual(['1', '2']);
    expect(r.records[0].samples[0].completion).toBeUndefined();
  });

  test('greedy only (k = 0)', async () => {
    const r = await evaluate({ problems: PROBLEMS, greedy: async (ps) => ps.map(() => ['\\boxed{1}']) });
    expect(r.greedyAccuracy).toBeCloseTo(1 / 3, 15);
    expect(r.majAtK).toBeNull();
    expect(r.passAtK).toEqual({});
  });

  test('bad generators and options are refused', async () => {
    await expect(evaluate({ problems: PROBLEMS })).rejects.toThrow(/nothing to do/);
    await expect(evaluate({ problems: PROBLEMS, k: 2 })).rejects.toThrow(/k > 0 needs a generate function/);
    await expect(evaluate({ problems: PROBLEMS, generate: fakeGenerate([]), k: -1 })).rejects.toThrow(/k must be/);
    await expect(evaluate({ problems: PROBLEMS, generate: fakeGenerate([]), k: 1, batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(
      evaluate({ problems: PROBLEMS, generate: async (ps) => ps.slice(1).map(() => ['x']), k: 1 }),
    ).rejects.toThrow(/generate returned 2 rows for 3 prompts/);
    await expect(evaluate({ problems: PROBLEMS, generate: async (ps) => ps.map(() => ['x']), k: 2 })).rejects.toThrow(
      /generate row 0 must be 2 strings/,
    );
    await expect(
      evaluate({ problems: PROBLEMS, generate: async (ps) => ps.map(() => [3 as unknown as string]), k: 1 }),
    ).rejects.toThrow(/must be 1 strings/);
  });
});

describe('mathrl eval --predictions', () => {
  const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-evalcli-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The built CLI in a child process (end to end), and the same main() in process (fast, for the rest).
  const spawn = (...args: string[]) => spawnSync(process.execPath, [cli, 'eval', ...args], { encoding: 'utf8', cwd: dir });
  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ') + '\n'));
    const error = jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ') + '\n'));
    try {
      const status = await main(['eval', ...args]);
      return { status, stdout: out.join(''), stderr: err.join('') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  };
  const write = (name: string, rows: unknown[]) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
    return f;
  };

  test('scores against answers in the file; --json, --out, --first-is-greedy', async () => {
    const f = write('own.jsonl', PROBLEMS.map((p) => ({ id: p.id, answer: p.answer, completions: CANNED[p.id] })));
    const text = spawn('--predictions', f);
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/eval: 3 problems, 4 samples per problem/);
    expect(text.stdout).toMatch(/maj@4 +100\.00%/);
    expect(text.stdout).toMatch(/pass@1 +58\.33%/);
    expect(text.stdout).not.toMatch(/greedy/);

    const out = path.join(dir, 'records.jsonl');
    const j = await run('--predictions', f, '--json', '--k', '2', '--first-is-greedy', '--out', out, '--pass-k', '1,3');
    expect(j.status).toBe(0);
    const rep = JSON.parse(j.stdout);
    expect(rep).toMatchObject({ problems: 3, k: 2, majAtK: 2 / 3, greedyAccuracy: 2 / 3 });
    expect(Object.keys(rep.passAtK)).toEqual(['1', '3']);
    const recs = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(recs.map((r) => r.numCorrect)).toEqual([3, 2, 2]);
  });

  const DATA = path.resolve(__dirname, '../../shared/data');
  (fs.existsSync(DATA) ? test : test.skip)('--bench gsm8k and math500 take references from the data', async () => {
    const g = write('gsm.jsonl', [
      { id: 'gsm8k/test/0', completions: ['... #### 18', 'The answer is $18.', 'so 16'], greedy: 'she makes $18 a day' },
      { id: 'gsm8k/test/1', completions: ['#### 3', 'I get 4', '3 bolts'], greedy: '\\boxed{3}' },
    ]);
    const r = await run('--predictions', g, '--bench', 'gsm8k', '--data', path.join(DATA, 'gsm8k/test.jsonl'));
    expect(r.status).toBe(0);
    // Last-number fallback is on for gsm8k: "so 16" -> 16, "I get 4" -> 4, "3 bolts" -> 3.
    expect(r.stdout).toMatch(/gsm8k, test\.jsonl/);
    expect(r.stdout).toMatch(/greedy accuracy +100\.00% +\('greedy' field\)/);
    expect(r.stdout).toMatch(/maj@3 +100\.00%/);
    expect(r.stdout).toMatch(/pass@1 +66\.67%/);
    const none = await run('--predictions', g, '--bench', 'gsm8k', '--fallback', 'none', '--json');
    expect(JSON.parse(none.stdout).noAnswerRate).toBeCloseTo(3 / 6, 12); // default data dir found from cwd / package

    const m = write('math.jsonl', [
      { id: 'test/precalculus/807.json', completions: ['\\boxed{(3, \\pi/2)}', '\\boxed{(3,\\frac{\\pi}{2})}', '\\boxed{(\\pi/2,3)}'] },
    ]);
    const mr = await run('--predictions', m, '--bench', 'math500', '--json');
    expect(mr.status).toBe(0);
    expect(JSON.parse(mr.stdout)).toMatchObject({ problems: 1, k: 3, majAtK: 1, passAtK: { 1: 2 / 3 } });
  });

  test('bad input gives clear errors and exit code 1', async () => {
    const cases: [string[], RegExp][] = [
      [[], /give --model <dir> .* or --predictions <file.jsonl>/],
      [['--predictions', path.join(dir, 'missing.jsonl')], /cannot read predictions/],
      [['--predictions', write('bad1.jsonl', ['{"id": "a", "completions": ["x"], "answer": "1"}', '{oops'])], /bad1\.jsonl:2: invalid JSON/],
      [['--predictions', write('bad2.jsonl', [{ id: 'a', completions: 'x', answer: '1' }])], /'completions' must be an array of strings/],
      [['--predictions', write('bad3.jsonl', [{ completions: [], answer: '1' }])], /'id' must be a non-empty string/],
      [['--predictions', write('bad4.jsonl', [{ id: 'a', completions: ['x'], answer: '1' }, { id: 'a', completions: ['y'], answer: '1' }])], /bad4\.jsonl:2: duplicate id 'a'/],
      [['--predictions', write('bad5.jsonl', [{ id: 'a', completions: ['x'] }])], /no 'answer' for 'a'/],
      [['--predictions', write('ok.jsonl', [{ id: 'a', completions: ['x', 'y'], answer: '1' }]), '--k', '3'], /--k must be between 0 and 2/],
      [['--predictions', path.join(dir, 'ok.jsonl'), '--bench', 'aime'], /--bench must be gsm8k or math500/],
      [['--predictions', path.join(dir, 'ok.jsonl'), '--format', 'xml'], /--format must be auto, boxed or gsm8k/],
      [['--predictions', path.join(dir, 'ok.jsonl'), '--pass-k', '1,5'], /--pass-k values must be integers in 1\.\.2/],
      [['--predictions', path.join(dir, 'ok.jsonl'), '--frobnicate'], /Unknown option '--frobnicate'/],
      [['--predictions', write('empty.jsonl', [''])], /has no predictions/],
      [['--predictions', path.join(dir, 'ok.jsonl'), '--data', path.join(dir, 'ok.jsonl')], /malformed line/],
    ];
    for (const [args, re] of cases) {
      const r = await run(...args);
      expect([args.join(' '), r.status]).toEqual([args.join(' '), 1]);
      expect(r.stderr).toMatch(re);
    }
  });

  (fs.existsSync(DATA) ? test : test.skip)('unknown benchmark ids are refused with an example id', async () => {
    const f = write('unk.jsonl', [{ id: 'gsm8k/test/99999', completions: ['1'] }]);
    const r = spawn('--predictions', f, '--bench', 'gsm8k');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/id 'gsm8k\/test\/99999' is not in the benchmark \(ids look like 'gsm8k\/test\/0'\)/);
  });
});
