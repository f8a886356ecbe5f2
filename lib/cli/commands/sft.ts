// `mathrl sft`: supervised fine-tuning on chat / prompt-response / GSM8K JSONL, loss on the assistant's
// tokens only (see lib/data/sft.ts and lib/train/trainer.ts).
import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../command';
import { DEEPSEEKMATH_CHAT_TEMPLATE } from '../../tokenizer';
import { InputReport } from '../../data/tokens';
import { COT_SUFFIX, loadSftDataset, readSft } from '../../data/sft';
import { SFTTrainer } from '../../train/trainer';
import {
  COMMON_OPTIONS, Cleanup, OptSpec, checkChatFormat, describeModel, doneMessage, list, num, oneOf, runTrainer, saveRunOptions,
  setupModel, startRun, str, trainerNumbers, usageText,
} from '../train-common';

const OPTIONS: Record<string, OptSpec> = {
  data: {
    type: 'string',
    multiple: true,
    arg: 'file.jsonl',
    help: 'lines of {"messages":[{role,content}]}, {"prompt","response"}, GSM8K {"question","answer"} or {"problem","solution"}; repeatable (required)',
  },
  ...COMMON_OPTIONS,
  'cot-suffix': { type: 'string', arg: 'text', help: `appended to single-turn questions (default "${COT_SUFFIX}")` },
  'no-cot': { type: 'boolean', help: 'append no suffix' },
  'over-length': { type: 'string', arg: 'skip|truncate', help: 'examples longer than --seq-len + 1 tokens (default skip; reported)' },
  'no-pack': { type: 'boolean', help: 'one example per sequence (default: pack several, separated by segment ids)' },
};

export const command: CliCommand = {
  name: 'sft',
  summary: 'supervised fine-tuning on chat/GSM8K JSONL, loss on assistant tokens only (progress, metrics, plot, --resume)',
  usage: usageText(OPTIONS),
  async run(argv) {
    const run = startRun('sft', argv, OPTIONS);
    const { v, resumeFrom, quiet, log, out, device } = run;
    const seqLen = num(v, 'seq-len') ?? 512;
    const onBadLine = oneOf('on-bad-line', str(v, 'on-bad-line'), ['error', 'skip'] as const, 'error');
    const overLength = oneOf('over-length', str(v, 'over-length'), ['skip', 'truncate'] as const, 'skip');
    const cotSuffix = v['no-cot'] === true ? '' : str(v, 'cot-suffix') ?? COT_SUFFIX;
    const data = list(v, 'data');
    const evalData = list(v, 'eval-data');
    const evalFraction = evalData ? 0 : num(v, 'eval-fraction') ?? 0.05;
    const seed = num(v, 'seed') ?? 0;
    const cleanup = new Cleanup();
    let trainer: SFTTrainer | undefined;
    try {
      if (!data) throw new Error('--data <file.jsonl> is required');
      for (const f of [...data, ...(evalData ?? [])]) if (!fs.existsSync(f)) throw new Error(`sft data: cannot read '${f}': no such file`);
      cleanup.mkdir(out);
      // from scratch: a BPE over the conversations as the DeepSeekMath format writes them
      const texts = function* (): Generator<string> {
        for (const ex of readSft(data, { cotSuffix, onBadLine, report: new InputReport() }))
          for (const m of ex.messages) yield m.content;
      };
      const { tok, model } = setupModel(run, seqLen, cleanup, texts);
      checkChatFormat(tok);
      const report = new InputReport();
      const ds = loadSftDataset(data, { tokenizer: tok, seqLen, overLength, evalFraction, seed, cotSuffix, onBadLine, report });
      for (const line of report.summary()) log(line);
      if (evalData) {
        const er = new InputReport();
        ds.eval = loadSftDataset(evalData, { tokenizer: tok, seqLen, overLength, seed, cotSuffix, onBadLine, report: er }).train;
        for (const line of er.summary()) log(`eval data: ${line}`);
      }
      const targets = ds.train.reduce((a, e) => a + e.target.reduce((x, y) => x + y, 0), 0);
      log(
        `sft data: ${ds.train.length} train examples (${targets} assistant tokens), ${ds.eval.length} eval examples; ` +
          `chat format: ${tok.chatTemplate === undefined || tok.chatTemplate === DEEPSEEKMATH_CHAT_TEMPLATE ? 'DeepSeekMath' : "the tokenizer's template"}`,
      );
      if (!resumeFrom) {
        cleanup.add(path.join(out, 'run.json'));
        saveRunOptions('sft', v);
      }
      trainer = new SFTTrainer({
        model,
        tokenizer: tok,
        trainData: ds.train,
        evalData: ds.eval,
        pack: v['no-pack'] !== true,
        outDir: out,
        seqLen,
        ...trainerNumbers(v),
        device,
      });
      if (resumeFrom) trainer.restore(resumeFrom);
    } catch (e) {
      trainer?.dispose();
      if (!resumeFrom) cleanup.undo();
      throw e;
    }
    log(describeModel(trainer.model));
    try {
      const r = await runTrainer(trainer, quiet, log);
      log(doneMessage(r, out));
      return r.stopped ? 130 : 0;
    } finally {
      trainer.dispose();
    }
  },
};
