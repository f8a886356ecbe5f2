// What the training commands (`mathrl pretrain`, `mathrl sft`, `mathrl grpo`) share: the option table
// and its parsing, model/tokenizer setup, the output folder's run.json (the resolved options, reused by
// --resume), the trainer's numeric options, progress, Ctrl-C, cleanup on failure.
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { LLAMA_PRESETS, LlamaConfig, LlamaPresetName, countParameters, presetConfig, readConfig } from '../model/config';
import type { LlamaModel } from '../model/llama';
import { Tokenizer, trainBpe } from '../tokenizer';
import { Progress } from '../util/progress';
import { latestCheckpoint, listCheckpoints, loadModelDir, readTrainerState, writeFileAtomic } from '../train/checkpoint';
import type { ModelSource, Trainer, TrainerConfig, TrainResult } from '../train/trainer';

export interface OptSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  help: string;
  /** Placeholder in the usage text. */
  arg?: string;
  num?: 'int' | 'float';
}

/** Options pretrain and sft both take (grpo takes some of them, see sharedOption). */
export const COMMON_OPTIONS = {
  out: { type: 'string', arg: 'dir', help: 'output folder: checkpoints/, metrics.jsonl, loss.svg, run.json (required)' },
  preset: { type: 'string', arg: 'name', help: `model size: ${Object.keys(LLAMA_PRESETS).join(', ')} (default tiny-1m)` },
  config: { type: 'string', arg: 'file', help: 'model config.json (instead of a preset)' },
  model: { type: 'string', arg: 'dir', help: 'start from these weights (HF folder or mathrl checkpoint: config.json + model.safetensors)' },
  hidden: { type: 'string', arg: 'N', num: 'int', help: 'override hidden size' },
  layers: { type: 'string', arg: 'N', num: 'int', help: 'override number of layers' },
  heads: { type: 'string', arg: 'N', num: 'int', help: 'override attention heads' },
  'kv-heads': { type: 'string', arg: 'N', num: 'int', help: 'override key/value heads' },
  intermediate: { type: 'string', arg: 'N', num: 'int', help: 'override MLP size' },
  tokenizer: { type: 'string', arg: 'dir', help: 'tokenizer folder (tokenizer.json); default: the --model one, or train a BPE on the data' },
  'vocab-size': { type: 'string', arg: 'N', num: 'int', help: "vocabulary of a BPE trained on the data (default: the preset's)" },
  'seq-len': { type: 'string', arg: 'N', num: 'int', help: 'sequence length (positions per row)' },
  batch: { type: 'string', arg: 'N', num: 'int', help: 'sequences per micro-batch (default 8)' },
  'grad-accum': { type: 'string', arg: 'N', num: 'int', help: 'micro-batches per step (default 1)' },
  steps: { type: 'string', arg: 'N', num: 'int', help: 'optimizer steps (default 1000)' },
  lr: { type: 'string', arg: 'x', num: 'float', help: 'peak learning rate' },
  'min-lr': { type: 'string', arg: 'x', num: 'float', help: 'cosine floor (default lr/10)' },
  warmup: { type: 'string', arg: 'N', num: 'int', help: 'linear warmup steps (default min(100, 5% of steps))' },
  'weight-decay': { type: 'string', arg: 'x', num: 'float', help: 'AdamW weight decay' },
  clip: { type: 'string', arg: 'x', num: 'float', help: 'gradient-norm clipping (default 1; 0: off)' },
  'eval-every': { type: 'string', arg: 'N', num: 'int', help: 'eval loss every N steps (default 100; 0: at the end)' },
  'eval-batches': { type: 'string', arg: 'N', num: 'int', help: 'batches per eval (default 8)' },
  'eval-data': { type: 'string', arg: 'file', multiple: true, help: 'held-out data (default: --eval-fraction of --data)' },
  'eval-fraction': { type: 'string', arg: 'x', num: 'float', help: 'fraction of documents/examples held out (default 0.05)' },
  'ckpt-every': { type: 'string', arg: 'N', num: 'int', help: 'checkpoint every N steps (default 500; 0: at the end)' },
  keep: { type: 'string', arg: 'N', num: 'int', help: 'checkpoints kept (default 2; 0: all)' },
  'on-bad-line': { type: 'string', arg: 'error|skip', help: 'malformed JSONL lines: stop (default) or skip and report' },
  resume: { type: 'boolean', help: 'continue from the newest checkpoint in --out (its options are reused)' },
  device: { type: 'string', arg: 'cpu|cuda', help: 'where to train (default cpu; cuda computes in bf16)' },
  seed: { type: 'string', arg: 'N', num: 'int', help: 'seed of init, data split and order (default 0)' },
  quiet: { type: 'boolean', help: 'no progress line' },
} satisfies Record<string, OptSpec>;

