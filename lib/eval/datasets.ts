// GSM8K and MATH-500 JSONL loaders (formats in ../shared/data/README.md) and the CoT prompt builder.
import * as fs from 'fs';
import * as path from 'path';

export interface MathProblem {
  /** Stable id: "gsm8k/<file>/<0-based line>" for GSM8K, unique_id for MATH-500. */
  id: string;
  question: string;
  /** The final reference answer (GSM8K: after "####", thousands separators removed). */
  answer: string;
  /** The worked solution (GSM8K: the text before "####", calculator notes kept). */
  solution?: string;
  level?: number;
  subject?: string;
}

export interface MalformedLine {
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface LoadOptions {
  /** What to do with malformed lines: 'throw' (default; the error lists them) or 'skip'. */
  onMalformed?: 'throw' | 'skip';
  /** Called for each malformed line (also when skipping). */
  report?: (m: MalformedLine) => void;
  /** Keep at most this many problems (from the start of the file). */
  limit?: number;
}

/** Reads a JSONL file line by line, converting each non-blank line; collects malformed lines. */
function loadJsonl(
  what: string,
  file: string,
  convert: (obj: Record<string, unknown>, lineIndex: number) => MathProblem,
  opts: LoadOptions,
): MathProblem[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${what}: cannot read '${file}': ${(e as Error).message}`);
  }
  const lines = text.split('\n');
  const out: MathProblem[] = [];
  const bad: MalformedLine[] = [];
  const limit = opts.limit ?? Infinity;
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    const raw = lines[i].replace(/\r$/, '');
    if (raw.trim() === '') continue;
    try {
      let obj: unknown;
      try {
        obj = JSON.parse(raw);
      } catch (e) {
        throw new Error(`invalid JSON (${(e as Error).message})`);
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('not a JSON object');
      out.push(convert(obj as Record<string, unknown>, i));
    } catch (e) {
      const m = { line: i + 1, message: (e as Error).message };
      bad.push(m);
      opts.report?.(m);
    }
  }
  if (bad.length > 0 && (opts.onMalformed ?? 'throw') === 'throw') {
    const shown = bad.slice(0, 10).map((m) => `  line ${m.line}: ${m.message}`);
    if (bad.length > 10) shown.push(`  ... and ${bad.length - 10} more`);
    throw new Error(`${what}: ${bad.length} malformed line(s) in '${file}':\n${shown.join('\n')}`);
  }
  return out;
}

function str(obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new Error(`field '${key}' must be a string, got ${v === undefined ? 'nothing' : typeof v}`);
  if (v.trim() === '') throw new Error(`field '${key}' is empty`);
  return v;
}

/** The final answer of a GSM8K solution: after the last "####", trimmed, commas removed. */
export function gsm8kFinalAnswer(solution: string): string | null {
  const i = solution.lastIndexOf('####');
  if (i < 0) return null;
  const a = solution.slice(i + 4).trim().replace(/,/g, '');
  return a === '' ? null : a;
}

/** Removes GSM8K calculator annotations "<<48/2=24>>". */
export function stripCalculatorAnnotations(s: string): string {
  return s.replace(/<<[^<>]*>>/g, '');
}

/** Loads GSM8K JSONL ({question, answer: "...\n#### N"}). */
export function loadGsm8k(file: string, opts: LoadOptions = {}): MathProblem[] {
  const base = path.basename(file).replace(/\.jsonl$/, '');
  return loadJsonl('loadGsm8k', file, (obj, i) => {
    const question = str(obj, 'question');
    const full = str(obj, 'answer');
    const answer = gsm8kFinalAnswer(full);
    if (answer === null) throw new Error("field 'answer' has no final '#### N'");
    return { id: `gsm8k/${base}/${i}`, question, answer, solution: full.slice(0, full.lastIndexOf('####')).trim() };
  }, opts);
}

/** Loads MATH-500 JSONL ({problem, solution, answer, subject, level, unique_id}). */
export function loadMath500(file: string, opts: LoadOptions = {}): MathProblem[] {
  const seen = new Set<string>();
  return loadJsonl('loadMath500', file, (obj, i) => {
    const question = str(obj, 'problem');
    const answer = str(obj, 'answer');
    const id = typeof obj.unique_id === 'string' && obj.unique_id !== '' ? obj.unique_id : `math500/${i}`;
    if (seen.has(id)) throw new Error(`duplicate unique_id '${id}'`);
    const p: MathProblem = { id, question, answer };
    if (obj.solution !== undefined) p.solution = str(obj, 'solution');
    if (obj.subject !== undefined) p.subject = str(obj, 'subject');
    if (obj.level !== undefined) {
      const level = Number(obj.level);
      if (!Number.isInteger(level)) throw new Error(`field 'level' must be an integer, got ${JSON.stringify(obj.level)}`);
      p.level = level;
    }
    seen.add(id);
    return p;
  }, opts);
}

/** DeepSeekMath's chain-of-thought instruction. */
export const DEEPSEEKMATH_COT_SUFFIX = 'Please reason step by step, and put your final answer within \\boxed{}.';

export interface PromptOptions {
  /** Appended after the question (default DEEPSEEKMATH_COT_SUFFIX; '' for none). */
  suffix?: string;
  /** Between question and suffix (default '\n'). */
  separator?: string;
  /** Before the question (default ''), e.g. few-shot examples. */
  prefix?: string;
}

/**
 * The user message for a problem: prefix + question + separator + suffix. Apply the model's chat
 * template (Tokenizer.applyChatTemplate) to it for chat models.
 */
export function buildPrompt(problem: MathProblem | string, opts: PromptOptions = {}): string {
  const q = (typeof problem === 'string' ? problem : problem.question).trim();
  const suffix = opts.suffix ?? DEEPSEEKMATH_COT_SUFFIX;
  return (opts.prefix ?? '') + (suffix ? q + (opts.separator ?? '\n') + suffix : q);
}
