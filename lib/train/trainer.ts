// PretrainTrainer and SFTTrainer: AdamW with linear warmup + cosine decay, gradient accumulation,
// gradient clipping, periodic eval loss on a held-out split, atomic checkpoints (model, tokenizer,
// optimizer moments, data-loader and RNG state, metrics) and an exact resume: on the CPU a resumed run
// produces bit-for-bit the losses of an uninterrupted one. Metrics go to callbacks, events
// ('step', 'eval', 'checkpoint'), a JSONL log and an SVG plot of the loss curves beside the checkpoints.
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { Device, Tensor } from '../tensor';
import { LlamaModel } from '../model/llama';
import { LlamaConfig, toHFConfig } from '../model/config';
import { AdamW } from '../optim/adamw';
import type { Tokenizer } from '../tokenizer';
import { Batch, LoaderState, PretrainLoader } from '../data/packing';
import { TokenFile } from '../data/tokens';
import { SftDataset, SftLoader, TokenizedExample } from '../data/sft';
import { lrAt } from './schedule';
import { latestCheckpoint, loadModelDir, readTrainerState, restoreWeights, saveTrainingCheckpoint, writeFileAtomic } from './checkpoint';
import { linePlotSvg } from '../util/plot';
import { checkDevice, configChecks, configRecord, nonNegative, outputFile, positive, requireOutDir } from './config-check';

export interface StepMetrics {
  /** Optimizer steps done (1 after the first). */
  step: number;
  /** Mean loss over this step's scored tokens (all micro-batches). */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping (when clipping is on). */
  gradNorm?: number;
  /** Scored tokens this step. */
  tokens: number;
  /** Input tokens processed so far (padding excluded). */
  tokensSeen: number;
  /** Input tokens per second over this step. */
  tokensPerSecond: number;
  /** Seconds of training so far (across resumes). */
  elapsed: number;
  epoch: number;
}

export interface EvalMetrics {
  step: number;
  loss: number;
  /** Scored tokens evaluated. */
  tokens: number;
}

export interface CheckpointInfo {
  step: number;
  dir: string;
}

export interface TrainerCallbacks {
  onStep?: (m: StepMetrics) => void;
  onEval?: (m: EvalMetrics) => void;
  onCheckpoint?: (c: CheckpointInfo) => void;
}

/** Settings shared by both trainers (all optional except outDir; see the defaults). */
export interface TrainerConfig {
  /** Folder for checkpoints/, metrics.jsonl and loss.svg. */
  outDir: string;
  /** Positions per sequence (default 256). */
  seqLen?: number;
  /** Sequences per micro-batch (default 8). */
  batchSize?: number;
  /** Micro-batches per optimizer step (default 1). */
  gradAccum?: number;
  /** Optimizer steps (default 1000). */
  steps?: number;
  /** Peak learning rate (default 3e-4 pretraining, 2e-5 SFT). */
  lr?: number;
  /** Floor of the cosine decay (default lr / 10). */
  minLr?: number;
  /** Linear warmup steps (default min(100, 5% of steps), at least 1). */
  warmupSteps?: number;
  /** AdamW decoupled weight decay on matrices (default 0.1 pretraining, 0 SFT). */
  weightDecay?: number;
  beta1?: number;
  /** default 0.95 */
  beta2?: number;
  eps?: number;
  /** Clip the global gradient norm to this (default 1; 0 disables). */
  maxGradNorm?: number;
  /** Evaluate every N steps, at step 0 and at the end (default 100; 0: only at the end). */
  evalEvery?: number;
  /** Batches per evaluation (default 8). */
  evalBatches?: number;
  /** Checkpoint every N steps and at the end (default 500; 0: only at the end). */
  checkpointEvery?: number;
  /** Checkpoints kept (default 2; 0 keeps all). */
  keepCheckpoints?: number;
  /** Seed of the data order (and of the weight init when the model is created here). Default 0. */
  seed?: number;
  /** Continue from the newest checkpoint in outDir (if there is none, start fresh). */
  resume?: boolean;
  /** Where a model created from a config / folder lives (default 'cpu'; 'cuda' computes in bf16). */
  device?: Device;
  /** Override the compute dtype (default bf16 on CUDA, f32 on the CPU). */
  computeDtype?: 'f32' | 'bf16';
  /** Std of the weight init for a model created from a config (default 0.02). */
  initStd?: number;
  /** JSONL metrics log (default <outDir>/metrics.jsonl; false: none). */
  logFile?: string | false;
  /** SVG loss plot (default <outDir>/loss.svg; false: none). */
  plotFile?: string | false;
  callbacks?: TrainerCallbacks;
}

