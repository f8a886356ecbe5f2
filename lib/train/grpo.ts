// GRPOTrainer: Group Relative Policy Optimization (DeepSeekMath §4) with the semantics and config
// vocabulary of TRL's GRPOTrainer. Each step takes `promptsPerStep` prompts, samples `numGenerations`
// (G) completions of each from the current policy (the "old" policy), scores them with weighted reward
// functions, turns the rewards into group-relative advantages (groupAdvantages), and then takes
// `numIterations` (μ) optimizer steps on the clipped-ratio objective plus β·KL to a frozen reference
// model (grpoLoss), the per-token log-probs coming from the fused linearLogprob on the policy's final
// hidden state (LlamaModel.logprobs). The old-policy log-probs are computed once per step and reused by
// the μ iterations (with μ = 1 the ratio is exactly 1 and they are not computed, as TRL); the
// reference model is a frozen copy of the initial policy (none when beta = 0), optionally reset to the
// policy every refModelSyncSteps steps (the paper's iterative GRPO).
//
// Rollouts go through a RolloutEngine; the default (forwardRolloutEngine) re-runs the model on the
// growing sequences each token (no KV cache), which is correct and fine for small models.
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { Device, Tensor } from '../tensor';
import { LlamaModel } from '../model/llama';
import { LlamaConfig, toHFConfig } from '../model/config';
import { AdamW } from '../optim/adamw';
import { add, scale } from '../ops/elementwise';
import { sample } from '../ops/sample';
import { groupAdvantages, ScaleRewards } from '../ops/grpoAdvantages';
import { GrpoLossType, grpoLoss, grpoMetrics } from '../ops/grpoLoss';
import { cachedRolloutEngine } from './rollout';
import type { ChatMessage, Tokenizer } from '../tokenizer';
import { Rng, RngState } from '../util/rng';
import { linePlotSvg } from '../util/plot';
import { lrAt } from './schedule';
import { checkDevice, configChecks, configRecord, nonNegative, outputFile, positive, requireOutDir } from './config-check';
import {
  latestCheckpoint, loadModelDir, readTrainerState, restoreWeights, saveTrainingCheckpoint, writeFileAtomic,
} from './checkpoint';
import { loadSafetensors } from '../io/safetensors';
import { NamedReward, RewardFunction, isCorrect, resolveRewards } from './rewards';

// ---------------------------------------------------------------------------------------------------
// Rollouts

export interface RolloutOptions {
  /** Most new tokens per completion (TRL max_completion_length). */
  maxNewTokens: number;
  /** Sampling temperature (0 = greedy). */
  temperature: number;
  /** Nucleus sampling threshold (1 = off). */
  topP: number;
  /** Top-k (0 = off). */
  topK: number;
  /** One 32-bit seed per completion (prompts.length × G), so each completion is reproducible on its own. */
  seeds: number[];
  /** Generation stops after any of these tokens (the stop token is part of the completion). */
  stopTokenIds: number[];
  /** Id to pad with where a batch needs it. */
  padId: number;
}

export interface RolloutResult {
  /**
   * prompts.length × G completions (the G of prompt i at i·G … i·G + G − 1), token ids without the
   * prompt; a completion that stopped ends with its stop token.
   */
  completions: number[][];
}

/** Samples G completions of each prompt (token ids) from the current policy. */
export type RolloutEngine = (prompts: number[][], G: number, opts: RolloutOptions) => Promise<RolloutResult>;

/**
 * The fallback rollout engine: batched incremental sampling without a KV cache. Every step runs
 * model.forward on the unfinished sequences (right-padded; causal attention keeps the padding from
 * influencing earlier positions), reads each row's last-position logits and draws the next token with
 * the `sample` op (temperature / top-p / top-k, a Philox stream per completion seed at offset = step,
 * so a completion does not depend on which other rows are still running). Cost grows with the square
 * of the length: meant for small models and tests.
 */
export function forwardRolloutEngine(model: LlamaModel): RolloutEngine {
  return async (prompts, G, opts) => {
    const R = prompts.length * G;
    if (opts.seeds.length !== R) throw new Error(`rollout: ${opts.seeds.length} seeds for ${R} completions`);
    const V = model.config.vocabSize;
    const maxPos = model.config.maxPositionEmbeddings;
    const stop = new Set(opts.stopTokenIds);
    const seqs: number[][] = [];
    const completions: number[][] = [];
    for (const p of prompts) {
      if (p.length === 0) throw new Error('rollout: a prompt has no tokens');
      if (p.length + opts.maxNewTokens > maxPos)
        throw new Error(`rollout: prompt of ${p.length} tokens + ${opts.maxNewTokens} new ones exceeds max_position_embeddings ${maxPos}`);
      for (let g = 0; g < G; g++) {
        seqs.push(p.slice());
        completions.push([]);
      }
    }
    let active = seqs.map((_, i) => i);
    for (let t = 0; t < opts.maxNewTokens && active.length > 0; t++) {
      const A = active.length;
      const L = Math.max(...active.map((r) => seqs[r].length));
      const ids = new Int32Array(A * L).fill(opts.padId);
      active.forEach((r, a) => ids.set(seqs[r], a * L));
      const idsT = Tensor.fromArray(ids, [A, L], { dtype: 'i32', device: model.device });
      let host: Float32Array;
      try {
        const logits = model.forward(idsT);
        host = logits.toArray() as Float32Array;
        logits.dispose();
      } finally {
        idsT.dispose();
      }
      const last = new Float32Array(A * V);
      active.forEach((r, a) => {
        const off = (a * L + seqs[r].length - 1) * V;
        last.set(host.subarray(off, off + V), a * V);
      });
      const lt = Tensor.fromArray(last, [A, V], { device: model.device });
      let toks: Int32Array;
      try {
        const s = sample(lt, {
          temperature: opts.temperature,
          topP: opts.topP,
          topK: opts.topK,
          seeds: active.map((r) => opts.seeds[r]),
          offset: t,
        });
        toks = s.tokens.toArray() as Int32Array;
        s.tokens.dispose();
        s.logprobs.dispose();
      } finally {
        lt.dispose();
      }
      const next: number[] = [];
      active.forEach((r, a) => {
        const tok = toks[a];
        if (tok < 0) throw new Error(`rollout: the logits of completion ${r} are not finite (NaN/inf)`);
        seqs[r].push(tok);
        completions[r].push(tok);
        if (!stop.has(tok)) next.push(r);
      });
      active = next;
      await new Promise<void>((res) => setImmediate(res));
    }
    return { completions };
  };
}

