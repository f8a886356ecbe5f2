// Llama-family model configuration: read/write Hugging Face config.json (LlamaForCausalLM,
// Qwen2ForCausalLM), validation, presets and parameter counts.
import * as fs from 'fs';
import * as path from 'path';

export type ModelType = 'llama' | 'qwen2';

/** A Llama-shaped decoder (RMSNorm, RoPE, GQA attention, SwiGLU MLP). Field names are HF's, camel-cased. */
export interface LlamaConfig {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Key/value heads (grouped-query attention); divides numAttentionHeads. */
  numKeyValueHeads: number;
  /** Per-head dimension (default hiddenSize / numAttentionHeads). */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  /** lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** Biases on the q/k/v projections (Qwen2), and on o as well for Llama with attention_bias. */
  attentionBias: boolean;
  bosTokenId?: number;
  eosTokenId?: number | number[];
  /** HF rope_scaling object, passed through untouched (absent: plain RoPE). */
  ropeScaling?: Record<string, unknown>;
  /** HF torch_dtype ('float32', 'bfloat16', ...). */
  torchDtype?: string;
}

const REQUIRED = ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'vocab_size'] as const;

function where(src: string): string {
  return src ? `${src}: ` : '';
}

function posInt(src: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
    throw new Error(`config: ${where(src)}${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function posNum(src: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new Error(`config: ${where(src)}${key} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(src: string, key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new Error(`config: ${where(src)}${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function tokenId(src: string, key: string, v: unknown): number | number[] | undefined {
  if (v === undefined || v === null) return undefined;
  const ok = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (ok(v)) return v as number;
  if (Array.isArray(v) && v.length > 0 && v.every(ok)) return [...(v as number[])];
  throw new Error(`config: ${where(src)}${key} must be a token id or a list of them, got ${JSON.stringify(v)}`);
}

/**
 * Builds a LlamaConfig from a parsed HF config.json object, with HF's defaults for the optional fields.
 * `src` names the file in error messages.
 */
export function parseConfig(json: unknown, src = ''): LlamaConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new Error(`config: ${where(src)}not a JSON object`);
  const j = json as Record<string, unknown>;
  const mt = j.model_type ?? 'llama';
  if (mt !== 'llama' && mt !== 'qwen2')
    throw new Error(`config: ${where(src)}model_type ${JSON.stringify(mt)} is not supported (expected "llama" or "qwen2")`);
  const modelType = mt as ModelType;
  const missing = REQUIRED.filter((k) => j[k] === undefined || j[k] === null);
  if (missing.length) throw new Error(`config: ${where(src)}missing required field(s): ${missing.join(', ')}`);
  if (j.hidden_act !== undefined && j.hidden_act !== 'silu')
    throw new Error(`config: ${where(src)}hidden_act ${JSON.stringify(j.hidden_act)} is not supported (only "silu")`);
  if (j.use_sliding_window === true)
    throw new Error(`config: ${where(src)}use_sliding_window = true is not supported`);
  if (j.mlp_bias === true) throw new Error(`config: ${where(src)}mlp_bias = true is not supported`);

  const hiddenSize = posInt(src, 'hidden_size', j.hidden_size);
  const numAttentionHeads = posInt(src, 'num_attention_heads', j.num_attention_heads);
  const numKeyValueHeads =
    j.num_key_value_heads === undefined || j.num_key_value_heads === null
      ? numAttentionHeads
      : posInt(src, 'num_key_value_heads', j.num_key_value_heads);
  let headDim: number;
  if (j.head_dim === undefined || j.head_dim === null) {
    if (hiddenSize % numAttentionHeads !== 0)
      throw new Error(
        `config: ${where(src)}num_attention_heads (${numAttentionHeads}) does not divide hidden_size (${hiddenSize})`,
      );
    headDim = hiddenSize / numAttentionHeads;
  } else headDim = posInt(src, 'head_dim', j.head_dim);
  if (headDim % 2 !== 0) throw new Error(`config: ${where(src)}head_dim (${headDim}) must be even for RoPE`);
  if (numAttentionHeads % numKeyValueHeads !== 0)
    throw new Error(
      `config: ${where(src)}num_key_value_heads (${numKeyValueHeads}) does not divide num_attention_heads (${numAttentionHeads})`,
    );
  const rs = j.rope_scaling;
  if (rs !== undefined && rs !== null && (typeof rs !== 'object' || Array.isArray(rs)))
    throw new Error(`config: ${where(src)}rope_scaling must be an object or null`);
  const dtype = j.torch_dtype ?? j.dtype;

  const cfg: LlamaConfig = {
    modelType,
    vocabSize: posInt(src, 'vocab_size', j.vocab_size),
    hiddenSize,
    intermediateSize: posInt(src, 'intermediate_size', j.intermediate_size),
    numHiddenLayers: posInt(src, 'num_hidden_layers', j.num_hidden_layers),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: j.rms_norm_eps === undefined ? 1e-6 : posNum(src, 'rms_norm_eps', j.rms_norm_eps),
    ropeTheta: j.rope_theta === undefined ? 10000 : posNum(src, 'rope_theta', j.rope_theta),
    maxPositionEmbeddings:
      j.max_position_embeddings === undefined
        ? modelType === 'qwen2' ? 32768 : 2048
        : posInt(src, 'max_position_embeddings', j.max_position_embeddings),
    tieWordEmbeddings: j.tie_word_embeddings === undefined ? false : bool(src, 'tie_word_embeddings', j.tie_word_embeddings),
    attentionBias:
      j.attention_bias === undefined ? modelType === 'qwen2' : bool(src, 'attention_bias', j.attention_bias),
  };
  const bos = tokenId(src, 'bos_token_id', j.bos_token_id);
  if (bos !== undefined) {
    if (Array.isArray(bos)) throw new Error(`config: ${where(src)}bos_token_id must be a single token id`);
    cfg.bosTokenId = bos;
  }
  const eos = tokenId(src, 'eos_token_id', j.eos_token_id);
  if (eos !== undefined) cfg.eosTokenId = eos;
  if (rs !== undefined && rs !== null) cfg.ropeScaling = rs as Record<string, unknown>;
  if (typeof dtype === 'string') cfg.torchDtype = dtype;
  validateConfig(cfg);
  return cfg;
}

/** Checks a LlamaConfig built in code (the same rules readConfig applies). */
export function validateConfig(cfg: LlamaConfig, src = ''): void {
  for (const k of ['vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads',
    'numKeyValueHeads', 'headDim', 'maxPositionEmbeddings'] as const)
    posInt(src, k, cfg[k]);
  posNum(src, 'rmsNormEps', cfg.rmsNormEps);
  posNum(src, 'ropeTheta', cfg.ropeTheta);
  if (cfg.modelType !== 'llama' && cfg.modelType !== 'qwen2')
    throw new Error(`config: ${where(src)}modelType ${JSON.stringify(cfg.modelType)} is not supported`);
  if (cfg.numAttentionHeads % cfg.numKeyValueHeads !== 0)
    throw new Error(
      `config: ${where(src)}numKeyValueHeads (${cfg.numKeyValueHeads}) does not divide numAttentionHeads (${cfg.numAttentionHeads})`,
    );
  if (cfg.headDim % 2 !== 0) throw new Error(`config: ${where(src)}headDim (${cfg.headDim}) must be even for RoPE`);
  if (cfg.bosTokenId !== undefined && cfg.bosTokenId >= cfg.vocabSize)
    throw new Error(`config: ${where(src)}bos_token_id ${cfg.bosTokenId} is outside the vocabulary (${cfg.vocabSize})`);
  const eos = cfg.eosTokenId === undefined ? [] : Array.isArray(cfg.eosTokenId) ? cfg.eosTokenId : [cfg.eosTokenId];
  for (const e of eos)
    if (e >= cfg.vocabSize)
      throw new Error(`config: ${where(src)}eos_token_id ${e} is outside the vocabulary (${cfg.vocabSize})`);
}

/** Reads an HF config.json (a file, or a folder holding one). */
export function readConfig(dirOrFile: string): LlamaConfig {
  let file = dirOrFile;
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`config: cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`config: ${file}: invalid JSON (${(e as Error).message})`);
  }
  return parseConfig(json, file);
}

/** The HF config.json object for cfg (LlamaForCausalLM or Qwen2ForCausalLM). */
export function toHFConfig(cfg: LlamaConfig): Record<string, unknown> {
  validateConfig(cfg);
  const qwen = cfg.modelType === 'qwen2';
  const out: Record<string, unknown> = {
    architectures: [qwen ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: cfg.modelType,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numHiddenLayers,
    num_attention_heads: cfg.numAttentionHeads,
    num_key_value_heads: cfg.numKeyValueHeads,
    head_dim: cfg.headDim,
    hidden_act: 'silu',
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling: cfg.ropeScaling ?? null,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    attention_bias: cfg.attentionBias,
    attention_dropout: 0.0,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: cfg.torchDtype ?? 'float32',
  };
  if (qwen) {
    out.use_sliding_window = false;
    out.sliding_window = cfg.maxPositionEmbeddings;
    out.max_window_layers = cfg.numHiddenLayers;
  } else {
    out.mlp_bias = false;
    out.pretraining_tp = 1;
  }
  if (cfg.bosTokenId !== undefined) out.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenId !== undefined) out.eos_token_id = cfg.eosTokenId;
  return out;
}

/** Writes dir/config.json (HF-compatible). Returns the file's path. */
export function writeConfig(dir: string, cfg: LlamaConfig): string {
  const body = JSON.stringify(toHFConfig(cfg), null, 2) + '\n';
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'config.json');
  const tmp = path.join(dir, `.config.json.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(tmp, body);
  fs.renameSync(tmp, file);
  return file;
}

/**
 * Number of parameters of the model cfg describes: embeddings, per layer q/k/v/o projections (+ q/k/v
 * biases when attentionBias, + the o bias too for Llama), SwiGLU gate/up/down, two RMSNorm weights;
 * the final norm; lm_head unless tied.
 */
export function countParameters(cfg: LlamaConfig): number {
  const h = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  let attn = h * q + 2 * h * kv + q * h;
  if (cfg.attentionBias) attn += q + 2 * kv + (cfg.modelType === 'llama' ? h : 0);
  const mlp = 3 * h * cfg.intermediateSize;
  const layer = attn + mlp + 2 * h;
  const embed = cfg.vocabSize * h;
  return embed + cfg.numHiddenLayers * layer + h + (cfg.tieWordEmbeddings ? 0 : embed);
}

function preset(p: Omit<LlamaConfig, 'modelType' | 'headDim' | 'rmsNormEps' | 'ropeTheta' | 'attentionBias'>): LlamaConfig {
  return {
    modelType: 'llama',
    headDim: p.hiddenSize / p.numAttentionHeads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    attentionBias: false,
    ...p,
  };
}

/**
 * Llama-shaped presets for training from scratch. Exact sizes (countParameters):
 *   tiny-1m      1,041,280 parameters (vocab 4096, hidden 128, 3 layers, 4 heads / 2 kv heads, mlp 320, tied)
 *   small-10m    9,966,848 parameters (vocab 8192, hidden 256, 10 layers, 8 heads / 4 kv heads, mlp 768, tied)
 *   gpt2-124m  123,685,632 parameters (vocab 32000, hidden 768, 12 layers, 12 heads, mlp 2560, tied)
 */
export const LLAMA_PRESETS: Readonly<Record<'tiny-1m' | 'small-10m' | 'gpt2-124m', Readonly<LlamaConfig>>> = Object.freeze({
  'tiny-1m': preset({
    vocabSize: 4096, hiddenSize: 128, intermediateSize: 320, numHiddenLayers: 3, numAttentionHeads: 4,
    numKeyValueHeads: 2, maxPositionEmbeddings: 1024, tieWordEmbeddings: true,
  }),
  'small-10m': preset({
    vocabSize: 8192, hiddenSize: 256, intermediateSize: 768, numHiddenLayers: 10, numAttentionHeads: 8,
    numKeyValueHeads: 4, maxPositionEmbeddings: 1024, tieWordEmbeddings: true,
  }),
  'gpt2-124m': preset({
    vocabSize: 32000, hiddenSize: 768, intermediateSize: 2560, numHiddenLayers: 12, numAttentionHeads: 12,
    numKeyValueHeads: 12, maxPositionEmbeddings: 2048, tieWordEmbeddings: true,
  }),
});

export type LlamaPresetName = keyof typeof LLAMA_PRESETS;

/** A fresh copy of a preset, with optional overrides. */
export function presetConfig(name: LlamaPresetName, overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  const p = LLAMA_PRESETS[name];
  if (!p) throw new Error(`config: unknown preset ${JSON.stringify(name)} (expected ${Object.keys(LLAMA_PRESETS).join(', ')})`);
  const cfg = { ...p, ...overrides };
  validateConfig(cfg);
  return cfg;
}
