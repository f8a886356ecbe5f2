// `mathrl grpo`: GRPO reinforcement learning of a model on math questions with reference answers
// (GSM8K {question, answer "... #### n"}, MATH {problem, answer | solution}, or {prompt|question, answer}),
// rewarded by answer accuracy (and optionally the \boxed{} format). See lib/train/grpo.ts.
import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../command';
import { countParameters } from '../../model/config';
import { lastBoxed } from '../../eval/extract';
import { DEEPSEEKMATH_COT_SUFFIX, buildPrompt, gsm8kFinalAnswer } from '../../eval/datasets';
import { GRPOExample, GRPOTrainer } from '../../train/grpo';
import { NamedReward, boxedFormatReward, makeMathAccuracyReward } from '../../train/rewards';
import { Progress } from '../../util/progress';
import {
  Cleanup, OptSpec, list, loadModelAndTokenizer, num, oneOf, saveRunOptions, sharedOption, sharedTrainerNumbers, startRun,
  stopOnInterrupt, str, usageText,
} from '../train-common';

const OPTIONS: Record<string, OptSpec> = {
  model: sharedOption('model', 'the policy to train: HF folder or mathrl checkpoint (required)'),
  data: {
    type: 'string',
    multiple: true,
    arg: 'file.jsonl',
    help: 'lines of GSM8K {"question","answer"}, MATH {"problem","answer"|"solution"} or {"prompt","answer"}; repeatable (required)',
  },
  out: sharedOption('out', 'output folder: checkpoints/, metrics.jsonl, reward.svg, run.json (required)'),
  tokenizer: sharedOption('tokenizer', "tokenizer folder (default: the model's)"),
  steps: sharedOption('steps', 'GRPO steps (generation batches; default 100)'),
  'prompts-per-step': { type: 'string', arg: 'N', num: 'int', help: 'questions per step (default 4); batch = this x G completions' },
  'num-generations': { type: 'string', arg: 'G', num: 'int', help: 'completions per question (default 8)' },
  'micro-batch': { type: 'string', arg: 'N', num: 'int', help: 'completions per forward/backward (default: the whole batch)' },
  lr: sharedOption('lr', 'learning rate (default 1e-6)'),
  'min-lr': sharedOption('min-lr', 'cosine floor after warmup (default: lr, constant)'),
  warmup: sharedOption('warmup', 'warmup optimizer steps (default 0)'),
  'weight-decay': sharedOption('weight-decay', 'AdamW weight decay (default 0)'),
  clip: sharedOption('clip'),
  beta: { type: 'string', arg: 'x', num: 'float', help: 'KL coefficient (default 0.04; 0: no reference model)' },
  epsilon: { type: 'string', arg: 'x', num: 'float', help: 'lower clip epsilon (default 0.2)' },
  'epsilon-high': { type: 'string', arg: 'x', num: 'float', help: 'upper clip epsilon (default: --epsilon)' },
  'num-iterations': { type: 'string', arg: 'N', num: 'int', help: 'optimizer steps per generation batch, mu (default 1)' },
  'loss-type': { type: 'string', arg: 'grpo|bnpo|dapo|dr_grpo', help: 'loss aggregation (default grpo)' },
  'scale-rewards': { type: 'string', arg: 'group|batch|none', help: 'advantage scaling (default group)' },
  'max-prompt-length': { type: 'string', arg: 'N', num: 'int', help: 'prompt tokens kept, from the end (default 512)' },
  'max-completion-length': { type: 'string', arg: 'N', num: 'int', help: 'most tokens per completion (default 256)' },
  temperature: { type: 'string', arg: 'x', num: 'float', help: 'sampling temperature (default 1)' },
  'top-p': { type: 'string', arg: 'x', num: 'float', help: 'nucleus sampling (default 1: off)' },
  'mask-truncated-completions': { type: 'boolean', help: 'leave completions without a stop token out of the loss' },
  reward: { type: 'string', arg: 'list', help: 'reward functions, comma-separated: accuracy, format (default accuracy)' },
  'reward-weights': { type: 'string', arg: 'list', help: 'one weight per reward, comma-separated (default 1 each)' },
  'sync-ref-steps': { type: 'string', arg: 'K', num: 'int', help: 'iterative RL: reset the reference model to the policy every K steps' },
  'cot-suffix': { type: 'string', arg: 'text', help: `appended to each question (default "${DEEPSEEKMATH_COT_SUFFIX}")` },
  'no-cot': { type: 'boolean', help: 'append no suffix' },
  limit: { type: 'string', arg: 'N', num: 'int', help: 'use the first N questions' },
  'ckpt-every': sharedOption('ckpt-every', 'checkpoint every N steps (default 100; 0: at the end)'),
  keep: sharedOption('keep'),
  resume: sharedOption('resume'),
  device: sharedOption('device', 'where to train (default cpu)'),
  seed: sharedOption('seed', 'seed of the question order and sampling (default 0)'),
  quiet: sharedOption('quiet'),
};

