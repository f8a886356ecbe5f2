// Token samplers for generate(): a function from a batch of next-token logits to one token per row.
// greedySampler runs the argmax op on the logits' device; temperatureSampler is a plain-TypeScript
// reference (host copy of the logits, per-row seeded draws) until the fused sampling kernel lands.
import { Tensor, shapeStr } from '../tensor';
import { argmax } from '../ops/argmax';
import { sample } from '../ops/sample';

/**
 * Picks the next token of each row. logits: f32 [R, V] on the model's device (do not dispose it);
 * step: index of the token being generated (0 for the first); rows: the prompt index of each logits
 * row (rows drop out as they finish, so use it to key per-sequence state such as random streams).
 * Returns the token ids and their log-probabilities (R each).
 */
export type Sampler = (logits: Tensor, step: number, rows: number[]) => { tokens: Int32Array; logprobs: Float32Array };

/**
 * Greedy decoding: the argmax of each row (lowest id on ties), computed on the logits' device; the
 * log-probability is the model's log_softmax at that token.
 */
export const greedySampler: Sampler = (logits) => {
  const { indices, logprobs } = argmax(logits);
  try {
    return { tokens: indices.toArray() as Int32Array, logprobs: logprobs.toArray() as Float32Array };
  } finally {
    indices.dispose();
    logprobs.dispose();
  }
};

export interface TemperatureSamplerOptions {
  /** Softmax temperature (default 1). 0 means greedy. */
  temperature?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities sum to at least topP (default 1: all). */
  topP?: number;
  /** Keep only the topK most likely tokens (default 0: no limit). */
  topK?: number;
  /** Base seed: row r's draw at step s depends only on (seed, r, s), so results do not depend on batching. */
  seed?: number;
}

/** A uniform float in [0, 1) from three integers (murmur3-style mixing, counter-based: no state). */
export function hashUniform(seed: number, row: number, step: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const k of [row, step, 0x5bd1e995]) {
    let x = Math.imul(k >>> 0, 0xcc9e2d51);
    x = (x << 15) | (x >>> 17);
    x = Math.imul(x, 0x1b873593);
    h ^= x;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/**
 * Reference sampler in TypeScript: softmax(logits / temperature), restricted to the topK most likely
 * tokens and then to the smallest most-likely set with probability >= topP (at least one token),
 * renormalised, and sampled by inverse CDF with a uniform from hashUniform(seed, row, step). The
 * returned log-probability is the model's (log_softmax of the raw logits at the chosen token, before
 * temperature and filtering), as vLLM reports by default. Copies the logits to the host.
 */
export function temperatureSampler(opts: TemperatureSamplerOptions = {}): Sampler {
  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  const topK = opts.topK ?? 0;
  const seed = opts.seed ?? 0;
  if (!(Number.isFinite(temperature) && temperature >= 0))
    throw new RangeError(`temperatureSampler: temperature must be >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`temperatureSampler: topP must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`temperatureSampler: topK must be an integer >= 0, got ${topK}`);
  if (!Number.isInteger(seed)) throw new RangeError(`temperatureSampler: seed must be an integer, got ${seed}`);
  if (temperature === 0) return greedySampler;
  return (logits, step, rows) => {
    if (logits.ndim !== 2) throw new RangeError(`temperatureSampler: logits must be [R, V], got ${shapeStr(logits.shape)}`);
    const [R, V] = logits.shape;
    const x = logits.toArray() as Float32Array;
    const tokens = new Int32Array(R);
    const logprobs = new Float32Array(R);
    const p = new Float64Array(V);
    for (let r = 0; r < R; r++) {
      const row = x.subarray(r * V, (r + 1) * V);
      let mx = -Infinity;
      for (let j = 0; j < V; j++) if (row[j] > mx) mx = row[j];
      let z = 0;
      let zRaw = 0;
      for (let j = 0; j < V; j++) {
        p[j] = Math.exp((row[j] - mx) / temperature);
        z += p[j];
        zRaw += Math.exp(row[j] - mx);
      }
      // Candidates: all tokens, or the sorted head when filtering.
      let cand: number[];
      if (topK > 0 || topP < 1) {
        cand = [];
        for (let j = 0; j < V; j++) if (p[j] > 0) cand.push(j);
        cand.sort((a, b) => p[b] - p[a] || a - b);
        if (topK > 0 && cand.length > topK) cand.length = topK;
        if (topP < 1) {
          let acc = 0;
          let n = 0;
          while (n < cand.length) {
            acc += p[cand[n++]] / z;
            if (acc >= topP) break;
          }
          cand.length = Math.max(1, n);
        }
      } else {
        cand = [];
        for (let j = 0; j < V; j++) cand.push(j);
      }
      let total = 0;
      for (const j of cand) total += p[j];
      const u = hashUniform(seed, rows[r] ?? r, step) * total;
      let acc = 0;
      let pick = -1;
      for (const j of cand) {
        if (p[j] === 0) continue;
        acc += p[j];
        pick = j; // the last positive candidate when rounding leaves u >= acc
        if (u < acc) break;
      }
      if (pick < 0) pick = cand[0] ?? 0; // no finite logit at all
      tokens[r] = pick;
      logprobs[r] = row[pick] - mx - Math.log(zRaw);
    }
    return { tokens, logprobs };
  };
}

export interface KernelSamplerOptions {
  /** Softmax temperature (default 1); 0 is greedy. */
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  /** Base seed; row r uses the seed (seed, prompt index), so draws do not depend on batching. */
  seed?: number;
  /** The seed of each row of the batch (e.g. GRPO's per-completion seeds), used as given instead of `seed`. */
  rowSeeds?: ArrayLike<number>;
}

/**
 * Sampling with the fused `sample` kernel on the logits' device (no host copy of the logits):
 * temperature, top-k, top-p and min-p as the op defines them, one Philox stream per prompt, the step
 * as the counter offset. Unlike temperatureSampler, the log-probabilities it returns are under the
 * sampling distribution (after temperature and filtering), as the op reports them.
 */
export function kernelSampler(opts: KernelSamplerOptions = {}): Sampler {
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new RangeError(`kernelSampler: seed must be an integer, got ${seed}`);
  if ((opts.temperature ?? 1) === 0) return greedySampler;
  const rowSeeds = opts.rowSeeds;
  return (logits, step, rows) => {
    const seeds = rowSeeds
      ? rows.map((r) => rowSeeds[r])
      : Int32Array.from(rows, (r) => (Math.imul(seed ^ 0x5bd1e995, 0x01000193) + r * 0x9e3779b9) | 0);
    const { tokens, logprobs } = sample(logits, {
      temperature: opts.temperature ?? 1,
      topK: opts.topK ?? 0,
      topP: opts.topP ?? 1,
      minP: opts.minP ?? 0,
      repetitionPenalty: opts.repetitionPenalty ?? 1,
      seeds,
      offset: step,
    });
    try {
      return { tokens: tokens.toArray() as Int32Array, logprobs: logprobs.toArray() as Float32Array };
    } finally {
      tokens.dispose();
      logprobs.dispose();
    }
  };
}
