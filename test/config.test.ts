// HF config.json reading/writing, defaults, validation, presets and parameter counts.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  readConfig,
  writeConfig,
  parseConfig,
  countParameters,
  LLAMA_PRESETS,
  presetConfig,
  LlamaConfig,
} from '../lib/model/config';

const FIX = path.join(__dirname, 'fixtures');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-cfg-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const minimal = {
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  vocab_size: 100,
};

describe('readConfig', () => {
  test('a Llama config.json (TinyLlama-1.1B)', () => {
    const c = readConfig(path.join(FIX, 'llama-config.json'));
    expect(c).toEqual({
      modelType: 'llama',
      vocabSize: 32000,
      hiddenSize: 2048,
      intermediateSize: 5632,
      numHiddenLayers: 22,
      numAttentionHeads: 32,
      numKeyValueHeads: 4,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      attentionBias: false,
      bosTokenId: 1,
      eosTokenId: 2,
      torchDtype: 'bfloat16',
    });
    expect(countParameters(c)).toBe(1_100_048_384); // TinyLlama's published count
  });

  test('a Qwen2 config.json (Qwen2.5-0.5B): attention_bias defaults to true', () => {
    const c = readConfig(path.join(FIX, 'qwen2-config.json'));
    expect(c.modelType).toBe('qwen2');
    expect(c.attentionBias).toBe(true);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(c.numKeyValueHeads).toBe(2);
    expect(c.headDim).toBe(64);
    expect(c.ropeTheta).toBe(1e6);
    expect(c.rmsNormEps).toBe(1e-6);
    expect(c.bosTokenId).toBe(151643);
    expect(countParameters(c)).toBe(494_032_768); // Qwen2.5-0.5B's published count
  });

  test('a folder holding config.json', () => {
    const d = path.join(dir, 'folder');
    fs.mkdirSync(d);
    fs.copyFileSync(path.join(FIX, 'llama-config.json'), path.join(d, 'config.json'));
    expect(readConfig(d).hiddenSize).toBe(2048);
  });

  test('defaults for the optional fields', () => {
    const c = parseConfig(minimal);
    expect(c).toEqual({
      modelType: 'llama',
      vocabSize: 100,
      hiddenSize: 64,
      intermediateSize: 160,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      attentionBias: false,
    });
    const q = parseConfig({ ...minimal, model_type: 'qwen2', attention_bias: false, eos_token_id: [1, 2] });
    expect(q.attentionBias).toBe(false);
    expect(q.eosTokenId).toEqual([1, 2]);
    expect(q.maxPositionEmbeddings).toBe(32768);
    expect(parseConfig({ ...minimal, head_dim: 32 }).headDim).toBe(32);
    expect(parseConfig({ ...minimal, dtype: 'float32' }).torchDtype).toBe('float32');
    const rs = { rope_type: 'llama3', factor: 8 };
    expect(parseConfig({ ...minimal, rope_scaling: rs }).ropeScaling).toEqual(rs);
  });

  test('errors', () => {
    const bad = (j: Record<string, unknown>) => () => parseConfig(j, 'cfg.json');
    expect(bad({ hidden_size: 64 })).toThrow(
      'config: cfg.json: missing required field(s): intermediate_size, num_hidden_layers, num_attention_heads, vocab_size',
    );
    expect(bad({ ...minimal, num_attention_heads: 5 })).toThrow(
      'config: cfg.json: num_attention_heads (5) does not divide hidden_size (64)',
    );
    expect(bad({ ...minimal, num_key_value_heads: 3 })).toThrow(
      'config: cfg.json: num_key_value_heads (3) does not divide num_attention_heads (4)',
    );
    expect(bad({ ...minimal, hidden_size: -64 })).toThrow(/hidden_size must be a positive integer, got -64/);
    expect(bad({ ...minimal, vocab_size: '100' })).toThrow(/vocab_size must be a positive integer, got "100"/);
    expect(bad({ ...minimal, rms_norm_eps: 0 })).toThrow(/rms_norm_eps must be a positive number/);
    expect(bad({ ...minimal, model_type: 'gpt2' })).toThrow(/model_type "gpt2" is not supported/);
    expect(bad({ ...minimal, hidden_act: 'gelu' })).toThrow(/hidden_act "gelu" is not supported/);
    expect(bad({ ...minimal, tie_word_embeddings: 'yes' })).toThrow(/tie_word_embeddings must be true or false/);
    expect(bad({ ...minimal, head_dim: 15 })).toThrow(/head_dim \(15\) must be even/);
    expect(bad({ ...minimal, eos_token_id: 100 })).toThrow(/eos_token_id 100 is outside the vocabulary \(100\)/);
    expect(bad({ ...minimal, use_sliding_window: true })).toThrow(/use_sliding_window/);
    expect(() => parseConfig([1])).toThrow(/not a JSON object/);
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"hidden_size": ');
    expect(() => readConfig(path.join(dir, 'broken.json'))).toThrow(/broken\.json: invalid JSON/);
    expect(() => readConfig(path.join(dir, 'missing'))).toThrow(/config: cannot read .*missing/);
  });
});

