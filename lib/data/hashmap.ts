// An open-addressing hash map from 53-bit non-negative integer keys (hashes) to non-negative int32
// values, on typed arrays: no per-entry objects, ~13 bytes per slot at load ≤ 0.5, and far faster
// than a Map keyed by non-Smi numbers. Used for n-gram, band and URL hash sets.
import { fmix32 } from './text';
// Globals are read once: inside jest's vm sandbox every global lookup in a hot loop is slow.
const M_imul = Math.imul;
const M_floor = Math.floor;


const EMPTY = 0xffffffff; // never a valid high word (keys are < 2^53, so hi < 2^21)

export class U53Map {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private vals: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.hi = new Uint32Array(cap).fill(EMPTY);
    this.lo = new Uint32Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slot(hi: number, lo: number): number {
    let i = fmix32((lo ^ M_imul(hi, 0x9e3779b1)) >>> 0) & this.mask;
    for (;;) {
      const h = this.hi[i];
      if (h === EMPTY || (h === hi && this.lo[i] === lo)) return i;
      i = (i + 1) & this.mask;
    }
  }

  /** The value of `key`, or -1 when absent. */
  get(key: number): number {
    const hi = M_floor(key / 4294967296);
    const lo = key >>> 0;
    const i = this.slot(hi, lo);
    return this.hi[i] === EMPTY ? -1 : this.vals[i];
  }

  has(key: number): boolean {
    return this.get(key) >= 0;
  }

  /** Sets key → value (value ≥ 0). Returns false (and changes nothing) when the key was present and `keepFirst`. */
  set(key: number, value: number, keepFirst = false): boolean {
    if (!(key >= 0 && key < 2 ** 53)) throw new Error(`U53Map: key ${key} is not a 53-bit non-negative integer`);
    const hi = M_floor(key / 4294967296);
    const lo = key >>> 0;
    let i = this.slot(hi, lo);
    if (this.hi[i] !== EMPTY) {
      if (keepFirst) return false;
      this.vals[i] = value;
      return true;
    }
    if ((this.size + 1) * 2 > this.hi.length) {
      this.grow();
      i = this.slot(hi, lo);
    }
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.vals[i] = value;
    this.size++;
    return true;
  }

  private grow(): void {
    const { hi, lo, vals } = this;
    const cap = hi.length * 2;
    this.hi = new Uint32Array(cap).fill(EMPTY);
    this.lo = new Uint32Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < hi.length; j++) {
      if (hi[j] === EMPTY) continue;
      const i = this.slot(hi[j], lo[j]);
      this.hi[i] = hi[j];
      this.lo[i] = lo[j];
      this.vals[i] = vals[j];
    }
  }
}
