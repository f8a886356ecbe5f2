// `mathrl eval`: greedy accuracy, maj@k and pass@k on GSM8K / MATH-500, either of a mathrl model
// folder (--model: greedy decoding plus k samples per problem, generated here) or of precomputed
// completions (--predictions, one JSON object a line: {"id": ..., "completions": [...],
// "greedy"?: "...", "answer"?: "..."}), so outputs of any model can be scored.
import * as fs from 'fs';
import * as path from 'path';
import { CliCommand, numberOption, parseOptions } from '../command';
import { MathProblem, loadGsm8k, loadMath500 } from '../../eval/datasets';
import { AnswerFormat } from '../../eval/extract';
import { ProblemRecord, defaultPassKs, scoreProblem, summarize, EvalReport } from '../../eval/evaluate';
import { Progress } from '../../util/progress';
import { evaluate } from '../../eval/evaluate';
import { buildPrompt } from '../../eval/datasets';
import { generate } from '../../generate/generate';
import { kernelSampler } from '../../generate/samplers';
import { backends } from '../../backends';
import { loadModelAndTokenizer } from './generate';

const BENCH_FILES: Record<string, string> = {
  gsm8k: 'gsm8k/test.jsonl',
  math500: 'math/math500_test.jsonl',
};

/** The shared data folder: $MATHRL_DATA_DIR, ./shared/data, ../shared/data, or next to the package. */
function dataDir(): string {
  const candidates = [
    process.env.MATHRL_DATA_DIR,
    path.resolve('shared/data'),
    path.resolve('../shared/data'),
    path.resolve(__dirname, '../../../../../shared/data'),
    path.resolve(__dirname, '../../../../shared/data'),
  ].filter((x): x is string => !!x);
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(`cannot find the benchmark data (tried ${candidates.join(', ')}); give --data <file.jsonl> or set MATHRL_DATA_DIR`);
}

interface Prediction {
  id: string;
  completions: string[];
  greedy?: string;
  answer?: string;
  line: number;
}

