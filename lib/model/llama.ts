// The Llama-family decoder (Llama, Qwen2, DeepSeek-Math share it) with an explicit forward and
// backward per layer, as llm.c does: the model owns its parameters (f32 master weights, HF names),
// its gradient buffers (f32) and the activations of the last forward, and a training step reads top
// to bottom: loss() → backward() → optimizer step.
import { Device, DType, Tensor, checkDevice, shapeStr, tidy } from '../tensor';
import { add, cast } from '../ops/elementwise';
import { gemm } from '../ops/gemm';
import { rmsnorm, rmsnormBackward } from '../ops/rmsnorm';
import { rope } from '../ops/rope';
import { swiglu, swigluBackward } from '../ops/swiglu';
import { embedding, embeddingBackward } from '../ops/embedding';
import { attention, attentionBackward } from '../ops/attention';
import { crossEntropy } from '../ops/crossEntropy';
import { kvCacheWrite } from '../ops/kvCache';
import { attentionDecode } from '../ops/attentionDecode';
import { linearLogprob, linearLogprobBackward } from '../ops/linearLogprob';
import { LlamaConfig, validateConfig } from './config';
import { KVCache } from './kvCache';

export interface LlamaModelOptions {
  device?: Device;
  /**
   * dtype of matmul and attention inputs. Default: 'bf16' on CUDA, 'f32' on the CPU. Master weights,
   * gradients and the residual stream stay f32 either way.
   */
  computeDtype?: 'f32' | 'bf16';
}

export interface InitOptions extends LlamaModelOptions {
  /** Seed of the weight initialisation (deterministic). Default 0. */
  seed?: number;
  /** Standard deviation of the normal init of the linear and embedding weights (HF initializer_range). */
  initStd?: number;
}

export interface ForwardOptions {
  /**
   * i32 [B, T]: document ids of packed sequences. Attention stays inside a document and positions
   * restart at 0 at each document start.
   */
  segmentIds?: Tensor;
  /** i32 [B, T] or [T]: explicit positions (default 0..T-1, or per document with segmentIds). */
  positions?: Tensor;
}

export interface LossOptions extends ForwardOptions {
  /** Label value that is not scored (default -100, as HF). */
  ignoreIndex?: number;
  /**
   * Scale of dlogits (default 1/count: the gradient of this batch's mean loss). Gradient accumulation
   * passes 1/(scored tokens of all micro-batches) so the summed gradient is that of the overall mean.
   */
  gradScale?: number;
  /** Only the loss: no dlogits are kept (evaluation); backward() cannot follow. */
  noGrad?: boolean;
}

export interface PrefillOptions {
  /**
   * Real tokens per row for right-padded ids: row b's prompt is ids[b, 0 .. lengths[b] - 1]. Default:
   * every position is real. Not together with attentionMask.
   */
  lengths?: ArrayLike<number>;
  /**
   * [B, T] (a host array of B*T values, or a tensor): 1 marks a real token, 0 padding — left, right or
   * anywhere, as HF's attention_mask. The real tokens of a row, in order, form its prompt; positions
   * count real tokens only (HF's cumsum(mask) - 1).
   */
  attentionMask?: Tensor | ArrayLike<number>;
  /** Cache rows to fill (distinct): ids row b goes to cache row rows[b]. Default 0 .. B-1. */
  rows?: ArrayLike<number>;
}

export interface LogprobOptions extends ForwardOptions {
  /** Logits are divided by this before the softmax (TRL scores with the sampling temperature). Default 1. */
  temperature?: number;
  /** Target value that is not scored: its logp and entropy are 0 (default -100). */
  ignoreIndex?: number;
  /** Vocabulary columns per chunk of the fused log-prob (default 8192). */
  chunkSize?: number;
  /** Only the values: the activations are released, backwardLogprobs() cannot follow. */
  noGrad?: boolean;
}

export interface LogprobResult {
  /** f32 [B, T]: log softmax(logits / temperature)[targets] (0 where the target is ignored). */
  logp: Tensor;
  /** f32 [B, T]: entropy of that softmax (0 where the target is ignored). */
  entropy: Tensor;
}

export interface LossResult {
  /** Mean cross-entropy over the scored tokens (this reads the value: a GPU sync). */
  loss: number;
  /** Number of scored tokens. */
  count: number;
}

/** The parameter names and shapes of a config, in HF naming and order. */
export function parameterShapes(cfg: LlamaConfig): Map<string, number[]> {
  const D = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  const I = cfg.intermediateSize;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [cfg.vocabSize, D]);
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(p + 'input_layernorm.weight', [D]);
    m.set(p + 'self_attn.q_proj.weight', [q, D]);
    m.set(p + 'self_attn.k_proj.weight', [kv, D]);
    m.set(p + 'self_attn.v_proj.weight', [kv, D]);
    if (cfg.attentionBias) {
      m.set(p + 'self_attn.q_proj.bias', [q]);
      m.set(p + 'self_attn.k_proj.bias', [kv]);
      m.set(p + 'self_attn.v_proj.bias', [kv]);
    }
    m.set(p + 'self_attn.o_proj.weight', [D, q]);
    m.set(p + 'post_attention_layernorm.weight', [D]);
    m.set(p + 'mlp.gate_proj.weight', [I, D]);
    m.set(p + 'mlp.up_proj.weight', [I, D]);
    m.set(p + 'mlp.down_proj.weight', [D, I]);
  }
  m.set('model.norm.weight', [D]);
  if (!cfg.tieWordEmbeddings) m.set('lm_head.weight', [cfg.vocabSize, D]);
  return m;
}

