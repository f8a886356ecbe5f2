// The Llama-family model: shapes, whole-model gradients by finite differences, packed-sequence
// masking, a training step that lowers the loss, and a save → load round trip.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor, memory, presetConfig, saveSafetensors, loadSafetensors, writeConfig, readConfig } from '../lib';
import { LlamaModel, parameterShapes } from '../lib/model/llama';
import { AdamW } from '../lib/optim/adamw';
import { LlamaConfig } from '../lib/model/config';
import { native } from '../lib/native';
import { rng, relErr } from './helpers';

function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return presetConfig('tiny-1m', {
    vocabSize: 13, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
    numKeyValueHeads: 2, headDim: 4, maxPositionEmbeddings: 64, tieWordEmbeddings: false, ...over,
  });
}

function ids(B: number, T: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: B * T }, () => Math.floor(r() * V));
}

describe('LlamaModel', () => {
  test('parameter names and shapes follow HF; forward gives [B, T, V] logits', () => {
    const cfg = tinyConfig({ modelType: 'qwen2', attentionBias: true, tieWordEmbeddings: true });
    const shapes = parameterShapes(cfg);
    expect(shapes.get('model.layers.1.self_attn.k_proj.weight')).toEqual([8, 16]);
    expect(shapes.get('model.layers.0.self_attn.q_proj.bias')).toEqual([16]);
    expect(shapes.has('lm_head.weight')).toBe(false);
    const model = LlamaModel.init(cfg, { seed: 1 });
    expect(model.numParameters()).toBe([...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0));
    const x = Tensor.fromArray(ids(2, 5, 13, 3), [2, 5], { dtype: 'i32' });
    const logits = model.forward(x);
    expect(logits.shape).toEqual([2, 5, 13]);
    expect(logits.toArray().every(Number.isFinite)).toBe(true);
    logits.dispose();
    x.dispose();
    model.dispose();
  });

  test.each([
    ['llama', {}],
    ['qwen2 (biases, tied embeddings)', { modelType: 'qwen2', attentionBias: true, tieWordEmbeddings: true }],
  ] as [string, Partial<LlamaConfig>][])('gradients match finite differences of the loss (%s)', (_n, over) => {
    const cfg = tinyConfig(over);
    const model = LlamaModel.init(cfg, { seed: 7, initStd: 0.3 });
    const [B, T] = [2, 6];
    const x = Tensor.fromArray(ids(B, T, cfg.vocabSize, 11), [B, T], { dtype: 'i32' });
    const labelData = ids(B, T, cfg.vocabSize, 12);
    labelData[3] = -100; // an ignored position
    const y = Tensor.fromArray(labelData, [B, T], { dtype: 'i32' });
    const seg = Tensor.fromArray(Int32Array.from([0, 0, 0, 1, 1, 1, 5, 5, 5, 5, 5, 5]), [B, T], { dtype: 'i32' });
    const opts = { segmentIds: seg };
    model.zeroGrad();
    model.loss(x, y, opts);
    model.backward();
    const r = rng(99);
    // Directional derivative along a random direction of each parameter tensor.
    for (const [name, p] of model.params) {
      const p0 = p.toArray() as Float32Array;
      const dir = Float32Array.from(p0, () => r() - 0.5);
      const g = model.grads.get(name)!.toArray();
      let analytic = 0;
      for (let i = 0; i < dir.length; i++) analytic += g[i] * dir[i];
      // Central differences in f32: eps = 3e-3 keeps both truncation (~eps²) and rounding error < 1%.
      const eps = 3e-3;
      const at = (s: number): number => {
        const q = Tensor.fromArray(p0.map((v, i) => v + s * eps * dir[i]), p.shape);
        // Write the perturbed values into the parameter in place (the model keeps its handles).
        native().copy(p.buffer('test'), q.buffer('test'), p.nbytes);
        q.dispose();
        return model.loss(x, y, opts).loss;
      };
      const numeric = (at(1) - at(-1)) / (2 * eps);
      at(0);
      const err = Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-3);
      if (!(err < 1e-2)) throw new Error(`${name}: numeric ${numeric} vs analytic ${analytic} (rel ${err})`);
    }
    for (const t of [x, y, seg]) t.dispose();
    model.dispose();
  });

  test('packed documents give the same logits as separate sequences (mask + positions restart)', () => {
    const cfg = tinyConfig();
    const model = LlamaModel.init(cfg, { seed: 3, initStd: 0.2 });
    const a = ids(1, 4, cfg.vocabSize, 21);
    const b = ids(1, 5, cfg.vocabSize, 22);
    const packed = Tensor.fromArray(Int32Array.from([...a, ...b]), [1, 9], { dtype: 'i32' });
    const seg = Tensor.fromArray(Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1]), [1, 9], { dtype: 'i32' });
    const lp = model.forward(packed, { segmentIds: seg }).toArray();
    const la = model.forward(Tensor.fromArray(a, [1, 4], { dtype: 'i32' })).toArray();
    const lb = model.forward(Tensor.fromArray(b, [1, 5], { dtype: 'i32' })).toArray();
    const V = cfg.vocabSize;
    expect(relErr(lp.subarray(0, 4 * V), la)).toBeLessThan(1e-5);
    expect(relErr(lp.subarray(4 * V), lb)).toBeLessThan(1e-5);
    // Without the segment ids, the second document sees the first: the logits differ.
    const mixed = model.forward(packed).toArray();
    expect(relErr(mixed.subarray(4 * V), lb)).toBeGreaterThan(1e-3);
    model.dispose();
  });

  test('a few AdamW steps on a fixed batch lower the loss; memory stays flat across steps', () => {
    const cfg = tinyConfig({ vocabSize: 32 });
    const model = LlamaModel.init(cfg, { seed: 5 });
    const opt = new AdamW(model.params, { lr: 1e-2, weightDecay: 0.01 });
    const [B, T] = [4, 16];
    const data = ids(B, T + 1, cfg.vocabSize, 31);
    const inp = new Int32Array(B * T);
    const lab = new Int32Array(B * T);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        inp[b * T + t] = data[b * (T + 1) + t];
        lab[b * T + t] = data[b * (T + 1) + t + 1];
      }
    const x = Tensor.fromArray(inp, [B, T], { dtype: 'i32' });
    const y = Tensor.fromArray(lab, [B, T], { dtype: 'i32' });
    const losses: number[] = [];
    let bytesAfterFirst = 0;
    for (let step = 0; step < 8; step++) {
      model.zeroGrad();
      const { loss, count } = model.loss(x, y);
      expect(count).toBe(B * T);
      losses.push(loss);
      model.backward();
      const { gradNorm } = opt.step(model.grads, { maxGradNorm: 1.0 });
      expect(gradNorm!.item()).toBeGreaterThan(0);
      gradNorm!.dispose();
      model.paramsChanged();
      if (step === 1) bytesAfterFirst = memory().bytes;
      if (step > 1) expect(memory().bytes).toBe(bytesAfterFirst);
    }
    expect(losses[0]).toBeGreaterThan(Math.log(cfg.vocabSize) - 0.5);
    expect(losses[7]).toBeLessThan(losses[0] - 0.5);
    opt.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
  });

  test('save → load (safetensors + config.json) round-trips bit-exactly', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-llama-'));
    const cfg = tinyConfig({ modelType: 'qwen2', attentionBias: true });
    const model = LlamaModel.init(cfg, { seed: 9 });
    writeConfig(dir, cfg);
    saveSafetensors(path.join(dir, 'model.safetensors'), model.params);
    const loaded = loadSafetensors(path.join(dir, 'model.safetensors'));
    const model2 = LlamaModel.fromParams(readConfig(dir), loaded);
    for (const [n, p] of model.params) expect(Buffer.from((model2.params.get(n)!.toArray() as Float32Array).buffer)).toEqual(Buffer.from((p.toArray() as Float32Array).buffer));
    const x = Tensor.fromArray(ids(1, 7, cfg.vocabSize, 41), [1, 7], { dtype: 'i32' });
    expect(Array.from(model2.forward(x).toArray())).toEqual(Array.from(model.forward(x).toArray()));
    for (const t of loaded.values()) t.dispose();
    loaded.delete('model.norm.weight');
    expect(() => LlamaModel.fromParams(cfg, loaded)).toThrow(/missing 1 tensors, e.g. model.norm.weight/);
    model.dispose();
    model2.dispose();
    fs.rmSync(dir, { recursive: true });
  });

  test('bad inputs are refused with clear errors', () => {
    const model = LlamaModel.init(tinyConfig(), { seed: 1 });
    expect(() => model.forward(Tensor.zeros([2, 3]))).toThrow(/ids must be i32 \[B, T\], got f32 \[2, 3\]/);
    const x = Tensor.fromArray(Int32Array.from([1, 2, 3]), [1, 3], { dtype: 'i32' });
    expect(() => model.loss(x, Tensor.fromArray(Int32Array.from([1, 2]), [1, 2], { dtype: 'i32' }))).toThrow(/labels i32 \[1, 2\] must be i32 \[1, 3\]/);
    expect(() => model.backward()).toThrow(/call loss\(\) first/);
    expect(() => model.forward(Tensor.zeros([1, 65], { dtype: 'i32' }))).toThrow(/exceeds max_position_embeddings 64/);
    expect(() => model.forward(Tensor.fromArray(Int32Array.from([1, 99, 3]), [1, 3], { dtype: 'i32' }))).toThrow(/99/);
    model.dispose();
  });
});