/** The model to train: a LlamaModel, a config for a fresh one, or a folder (HF model or checkpoint). */
export type ModelSource = LlamaModel | LlamaConfig | string;

export interface TrainResult {
  step: number;
  /** Last training loss. */
  loss: number;
  /** Last eval loss, when there is an eval split. */
  evalLoss?: number;
  checkpoint?: string;
  /** Whether training stopped early (stop()). */
  stopped: boolean;
}

type Resolved = Required<Omit<TrainerConfig, 'callbacks' | 'logFile' | 'plotFile' | 'device' | 'computeDtype' | 'minLr'>> & {
  minLr: number;
  logFile: string | false;
  plotFile: string | false;
  device: Device;
  computeDtype?: 'f32' | 'bf16';
};

function resolve(c: TrainerConfig, kind: 'pretrain' | 'sft'): Resolved {
  const op = `${kind} trainer`;
  const outDir = requireOutDir(op, c);
  const steps = c.steps ?? 1000;
  const lr = c.lr ?? (kind === 'pretrain' ? 3e-4 : 2e-5);
  const r: Resolved = {
    outDir,
    seqLen: c.seqLen ?? 256,
    batchSize: c.batchSize ?? 8,
    gradAccum: c.gradAccum ?? 1,
    steps,
    lr,
    minLr: c.minLr ?? lr / 10,
    warmupSteps: c.warmupSteps ?? Math.max(1, Math.min(100, Math.ceil(steps * 0.05))),
    weightDecay: c.weightDecay ?? (kind === 'pretrain' ? 0.1 : 0),
    beta1: c.beta1 ?? 0.9,
    beta2: c.beta2 ?? 0.95,
    eps: c.eps ?? 1e-8,
    maxGradNorm: c.maxGradNorm ?? 1,
    evalEvery: c.evalEvery ?? 100,
    evalBatches: c.evalBatches ?? 8,
    checkpointEvery: c.checkpointEvery ?? 500,
    keepCheckpoints: c.keepCheckpoints ?? 2,
    seed: c.seed ?? 0,
    resume: c.resume ?? false,
    device: c.device ?? 'cpu',
    computeDtype: c.computeDtype,
    initStd: c.initStd ?? 0.02,
    logFile: outputFile(outDir, c.logFile, 'metrics.jsonl'),
    plotFile: outputFile(outDir, c.plotFile, 'loss.svg'),
  };
  const { int, num } = configChecks(op, r);
  int('seqLen', 1);
  int('batchSize', 1);
  int('gradAccum', 1);
  int('steps', 1);
  int('warmupSteps', 0);
  int('evalEvery', 0);
  int('evalBatches', 1);
  int('checkpointEvery', 0);
  int('keepCheckpoints', 0);
  int('seed', 0);
  num('lr', positive, '> 0');
  num('minLr', nonNegative, '>= 0');
  num('weightDecay', nonNegative, '>= 0');
  num('maxGradNorm', nonNegative, '>= 0');
  num('eps', positive, '> 0');
  if (!(r.beta1 >= 0 && r.beta1 < 1) || !(r.beta2 >= 0 && r.beta2 < 1)) throw new RangeError(`${op}: betas must be in [0, 1)`);
  checkDevice(op, r.device);
  return r;
}

interface History {
  train: StepMetrics[];
  eval: EvalMetrics[];
}

export abstract class Trainer extends EventEmitter {
  readonly kind: 'pretrain' | 'sft';
  readonly config: Resolved;
  readonly model: LlamaModel;
  readonly tokenizer: Tokenizer;
  readonly optimizer: AdamW;
  /** Optimizer steps done. */
  step = 0;
  tokensSeen = 0;
  readonly history: History = { train: [], eval: [] };
  /** The checkpoint resumed from, if any. */
  resumedFrom?: string;
  private readonly callbacks: TrainerCallbacks;
  private readonly ownsModel: boolean;
  private stopRequested = false;
  private elapsedBefore = 0;
  private lastCheckpointStep = -1;