/** Deterministic standard normals (xorshift128+ with Box-Muller), for weight init. */
function normalSampler(seed: number): () => number {
  let s0 = (seed ^ 0x9e3779b9) >>> 0 || 1;
  let s1 = (Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 2;
  const next = (): number => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    s1 = x >>> 0;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

interface LayerCache {
  x: Tensor; // residual stream entering the layer, f32 [N, D]
  h1: Tensor; // rmsnorm(x), compute dtype [N, D]
  r1: Tensor; // its rstd
  q: Tensor; // after rope, compute dtype [B, T, Hq, Dh]
  k: Tensor; // after rope [B, T, Hkv, Dh]
  v: Tensor; // [B, T, Hkv, Dh]
  a: Tensor; // attention output [B, T, Hq, Dh]
  lse: Tensor;
  xMid: Tensor; // x + attention block, f32 [N, D]
  h2: Tensor; // rmsnorm(xMid), compute dtype
  r2: Tensor;
  g: Tensor; // gate projection, f32 [N, I]
  u: Tensor; // up projection, f32 [N, I]
  s: Tensor; // swiglu(g, u), compute dtype [N, I]
}

interface ForwardCache {
  B: number;
  T: number;
  ids: Tensor;
  positions: Tensor;
  segmentIds?: Tensor;
  layers: LayerCache[];
  xFinal: Tensor;
  hf: Tensor; // final rmsnorm output, compute dtype
  rf: Tensor;
  dlogits?: Tensor;
  lp?: { targets: Tensor; lse: Tensor; entropy: Tensor; temperature: number; ignoreIndex: number; chunkSize?: number };
}

export class LlamaModel {
  readonly config: LlamaConfig;
  readonly device: Device;
  readonly computeDtype: 'f32' | 'bf16';
  /** f32 master weights by HF name. */
  readonly params: Map<string, Tensor>;
  /** f32 gradients by HF name (accumulated by backward(), cleared by zeroGrad()). */
  readonly grads = new Map<string, Tensor>();
  private computeCopies = new Map<string, Tensor>();
  private cache: ForwardCache | null = null;

  private constructor(config: LlamaConfig, params: Map<string, Tensor>, opts: LlamaModelOptions) {
    this.config = config;
    this.device = checkDevice('LlamaModel', opts.device ?? 'cpu');
    this.computeDtype = opts.computeDtype ?? (this.device === 'cuda' ? 'bf16' : 'f32');
    this.params = params;
  }

  /** A randomly initialised model (normal(0, initStd) weights, unit norms, zero biases). */
  static init(config: LlamaConfig, opts: InitOptions = {}): LlamaModel {
    validateConfig(config);
    const device = checkDevice('LlamaModel.init', opts.device ?? 'cpu');
    const std = opts.initStd ?? 0.02;
    const randn = normalSampler(opts.seed ?? 0);
    const params = new Map<string, Tensor>();
    for (const [name, shape] of parameterShapes(config)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      if (name.endsWith('norm.weight')) data.fill(1);
      else if (!name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] = std * randn();
      params.set(name, Tensor.fromArray(data, shape, { device }));
    }
    return new LlamaModel(config, params, { ...opts, device });
  }

  /**
   * A model over existing weights (e.g. loaded from safetensors). Every expected name must be present
   * with its shape; tensors are converted to f32 on the model's device (the map's tensors are not
   * kept or disposed). Extra names are an error unless listed in `ignore` (e.g. rotary caches).
   */
  static fromParams(
    config: LlamaConfig,
    tensors: Map<string, Tensor>,
    opts: LlamaModelOptions & { ignore?: (name: string) => boolean } = {},
  ): LlamaModel {
    validateConfig(config);
    const device = checkDevice('LlamaModel.fromParams', opts.device ?? 'cpu');
    const shapes = parameterShapes(config);
    const missing = [...shapes.keys()].filter((k) => !tensors.has(k));
    if (missing.length)
      throw new Error(`LlamaModel.fromParams: missing ${missing.length} tensors, e.g. ${missing.slice(0, 3).join(', ')}`);
    const extra = [...tensors.keys()].filter((k) => !shapes.has(k) && !(opts.ignore?.(k) ?? false));
    if (extra.length)
      throw new Error(`LlamaModel.fromParams: unexpected tensors ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}`);
    const params = new Map<string, Tensor>();
    try {
      for (const [name, shape] of shapes) {
        const t = tensors.get(name)!;
        if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
          throw new RangeError(`LlamaModel.fromParams: ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`);
        const f = t.dtype === 'f32' ? t.clone() : cast(t, 'f32');
        if (f.device === device) params.set(name, f);
        else {
          params.set(name, f.to(device));
          f.dispose();
        }
      }
    } catch (e) {
      for (const t of params.values()) t.dispose();
      throw e;
    }
    return new LlamaModel(config, params, { ...opts, device });
  }

  /**
   * Replaces the weights with `tensors` (e.g. a checkpoint being resumed): every parameter name must be
   * present with its shape; values are converted to f32 on the model's device. The map's tensors are not
   * kept. Optimizers holding this.params see the new weights.
   */
  loadParams(tensors: Map<string, Tensor>): void {
    const shapes = parameterShapes(this.config);
    const missing = [...shapes.keys()].filter((k) => !tensors.has(k));
    if (missing.length)
      throw new Error(`LlamaModel.loadParams: missing ${missing.length} tensors, e.g. ${missing.slice(0, 3).join(', ')}`);
    const next = new Map<string, Tensor>();
    try {
      for (const [name, shape] of shapes) {
        const t = tensors.get(name)!;
        if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
          throw new RangeError(`LlamaModel.loadParams: ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`);
        const f = t.dtype === 'f32' ? t.clone() : cast(t, 'f32');
        if (f.device === this.device) next.set(name, f);
        else {
          next.set(name, f.to(this.device));
          f.dispose();
        }
      }
    } catch (e) {
      for (const t of next.values()) t.dispose();
      throw e;
    }
    this.releaseCache();
    for (const [name, t] of next) {
      this.params.get(name)?.dispose();
      this.params.set(name, t);
    }
    this.paramsChanged();
  }

  private param(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) throw new Error(`LlamaModel: no parameter ${name}`);
    return p;
  }

  /** The weight as matmul input: the f32 master on the f32 path, a bf16 copy otherwise. */
  private w(name: string): Tensor {
    if (this.computeDtype === 'f32') return this.param(name);
    let c = this.computeCopies.get(name);
    if (!c) {
      c = cast(this.param(name), this.computeDtype);
      this.computeCopies.set(name, c);
    }
    return c;
  }

  /** Call after changing params in place (optimizer step, load): refreshes the bf16 compute copies. */
  paramsChanged(): void {
    for (const c of this.computeCopies.values()) c.dispose();
    this.computeCopies.clear();
  }

  private grad(name: string): Tensor {
    let g = this.grads.get(name);
    if (!g) {
      g = Tensor.zeros(this.param(name).shape, { device: this.device });
      this.grads.set(name, g);
    }
    return g;
  }

  /** Sets every gradient to zero (allocating them on first use). */
  zeroGrad(): void {
    for (const name of this.params.keys()) {
      const g = this.grads.get(name);
      if (g) g.dispose();
      this.grads.set(name, Tensor.zeros(this.param(name).shape, { device: this.device }));
    }
  }

  private toCompute(t: Tensor): Tensor {
    if (t.dtype === this.computeDtype) return t;
    const c = cast(t, this.computeDtype);
    t.dispose();
    return c;
  }

  /** y = x @ Wᵀ (+ b), f32 out. */
  private linear(x: Tensor, name: string, bias?: string): Tensor {
    const y = gemm(x, this.w(name + '.weight'), { transB: true });
    if (!bias) return y;
    const z = add(y, this.param(bias));
    y.dispose();
    return z;
  }

  private positionsFor(B: number, T: number, opts: ForwardOptions): Tensor {
    if (opts.positions) {
      const p = opts.positions;
      if (p.dtype !== 'i32') throw new TypeError(`LlamaModel: positions must be i32, got ${p.dtype}`);
      const ok = (p.ndim === 1 && p.shape[0] === T) || (p.ndim === 2 && p.shape[0] === B && p.shape[1] === T);
      if (!ok) throw new RangeError(`LlamaModel: positions ${shapeStr(p.shape)} must be [${T}] or [${B}, ${T}]`);
      return p.device === this.device ? p.clone() : p.to(this.device);
    }
    if (!opts.segmentIds) {
      const pos = new Int32Array(T);
      for (let t = 0; t < T; t++) pos[t] = t;
      return Tensor.fromArray(pos, [T], { device: this.device });
    }
    const seg = opts.segmentIds.toArray();
    const pos = new Int32Array(B * T);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        pos[i] = t > 0 && seg[i] === seg[i - 1] ? pos[i - 1] + 1 : 0;
      }
    return Tensor.fromArray(pos, [B, T], { device: this.device });
  }

  private releaseCache(): void {
    const c = this.cache;
    if (!c) return;
    for (const l of c.layers) for (const t of Object.values(l)) t.dispose();
    for (const t of [c.ids, c.positions, c.xFinal, c.hf, c.rf, c.dlogits, c.segmentIds]) t?.dispose();
    if (c.lp) for (const t of [c.lp.targets, c.lp.lse, c.lp.entropy]) t.dispose();
    this.cache = null;
  }

  /**
   * Runs the decoder on ids (i32 [B, T]) and returns the logits (f32 [B, T, V]; the caller disposes
   * them). The activations are kept for backward() until the next forward or dispose().
   */
  forward(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    const cache = this.forwardHidden(ids, opts);
    const logits = gemm(cache.hf, this.w(this.lmHeadName()), { transB: true });
    const shaped = logits.reshape([cache.B, cache.T, this.config.vocabSize]);
    logits.dispose();
    return shaped;
  }

  /** The decoder up to the final norm: fills this.cache (hf is the final normalised hidden state). */
  private forwardHidden(ids: Tensor, opts: ForwardOptions): ForwardCache {
    const cfg = this.config;
    if (!(ids instanceof Tensor)) throw new TypeError('LlamaModel.forward: ids must be a Tensor');
    if (ids.dtype !== 'i32' || ids.ndim !== 2)
      throw new TypeError(`LlamaModel.forward: ids must be i32 [B, T], got ${ids.dtype} ${shapeStr(ids.shape)}`);
    const [B, T] = ids.shape;
    if (T > cfg.maxPositionEmbeddings)
      throw new RangeError(`LlamaModel.forward: sequence length ${T} exceeds max_position_embeddings ${cfg.maxPositionEmbeddings}`);
    const seg = opts.segmentIds;
    if (seg && (seg.dtype !== 'i32' || seg.ndim !== 2 || seg.shape[0] !== B || seg.shape[1] !== T))
      throw new RangeError(`LlamaModel.forward: segmentIds ${seg.dtype} ${shapeStr(seg.shape)} must be i32 [${B}, ${T}]`);
    this.releaseCache();
    const N = B * T;
    const { numAttentionHeads: Hq, numKeyValueHeads: Hkv, headDim: Dh, rmsNormEps: eps, ropeTheta: theta } = cfg;
    const dev = (t: Tensor): Tensor => (t.device === this.device ? t.clone() : t.to(this.device));
    const cache: ForwardCache = {
      B,
      T,
      ids: dev(ids),
      positions: this.positionsFor(B, T, opts),
      segmentIds: seg ? dev(seg) : undefined,
      layers: [],
      xFinal: undefined as unknown as Tensor,
      hf: undefined as unknown as Tensor,
      rf: undefined as unknown as Tensor,
    };
    this.cache = cache;
    const attnOpts = { causal: true, segmentIds: cache.segmentIds };

    const idsFlat = cache.ids.reshape([N]);
    let x = embedding(idsFlat, this.param('model.embed_tokens.weight'));
    idsFlat.dispose();
    if (x.dtype !== 'f32') x = this.castF32(x);
    for (let l = 0; l < cfg.numHiddenLayers; l++) {
      const p = `model.layers.${l}.`;
      const n1 = rmsnorm(x, this.param(p + 'input_layernorm.weight'), eps);
      const h1 = this.toCompute(n1.y);
      const bias = (n: string): string | undefined => (cfg.attentionBias ? p + `self_attn.${n}.bias` : undefined);
      const qLin = this.linear(h1, p + 'self_attn.q_proj', bias('q_proj'));
      const kLin = this.linear(h1, p + 'self_attn.k_proj', bias('k_proj'));
      const vLin = this.linear(h1, p + 'self_attn.v_proj', bias('v_proj'));
      const q = this.toCompute(this.ropeOf(qLin, [B, T, Hq, Dh], cache.positions, theta));
      const k = this.toCompute(this.ropeOf(kLin, [B, T, Hkv, Dh], cache.positions, theta));
      const v = this.toCompute(this.view(vLin, [B, T, Hkv, Dh]));
      const { out: a, lse } = attention(q, k, v, attnOpts);
      const aFlat = a.reshape([N, Hq * Dh]);
      const o = this.linear(aFlat, p + 'self_attn.o_proj');
      aFlat.dispose();
      const xMid = add(x, o);
      o.dispose();
      const n2 = rmsnorm(xMid, this.param(p + 'post_attention_layernorm.weight'), eps);
      const h2 = this.toCompute(n2.y);
      const g = this.linear(h2, p + 'mlp.gate_proj');
      const u = this.linear(h2, p + 'mlp.up_proj');
      const s = this.toCompute(swiglu(g, u));
      const d = this.linear(s, p + 'mlp.down_proj');
      const xNext = add(xMid, d);
      d.dispose();
      cache.layers.push({ x, h1, r1: n1.rstd, q, k, v, a, lse, xMid, h2, r2: n2.rstd, g, u, s });
      x = xNext;
    }
    const nf = rmsnorm(x, this.param('model.norm.weight'), eps);
    cache.xFinal = x;
    cache.hf = this.toCompute(nf.y);
    cache.rf = nf.rstd;
    return cache;
  }

  /**
   * Per-token log-probs of targets (i32 [B, T]; targets[b, t] is the token scored after ids[b, t],
   * ignoreIndex where nothing is scored) and the softmax entropies, from the final hidden state with the
   * fused chunked linearLogprob: the [B, T, V] logits are never stored. Unless noGrad, keeps what
   * backwardLogprobs() needs (until the next forward). The caller disposes the returned tensors.
   */
  logprobs(ids: Tensor, targets: Tensor, opts: LogprobOptions = {}): LogprobResult {
    if (!(targets instanceof Tensor) || targets.dtype !== 'i32' || targets.ndim !== 2 || !(ids instanceof Tensor) ||
        targets.shape[0] !== ids.shape[0] || targets.shape[1] !== ids.shape[1])
      throw new RangeError(
        `LlamaModel.logprobs: targets ${targets instanceof Tensor ? `${targets.dtype} ${shapeStr(targets.shape)}` : typeof targets} must be i32 ${ids instanceof Tensor ? shapeStr(ids.shape) : '[B, T]'} like ids`,
      );
    const cache = this.forwardHidden(ids, opts);
    const N = cache.B * cache.T;
    const temperature = opts.temperature ?? 1;
    const ignoreIndex = opts.ignoreIndex ?? -100;
    const tg = targets.device === this.device ? targets.reshape([N]) : targets.to(this.device).reshape([N]);
    let r;
    try {
      r = linearLogprob(cache.hf, this.w(this.lmHeadName()), tg, { temperature, ignoreIndex, chunkSize: opts.chunkSize });
    } catch (e) {
      tg.dispose();
      this.releaseCache();
      throw e;
    }
    const shape = [cache.B, cache.T];
    const logp = r.logp.reshape(shape);
    const entropy = r.entropy.reshape(shape);
    r.logp.dispose();
    if (opts.noGrad) {
      tg.dispose();
      r.lse.dispose();
      r.entropy.dispose();
      this.releaseCache();
      return { logp, entropy };
    }
    cache.lp = { targets: tg, lse: r.lse, entropy: r.entropy, temperature, ignoreIndex, chunkSize: opts.chunkSize };
    return { logp, entropy };
  }

  /**
   * Back-propagates dlogp (f32 [B, T]: d loss / d logp of the last logprobs() call) into this.grads,
   * accumulating like backward().
   */
  backwardLogprobs(dlogp: Tensor): void {
    const c = this.cache;
    if (!c || !c.lp) throw new Error('LlamaModel.backwardLogprobs: call logprobs() (without noGrad) first');
    if (!(dlogp instanceof Tensor) || dlogp.dtype !== 'f32' || dlogp.ndim !== 2 || dlogp.shape[0] !== c.B || dlogp.shape[1] !== c.T)
      throw new RangeError(
        `LlamaModel.backwardLogprobs: dlogp ${dlogp instanceof Tensor ? `${dlogp.dtype} ${shapeStr(dlogp.shape)}` : typeof dlogp} must be f32 [${c.B}, ${c.T}]`,
      );
    const lp = c.lp;
    c.lp = undefined;
    const N = c.B * c.T;
    const d = dlogp.device === this.device ? dlogp.reshape([N]) : dlogp.to(this.device).reshape([N]);
    try {
      const lm = this.lmHeadName();
      const { dhidden } = linearLogprobBackward(c.hf, this.w(lm), lp.targets, { lse: lp.lse, entropy: lp.entropy }, d, {
        temperature: lp.temperature,
        ignoreIndex: lp.ignoreIndex,
        chunkSize: lp.chunkSize,
        dlmHead: this.grad(lm),
      });
      this.backwardFromHidden(dhidden);
    } finally {
      d.dispose();
      for (const t of [lp.targets, lp.lse, lp.entropy]) t.dispose();
    }
  }

  private lmHeadName(): string {
    return this.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  }

  private castF32(t: Tensor): Tensor {
    const f = cast(t, 'f32');
    t.dispose();
    return f;
  }

  /** A reshaped view of t (t itself is released: the view keeps the storage). */
  private view(t: Tensor, shape: number[]): Tensor {
    const v = t.reshape(shape);
    t.dispose();
    return v;
  }

  private ropeOf(t: Tensor, shape: number[], positions: Tensor, theta: number): Tensor {
    const v = this.view(t, shape);
    const r = rope(v, positions, theta);
    v.dispose();
    return r;
  }

  /**
   * Forward plus cross-entropy against labels (i32 [B, T], already shifted: labels[b, t] is the
   * token that should follow ids[b, t]; ignoreIndex entries are not scored). Keeps dlogits for
   * backward().
   */
  loss(ids: Tensor, labels: Tensor, opts: LossOptions = {}): LossResult {
    if (!(labels instanceof Tensor) || labels.dtype !== 'i32' || labels.ndim !== 2 || labels.shape[0] !== ids.shape[0] || labels.shape[1] !== ids.shape[1])
      throw new RangeError(
        `LlamaModel.loss: labels ${labels instanceof Tensor ? `${labels.dtype} ${shapeStr(labels.shape)}` : typeof labels} must be i32 ${shapeStr(ids.shape)}`,
      );
    const logits = this.forward(ids, opts);
    const N = ids.shape[0] * ids.shape[1];
    const flat = logits.reshape([N, this.config.vocabSize]);
    logits.dispose();
    const lab = labels.device === this.device ? labels.reshape([N]) : labels.to(this.device).reshape([N]);
    const ce = crossEntropy(flat, lab, {
      ignoreIndex: opts.ignoreIndex ?? -100,
      inPlace: !opts.noGrad,
      gradScale: opts.gradScale,
      computeGrad: !opts.noGrad,
    });
    lab.dispose();
    this.cache!.dlogits = ce.dlogits;
    if (ce.dlogits !== flat) flat.dispose();
    if (opts.noGrad) this.releaseCache();
    const loss = ce.loss.item();
    const count = ce.count.item();
    ce.loss.dispose();
    ce.count.dispose();
    ce.losses.dispose();
    return { loss, count };
  }

  /** dW += dYᵀ @ X, into the f32 gradient of `name`. */
  private accumulateWeightGrad(name: string, dy: Tensor, x: Tensor): void {
    gemm(dy, x, { transA: true, c: this.grad(name), beta: 1 });
  }

  /** db += column sums of dy. */
  private accumulateBiasGrad(name: string, dy: Tensor): void {
    const rows = dy.shape[0];
    const ones = Tensor.full([1, rows], 1, { dtype: dy.dtype, device: this.device });
    const g = this.grad(name);
    const gv = g.reshape([1, g.size]);
    gemm(ones, dy, { c: gv, beta: 1 });
    gv.dispose();
    ones.dispose();
  }

  /**
   * Back-propagates the gradient of the last loss() into this.grads (accumulating, so several
   * micro-batches can be summed before an optimizer step).
   */
  backward(): void {
    const c = this.cache;
    if (!c || !c.dlogits) throw new Error('LlamaModel.backward: call loss() first (backward needs its dlogits)');
    const lm = this.lmHeadName();

    const dlogits = this.toCompute(c.dlogits);
    c.dlogits = undefined;
    this.accumulateWeightGrad(lm, dlogits, c.hf);
    const dhf = gemm(dlogits, this.w(lm));
    dlogits.dispose();
    this.backwardFromHidden(dhf);
  }

  /** Back-propagates d loss / d hf (f32 [N, D], disposed here) through the final norm and the layers. */
  private backwardFromHidden(dhf: Tensor): void {
    const c = this.cache!;
    const cfg = this.config;
    const N = c.B * c.T;
    const { numAttentionHeads: Hq, numKeyValueHeads: Hkv, headDim: Dh, ropeTheta: theta } = cfg;
    const attnOpts = { causal: true, segmentIds: c.segmentIds };
    let dres = rmsnormBackward(dhf, c.xFinal, this.param('model.norm.weight'), c.rf, {
      dweight: this.grad('model.norm.weight'),
    }).dx;
    dhf.dispose();

    for (let l = cfg.numHiddenLayers - 1; l >= 0; l--) {
      const p = `model.layers.${l}.`;
      const L = c.layers[l];
      // MLP block: xNext = xMid + down(swiglu(gate(h2), up(h2)))
      const dd = this.toCompute(dres.clone());
      this.accumulateWeightGrad(p + 'mlp.down_proj.weight', dd, L.s);
      const ds = gemm(dd, this.w(p + 'mlp.down_proj.weight'));
      dd.dispose();
      const { dgate, dup } = swigluBackward(ds, L.g, L.u);
      ds.dispose();
      const dg = this.toCompute(dgate);
      const du = this.toCompute(dup);
      this.accumulateWeightGrad(p + 'mlp.gate_proj.weight', dg, L.h2);
      this.accumulateWeightGrad(p + 'mlp.up_proj.weight', du, L.h2);
      const dh2 = gemm(dg, this.w(p + 'mlp.gate_proj.weight'));
      gemm(du, this.w(p + 'mlp.up_proj.weight'), { c: dh2, beta: 1 });
      dg.dispose();
      du.dispose();
      const dxm = rmsnormBackward(dh2, L.xMid, this.param(p + 'post_attention_layernorm.weight'), L.r2, {
        dweight: this.grad(p + 'post_attention_layernorm.weight'),
      }).dx;
      dh2.dispose();
      const dmid = add(dres, dxm);
      dres.dispose();
      dxm.dispose();

      // Attention block: xMid = x + o_proj(attention(rope(q(h1)), rope(k(h1)), v(h1)))
      const dO = this.toCompute(dmid.clone());
      const aFlat = L.a.reshape([N, Hq * Dh]);
      this.accumulateWeightGrad(p + 'self_attn.o_proj.weight', dO, aFlat);
      aFlat.dispose();
      const daFlat = gemm(dO, this.w(p + 'self_attn.o_proj.weight'));
      dO.dispose();
      const da = this.toCompute(this.view(daFlat, [c.B, c.T, Hq, Dh]));
      const { dq, dk, dv } = attentionBackward(da, L.q, L.k, L.v, L.a, L.lse, attnOpts);
      da.dispose();
      const dqPre = rope(dq, c.positions, theta, { inverse: true });
      const dkPre = rope(dk, c.positions, theta, { inverse: true });
      dq.dispose();
      dk.dispose();
      const proj: [string, Tensor][] = [
        ['q_proj', this.view(dqPre, [N, Hq * Dh])],
        ['k_proj', this.view(dkPre, [N, Hkv * Dh])],
        ['v_proj', this.view(dv, [N, Hkv * Dh])],
      ];
      let dh1: Tensor | undefined;
      for (const [n, dyRaw] of proj) {
        const dy = this.toCompute(dyRaw);
        this.accumulateWeightGrad(p + `self_attn.${n}.weight`, dy, L.h1);
        if (cfg.attentionBias) this.accumulateBiasGrad(p + `self_attn.${n}.bias`, dy);
        if (!dh1) dh1 = gemm(dy, this.w(p + `self_attn.${n}.weight`));
        else gemm(dy, this.w(p + `self_attn.${n}.weight`), { c: dh1, beta: 1 });
        dy.dispose();
      }
      const dxl = rmsnormBackward(dh1!, L.x, this.param(p + 'input_layernorm.weight'), L.r1, {
        dweight: this.grad(p + 'input_layernorm.weight'),
      }).dx;
      dh1!.dispose();
      dres = add(dmid, dxl);
      dmid.dispose();
      dxl.dispose();
    }
    const ids = c.ids.reshape([N]);
    embeddingBackward(dres, ids, this.grad('model.embed_tokens.weight'));
    ids.dispose();
    dres.dispose();
  }

  // ---------------------------------------------------------------------------------------------
  // Inference: KV cache, prefill and incremental decoding. These never touch the training
  // activations kept for backward(), and allocate nothing that outlives the call except the returned
  // logits (and the bf16 compute copies of the weights, as forward does).

  /**
   * A KV cache for `batch` sequences of up to `maxLen` tokens (at most max_position_embeddings): per
   * layer, k and v of shape [batch, maxLen, numKeyValueHeads, headDim] in the compute dtype on the
   * model's device. Dispose it when done.
   */
  createCache(batch: number, maxLen: number): KVCache {
    const cfg = this.config;
    if (!Number.isInteger(maxLen) || maxLen < 1 || maxLen > cfg.maxPositionEmbeddings)
      throw new RangeError(
        `LlamaModel.createCache: maxLen must be an integer in [1, ${cfg.maxPositionEmbeddings}] (max_position_embeddings), got ${maxLen}`,
      );
    return new KVCache({
      batch, maxLen, numLayers: cfg.numHiddenLayers, numKvHeads: cfg.numKeyValueHeads, headDim: cfg.headDim,
      dtype: this.computeDtype, device: this.device,
    });
  }

  private checkCache(op: string, cache: KVCache): void {
    const cfg = this.config;
    if (!(cache instanceof KVCache)) throw new TypeError(`${op}: cache must be a KVCache (model.createCache)`);
    if (cache.disposed) throw new Error(`${op}: the cache was disposed`);
    if (cache.numLayers !== cfg.numHiddenLayers || cache.numKvHeads !== cfg.numKeyValueHeads ||
        cache.headDim !== cfg.headDim || cache.dtype !== this.computeDtype || cache.device !== this.device)
      throw new Error(`${op}: the cache was not made by this model (createCache)`);
  }

  /** Host row map: `rows` (distinct, in [0, batch)) or 0 .. n-1. */
  private rowMap(op: string, rows: ArrayLike<number> | undefined, n: number, cache: KVCache): Int32Array {
    const out = new Int32Array(n);
    if (rows === undefined) {
      if (n > cache.batch) throw new RangeError(`${op}: ${n} rows but the cache holds ${cache.batch}`);
      for (let i = 0; i < n; i++) out[i] = i;
      return out;
    }
    if (rows.length !== n) throw new RangeError(`${op}: rows has ${rows.length} entries, expected ${n}`);
    const seen = new Uint8Array(cache.batch);
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      if (!Number.isInteger(r) || r < 0 || r >= cache.batch)
        throw new RangeError(`${op}: rows[${i}] = ${r} is outside the cache batch [0, ${cache.batch})`);
      if (seen[r]) throw new RangeError(`${op}: cache row ${r} appears twice in rows`);
      seen[r] = 1;
      out[i] = r;
    }
    return out;
  }

  /** Creates the bf16 weight copies up front, so that tidy scopes never own (and free) them. */
  private warmComputeCopies(): void {
    if (this.computeDtype === 'f32') return;
    for (const [name, p] of this.params)
      if (p.ndim === 2 && (name !== 'model.embed_tokens.weight' || this.config.tieWordEmbeddings)) this.w(name);
  }

  /**
   * The decoder blocks for inference: x (f32 [B*T, D], consumed) → f32 [B*T, D]. `attend` gets the
   * layer's rotated q [B, T, Hq, Dh], k, v [B, T, Hkv, Dh] (compute dtype) and returns the attention
   * output [B, T, Hq, Dh]; everything else a layer allocates is freed before the next one.
   */
  private inferBlocks(
    x: Tensor, B: number, T: number, positions: Tensor,
    attend: (layer: number, q: Tensor, k: Tensor, v: Tensor) => Tensor,
  ): Tensor {
    const cfg = this.config;
    const N = B * T;
    const { numAttentionHeads: Hq, numKeyValueHeads: Hkv, headDim: Dh, rmsNormEps: eps, ropeTheta: theta } = cfg;
    for (let l = 0; l < cfg.numHiddenLayers; l++) {
      const p = `model.layers.${l}.`;
      const xIn = x;
      x = tidy(() => {
        const h1 = this.toCompute(rmsnorm(xIn, this.param(p + 'input_layernorm.weight'), eps).y);
        const bias = (n: string): string | undefined => (cfg.attentionBias ? p + `self_attn.${n}.bias` : undefined);
        const q = this.toCompute(this.ropeOf(this.linear(h1, p + 'self_attn.q_proj', bias('q_proj')), [B, T, Hq, Dh], positions, theta));
        const k = this.toCompute(this.ropeOf(this.linear(h1, p + 'self_attn.k_proj', bias('k_proj')), [B, T, Hkv, Dh], positions, theta));
        const v = this.toCompute(this.view(this.linear(h1, p + 'self_attn.v_proj', bias('v_proj')), [B, T, Hkv, Dh]));
        const a = attend(l, q, k, v);
        const o = this.linear(a.reshape([N, Hq * Dh]), p + 'self_attn.o_proj');
        const xMid = add(xIn, o);
        const h2 = this.toCompute(rmsnorm(xMid, this.param(p + 'post_attention_layernorm.weight'), eps).y);
        const s = this.toCompute(swiglu(this.linear(h2, p + 'mlp.gate_proj'), this.linear(h2, p + 'mlp.up_proj')));
        return add(xMid, this.linear(s, p + 'mlp.down_proj'));
      });
      xIn.dispose();
    }
    return x;
  }

  /** Final norm and LM head: x f32 [R, D] → logits f32 [R, V]. */
  private logitsOf(x: Tensor): Tensor {
    return tidy(() => {
      const h = this.toCompute(rmsnorm(x, this.param('model.norm.weight'), this.config.rmsNormEps).y);
      return gemm(h, this.w(this.lmHeadName()), { transB: true });
    });
  }

  /**
   * Runs the prompts ids (i32 [B, T]) through the model, writes their keys and values into cache rows
   * `rows` (default 0 .. B-1) starting at position 0 — any earlier content of those rows is replaced —
   * and returns the logits of each row's last real token (f32 [B, V]).
   *
   * Padding: with `lengths` (right padding) or `attentionMask` (any padding, HF semantics), each row's
   * real tokens are moved to the front (positions 0 .. len-1), the batch is run right-padded to the
   * longest prompt, and causal attention keeps every real token from seeing the padding after it. The
   * padded positions' k/v land in the cache beyond the row's length, where decodeStep overwrites them
   * before they are ever attended. So every row's cache starts at 0 whatever the padding.
   */
  prefill(ids: Tensor, cache: KVCache, opts: PrefillOptions = {}): Tensor {
    const op = 'LlamaModel.prefill';
    const cfg = this.config;
    this.checkCache(op, cache);
    if (!(ids instanceof Tensor)) throw new TypeError(`${op}: ids must be a Tensor`);
    if (ids.dtype !== 'i32' || ids.ndim !== 2)
      throw new TypeError(`${op}: ids must be i32 [B, T], got ${ids.dtype} ${shapeStr(ids.shape)}`);
    const [B, T] = ids.shape;
    if (B < 1 || T < 1) throw new RangeError(`${op}: ids ${shapeStr(ids.shape)} is empty`);
    if (opts.lengths !== undefined && opts.attentionMask !== undefined)
      throw new Error(`${op}: give lengths or attentionMask, not both`);
    const rows = this.rowMap(op, opts.rows, B, cache);
    const all = ids.toArray() as Int32Array;
    // Each row's real tokens, in order.
    const prompts: Int32Array[] = [];
    if (opts.attentionMask !== undefined) {
      const m = opts.attentionMask instanceof Tensor ? opts.attentionMask.toArray() : opts.attentionMask;
      if (m.length !== B * T)
        throw new RangeError(`${op}: attentionMask has ${m.length} values, ids ${shapeStr(ids.shape)} needs ${B * T}`);
      for (let b = 0; b < B; b++) {
        const keep: number[] = [];
        for (let t = 0; t < T; t++) if (m[b * T + t] !== 0) keep.push(all[b * T + t]);
        prompts.push(Int32Array.from(keep));
      }
    } else if (opts.lengths !== undefined) {
      if (opts.lengths.length !== B) throw new RangeError(`${op}: lengths has ${opts.lengths.length} entries, expected ${B}`);
      for (let b = 0; b < B; b++) {
        const L = opts.lengths[b];
        if (!Number.isInteger(L) || L < 0 || L > T) throw new RangeError(`${op}: lengths[${b}] = ${L} is outside [0, ${T}]`);
        prompts.push(all.subarray(b * T, b * T + L));
      }
    } else {
      for (let b = 0; b < B; b++) prompts.push(all.subarray(b * T, (b + 1) * T));
    }
    const lens = prompts.map((p) => p.length);
    lens.forEach((L, b) => {
      if (L === 0) throw new RangeError(`${op}: row ${b} has no tokens`);
      if (L > cfg.maxPositionEmbeddings)
        throw new RangeError(`${op}: row ${b} has ${L} tokens, more than max_position_embeddings ${cfg.maxPositionEmbeddings}`);
      if (L > cache.maxLen) throw new RangeError(`${op}: row ${b} has ${L} tokens, more than the cache length ${cache.maxLen}`);
    });
    const Tm = Math.max(...lens);
    const packed = new Int32Array(B * Tm); // right-padded with token 0 (never attended by real tokens)
    prompts.forEach((p, b) => {
      for (let t = 0; t < p.length; t++) {
        const id = p[t];
        if (id < 0 || id >= cfg.vocabSize)
          throw new RangeError(`${op}: token id ${id} (row ${b}) is outside the vocabulary (${cfg.vocabSize})`);
      }
      packed.set(p, b * Tm);
    });
    this.warmComputeCopies();
    const dev = this.device;
    const logits = tidy(() => {
      const pos = Tensor.fromArray(Int32Array.from({ length: Tm }, (_, t) => t), [Tm], { dtype: 'i32', device: dev });
      const zeros = Tensor.zeros([B], { dtype: 'i32', device: dev });
      const rowsT = Tensor.fromArray(rows, [B], { dtype: 'i32', device: dev });
      const x0 = embedding(Tensor.fromArray(packed, [B * Tm], { dtype: 'i32', device: dev }), this.param('model.embed_tokens.weight'));
      const x = this.inferBlocks(x0.dtype === 'f32' ? x0 : this.castF32(x0), B, Tm, pos, (l, q, k, v) => {
        kvCacheWrite(cache.k[l], k, zeros, { rows: rowsT });
        kvCacheWrite(cache.v[l], v, zeros, { rows: rowsT });
        return attention(q, k, v, { causal: true }).out;
      });
      const last = Tensor.fromArray(Int32Array.from(lens, (L, b) => b * Tm + L - 1), [B], { dtype: 'i32', device: dev });
      return this.logitsOf(embedding(last, x));
    });
    rows.forEach((r, b) => (cache.lengths[r] = lens[b]));
    return logits;
  }

  /**
   * One decoding step for the cache rows `rows` (default 0 .. B'-1; finished rows are simply left
   * out): feeds tokens[i] (i32 [B'] tensor or host ids) at position cache.lengths[rows[i]], appends its
   * k/v to the cache and returns the next-token logits (f32 [B', V]). The lengths advance by one.
   */
  decodeStep(tokens: Tensor | ArrayLike<number>, cache: KVCache, rows?: ArrayLike<number>): Tensor {
    const op = 'LlamaModel.decodeStep';
    const cfg = this.config;
    this.checkCache(op, cache);
    let n: number;
    if (tokens instanceof Tensor) {
      if (tokens.dtype !== 'i32' || tokens.ndim !== 1)
        throw new TypeError(`${op}: tokens must be i32 [B], got ${tokens.dtype} ${shapeStr(tokens.shape)}`);
      n = tokens.shape[0];
    } else {
      if (tokens == null || typeof tokens.length !== 'number') throw new TypeError(`${op}: tokens must be a Tensor or an array of ids`);
      n = tokens.length;
      for (let i = 0; i < n; i++)
        if (!Number.isInteger(tokens[i]) || tokens[i] < 0 || tokens[i] >= cfg.vocabSize)
          throw new RangeError(`${op}: tokens[${i}] = ${tokens[i]} is outside the vocabulary (${cfg.vocabSize})`);
    }
    if (n < 1) throw new RangeError(`${op}: no rows to decode`);
    const map = this.rowMap(op, rows, n, cache);
    const pos = Int32Array.from(map, (r) => cache.lengths[r]);
    pos.forEach((p, i) => {
      if (p >= cache.maxLen)
        throw new RangeError(`${op}: cache row ${map[i]} is full (${cache.maxLen} tokens, the cache length)`);
    });
    this.warmComputeCopies();
    const dev = this.device;
    const { numAttentionHeads: Hq, headDim: Dh } = cfg;
    const logits = tidy(() => {
      const tok = tokens instanceof Tensor
        ? (tokens.device === dev ? tokens : tokens.to(dev))
        : Tensor.fromArray(Int32Array.from(tokens), [n], { dtype: 'i32', device: dev });
      const posT = Tensor.fromArray(pos, [n, 1], { dtype: 'i32', device: dev });
      const start = posT.reshape([n]);
      const lengths = Tensor.fromArray(pos.map((p) => p + 1), [n], { dtype: 'i32', device: dev });
      const rowsT = Tensor.fromArray(map, [n], { dtype: 'i32', device: dev });
      const x0 = embedding(tok, this.param('model.embed_tokens.weight'));
      const x = this.inferBlocks(x0.dtype === 'f32' ? x0 : this.castF32(x0), n, 1, posT, (l, q, k, v) => {
        kvCacheWrite(cache.k[l], k, start, { rows: rowsT });
        kvCacheWrite(cache.v[l], v, start, { rows: rowsT });
        const a = attentionDecode(q.reshape([n, Hq, Dh]), cache.k[l], cache.v[l], lengths, { rows: rowsT });
        return a.reshape([n, 1, Hq, Dh]);
      });
      return this.logitsOf(x);
    });
    map.forEach((r) => (cache.lengths[r] += 1));
    return logits;
  }

  /** Total number of parameters. */
  numParameters(): number {
    let n = 0;
    for (const p of this.params.values()) n += p.size;
    return n;
  }

  /** Frees the weights, gradients, compute copies and activations. */
  dispose(): void {
    this.releaseCache();
    this.paramsChanged();
    for (const t of this.params.values()) t.dispose();
    for (const t of this.grads.values()) t.dispose();
    this.params.clear();
    this.grads.clear();
  }
}

export type { DType };
