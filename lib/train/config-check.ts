// Config resolution helpers shared by the trainers (PretrainTrainer / SFTTrainer in trainer.ts,
// GRPOTrainer in grpo.ts): the required output folder, the log / plot file defaults, the checkpoint
// record, and validators whose errors read "<op>: <key> must be …, got <value>".
import * as path from 'path';
import type { Device } from '../tensor';

/** outDir, or `${op}: outDir is required` when the config is missing or its outDir is not a non-empty string. */
export function requireOutDir(op: string, c: { outDir?: unknown } | null | undefined): string {
  if (!c || typeof c.outDir !== 'string' || c.outDir === '') throw new Error(`${op}: outDir is required`);
  return c.outDir;
}

/** A log / plot file setting: undefined means `<outDir>/<name>`, false means none. */
export function outputFile(outDir: string, value: string | false | undefined, name: string): string | false {
  return value === undefined ? path.join(outDir, name) : value;
}

/** Validators over the resolved config `r`; each throws a RangeError naming `op` and the key. */
export interface ConfigChecks<R> {
  /** A safe integer >= min. */
  int(k: keyof R & string, min: number): void;
  /** A finite number for which ok(v) holds; `what` completes "must be …". */
  num(k: keyof R & string, ok: (v: number) => boolean, what: string): void;
}

export function configChecks<R extends object>(op: string, r: R): ConfigChecks<R> {
  const value = (k: keyof R) => r[k] as unknown as number;
  return {
    int(k, min) {
      const v = value(k);
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new RangeError(`${op}: ${k} must be an integer >= ${min}, got ${v}`);
    },
    num(k, ok, what) {
      const v = value(k);
      if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new RangeError(`${op}: ${k} must be ${what}, got ${v}`);
    },
  };
}

export const nonNegative = (v: number): boolean => v >= 0;
export const positive = (v: number): boolean => v > 0;

export function checkDevice(op: string, device: unknown): asserts device is Device {
  if (device !== 'cpu' && device !== 'cuda') throw new RangeError(`${op}: device must be 'cpu' or 'cuda', got ${String(device)}`);
}

/** The JSON-safe part of a resolved config (what checkpoints record): all but outDir, resume and the file paths. */
export function configRecord(r: { outDir: string; resume: boolean; logFile: string | false; plotFile: string | false }): Record<string, unknown> {
  const { outDir: _o, resume: _r, logFile: _l, plotFile: _p, ...rest } = r;
  return rest;
}
