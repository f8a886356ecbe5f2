// `mathrl demo`: the DeepSeekMath recipe end to end on the synthetic arithmetic world (world.ts):
//   tokenizer (byte-level BPE, digits single tokens) → pretraining from scratch on worked examples and
//   arithmetic facts → SFT on question → reply → GRPO with the answer reward (G completions per
//   question, KL to the SFT model), with greedy accuracy and maj@k on the held-out problems after each
//   stage. Every stage is one function over a shared context, so each can be run, tested or replaced
//   on its own. Output folder:
//     tokenizer/                    the trained tokenizer
//     data/                         corpus.txt and its token files; test.jsonl (the held-out problems, GSM8K format)
//     pretrain/ sft/ grpo/          each a loadable model folder (config.json, model.safetensors,
//                                   tokenizer files) with the stage's metrics.jsonl and curve
//                                   (loss.svg, or reward.svg for GRPO), and eval.jsonl (held-out replies)
//     accuracy.svg                  held-out greedy accuracy and maj@k per stage
//     summary.json                  options, world, per-stage metrics and minutes
import * as fs from 'fs';
import * as path from 'path';
import { Device } from '../tensor';
import { LlamaModel } from '../model/llama';
import { LlamaConfig, presetConfig, writeConfig, countParameters } from '../model/config';
import { saveSafetensors } from '../io/safetensors';
import { Tokenizer, trainBpe } from '../tokenizer';
import { tokenizeCorpus } from '../data/tokens';
import { tokenizeConversation, TokenizedExample } from '../data/sft';
import { PretrainTrainer, SFTTrainer } from '../train/trainer';
import { GRPOTrainer, GRPOStepMetrics } from '../train/grpo';
import { isCorrect, makeMathAccuracyReward } from '../train/rewards';
import { generate } from '../generate/generate';
import { kernelSampler } from '../generate/samplers';
import { evaluate, EvalReport } from '../eval/evaluate';
import { linePlotSvg } from '../util/plot';
import { writeFileAtomic } from '../train/checkpoint';
import { DemoProblem, Limits, TemplateName, World, makeWorld, workedSteps } from './world';

export type DemoSize = 'tiny' | 'small' | 'medium';
export const DEMO_SIZES: readonly DemoSize[] = ['tiny', 'small', 'medium'];

export interface DemoOptions {
  /** Output folder (created; existing stage folders are replaced). */
  out: string;
  seed?: number;
  /** Model size (default 'tiny', about 0.3M parameters). */
  size?: DemoSize;
  /** Multiplies every stage's steps (default 1). */
  steps?: number;
  device?: Device;
  /** The shortened run the test uses (fewer steps and test problems). */
  quick?: boolean;
  /** Replaces parts of the resolved settings, e.g. `{ grpo: { steps: 80 } }` (applied after size, steps and quick). */
  overrides?: DemoOverrides;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Called with each stage's result as it is done. */
  onStage?: (r: StageResult) => void;
}

/** Everything the settings of a run decide (see demoSettings). */
export interface DemoSettings {
  seed: number;
  size: DemoSize;
  device: Device;
  quick: boolean;
  stepsScale: number;
  vocabSize: number;
  model: LlamaConfig;
  world: { trainProblems: number; testProblems: number; factDocuments: number; maxSteps: number; corpusBoxedShare?: number; limits?: Partial<Limits>; answerOnlyShare?: Partial<Record<TemplateName, number>> };
  pretrain: { steps: number; seqLen: number; batchSize: number; lr: number; warmupSteps: number };
  sft: { steps: number; seqLen: number; batchSize: number; lr: number; warmupSteps: number };
  grpo: {
    steps: number; promptsPerStep: number; numGenerations: number; beta: number; learningRate: number;
    temperature: number; maxCompletionLength: number;
  };
  eval: { k: number; temperature: number; maxNewTokens: number; batchSize: number };
}