/** One of COMMON_OPTIONS (its type, placeholder and number check), with another help text when given. */
export function sharedOption(name: keyof typeof COMMON_OPTIONS, help?: string): OptSpec {
  const spec: OptSpec = COMMON_OPTIONS[name];
  return help === undefined ? spec : { ...spec, help };
}

export function usageText(opts: Record<string, OptSpec>): string {
  const rows = Object.entries(opts).map(([k, o]) => [`--${k}${o.type === 'string' ? ` <${o.arg ?? 'value'}>` : ''}`, o.help]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return '[options]\n\noptions:\n' + rows.map(([a, h]) => `  ${a.padEnd(w)}  ${h}`).join('\n');
}

export type Values = Record<string, string | boolean | string[] | undefined>;

/** Parses argv strictly; numbers are checked here (with the option's name in the message). */
export function parse(argv: string[], specs: Record<string, OptSpec>): Values {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [k, s] of Object.entries(specs)) options[k] = s.multiple ? { type: s.type, multiple: true } : { type: s.type };
  let values: Values;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Values;
  } catch (e) {
    throw new Error((e as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  for (const [k, s] of Object.entries(specs)) {
    const v = values[k];
    if (v === undefined || !s.num) continue;
    const n = Number(v);
    if (v === '' || !Number.isFinite(n) || (s.num === 'int' && !Number.isInteger(n)))
      throw new Error(`--${k} must be ${s.num === 'int' ? 'an integer' : 'a number'}, got '${v}'`);
  }
  return values;
}

export function num(v: Values, k: string): number | undefined {
  const x = v[k];
  return typeof x === 'string' ? Number(x) : undefined;
}

export function str(v: Values, k: string): string | undefined {
  const x = v[k];
  return typeof x === 'string' ? x : undefined;
}

export function list(v: Values, k: string): string[] | undefined {
  const x = v[k];
  return Array.isArray(x) && x.length ? x : typeof x === 'string' ? [x] : undefined;
}

export function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

/** What every training command starts with. */
export interface RunStart {
  /** The options: the given ones, on --resume over those saved in <out>/run.json. */
  v: Values;
  /** The checkpoint to resume from (--resume with a checkpoint in --out). */
  resumeFrom?: string;
  quiet: boolean;
  log: (s: string) => void;
  out: string;
  device: 'cpu' | 'cuda';
}

/** Parses argv (strictly), merges --resume's saved options, checks --out and --device. */
export function startRun(kind: string, argv: string[], specs: Record<string, OptSpec>): RunStart {
  const given = parse(argv, specs);
  const { values: v, resumeFrom } = runOptions(kind, given);
  const quiet = v.quiet === true;
  const log = logger(quiet);
  const out = str(v, 'out')!;
  const device = oneOf('device', str(v, 'device'), ['cpu', 'cuda'] as const, 'cpu');
  return { v, resumeFrom, quiet, log, out, device };
}

const RUN_FILE = 'run.json';

/**
 * The options of this run: on --resume, those saved in <out>/run.json with the ones given now on top
 * (e.g. a larger --steps); otherwise the given ones.
 */
export function runOptions(kind: string, values: Values): { values: Values; resumeFrom?: string } {
  const out = str(values, 'out');
  if (!out) throw new Error('--out <dir> is required');
  const resume = values.resume === true;
  const ckpt = resume ? latestCheckpoint(out) : undefined;
  if (!resume && listCheckpoints(out).length)
    throw new Error(`${out} already holds checkpoints; pass --resume to continue, or choose another --out`);
  if (!ckpt) return { values };
  const file = path.join(out, RUN_FILE);
  let saved: Values = {};
  if (fs.existsSync(file)) {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { kind?: string; options?: Values };
    if (j.kind && j.kind !== kind) throw new Error(`${out} is a '${j.kind}' run, not '${kind}'`);
    saved = j.options ?? {};
  }
  const merged: Values = { ...saved };
  for (const [k, v] of Object.entries(values)) if (v !== undefined) merged[k] = v;
  readTrainerState(ckpt); // fail early on a damaged checkpoint
  return { values: merged, resumeFrom: ckpt };
}

export function saveRunOptions(kind: string, values: Values): void {
  const out = str(values, 'out')!;
  const { resume: _r, quiet: _q, ...rest } = values;
  writeFileAtomic(path.join(out, RUN_FILE), JSON.stringify({ kind, options: rest }, null, 2) + '\n');
}

/** Tracks what a run created, to remove it again when setup fails (nothing half-written is left). */
export class Cleanup {
  private readonly paths: string[] = [];

  /** Creates dir when missing, remembering to remove it on failure. */
  mkdir(dir: string): void {
    const missing: string[] = [];
    for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) missing.push(d);
    fs.mkdirSync(dir, { recursive: true });
    if (missing.length) this.paths.push(missing[missing.length - 1]);
  }

  /** A file or folder this run is about to create. */
  add(p: string): void {
    if (!fs.existsSync(p)) this.paths.push(p);
  }

  undo(): void {
    for (const p of this.paths.reverse()) fs.rmSync(p, { recursive: true, force: true });
  }
}

export function checkChatFormat(tok: Tokenizer): void {
  if (tok.chatTemplate === undefined && tok.eosToken === undefined) throw new Error('the tokenizer has neither a chat template nor an eos_token');
}

/**
 * Loads --model (HF folder or mathrl checkpoint) on device with --tokenizer or the folder's tokenizer;
 * with chat, the tokenizer must be able to format conversations. Nothing stays allocated on failure.
 */
export function loadModelAndTokenizer(v: Values, device: 'cpu' | 'cuda', opts: { chat?: boolean } = {}): { model: LlamaModel; tok: Tokenizer } {
  const dir = str(v, 'model')!;
  const loaded = loadModelDir(dir, { device });
  try {
    const tdir = str(v, 'tokenizer');
    if (!tdir && !loaded.tokenizer) throw new Error(`--model ${dir} has no tokenizer.json; pass --tokenizer`);
    const tok = tdir ? Tokenizer.fromDir(tdir) : loaded.tokenizer!;
    if (opts.chat) checkChatFormat(tok);
    return { model: loaded.model, tok };
  } catch (e) {
    loaded.model.dispose();
    throw e;
  }
}

/**
 * The model and tokenizer of a pretrain / sft run: the checkpoint's when resuming, --model's, or a
 * fresh model (--config / --preset and overrides) with --tokenizer or a BPE trained on texts() and
 * saved to <out>/tokenizer (which cleanup then removes on failure).
 */
export function setupModel(
  r: RunStart,
  seqLen: number,
  cleanup: Cleanup,
  texts: () => Iterable<string>,
): { tok: Tokenizer; model: ModelSource } {
  const { v, resumeFrom, log } = r;
  if (resumeFrom) {
    const tok = Tokenizer.fromDir(resumeFrom);
    const model = readConfig(resumeFrom);
    log(`resuming from ${resumeFrom}`);
    return { tok, model };
  }
  if (str(v, 'model')) return loadModelAndTokenizer(v, r.device);
  cleanup.add(path.join(r.out, 'tokenizer'));
  const presetVocab = LLAMA_PRESETS[(str(v, 'preset') ?? 'tiny-1m') as LlamaPresetName]?.vocabSize ?? 4096;
  const tok = getTokenizer(v, texts, presetVocab, log);
  return { tok, model: modelConfig(v, tok, seqLen) };
}

/** The numeric options that every trainer's config has under the same name (GRPOConfig too). */
export function sharedTrainerNumbers(v: Values) {
  return {
    steps: num(v, 'steps'),
    warmupSteps: num(v, 'warmup'),
    weightDecay: num(v, 'weight-decay'),
    maxGradNorm: num(v, 'clip'),
    checkpointEvery: num(v, 'ckpt-every'),
    keepCheckpoints: num(v, 'keep'),
    seed: num(v, 'seed'),
  };
}

/** TrainerConfig's numeric options (pretrain / sft); seqLen is the command's. */
export function trainerNumbers(v: Values): Partial<TrainerConfig> {
  return {
    batchSize: num(v, 'batch'),
    gradAccum: num(v, 'grad-accum'),
    lr: num(v, 'lr'),
    minLr: num(v, 'min-lr'),
    evalEvery: num(v, 'eval-every'),
    evalBatches: num(v, 'eval-batches'),
    ...sharedTrainerNumbers(v),
  };
}

/** "model: N parameters (hidden H, L layers, vocab V) on device". */
export function describeModel(model: LlamaModel): string {
  const cfg = model.config;
  return (
    `model: ${countParameters(cfg).toLocaleString('en-US')} parameters (hidden ${cfg.hiddenSize}, ${cfg.numHiddenLayers} layers, ` +
    `vocab ${cfg.vocabSize}) on ${model.device}`
  );
}

/** The closing lines of a pretrain / sft run. */
export function doneMessage(r: TrainResult, out: string): string {
  return (
    `${r.stopped ? 'stopped' : 'done'} at step ${r.step}: train loss ${r.loss.toFixed(4)}` +
    (r.evalLoss !== undefined ? `, eval loss ${r.evalLoss.toFixed(4)}` : '') +
    `\ncheckpoint: ${r.checkpoint}\nmetrics: ${path.join(out, 'metrics.jsonl')}\nplot: ${path.join(out, 'loss.svg')}`
  );
}

/** Ctrl-C stops the trainer after its step (it writes a checkpoint); a second one quits. Returns the remover. */
export function stopOnInterrupt(trainer: { stop(): void }, log: (s: string) => void): () => void {
  let interrupted = 0;
  const onSig = (): void => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    log('interrupted: stopping after this step and writing a checkpoint (Ctrl-C again to quit now)');
    trainer.stop();
  };
  process.on('SIGINT', onSig);
  return () => process.off('SIGINT', onSig);
}

