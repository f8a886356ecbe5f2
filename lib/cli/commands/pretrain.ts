// `mathrl pretrain`: next-token pretraining on a text corpus (see lib/train/trainer.ts).
import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../command';
import { InputReport, TokenFile, readCorpus, tokenizeCorpus, unigramCrossEntropy } from '../../data/tokens';
import { PretrainTrainer } from '../../train/trainer';
import {
  COMMON_OPTIONS, Cleanup, OptSpec, describeModel, doneMessage, list, num, oneOf, runTrainer, saveRunOptions, setupModel, startRun,
  str, trainerNumbers, usageText,
} from '../train-common';

const OPTIONS: Record<string, OptSpec> = {
  data: { type: 'string', multiple: true, arg: 'file', help: 'corpus: .txt (documents separated by blank lines) or .jsonl with a "text" field; repeatable (required)' },
  ...COMMON_OPTIONS,
  format: { type: 'string', arg: 'auto|text|jsonl', help: 'corpus format (default auto: by file extension)' },
  'text-field': { type: 'string', arg: 'name', help: 'JSONL field with the text (default text)' },
  'text-split': { type: 'string', arg: 'paragraph|line|file', help: 'documents of a text file: at blank lines (default), per line, whole file' },
};

const MAX_BPE_BYTES = 200 << 20;

function* capped(texts: Iterable<string>, maxBytes: number): Generator<string> {
  let n = 0;
  for (const t of texts) {
    yield t;
    n += t.length;
    if (n >= maxBytes) return;
  }
}

export const command: CliCommand = {
  name: 'pretrain',
  summary: 'pretrain a Llama-style model on a text corpus (progress, JSONL metrics, loss plot, checkpoints, --resume)',
  usage: usageText(OPTIONS),
  async run(argv) {
    const run = startRun('pretrain', argv, OPTIONS);
    const { v, resumeFrom, quiet, log, out, device } = run;
    const seqLen = num(v, 'seq-len') ?? 256;
    const corpusOpts = {
      format: oneOf('format', str(v, 'format'), ['auto', 'text', 'jsonl'] as const, 'auto'),
      textSplit: oneOf('text-split', str(v, 'text-split'), ['paragraph', 'line', 'file'] as const, 'paragraph'),
      textField: str(v, 'text-field') ?? 'text',
      onBadLine: oneOf('on-bad-line', str(v, 'on-bad-line'), ['error', 'skip'] as const, 'error'),
    };
    const data = list(v, 'data');
    const evalData = list(v, 'eval-data');
    const evalFraction = evalData ? 0 : num(v, 'eval-fraction') ?? 0.05;
    const cleanup = new Cleanup();
    const dataDir = path.join(out, 'data');
    const trainFile = path.join(dataDir, 'train.tok');
    const evalFile = path.join(dataDir, 'eval.tok');
    let trainer: PretrainTrainer | undefined;
    let baseline: number | undefined;
    try {
      if (!resumeFrom && !data) throw new Error('--data <file> is required');
      cleanup.mkdir(out);
      const { tok, model } = setupModel(run, seqLen, cleanup, () =>
        capped((function* () { for (const d of readCorpus(data!, { ...corpusOpts, report: new InputReport() })) yield d.text; })(), MAX_BPE_BYTES),
      );
      const haveTokens = fs.existsSync(trainFile) && (evalFraction === 0 && !evalData ? true : fs.existsSync(evalFile));
      if (!haveTokens || !resumeFrom) {
        if (!data) throw new Error(`${trainFile} is missing; pass --data again to re-tokenize the corpus`);
        cleanup.add(dataDir);
        const report = new InputReport();
        const t0 = Date.now();
        const r = tokenizeCorpus(data, {
          ...corpusOpts,
          report,
          tokenizer: tok,
          trainFile,
          evalFile: evalFraction > 0 ? evalFile : undefined,
          evalFraction,
          seed: num(v, 'seed') ?? 0,
        });
        for (const line of report.summary()) log(line);
        let evalHeader = r.eval;
        if (evalData) {
          const er = new InputReport();
          evalHeader = tokenizeCorpus(evalData, { ...corpusOpts, report: er, tokenizer: tok, trainFile: evalFile }).train;
          for (const line of er.summary()) log(`eval data: ${line}`);
        }
        log(
          `tokenized ${data.join(', ')}: ${r.train.numDocs} documents, ${r.train.numTokens} train tokens` +
            (evalHeader ? `, ${evalHeader.numTokens} eval tokens (${evalHeader.numDocs} documents)` : '') +
            ` in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
        );
      }
      if (!resumeFrom) {
        cleanup.add(path.join(out, 'run.json'));
        saveRunOptions('pretrain', v);
      }
      const hasEval = fs.existsSync(evalFile) && (evalFraction > 0 || !!evalData);
      trainer = new PretrainTrainer({
        model,
        tokenizer: tok,
        trainData: trainFile,
        evalData: hasEval ? evalFile : undefined,
        outDir: out,
        seqLen,
        ...trainerNumbers(v),
        device,
      });
      if (resumeFrom) trainer.restore(resumeFrom);
      const tf = TokenFile.open(trainFile);
      try {
        if (tf.numTokens <= 50_000_000) {
          const ef = hasEval ? TokenFile.open(evalFile) : undefined;
          baseline = unigramCrossEntropy(tf, ef);
          ef?.close();
        }
      } finally {
        tf.close();
      }
    } catch (e) {
      trainer?.dispose();
      if (!resumeFrom) cleanup.undo();
      throw e;
    }
    log(
      `${describeModel(trainer.model)}; ${trainer.loader.size} sequences of ${seqLen} per epoch` +
        (baseline !== undefined ? `; unigram baseline ${baseline.toFixed(3)} nats/token` : ''),
    );
    try {
      const r = await runTrainer(trainer, quiet, log);
      log(doneMessage(r, out));
      return r.stopped ? 130 : 0;
    } finally {
      trainer.dispose();
    }
  },
};