const MODEL_SIZES: Record<DemoSize, Partial<LlamaConfig>> = {
  tiny: { hiddenSize: 96, numHiddenLayers: 3, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 24, intermediateSize: 256 },
  small: { hiddenSize: 256, numHiddenLayers: 6, numAttentionHeads: 8, numKeyValueHeads: 4, headDim: 32, intermediateSize: 768 },
  medium: { hiddenSize: 512, numHiddenLayers: 8, numAttentionHeads: 8, numKeyValueHeads: 4, headDim: 64, intermediateSize: 1536 },
};

/** The resolved settings of a demo run (what --quick, --size, --steps and --seed choose). */
export function demoSettings(opts: Omit<DemoOptions, 'out' | 'log' | 'onStage'> = {}): DemoSettings {
  const size = opts.size ?? 'tiny';
  if (!DEMO_SIZES.includes(size)) throw new RangeError(`demo: size must be one of ${DEMO_SIZES.join(', ')}, got ${String(size)}`);
  const scale = opts.steps ?? 1;
  if (!(scale > 0 && Number.isFinite(scale))) throw new RangeError(`demo: steps (a scale factor) must be > 0, got ${scale}`);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`demo: seed must be an integer >= 0, got ${seed}`);
  const device = opts.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new RangeError(`demo: device must be cpu or cuda, got ${String(device)}`);
  const quick = opts.quick ?? false;
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  const vocabSize = 512;
  const lrScale = size === 'tiny' ? 1 : size === 'small' ? 0.5 : 0.25;
  return applyOverrides({
    seed, size, device, quick, stepsScale: scale, vocabSize,
    model: presetConfig('tiny-1m', { ...MODEL_SIZES[size], vocabSize, maxPositionEmbeddings: 1024 }), // RoPE: no learned positions, so longer prompts (GSM8K) only cost their own compute
    world: { trainProblems: quick ? 8000 : 20000, testProblems: 200, factDocuments: 1500, maxSteps: quick ? 3 : 4 },
    // 256-token windows hold a whole worked example (about 110 tokens) with its neighbours; 128 cut most in two
    // the worked-solution skill appears suddenly after some number of optimizer steps (1,100-1,500 at
    // batch 8 on seeds 0-3), fewer tokens per step barely delay it: the quick run takes smaller batches
    pretrain: { steps: n(quick ? 1600 : 3000), seqLen: 256, batchSize: quick ? 6 : 8, lr: 4e-3 * lrScale, warmupSteps: 30 },
    sft: { steps: n(quick ? 60 : 100), seqLen: 256, batchSize: 8, lr: 1e-3 * lrScale, warmupSteps: 10 },
    grpo: {
      steps: n(quick ? 20 : 50), promptsPerStep: 16, numGenerations: 8, beta: 0.04, learningRate: (quick ? 1e-4 : 3e-4) * lrScale,
      temperature: 1, maxCompletionLength: 112,
    },
    eval: { k: 8, temperature: 0.7, maxNewTokens: 128, batchSize: 100 },
  }, opts.overrides);
}

/** Per-section partial settings: each given section is merged field by field over the resolved one. */
export type DemoOverrides = {
  [K in keyof DemoSettings as DemoSettings[K] extends object ? K : never]?: Partial<DemoSettings[K]>;
};

function applyOverrides(s: DemoSettings, o: DemoOverrides | undefined): DemoSettings {
  if (o === undefined) return s;
  if (typeof o !== 'object' || o === null) throw new TypeError('demo: overrides must be an object');
  const out: Record<string, unknown> = { ...s };
  for (const [k, v] of Object.entries(o)) {
    if (!(k in s)) throw new RangeError(`demo: unknown setting '${k}' (known: ${Object.keys(s).join(', ')})`);
    const cur = (s as unknown as Record<string, unknown>)[k];
    if (cur !== null && typeof cur === 'object') {
      if (v === null || typeof v !== 'object') throw new TypeError(`demo: overrides.${k} must be an object`);
      for (const f of Object.keys(v)) {
        if (!(f in cur) && !(k === 'world' && ['answerOnlyShare', 'corpusBoxedShare', 'limits'].includes(f)) && k !== 'model')
          throw new RangeError(`demo: unknown setting '${k}.${f}' (known: ${Object.keys(cur).join(', ')})`);
      }
      out[k] = { ...cur, ...v };
    } else throw new RangeError(`demo: '${k}' is set by its own option (seed, size, device, quick, steps), not by overrides`);
  }
  return out as unknown as DemoSettings;
}