/** The model config of a fresh run: --config or --preset, size overrides, the tokenizer's vocabulary. */
export function modelConfig(v: Values, tok: Tokenizer, seqLen: number): LlamaConfig {
  let cfg: LlamaConfig;
  const file = str(v, 'config');
  if (file) cfg = readConfig(file);
  else {
    const name = str(v, 'preset') ?? 'tiny-1m';
    if (!(name in LLAMA_PRESETS)) throw new Error(`--preset must be one of ${Object.keys(LLAMA_PRESETS).join(', ')}, got '${name}'`);
    cfg = presetConfig(name as LlamaPresetName);
  }
  const o: Partial<LlamaConfig> = { vocabSize: tok.vocabSize };
  if (num(v, 'hidden') !== undefined) o.hiddenSize = num(v, 'hidden');
  if (num(v, 'layers') !== undefined) o.numHiddenLayers = num(v, 'layers');
  if (num(v, 'heads') !== undefined) o.numAttentionHeads = num(v, 'heads');
  if (num(v, 'kv-heads') !== undefined) o.numKeyValueHeads = num(v, 'kv-heads');
  if (num(v, 'intermediate') !== undefined) o.intermediateSize = num(v, 'intermediate');
  if (o.hiddenSize !== undefined || o.numAttentionHeads !== undefined) {
    const h = o.hiddenSize ?? cfg.hiddenSize;
    const n = o.numAttentionHeads ?? cfg.numAttentionHeads;
    if (h % n !== 0) throw new Error(`--hidden ${h} must be a multiple of the number of heads ${n}`);
    o.headDim = h / n;
  }
  if (o.numAttentionHeads !== undefined && num(v, 'kv-heads') === undefined && cfg.numAttentionHeads !== o.numAttentionHeads)
    o.numKeyValueHeads = o.numAttentionHeads % cfg.numKeyValueHeads === 0 ? cfg.numKeyValueHeads : o.numAttentionHeads;
  const out: LlamaConfig = { ...cfg, ...o, maxPositionEmbeddings: Math.max(cfg.maxPositionEmbeddings, seqLen) };
  if (tok.bosId !== undefined) out.bosTokenId = tok.bosId;
  if (tok.eosId !== undefined) out.eosTokenId = tok.eosId;
  return out;
}

