// A fastText-style supervised text classifier (Joulin et al. 2017, "Bag of Tricks for Efficient Text
// Classification"), in TypeScript.
//
// Features: the tokens of `featureTokens` (lib/data/text.ts) and their word n-grams up to
// `wordNgrams`, hashed into `buckets` rows (the hashing trick; n-gram hashes combine token hashes as
// fastText does, h = h·116049371 + t). Model: the document vector is the mean of the feature rows of an
// input matrix A [buckets, dim]; the label scores are B·hidden with an output matrix B [labels, dim];
// loss 'softmax' (one label per document; with two labels this is logistic regression on the
// document vector) or 'ova' (one independent logistic per label). Training is plain SGD, one example
// at a time, with the learning rate decayed linearly from `lr` to 0 over all epochs; A starts uniform
// in ±1/dim, B at zero (as fastText). Unlike fastText, there is no word vocabulary (words are hashed
// too) and examples are shuffled each epoch (seeded), since in-memory sets often come sorted by label.
//
// Saved model format (little-endian):
//   bytes 0-7   magic "MRLFT001"
//   bytes 8-11  uint32 H, the length of the JSON header
//   H bytes     UTF-8 JSON {format: 1, labels, dim, buckets, wordNgrams, loss, tokenizer}
//   0-3 bytes   zero padding to a multiple of 4
//   float32     A, buckets × dim, row-major
//   float32     B, labels × dim, row-major
import * as fs from 'fs';
import * as os from 'os';
import { featureTokens, U32Buf } from './text';
import { Rng } from '../util/rng';
// Globals are read once: inside jest's vm sandbox every global lookup in a hot loop is slow.
const M_imul = Math.imul;
const M_exp = Math.exp;
const M_log = Math.log;
const M_max = Math.max;


export type LossKind = 'softmax' | 'ova';

export interface ClassifierOptions {
  /** Size of the document vector (default 16). */
  dim?: number;
  /** Hash buckets for words and n-grams (default 2^18; raise it for large training sets). */
  buckets?: number;
  /** Longest word n-gram used as a feature (default 2: words and bigrams). */
  wordNgrams?: number;
  /** Initial learning rate, decayed linearly to 0 (default 0.5). */
  lr?: number;
  /** Passes over the training set (default 5). */
  epoch?: number;
  loss?: LossKind;
  /** Seed of the initialisation and the shuffling (default 1). */
  seed?: number;
  /** Only the first maxTokens tokens of a document are used (0 = all, the default). */
  maxTokens?: number;
  /** Called after each epoch with its mean loss. */
  onEpoch?: (epoch: number, meanLoss: number) => void;
}

export interface LabelledText {
  text: string;
  label: string;
}

export interface Prediction {
  label: string;
  prob: number;
}

export interface LabelMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
  tp: number;
  fp: number;
  fn: number;
}

export interface TestResult {
  n: number;
  accuracy: number;
  labels: LabelMetrics[];
  /** Unweighted mean F1 over labels. */
  macroF1: number;
}

const MAGIC = 'MRLFT001';
const NGRAM_MUL = 116049371;

export interface ModelHeader {
  format: 1;
  labels: string[];
  dim: number;
  buckets: number;
  wordNgrams: number;
  loss: LossKind;
  maxTokens: number;
  tokenizer: 'featureTokens-v1';
}

export class FastTextClassifier {
  readonly labels: string[];
  readonly dim: number;
  readonly buckets: number;
  readonly wordNgrams: number;
  readonly loss: LossKind;
  readonly maxTokens: number;
  /** Input matrix A [buckets, dim]. */
  readonly input: Float32Array;
  /** Output matrix B [labels, dim]. */
  readonly output: Float32Array;
  private readonly tok = new U32Buf(4096);
  private readonly feat = new U32Buf(8192);
  private readonly hidden: Float32Array;
  private readonly scores: Float32Array;