// ---------------------------------------------------------------------------------------------------
// Config

/** A training prompt: text (encoded as is) or a conversation (rendered with the chat template and a
 * generation prompt); every other field is passed to the reward functions in `extra` (e.g. answer). */
export interface GRPOExample {
  prompt: string | ChatMessage[];
  [column: string]: unknown;
}

export interface GRPOStepMetrics {
  /** GRPO steps done (1 after the first). */
  step: number;
  /** Weighted sum of the rewards: mean and (population) std over the step's completions. */
  reward: number;
  rewardStd: number;
  /** Per reward function: mean and std of its (unweighted) rewards, NaN/null excluded. */
  rewards: Record<string, { mean: number; std: number }>;
  /** Fraction of completions whose final answer matches extra.answer (when the data has answers). */
  accuracy?: number;
  /** Fraction of groups whose G rewards are all equal (their advantages are 0). */
  zeroStdFraction: number;
  /** Mean loss over the μ iterations. */
  loss: number;
  /** Mean k3 KL to the reference model over completion tokens (first iteration; absent when beta = 0). */
  kl?: number;
  /** Clipped token fractions (TRL clip_ratio/low_mean, high_mean, region_mean), mean over iterations. */
  clipRatioLow: number;
  clipRatioHigh: number;
  clipRatio: number;
  /** Mean policy entropy over the completion tokens (nats, first iteration). */
  entropy: number;
  completionLength: number;
  completionLengthMax: number;
  completionLengthMin: number;
  /** Fraction of completions that hit max_completion_length without a stop token. */
  truncatedFraction: number;
  lr: number;
  /** Global gradient norm before clipping, mean over the μ iterations (when clipping is on). */
  gradNorm?: number;
  /** Per iteration: loss, ratio mean and clip fraction (iteration 1 has ratio 1 unless the data is stale). */
  iterations: { loss: number; ratioMean: number; ratioMin: number; ratioMax: number; clipRatio: number; kl?: number }[];
  /** Completion tokens generated per second during the rollouts. */
  generationTokensPerSecond: number;
  /** Prompt + completion tokens of the step (all μ iterations) per second of the whole step. */
  tokensPerSecond: number;
  /** Seconds spent in this step, and in training so far (across resumes). */
  stepSeconds: number;
  elapsed: number;
  epoch: number;
}

export interface GRPOCheckpointInfo {
  step: number;
  dir: string;
}

export interface GRPOCallbacks {
  onStep?: (m: GRPOStepMetrics) => void;
  onCheckpoint?: (c: GRPOCheckpointInfo) => void;
  /** Every step's completions (after the rewards), e.g. to log samples. */
  onCompletions?: (r: { step: number; prompts: string[]; completions: string[]; rewards: number[] }) => void;
}