/** Loads --tokenizer, or trains a byte-level BPE on texts and saves it to <out>/tokenizer. */
export function getTokenizer(v: Values, texts: () => Iterable<string>, defaultVocab: number, log: (s: string) => void): Tokenizer {
  const dir = str(v, 'tokenizer');
  if (dir) {
    if (!fs.existsSync(dir)) throw new Error(`--tokenizer: '${dir}' does not exist`);
    return Tokenizer.fromDir(dir);
  }
  const vocab = num(v, 'vocab-size') ?? defaultVocab;
  if (vocab < 260) throw new Error(`--vocab-size must be at least 260 (256 bytes + special tokens), got ${vocab}`);
  const t0 = Date.now();
  let n = 0;
  const counted = function* (): Generator<string> {
    for (const t of texts()) {
      n++;
      yield t;
    }
  };
  const tok = trainBpe(counted(), { vocabSize: vocab });
  if (n === 0) throw new Error(`no documents in ${list(v, 'data')?.join(', ') ?? 'the data'} (empty?)`);
  const out = path.join(str(v, 'out')!, 'tokenizer');
  tok.save(out);
  log(`trained a ${tok.vocabSize}-token BPE tokenizer in ${((Date.now() - t0) / 1000).toFixed(1)}s → ${out}`);
  return Tokenizer.fromDir(out);
}

