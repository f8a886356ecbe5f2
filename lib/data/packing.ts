// Token files → fixed-length training batches.
//
// The token stream is cut into windows of T+1 tokens that overlap by one (window w covers tokens
// [w·T, w·T + T]): inputs are its first T tokens, labels its last T. Documents are packed as they come
// (each ends with EOS); segment ids mark document boundaries, so attention and positions stay inside
// a document, and the token after an EOS is never a label (-100 there): no loss crosses documents.
// Windows are visited in a seeded random order per epoch; the loader's state (epoch, position, RNG
// state of the epoch) is small and restores the exact batch sequence.
import { Rng, RngState } from '../util/rng';
import type { TokenFile } from './tokens';

export const IGNORE_INDEX = -100;

/** One batch, row-major [batchSize, seqLen]. */
export interface Batch {
  batchSize: number;
  seqLen: number;
  inputs: Int32Array;
  /** Next-token targets, IGNORE_INDEX where nothing is scored. */
  labels: Int32Array;
  /** Document id per position, increasing along a row (padding gets its own id). */
  segmentIds: Int32Array;
  /** Number of scored labels. */
  numTargets: number;
  /** Number of non-padding input tokens. */
  numTokens: number;
}

/** Serializable loader position. */
export interface LoaderState {
  epoch: number;
  /** Index into this epoch's order of the next item. */
  position: number;
  /** RNG state from which this epoch's order is drawn (the RNG continues into the next epoch). */
  rng: RngState;
  /** Number of items in an epoch (checked on restore). */
  size: number;
}

export interface PackOptions {
  seqLen: number;
  batchSize: number;
  /** Shuffle seed (default 0). */
  seed?: number;
  /** Visit windows in a random order per epoch (default true); false reads them in order. */
  shuffle?: boolean;
  /** Input id written at padding positions (default the file's EOS). */
  padId?: number;
}

function checkDims(what: string, seqLen: number, batchSize: number): void {
  if (!Number.isSafeInteger(seqLen) || seqLen < 1) throw new RangeError(`${what}: seqLen must be a positive integer, got ${seqLen}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new RangeError(`${what}: batchSize must be a positive integer, got ${batchSize}`);
}

export function emptyBatch(batchSize: number, seqLen: number): Batch {
  const n = batchSize * seqLen;
  return {
    batchSize,
    seqLen,
    inputs: new Int32Array(n),
    labels: new Int32Array(n).fill(IGNORE_INDEX),
    segmentIds: new Int32Array(n),
    numTargets: 0,
    numTokens: 0,
  };
}

/**
 * Writes one row from a run of tokens x (length <= T+1): inputs x[0..T), labels x[1..], except after
 * an EOS (the next document's first token is not a target); a new segment starts after each EOS.
 */
export function fillRow(batch: Batch, row: number, x: ArrayLike<number>, eosId: number, padId: number): void {
  const T = batch.seqLen;
  const o = row * T;
  const L = Math.min(x.length, T + 1);
  let seg = 0;
  let t = 0;
  for (; t < T && t < L; t++) {
    if (t > 0 && x[t - 1] === eosId) seg++;
    batch.inputs[o + t] = x[t];
    batch.segmentIds[o + t] = seg;
    batch.numTokens++;
    if (t + 1 < L && x[t] !== eosId) {
      batch.labels[o + t] = x[t + 1];
      batch.numTargets++;
    } else batch.labels[o + t] = IGNORE_INDEX;
  }
  for (; t < T; t++) {
    batch.inputs[o + t] = padId;
    batch.labels[o + t] = IGNORE_INDEX;
    batch.segmentIds[o + t] = seg + 1;
  }
}

/** Pretraining batches from a token file (see the file comment). */
export class PretrainLoader {
  readonly seqLen: number;
  readonly batchSize: number;
  /** Windows per epoch. */
  readonly size: number;
  private readonly file: TokenFile;
  private readonly shuffle: boolean;
  private readonly padId: number;
  private readonly eosId: number;
  private rng: Rng;
  private epochRng: RngState;
  private order: Uint32Array | null = null;
  epoch = 0;
  position = 0;

  constructor(file: TokenFile, opts: PackOptions) {
    checkDims('PretrainLoader', opts.seqLen, opts.batchSize);
    this.file = file;
    this.seqLen = opts.seqLen;
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.eosId = file.header.eosId;
    this.padId = opts.padId ?? file.header.eosId;
    if (file.numTokens < 2)
      throw new Error(`PretrainLoader: '${file.file}' holds ${file.numTokens} token(s); at least 2 are needed for one target`);
    this.size = Math.ceil((file.numTokens - 1) / this.seqLen);
    this.rng = new Rng(opts.seed ?? 0);
    this.epochRng = this.rng.state();
  }

  private ensureOrder(): Uint32Array {
    if (!this.order) {
      this.epochRng = this.rng.state();
      if (this.shuffle) this.order = this.rng.permutation(this.size);
      else {
        this.order = new Uint32Array(this.size);
        for (let i = 0; i < this.size; i++) this.order[i] = i;
      }
    }
    return this.order;
  }

  /** Tokens of window w (T+1 of them, fewer at the end of the file). */
  window(w: number): Uint32Array {
    return this.file.read(w * this.seqLen, this.seqLen + 1);
  }

  /** The next batch (rolls over into the next epoch, reshuffled). */
  next(): Batch {
    const b = emptyBatch(this.batchSize, this.seqLen);
    for (let r = 0; r < this.batchSize; r++) {
      const order = this.ensureOrder();
      fillRow(b, r, this.window(order[this.position]), this.eosId, this.padId);
      if (++this.position >= this.size) {
        this.epoch++;
        this.position = 0;
        this.order = null;
      }
    }
    return b;
  }

  state(): LoaderState {
    this.ensureOrder();
    return { epoch: this.epoch, position: this.position, rng: [...this.epochRng] as RngState, size: this.size };
  }

  setState(s: LoaderState): void {
    if (s.size !== this.size)
      throw new Error(`PretrainLoader: saved state is for ${s.size} windows per epoch, this data has ${this.size} (different data or seqLen?)`);
    this.rng = Rng.fromState(s.rng);
    this.order = null;
    this.epoch = s.epoch;
    this.position = s.position;
    this.ensureOrder();
  }

  /**
   * The first maxBatches batches of the file in order (no shuffling), for evaluation; fewer when the
   * file is short. Does not touch the loader's position.
   */
  *inOrder(maxBatches = Infinity): Generator<Batch> {
    let w = 0;
    for (let k = 0; k < maxBatches && w < this.size; k++) {
      const b = emptyBatch(this.batchSize, this.seqLen);
      for (let r = 0; r < this.batchSize && w < this.size; r++, w++) fillRow(b, r, this.window(w), this.eosId, this.padId);
      yield b;
    }
  }
}
