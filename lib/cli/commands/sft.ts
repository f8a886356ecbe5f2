// `mathrl sft`: supervised fine-tuning on chat / prompt-response / GSM8K JSONL, loss on the assistant's
// tokens only (see lib/data/sft.ts and lib/train/trainer.ts).
import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../command';
import { LLAMA_PRESETS, LlamaPresetName, countParameters, readConfig } from '../../model/config';
import { DEEPSEEKMATH_CHAT_TEMPLATE, Tokenizer } from '../../tokenizer';
import { InputReport } from '../../data/tokens';
import { COT_SUFFIX, loadSftDataset, readSft } from '../../data/sft';
import { ModelSource, SFTTrainer } from '../../train/trainer';
import { loadModelDir } from '../../train/checkpoint';
import {
  COMMON_OPTIONS, Cleanup, OptSpec, getTokenizer, list, logger, modelConfig, num, oneOf, parse, runOptions, runTrainer,
  saveRunOptions, str, usageText,
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
    const given = parse(argv, OPTIONS);
    const { values: v, resumeFrom } = runOptions('sft', given);
    const quiet = v.quiet === true;
    const log = logger(quiet);
    const out = str(v, 'out')!;
    const device = oneOf('device', str(v, 'device'), ['cpu', 'cuda'] as const, 'cpu');
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
        // from scratch: a BPE over the conversations as the DeepSeekMath format writes them
        const texts = function* (): Generator<string> {
          for (const ex of readSft(data, { cotSuffix, onBadLine, report: new InputReport() }))
            for (const m of ex.messages) yield m.content;
        };
        tok = getTokenizer(v, texts, presetVocab, log);
        model = modelConfig(v, tok, seqLen);
      }
      if (tok.chatTemplate === undefined && tok.eosToken === undefined)
        throw new Error('the tokenizer has neither a chat template nor an eos_token');
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
    } catch (e) {
      trainer?.dispose();
      if (!resumeFrom) cleanup.undo();
      throw e;
    }
    const cfg = trainer.model.config;
    log(
      `model: ${countParameters(cfg).toLocaleString('en-US')} parameters (hidden ${cfg.hiddenSize}, ${cfg.numHiddenLayers} layers, ` +
        `vocab ${cfg.vocabSize}) on ${trainer.model.device}`,
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