/** GRPOTrainer's settings, named after TRL's GRPOConfig (camelCase). */
export interface GRPOConfig {
  /** Folder for checkpoints/, metrics.jsonl and reward.svg. */
  outDir: string;
  /** GRPO steps (one generation batch each, μ optimizer steps per generation batch). Default 100. */
  steps?: number;
  /** Prompts per step; the per-device batch is promptsPerStep × numGenerations completions. Default 4. */
  promptsPerStep?: number;
  /** G: completions per prompt (TRL num_generations). Default 8; at least 2. */
  numGenerations?: number;
  /** Completions per forward/backward (gradient accumulation inside a step). Default: the whole batch. */
  microBatchSize?: number;
  /** KL coefficient β. Default 0.04 (DeepSeekMath; TRL's default is 0). 0: no reference model is built. */
  beta?: number;
  /** Lower clip ε (TRL epsilon). Default 0.2. */
  epsilon?: number;
  /** Upper clip (TRL epsilon_high). Default epsilon. */
  epsilonHigh?: number;
  /** Two-sided clipping bound (TRL delta), > 1 + epsilonHigh. Default off. */
  delta?: number;
  /** μ: optimizer steps per generation batch (TRL num_iterations). Default 1. */
  numIterations?: number;
  /** Loss aggregation (TRL loss_type). Default 'grpo' (the paper's per-sequence mean). */
  lossType?: GrpoLossType;
  /** Advantage scaling (TRL scale_rewards). Default 'group'. */
  scaleRewards?: ScaleRewards;
  /**
   * Prompts longer than this keep their last tokens (TRL truncates on the left). Default 512; never more
   * than max_position_embeddings − maxCompletionLength.
   */
  maxPromptLength?: number;
  /** Most tokens per completion. Default 256. */
  maxCompletionLength?: number;
  /** Sampling temperature (also divides the logits when scoring, as TRL). Default 1. */
  temperature?: number;
  topP?: number;
  /** 0 = off (default). */
  topK?: number;
  /** Peak learning rate. Default 1e-6 (TRL). */
  learningRate?: number;
  /** Floor of the cosine decay after warmup. Default learningRate (constant). */
  minLearningRate?: number;
  warmupSteps?: number;
  /** Default 0. */
  weightDecay?: number;
  /** AdamW betas. Default 0.9, 0.999 (TRL). */
  beta1?: number;
  beta2?: number;
  adamEps?: number;
  /** Clip the global gradient norm (default 1; 0 disables). */
  maxGradNorm?: number;
  /** Completions that hit maxCompletionLength without a stop token are left out of the loss. Default false. */
  maskTruncatedCompletions?: boolean;
  /** Iterative RL: move the reference model to the policy every refModelSyncSteps steps (TRL sync_ref_model). */
  syncRefModel?: boolean;
  /** Default 64 (TRL ref_model_sync_steps). */
  refModelSyncSteps?: number;
  /** ref ← α·policy + (1 − α)·ref at a sync. Default 1 (a reset, as DeepSeekMath's iterative GRPO; TRL uses 0.6). */
  refModelMixupAlpha?: number;
  /** Reward functions (TRL reward_funcs), or { name, fn, weight } objects. */
  rewardFuncs: RewardFunction | (RewardFunction | NamedReward)[];
  /** One weight per reward function (TRL reward_weights). Default 1 each. */
  rewardWeights?: number[];
  /** Generates the completions. Default cachedRolloutEngine(policy, tokenizer) (KV cache + the sample kernel). */
  rolloutEngine?: RolloutEngine;
  /** Tokens that end a completion. Default the tokenizer's EOS (and the model config's eos ids). */
  stopTokenIds?: number[];
  /** Checkpoint every N steps and at the end (default 100; 0: only at the end). */
  checkpointEvery?: number;
  /** Checkpoints kept (default 2; 0 keeps all). */
  keepCheckpoints?: number;
  /** Seed of the prompt order and of the sampling. Default 0. */
  seed?: number;
  /** Shuffle the prompts each epoch (default true). */
  shuffle?: boolean;
  resume?: boolean;
  /** Where a model loaded from a folder / created from a config lives (default 'cpu'). */
  device?: Device;
  computeDtype?: 'f32' | 'bf16';
  /** Vocabulary columns per chunk of the fused log-prob (default 8192). */
  logprobChunkSize?: number;
  /** JSONL log (default <outDir>/metrics.jsonl; false: none). */
  logFile?: string | false;
  /** SVG reward curve (default <outDir>/reward.svg; false: none). */
  plotFile?: string | false;
  callbacks?: GRPOCallbacks;
}

export interface GRPOTrainerOptions extends GRPOConfig {
  /** The policy: a LlamaModel (trained in place), a config (fresh init) or a model folder. */
  model: LlamaModel | LlamaConfig | string;
  tokenizer: Tokenizer;
  /** Training prompts. */
  dataset: GRPOExample[];
}

type Resolved = Required<Omit<GRPOConfig,
  'callbacks' | 'rewardFuncs' | 'rewardWeights' | 'rolloutEngine' | 'stopTokenIds' | 'delta' | 'microBatchSize' |
  'logFile' | 'plotFile' | 'computeDtype'>> & {
  delta?: number;
  microBatchSize: number;
  logFile: string | false;
  plotFile: string | false;
  computeDtype?: 'f32' | 'bf16';
};

const LOSS_TYPES: GrpoLossType[] = ['grpo', 'bnpo', 'dapo', 'dr_grpo'];
const SCALES: ScaleRewards[] = ['group', 'batch', 'none'];

function resolveConfig(c: GRPOConfig): Resolved {
  const op = 'GRPOTrainer';
  if (!c || typeof c !== 'object') throw new Error(`${op}: a config object is required`);
  const outDir = requireOutDir(op, c);
  const lr = c.learningRate ?? 1e-6;
  const epsilon = c.epsilon ?? 0.2;
  const P = c.promptsPerStep ?? 4;
  const G = c.numGenerations ?? 8;
  const r: Resolved = {
    outDir,
    steps: c.steps ?? 100,
    promptsPerStep: P,
    numGenerations: G,
    microBatchSize: c.microBatchSize ?? P * G,
    beta: c.beta ?? 0.04,
    epsilon,
    epsilonHigh: c.epsilonHigh ?? epsilon,
    delta: c.delta,
    numIterations: c.numIterations ?? 1,
    lossType: c.lossType ?? 'grpo',
    scaleRewards: c.scaleRewards ?? 'group',
    maxPromptLength: c.maxPromptLength ?? 512,
    maxCompletionLength: c.maxCompletionLength ?? 256,
    temperature: c.temperature ?? 1,
    topP: c.topP ?? 1,
    topK: c.topK ?? 0,
    learningRate: lr,
    minLearningRate: c.minLearningRate ?? lr,
    warmupSteps: c.warmupSteps ?? 0,
    weightDecay: c.weightDecay ?? 0,
    beta1: c.beta1 ?? 0.9,
    beta2: c.beta2 ?? 0.999,
    adamEps: c.adamEps ?? 1e-8,
    maxGradNorm: c.maxGradNorm ?? 1,
    maskTruncatedCompletions: c.maskTruncatedCompletions ?? false,
    syncRefModel: c.syncRefModel ?? false,
    refModelSyncSteps: c.refModelSyncSteps ?? 64,
    refModelMixupAlpha: c.refModelMixupAlpha ?? 1,
    checkpointEvery: c.checkpointEvery ?? 100,
    keepCheckpoints: c.keepCheckpoints ?? 2,
    seed: c.seed ?? 0,
    shuffle: c.shuffle ?? true,
    resume: c.resume ?? false,
    device: c.device ?? 'cpu',
    computeDtype: c.computeDtype,
    logprobChunkSize: c.logprobChunkSize ?? 8192,
    logFile: outputFile(outDir, c.logFile, 'metrics.jsonl'),
    plotFile: outputFile(outDir, c.plotFile, 'reward.svg'),
  };
  const { int, num } = configChecks(op, r);
  int('steps', 1);
  int('promptsPerStep', 1);
  int('numGenerations', 2);
  int('microBatchSize', 1);
  int('numIterations', 1);
  int('maxPromptLength', 1);
  int('maxCompletionLength', 1);
  int('topK', 0);
  int('warmupSteps', 0);
  int('refModelSyncSteps', 1);
  int('checkpointEvery', 0);
  int('keepCheckpoints', 0);
  int('seed', 0);
  int('logprobChunkSize', 1);
  num('beta', nonNegative, '>= 0');
  num('epsilon', nonNegative, '>= 0');
  num('epsilonHigh', nonNegative, '>= 0');
  if (r.delta !== undefined) num('delta', (v) => v > 1 + r.epsilonHigh, `> 1 + epsilonHigh (${1 + r.epsilonHigh})`);
  num('temperature', positive, '> 0 (sampling; the loss divides the logits by it)');
  num('topP', (v) => v > 0 && v <= 1, 'in (0, 1]');
  num('learningRate', positive, '> 0');
  num('minLearningRate', nonNegative, '>= 0');
  num('weightDecay', nonNegative, '>= 0');
  num('beta1', (v) => v >= 0 && v < 1, 'in [0, 1)');
  num('beta2', (v) => v >= 0 && v < 1, 'in [0, 1)');
  num('adamEps', positive, '> 0');
  num('maxGradNorm', nonNegative, '>= 0');
  num('refModelMixupAlpha', (v) => v > 0 && v <= 1, 'in (0, 1]');
  if (!LOSS_TYPES.includes(r.lossType)) throw new RangeError(`${op}: lossType must be one of ${LOSS_TYPES.join(', ')}, got ${String(r.lossType)}`);
  if (!SCALES.includes(r.scaleRewards)) throw new RangeError(`${op}: scaleRewards must be one of ${SCALES.join(', ')}, got ${String(r.scaleRewards)}`);
  checkDevice(op, r.device);
  if (r.syncRefModel && r.beta === 0) throw new RangeError(`${op}: syncRefModel needs a reference model (beta > 0)`);
  return r;
}