export type StageName = 'pretrain' | 'sft' | 'grpo';

export interface StageResult {
  stage: StageName;
  /** Held-out greedy accuracy (0..1). */
  accuracy: number;
  /** Held-out maj@k (0..1). */
  majAtK: number;
  k: number;
  /** Held-out pass@k (0..1). */
  passAtK: number;
  /** Mean correctness of the held-out samples: the answer reward's expected value on unseen questions. */
  sampleAccuracy: number;
  /**
   * Greedy accuracy read loosely: the answer may also be "Answer: n", "the answer is n" or the last
   * number. The base model knows the arithmetic but not the \boxed{} convention; this shows it.
   */
  looseAccuracy: number;
  /** Share of greedy replies that work the problem out (have an equation) rather than only answer. */
  workedShare: number;
  /** Minutes of training and of evaluation. */
  trainMinutes: number;
  evalMinutes: number;
  minutes: number;
  /** The stage's model folder. */
  dir: string;
  /** Stage-specific training metrics (losses; rewards for GRPO). */
  metrics: Record<string, number>;
}

export interface DemoSummary {
  settings: DemoSettings;
  parameters: number;
  world: { train: number; test: number; corpusDocuments: number; corpusTokens: number; sftAnswerOnly: number };
  stages: StageResult[];
  minutes: number;
  out: string;
}

/** What the stages share. */
export interface DemoContext {
  settings: DemoSettings;
  out: string;
  world: World;
  tokenizer: Tokenizer;
  log: (line: string) => void;
}

const minutesSince = (t0: number) => (Date.now() - t0) / 60000;

/** The user message of a problem (the question alone: `mathrl generate --chat --prompt "<question>"` reproduces it). */
export function problemMessages(p: DemoProblem): { role: 'user'; content: string }[] {
  return [{ role: 'user', content: p.question }];
}

/** Trains the byte-level BPE on the corpus and the SFT conversations; saved in <out>/tokenizer. */
export function trainDemoTokenizer(world: World, vocabSize: number, out?: string): Tokenizer {
  const texts = function* () {
    yield* world.corpus;
    for (const r of world.sft) yield `User: ${r.problem.question}\n\nAssistant: ${r.response}`;
  };
  const tok = trainBpe(texts(), { vocabSize });
  if (out) tok.save(path.join(out, 'tokenizer'));
  return tok;
}

/** Writes a loadable model folder: config.json (with the tokenizer's BOS/EOS ids), model.safetensors, tokenizer files. */
export function saveModelFolder(dir: string, model: LlamaModel, tokenizer: Tokenizer): void {
  fs.mkdirSync(dir, { recursive: true });
  const cfg: LlamaConfig = { ...model.config };
  if (tokenizer.bosId !== undefined) cfg.bosTokenId = tokenizer.bosId;
  if (tokenizer.eosId !== undefined) cfg.eosTokenId = tokenizer.eosId;
  saveSafetensors(path.join(dir, 'model.safetensors'), model.params, { format: 'pt' });
  writeConfig(dir, cfg);
  tokenizer.save(dir);
}

function freshDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
}