  protected constructor(kind: 'pretrain' | 'sft', model: ModelSource, tokenizer: Tokenizer, config: TrainerConfig) {
    super();
    this.kind = kind;
    this.config = resolve(config, kind);
    this.callbacks = config.callbacks ?? {};
    this.tokenizer = tokenizer;
    const mopts = { device: this.config.device, computeDtype: this.config.computeDtype };
    if (model instanceof LlamaModel) {
      this.model = model;
      this.ownsModel = false;
    } else if (typeof model === 'string') {
      this.model = loadModelDir(model, mopts).model;
      this.ownsModel = true;
    } else {
      this.model = LlamaModel.init(model, { ...mopts, seed: this.config.seed, initStd: this.config.initStd });
      this.ownsModel = true;
    }
    if (tokenizer.vocabSize > this.model.config.vocabSize)
      throw new Error(
        `${kind} trainer: the tokenizer has ${tokenizer.vocabSize} ids but the model's vocabulary is ${this.model.config.vocabSize}`,
      );
    if (this.config.seqLen > this.model.config.maxPositionEmbeddings)
      throw new Error(`${kind} trainer: seqLen ${this.config.seqLen} exceeds the model's max_position_embeddings ${this.model.config.maxPositionEmbeddings}`);
    const c = this.config;
    this.optimizer = new AdamW(this.model.params, { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay });
  }

  protected abstract nextBatch(): Batch;
  protected abstract evalData(): Iterable<Batch> | undefined;
  protected abstract loaderState(): LoaderState;
  protected abstract setLoaderState(s: LoaderState): void;

  /** Asks train() to stop after the current step (a checkpoint is written). */
  stop(): void {
    this.stopRequested = true;
  }

  /** Learning rate at optimizer step `step` (0-based). */
  lrAt(step: number): number {
    const c = this.config;
    return lrAt(step, { lr: c.lr, minLr: c.minLr, warmupSteps: c.warmupSteps, totalSteps: c.steps });
  }

  private batchTensors(b: Batch): { ids: Tensor; labels: Tensor; seg: Tensor } {
    const shape = [b.batchSize, b.seqLen];
    return {
      ids: Tensor.fromArray(b.inputs, shape, { dtype: 'i32' }),
      labels: Tensor.fromArray(b.labels, shape, { dtype: 'i32' }),
      seg: Tensor.fromArray(b.segmentIds, shape, { dtype: 'i32' }),
    };
  }

  /** Mean loss over the eval split's first evalBatches batches (undefined without an eval split). */
  evaluate(): EvalMetrics | undefined {
    const data = this.evalData();
    if (!data) return undefined;
    let sum = 0;
    let count = 0;
    for (const b of data) {
      if (b.numTargets === 0) continue;
      const { ids, labels, seg } = this.batchTensors(b);
      try {
        const r = this.model.loss(ids, labels, { segmentIds: seg, noGrad: true });
        sum += r.loss * r.count;
        count += r.count;
      } finally {
        ids.dispose();
        labels.dispose();
        seg.dispose();
      }
    }
    const m: EvalMetrics = { step: this.step, loss: count > 0 ? sum / count : NaN, tokens: count };
    this.history.eval.push(m);
    this.log({ type: 'eval', ...m });
    this.callbacks.onEval?.(m);
    this.emit('eval', m);
    return m;
  }

  /** One optimizer step over gradAccum micro-batches. */
  trainStep(): StepMetrics {
    const t0 = process.hrtime.bigint();
    const c = this.config;
    const micro: Batch[] = [];
    for (let k = 0; k < c.gradAccum; k++) micro.push(this.nextBatch());
    const total = micro.reduce((a, b) => a + b.numTargets, 0);
    if (total === 0) throw new Error(`${this.kind} trainer: step ${this.step + 1} has no scored tokens`);
    this.model.zeroGrad();
    let sum = 0;
    let inputTokens = 0;
    for (const b of micro) {
      inputTokens += b.numTokens;
      if (b.numTargets === 0) continue;
      const { ids, labels, seg } = this.batchTensors(b);
      try {
        const r = this.model.loss(ids, labels, { segmentIds: seg, gradScale: 1 / total });
        sum += r.loss * r.count;
        this.model.backward();
      } finally {
        ids.dispose();
        labels.dispose();
        seg.dispose();
      }
    }
    const lr = this.lrAt(this.step);
    const { gradNorm } = this.optimizer.step(this.model.grads, { lr, maxGradNorm: c.maxGradNorm > 0 ? c.maxGradNorm : undefined });
    this.model.paramsChanged();
    const gn = gradNorm?.item();
    gradNorm?.dispose();
    this.step++;
    this.tokensSeen += inputTokens;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    this.elapsedBefore += secs;
    const m: StepMetrics = {
      step: this.step,
      loss: sum / total,
      lr,
      tokens: total,
      tokensSeen: this.tokensSeen,
      tokensPerSecond: secs > 0 ? inputTokens / secs : 0,
      elapsed: this.elapsedBefore,
      epoch: this.loaderState().epoch,
    };
    if (gn !== undefined) m.gradNorm = gn;
    this.history.train.push(m);
    this.log({ type: 'train', ...m });
    this.callbacks.onStep?.(m);
    this.emit('step', m);
    return m;
  }

