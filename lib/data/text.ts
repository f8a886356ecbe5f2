// Tokenizers and hashes for the corpus pipeline. Both tokenizers scan UTF-16 code units and hash
// tokens on the fly (no substrings are made), writing 32-bit hashes into reusable buffers.
//
// - `featureTokens` (the classifier): lowercased runs of letters, runs of digits, and every other
//   non-space character as a token of its own, so `\frac{3}{2}` gives `\ frac { 3 } { 2 }` and math
//   symbols ($ ^ = \ { }) become features.
// - `wordTokens` (MinHash shingles and decontamination): whitespace-separated words, lowercased, with
//   every character that is not a letter or digit removed from inside the word (`$80,000` → `80000`,
//   `market?` → `market`, `x-axis` → `xaxis`); words left empty are dropped. So an n-gram is n words
//   of the text, whatever punctuation or markup surrounds them.
// Code units ≥ 0x80 count as letters, except Unicode spaces (separators) and the General Punctuation
// block U+2000–U+206F (curly quotes, dashes), which are punctuation. Only ASCII is case-folded.
// Globals are read once: inside jest's vm sandbox every global lookup in a hot loop is slow.
const M_imul = Math.imul;


/** A growable Uint32Array (hash buffer). */
export class U32Buf {
  data: Uint32Array;
  length = 0;
  constructor(cap = 1024) {
    this.data = new Uint32Array(cap);
  }
  reset(): void {
    this.length = 0;
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const d = new Uint32Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = v;
  }
  view(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const H2_OFFSET = 0x9747b28c;
const H2_MUL = 0x5bd1e995;

/** murmur3's 32-bit finaliser. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = M_imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = M_imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over a string's UTF-16 code units (no case folding). */
export function fnv1a(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = M_imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** A 53-bit hash of a string (two independent 32-bit hashes), for sets where 32 bits collide too often. */
export function hash53(s: string): number {
  let a = FNV_OFFSET;
  let b = H2_OFFSET;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = M_imul(a ^ c, FNV_PRIME);
    b = M_imul(b ^ c, H2_MUL);
    b ^= b >>> 15;
  }
  return (fmix32(a) & 0x1fffff) * 4294967296 + fmix32(b);
}

function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13) || c === 0;
  if (c < 0x80) return false;
  return c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 ||
    c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

// Character classes: 0 space, 1 letter, 2 digit, 3 other (punctuation / symbol).
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  ASCII_CLASS[c] = c <= 32 && (c === 32 || (c >= 9 && c <= 13) || c === 0) ? 0
    : (c >= 48 && c <= 57) ? 2
    : (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? 1
    : 3;
}
function charClass(c: number): number {
  if (c < 128) return ASCII_CLASS[c];
  if (isSpace(c)) return 0;
  if (c >= 0x2000 && c <= 0x206f) return 3;
  return 1;
}
function lower(c: number): number {
  return c >= 65 && c <= 90 ? c | 0x20 : c;
}

/** Classifier tokens of `text` as FNV-1a hashes (see the file comment), appended to `out`. */
export function featureTokens(text: string, out: U32Buf): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const k = charClass(c);
    if (k === 0) {
      i++;
      continue;
    }
    let h = M_imul(FNV_OFFSET ^ lower(c), FNV_PRIME);
    i++;
    if (k !== 3) {
      while (i < n) {
        const d = text.charCodeAt(i);
        if (charClass(d) !== k) break;
        h = M_imul(h ^ lower(d), FNV_PRIME);
        i++;
      }
    }
    out.push(h >>> 0);
  }
}

/**
 * Word tokens of `text` (see the file comment): two independent 32-bit hashes per word, appended to
 * `h1` and `h2` (h2 may be null when one hash is enough).
 */
export function wordTokens(text: string, h1: U32Buf, h2: U32Buf | null): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    // skip spaces
    while (i < n && charClass(text.charCodeAt(i)) === 0) i++;
    if (i >= n) break;
    let a = FNV_OFFSET;
    let b = H2_OFFSET;
    let len = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      const k = charClass(c);
      if (k === 0) break;
      i++;
      if (k === 3) continue;
      const l = lower(c);
      a = M_imul(a ^ l, FNV_PRIME);
      b = M_imul(b ^ l, H2_MUL);
      b ^= b >>> 15;
      len++;
    }
    if (len === 0) continue;
    h1.push(a >>> 0);
    if (h2) h2.push(fmix32(b));
  }
}

/** The words of `text` as strings (the same tokenisation as `wordTokens`), for reports and tests. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\s+/)) {
    let w = '';
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      const k = charClass(c);
      if (k === 1 || k === 2) w += String.fromCharCode(lower(c));
      else if (k === 0) {
        if (w) out.push(w);
        w = '';
      }
    }
    if (w) out.push(w);
  }
  return out;
}

/**
 * A 53-bit hash of the n words starting at `start`, from their two 32-bit hashes (order-sensitive).
 * Used as a Set/Map key for n-gram matching; a false match between two different n-grams has
 * probability ~ (entries / 2^53) per lookup.
 */
export function ngramKey(h1: Uint32Array, h2: Uint32Array, start: number, n: number): number {
  let a = 0x2545f491 ^ n;
  let b = 0x6a09e667 ^ n;
  for (let j = start; j < start + n; j++) {
    a = M_imul(a ^ h1[j], 0x9e3779b1);
    a = (a << 13) | (a >>> 19);
    b = M_imul(b ^ h2[j], 0x85ebca77);
    b = (b << 17) | (b >>> 15);
  }
  return (fmix32(a) & 0x1fffff) * 4294967296 + fmix32(b);
}
