// A small seedable pseudo-random generator whose whole state is four 32-bit words, so it can be saved
// in a checkpoint and restored exactly (xoshiro128**, seeded through splitmix32). The one generator of the
// library: trainers, data loaders, the demo world and the corpus tools (sample pool, classifier, iterate).
// Globals are read once: inside jest's vm sandbox every global lookup in a hot loop is slow.
const M_imul = Math.imul;
const M_floor = Math.floor;

export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = M_imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = M_imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s: Uint32Array;

  constructor(seed = 0) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng: seed must be an integer, got ${seed}`);
    const sm = splitmix32((seed >>> 0) ^ M_floor(seed / 2 ** 32));
    this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  static fromState(state: RngState): Rng {
    if (!Array.isArray(state) || state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff))
      throw new Error(`Rng.fromState: state must be four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    const r = new Rng(0);
    r.s.set(state);
    if (r.s.every((v) => v === 0)) throw new Error('Rng.fromState: the all-zero state is invalid');
    return r;
  }

  state(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  /** A uniform unsigned 32-bit integer. */
  nextU32(): number {
    const s = this.s;
    const result = M_imul(rotl(M_imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n) without modulo bias (n <= 2^32). */
  int(n: number): number {
    // n % 1 !== 0 is Number.isInteger for the finite n that pass the range test, without a global lookup.
    if (!(n >= 1) || n > 4294967296 || n % 1 !== 0) throw new RangeError(`Rng.int: bad range ${n}`);
    const limit = 4294967296 - umod(4294967296, n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return umod(x, n);
    }
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(xs: ArrayLike<T>): T {
    return xs[this.int(xs.length)];
  }

  /** Fisher-Yates shuffle in place, of any writable array-like (arrays, typed arrays). */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** 0..n-1 in a random order. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

/** x % n for integers 0 <= x <= 2^32, 1 <= n <= 2^32, without a floating-point remainder (a slow runtime
 * call once x passes 2^31). x / n rounds at worst up to the next integer, never below the true
 * quotient q, and q·n <= x + n is exact, so one correction suffices. */
function umod(x: number, n: number): number {
  const m = x - M_floor(x / n) * n;
  return m < 0 ? m + n : m;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