  private log(rec: Record<string, unknown>): void {
    if (this.config.logFile === false) return;
    fs.mkdirSync(path.dirname(this.config.logFile), { recursive: true });
    fs.appendFileSync(this.config.logFile, JSON.stringify(rec) + '\n');
  }

  private rewriteLog(): void {
    if (this.config.logFile === false) return;
    const lines: string[] = [];
    // interleave as a live run writes them: eval at step s comes after train step s
    let e = 0;
    const ev = this.history.eval;
    while (e < ev.length && ev[e].step === 0) lines.push(JSON.stringify({ type: 'eval', ...ev[e++] }));
    for (const t of this.history.train) {
      lines.push(JSON.stringify({ type: 'train', ...t }));
      while (e < ev.length && ev[e].step <= t.step) lines.push(JSON.stringify({ type: 'eval', ...ev[e++] }));
    }
    while (e < ev.length) lines.push(JSON.stringify({ type: 'eval', ...ev[e++] }));
    writeFileAtomic(this.config.logFile, lines.map((l) => l + '\n').join(''));
  }

  /** Writes the SVG plot of the train and eval loss curves. */
  writePlot(): void {
    if (this.config.plotFile === false) return;
    const svg = linePlotSvg(
      [
        { name: 'train loss', points: this.history.train.map((m) => [m.step, m.loss]), markers: false },
        { name: 'eval loss', points: this.history.eval.map((m) => [m.step, m.loss]) },
      ],
      { title: `${this.kind} loss`, xLabel: 'step', yLabel: 'loss (nats/token)' },
    );
    writeFileAtomic(this.config.plotFile, svg);
  }

  private state(): Record<string, unknown> & { step: number } {
    return {
      version: 1,
      kind: this.kind,
      step: this.step,
      tokensSeen: this.tokensSeen,
      elapsed: this.elapsedBefore,
      loader: this.loaderState(),
      config: configRecord(this.config),
      model: toHFConfig(this.model.config),
      metrics: this.history,
    };
  }

  /** Writes a checkpoint of the current step now; returns its folder. */
  saveCheckpoint(): string {
    const dir = saveTrainingCheckpoint(
      this.config.outDir,
      { model: this.model, tokenizer: this.tokenizer, optimizer: this.optimizer, state: this.state() },
      this.config.keepCheckpoints,
    );
    this.lastCheckpointStep = this.step;
    const info = { step: this.step, dir };
    this.callbacks.onCheckpoint?.(info);
    this.emit('checkpoint', info);
    return dir;
  }

  /** Restores everything from a checkpoint folder (weights, optimizer, loader, metrics, step). */
  restore(dir: string): void {
    const { state } = readTrainerState(dir);
    if (state.kind !== this.kind) throw new Error(`${this.kind} trainer: ${dir} is a ${String(state.kind)} checkpoint`);
    const want = JSON.stringify(toHFConfig(this.model.config));
    if (JSON.stringify(state.model) !== want)
      throw new Error(`${this.kind} trainer: ${dir} holds a model with a different config than the one being trained`);
    restoreWeights(dir, this.model, this.optimizer);
    this.setLoaderState(state.loader as LoaderState);
    this.step = state.step;
    this.tokensSeen = (state.tokensSeen as number) ?? 0;
    this.elapsedBefore = (state.elapsed as number) ?? 0;
    const h = state.metrics as History;
    this.history.train.length = 0;
    this.history.eval.length = 0;
    this.history.train.push(...h.train);
    this.history.eval.push(...h.eval);
    this.resumedFrom = dir;
    this.lastCheckpointStep = this.step;
    this.rewriteLog();
  }

  /**
   * Trains to config.steps (from the newest checkpoint when resume is set), evaluating and writing
   * checkpoints on schedule. Yields to the event loop between steps, so signals and stop() work.
   */
  async train(): Promise<TrainResult> {
    const c = this.config;
    if (c.resume) {
      const dir = latestCheckpoint(c.outDir);
      if (dir) this.restore(dir);
    }
    if (!this.resumedFrom) {
      fs.mkdirSync(c.outDir, { recursive: true });
      if (c.logFile !== false) writeFileAtomic(c.logFile, '');
      if (c.evalEvery > 0) this.evaluate();
    }
    let last: StepMetrics | undefined = this.history.train[this.history.train.length - 1];
    while (this.step < c.steps && !this.stopRequested) {
      last = this.trainStep();
      const end = this.step === c.steps;
      if ((c.evalEvery > 0 && this.step % c.evalEvery === 0) || end) this.evaluate();
      if ((c.checkpointEvery > 0 && this.step % c.checkpointEvery === 0) || end) this.saveCheckpoint();
      if ((c.evalEvery > 0 && this.step % c.evalEvery === 0) || end) this.writePlot();
      await new Promise<void>((r) => setImmediate(r));
    }
    let checkpoint: string | undefined;
    if (this.lastCheckpointStep !== this.step) checkpoint = this.saveCheckpoint();
    else checkpoint = latestCheckpoint(c.outDir);
    this.writePlot();
    const ev = this.history.eval[this.history.eval.length - 1];
    return { step: this.step, loss: last?.loss ?? NaN, evalLoss: ev?.loss, checkpoint, stopped: this.step < c.steps };
  }