  constructor(h: Omit<ModelHeader, 'format' | 'tokenizer'>, input?: Float32Array, output?: Float32Array) {
    if (h.labels.length < 2) throw new Error(`classifier: need at least 2 labels, got ${JSON.stringify(h.labels)}`);
    if (!(Number.isInteger(h.dim) && h.dim >= 1)) throw new Error(`classifier: dim must be a positive integer, got ${h.dim}`);
    if (!(Number.isInteger(h.buckets) && h.buckets >= 1 && h.buckets <= 2 ** 31)) throw new Error(`classifier: buckets must be in [1, 2^31], got ${h.buckets}`);
    if (!(Number.isInteger(h.wordNgrams) && h.wordNgrams >= 1 && h.wordNgrams <= 8)) throw new Error(`classifier: wordNgrams must be in [1, 8], got ${h.wordNgrams}`);
    if (h.loss !== 'softmax' && h.loss !== 'ova') throw new Error(`classifier: loss must be 'softmax' or 'ova', got ${h.loss}`);
    this.labels = [...h.labels];
    this.dim = h.dim;
    this.buckets = h.buckets;
    this.wordNgrams = h.wordNgrams;
    this.loss = h.loss;
    this.maxTokens = h.maxTokens ?? 0;
    this.input = input ?? new Float32Array(h.buckets * h.dim);
    this.output = output ?? new Float32Array(h.labels.length * h.dim);
    if (this.input.length !== h.buckets * h.dim || this.output.length !== h.labels.length * h.dim) {
      throw new Error(`classifier: matrix sizes ${this.input.length}, ${this.output.length} do not match buckets ${h.buckets} × dim ${h.dim}, ${h.labels.length} labels`);
    }
    this.hidden = new Float32Array(h.dim);
    this.scores = new Float32Array(h.labels.length);
  }

  header(): ModelHeader {
    return {
      format: 1,
      labels: this.labels,
      dim: this.dim,
      buckets: this.buckets,
      wordNgrams: this.wordNgrams,
      loss: this.loss,
      maxTokens: this.maxTokens,
      tokenizer: 'featureTokens-v1',
    };
  }

  /** The hashed feature rows of `text` (words and n-grams), written into `out` (reset first). */
  features(text: string, out: U32Buf): void {
    const tok = this.tok;
    tok.reset();
    featureTokens(text, tok);
    let n = tok.length;
    if (this.maxTokens > 0 && n > this.maxTokens) n = this.maxTokens;
    const t = tok.data;
    const B = this.buckets;
    out.reset();
    for (let i = 0; i < n; i++) {
      out.push(t[i] % B);
      let h = t[i];
      for (let j = 1; j < this.wordNgrams && i + j < n; j++) {
        h = (M_imul(h, NGRAM_MUL) + t[i + j]) >>> 0;
        out.push(h % B);
      }
    }
  }

  /** hidden = mean of the rows of A at `feats`; returns the number of features. */
  private computeHidden(feats: Uint32Array, len: number): void {
    const d = this.dim;
    const hid = this.hidden;
    hid.fill(0);
    if (len === 0) return;
    const A = this.input;
    for (let k = 0; k < len; k++) {
      const o = feats[k] * d;
      for (let j = 0; j < d; j++) hid[j] += A[o + j];
    }
    const inv = 1 / len;
    for (let j = 0; j < d; j++) hid[j] *= inv;
  }

  /** scores = probabilities (softmax, or independent sigmoids for 'ova') from the current hidden. */
  private computeProbs(): void {
    const d = this.dim;
    const L = this.labels.length;
    const Bm = this.output;
    const hid = this.hidden;
    const s = this.scores;
    let max = -Infinity;
    for (let l = 0; l < L; l++) {
      let acc = 0;
      const o = l * d;
      for (let j = 0; j < d; j++) acc += Bm[o + j] * hid[j];
      s[l] = acc;
      if (acc > max) max = acc;
    }
    if (this.loss === 'ova') {
      for (let l = 0; l < L; l++) s[l] = 1 / (1 + M_exp(-s[l]));
      return;
    }
    let z = 0;
    for (let l = 0; l < L; l++) {
      s[l] = M_exp(s[l] - max);
      z += s[l];
    }
    for (let l = 0; l < L; l++) s[l] /= z;
  }

  /** Probability of each label (in `labels` order). */
  probabilities(text: string): Float32Array {
    this.features(text, this.feat);
    this.computeHidden(this.feat.data, this.feat.length);
    this.computeProbs();
    return Float32Array.from(this.scores);
  }

