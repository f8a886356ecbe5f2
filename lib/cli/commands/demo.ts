// `mathrl demo`: pretrain → SFT → GRPO from nothing on the synthetic arithmetic world, with held-out
// accuracy after each stage (lib/demo/pipeline.ts).
import * as path from 'path';
import { backends } from '../../backends';
import { DEMO_SIZES, DemoSize, runDemo, summaryTable } from '../../demo/pipeline';
import { CliCommand, numberOption, parseOptions } from '../command';

export const command: CliCommand = {
  name: 'demo',
  summary: 'train a tiny math model from scratch (pretrain → SFT → GRPO) on a synthetic arithmetic world, in minutes on a CPU',
  usage: `[--out runs/demo] [--seed 0] [--size ${DEMO_SIZES.join('|')}] [--steps 1 (scale)] [--device cpu|cuda] [--quick] [--json]`,
  async run(argv) {
    const { values } = parseOptions(argv, {
      out: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      steps: { type: 'string' },
      device: { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(
        [
          `mathrl demo ${command.usage}`,
          '',
          'Builds a seeded world of 2-4 step word problems, trains a byte-level BPE tokenizer and a small',
          'Llama-style model from scratch, then SFT and GRPO (answer reward, 8 completions per question, KL to',
          'the SFT model), and evaluates greedy accuracy and maj@8 on held-out problems after each stage.',
          '',
          '  --out DIR     output folder (default runs/demo): pretrain/ sft/ grpo/ model folders, curves, summary.json',
          '  --seed N      seed of the world, the weights and the sampling (default 0)',
          `  --size S      model size: ${DEMO_SIZES.join(', ')} (default tiny)`,
          '  --steps X     multiply every stage\'s steps by X (default 1)',
          '  --device D    cpu (default) or cuda',
          '  --quick       the shortened run the test uses (about 2-3 minutes on 2 cores)',
          '  --json        print summary.json instead of the table',
          '  --quiet       no progress lines',
        ].join('\n'),
      );
      return 0;
    }
    const size = (values.size ?? 'tiny') as DemoSize;
    if (!DEMO_SIZES.includes(size)) throw new Error(`--size must be one of ${DEMO_SIZES.join(', ')}, got '${values.size}'`);
    const device = values.device ?? 'cpu';
    if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got '${device}'`);
    if (device === 'cuda' && !backends().cuda.available) throw new Error(`--device cuda: ${backends().cuda.reason ?? 'no GPU'}`);
    const seed = numberOption('seed', values.seed, 0);
    const steps = numberOption('steps', values.steps, 1);
    const out = path.resolve(values.out ?? 'runs/demo');
    const t0 = Date.now();
    const log = values.quiet ? undefined : (line: string) => {
      const s = ((Date.now() - t0) / 1000).toFixed(0).padStart(4);
      process.stderr.write(`[${s}s] ${line}\n`);
    };
    const summary = await runDemo({ out, seed, size, steps, device, quick: values.quick ?? false, log });
    if (values.json) {
      console.log(JSON.stringify(summary, null, 2));
      return 0;
    }
    console.log('');
    console.log(summaryTable(summary.stages));
    console.log('');
    console.log(`total ${summary.minutes.toFixed(2)} minutes (seed ${seed}, ${summary.parameters.toLocaleString('en-US')} parameters, ${device})`);
    console.log(`wrote ${out}: pretrain/ sft/ grpo/ (model folders: mathrl generate --model ${path.join(out, 'grpo')} --chat --prompt "..."),`);
    console.log('  accuracy.svg, pretrain/loss.svg, sft/loss.svg, grpo/reward.svg, summary.json');
    return 0;
  },
};