/** Runs a trainer with a progress line on stderr, a checkpoint note per checkpoint and Ctrl-C handling. */
export async function runTrainer(trainer: Trainer, quiet: boolean, log: (s: string) => void): Promise<TrainResult> {
  const c = trainer.config;
  const progress = new Progress({ label: trainer.kind, total: c.steps - trainer.step, unit: 'tok', silent: quiet });
  let evalLoss: number | undefined = trainer.history.eval[trainer.history.eval.length - 1]?.loss;
  let prevSeen = trainer.tokensSeen;
  trainer.on('step', (m) => {
    const metrics: Record<string, number | string> = { step: m.step, loss: m.loss, lr: m.lr };
    if (evalLoss !== undefined) metrics.eval = evalLoss;
    progress.tick(1, m.tokensSeen - prevSeen, metrics);
    prevSeen = m.tokensSeen;
  });
  trainer.on('eval', (m) => {
    evalLoss = m.loss;
  });
  trainer.on('checkpoint', (info) => log(`checkpoint step ${info.step} → ${info.dir}`));
  const removeSigint = stopOnInterrupt(trainer, log);
  try {
    const r = await trainer.train();
    if (r.stopped) progress.finish(evalLoss !== undefined ? { eval: evalLoss } : {});
    return r;
  } finally {
    removeSigint();
  }
}

export function logger(quiet: boolean): (s: string) => void {
  return (s: string) => {
    if (!quiet || /^(warning|skipped|truncated)/.test(s)) process.stderr.write(s + '\n');
  };
}
