// `mathrl eval --model`: generates greedy and sampled completions with a model folder and scores them
// on a GSM8K slice (here an untrained tiny model, so this checks the plumbing, not the accuracy).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LlamaModel, presetConfig, saveSafetensors, trainBpe, writeConfig } from '../lib';

const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');
// A GSM8K slice shipped with the tests (first train lines, MIT; see test/fixtures/README.md).
const gsm8k = path.resolve(__dirname, 'fixtures/gsm8k-train-sample.jsonl');

describe('mathrl eval --model', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-evalmodel-'));
    const lines = fs.readFileSync(gsm8k, 'utf8').split('\n').filter(Boolean);
    const texts = lines.map((l) => JSON.parse(l)).flatMap((o) => [o.question, o.answer]);
    const tok = trainBpe(texts, { vocabSize: 400 });
    const cfg = presetConfig('tiny-1m', { vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1, headDim: 16 });
    const model = LlamaModel.init(cfg, { seed: 1 });
    writeConfig(dir, cfg);
    saveSafetensors(path.join(dir, 'model.safetensors'), model.params);
    tok.save(dir);
    model.dispose();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('prints greedy accuracy, maj@k and pass@k for a GSM8K slice', () => {
    const r = spawnSync(process.execPath, [cli, 'eval', '--model', dir, '--data', gsm8k, '--limit', '3', '--k', '2', '--max-new-tokens', '6', '--json'], {
      encoding: 'utf8',
    });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(report.problems).toBe(3);
    expect(report.k).toBe(2);
    expect(typeof report.greedyAccuracy).toBe('number');
    expect(typeof report.majAtK).toBe('number');
    expect(Object.keys(report.passAtK)).toEqual(expect.arrayContaining(['1', '2']));
    const text = spawnSync(process.execPath, [cli, 'eval', '--model', dir, '--data', gsm8k, '--limit', '2', '--k', '2', '--max-new-tokens', '4'], { encoding: 'utf8' });
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/greedy accuracy/);
    expect(text.stdout).toMatch(/maj@2/);
  });

  test('bad options are refused', () => {
    const r = spawnSync(process.execPath, [cli, 'eval', '--model', dir, '--predictions', 'x.jsonl'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--model or --predictions, not both/);
    const m = spawnSync(process.execPath, [cli, 'eval', '--model', path.join(dir, 'nope'), '--limit', '1'], { encoding: 'utf8' });
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/does not exist/);
  });
});
