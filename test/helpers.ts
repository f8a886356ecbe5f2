// Test helpers: seeded random data, float64 references, relative error.
import { backends } from '../lib';

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let seedCounter = 1234;
/** Fresh standard-normal values (never zeros), a new seed per call. */
export function randn(n: number, scale = 1): Float32Array {
  const r = rng(seedCounter++);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** ||out - ref|| / ||ref|| in float64; Infinity if out has a NaN where ref does not. */
export function relErr(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`length ${out.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i];
    const r = ref[i];
    if (Number.isNaN(o) !== Number.isNaN(r)) return Infinity;
    if (Number.isNaN(r)) continue;
    num += (o - r) * (o - r);
    den += r * r;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export const hasCuda = (): boolean => backends().cuda.available;

/** describe() when a GPU is visible, describe.skip() otherwise (reported as skipped). */
export const describeCuda = (name: string, fn: () => void): void =>
  (hasCuda() ? describe : describe.skip)(name, fn);
