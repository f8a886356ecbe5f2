// `mathrl pretrain`: next-token pretraining on a text corpus (see lib/train/trainer.ts).
import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../command';
import { LLAMA_PRESETS, LlamaPresetName, countParameters, readConfig } from '../../model/config';
import { Tokenizer } from '../../tokenizer';
import { InputReport, TokenFile, readCorpus, tokenizeCorpus, unigramCrossEntropy } from '../../data/tokens';
import { ModelSource, PretrainTrainer } from '../../train/trainer';
import { loadModelDir } from '../../train/checkpoint';
import {
  COMMON_OPTIONS, Cleanup, OptSpec, getTokenizer, list, logger, modelConfig, num, oneOf, parse, runOptions, runTrainer,
  saveRunOptions, str, usageText,
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
    const given = parse(argv, OPTIONS);
    const { values: v, resumeFrom } = runOptions('pretrain', given);
    const quiet = v.quiet === true;
    const log = logger(quiet);
    const out = str(v, 'out')!;
    const device = oneOf('device', str(v, 'device'), ['cpu', 'cuda'] as const, 'cpu');
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
      let tok: Tokenizer;
      let model: ModelSource;
      if (resumeFrom) {
        tok = Tokenizer.fromDir(resumeFrom);
        model = readConfig(resumeFrom);
        log(`resuming from ${resumeFrom}`);
      } else if (str(v, 'model')) {
        const loaded = loadModelDir(str(v, 'model')!, { device });
        model = loaded.model;
        const tdir = str(v, 'tokenizer');
        if (!tdir && !loaded.tokenizer) throw new Error(`--model ${str(v, 'model')} has no tokenizer.json; pass --tokenizer`);
        tok = tdir ? Tokenizer.fromDir(tdir) : loaded.tokenizer!;
      } else {
        cleanup.add(path.join(out, 'tokenizer'));
        const presetVocab = LLAMA_PRESETS[(str(v, 'preset') ?? 'tiny-1m') as LlamaPresetName]?.vocabSize ?? 4096;
        tok = getTokenizer(
          v,
          () => capped((function* () { for (const d of readCorpus(data!, { ...corpusOpts, report: new InputReport() })) yield d.text; })(), MAX_BPE_BYTES),
          presetVocab,
          log,
        );
        model = modelConfig(v, tok, seqLen);
      }
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
        batchSize: num(v, 'batch'),
        gradAccum: num(v, 'grad-accum'),
        steps: num(v, 'steps'),
        lr: num(v, 'lr'),
        minLr: num(v, 'min-lr'),
        warmupSteps: num(v, 'warmup'),
        weightDecay: num(v, 'weight-decay'),
        maxGradNorm: num(v, 'clip'),
        evalEvery: num(v, 'eval-every'),
        evalBatches: num(v, 'eval-batches'),
        checkpointEvery: num(v, 'ckpt-every'),
        keepCheckpoints: num(v, 'keep'),
        seed: num(v, 'seed'),
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
    const cfg = trainer.model.config;
    log(
      `model: ${countParameters(cfg).toLocaleString('en-US')} parameters (hidden ${cfg.hiddenSize}, ${cfg.numHiddenLayers} layers, ` +
        `vocab ${cfg.vocabSize}) on ${trainer.model.device}; ${trainer.loader.size} sequences of ${seqLen} per epoch` +
        (baseline !== undefined ? `; unigram baseline ${baseline.toFixed(3)} nats/token` : ''),
    );
    try {
      const r = await runTrainer(trainer, quiet, log);
      log(
        `${r.stopped ? 'stopped' : 'done'} at step ${r.step}: train loss ${r.loss.toFixed(4)}` +
          (r.evalLoss !== undefined ? `, eval loss ${r.evalLoss.toFixed(4)}` : '') +
          `\ncheckpoint: ${r.checkpoint}\nmetrics: ${path.join(out, 'metrics.jsonl')}\nplot: ${path.join(out, 'loss.svg')}`,
      );
      return r.stopped ? 130 : 0;
    } finally {
      trainer.dispose();
    }
  },
};