/** Held-out evaluation: greedy accuracy, maj@k and pass@k (k samples at the eval temperature). */
export async function evaluateModel(
  model: LlamaModel, tokenizer: Tokenizer, problems: DemoProblem[], s: DemoSettings['eval'], seed: number,
): Promise<EvalReport> {
  const prompt = (q: string) => tokenizer.encodeChat([{ role: 'user', content: q }], { addGenerationPrompt: true });
  let calls = 0;
  const run = (prompts: string[], n: number, temperature: number): string[][] => {
    const ids = prompts.flatMap((q) => Array.from({ length: n }, () => prompt(q)));
    const res = generate(model, tokenizer, ids, {
      maxNewTokens: s.maxNewTokens,
      sampler: kernelSampler({ temperature, seed: (seed * 1000003 + ++calls * 7919) | 0 }),
    });
    return prompts.map((_, i) => res.text.slice(i * n, (i + 1) * n));
  };
  return evaluate({
    problems,
    extract: DEMO_EXTRACT,
    prompt: (p) => p.question,
    batchSize: s.batchSize,
    k: s.k,
    greedy: async (prompts) => run(prompts, 1, 0),
    generate: async (prompts, n) => run(prompts, n, s.temperature),
  });
}

/** Answers count only inside \boxed{}, as MATH grades them; the demo's eval and GRPO reward both use this. */
export const DEMO_EXTRACT = Object.freeze({ format: 'boxed' as const });

const EQUATION = /\d+\s*[-+*]\s*\d+\s*=\s*\d+/;

async function evaluateStage(
  ctx: DemoContext, stage: StageName, model: LlamaModel, dir: string, trainMinutes: number, metrics: Record<string, number>,
): Promise<StageResult> {
  const t0 = Date.now();
  ctx.log(`${stage}: evaluating on ${ctx.world.test.length} held-out problems (greedy + ${ctx.settings.eval.k} samples each)`);
  const rep = await evaluateModel(model, ctx.tokenizer, ctx.world.test, ctx.settings.eval, ctx.settings.seed);
  const lines = rep.records.map((r) =>
    JSON.stringify({ id: r.id, reference: r.reference, greedy: r.greedy?.completion, correct: r.greedy?.correct, majority: r.majority.answer }));
  writeFileAtomic(path.join(dir, 'eval.jsonl'), lines.join('\n') + '\n');
  const n = Math.max(1, rep.records.length);
  const worked = rep.records.filter((r) => EQUATION.test(r.greedy?.completion ?? '')).length / n;
  const loose = rep.records.filter((r) => isCorrect(r.greedy?.completion ?? '', r.reference, { lastNumberFallback: true })).length / n;
  const evalMinutes = minutesSince(t0);
  const k = rep.k;
  const res: StageResult = {
    stage,
    accuracy: rep.greedyAccuracy ?? 0,
    majAtK: rep.majAtK ?? 0,
    k,
    passAtK: rep.passAtK[k] ?? NaN,
    sampleAccuracy: rep.records.reduce((a, r) => a + r.numCorrect, 0) / Math.max(1, rep.records.reduce((a, r) => a + r.samples.length, 0)),
    workedShare: worked,
    looseAccuracy: loose,
    trainMinutes,
    evalMinutes,
    minutes: trainMinutes + evalMinutes,
    dir,
    metrics,
  };
  ctx.log(
    `${stage}: greedy ${(res.accuracy * 100).toFixed(1)}%  maj@${k} ${(res.majAtK * 100).toFixed(1)}%  ` +
      `pass@${k} ${(res.passAtK * 100).toFixed(1)}%  worked ${(worked * 100).toFixed(0)}%  (${res.minutes.toFixed(2)} min)`,
  );
  return res;
}

function stepLogger(ctx: DemoContext, stage: string, total: number): (step: number, text: string) => void {
  const every = Math.max(1, Math.round(total / 8));
  return (step, text) => {
    if (step === 1 || step % every === 0 || step === total) ctx.log(`${stage}: step ${step}/${total}  ${text}`);
  };
}

