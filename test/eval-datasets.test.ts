// GSM8K / MATH-500 loaders on the real files in ../shared/data (counts and spot checks), malformed
// lines (reported with line numbers; throw or skip), and the CoT prompt builder.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  DEEPSEEKMATH_COT_SUFFIX,
  buildPrompt,
  extractAnswer,
  gsm8kFinalAnswer,
  isEquivalent,
  loadGsm8k,
  loadMath500,
  stripCalculatorAnnotations,
} from '../lib/eval';

const DATA = path.resolve(__dirname, '../../shared/data');
const haveData = fs.existsSync(path.join(DATA, 'gsm8k/test.jsonl'));

(haveData ? describe : describe.skip)('real benchmark files', () => {
  test('GSM8K train and test: 7473 / 1319 problems, final answers extracted', () => {
    const train = loadGsm8k(path.join(DATA, 'gsm8k/train.jsonl'));
    const test = loadGsm8k(path.join(DATA, 'gsm8k/test.jsonl'));
    expect(train.length).toBe(7473);
    expect(test.length).toBe(1319);
    expect(test[0].id).toBe('gsm8k/test/0');
    expect(test[0].question).toMatch(/^Janet’s ducks lay 16 eggs per day/);
    expect(test[0].answer).toBe('18');
    expect(test[0].solution).toMatch(/<<9\*2=18>>18 every day/);
    expect(test[0].solution).not.toMatch(/####/);
    expect(test[1].answer).toBe('3');
    expect(test[1318].answer).toBe('14');
    expect(train[0].answer).toBe('72');
    expect(train[345].answer).toBe('1080'); // "#### 1,080" in the file
    for (const p of [...train, ...test]) expect(p.answer).toMatch(/^-?\d+(\.\d+)?$/);
    expect(new Set(test.map((p) => p.id)).size).toBe(1319);
    // The reference solutions score as correct through extraction + equivalence.
    const raw = fs.readFileSync(path.join(DATA, 'gsm8k/test.jsonl'), 'utf8').trim().split('\n');
    raw.forEach((l, i) => expect([i, isEquivalent(extractAnswer(JSON.parse(l).answer), test[i].answer)]).toEqual([i, true]));
  });

  test('MATH-500: 500 problems with level, subject and unique ids', () => {
    const m = loadMath500(path.join(DATA, 'math/math500_test.jsonl'));
    expect(m.length).toBe(500);
    expect(m[0]).toMatchObject({
      id: 'test/precalculus/807.json',
      answer: '\\left( 3, \\frac{\\pi}{2} \\right)',
      subject: 'Precalculus',
      level: 2,
    });
    expect(m[0].question).toMatch(/^Convert the point \$\(0,3\)\$ in rectangular coordinates/);
    expect(m[499]).toMatchObject({ id: 'test/geometry/615.json', answer: '106^\\circ', level: 4, subject: 'Geometry' });
    const levels = [1, 2, 3, 4, 5].map((l) => m.filter((p) => p.level === l).length);
    expect(levels).toEqual([43, 90, 105, 128, 134]);
    expect(m.filter((p) => p.subject === 'Intermediate Algebra').length).toBe(97);
    expect(new Set(m.map((p) => p.id)).size).toBe(500);
    expect(m.every((p) => typeof p.solution === 'string' && p.solution.includes('\\boxed'))).toBe(true);
  });

  test('limit keeps the first problems', () => {
    const m = loadMath500(path.join(DATA, 'math/math500_test.jsonl'), { limit: 3 });
    expect(m.map((p) => p.id)).toEqual(['test/precalculus/807.json', expect.any(String), expect.any(String)]);
    expect(m.length).toBe(3);
  });
});

describe('malformed lines', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-eval-'));
  const write = (name: string, lines: string[]) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, lines.join('\n') + '\n');
    return f;
  };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const gsm = () =>
    write('test.jsonl', [
      JSON.stringify({ question: 'q1', answer: 'w\n#### 5' }),
      '{not json',
      '',
      JSON.stringify({ question: 'q2', answer: 'no final line' }),
      JSON.stringify({ question: 3, answer: '#### 1' }),
      JSON.stringify([1, 2]),
      JSON.stringify({ question: 'q3', answer: 'x\n#### -2,500' }),
    ]);

  test('throws by default, listing every bad line with its number', () => {
    const f = gsm();
    let msg = '';
    try {
      loadGsm8k(f);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/loadGsm8k: 4 malformed line\(s\)/);
    expect(msg).toMatch(/line 2: invalid JSON/);
    expect(msg).toMatch(/line 4: field 'answer' has no final '#### N'/);
    expect(msg).toMatch(/line 5: field 'question' must be a string, got number/);
    expect(msg).toMatch(/line 6: not a JSON object/);
  });

  test("'skip' keeps the good lines (ids keep their line positions) and reports the bad ones", () => {
    const bad: number[] = [];
    const p = loadGsm8k(gsm(), { onMalformed: 'skip', report: (m) => bad.push(m.line) });
    expect(p.map((x) => [x.id, x.answer])).toEqual([
      ['gsm8k/test/0', '5'],
      ['gsm8k/test/6', '-2500'],
    ]);
    expect(bad).toEqual([2, 4, 5, 6]);
  });

  test('MATH-500: bad level, missing answer, duplicate id', () => {
    const row = { problem: 'p', solution: 's \\boxed{1}', answer: '1', subject: 'Algebra', level: 1, unique_id: 'a' };
    const f = write('math.jsonl', [
      JSON.stringify(row),
      JSON.stringify({ ...row, unique_id: 'b', level: 'x' }),
      JSON.stringify({ ...row, unique_id: 'c', answer: undefined }),
      JSON.stringify(row),
      JSON.stringify({ ...row, unique_id: 'd', answer: '' }),
    ]);
    expect(() => loadMath500(f)).toThrow(
      /line 2: field 'level' must be an integer[\s\S]*line 3: field 'answer' must be a string, got nothing[\s\S]*line 4: duplicate unique_id 'a'[\s\S]*line 5: field 'answer' is empty/,
    );
    expect(loadMath500(f, { onMalformed: 'skip' }).map((p) => p.id)).toEqual(['a']);
  });

  test('missing file', () => {
    expect(() => loadGsm8k(path.join(dir, 'nope.jsonl'))).toThrow(/loadGsm8k: cannot read/);
  });
});

describe('helpers and prompts', () => {
  test('GSM8K answer helpers', () => {
    expect(gsm8kFinalAnswer('a\n#### 1,000')).toBe('1000');
    expect(gsm8kFinalAnswer('no marker')).toBeNull();
    expect(stripCalculatorAnnotations('2*3 = <<2*3=6>>6 eggs')).toBe('2*3 = 6 eggs');
  });

  test('DeepSeekMath CoT prompt, configurable', () => {
    expect(DEEPSEEKMATH_COT_SUFFIX).toBe('Please reason step by step, and put your final answer within \\boxed{}.');
    expect(buildPrompt('What is 1+1?')).toBe('What is 1+1?\nPlease reason step by step, and put your final answer within \\boxed{}.');
    expect(buildPrompt({ id: 'x', question: ' Q ', answer: '1' }, { suffix: 'Answer:', separator: ' ' })).toBe('Q Answer:');
    expect(buildPrompt('Q', { suffix: '' })).toBe('Q');
    expect(buildPrompt('Q', { prefix: 'Example...\n\n' })).toMatch(/^Example\.\.\.\n\nQ\nPlease reason/);
  });
});
