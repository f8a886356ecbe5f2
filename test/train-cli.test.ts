// `mathrl pretrain` / `mathrl sft` as child processes: progress on stderr, JSONL metrics, SVG plot;
// SIGKILL during training then --resume reproduces the uninterrupted run's losses exactly; bad input
// gives a clear message, exit code 1 and no half-written output. (Runs dist/: npm run build:ts first.)
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkWellFormedXml } from './xml-check';

const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');
const FIXTURES = path.join(__dirname, 'fixtures');
const CORPUS = path.join(FIXTURES, 'math-corpus.txt');
const GSM8K = path.join(FIXTURES, 'gsm8k-train-sample.jsonl');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

const TINY = ['--vocab-size', '384', '--hidden', '64', '--layers', '2', '--heads', '4', '--kv-heads', '2', '--intermediate', '176'];
const PRETRAIN = [
  'pretrain', '--data', CORPUS, ...TINY, '--seq-len', '64', '--batch', '8', '--steps', '30', '--lr', '3e-3', '--warmup', '3',
  '--eval-every', '10', '--eval-batches', '2', '--ckpt-every', '10', '--seed', '5',
];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function metrics(dir: string): unknown[][] {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const j = JSON.parse(l);
      return [j.type, j.step, j.loss, j.lr, j.gradNorm];
    });
}

describe('mathrl pretrain / sft', () => {
  test('SIGKILL after a checkpoint, then --resume: the same losses as an uninterrupted run', async () => {
    const ref = path.join(tmp, 'ref');
    const r = run(...PRETRAIN, '--out', ref);
    expect(r.stderr).not.toMatch(/Error|error/);
    expect(r.status).toBe(0);
    // progress line: steps, loss, tokens/s, ETA
    expect(r.stderr).toMatch(/pretrain +\[[#.]+\] \d+\/30 +eta \S+ +[\d.e+]+ tok\/s +step \d+ +loss [\d.]+/);
    expect(r.stderr).toMatch(/unigram baseline [\d.]+ nats\/token/);
    expect(r.stderr).toMatch(/done at step 30: train loss [\d.]+, eval loss [\d.]+/);
    const svg = fs.readFileSync(path.join(ref, 'loss.svg'), 'utf8');
    checkWellFormedXml(svg);
    expect(svg).toMatch(/<path d="M/);
    const refMetrics = metrics(ref);
    expect(refMetrics.filter((m) => m[0] === 'train').length).toBe(30);

    const out = path.join(tmp, 'killed');
    const child = spawn(process.execPath, [cli, ...PRETRAIN, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/checkpoint step 10 /.test(err)) child.kill('SIGKILL');
    });
    const ex = await exited;
    expect(ex.signal).toBe('SIGKILL'); // killed mid-run, not finished
    const stepsLogged = metrics(out).filter((m) => m[0] === 'train').length;
    expect(stepsLogged).toBeGreaterThanOrEqual(10);
    expect(stepsLogged).toBeLessThan(30);

    const res = run('pretrain', '--out', out, '--resume');
    expect(res.stderr).toMatch(/resuming from .*checkpoints[/\\]step-000000[12]0/);
    expect(res.status).toBe(0);
    expect(metrics(out)).toEqual(refMetrics);
    checkWellFormedXml(fs.readFileSync(path.join(out, 'loss.svg'), 'utf8'));
    expect(fs.readdirSync(path.join(out, 'checkpoints')).sort()).toEqual(['step-00000020', 'step-00000030']);

    // SFT from the pretrained checkpoint (its tokenizer comes along)
    const sftOut = path.join(tmp, 'sft');
    const s = run(
      'sft', '--model', path.join(ref, 'checkpoints', 'step-00000030'), '--data', GSM8K, '--out', sftOut, '--seq-len', '300',
      '--batch', '1', '--steps', '3', '--eval-fraction', '0.2', '--eval-every', '0', '--lr', '1e-3',
    );
    expect(s.stderr).toMatch(/skipped \d+ examples longer than 301 tokens \(seqLen 300 \+ 1; longest \d+\) at lines [\d, ]+/);
    expect(s.stderr).toMatch(/sft data: \d+ train examples \(\d+ assistant tokens\), \d+ eval examples; chat format: DeepSeekMath/);
    expect(s.status).toBe(0);
    expect(fs.existsSync(path.join(sftOut, 'checkpoints', 'step-00000003', 'model.safetensors'))).toBe(true);
    checkWellFormedXml(fs.readFileSync(path.join(sftOut, 'loss.svg'), 'utf8'));
  });

  test('bad input: a clear message, exit code 1, nothing written', () => {
    const w = (name: string, text: string) => {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, text);
      return f;
    };
    const small = [...TINY, '--seq-len', '32', '--batch', '2', '--steps', '2', '--quiet'];
    const cases: [string[], RegExp][] = [
      [['pretrain', '--data', path.join(tmp, 'missing.txt'), ...small], /mathrl pretrain: corpus: cannot read '.*missing\.txt': no such file/],
      [['pretrain', '--data', w('empty.txt', '\n\n'), ...small], /mathrl pretrain: no documents in .*empty\.txt/],
      [
        ['pretrain', '--data', w('bad.jsonl', '{"text":"one two"}\n{"text": nope}\n'), ...small],
        /mathrl pretrain: corpus: .*bad\.jsonl line 2: invalid JSON .*--on-bad-line skip/,
      ],
      [['sft', '--data', w('sft-bad.jsonl', '{"prompt":"p"}\n'), ...small], /mathrl sft: sft data: .*sft-bad\.jsonl line 1: "prompt" without "response"/],
      [['sft', '--data', GSM8K, ...small], /mathrl sft: sft data: none of the 24 examples can be used: skipped 24 examples longer than 33 tokens/],
      [['sft', '--data', path.join(tmp, 'nope.jsonl'), ...small], /mathrl sft: sft data: cannot read '.*nope\.jsonl': no such file/],
      [['pretrain', '--data', CORPUS, '--steps', 'many'], /--steps must be an integer, got 'many'/],
      [['pretrain', '--data', CORPUS, '--device', 'tpu'], /--device must be one of cpu, cuda, got 'tpu'/],
      [['pretrain', '--data', CORPUS, '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    cases.forEach(([args, msg], i) => {
      const out = path.join(tmp, `bad-${i}`);
      const r = run(...args, '--out', out);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.status).toBe(1);
      expect(fs.existsSync(out)).toBe(false);
    });
    // skipping bad lines is reported with their numbers, and training goes on
    const out = path.join(tmp, 'skip');
    const lines = ['{"text":"1 + 1 = 2"}', 'oops', '{"text":"2 + 2 = 4"}', '{"txt":3}', '{"text":"3 + 3 = 6"}'];
    const r = run('pretrain', '--data', w('skip.jsonl', lines.join('\n')), ...small, '--vocab-size', '300', '--eval-fraction', '0', '--out', out, '--on-bad-line', 'skip');
    expect(r.stderr).toMatch(/skipped 2 malformed lines \(.*skip\.jsonl lines 2, 4\)/);
    expect(r.status).toBe(0);
    // an existing run is not overwritten without --resume
    const again = run('pretrain', '--data', CORPUS, ...small, '--out', out);
    expect(again.stderr).toMatch(/already holds checkpoints; pass --resume/);
    expect(again.status).toBe(1);
  });
});
