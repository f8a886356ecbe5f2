// Incremental decoding with a KV cache (LlamaModel.createCache / prefill / decodeStep): the logits of
// every step equal a full forward over the whole sequence, for rows of different prompt lengths given
// right-padded, left-padded or with a mask, with finished rows dropping out; bad inputs.
import { Tensor, memory, presetConfig } from '../lib';
import { LlamaModel } from '../lib/model/llama';
import { LlamaConfig } from '../lib/model/config';
import { describeCuda, relErr, rng } from './helpers';

function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return presetConfig('tiny-1m', {
    vocabSize: 23, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
    numKeyValueHeads: 2, headDim: 4, maxPositionEmbeddings: 32, tieWordEmbeddings: false, ...over,
  });
}

/** Last-position logits of a full forward over one sequence. */
function fullLogits(model: LlamaModel, seq: number[]): Float32Array {
  const x = Tensor.fromArray(Int32Array.from(seq), [1, seq.length], { dtype: 'i32' });
  const out = model.forward(x);
  const V = model.config.vocabSize;
  const a = (out.toArray() as Float32Array).slice((seq.length - 1) * V, seq.length * V);
  out.dispose();
  x.dispose();
  return a;
}

function rowOf(t: Float32Array, i: number, V: number): Float32Array {
  return t.slice(i * V, (i + 1) * V);
}

describe('KV-cache decoding', () => {
  test.each([
    ['llama, right-padded (lengths)', {}, 'lengths'],
    ['qwen2 biases + tied embeddings, left-padded (mask)', { modelType: 'qwen2', attentionBias: true, tieWordEmbeddings: true }, 'left'],
    ['MHA, unpadded equal lengths', { numKeyValueHeads: 4 }, 'none'],
  ] as [string, Partial<LlamaConfig>, string][])('every step matches a full forward (%s)', (_n, over, padding) => {
    const cfg = tinyConfig(over);
    const model = LlamaModel.init(cfg, { seed: 3, initStd: 0.3 });
    const V = cfg.vocabSize;
    const r = rng(5);
    const lens = padding === 'none' ? [5, 5, 5] : [5, 1, 8];
    const prompts = lens.map((L) => Array.from({ length: L }, () => Math.floor(r() * V)));
    const T = Math.max(...lens);
    const B = prompts.length;
    const grid = new Int32Array(B * T).fill(7); // padding ids are arbitrary
    const mask = new Int32Array(B * T);
    prompts.forEach((p, b) => {
      const off = padding === 'left' ? T - p.length : 0;
      p.forEach((id, t) => {
        grid[b * T + off + t] = id;
        mask[b * T + off + t] = 1;
      });
    });
    const ids = Tensor.fromArray(grid, [B, T], { dtype: 'i32' });
    const cache = model.createCache(B, 16);
    const opts = padding === 'lengths' ? { lengths: lens } : padding === 'left' ? { attentionMask: mask } : {};
    let logits = model.prefill(ids, cache, opts);
    expect(logits.shape).toEqual([B, V]);
    expect(Array.from(cache.lengths)).toEqual(lens);
    let la = logits.toArray() as Float32Array;
    prompts.forEach((p, b) => expect(relErr(rowOf(la, b, V), fullLogits(model, p))).toBeLessThan(1e-4));
    logits.dispose();
    // Decode 6 steps with teacher-forced tokens; row 1 finishes after 2 steps, row 0 after 4.
    const seqs = prompts.map((p) => [...p]);
    let active = [0, 1, 2];
    for (let step = 0; step < 6; step++) {
      if (step === 2) active = [0, 2];
      if (step === 4) active = [2];
      const toks = active.map(() => Math.floor(r() * V));
      active.forEach((b, i) => seqs[b].push(toks[i]));
      logits = model.decodeStep(toks, cache, active);
      expect(logits.shape).toEqual([active.length, V]);
      la = logits.toArray() as Float32Array;
      active.forEach((b, i) => {
        const err = relErr(rowOf(la, i, V), fullLogits(model, seqs[b]));
        if (!(err < 1e-4)) throw new Error(`step ${step}, row ${b}: relErr ${err}`);
      });
      logits.dispose();
    }
    expect(Array.from(cache.lengths)).toEqual(seqs.map((s) => s.length));
    cache.dispose();
    ids.dispose();
    model.dispose();
  });

  test('prefill into chosen cache rows; token tensors; bf16 compute path stays close', () => {
    const cfg = tinyConfig();
    const model = LlamaModel.init(cfg, { seed: 4, initStd: 0.3 });
    const cache = model.createCache(4, 12);
    const p = [1, 2, 3, 4];
    const want = fullLogits(model, [...p, 9]); // (forward keeps its activations: count after it)
    const live = memory('cpu').tensors;
    const ids = Tensor.fromArray(Int32Array.from(p), [1, 4], { dtype: 'i32' });
    const l0 = model.prefill(ids, cache, { rows: [3] });
    expect(Array.from(cache.lengths)).toEqual([0, 0, 0, 4]);
    const tok = Tensor.fromArray(Int32Array.from([9]), [1], { dtype: 'i32' });
    const l1 = model.decodeStep(tok, cache, [3]);
    expect(relErr(l1.toArray(), want)).toBeLessThan(1e-4);
    for (const t of [l0, l1, ids, tok]) t.dispose();
    expect(memory('cpu').tensors).toBe(live); // nothing but the returned logits outlives a call
    cache.dispose();
    // bf16 activations (the CUDA default) on the CPU: close to the f32 forward.
    const mb = LlamaModel.fromParams(cfg, model.params, { computeDtype: 'bf16' });
    const cb = mb.createCache(1, 8);
    expect(cb.k[0].dtype).toBe('bf16');
    const ids2 = Tensor.fromArray(Int32Array.from(p), [1, 4], { dtype: 'i32' });
    mb.prefill(ids2, cb).dispose();
    const lb = mb.decodeStep([9], cb);
    expect(relErr(lb.toArray(), fullLogits(model, [...p, 9]))).toBeLessThan(3e-2);
    lb.dispose();
    ids2.dispose();
    cb.dispose();
    mb.dispose();
    model.dispose();
  });

  test('bad inputs', () => {
    const cfg = tinyConfig({ maxPositionEmbeddings: 8 });
    const model = LlamaModel.init(cfg, { seed: 1 });
    expect(() => model.createCache(2, 9)).toThrow(/maxLen must be an integer in \[1, 8\]/);
    expect(() => model.createCache(0, 4)).toThrow(/batch must be a positive integer/);
    const cache = model.createCache(2, 4);
    const long = Tensor.fromArray(new Int32Array(5).fill(1), [1, 5], { dtype: 'i32' });
    expect(() => model.prefill(long, cache)).toThrow(/row 0 has 5 tokens, more than the cache length 4/);
    const ids = Tensor.fromArray(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], { dtype: 'i32' });
    expect(() => model.prefill(ids, cache, { lengths: [3, 0] })).toThrow(/row 1 has no tokens/);
    expect(() => model.prefill(ids, cache, { lengths: [3, 4] })).toThrow(/lengths\[1\] = 4 is outside \[0, 3\]/);
    expect(() => model.prefill(ids, cache, { lengths: [3, 3], attentionMask: [1, 1, 1, 1, 1, 1] })).toThrow(/not both/);
    expect(() => model.prefill(ids, cache, { rows: [1, 1] })).toThrow(/cache row 1 appears twice/);
    expect(() => model.prefill(ids, cache, { rows: [0, 2] })).toThrow(/rows\[1\] = 2 is outside the cache batch/);
    const bad = Tensor.fromArray(Int32Array.from([1, 99]), [1, 2], { dtype: 'i32' });
    expect(() => model.prefill(bad, cache)).toThrow(/token id 99 \(row 0\) is outside the vocabulary/);
    model.prefill(ids, cache).dispose();
    model.decodeStep([1, 2], cache).dispose();
    expect(() => model.decodeStep([1, 2], cache)).toThrow(/cache row 0 is full \(4 tokens/);
    expect(() => model.decodeStep([1, 99], cache)).toThrow(/tokens\[1\] = 99 is outside the vocabulary/);
    expect(() => model.decodeStep([], cache)).toThrow(/no rows to decode/);
    cache.reset([0]);
    expect(Array.from(cache.lengths)).toEqual([0, 4]);
    const other = LlamaModel.init(tinyConfig({ maxPositionEmbeddings: 8, numHiddenLayers: 1 }), { seed: 1 });
    expect(() => other.decodeStep([1], cache)).toThrow(/not made by this model/);
    cache.dispose();
    expect(() => model.decodeStep([1], cache)).toThrow(/the cache was disposed/);
    for (const t of [long, ids, bad]) t.dispose();
    other.dispose();
    model.dispose();
  });
});