  /** Probability of one label. */
  prob(text: string, label: string): number {
    const l = this.labelIndex(label);
    this.features(text, this.feat);
    this.computeHidden(this.feat.data, this.feat.length);
    this.computeProbs();
    return this.scores[l];
  }

  /** The k most probable labels, most probable first. */
  predict(text: string, k = 1): Prediction[] {
    const p = this.probabilities(text);
    return this.labels
      .map((label, i) => ({ label, prob: p[i] }))
      .sort((a, b) => b.prob - a.prob)
      .slice(0, M_max(1, k));
  }

  labelIndex(label: string): number {
    const l = this.labels.indexOf(label);
    if (l < 0) throw new Error(`classifier: unknown label '${label}' (labels: ${this.labels.join(', ')})`);
    return l;
  }

  /** Precision, recall and F1 per label of the top-1 prediction. */
  test(examples: Iterable<LabelledText>): TestResult {
    const L = this.labels.length;
    const tp = new Array(L).fill(0);
    const fp = new Array(L).fill(0);
    const fn = new Array(L).fill(0);
    let n = 0;
    let correct = 0;
    for (const ex of examples) {
      const truth = this.labels.indexOf(ex.label);
      const p = this.probabilities(ex.text);
      let best = 0;
      for (let l = 1; l < L; l++) if (p[l] > p[best]) best = l;
      n++;
      if (best === truth) {
        correct++;
        tp[best]++;
      } else {
        fp[best]++;
        if (truth >= 0) fn[truth]++;
      }
    }
    const labels = this.labels.map((label, l) => {
      const precision = tp[l] + fp[l] > 0 ? tp[l] / (tp[l] + fp[l]) : 0;
      const recall = tp[l] + fn[l] > 0 ? tp[l] / (tp[l] + fn[l]) : 0;
      const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
      return { label, precision, recall, f1, support: tp[l] + fn[l], tp: tp[l], fp: fp[l], fn: fn[l] };
    });
    return { n, accuracy: n ? correct / n : 0, labels, macroF1: labels.reduce((a, m) => a + m.f1, 0) / L };
  }

  /** Trains a new classifier on labelled texts (held in memory as hashed feature rows). */
  static train(examples: readonly LabelledText[], opts: ClassifierOptions = {}): FastTextClassifier {
    if (examples.length === 0) throw new Error('classifier: no training examples');
    const labels = [...new Set(examples.map((e) => e.label))].sort();
    if (labels.length < 2) throw new Error(`classifier: training data has only the label '${labels[0]}'; need at least 2`);
    const dim = opts.dim ?? 16;
    const model = new FastTextClassifier({
      labels,
      dim,
      buckets: opts.buckets ?? 1 << 18,
      wordNgrams: opts.wordNgrams ?? 2,
      loss: opts.loss ?? 'softmax',
      maxTokens: opts.maxTokens ?? 0,
    });
    const rng = new Rng(opts.seed ?? 1);
    const A = model.input;
    for (let i = 0; i < A.length; i++) A[i] = (rng.next() * 2 - 1) / dim;
    // All feature rows in one buffer with offsets.
    const feats = new U32Buf(1 << 16);
    const starts = new Uint32Array(examples.length + 1);
    const ys = new Int32Array(examples.length);
    const tmp = new U32Buf(8192);
    for (let i = 0; i < examples.length; i++) {
      model.features(examples[i].text, tmp);
      for (let k = 0; k < tmp.length; k++) feats.push(tmp.data[k]);
      starts[i + 1] = feats.length;
      ys[i] = labels.indexOf(examples[i].label);
    }
    model.fit(feats.data, starts, ys, opts);
    return model;
  }