describe('writeConfig', () => {
  test.each(['llama-config.json', 'qwen2-config.json'])('round trip of %s, HF field names', (fx) => {
    const c = readConfig(path.join(FIX, fx));
    const d = path.join(dir, 'w-' + fx);
    const file = writeConfig(d, c);
    expect(file).toBe(path.join(d, 'config.json'));
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(json.architectures).toEqual([c.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM']);
    expect(json.torch_dtype).toBe('bfloat16');
    const orig = JSON.parse(fs.readFileSync(path.join(FIX, fx), 'utf8'));
    for (const k of ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
      'num_key_value_heads', 'vocab_size', 'rms_norm_eps', 'rope_theta', 'max_position_embeddings',
      'tie_word_embeddings', 'bos_token_id', 'eos_token_id', 'model_type', 'hidden_act'])
      expect([k, json[k]]).toEqual([k, orig[k]]);
    expect(readConfig(d)).toEqual(c);
  });

  test('writeConfig validates', () => {
    const c: LlamaConfig = { ...LLAMA_PRESETS['tiny-1m'], numKeyValueHeads: 3 };
    expect(() => writeConfig(path.join(dir, 'bad'), c)).toThrow(/numKeyValueHeads \(3\) does not divide numAttentionHeads \(4\)/);
  });
});

describe('presets', () => {
  test('parameter counts', () => {
    expect(countParameters(LLAMA_PRESETS['tiny-1m'])).toBe(1_041_280);
    expect(countParameters(LLAMA_PRESETS['small-10m'])).toBe(9_966_848);
    expect(countParameters(LLAMA_PRESETS['gpt2-124m'])).toBe(123_685_632);
  });

  test('countParameters by hand on a small config (untied, biases)', () => {
    const c = parseConfig({ ...minimal, num_key_value_heads: 2, attention_bias: true });
    // embed 100*64, per layer: q 64*64 + k,v 2*64*32 + o 64*64 + biases (64 + 2*32 + 64 for llama's o)
    // + mlp 3*64*160 + norms 2*64; final norm 64; lm_head 100*64.
    const layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + (64 + 64 + 64) + 3 * 64 * 160 + 128;
    expect(countParameters(c)).toBe(6400 + 2 * layer + 64 + 6400);
    const q = { ...c, modelType: 'qwen2' as const };
    expect(countParameters(q)).toBe(countParameters(c) - 2 * 64);
    expect(countParameters({ ...c, tieWordEmbeddings: true })).toBe(countParameters(c) - 6400);
  });

  test('presets are valid, round trip through config.json, and presetConfig copies', () => {
    for (const name of Object.keys(LLAMA_PRESETS) as (keyof typeof LLAMA_PRESETS)[]) {
      const d = path.join(dir, 'preset-' + name);
      writeConfig(d, presetConfig(name));
      expect(readConfig(d)).toEqual({ ...LLAMA_PRESETS[name], torchDtype: 'float32' });
    }
    const p = presetConfig('tiny-1m', { vocabSize: 5000 });
    expect(p.vocabSize).toBe(5000);
    expect(LLAMA_PRESETS['tiny-1m'].vocabSize).toBe(4096);
    expect(() => presetConfig('nope' as 'tiny-1m')).toThrow(/unknown preset "nope"/);
  });
});
