// `mathrl generate`: text completions from a Hugging Face model folder (config.json, safetensors,
// tokenizer.json), streamed to stdout for one prompt, printed one after another for several.
import * as fs from 'fs';
import * as path from 'path';
import { backends } from '../../backends';
import { LlamaModel } from '../../model/llama';
import { loadModelDir } from '../../train/checkpoint';
import { Tokenizer } from '../../tokenizer/tokenizer';
import { generate } from '../../generate/generate';
import { CliCommand, numberOption, parseOptions } from '../command';

/** Prompts of a JSONL file: each line a JSON string or an object with "prompt", "question" or "problem". */
export function readPromptsFile(file: string): string[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    const p = typeof v === 'string' ? v
      : v && typeof v === 'object' ? ['prompt', 'question', 'problem'].map((k) => (v as Record<string, unknown>)[k]).find((x) => typeof x === 'string')
      : undefined;
    if (typeof p !== 'string') throw new Error(`${file}:${i + 1}: expected a string or an object with a "prompt", "question" or "problem" string`);
    out.push(p);
  });
  return out;
}

/** Loads a HF folder onto `device`: the model (config.json + safetensors) and its tokenizer (required). */
export function loadModelAndTokenizer(dir: string, device: 'cpu' | 'cuda'): { model: LlamaModel; tokenizer: Tokenizer } {
  const { model, tokenizer } = loadModelDir(dir, { device });
  if (!tokenizer) {
    model.dispose();
    throw new Error(`--model: '${dir}' has no tokenizer.json`);
  }
  return { model, tokenizer };
}

export const command: CliCommand = {
  name: 'generate',
  summary: 'generate text from a model folder (streams one prompt, prints several)',
  usage:
    '--model <dir> (--prompt "..." [--prompt ...] | --prompts file.jsonl) [--max-new-tokens 256] ' +
    '[--temperature 0 (greedy)] [--top-p 1] [--top-k 0] [--seed 0] [--stop STR ...] [--chat] [--device cpu|cuda] [--batch-size N]',
  run(argv) {
    const { values } = parseOptions(argv, {
      model: { type: 'string' },
      prompt: { type: 'string', multiple: true },
      prompts: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      chat: { type: 'boolean' },
      device: { type: 'string' },
      'batch-size': { type: 'string' },
    });
    if (!values.model) throw new Error('--model <dir> is required');
    const prompts = [...(values.prompt ?? []), ...(values.prompts ? readPromptsFile(path.resolve(values.prompts)) : [])];
    if (prompts.length === 0) throw new Error('give at least one --prompt or a --prompts file');
    const device = values.device ?? (backends().cuda.available ? 'cuda' : 'cpu');
    if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got '${device}'`);
    const maxNewTokens = numberOption('max-new-tokens', values['max-new-tokens'], 256);
    const batchSize = values['batch-size'] === undefined ? undefined : numberOption('batch-size', values['batch-size'], 1);
    const { model, tokenizer } = loadModelAndTokenizer(values.model, device);
    try {
      const inputs: string[] | number[][] = values.chat
        ? prompts.map((p) => tokenizer.encodeChat([{ role: 'user', content: p }], { addGenerationPrompt: true }))
        : prompts;
      const single = prompts.length === 1;
      const t0 = Date.now();
      const res = generate(model, tokenizer, inputs, {
        maxNewTokens,
        temperature: numberOption('temperature', values.temperature, 0),
        topP: numberOption('top-p', values['top-p'], 1),
        topK: numberOption('top-k', values['top-k'], 0),
        seed: numberOption('seed', values.seed, 0),
        stop: values.stop ? { strings: values.stop } : undefined,
        batchSize,
        onToken: single ? (_row, _id, delta) => delta && process.stdout.write(delta) : undefined,
      });
      const secs = (Date.now() - t0) / 1000;
      const total = res.tokens.reduce((a, t) => a + t.length, 0);
      if (single) process.stdout.write('\n');
      else
        res.text.forEach((text, i) =>
          process.stdout.write(`=== ${i + 1}/${prompts.length} (${res.finishReason[i]}, ${res.tokens[i].length} tokens) ===\n${text}\n`),
        );
      process.stderr.write(
        `[${total} tokens in ${secs.toFixed(2)} s, ${(total / Math.max(secs, 1e-9)).toFixed(1)} tok/s; finish: ${res.finishReason.join(', ')}]\n`,
      );
    } finally {
      model.dispose();
    }
  },
};