/** Stage 1: pretraining from scratch. Returns the trained model (the caller disposes it) and its result. */
export async function pretrainStage(ctx: DemoContext): Promise<{ model: LlamaModel; result: StageResult; corpusTokens: number }> {
  const t0 = Date.now();
  const s = ctx.settings;
  const dataDir = path.join(ctx.out, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const corpusFile = path.join(dataDir, 'corpus.txt');
  writeFileAtomic(corpusFile, ctx.world.corpus.join('\n\n') + '\n');
  const tk = tokenizeCorpus(corpusFile, {
    tokenizer: ctx.tokenizer, trainFile: path.join(dataDir, 'train.tok'), evalFile: path.join(dataDir, 'eval.tok'),
    evalFraction: 0.02, seed: s.seed,
  });
  const corpusTokens = tk.train.numTokens + (tk.eval?.numTokens ?? 0);
  const dir = path.join(ctx.out, 'pretrain');
  freshDir(dir);
  const model = LlamaModel.init(s.model, { device: s.device, seed: s.seed });
  const p = s.pretrain;
  const log = stepLogger(ctx, 'pretrain', p.steps);
  ctx.log(`pretrain: ${countParameters(s.model).toLocaleString('en-US')} parameters, ${corpusTokens.toLocaleString('en-US')} corpus tokens, ${p.steps} steps of ${p.batchSize}x${p.seqLen}`);
  const trainer = new PretrainTrainer({
    model, tokenizer: ctx.tokenizer, trainData: path.join(dataDir, 'train.tok'), evalData: path.join(dataDir, 'eval.tok'),
    outDir: dir, steps: p.steps, seqLen: p.seqLen, batchSize: p.batchSize, lr: p.lr, warmupSteps: p.warmupSteps,
    evalEvery: Math.max(1, Math.round(p.steps / 8)), evalBatches: 4, checkpointEvery: 0, keepCheckpoints: 1, seed: s.seed,
    device: s.device,
    callbacks: { onStep: (m) => log(m.step, `loss ${m.loss.toFixed(3)}  ${Math.round(m.tokensPerSecond)} tok/s`) },
  });
  let metrics: Record<string, number>;
  try {
    const r = await trainer.train();
    const h = trainer.history;
    metrics = {
      firstLoss: h.train[0].loss,
      lastLoss: r.loss,
      firstEvalLoss: h.eval[0]?.loss ?? NaN,
      lastEvalLoss: r.evalLoss ?? NaN,
    };
  } finally {
    trainer.dispose();
  }
  finishStageFolder(dir, model, ctx.tokenizer);
  const result = await evaluateStage(ctx, 'pretrain', model, dir, minutesSince(t0), metrics);
  return { model, result, corpusTokens };
}

/** Replaces the trainer's checkpoints/ (weights + optimizer) by a plain model folder. */
function finishStageFolder(dir: string, model: LlamaModel, tokenizer: Tokenizer): void {
  fs.rmSync(path.join(dir, 'checkpoints'), { recursive: true, force: true });
  saveModelFolder(dir, model, tokenizer);
}

/** The SFT examples: each train problem's question → its reply (worked or answer-only), loss on the reply. */
export function sftExamples(ctx: DemoContext): { train: TokenizedExample[]; eval: TokenizedExample[] } {
  const all = ctx.world.sft.map((r) =>
    tokenizeConversation(ctx.tokenizer, [...problemMessages(r.problem), { role: 'assistant', content: r.response }]));
  const nEval = Math.min(64, Math.floor(all.length / 20));
  return { train: all.slice(nEval), eval: all.slice(0, nEval) };
}

/** Stage 2: supervised fine-tuning of `model` in place. */
export async function sftStage(ctx: DemoContext, model: LlamaModel): Promise<StageResult> {
  const t0 = Date.now();
  const s = ctx.settings.sft;
  const dir = path.join(ctx.out, 'sft');
  freshDir(dir);
  const ds = sftExamples(ctx);
  const log = stepLogger(ctx, 'sft', s.steps);
  ctx.log(`sft: ${ds.train.length} examples (${ctx.world.sft.filter((r) => r.answerOnly).length} answer-only), ${s.steps} steps of ${s.batchSize}x${s.seqLen} packed`);
  const trainer = new SFTTrainer({
    model, tokenizer: ctx.tokenizer, trainData: ds.train, evalData: ds.eval, outDir: dir, steps: s.steps, seqLen: s.seqLen,
    batchSize: s.batchSize, lr: s.lr, warmupSteps: s.warmupSteps, evalEvery: Math.max(1, Math.round(s.steps / 5)), evalBatches: 4,
    checkpointEvery: 0, keepCheckpoints: 1, seed: ctx.settings.seed, device: ctx.settings.device,
    callbacks: { onStep: (m) => log(m.step, `loss ${m.loss.toFixed(3)}  ${Math.round(m.tokensPerSecond)} tok/s`) },
  });
  let metrics: Record<string, number>;
  try {
    const r = await trainer.train();
    const h = trainer.history;
    metrics = { firstLoss: h.train[0].loss, lastLoss: r.loss, firstEvalLoss: h.eval[0]?.loss ?? NaN, lastEvalLoss: r.evalLoss ?? NaN };
  } finally {
    trainer.dispose();
  }
  finishStageFolder(dir, model, ctx.tokenizer);
  return evaluateStage(ctx, 'sft', model, dir, minutesSince(t0), metrics);
}

/** Mean of the first and of the last `n` values of a series. */
function ends(xs: number[], n: number): { first: number; last: number } {
  const m = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
  const k = Math.max(1, Math.min(n, Math.floor(xs.length / 2)));
  return { first: m(xs.slice(0, k)), last: m(xs.slice(-k)) };
}

/** Stage 3: GRPO on the train questions with the answer reward, KL to the SFT model; trains `model` in place. */
export async function grpoStage(ctx: DemoContext, model: LlamaModel): Promise<StageResult> {
  const t0 = Date.now();
  const g = ctx.settings.grpo;
  const dir = path.join(ctx.out, 'grpo');
  freshDir(dir);
  const log = stepLogger(ctx, 'grpo', g.steps);
  ctx.log(`grpo: ${g.steps} steps of ${g.promptsPerStep} questions x ${g.numGenerations} completions, beta ${g.beta}`);
  const trainer = new GRPOTrainer({
    model, tokenizer: ctx.tokenizer,
    dataset: ctx.world.train.map((p) => ({ prompt: problemMessages(p), answer: p.answer })),
    outDir: dir, steps: g.steps, promptsPerStep: g.promptsPerStep, numGenerations: g.numGenerations, beta: g.beta,
    learningRate: g.learningRate, temperature: g.temperature, maxCompletionLength: g.maxCompletionLength,
    rewardFuncs: [makeMathAccuracyReward(DEMO_EXTRACT)],
    checkpointEvery: 0, keepCheckpoints: 1, seed: ctx.settings.seed, device: ctx.settings.device,
    callbacks: {
      onStep: (m: GRPOStepMetrics) =>
        log(m.step, `reward ${m.reward.toFixed(3)}  kl ${(m.kl ?? 0).toFixed(4)}  len ${m.completionLength.toFixed(1)}  ${m.stepSeconds.toFixed(1)} s/step`),
    },
  });
  let metrics: Record<string, number>;
  try {
    await trainer.train();
    const rw = ends(trainer.history.map((m) => m.reward), 5);
    metrics = {
      firstReward: rw.first,
      lastReward: rw.last,
      lastKl: trainer.history[trainer.history.length - 1].kl ?? NaN,
    };
  } finally {
    trainer.dispose();
  }
  finishStageFolder(dir, model, ctx.tokenizer);
  return evaluateStage(ctx, 'grpo', model, dir, minutesSince(t0), metrics);
}

/** accuracy.svg: held-out greedy accuracy and maj@k after each stage. */
export function accuracyPlot(stages: StageResult[]): string {
  const pts = (f: (r: StageResult) => number) => stages.map((r, i) => [i + 1, f(r) * 100] as [number, number]);
  return linePlotSvg(
    [
      { name: 'greedy accuracy', points: pts((r) => r.accuracy), markers: true },
      { name: `maj@${stages[0]?.k ?? 'k'}`, points: pts((r) => r.majAtK), markers: true },
    ],
    {
      title: 'held-out accuracy after each stage',
      xLabel: `stage (${stages.map((r, i) => `${i + 1} ${r.stage}`).join(', ')})`,
      yLabel: '% correct',
    },
  );
}

/** The table printed at the end. */
export function summaryTable(stages: StageResult[]): string {
  const k = stages[0]?.k ?? 0;
  const pc = (x: number) => `${(x * 100).toFixed(1)}%`;
  const rows = [['stage', 'accuracy', `maj@${k}`, 'worked', 'any format', 'minutes']];
  for (const r of stages) rows.push([r.stage, pc(r.accuracy), pc(r.majAtK), pc(r.workedShare), pc(r.looseAccuracy), r.minutes.toFixed(2)]);
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ')).join('\n');
}

/**
 * The held-out problems as GSM8K JSONL ({question, answer: "<worked lines>\n#### n"}), so that
 * `mathrl eval --model <stage> --data <out>/data/test.jsonl --chat --prompt-suffix ''` scores a stage.
 */
export function heldOutJsonl(world: World): string {
  return world.test.map((p) => JSON.stringify({ question: p.question, answer: `${workedSteps(p.start, p.sentences).join('\n')}\n#### ${p.answer}` })).join('\n') + '\n';
}

/** Runs the whole demo; see the file comment for what lands in opts.out. */
export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  if (!opts || typeof opts.out !== 'string' || opts.out === '') throw new Error('demo: out (the output folder) is required');
  const t0 = Date.now();
  const settings = demoSettings(opts);
  const log = opts.log ?? (() => {});
  const out = path.resolve(opts.out);
  fs.mkdirSync(out, { recursive: true });
  const world = makeWorld({ seed: settings.seed, ...settings.world });
  log(`world: ${world.train.length} train / ${world.test.length} held-out problems, ${world.corpus.length} corpus documents (seed ${settings.seed})`);
  fs.mkdirSync(path.join(out, 'data'), { recursive: true });
  writeFileAtomic(path.join(out, 'data', 'test.jsonl'), heldOutJsonl(world));
  const tokenizer = trainDemoTokenizer(world, settings.vocabSize, out);
  log(`tokenizer: byte-level BPE, ${tokenizer.vocabSize} tokens`);
  // the model's vocabulary is the tokenizer's (BPE training may stop short of the target size)
  settings.model = { ...settings.model, vocabSize: tokenizer.vocabSize };
  const ctx: DemoContext = { settings, out, world, tokenizer, log };
  const stages: StageResult[] = [];
  const done = (r: StageResult) => {
    stages.push(r);
    opts.onStage?.(r);
    writeFileAtomic(path.join(out, 'accuracy.svg'), accuracyPlot(stages));
  };
  const pt = await pretrainStage(ctx);
  const model = pt.model;
  let summary: DemoSummary;
  try {
    done(pt.result);
    done(await sftStage(ctx, model));
    done(await grpoStage(ctx, model));
    summary = {
      settings,
      parameters: countParameters(settings.model),
      world: {
        train: world.train.length, test: world.test.length, corpusDocuments: world.corpus.length, corpusTokens: pt.corpusTokens,
        sftAnswerOnly: world.sft.filter((r) => r.answerOnly).length,
      },
      stages,
      minutes: minutesSince(t0),
      out,
    };
  } finally {
    model.dispose();
  }
  writeFileAtomic(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