/** Reads question/answer JSONL in the supported formats; errors name the file and line. */
export function readGrpoData(files: string[], opts: { suffix: string; limit?: number }): GRPOExample[] {
  const out: GRPOExample[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`grpo data: cannot read '${file}': ${(e as Error).message}`);
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (opts.limit !== undefined && out.length >= opts.limit) return out;
      const raw = lines[i].trim();
      if (!raw) continue;
      const where = `${file}:${i + 1}`;
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(raw);
      } catch (e) {
        throw new Error(`grpo data: ${where}: invalid JSON (${(e as Error).message})`);
      }
      if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`grpo data: ${where}: not a JSON object`);
      const q = obj.question ?? obj.problem ?? obj.prompt;
      if (typeof q !== 'string' || !q.trim()) throw new Error(`grpo data: ${where}: no "question", "problem" or "prompt" string`);
      let answer: string | null = null;
      if (typeof obj.answer === 'string') answer = obj.answer.includes('####') ? gsm8kFinalAnswer(obj.answer) : obj.answer.trim();
      else if (typeof obj.answer === 'number') answer = String(obj.answer);
      else if (typeof obj.solution === 'string') answer = lastBoxed(obj.solution);
      if (!answer) throw new Error(`grpo data: ${where}: no reference answer ("answer", or a \\boxed{} in "solution")`);
      out.push({ prompt: [{ role: 'user', content: buildPrompt(q, { suffix: opts.suffix }) }], answer });
    }
  }
  return out;
}

