// MinHash signatures and LSH banding for near-duplicate removal (Broder 1997; Leskovec et al.,
// Mining of Massive Datasets, ch. 3).
//
// A document's shingles are its overlapping `shingle`-word n-grams (the words of `wordTokens`, so
// punctuation and case do not matter); a document shorter than `shingle` words has one shingle, all of
// it. The signature holds, for each of `bands × rows` hash functions h_i(x) = fmix32(x ⊕ seed_i), the
// minimum over the shingles: two documents agree on one signature entry with probability equal to the
// Jaccard similarity J of their shingle sets. LSH: the signature is cut into `bands` bands of `rows`
// entries; two documents become candidates when some band agrees entirely, which happens with
// probability 1 − (1 − J^rows)^bands — an S-curve whose midpoint is about (1/bands)^(1/rows).
// Defaults: 5-word shingles, 20 bands × 5 rows = 100 hashes, so the curve's threshold is
// (1/20)^(1/5) ≈ 0.55: a pair with J = 0.7 becomes a candidate with probability 0.975, J = 0.8 with
// 0.9996, J = 0.5 with 0.47 and J = 0.3 with 0.05. The curve sits below the decision threshold on
// purpose: candidates are confirmed only when the fraction of equal signature entries (an unbiased
// estimate of J, standard error ≤ 0.05 with 100 hashes) is at least `threshold` (default 0.7), so
// the banding sets the recall near the threshold and the confirmation removes the false candidates.
import { fmix32, U32Buf, wordTokens } from './text';
import { U53Map } from './hashmap';
// Globals are read once: inside jest's vm sandbox every global lookup in a hot loop is slow.
const M_imul = Math.imul;


export interface MinHashOptions {
  /** Words per shingle (default 5). */
  shingle?: number;
  /** LSH bands (default 20). */
  bands?: number;
  /** Signature rows per band (default 5). */
  rows?: number;
  /** Seed of the hash functions (default 1). */
  seed?: number;
}

export class MinHasher {
  readonly shingle: number;
  readonly bands: number;
  readonly rows: number;
  readonly numHashes: number;
  private readonly seeds: Uint32Array;
  private readonly words = new U32Buf(4096);
  private readonly shingles = new U32Buf(4096);

  constructor(opts: MinHashOptions = {}) {
    this.shingle = opts.shingle ?? 5;
    this.bands = opts.bands ?? 20;
    this.rows = opts.rows ?? 5;
    for (const [k, v] of [['shingle', this.shingle], ['bands', this.bands], ['rows', this.rows]] as const) {
      if (!(Number.isInteger(v) && v >= 1 && v <= 1024)) throw new Error(`minhash: ${k} must be an integer in [1, 1024], got ${v}`);
    }
    this.numHashes = this.bands * this.rows;
    this.seeds = new Uint32Array(this.numHashes);
    let s = (opts.seed ?? 1) >>> 0;
    for (let i = 0; i < this.numHashes; i++) {
      s = fmix32((s + 0x9e3779b9) >>> 0);
      this.seeds[i] = s;
    }
  }

  /** The LSH threshold implied by bands and rows: (1/bands)^(1/rows). */
  get lshThreshold(): number {
    return Math.pow(1 / this.bands, 1 / this.rows);
  }

  /** Probability that two documents of Jaccard similarity j become LSH candidates. */
  candidateProbability(j: number): number {
    return 1 - Math.pow(1 - Math.pow(j, this.rows), this.bands);
  }

  /** The shingle hashes of `text` (distinct values not guaranteed). */
  shingleHashes(text: string): Uint32Array {
    const w = this.words;
    w.reset();
    wordTokens(text, w, null);
    const out = this.shingles;
    out.reset();
    const n = w.length;
    const k = Math.min(this.shingle, n);
    for (let i = 0; i + k <= n; i++) {
      let h = 0x3c6ef372 ^ k;
      for (let j = i; j < i + k; j++) h = M_imul((h << 5) | (h >>> 27), 0x9e3779b1) ^ w.data[j];
      out.push(fmix32(h >>> 0));
      if (k < this.shingle) break;
    }
    return out.view();
  }