  private fit(feats: Uint32Array, starts: Uint32Array, ys: Int32Array, opts: ClassifierOptions): void {
    const epochs = opts.epoch ?? 5;
    const lr0 = opts.lr ?? 0.5;
    if (!(epochs >= 1 && Number.isInteger(epochs))) throw new Error(`classifier: epoch must be a positive integer, got ${epochs}`);
    if (!(lr0 > 0)) throw new Error(`classifier: lr must be > 0, got ${lr0}`);
    const n = ys.length;
    const d = this.dim;
    const L = this.labels.length;
    const A = this.input;
    const Bm = this.output;
    const hid = this.hidden;
    const s = this.scores;
    const grad = new Float32Array(d);
    const order = Array.from({ length: n }, (_, i) => i);
    const rng = new Rng((opts.seed ?? 1) + 7919);
    const total = epochs * n;
    let step = 0;
    for (let e = 0; e < epochs; e++) {
      rng.shuffle(order);
      let lossSum = 0;
      for (const i of order) {
        const lr = lr0 * (1 - step / total);
        step++;
        const a = starts[i];
        const len = starts[i + 1] - a;
        if (len === 0) continue;
        const f = feats.subarray(a, a + len);
        this.computeHidden(f, len);
        this.computeProbs();
        grad.fill(0);
        const y = ys[i];
        for (let l = 0; l < L; l++) {
          const target = l === y ? 1 : 0;
          const alpha = lr * (target - s[l]);
          const o = l * d;
          for (let j = 0; j < d; j++) {
            grad[j] += alpha * Bm[o + j];
            Bm[o + j] += alpha * hid[j];
          }
          if (this.loss === 'ova') lossSum -= M_log(M_max(1e-10, target ? s[l] : 1 - s[l]));
        }
        if (this.loss === 'softmax') lossSum -= M_log(M_max(1e-10, s[y]));
        const inv = 1 / len;
        for (let j = 0; j < d; j++) grad[j] *= inv;
        for (let k = 0; k < len; k++) {
          const o = f[k] * d;
          for (let j = 0; j < d; j++) A[o + j] += grad[j];
        }
      }
      opts.onEpoch?.(e + 1, lossSum / n);
    }
  }

  toBuffer(): Buffer {
    if (os.endianness() !== 'LE') throw new Error('classifier: saving needs a little-endian machine');
    const head = Buffer.from(JSON.stringify(this.header()), 'utf8');
    const pre = 12 + head.length;
    const pad = (4 - (pre % 4)) % 4;
    const out = Buffer.alloc(pre + pad + (this.input.length + this.output.length) * 4);
    out.write(MAGIC, 0, 'latin1');
    out.writeUInt32LE(head.length, 8);
    head.copy(out, 12);
    const off = pre + pad;
    Buffer.from(this.input.buffer, this.input.byteOffset, this.input.byteLength).copy(out, off);
    Buffer.from(this.output.buffer, this.output.byteOffset, this.output.byteLength).copy(out, off + this.input.byteLength);
    return out;
  }

  static fromBuffer(buf: Buffer, name = 'buffer'): FastTextClassifier {
    if (os.endianness() !== 'LE') throw new Error('classifier: loading needs a little-endian machine');
    if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error(`classifier: ${name} is not a mathrl classifier (bad magic)`);
    const hl = buf.readUInt32LE(8);
    if (12 + hl > buf.length) throw new Error(`classifier: ${name} is truncated (header)`);
    let h: ModelHeader;
    try {
      h = JSON.parse(buf.toString('utf8', 12, 12 + hl)) as ModelHeader;
    } catch (e) {
      throw new Error(`classifier: ${name} has a bad header (${(e as Error).message})`);
    }
    if (h.format !== 1 || h.tokenizer !== 'featureTokens-v1') throw new Error(`classifier: ${name} has unsupported format ${h.format} / tokenizer ${h.tokenizer}`);
    const pre = 12 + hl;
    const off = pre + ((4 - (pre % 4)) % 4);
    const nA = h.buckets * h.dim;
    const nB = h.labels.length * h.dim;
    if (buf.length !== off + (nA + nB) * 4) throw new Error(`classifier: ${name} has ${buf.length} bytes, expected ${off + (nA + nB) * 4}`);
    const A = new Float32Array(nA);
    const B = new Float32Array(nB);
    Buffer.from(A.buffer).set(buf.subarray(off, off + nA * 4));
    Buffer.from(B.buffer).set(buf.subarray(off + nA * 4, off + (nA + nB) * 4));
    return new FastTextClassifier(h, A, B);
  }

  save(file: string): void {
    fs.writeFileSync(file, this.toBuffer());
  }

  static load(file: string): FastTextClassifier {
    return FastTextClassifier.fromBuffer(fs.readFileSync(file), file);
  }
}