  /** Frees the optimizer state (and the model when this trainer created it). */
  dispose(): void {
    this.optimizer.dispose();
    if (this.ownsModel) this.model.dispose();
  }
}

export interface PretrainTrainerOptions extends TrainerConfig {
  model: ModelSource;
  tokenizer: Tokenizer;
  /** Training token file (see tokenizeCorpus), or its path. */
  trainData: TokenFile | string;
  /** Held-out token file, or its path. */
  evalData?: TokenFile | string;
}

/** Next-token pretraining on packed token files. */
export class PretrainTrainer extends Trainer {
  readonly loader: PretrainLoader;
  private readonly evalLoader?: PretrainLoader;
  private readonly files: TokenFile[] = [];

  constructor(opts: PretrainTrainerOptions) {
    super('pretrain', opts.model, opts.tokenizer, opts);
    const open = (f: TokenFile | string): TokenFile => {
      if (f instanceof TokenFile) return f;
      const t = TokenFile.open(f);
      this.files.push(t);
      return t;
    };
    try {
      const train = open(opts.trainData);
      const ev = opts.evalData === undefined ? undefined : open(opts.evalData);
      const V = this.model.config.vocabSize;
      for (const f of ev ? [train, ev] : [train])
        if (f.header.vocabSize > V)
          throw new Error(`pretrain trainer: ${f.file} was tokenized with ${f.header.vocabSize} ids; the model has ${V}`);
      const c = this.config;
      this.loader = new PretrainLoader(train, { seqLen: c.seqLen, batchSize: c.batchSize, seed: c.seed });
      if (ev) this.evalLoader = new PretrainLoader(ev, { seqLen: c.seqLen, batchSize: c.batchSize, shuffle: false });
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  protected nextBatch(): Batch {
    return this.loader.next();
  }

  protected evalData(): Iterable<Batch> | undefined {
    return this.evalLoader?.inOrder(this.config.evalBatches);
  }

  protected loaderState(): LoaderState {
    return this.loader.state();
  }

  protected setLoaderState(s: LoaderState): void {
    this.loader.setState(s);
  }

  dispose(): void {
    super.dispose();
    for (const f of this.files) f.close();
  }
}

export interface SFTTrainerOptions extends TrainerConfig {
  model: ModelSource;
  tokenizer: Tokenizer;
  /** Tokenized examples (loadSftDataset's train), or a whole SftDataset (its eval used as evalData). */
  trainData: TokenizedExample[] | SftDataset;
  evalData?: TokenizedExample[];
  /** Pack several examples per sequence (default true). */
  pack?: boolean;
}

/** Supervised fine-tuning: loss on assistant tokens only. */
export class SFTTrainer extends Trainer {
  readonly loader: SftLoader;
  private readonly evalLoader?: SftLoader;

  constructor(opts: SFTTrainerOptions) {
    super('sft', opts.model, opts.tokenizer, { ...opts });
    try {
      const c = this.config;
      const ds = Array.isArray(opts.trainData) ? { train: opts.trainData, eval: opts.evalData ?? [] } : opts.trainData;
      const evalSet = opts.evalData ?? ds.eval;
      const padId = this.tokenizer.padId ?? this.tokenizer.eosId ?? 0;
      const common = { seqLen: c.seqLen, batchSize: c.batchSize, pack: opts.pack ?? true, padId };
      this.loader = new SftLoader(ds.train, { ...common, seed: c.seed });
      if (evalSet.length) this.evalLoader = new SftLoader(evalSet, { ...common, shuffle: false });
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  protected nextBatch(): Batch {
    return this.loader.next();
  }

  protected evalData(): Iterable<Batch> | undefined {
    return this.evalLoader?.inOrder(this.config.evalBatches);
  }

  protected loaderState(): LoaderState {
    return this.loader.state();
  }

  protected setLoaderState(s: LoaderState): void {
    this.loader.setState(s);
  }
}