export const command: CliCommand = {
  name: 'grpo',
  summary: 'GRPO reinforcement learning on math questions with reference answers (accuracy/format rewards, metrics, reward plot, --resume)',
  usage: usageText(OPTIONS),
  async run(argv) {
    const { v, resumeFrom, quiet, log, out, device } = startRun('grpo', argv, OPTIONS);
    const lossType = oneOf('loss-type', str(v, 'loss-type'), ['grpo', 'bnpo', 'dapo', 'dr_grpo'] as const, 'grpo');
    const scaleRewards = oneOf('scale-rewards', str(v, 'scale-rewards'), ['group', 'batch', 'none'] as const, 'group');
    const modelDir = str(v, 'model');
    const data = list(v, 'data');
    if (!modelDir) throw new Error('--model <dir> is required');
    if (!data) throw new Error('--data <file.jsonl> is required');
    for (const f of data) if (!fs.existsSync(f)) throw new Error(`grpo data: cannot read '${f}': no such file`);
    const names = (str(v, 'reward') ?? 'accuracy').split(',').map((s) => s.trim()).filter(Boolean);
    const rewards: NamedReward[] = names.map((n) => {
      if (n === 'accuracy') return { name: 'accuracy', fn: makeMathAccuracyReward() };
      if (n === 'format') return { name: 'format', fn: boxedFormatReward };
      throw new Error(`--reward: unknown reward '${n}' (accuracy, format)`);
    });
    let weights: number[] | undefined;
    if (str(v, 'reward-weights') !== undefined) {
      weights = str(v, 'reward-weights')!.split(',').map((s) => Number(s.trim()));
      if (weights.some((w) => !Number.isFinite(w))) throw new Error(`--reward-weights must be comma-separated numbers, got '${str(v, 'reward-weights')}'`);
      if (weights.length !== rewards.length) throw new Error(`--reward-weights has ${weights.length} values for ${rewards.length} rewards (${names.join(', ')})`);
    }
    const suffix = v['no-cot'] === true ? '' : str(v, 'cot-suffix') ?? DEEPSEEKMATH_COT_SUFFIX;
    const dataset = readGrpoData(data, { suffix, limit: num(v, 'limit') });
    if (dataset.length === 0) throw new Error(`no questions in ${data.join(', ')} (empty?)`);
    const cleanup = new Cleanup();
    let trainer: GRPOTrainer | undefined;
    try {
      const { model, tok } = loadModelAndTokenizer(v, device, { chat: true });
      cleanup.mkdir(out);
      if (!resumeFrom) {
        cleanup.add(path.join(out, 'run.json'));
        saveRunOptions('grpo', v);
      }
      const sync = num(v, 'sync-ref-steps');
      trainer = new GRPOTrainer({
        model,
        tokenizer: tok,
        dataset,
        rewardFuncs: rewards,
        rewardWeights: weights,
        outDir: out,
        ...sharedTrainerNumbers(v),
        promptsPerStep: num(v, 'prompts-per-step'),
        numGenerations: num(v, 'num-generations'),
        microBatchSize: num(v, 'micro-batch'),
        learningRate: num(v, 'lr'),
        minLearningRate: num(v, 'min-lr'),
        beta: num(v, 'beta'),
        epsilon: num(v, 'epsilon'),
        epsilonHigh: num(v, 'epsilon-high'),
        numIterations: num(v, 'num-iterations'),
        lossType,
        scaleRewards,
        maxPromptLength: num(v, 'max-prompt-length'),
        maxCompletionLength: num(v, 'max-completion-length'),
        temperature: num(v, 'temperature'),
        topP: num(v, 'top-p'),
        maskTruncatedCompletions: v['mask-truncated-completions'] === true,
        syncRefModel: sync !== undefined && sync > 0,
        refModelSyncSteps: sync !== undefined && sync > 0 ? sync : undefined,
        device,
      });
      if (resumeFrom) trainer.restore(resumeFrom);
    } catch (e) {
      trainer?.dispose();
      if (!resumeFrom) cleanup.undo();
      throw e;
    }
    const ownModel = trainer.model;
    const cfg = ownModel.config;
    log(
      `model: ${countParameters(cfg).toLocaleString('en-US')} parameters on ${ownModel.device}; ${dataset.length} questions; ` +
        `${trainer.config.promptsPerStep} x ${trainer.config.numGenerations} completions per step` +
        (resumeFrom ? `; resuming from ${resumeFrom}` : ''),
    );
    const progress = new Progress({ label: 'grpo', total: trainer.config.steps - trainer.step, unit: 'tok', silent: quiet });
    trainer.on('step', (m) => {
      const metrics: Record<string, number | string> = { step: m.step, reward: m.reward };
      if (m.accuracy !== undefined) metrics.acc = m.accuracy;
      if (m.kl !== undefined) metrics.kl = m.kl;
      metrics.len = m.completionLength;
      progress.tick(1, m.tokensPerSecond * m.stepSeconds, metrics);
    });
    trainer.on('checkpoint', (info) => log(`checkpoint step ${info.step} → ${info.dir}`));
    const removeSigint = stopOnInterrupt(trainer, log);
    try {
      const r = await trainer.train();
      log(
        `${r.stopped ? 'stopped' : 'done'} at step ${r.step}: reward ${r.reward.toFixed(4)}` +
          `\ncheckpoint: ${r.checkpoint}\nmetrics: ${path.join(out, 'metrics.jsonl')}\nplot: ${path.join(out, 'reward.svg')}`,
      );
      return r.stopped ? 130 : 0;
    } finally {
      removeSigint();
      trainer.dispose();
      ownModel.dispose();
    }
  },
};
