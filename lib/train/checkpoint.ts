// Training checkpoints: one folder per step under <outDir>/checkpoints/step-NNNNNNNN holding
//   model.safetensors, config.json, tokenizer.json, tokenizer_config.json   (a loadable HF-style model)
//   optimizer.safetensors   AdamW moments (`<param>.exp_avg` / `.exp_avg_sq`), metadata {step}
//   trainer_state.json      step, data-loader state (epoch, position, RNG state), config, metrics so far
// Each is written into a temporary folder that is renamed into place when complete, so a folder named
// step-* is always whole; a crash leaves at most a .tmp-* folder, which is ignored and cleaned up.
import * as fs from 'fs';
import * as path from 'path';
import { Device, Tensor } from '../tensor';
import { LlamaModel, LlamaModelOptions } from '../model/llama';
import { LlamaConfig, readConfig, writeConfig } from '../model/config';
import { loadCheckpoint, loadSafetensors, saveSafetensors } from '../io/safetensors';
import { Tokenizer } from '../tokenizer';
import type { AdamW } from '../optim/adamw';

export const CHECKPOINTS_DIR = 'checkpoints';
const STEP_RE = /^step-(\d+)$/;

/** Writes a file via a temporary name in the same folder and a rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** The complete checkpoint folders under outDir, oldest first. */
export function listCheckpoints(outDir: string): { step: number; dir: string }[] {
  const root = path.join(outDir, CHECKPOINTS_DIR);
  if (!fs.existsSync(root)) return [];
  const out: { step: number; dir: string }[] = [];
  for (const name of fs.readdirSync(root)) {
    const m = STEP_RE.exec(name);
    const dir = path.join(root, name);
    if (m && fs.existsSync(path.join(dir, 'trainer_state.json'))) out.push({ step: Number(m[1]), dir });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint folder under outDir, or undefined. */
export function latestCheckpoint(outDir: string): string | undefined {
  const l = listCheckpoints(outDir);
  return l.length ? l[l.length - 1].dir : undefined;
}

export interface CheckpointContents {
  model: LlamaModel;
  tokenizer: Tokenizer;
  optimizer: AdamW;
  /** JSON-serializable trainer state. */
  state: Record<string, unknown> & { step: number };
  /** More safetensors files to write into the folder (file name → tensors), e.g. GRPO's reference model. */
  extraTensors?: Record<string, Map<string, Tensor>>;
}

/**
 * Writes a checkpoint for `step` under outDir/checkpoints atomically and returns its folder. Keeps
 * the newest `keep` checkpoints (0: all).
 */
export function saveTrainingCheckpoint(outDir: string, c: CheckpointContents, keep = 0): string {
  const root = path.join(outDir, CHECKPOINTS_DIR);
  fs.mkdirSync(root, { recursive: true });
  const final = path.join(root, checkpointName(c.state.step));
  const tmp = path.join(root, `.tmp-${checkpointName(c.state.step)}-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    fs.mkdirSync(tmp);
    saveSafetensors(path.join(tmp, 'model.safetensors'), c.model.params, { format: 'pt' });
    writeConfig(tmp, c.model.config);
    c.tokenizer.save(tmp);
    saveSafetensors(path.join(tmp, 'optimizer.safetensors'), c.optimizer.stateTensors(), {
      step: String(c.optimizer.stepCount),
    });
    for (const [file, tensors] of Object.entries(c.extraTensors ?? {})) saveSafetensors(path.join(tmp, file), tensors, { format: 'pt' });
    writeFileAtomic(path.join(tmp, 'trainer_state.json'), JSON.stringify(c.state) + '\n');
    if (fs.existsSync(final)) {
      const old = `${tmp}-old`;
      fs.renameSync(final, old);
      fs.renameSync(tmp, final);
      fs.rmSync(old, { recursive: true, force: true });
    } else fs.renameSync(tmp, final);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // leftovers of interrupted writes (other processes' temp folders are old by now)
  for (const name of fs.readdirSync(root))
    if (name.startsWith('.tmp-') && !name.includes(`-${process.pid}-`)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  if (keep > 0) {
    const all = listCheckpoints(outDir);
    for (const { dir } of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(dir, { recursive: true, force: true });
  }
  return final;
}

export interface LoadedTrainingState {
  dir: string;
  state: Record<string, unknown> & { step: number };
}

/** Reads trainer_state.json of a checkpoint folder. */
export function readTrainerState(dir: string): LoadedTrainingState {
  const file = path.join(dir, 'trainer_state.json');
  let state: unknown;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`checkpoint: cannot read ${file}: ${(e as Error).message}`);
  }
  if (state === null || typeof state !== 'object' || !Number.isSafeInteger((state as { step?: unknown }).step))
    throw new Error(`checkpoint: ${file} has no step`);
  return { dir, state: state as LoadedTrainingState['state'] };
}

/** Restores model weights and optimizer moments from a checkpoint folder (shapes must match). */
export function restoreWeights(dir: string, model: LlamaModel, optimizer: AdamW): void {
  const params = loadSafetensors(path.join(dir, 'model.safetensors'), { device: model.device, dtype: 'f32' });
  try {
    model.loadParams(params);
  } finally {
    for (const t of params.values()) t.dispose();
  }
  const file = path.join(dir, 'optimizer.safetensors');
  const moments = loadSafetensors(file, { device: model.device, dtype: 'f32' });
  try {
    const { step } = readTrainerState(dir).state;
    optimizer.loadState(moments, step);
  } finally {
    for (const t of moments.values()) t.dispose();
  }
}

export interface LoadModelOptions extends LlamaModelOptions {
  device?: Device;
}

/**
 * A model from a folder with config.json and model.safetensors (or sharded safetensors): an HF model
 * folder or a mathrl checkpoint. Returns the tokenizer too when the folder has tokenizer.json.
 */
export function loadModelDir(dir: string, opts: LoadModelOptions = {}): { model: LlamaModel; config: LlamaConfig; tokenizer?: Tokenizer } {
  if (!fs.existsSync(dir)) throw new Error(`model: '${dir}' does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`model: '${dir}' is not a folder (expected config.json + model.safetensors)`);
  const config = readConfig(dir);
  const tensors = loadCheckpoint(dir, { device: opts.device ?? 'cpu' });
  let model: LlamaModel;
  try {
    model = LlamaModel.fromParams(config, tensors, { ...opts, ignore: (n) => n.includes('rotary_emb') });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  const tokenizer = fs.existsSync(path.join(dir, 'tokenizer.json')) ? Tokenizer.fromDir(dir) : undefined;
  return { model, config, tokenizer };
}