  /** The MinHash signature of `text` (numHashes entries; all 0xffffffff for a text without words). */
  signature(text: string, out: Uint32Array<ArrayBufferLike> = new Uint32Array(this.numHashes)): Uint32Array<ArrayBufferLike> {
    const sh = this.shingleHashes(text);
    out.fill(0xffffffff);
    const seeds = this.seeds;
    const m = this.numHashes;
    for (let s = 0; s < sh.length; s++) {
      const x = sh[s];
      for (let i = 0; i < m; i++) {
        // fmix32(x ^ seed_i), inlined
        let h = x ^ seeds[i];
        h ^= h >>> 16;
        h = M_imul(h, 0x85ebca6b);
        h ^= h >>> 13;
        h = M_imul(h, 0xc2b2ae35);
        h ^= h >>> 16;
        h >>>= 0;
        if (h < out[i]) out[i] = h;
      }
    }
    return out;
  }

  /** A 53-bit key of band b of a signature (its `rows` entries and b), for bucket lookups. */
  bandKey(sig: Uint32Array, b: number): number {
    let x = 0x1b873593 ^ b;
    let y = 0xcc9e2d51 ^ b;
    const o = b * this.rows;
    for (let r = 0; r < this.rows; r++) {
      x = M_imul(x ^ sig[o + r], 0x9e3779b1);
      x = (x << 13) | (x >>> 19);
      y = M_imul(y ^ sig[o + r], 0x85ebca77);
      y = (y << 17) | (y >>> 15);
    }
    return (fmix32(x) & 0x1fffff) * 4294967296 + fmix32(y);
  }
}

/** Fraction of equal entries of two signatures: the MinHash estimate of Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new Error(`minhash: signatures of different lengths ${a.length} and ${b.length}`);
  let eq = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++;
  return eq / a.length;
}

/** Exact Jaccard similarity of the shingle sets of two texts (tests and small checks). */
export function jaccard(hasher: MinHasher, a: string, b: string): number {
  const sa = new Set(hasher.shingleHashes(a));
  const sb = new Set(hasher.shingleHashes(b));
  let inter = 0;
  for (const x of sa) if (sb.has(x)) inter++;
  const uni = sa.size + sb.size - inter;
  return uni ? inter / uni : 1;
}

export interface NearDupOptions extends MinHashOptions {
  /** Minimum estimated Jaccard similarity for a candidate to count as a duplicate (default 0.7). */
  threshold?: number;
}

/**
 * A streaming near-duplicate index: `check(text)` returns the index of an earlier kept document that
 * the text nearly duplicates, or -1, in which case the text is added (greedy keep-first). A bucket
 * remembers the first kept document that filled it. Memory per kept document: `bands` bucket entries
 * plus its signature (4·bands·rows bytes), about 1 KB with the defaults.
 */
export class NearDupIndex {
  readonly hasher: MinHasher;
  readonly threshold: number;
  private readonly buckets = new U53Map(1 << 14);
  private sigs: Uint32Array;
  private kept = 0;
  private readonly sig: Uint32Array<ArrayBufferLike>;

  constructor(opts: NearDupOptions = {}) {
    this.hasher = new MinHasher(opts);
    this.threshold = opts.threshold ?? 0.7;
    if (!(this.threshold >= 0 && this.threshold <= 1)) throw new Error(`minhash: threshold must be in [0, 1], got ${this.threshold}`);
    this.sigs = new Uint32Array(this.hasher.numHashes * 1024);
    this.sig = new Uint32Array(this.hasher.numHashes);
  }

  get size(): number {
    return this.kept;
  }

  /** Returns {dup: index of the kept document it duplicates, or -1; similarity: estimated J}. */
  check(text: string): { dup: number; similarity: number } {
    const h = this.hasher;
    const m = h.numHashes;
    const sig = h.signature(text, this.sig);
    const keys: number[] = new Array(h.bands);
    const seen = new Set<number>();
    for (let b = 0; b < h.bands; b++) {
      const key = h.bandKey(sig, b);
      keys[b] = key;
      const cand = this.buckets.get(key);
      if (cand < 0 || seen.has(cand)) continue;
      seen.add(cand);
      const sim = estimateJaccard(sig, this.sigs.subarray(cand * m, (cand + 1) * m));
      if (sim >= this.threshold) return { dup: cand, similarity: sim };
    }
    const id = this.kept++;
    if (this.sigs.length < this.kept * m) {
      const grown = new Uint32Array(this.sigs.length * 2);
      grown.set(this.sigs);
      this.sigs = grown;
    }
    this.sigs.set(sig, id * m);
    for (let b = 0; b < h.bands; b++) this.buckets.set(keys[b], id, true);
    return { dup: -1, similarity: 0 };
  }
}
