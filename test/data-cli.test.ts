// `mathrl data …` end to end on the sample pool (the README walk-through), through the built CLI.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-data-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'data', ...args], { encoding: 'utf8', cwd: tmp });
const ok = (...args: string[]) => {
  const r = run(...args);
  if (r.status !== 0) throw new Error(`mathrl data ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
};

describe('mathrl data', () => {
  test('sample → dedup → classify → decontaminate → iterate → domains → score', () => {
    expect(ok('sample', '--out', 's', '--docs', '800')).toMatch(/planted \d+ URL duplicates, \d+ near duplicates, 10 benchmark leaks/);
    expect(ok('dedup', '--in', 's/pool', '--out', 'dedup.jsonl', '--quiet')).toMatch(/dedup: read \d+, kept \d+, removed \d+\n +removed +\d+ +near-duplicate/);
    ok('classify', 'train', '--in', 's/labelled/train.jsonl', '--out', 'model.bin', '--buckets', '65536', '--quiet');
    const test = ok('classify', 'test', '--model', 'model.bin', '--in', 's/labelled/test.jsonl', '--json');
    expect(JSON.parse(test).labels.find((l: { label: string }) => l.label === 'math').f1).toBeGreaterThan(0.95);
    const pred = ok('classify', 'predict', '--model', 'model.bin', '--in', 's/seeds.jsonl', '--k', '2', '--quiet').trim().split('\n');
    expect(JSON.parse(pred[0]).predictions[0].label).toBe('math');
    const dec = ok('decontaminate', '--in', 'dedup.jsonl', '--out', 'clean.jsonl', '--bench-dir', 's/benchmarks', '--removed', 'leaks.jsonl', '--quiet');
    expect(dec).toMatch(/10-gram gsm8k/);
    expect(dec).toMatch(/short-text math500/);
    const leaks = fs.readFileSync(path.join(tmp, 'leaks.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const truth = JSON.parse(fs.readFileSync(path.join(tmp, 's/truth.json'), 'utf8'));
    const planted = new Set(truth.leaks.map((l: { url: string }) => l.url));
    for (const l of leaks) expect(planted.has(l.id)).toBe(true);
    const it = ok('iterate', '--seeds', 's/seeds.jsonl', '--pool', 'clean.jsonl', '--out', 'iter', '--rounds', '2', '--annotations', 's/annotations.txt', '--buckets', '65536', '--quiet');
    expect(it).toMatch(/round 1: selected \d+ of \d+/);
    expect(it).toMatch(/round 2: selected/);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'iter/summary.json'), 'utf8'))).toHaveLength(2);
    expect(ok('domains', '--pool', 'clean.jsonl', '--selected', 'iter/round-1/selected.jsonl', '--quiet')).toMatch(/proposed for the next round .*\n.*domain +selected\/total +fraction\n +algebra-notes/);
    const sc = ok('score', '--model', 'iter/round-2/model.bin', '--in', 'clean.jsonl', '--out', 'top.jsonl', '--top-k', '50', '--quiet');
    expect(sc).toMatch(/selected 50 /);
    expect(fs.readFileSync(path.join(tmp, 'top.jsonl'), 'utf8').trim().split('\n')).toHaveLength(50);
  });

  test('malformed lines: file:line on stderr and skipped, or --on-bad stop exits 1; usage errors', () => {
    fs.writeFileSync(path.join(tmp, 'bad.jsonl'), '{"url":"https://a.org/1","text":"one two"}\nnot json\n{"text":3}\n');
    const r = run('dedup', '--in', 'bad.jsonl', '--out', 'o.jsonl', '--quiet');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/bad\.jsonl:2: malformed line skipped: invalid JSON/);
    expect(r.stderr).toMatch(/bad\.jsonl:3: malformed line skipped: missing string field 'text'/);
    expect(r.stdout).toMatch(/read 1, kept 1, removed 0, malformed lines skipped 2/);
    const s = run('dedup', '--in', 'bad.jsonl', '--out', 'o.jsonl', '--on-bad', 'stop', '--quiet');
    expect(s.status).toBe(1);
    expect(s.stderr).toMatch(/bad\.jsonl:2: malformed line: invalid JSON/);
    expect(run('decontaminate', '--in', 'bad.jsonl', '--out', 'x.jsonl').stderr).toMatch(/--bench-dir/);
    expect(run('frob').stderr).toMatch(/expected a step/);
    expect(run('dedup', '--out', 'x').stderr).toMatch(/--in is required/);
    expect(spawnSync(process.execPath, [cli, 'data', '--help'], { encoding: 'utf8' }).stdout).toMatch(/classify train --in FILE/);
  });
});
