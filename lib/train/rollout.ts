// The KV-cache rollout engine for GRPO: generate() (prefill + incremental decode with the cache,
// finished rows dropping out) with the fused `sample` kernel, one Philox stream per completion seed
// at offset = step — the same draws as forwardRolloutEngine, without re-running the whole sequence
// every token.
import { LlamaModel } from '../model/llama';
import { Tokenizer } from '../tokenizer';
import { generate } from '../generate/generate';
import { kernelSampler } from '../generate/samplers';
import type { RolloutEngine } from './grpo';

export function cachedRolloutEngine(model: LlamaModel, tokenizer: Tokenizer, opts: { batchSize?: number } = {}): RolloutEngine {
  return async (prompts, G, ro) => {
    const R = prompts.length * G;
    if (ro.seeds.length !== R) throw new Error(`rollout: ${ro.seeds.length} seeds for ${R} completions`);
    for (const p of prompts) if (p.length === 0) throw new Error('rollout: a prompt has no tokens');
    const rows = prompts.flatMap((p) => Array.from({ length: G }, () => p));
    const sampler = kernelSampler({ temperature: ro.temperature, topP: ro.topP, topK: ro.topK, rowSeeds: ro.seeds });
    const res = generate(model, tokenizer, rows, {
      maxNewTokens: ro.maxNewTokens,
      stop: { eosIds: ro.stopTokenIds },
      sampler,
      batchSize: opts.batchSize ?? R,
    });
    return { completions: res.tokens };
  };
}
