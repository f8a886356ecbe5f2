// generate(): a tiny model trained here reproduces its training text greedily; stop strings, EOS ids
// and max_new_tokens end rows independently (finished rows leave the batch); streamed deltas add up
// to the final text and never split a UTF-8 character; seeded sampling is reproducible; bad inputs;
// and the `mathrl generate` CLI on a saved model folder.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { Tensor, presetConfig, trainBpe, saveSafetensors, writeConfig, Tokenizer } from '../lib';
import { LlamaModel } from '../lib/model/llama';
import { AdamW } from '../lib/optim/adamw';
import { generate, GenerateOptions } from '../lib/generate/generate';
import { Sampler, greedySampler, temperatureSampler, kernelSampler } from '../lib/generate/samplers';
import { BYTE_TO_CHAR } from '../lib/tokenizer/bytelevel';
import { describeCuda } from './helpers';

const TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Pack my box with five dozen liquor jugs 😀 — π ≈ 3.14!',
];

let tok: Tokenizer;
let model: LlamaModel;
let dir: string;

/** Trains a tiny model on TEXTS (BOS text EOS) until it has memorised them. */
function train(): void {
  tok = trainBpe(TEXTS, { vocabSize: 300 });
  const cfg = presetConfig('tiny-1m', {
    vocabSize: tok.vocabSize, hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2, numAttentionHeads: 4,
    numKeyValueHeads: 2, headDim: 16, maxPositionEmbeddings: 96, tieWordEmbeddings: true,
    eosTokenId: tok.eosId,
  });
  model = LlamaModel.init(cfg, { seed: 1 });
  const seqs = TEXTS.map((t) => [...tok.encode(t), tok.eosId!]);
  const T = Math.max(...seqs.map((s) => s.length)) - 1;
  const inp = new Int32Array(seqs.length * T);
  const lab = new Int32Array(seqs.length * T).fill(-100);
  seqs.forEach((s, b) => {
    for (let t = 0; t < s.length - 1; t++) {
      inp[b * T + t] = s[t];
      lab[b * T + t] = s[t + 1];
    }
  });
  const x = Tensor.fromArray(inp, [seqs.length, T], { dtype: 'i32' });
  const y = Tensor.fromArray(lab, [seqs.length, T], { dtype: 'i32' });
  const opt = new AdamW(model.params, { lr: 1e-2 });
  let loss = Infinity;
  for (let step = 0; step < 300 && loss > 0.01; step++) {
    model.zeroGrad();
    loss = model.loss(x, y).loss;
    model.backward();
    opt.step(model.grads, { maxGradNorm: 1.0 }).gradNorm?.dispose();
    model.paramsChanged();
  }
  opt.dispose();
  x.dispose();
  y.dispose();
}

/** A sampler that emits scripted tokens (per prompt index and step), with logprob 0. */
function scripted(script: number[][]): Sampler {
  return (_logits, step, rows) => ({
    tokens: Int32Array.from(rows, (r) => script[r][step]),
    logprobs: new Float32Array(rows.length),
  });
}

/** generate() with onToken collecting each row's deltas; checks they add up to the final texts. */
function run(prompts: string[] | number[][], opts: GenerateOptions) {
  const deltas: string[][] = prompts.map(() => []);
  const ids: number[][] = prompts.map(() => []);
  const res = generate(model, tok, prompts, {
    ...opts,
    onToken: (row, id, d) => {
      deltas[row].push(d);
      ids[row].push(id);
    },
  });
  res.text.forEach((t, i) => {
    expect(deltas[i].join('')).toBe(t);
    expect(ids[i]).toEqual(res.tokens[i]);
    for (const d of deltas[i]) expect(d).not.toMatch(/\uFFFD/);
  });
  return { res, deltas };
}

beforeAll(() => {
  train();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-gen-'));
});