/** A 32-bit seed for completion n of GRPO step `step` (murmur-style mixing of the three). */
export function completionSeed(seed: number, step: number, n: number): number {
  let h = (seed >>> 0) ^ 0x9e3779b9;
  for (const v of [step >>> 0, Math.floor(step / 4294967296) >>> 0, n >>> 0]) {
    h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h >>> 0;
}

interface PromptLoaderState {
  epoch: number;
  position: number;
  order: number[];
  rng: RngState;
}

function meanStd(xs: number[]): { mean: number; std: number } {
  const v = xs.filter((x) => Number.isFinite(x));
  if (!v.length) return { mean: NaN, std: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std };
}

interface MicroBatch {
  rows: number[];
  ids: Tensor;
  targets: Tensor;
  mask: Tensor;
  advantages: Tensor;
  maskTokens: number;
  tokens: number;
  oldLogp?: Tensor;
  refLogp?: Tensor;
}

/** GRPO on a LlamaModel policy (see the file comment). Events: 'step', 'checkpoint'. */
export class GRPOTrainer extends EventEmitter {
  readonly config: Resolved;
  readonly model: LlamaModel;
  /** The frozen reference model (undefined when beta = 0). */
  readonly refModel?: LlamaModel;
  readonly tokenizer: Tokenizer;
  readonly optimizer: AdamW;
  readonly rewards: Required<NamedReward>[];
  readonly dataset: GRPOExample[];
  /** GRPO steps done. */
  step = 0;
  readonly history: GRPOStepMetrics[] = [];
  resumedFrom?: string;
  /** Number of forward passes that produced old-policy log-probs (one per micro-batch per step when μ > 1). */
  oldLogpPasses = 0;
  private readonly engine: RolloutEngine;
  private readonly stopIds: number[];
  private readonly padId: number;
  private readonly callbacks: GRPOCallbacks;
  private readonly ownsModel: boolean;
  private loader: PromptLoaderState;
  private stopRequested = false;
  private elapsedBefore = 0;
  private lastCheckpointStep = -1;

  constructor(opts: GRPOTrainerOptions) {
    super();
    if (!opts || typeof opts !== 'object') throw new Error('GRPOTrainer: options are required');
    this.config = resolveConfig(opts);
    const c = this.config;
    this.rewards = resolveRewards(opts.rewardFuncs, opts.rewardWeights);
    if (!opts.tokenizer || typeof (opts.tokenizer as Tokenizer).encode !== 'function')
      throw new Error('GRPOTrainer: tokenizer is required');
    this.tokenizer = opts.tokenizer;
    if (!Array.isArray(opts.dataset) || opts.dataset.length === 0) throw new Error('GRPOTrainer: dataset must be a non-empty array of { prompt, ... }');
    opts.dataset.forEach((ex, i) => {
      const p = ex?.prompt;
      if (typeof p !== 'string' && !Array.isArray(p))
        throw new Error(`GRPOTrainer: dataset[${i}].prompt must be a string or a list of chat messages`);
    });
    this.dataset = opts.dataset;
    this.callbacks = opts.callbacks ?? {};
    const mopts = { device: c.device, computeDtype: c.computeDtype };
    const m = opts.model;
    if (m instanceof LlamaModel) {
      this.model = m;
      this.ownsModel = false;
    } else if (typeof m === 'string') {
      this.model = loadModelDir(m, mopts).model;
      this.ownsModel = true;
    } else if (m && typeof m === 'object') {
      this.model = LlamaModel.init(m, { ...mopts, seed: c.seed });
      this.ownsModel = true;
    } else throw new Error('GRPOTrainer: model must be a LlamaModel, a LlamaConfig or a model folder');
    try {
      const cfg = this.model.config;
      if (this.tokenizer.vocabSize > cfg.vocabSize)
        throw new Error(`GRPOTrainer: the tokenizer has ${this.tokenizer.vocabSize} ids but the model's vocabulary is ${cfg.vocabSize}`);
      if (c.maxCompletionLength >= cfg.maxPositionEmbeddings)
        throw new Error(
          `GRPOTrainer: maxCompletionLength ${c.maxCompletionLength} leaves no room for a prompt in the model's max_position_embeddings ${cfg.maxPositionEmbeddings}`,
        );
      const stop = opts.stopTokenIds ?? [
        ...(this.tokenizer.eosId !== undefined ? [this.tokenizer.eosId] : []),
        ...(cfg.eosTokenId === undefined ? [] : Array.isArray(cfg.eosTokenId) ? cfg.eosTokenId : [cfg.eosTokenId]),
      ];
      for (const s of stop)
        if (!Number.isInteger(s) || s < 0 || s >= cfg.vocabSize) throw new Error(`GRPOTrainer: stop token id ${s} is outside the vocabulary`);
      this.stopIds = [...new Set(stop)];
      if (this.stopIds.length === 0) throw new Error('GRPOTrainer: no stop token: the tokenizer has no eos_token; pass stopTokenIds');
      this.padId = this.tokenizer.padId ?? this.stopIds[0];
      this.engine = opts.rolloutEngine ?? cachedRolloutEngine(this.model, this.tokenizer);
      if (typeof this.engine !== 'function') throw new Error('GRPOTrainer: rolloutEngine must be a function');
      if (c.beta !== 0) this.refModel = this.copyModel(this.model);
      this.optimizer = new AdamW(this.model.params, {
        lr: c.learningRate, beta1: c.beta1, beta2: c.beta2, eps: c.adamEps, weightDecay: c.weightDecay,
      });
    } catch (e) {
      this.refModel?.dispose();
      if (this.ownsModel) this.model.dispose();
      throw e;
    }
    const rng = new Rng(c.seed);
    this.loader = { epoch: 0, position: 0, order: this.orderFor(rng), rng: rng.state() };
  }

  private copyModel(m: LlamaModel): LlamaModel {
    return LlamaModel.fromParams(m.config, m.params, { device: m.device, computeDtype: m.computeDtype });
  }

  private orderFor(rng: Rng): number[] {
    const n = this.dataset.length;
    return this.config.shuffle ? Array.from(rng.permutation(n)) : Array.from({ length: n }, (_, i) => i);
  }

  /** The next promptsPerStep dataset indices (epochs reshuffle). */
  private nextPrompts(): number[] {
    const out: number[] = [];
    while (out.length < this.config.promptsPerStep) {
      if (this.loader.position >= this.loader.order.length) {
        const rng = Rng.fromState(this.loader.rng);
        this.loader = { epoch: this.loader.epoch + 1, position: 0, order: this.orderFor(rng), rng: rng.state() };
      }
      out.push(this.loader.order[this.loader.position++]);
    }
    return out;
  }

  /** Asks train() to stop after the current step (a checkpoint is written). */
  stop(): void {
    this.stopRequested = true;
  }

  lrAt(step: number): number {
    const c = this.config;
    const total = c.steps * c.numIterations;
    return lrAt(step, { lr: c.learningRate, minLr: c.minLearningRate, warmupSteps: c.warmupSteps, totalSteps: total });
  }

  /** Prompt text (as given to the reward functions) and its token ids (left-truncated). */
  encodePrompt(ex: GRPOExample): { text: string; ids: number[] } {
    const tok = this.tokenizer;
    let text: string;
    let ids: number[];
    if (typeof ex.prompt === 'string') {
      text = ex.prompt;
      ids = tok.encode(text);
    } else {
      text = tok.applyChatTemplate(ex.prompt, { addGenerationPrompt: true });
      ids = tok.encodeChat(ex.prompt, { addGenerationPrompt: true });
    }
    if (ids.length === 0) throw new Error(`GRPOTrainer: the prompt ${JSON.stringify(text.slice(0, 40))} encodes to no tokens`);
    const keep = Math.min(this.config.maxPromptLength, this.model.config.maxPositionEmbeddings - this.config.maxCompletionLength);
    if (ids.length > keep) ids = ids.slice(ids.length - keep);
    return { text, ids };
  }

  private async scoreRewards(prompts: string[], completions: string[], extra: Record<string, unknown[]>): Promise<number[][]> {
    const N = completions.length;
    const out: number[][] = [];
    for (const r of this.rewards) {
      const v = await r.fn(prompts, completions, extra);
      if (!Array.isArray(v) || v.length !== N)
        throw new Error(`GRPOTrainer: reward '${r.name}' returned ${Array.isArray(v) ? v.length : typeof v} values for ${N} completions`);
      out.push(
        v.map((x, i) => {
          if (x === null || x === undefined) return NaN;
          if (typeof x !== 'number') throw new Error(`GRPOTrainer: reward '${r.name}'[${i}] is ${typeof x}, not a number`);
          return x;
        }),
      );
    }
    return out;
  }

  private tensorsFor(
    rows: number[], promptIds: number[][], completions: number[][], mask: boolean[], adv: Float32Array,
  ): MicroBatch {
    const G = this.config.numGenerations;
    const L = Math.max(...rows.map((n) => promptIds[Math.floor(n / G)].length + completions[n].length)) - 1;
    const B = rows.length;
    const ids = new Int32Array(B * L).fill(this.padId);
    const targets = new Int32Array(B * L).fill(-100);
    const m = new Float32Array(B * L);
    const a = new Float32Array(B);
    let maskTokens = 0;
    let tokens = 0;
    rows.forEach((n, b) => {
      const seq = promptIds[Math.floor(n / G)].concat(completions[n]);
      const P = promptIds[Math.floor(n / G)].length;
      tokens += seq.length;
      for (let t = 0; t < seq.length - 1; t++) {
        ids[b * L + t] = seq[t];
        if (t + 1 >= P) {
          targets[b * L + t] = seq[t + 1];
          if (mask[n]) {
            m[b * L + t] = 1;
            maskTokens++;
          }
        }
      }
      a[b] = adv[n];
    });
    const dev = this.model.device;
    return {
      rows,
      ids: Tensor.fromArray(ids, [B, L], { dtype: 'i32', device: dev }),
      targets: Tensor.fromArray(targets, [B, L], { dtype: 'i32', device: dev }),
      mask: Tensor.fromArray(m, [B, L], { device: dev }),
      advantages: Tensor.fromArray(a, [B], { device: dev }),
      maskTokens,
      tokens,
    };
  }

  /** One GRPO step: rollouts, rewards, advantages, then μ optimizer steps. */
  async trainStep(): Promise<GRPOStepMetrics> {
    const t0 = process.hrtime.bigint();
    const c = this.config;
    const G = c.numGenerations;
    const stepIndex = this.step;
    const epoch = this.loader.epoch;
    const examples = this.nextPrompts().map((i) => this.dataset[i]);
    const encoded = examples.map((ex) => this.encodePrompt(ex));
    const promptIds = encoded.map((e) => e.ids);
    const N = examples.length * G;

    // rollouts from the current (old) policy
    const seeds = Array.from({ length: N }, (_, n) => completionSeed(c.seed, stepIndex, n));
    const tg0 = process.hrtime.bigint();
    const res = await this.engine(promptIds, G, {
      maxNewTokens: c.maxCompletionLength, temperature: c.temperature, topP: c.topP, topK: c.topK, seeds,
      stopTokenIds: this.stopIds, padId: this.padId,
    });
    const genSecs = Number(process.hrtime.bigint() - tg0) / 1e9;
    if (!res || !Array.isArray(res.completions) || res.completions.length !== N)
      throw new Error(`GRPOTrainer: the rollout engine returned ${res?.completions?.length ?? 'no'} completions for ${N}`);
    const stop = new Set(this.stopIds);
    const V = this.model.config.vocabSize;
    const completions = res.completions.map((comp, n) => {
      if (!Array.isArray(comp)) throw new Error(`GRPOTrainer: completion ${n} is not an array of token ids`);
      const end = comp.findIndex((t) => stop.has(t));
      const cut = (end >= 0 ? comp.slice(0, end + 1) : comp).slice(0, c.maxCompletionLength);
      for (const t of cut) if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`GRPOTrainer: completion ${n} holds token id ${t} outside the vocabulary`);
      if (cut.length === 0) throw new Error(`GRPOTrainer: completion ${n} is empty`);
      return cut;
    });
    const finished = completions.map((comp) => stop.has(comp[comp.length - 1]));
    const texts = completions.map((comp) => this.tokenizer.decode(comp, { skipSpecialTokens: true }));
    const prompts = encoded.flatMap((e) => Array.from({ length: G }, () => e.text));
    const extra: Record<string, unknown[]> = {};
    for (const k of new Set(examples.flatMap((ex) => Object.keys(ex))))
      if (k !== 'prompt') extra[k] = examples.flatMap((ex) => Array.from({ length: G }, () => ex[k]));

    // rewards and advantages
    const perFn = await this.scoreRewards(prompts, texts, extra);
    const total = new Float32Array(N);
    for (let n = 0; n < N; n++) {
      let s = 0;
      this.rewards.forEach((r, f) => {
        const v = perFn[f][n];
        if (!Number.isNaN(v)) s += r.weight * v;
      });
      total[n] = s;
    }
    const advT = groupAdvantages(total, G, { scaleRewards: c.scaleRewards });
    const adv = advT.toArray() as Float32Array;
    advT.dispose();
    const mask = finished.map((f) => f || !c.maskTruncatedCompletions);

    // micro-batches; old and reference log-probs once per step
    const micro: MicroBatch[] = [];
    for (let s = 0; s < N; s += c.microBatchSize)
      micro.push(this.tensorsFor(Array.from({ length: Math.min(c.microBatchSize, N - s) }, (_, i) => s + i), promptIds, completions, mask, adv));
    const lpOpts = { temperature: c.temperature, chunkSize: c.logprobChunkSize, noGrad: true };
    const totalMask = micro.reduce((a, b) => a + b.maskTokens, 0);
    let stepTokens = 0;
    const iterations: GRPOStepMetrics['iterations'] = [];
    let entropy = NaN;
    let gradNormSum = 0;
    let gradNorms = 0;
    let lastLr = 0;
    const clipLow: number[] = [];
    const clipHigh: number[] = [];
    const clipAll: number[] = [];
    try {
      for (const mb of micro) {
        if (c.numIterations > 1) {
          const r = this.model.logprobs(mb.ids, mb.targets, lpOpts);
          r.entropy.dispose();
          mb.oldLogp = r.logp;
          this.oldLogpPasses++;
        }
        if (this.refModel) {
          const r = this.refModel.logprobs(mb.ids, mb.targets, lpOpts);
          r.entropy.dispose();
          mb.refLogp = r.logp;
        }
      }
      for (let it = 0; it < c.numIterations; it++) {
        this.model.zeroGrad();
        let loss = 0;
        let tok = 0;
        let klSum = 0;
        let lowSum = 0;
        let highSum = 0;
        let clipSum = 0;
        let ratioSum = 0;
        let ratioMin = Infinity;
        let ratioMax = -Infinity;
        let entSum = 0;
        for (const mb of micro) {
          const { logp, entropy: ent } = this.model.logprobs(mb.ids, mb.targets, { ...lpOpts, noGrad: false });
          try {
            if (it === 0) {
              const e = ent.toArray();
              const mk = mb.mask.toArray();
              for (let i = 0; i < e.length; i++) entSum += e[i] * mk[i];
            }
            const out = grpoLoss(
              { logp, oldLogp: mb.oldLogp, refLogp: mb.refLogp, advantages: mb.advantages, completionMask: mb.mask },
              {
                beta: c.beta, epsilon: c.epsilon, epsilonHigh: c.epsilonHigh, delta: c.delta, lossType: c.lossType,
                maxCompletionLength: c.maxCompletionLength, numItemsInBatch: Math.max(1, totalMask),
                gradientAccumulationSteps: micro.length,
              },
            );
            loss += out.loss.item();
            const mt = grpoMetrics(out.metrics);
            out.loss.dispose();
            out.metrics.dispose();
            this.model.backwardLogprobs(out.dlogp!);
            out.dlogp!.dispose();
            const w = mt.completionTokens;
            tok += w;
            klSum += mt.klMean * w;
            lowSum += mt.clipRatioLow * w;
            highSum += mt.clipRatioHigh * w;
            clipSum += mt.clipRatio * w;
            ratioSum += mt.ratioMean * w;
            if (w > 0) {
              ratioMin = Math.min(ratioMin, mt.ratioMin);
              ratioMax = Math.max(ratioMax, mt.ratioMax);
            }
            stepTokens += mb.tokens;
          } finally {
            logp.dispose();
            ent.dispose();
          }
        }
        const lr = this.lrAt(stepIndex * c.numIterations + it);
        lastLr = lr;
        const { gradNorm } = this.optimizer.step(this.model.grads, { lr, maxGradNorm: c.maxGradNorm > 0 ? c.maxGradNorm : undefined });
        this.model.paramsChanged();
        if (gradNorm) {
          gradNormSum += gradNorm.item();
          gradNorms++;
          gradNorm.dispose();
        }
        const d = Math.max(1, tok);
        if (it === 0) entropy = entSum / Math.max(1, totalMask);
        clipLow.push(lowSum / d);
        clipHigh.push(highSum / d);
        clipAll.push(clipSum / d);
        const rec: GRPOStepMetrics['iterations'][number] = {
          loss, ratioMean: tok > 0 ? ratioSum / tok : NaN, ratioMin: tok > 0 ? ratioMin : NaN, ratioMax: tok > 0 ? ratioMax : NaN,
          clipRatio: clipSum / d,
        };
        if (this.refModel) rec.kl = klSum / d;
        iterations.push(rec);
      }
    } finally {
      for (const mb of micro) for (const t of [mb.ids, mb.targets, mb.mask, mb.advantages, mb.oldLogp, mb.refLogp]) t?.dispose();
    }
    this.step++;
    if (this.refModel && c.syncRefModel && this.step % c.refModelSyncSteps === 0) this.syncReference();

    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    this.elapsedBefore += secs;
    const lens = completions.map((x) => x.length);
    const genTokens = lens.reduce((a, b) => a + b, 0);
    let zeroStd = 0;
    for (let p = 0; p < examples.length; p++) {
      const g = Array.from(total.subarray(p * G, p * G + G));
      if (g.every((x) => x === g[0])) zeroStd++;
    }
    const all = meanStd(Array.from(total));
    const rewards: GRPOStepMetrics['rewards'] = {};
    this.rewards.forEach((r, f) => (rewards[r.name] = meanStd(perFn[f])));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const m: GRPOStepMetrics = {
      step: this.step,
      reward: all.mean,
      rewardStd: all.std,
      rewards,
      zeroStdFraction: zeroStd / examples.length,
      loss: mean(iterations.map((i) => i.loss)),
      clipRatioLow: mean(clipLow),
      clipRatioHigh: mean(clipHigh),
      clipRatio: mean(clipAll),
      entropy,
      completionLength: genTokens / N,
      completionLengthMax: Math.max(...lens),
      completionLengthMin: Math.min(...lens),
      truncatedFraction: finished.filter((f) => !f).length / N,
      lr: lastLr,
      iterations,
      generationTokensPerSecond: genSecs > 0 ? genTokens / genSecs : 0,
      tokensPerSecond: secs > 0 ? stepTokens / secs : 0,
      stepSeconds: secs,
      elapsed: this.elapsedBefore,
      epoch,
    };
    if (extra.answer) m.accuracy = texts.filter((t, n) => isCorrect(t, extra.answer[n])).length / N;
    if (this.refModel) m.kl = iterations[0].kl;
    if (gradNorms) m.gradNorm = gradNormSum / gradNorms;
    this.history.push(m);
    this.log({ type: 'train', ...m });
    this.callbacks.onCompletions?.({ step: this.step, prompts, completions: texts, rewards: Array.from(total) });
    this.callbacks.onStep?.(m);
    this.emit('step', m);
    return m;
  }

  /** ref ← α·policy + (1 − α)·ref (α = 1: a copy of the policy). */
  syncReference(): void {
    const ref = this.refModel;
    if (!ref) throw new Error('GRPOTrainer.syncReference: there is no reference model (beta = 0)');
    const a = this.config.refModelMixupAlpha;
    const next = new Map<string, Tensor>();
    try {
      for (const [name, p] of this.model.params) {
        if (a === 1) next.set(name, p.clone());
        else {
          const x = scale(p, a);
          const y = scale(ref.params.get(name)!, 1 - a);
          next.set(name, add(x, y));
          x.dispose();
          y.dispose();
        }
      }
      ref.loadParams(next);
    } finally {
      for (const t of next.values()) t.dispose();
    }
  }

  private log(rec: Record<string, unknown>): void {
    if (this.config.logFile === false) return;
    fs.mkdirSync(path.dirname(this.config.logFile), { recursive: true });
    fs.appendFileSync(this.config.logFile, JSON.stringify(rec) + '\n');
  }

  /** Writes the SVG reward curves (total, each reward function, accuracy). */
  writePlot(): void {
    if (this.config.plotFile === false) return;
    const h = this.history;
    const series = [{ name: 'reward', points: h.map((m) => [m.step, m.reward] as [number, number]), markers: false }];
    if (this.rewards.length > 1)
      for (const r of this.rewards)
        series.push({ name: r.name, points: h.map((m) => [m.step, m.rewards[r.name]?.mean ?? NaN] as [number, number]).filter((p) => Number.isFinite(p[1])), markers: false });
    if (h.some((m) => m.accuracy !== undefined))
      series.push({ name: 'accuracy', points: h.filter((m) => m.accuracy !== undefined).map((m) => [m.step, m.accuracy!]), markers: false });
    const svg = linePlotSvg(series, { title: 'GRPO reward', xLabel: 'step', yLabel: 'mean reward' });
    writeFileAtomic(this.config.plotFile, svg);
  }

  private state(): Record<string, unknown> & { step: number } {
    return {
      version: 1,
      kind: 'grpo',
      step: this.step,
      elapsed: this.elapsedBefore,
      loader: this.loader,
      config: configRecord(this.config),
      rewards: this.rewards.map((r) => ({ name: r.name, weight: r.weight })),
      model: toHFConfig(this.model.config),
      metrics: this.history,
    };
  }

  /** Writes a checkpoint of the current step now (with the reference model when it has moved); returns its folder. */
  saveCheckpoint(): string {
    const extra: Record<string, Map<string, Tensor>> = {};
    if (this.refModel && this.config.syncRefModel) extra['ref_model.safetensors'] = this.refModel.params;
    const dir = saveTrainingCheckpoint(
      this.config.outDir,
      { model: this.model, tokenizer: this.tokenizer, optimizer: this.optimizer, state: this.state(), extraTensors: extra },
      this.config.keepCheckpoints,
    );
    this.lastCheckpointStep = this.step;
    const info = { step: this.step, dir };
    this.callbacks.onCheckpoint?.(info);
    this.emit('checkpoint', info);
    return dir;
  }

  /** Restores the policy, optimizer, reference model, prompt order, metrics and step from a checkpoint. */
  restore(dir: string): void {
    const { state } = readTrainerState(dir);
    if (state.kind !== 'grpo') throw new Error(`GRPOTrainer: ${dir} is a ${String(state.kind)} checkpoint, not a GRPO one`);
    if (JSON.stringify(state.model) !== JSON.stringify(toHFConfig(this.model.config)))
      throw new Error(`GRPOTrainer: ${dir} holds a model with a different config than the one being trained`);
    restoreWeights(dir, this.model, this.optimizer);
    const refFile = path.join(dir, 'ref_model.safetensors');
    if (this.refModel && fs.existsSync(refFile)) {
      const t = loadSafetensors(refFile, { device: this.model.device, dtype: 'f32' });
      try {
        this.refModel.loadParams(t);
      } finally {
        for (const x of t.values()) x.dispose();
      }
    }
    const l = state.loader as PromptLoaderState;
    if (!l || !Array.isArray(l.order) || l.order.length !== this.dataset.length)
      throw new Error(`GRPOTrainer: ${dir} was trained on ${l?.order?.length ?? '?'} prompts, this dataset has ${this.dataset.length}`);
    this.loader = { epoch: l.epoch, position: l.position, order: l.order.slice(), rng: l.rng };
    this.step = state.step;
    this.elapsedBefore = (state.elapsed as number) ?? 0;
    this.history.length = 0;
    this.history.push(...((state.metrics as GRPOStepMetrics[]) ?? []));
    this.resumedFrom = dir;
    this.lastCheckpointStep = this.step;
    if (this.config.logFile !== false)
      writeFileAtomic(this.config.logFile, this.history.map((m) => JSON.stringify({ type: 'train', ...m }) + '\n').join(''));
  }

  /** Trains to config.steps (from the newest checkpoint when resume is set). */
  async train(): Promise<{ step: number; reward: number; checkpoint?: string; stopped: boolean }> {
    const c = this.config;
    if (c.resume) {
      const dir = latestCheckpoint(c.outDir);
      if (dir) this.restore(dir);
    }
    if (!this.resumedFrom) {
      fs.mkdirSync(c.outDir, { recursive: true });
      if (c.logFile !== false) writeFileAtomic(c.logFile, '');
    }
    let last = this.history[this.history.length - 1];
    while (this.step < c.steps && !this.stopRequested) {
      last = await this.trainStep();
      const end = this.step === c.steps;
      if ((c.checkpointEvery > 0 && this.step % c.checkpointEvery === 0) || end) this.saveCheckpoint();
      this.writePlot();
      await new Promise<void>((r) => setImmediate(r));
    }
    const checkpoint = this.lastCheckpointStep !== this.step ? this.saveCheckpoint() : latestCheckpoint(c.outDir);
    this.writePlot();
    return { step: this.step, reward: last?.reward ?? NaN, checkpoint, stopped: this.step < c.steps };
  }

  /** Frees the optimizer state, the reference model, and the policy when this trainer created it. */
  dispose(): void {
    this.optimizer.dispose();
    this.refModel?.dispose();
    if (this.ownsModel) this.model.dispose();
  }
}
