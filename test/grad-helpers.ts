// Helpers for the backward tests of the transformer kernels: inputs as the kernel sees them (bf16
// rounded), random projections as scalar losses, central finite differences.
import { DType, Tensor, roundBf16 } from '../lib';
import { randn } from './helpers';

/** A fresh random tensor and the float64 values the kernel actually sees. */
export function input(shape: number[], dtype: DType = 'f32', scale = 1): { t: Tensor; x: Float64Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = randn(n, scale);
  const x = new Float64Array(n);
  if (dtype === 'bf16') for (let i = 0; i < n; i++) x[i] = roundBf16(raw[i]);
  else for (let i = 0; i < n; i++) x[i] = raw[i];
  return { t: Tensor.fromArray(raw, shape, { dtype }), x };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Central finite differences of f at x over every coordinate (x is restored). */
export function fdGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const fp = f(x);
    x[i] = v - h;
    const fm = f(x);
    x[i] = v;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** f64 copy of a tensor's values. */
export function f64(t: Tensor): Float64Array {
  const a = t.toArray();
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}
