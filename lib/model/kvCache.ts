// Per-layer key/value caches for incremental decoding with LlamaModel (createCache / prefill /
// decodeStep). Row r of every layer's cache holds the rotated keys and the values of the first
// lengths[r] tokens of sequence r; positions are cache indices (every row starts at 0).
import { Device, Tensor } from '../tensor';

export class KVCache {
  /** Rows (sequences) the cache holds. */
  readonly batch: number;
  /** Positions per row. */
  readonly maxLen: number;
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly dtype: 'f32' | 'bf16';
  readonly device: Device;
  /** Keys per layer: [batch, maxLen, numKvHeads, headDim] (after RoPE), the model's compute dtype. */
  readonly k: Tensor[];
  /** Values per layer, same shape. */
  readonly v: Tensor[];
  /** Tokens cached per row (host). prefill sets them, decodeStep advances them. */
  readonly lengths: Int32Array;

  constructor(opts: {
    batch: number; maxLen: number; numLayers: number; numKvHeads: number; headDim: number;
    dtype: 'f32' | 'bf16'; device: Device;
  }) {
    const { batch, maxLen } = opts;
    for (const [n, v] of [['batch', batch], ['maxLen', maxLen]] as [string, number][])
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`KVCache: ${n} must be a positive integer, got ${v}`);
    this.batch = batch;
    this.maxLen = maxLen;
    this.numLayers = opts.numLayers;
    this.numKvHeads = opts.numKvHeads;
    this.headDim = opts.headDim;
    this.dtype = opts.dtype;
    this.device = opts.device;
    this.lengths = new Int32Array(batch);
    this.k = [];
    this.v = [];
    const shape = [batch, maxLen, opts.numKvHeads, opts.headDim];
    try {
      for (let l = 0; l < opts.numLayers; l++) {
        this.k.push(Tensor.zeros(shape, { dtype: opts.dtype, device: opts.device }));
        this.v.push(Tensor.zeros(shape, { dtype: opts.dtype, device: opts.device }));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Bytes held by the cache tensors. */
  get nbytes(): number {
    return [...this.k, ...this.v].reduce((a, t) => a + t.nbytes, 0);
  }

  get disposed(): boolean {
    return this.k.length > 0 && this.k[0].disposed;
  }

  /** Forgets the cached tokens of `rows` (default all): their lengths become 0. */
  reset(rows?: ArrayLike<number>): void {
    if (rows === undefined) this.lengths.fill(0);
    else
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        if (!Number.isInteger(r) || r < 0 || r >= this.batch)
          throw new RangeError(`KVCache.reset: row ${r} is outside [0, ${this.batch})`);
        this.lengths[r] = 0;
      }
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
  }
}