describeCuda('KV-cache decoding on CUDA', () => {
  test.each([['f32', 1e-4], ['bf16', 3e-2]] as ['f32' | 'bf16', number][])(
    '%s compute: prefill and decode steps match the CPU full forward',
    (computeDtype, tol) => {
      const cfg = tinyConfig({ headDim: 8, hiddenSize: 32, numAttentionHeads: 4, numKeyValueHeads: 2 });
      const cpu = LlamaModel.init(cfg, { seed: 9, initStd: 0.3 });
      const gpu = LlamaModel.fromParams(cfg, cpu.params, { device: 'cuda', computeDtype });
      const V = cfg.vocabSize;
      const prompts = [[1, 2, 3, 4, 5], [6], [7, 8, 9]];
      const T = 5;
      const grid = new Int32Array(3 * T);
      prompts.forEach((p, b) => grid.set(p, b * T));
      const ids = Tensor.fromArray(grid, [3, T], { dtype: 'i32' });
      const cache = gpu.createCache(3, 12);
      const l0 = gpu.prefill(ids, cache, { lengths: prompts.map((p) => p.length) });
      const a0 = l0.toArray() as Float32Array;
      prompts.forEach((p, b) => expect(relErr(rowOf(a0, b, V), fullLogits(cpu, p))).toBeLessThan(tol));
      const seqs = prompts.map((p) => [...p]);
      for (let step = 0; step < 4; step++) {
        const active = step < 2 ? [0, 1, 2] : [1, 2];
        const toks = active.map((b) => (b * 5 + step) % V);
        active.forEach((b, i) => seqs[b].push(toks[i]));
        const l = gpu.decodeStep(toks, cache, active);
        const a = l.toArray() as Float32Array;
        active.forEach((b, i) => expect(relErr(rowOf(a, i, V), fullLogits(cpu, seqs[b]))).toBeLessThan(tol));
        l.dispose();
      }
      l0.dispose();
      ids.dispose();
      cache.dispose();
      gpu.dispose();
      cpu.dispose();
    },
  );
});
