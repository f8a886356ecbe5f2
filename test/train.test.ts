// Trainers (in process): a tiny model learns the shipped corpus well below the unigram baseline, SFT
// lowers the response loss, gradient accumulation matches a larger batch, and a stopped-then-resumed
// run reproduces an uninterrupted one bit for bit.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tokenizer, trainBpe } from '../lib/tokenizer';
import { LlamaConfig, presetConfig } from '../lib/model/config';
import { LlamaModel } from '../lib/model/llama';
import { AdamW } from '../lib/optim/adamw';
import { Tensor } from '../lib/tensor';
import { TokenFile, readCorpus, tokenizeCorpus, unigramCrossEntropy } from '../lib/data/tokens';
import { loadSftDataset, readSft } from '../lib/data/sft';
import { PretrainTrainer, SFTTrainer, StepMetrics } from '../lib/train/trainer';
import { lrAt } from '../lib/train/schedule';
import { listCheckpoints } from '../lib/train/checkpoint';
import { checkWellFormedXml } from './xml-check';

const FIXTURES = path.join(__dirname, 'fixtures');
const CORPUS = path.join(FIXTURES, 'math-corpus.txt');
const GSM8K = path.join(FIXTURES, 'gsm8k-train-sample.jsonl');

let tmp: string;
let tok: Tokenizer;
let trainFile: string;
let evalFile: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-train-'));
  tok = trainBpe(
    (function* () {
      for (const d of readCorpus(CORPUS)) yield d.text;
    })(),
    { vocabSize: 384 },
  );
  trainFile = path.join(tmp, 'data', 'train.tok');
  evalFile = path.join(tmp, 'data', 'eval.tok');
  tokenizeCorpus(CORPUS, { tokenizer: tok, trainFile, evalFile, evalFraction: 0.05, seed: 1 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tinyConfig(vocabSize: number, over: Partial<LlamaConfig> = {}): LlamaConfig {
  return presetConfig('tiny-1m', {
    vocabSize, hiddenSize: 64, intermediateSize: 176, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
    headDim: 16, maxPositionEmbeddings: 512, ...over,
  });
}

describe('schedule and optimizer state', () => {
  test('linear warmup to lr, cosine down to minLr at the last step', () => {
    const s = { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 110 };
    expect(lrAt(0, s)).toBeCloseTo(1e-4, 12);
    expect(lrAt(4, s)).toBeCloseTo(5e-4, 12);
    expect(lrAt(9, s)).toBeCloseTo(1e-3, 12);
    expect(lrAt(10, s)).toBeCloseTo(1e-3, 12);
    expect(lrAt(60, s)).toBeCloseTo(5.5e-4, 4);
    expect(lrAt(109, s)).toBeCloseTo(1e-4, 12);
    for (let k = 10; k < 109; k++) expect(lrAt(k + 1, s)).toBeLessThanOrEqual(lrAt(k, s));
    expect(lrAt(0, { lr: 1, warmupSteps: 0, totalSteps: 1 })).toBe(1);
  });

  test('AdamW.loadState restores moments and step count; bad state is refused', () => {
    const mk = () => new Map([['w', Tensor.fromArray([1, 2, 3, 4], [2, 2])]]);
    const g = new Map([['w', Tensor.fromArray([0.1, -0.2, 0.3, -0.4], [2, 2])]]);
    const p1 = mk();
    const a = new AdamW(p1, { lr: 0.1, weightDecay: 0.1 });
    a.step(g);
    const p2 = new Map([['w', p1.get('w')!.clone()]]);
    const b = new AdamW(p2, { lr: 0.1, weightDecay: 0.1 });
    b.loadState(a.stateTensors(), a.stepCount);
    a.step(g);
    b.step(g);
    expect(Array.from(p2.get('w')!.toArray())).toEqual(Array.from(p1.get('w')!.toArray()));
    expect(b.stepCount).toBe(2);
    expect(() => b.loadState(new Map([['x.exp_avg', Tensor.zeros([2, 2])]]), 1)).toThrow(/"x\.exp_avg" is not the state of a parameter/);
    expect(() => b.loadState(new Map([['w.exp_avg', Tensor.zeros([4])]]), 1)).toThrow(/has shape \[4\], its parameter \[2,2\]/);
  });
});

describe('PretrainTrainer', () => {
  test('a tiny model pretrains on the shipped corpus: eval loss falls well below the unigram baseline', async () => {
    const out = path.join(tmp, 'pretrain');
    const tf = TokenFile.open(trainFile);
    const ef = TokenFile.open(evalFile);
    const baseline = unigramCrossEntropy(tf, ef);
    const steps: StepMetrics[] = [];
    const events: string[] = [];
    const trainer = new PretrainTrainer({
      model: tinyConfig(tok.vocabSize),
      tokenizer: tok,
      trainData: tf,
      evalData: ef,
      outDir: out,
      seqLen: 64,
      batchSize: 8,
      steps: 80,
      lr: 3e-3,
      warmupSteps: 8,
      evalEvery: 20,
      evalBatches: 4,
      checkpointEvery: 25,
      keepCheckpoints: 2,
      callbacks: { onStep: (m) => steps.push(m), onCheckpoint: (c) => events.push(`ckpt ${c.step}`) },
    });
    trainer.on('eval', (m) => events.push(`eval ${m.step}`));
    const r = await trainer.train();
    trainer.dispose();
    tf.close();
    ef.close();
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    expect(events).toEqual(['eval 0', 'eval 20', 'ckpt 25', 'eval 40', 'ckpt 50', 'eval 60', 'ckpt 75', 'eval 80', 'ckpt 80']);
    const first = trainer.history.eval[0].loss;
    expect(first).toBeGreaterThan(Math.log(tok.vocabSize) - 0.3); // starts near uniform
    expect(r.evalLoss!).toBeLessThan(0.6 * baseline); // e.g. ~1.8 vs ~4.2 nats
    expect(steps[79].loss).toBeLessThan(0.6 * baseline);
    expect(steps.every((s) => s.gradNorm! > 0 && s.tokens > 0 && s.tokensPerSecond > 0)).toBe(true);
    // checkpoints: the newest two, each a loadable model folder with optimizer and trainer state
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([75, 80]);
    expect(fs.readdirSync(r.checkpoint!).sort()).toEqual([
      'config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json',
    ]);
    expect(fs.readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('.'))).toEqual([]);
    const log = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((l) => l.type === 'train').length).toBe(80);
    expect(log.filter((l) => l.type === 'eval').map((l) => l.step)).toEqual([0, 20, 40, 60, 80]);
    const svg = fs.readFileSync(path.join(out, 'loss.svg'), 'utf8');
    checkWellFormedXml(svg);
    expect(svg).toMatch(/train loss/);
    expect(svg).toMatch(/eval loss/);
  });

  test('gradient accumulation: 2 micro-batches of 4 give the loss and update of one batch of 8', async () => {
    const run = async (batchSize: number, gradAccum: number): Promise<number[]> => {
      const t = new PretrainTrainer({
        model: tinyConfig(tok.vocabSize), tokenizer: tok, trainData: trainFile, outDir: path.join(tmp, `acc${gradAccum}`),
        seqLen: 32, batchSize, gradAccum, steps: 3, lr: 3e-3, warmupSteps: 1, evalEvery: 0, logFile: false, plotFile: false,
      });
      await t.train();
      t.dispose();
      return t.history.train.map((m) => m.loss);
    };
    const a = await run(8, 1);
    const b = await run(4, 2);
    for (let i = 0; i < 3; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-4);
  });

  test('stop() then resume reproduces the uninterrupted losses bit for bit', async () => {
    const common = {
      tokenizer: tok, trainData: trainFile, evalData: evalFile, seqLen: 32, batchSize: 4, gradAccum: 2, steps: 12, lr: 3e-3,
      warmupSteps: 3, evalEvery: 4, evalBatches: 2, checkpointEvery: 5, seed: 3,
    };
    const full = new PretrainTrainer({ ...common, model: tinyConfig(tok.vocabSize), outDir: path.join(tmp, 'full') });
    await full.train();
    full.dispose();

    const outDir = path.join(tmp, 'stopped');
    const first = new PretrainTrainer({ ...common, model: tinyConfig(tok.vocabSize), outDir });
    first.on('step', (m) => m.step === 7 && first.stop());
    const r1 = await first.train();
    first.dispose();
    expect(r1).toMatchObject({ step: 7, stopped: true });
    expect(listCheckpoints(outDir).map((c) => c.step)).toEqual([5, 7]);

    // a fresh model (different init seed) resumes from step 7
    const second = new PretrainTrainer({ ...common, model: tinyConfig(tok.vocabSize), outDir, resume: true, seed: 3 });
    const r2 = await second.train();
    second.dispose();
    expect(second.resumedFrom).toMatch(/step-00000007$/);
    expect(r2.step).toBe(12);
    const key = (h: typeof full.history) => JSON.stringify([h.train.map((m) => [m.step, m.loss, m.lr, m.gradNorm]), h.eval.map((m) => [m.step, m.loss])]);
    expect(key(second.history)).toBe(key(full.history));
    const lossesOf = (dir: string) =>
      fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
        const j = JSON.parse(l);
        return [j.type, j.step, j.loss];
      });
    expect(lossesOf(outDir)).toEqual(lossesOf(path.join(tmp, 'full')));

    // resuming into a different model is refused
    const wrong = new PretrainTrainer({ ...common, model: tinyConfig(tok.vocabSize, { numHiddenLayers: 1 }), outDir, resume: true });
    await expect(wrong.train()).rejects.toThrow(/different config/);
    wrong.dispose();
  });

  test('config and data errors are clear', () => {
    const base = { tokenizer: tok, trainData: trainFile, outDir: path.join(tmp, 'err') };
    expect(() => new PretrainTrainer({ ...base, model: tinyConfig(tok.vocabSize), steps: 0 })).toThrow(/steps must be an integer >= 1, got 0/);
    expect(() => new PretrainTrainer({ ...base, model: tinyConfig(tok.vocabSize), lr: -1 })).toThrow(/lr must be > 0/);
    const msg = (over: Record<string, unknown>, kind: 'pretrain' | 'sft' = 'pretrain') => {
      const make = () => (kind === 'pretrain' ? new PretrainTrainer({ ...base, model: tinyConfig(tok.vocabSize), ...over } as never) : new SFTTrainer({ ...base, model: tinyConfig(tok.vocabSize), ...over } as never));
      try {
        make();
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(msg({ outDir: '' })).toBe('pretrain trainer: outDir is required');
    expect(msg({ outDir: '' }, 'sft')).toBe('sft trainer: outDir is required');
    expect(msg({ seed: 1.5 })).toBe('pretrain trainer: seed must be an integer >= 0, got 1.5');
    expect(msg({ evalEvery: -1 })).toBe('pretrain trainer: evalEvery must be an integer >= 0, got -1');
    expect(msg({ batchSize: '8' })).toBe('pretrain trainer: batchSize must be an integer >= 1, got 8');
    expect(msg({ minLr: -1 })).toBe('pretrain trainer: minLr must be >= 0, got -1');
    expect(msg({ eps: 0 })).toBe('pretrain trainer: eps must be > 0, got 0');
    expect(msg({ maxGradNorm: NaN })).toBe('pretrain trainer: maxGradNorm must be >= 0, got NaN');
    expect(msg({ beta2: 1 })).toBe('pretrain trainer: betas must be in [0, 1)');
    expect(msg({ device: 'tpu' })).toBe("pretrain trainer: device must be 'cpu' or 'cuda', got tpu");
    expect(() => new PretrainTrainer({ ...base, model: tinyConfig(100) })).toThrow(/tokenizer has 384 ids but the model's vocabulary is 100/);
    expect(() => new PretrainTrainer({ ...base, model: tinyConfig(tok.vocabSize), seqLen: 1024 })).toThrow(/exceeds the model's max_position_embeddings 512/);
    expect(() => new PretrainTrainer({ ...base, model: tinyConfig(tok.vocabSize), trainData: path.join(tmp, 'nope.tok') })).toThrow(
      /token file: cannot read '.*nope\.tok': no such file/,
    );
  });
});

describe('SFTTrainer', () => {
  test('SFT on GSM8K lines lowers the response loss; only assistant tokens are scored', async () => {
    const texts: string[] = [];
    for (const ex of readSft(GSM8K)) for (const m of ex.messages) texts.push(m.content);
    const stok = trainBpe(texts, { vocabSize: 512 });
    const ds = loadSftDataset(GSM8K, { tokenizer: stok, seqLen: 256 }); // the longer half is skipped (reported)
    expect(ds.train.length).toBeGreaterThanOrEqual(8);
    expect(ds.report.notes[0]).toMatch(/^skipped \d+ examples longer than 257 tokens/);
    const model = LlamaModel.init(tinyConfig(stok.vocabSize), { seed: 2 });
    const trainer = new SFTTrainer({
      model, tokenizer: stok, trainData: ds.train, evalData: ds.train, outDir: path.join(tmp, 'sft'),
      seqLen: 256, batchSize: 2, steps: 40, lr: 3e-3, warmupSteps: 3, evalEvery: 40, evalBatches: 100, checkpointEvery: 0,
    });
    const r = await trainer.train();
    const [before, after] = trainer.history.eval;
    // the eval pass scores exactly the assistant tokens (each example's target tokens after position 0)
    const targets = ds.train.reduce((s, e) => s + e.target.subarray(1).reduce((x, y) => x + y, 0), 0);
    expect(before.tokens).toBe(targets);
    expect(after.loss).toBeLessThan(0.75 * before.loss); // e.g. 6.3 → 3.9 nats
    expect(r.step).toBe(40);
    trainer.dispose();
    model.dispose();
  });
});