function readPredictions(file: string): Prediction[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read predictions '${file}': ${(e as Error).message}`);
  }
  const out: Prediction[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      errors.push(`${where}: invalid JSON (${(e as Error).message})`);
      return;
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return void errors.push(`${where}: not a JSON object`);
    const id = typeof o.id === 'number' ? String(o.id) : o.id;
    if (typeof id !== 'string' || id === '') return void errors.push(`${where}: 'id' must be a non-empty string`);
    if (!Array.isArray(o.completions) || o.completions.some((c) => typeof c !== 'string')) {
      return void errors.push(`${where}: 'completions' must be an array of strings`);
    }
    if (o.greedy !== undefined && typeof o.greedy !== 'string') return void errors.push(`${where}: 'greedy' must be a string`);
    if (o.answer !== undefined && typeof o.answer !== 'string') return void errors.push(`${where}: 'answer' must be a string`);
    if (seen.has(id)) return void errors.push(`${where}: duplicate id '${id}'`);
    seen.add(id);
    out.push({ id, completions: o.completions as string[], greedy: o.greedy as string | undefined, answer: o.answer as string | undefined, line: i + 1 });
  });
  if (errors.length) {
    const shown = errors.slice(0, 10);
    if (errors.length > 10) shown.push(`... and ${errors.length - 10} more`);
    throw new Error(`bad predictions file:\n  ${shown.join('\n  ')}`);
  }
  if (out.length === 0) throw new Error(`predictions file '${file}' has no predictions`);
  return out;
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

function printReport(r: EvalReport, label: string, greedySource: string): void {
  const lines = [`eval: ${r.problems} problems, ${r.k} samples per problem for maj@k (${label})`];
  if (r.greedyAccuracy !== null) lines.push(`greedy accuracy  ${pct(r.greedyAccuracy)}  (${greedySource})`);
  if (r.majAtK !== null) lines.push(`maj@${r.k}`.padEnd(17) + pct(r.majAtK));
  for (const [j, v] of Object.entries(r.passAtK)) lines.push(`pass@${j}`.padEnd(17) + pct(v));
  lines.push(`no answer        ${pct(r.noAnswerRate)} of samples`);
  console.log(lines.join('\n'));
}

export const command: CliCommand = {
  name: 'eval',
  summary: 'score completions on GSM8K or MATH-500: greedy accuracy, maj@k, pass@k',
  usage:
    '(--model <dir> [--limit N] [--temperature 0.7] [--top-p 0.95] [--max-new-tokens 256] [--seed 0] [--chat] [--prompt-suffix TEXT] ' +
    '[--device cpu|cuda] [--batch-size 16] | --predictions <file.jsonl>) [--bench gsm8k|math500] [--data <file.jsonl>] [--k N] [--format auto|boxed|gsm8k] ' +
    '[--fallback last-number|none] [--first-is-greedy] [--pass-k 1,8,64] [--out records.jsonl] [--json] [--skip-malformed]',
  async run(argv) {
    const { values } = parseOptions(argv, {
      predictions: { type: 'string' },
      bench: { type: 'string' },
      data: { type: 'string' },
      k: { type: 'string' },
      format: { type: 'string' },
      fallback: { type: 'string' },
      'first-is-greedy': { type: 'boolean' },
      'pass-k': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      'skip-malformed': { type: 'boolean' },
      model: { type: 'string' },
      limit: { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      seed: { type: 'string' },
      chat: { type: 'boolean' },
      'prompt-suffix': { type: 'string' },
      device: { type: 'string' },
      'batch-size': { type: 'string' },
    });
    if (values.model && values.predictions) throw new Error('give --model or --predictions, not both');
    if (values.model) return evalModel(values);
    if (!values.predictions) {
      throw new Error('give --model <dir> (a mathrl / HF model folder) or --predictions <file.jsonl> ({"id", "completions": [...]} per line)');
    }
    const bench = values.bench;
    if (bench !== undefined && !(bench in BENCH_FILES)) throw new Error(`--bench must be gsm8k or math500, got '${bench}'`);
    const format = (values.format ?? 'auto') as AnswerFormat;
    if (!['auto', 'boxed', 'gsm8k'].includes(format)) throw new Error(`--format must be auto, boxed or gsm8k, got '${format}'`);
    const fallback = values.fallback ?? (bench === 'gsm8k' ? 'last-number' : 'none');
    if (fallback !== 'last-number' && fallback !== 'none') throw new Error(`--fallback must be last-number or none, got '${fallback}'`);

    const preds = readPredictions(values.predictions);

    // References: from the benchmark file when one is named, else from each line's "answer".
    let refs: Map<string, MathProblem> | null = null;
    let label = path.basename(values.predictions);
    if (bench || values.data) {
      const file = values.data ?? path.join(dataDir(), BENCH_FILES[bench!]);
      const kind = bench ?? dataKind(file);
      const onMalformed = values['skip-malformed'] ? 'skip' : 'throw';
      const report = (m: { line: number; message: string }) => console.error(`warning: ${file}:${m.line}: ${m.message} (skipped)`);
      const problems =
        kind === 'gsm8k'
          ? loadGsm8k(file, { onMalformed, report: values['skip-malformed'] ? report : undefined })
          : loadMath500(file, { onMalformed, report: values['skip-malformed'] ? report : undefined });
      refs = new Map(problems.map((p) => [p.id, p]));
      label = `${kind}, ${path.basename(file)}`;
    }
    const problems: { id: string; answer: string; pred: Prediction }[] = preds.map((p) => {
      if (refs) {
        const prob = refs.get(p.id);
        if (!prob) {
          const example = refs.keys().next().value;
          throw new Error(`${values.predictions}:${p.line}: id '${p.id}' is not in the benchmark (ids look like '${example}')`);
        }
        return { id: p.id, answer: prob.answer, pred: p };
      }
      if (p.answer === undefined) {
        throw new Error(`${values.predictions}:${p.line}: no 'answer' for '${p.id}' (give --bench or --data, or an "answer" per line)`);
      }
      return { id: p.id, answer: p.answer, pred: p };
    });

    const minN = Math.min(...preds.map((p) => p.completions.length));
    const k = Math.trunc(numberOption('k', values.k, minN));
    if (k < 0 || k > minN) throw new Error(`--k must be between 0 and ${minN} (the fewest completions of any problem), got ${k}`);
    const firstIsGreedy = !!values['first-is-greedy'];
    const withGreedy = preds.filter((p) => p.greedy !== undefined).length;
    if (withGreedy !== 0 && withGreedy !== preds.length) {
      throw new Error(`${withGreedy} of ${preds.length} predictions have 'greedy': give it for all or none`);
    }
    if (firstIsGreedy && withGreedy) throw new Error("--first-is-greedy conflicts with the 'greedy' field in the predictions");
    if (firstIsGreedy && minN === 0) throw new Error('--first-is-greedy needs at least one completion per problem');
    let passKs = defaultPassKs(k);
    if (values['pass-k']) {
      passKs = values['pass-k'].split(',').map((x) => {
        const j = Number(x);
        if (!Number.isInteger(j) || j < 1 || j > minN) throw new Error(`--pass-k values must be integers in 1..${minN}, got '${x}'`);
        return j;
      });
    }

    const opts = { extract: { format, lastNumberFallback: fallback === 'last-number' }, k };
    const progress = new Progress({ label: 'eval', total: problems.length, silent: !!values.json || problems.length < 200 });
    const records: ProblemRecord[] = problems.map((p) => {
      const greedy = p.pred.greedy ?? (firstIsGreedy ? p.pred.completions[0] : undefined);
      const r = scoreProblem({ id: p.id, answer: p.answer }, p.pred.completions, { ...opts, greedy });
      progress.tick();
      return r;
    });
    const report = summarize(records, k, passKs);
    progress.finish();

    if (values.out) {
      fs.writeFileSync(values.out, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    }
    if (values.json) {
      const { records: _records, ...summary } = report;
      console.log(JSON.stringify(summary));
    } else {
      printReport(report, label, withGreedy ? "'greedy' field" : 'first completion');
    }
    return 0;
  },
};

/** A --data file's format without --bench: MATH-500 rows have 'problem', GSM8K rows 'question'. */
function dataKind(file: string): 'gsm8k' | 'math500' {
  let first: unknown;
  try {
    const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => l.trim() !== '');
    first = line === undefined ? undefined : JSON.parse(line);
  } catch {
    first = undefined; // the loader reports the unreadable file or line
  }
  if (first && typeof first === 'object' && 'problem' in first) return 'math500';
  if (first && typeof first === 'object' && 'question' in first) return 'gsm8k';
  return /math/i.test(path.basename(file)) ? 'math500' : 'gsm8k';
}

/** --model mode: generate greedy and sampled completions with a mathrl model, then score them. */
async function evalModel(values: Record<string, string | boolean | undefined>): Promise<number> {
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const bench = str('bench') ?? (str('data') ? undefined : 'gsm8k');
  if (bench !== undefined && !(bench in BENCH_FILES)) throw new Error(`--bench must be gsm8k or math500, got '${bench}'`);
  const file = str('data') ?? path.join(dataDir(), BENCH_FILES[bench!]);
  const kind = bench ?? dataKind(file);
  const onMalformed = values['skip-malformed'] ? 'skip' : 'throw';
  let problems = kind === 'gsm8k' ? loadGsm8k(file, { onMalformed }) : loadMath500(file, { onMalformed });
  const limit = Math.trunc(numberOption('limit', str('limit'), problems.length));
  if (limit < 1) throw new Error(`--limit must be >= 1, got ${limit}`);
  problems = problems.slice(0, limit);
  const k = Math.trunc(numberOption('k', str('k'), 0));
  if (k < 0) throw new Error(`--k must be >= 0, got ${k}`);
  const device = str('device') ?? (backends().cuda.available ? 'cuda' : 'cpu');
  if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got '${device}'`);
  const maxNewTokens = Math.trunc(numberOption('max-new-tokens', str('max-new-tokens'), 256));
  const temperature = numberOption('temperature', str('temperature'), 0.7);
  const topP = numberOption('top-p', str('top-p'), 0.95);
  const seed = Math.trunc(numberOption('seed', str('seed'), 0));
  const batchSize = Math.trunc(numberOption('batch-size', str('batch-size'), 16));
  const format = (str('format') ?? 'auto') as AnswerFormat;
  const fallback = str('fallback') ?? (kind === 'gsm8k' ? 'last-number' : 'none');

  const { model, tokenizer } = loadModelAndTokenizer(str('model')!, device);
  try {
    const encode = (prompts: string[]): number[][] | string[] =>
      values.chat ? prompts.map((p) => tokenizer.encodeChat([{ role: 'user', content: p }], { addGenerationPrompt: true })) : prompts;
    let calls = 0;
    const run = (prompts: string[], n: number, greedy: boolean): string[][] => {
      const rows = prompts.flatMap((p) => Array<string>(n).fill(p));
      const res = generate(model, tokenizer, encode(rows) as string[], {
        maxNewTokens,
        sampler: greedy ? undefined : kernelSampler({ temperature, topP, seed: seed + 7919 * calls++ }),
        temperature: 0,
        batchSize,
      });
      return prompts.map((_, i) => res.text.slice(i * n, (i + 1) * n));
    };
    const progress = new Progress({ label: `eval ${kind}`, total: problems.length, silent: !!values.json });
    let shown = 0;
    const report = await evaluate({
      problems,
      greedy: async (prompts) => run(prompts, 1, true),
      generate: k > 0 ? async (prompts, n) => run(prompts, n, false) : undefined,
      k,
      batchSize,
      // the question, a newline and the DeepSeekMath chain-of-thought instruction (--prompt-suffix '' : the question alone)
      prompt: (p) => buildPrompt(p, { suffix: str('prompt-suffix') }),
      extract: { format, lastNumberFallback: fallback === 'last-number' },
      onProgress: ({ done }) => {
        progress.tick(done - shown);
        shown = done;
      },
    });
    progress.finish();
    if (str('out')) fs.writeFileSync(str('out')!, report.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    if (values.json) {
      const { records: _records, ...summary } = report;
      console.log(JSON.stringify(summary));
    } else printReport(report, `${kind}, ${path.basename(file)}, ${problems.length} problems, model ${path.basename(str('model')!)}`, 'greedy decoding');
    return 0;
  } finally {
    model.dispose();
  }
}