afterAll(() => {
  model?.dispose();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('generate', () => {
  test('greedy generation reproduces the training text (batched prompts of different lengths)', () => {
    const { res } = run(['The quick', 'Pack my box'], { maxNewTokens: 60 });
    expect(res.text).toEqual([' brown fox jumps over the lazy dog.', ' with five dozen liquor jugs 😀 — π ≈ 3.14!']);
    expect(res.finishReason).toEqual(['eos', 'eos']);
    res.tokens.forEach((t) => expect(t[t.length - 1]).toBe(tok.eosId));
    // Log-probabilities of a memorised text are close to 0.
    res.logprobs.forEach((lp, i) => {
      expect(lp.length).toBe(res.tokens[i].length);
      lp.forEach((v) => expect(v).toBeGreaterThan(-0.5));
    });
    // Token-id prompts give the same; one prompt at a time too (batchSize 1).
    const again = generate(model, tok, [tok.encode('The quick'), tok.encode('Pack my box')], { maxNewTokens: 60, batchSize: 1 });
    expect(again.tokens).toEqual(res.tokens);
  });

  test('the multi-byte characters are streamed whole', () => {
    const { res, deltas } = run(['Pack my box'], { maxNewTokens: 60 });
    // 😀 is four byte tokens (each byte occurs once in the corpus: no merges): three steps emit ''.
    expect(deltas[0].filter((d) => d === '').length).toBeGreaterThanOrEqual(3);
    expect(deltas[0]).toContain('😀');
    expect(res.text[0]).toContain('😀 — π ≈');
  });

  test('stop strings cut the text; rows finish independently and leave the batch', () => {
    const seen: number[][] = [];
    const rowsSeen: Sampler = (logits, step, rows) => {
      seen.push([...rows]);
      return greedySampler(logits, step, rows);
    };
    const { res } = run(['The quick', 'Pack my box', 'The'], {
      maxNewTokens: 20, stop: { strings: ['fox', '3.14'] }, sampler: rowsSeen,
    });
    expect(res.text[0]).toBe(' brown ');
    expect(res.finishReason[0]).toBe('stop');
    expect(res.finishReason[1]).toBe('length');
    expect(res.tokens[1].length).toBe(20);
    expect(res.text[1]).toBe(tok.decode(res.tokens[1]));
    expect(res.finishReason[2]).toBe('stop');
    expect(res.text[2]).toBe(' quick brown ');
    // Row 0 stops first and is not sampled again.
    const n0 = res.tokens[0].length;
    expect(seen.length).toBe(20);
    seen.forEach((rows, step) => expect(rows.includes(0)).toBe(step < n0));
    // A stop string found mid-way through the emitted text is never streamed past.
    const long = run(['The quick'], { maxNewTokens: 60, stop: { strings: ['the lazy'] } }).res;
    expect(long.text[0]).toBe(' brown fox jumps over ');
  });

  test('EOS ids and max_new_tokens; scripted tokens (stop string across tokens, UTF-8)', () => {
    const greedy = generate(model, tok, ['The quick'], { maxNewTokens: 60 });
    const third = greedy.tokens[0][2];
    const r = generate(model, tok, ['The quick'], { maxNewTokens: 60, stop: { eosIds: [third] } });
    expect(r.finishReason[0]).toBe('eos');
    expect(r.tokens[0]).toEqual(greedy.tokens[0].slice(0, 3));
    expect(r.text[0]).toBe(tok.decode(greedy.tokens[0].slice(0, 2)));
    const m = generate(model, tok, ['The quick'], { maxNewTokens: 3 });
    expect(m.finishReason[0]).toBe('length');
    expect(m.tokens[0]).toEqual(greedy.tokens[0].slice(0, 3));
    expect(m.text[0]).toBe(tok.decode(greedy.tokens[0].slice(0, 3)));
    const zero = generate(model, tok, ['The quick'], { maxNewTokens: 0 });
    expect(zero).toEqual({ tokens: [[]], text: [''], finishReason: ['length'], logprobs: [[]] });
    // Scripted: byte tokens of 'a😀b' then 'XY'; the stop string 'bX' spans two tokens.
    const bytes = (s: string) => [...Buffer.from(s, 'utf8')].map(byteToken);
    const script = [[...bytes('a😀b'), ...bytes('XYZ')], [...bytes('é'), tok.eosId!, 0]];
    const { res, deltas } = run(['The', 'The'], { maxNewTokens: 10, sampler: scripted(script), stop: { strings: ['bX'] } });
    expect(res.text).toEqual(['a😀', 'é']);
    expect(res.finishReason).toEqual(['stop', 'eos']);
    expect(res.tokens[0].length).toBe(7); // a, 4 emoji bytes, b, X
    // With stop strings, the last (longest stop - 1) characters wait until the row ends.
    expect(deltas[1]).toEqual(['', '', 'é']);
  });

  test('seeded sampling is reproducible and independent of batching; tiny top-p is greedy', () => {
    const trained = model;
    model = LlamaModel.init(trained.config, { seed: 2, initStd: 0.1 }); // untrained: broad distributions
    const opts = { maxNewTokens: 12, temperature: 1.5, seed: 7, stop: { eosIds: [] } };
    const a = generate(model, tok, ['The', 'Pack'], opts);
    const b = generate(model, tok, ['The', 'Pack'], { ...opts, batchSize: 1 });
    expect(b.tokens).toEqual(a.tokens);
    const c = generate(model, tok, ['The', 'Pack'], { ...opts, seed: 8 });
    expect(c.tokens).not.toEqual(a.tokens);
    const g = generate(model, tok, ['The', 'Pack'], { maxNewTokens: 12 });
    const p = generate(model, tok, ['The', 'Pack'], { ...opts, topP: 1e-6 });
    expect(p.tokens).toEqual(g.tokens);
    const k1 = generate(model, tok, ['The', 'Pack'], { ...opts, sampler: temperatureSampler({ temperature: 2, topK: 1, seed: 3 }) });
    expect(k1.tokens).toEqual(g.tokens);
    // Log-probabilities are the model's (temperature 1): greedy and sampled agree on greedy tokens.
    expect(Math.abs(p.logprobs[0][0] - g.logprobs[0][0])).toBeLessThan(1e-4);
    model.dispose();
    model = trained;
  });

  test('bad inputs', () => {
    expect(() => generate(model, tok, [], {})).toThrow(/generate: no prompts/);
    expect(() => generate(model, tok, [[]], {})).toThrow(/prompts\[0\] has no tokens/);
    expect(() => generate(model, tok, [[1, 9999]], {})).toThrow(/prompts\[0\]\[1\] = 9999 is not a token id/);
    const tooLong = new Array(97).fill(5);
    expect(() => generate(model, tok, [tooLong], {})).toThrow(/prompts\[0\] has 97 tokens, more than max_position_embeddings 96/);
    expect(() => generate(model, tok, ['x'], { maxNewTokens: -1 })).toThrow(/maxNewTokens must be an integer >= 0/);
    expect(() => generate(model, tok, ['x'], { temperature: -1 })).toThrow(/temperature must be >= 0/);
    expect(() => generate(model, tok, ['x'], { topP: 0 })).toThrow(/topP must be in \(0, 1\]/);
    const bad: Sampler = () => ({ tokens: new Int32Array(0), logprobs: new Float32Array(0) });
    expect(() => generate(model, tok, ['x'], { sampler: bad })).toThrow(/sampler must return .* with 1 entries/);
    const outOfVocab: Sampler = (l) => ({ tokens: new Int32Array(l.shape[0]).fill(-1), logprobs: new Float32Array(l.shape[0]) });
    expect(() => generate(model, tok, ['x'], { sampler: outOfVocab })).toThrow(/sampler returned token -1/);
    // A prompt at the position limit cannot grow: it ends at once with 'length'.
    const full = generate(model, tok, [new Array(96).fill(5), [5]], { maxNewTokens: 2 });
    expect(full.finishReason).toEqual(['length', 'length']);
    expect(full.tokens.map((t) => t.length)).toEqual([0, 2]);
    const near = generate(model, tok, [new Array(94).fill(5)], { maxNewTokens: 10, stop: { eosIds: [] } });
    expect(near.tokens[0].length).toBe(2);
  });

  test('mathrl generate CLI on a saved model folder', () => {
    writeConfig(dir, model.config);
    saveSafetensors(path.join(dir, 'model.safetensors'), model.params);
    tok.save(dir);
    const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');
    const cmd = (...args: string[]) => spawnSync(process.execPath, [cli, 'generate', '--model', dir, '--device', 'cpu', ...args], { encoding: 'utf8' });
    const one = cmd('--prompt', 'The quick', '--max-new-tokens', '40');
    expect(one.stderr).toMatch(/tokens in .* tok\/s; finish: eos/);
    expect(one.status).toBe(0);
    expect(one.stdout).toBe(' brown fox jumps over the lazy dog.\n');
    const file = path.join(dir, 'prompts.jsonl');
    fs.writeFileSync(file, JSON.stringify({ prompt: 'Pack my box' }) + '\n' + JSON.stringify('The') + '\n');
    const many = cmd('--prompt', 'The quick', '--prompts', file, '--max-new-tokens', '60', '--stop', 'lazy');
    expect(many.status).toBe(0);
    const n = generate(model, tok, ['The quick', 'Pack my box', 'The'], { maxNewTokens: 60, stop: { strings: ['lazy'] } })
      .tokens.map((t) => t.length);
    expect(many.stdout).toBe(
      `=== 1/3 (stop, ${n[0]} tokens) ===\n brown fox jumps over the \n` +
        `=== 2/3 (eos, ${n[1]} tokens) ===\n with five dozen liquor jugs 😀 — π ≈ 3.14!\n` +
        `=== 3/3 (stop, ${n[2]} tokens) ===\n quick brown fox jumps over the \n`,
    );
    const sampled = cmd('--prompt', 'The', '--max-new-tokens', '5', '--temperature', '1', '--top-p', '0.9', '--seed', '3', '--chat');
    expect(sampled.status).toBe(0);
    const none = cmd();
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/give at least one --prompt/);
    const missing = spawnSync(process.execPath, [cli, 'generate', '--model', path.join(dir, 'nope'), '--prompt', 'x'], { encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/model: '.*nope' does not exist/);
  });
});

/** Id of the byte-level token of byte b. */
function byteToken(b: number): number {
  const id = tok.tokenToId(BYTE_TO_CHAR[b]);
  if (id === undefined) throw new Error(`no byte token for ${b}`);
  return id;
}

describeCuda('generate on CUDA', () => {
  test('greedy generation on the GPU (bf16 compute) reproduces the training text', () => {
    const gpu = LlamaModel.fromParams(model.config, model.params, { device: 'cuda' });
    const res = generate(gpu, tok, ['The quick', 'Pack my box'], { maxNewTokens: 60 });
    expect(res.text).toEqual([' brown fox jumps over the lazy dog.', ' with five dozen liquor jugs 😀 — π ≈ 3.14!']);
    const sampled = generate(gpu, tok, ['The'], { maxNewTokens: 10, temperature: 1, seed: 1 });
    expect(sampled.tokens[0].length).toBeGreaterThan(0);
    gpu.dispose();
  });
});

describe('kernelSampler (the fused sample op inside generate)', () => {
  test('seeded, independent of batching, greedy at temperature 0, tokens within the top-k', () => {
    const V = 50;
    const data = Float32Array.from({ length: 3 * V }, (_, i) => Math.sin(i * 1.7) * 3);
    const logits = Tensor.fromArray(data, [3, V]);
    const s = kernelSampler({ temperature: 0.9, topK: 5, seed: 7 });
    const a = s(logits, 4, [0, 1, 2]);
    expect(Array.from(s(logits, 4, [0, 1, 2]).tokens)).toEqual(Array.from(a.tokens));
    const row1 = Tensor.fromArray(data.subarray(V, 2 * V), [1, V]);
    expect(s(row1, 4, [1]).tokens[0]).toBe(a.tokens[1]); // same prompt index, same draw
    for (let r = 0; r < 3; r++) {
      const row = Array.from(data.subarray(r * V, (r + 1) * V));
      const top5 = [...row.keys()].sort((x, y) => row[y] - row[x]).slice(0, 5);
      expect(top5).toContain(a.tokens[r]);
      expect(a.logprobs[r]).toBeLessThanOrEqual(0);
    }
    const steps = new Set(Array.from({ length: 20 }, (_, k) => s(logits, k, [0, 1, 2]).tokens[0]));
    expect(steps.size).toBeGreaterThan(1); // the step moves the random stream
    const g = kernelSampler({ temperature: 0 })(logits, 0, [0, 1, 2]);
    expect(Array.from(g.tokens)).toEqual(Array.from(greedySampler(logits, 0, [0, 1, 2]).tokens));
    logits.dispose();
    row1.dispose();
  });
});
