// GEMM: C = alpha * op(A) @ op(B) + beta * C, batched. Twins: native/cpu/gemm.cpp, native/cuda/gemm.cu.
import { native, NativeBuffer, NativeGemmOptions } from '../native';
import { DType, Tensor, checkDType, dtypeId, numel, shapeStr } from '../tensor';
import { floatDType, numberArg, sameDType, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    gemm(a: NativeBuffer, b: NativeBuffer, c: NativeBuffer, opts: NativeGemmOptions): void;
  }
}

export interface GemmOptions {
  /** Use A transposed: A is stored [..., K, M]. */
  transA?: boolean;
  /** Use B transposed: B is stored [..., N, K]. */
  transB?: boolean;
  alpha?: number;
  /** Weight of the existing C (needs `c`). 0 means C is overwritten without being read. */
  beta?: number;
  /** Write into this tensor (shape [...batch, M, N]) instead of allocating one. */
  c?: Tensor;
  /** dtype of a newly allocated C: 'f32' (default) or 'bf16'. Accumulation is always f32. */
  outDtype?: DType;
}

/**
 * Batched matrix product. A is [...batch, M, K] (or [..., K, M] with transA), B is [...batch, K, N]
 * (or [..., N, K] with transB). The batch dims must match, or one side has none / all ones and is
 * broadcast. A and B are both f32 or both bf16. Returns C ([...batch, M, N]).
 */
export function gemm(a: Tensor, b: Tensor, opts: GemmOptions = {}): Tensor {
  const op = 'gemm';
  tensorArg(op, 'A', a);
  tensorArg(op, 'B', b);
  sameDevice(op, a, b);
  sameDType(op, a, b);
  floatDType(op, a);
  if (a.ndim < 2 || b.ndim < 2)
    throw new RangeError(`${op}: A ${shapeStr(a.shape)} and B ${shapeStr(b.shape)} must have at least 2 dimensions`);
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const alpha = numberArg(op, 'alpha', opts.alpha ?? 1);
  const beta = numberArg(op, 'beta', opts.beta ?? 0);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb)
    throw new RangeError(
      `${op}: inner dimensions differ: A ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} @ B ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''} (${K} vs ${Kb})`,
    );
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const nA = numel(batchA);
  const nB = numel(batchB);
  let batchShape: number[];
  if (batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i])) batchShape = batchA;
  else if (nA === 1) batchShape = batchB;
  else if (nB === 1) batchShape = batchA;
  else
    throw new RangeError(
      `${op}: batch dimensions ${shapeStr(batchA)} of A ${shapeStr(a.shape)} and ${shapeStr(batchB)} of B ${shapeStr(b.shape)} do not match`,
    );
  const batch = numel(batchShape);
  const outShape = [...batchShape, M, N];
  let c = opts.c;
  if (c !== undefined) {
    tensorArg(op, 'c', c);
    sameDevice(op, a, c);
    floatDType(op, c);
    if (opts.outDtype !== undefined && opts.outDtype !== c.dtype)
      throw new TypeError(`${op}: outDtype ${opts.outDtype} differs from c's dtype ${c.dtype}`);
    if (c.shape.length !== outShape.length || c.shape.some((d, i) => d !== outShape[i]))
      throw new RangeError(`${op}: c has shape ${shapeStr(c.shape)}, expected ${shapeStr(outShape)}`);
  } else {
    if (beta !== 0) throw new RangeError(`${op}: beta = ${beta} needs an existing c to accumulate into`);
    const dt = checkDType(op, opts.outDtype ?? 'f32');
    if (dt === 'i32') throw new TypeError(`${op}: outDtype must be f32 or bf16`);
    c = Tensor.empty(outShape, { dtype: dt, device: a.device });
  }
  if (batch === 0 || M === 0 || N === 0) return c;
  native().gemm(a.buffer(op), b.buffer(op), c.buffer(op), {
    transA,
    transB,
    batch,
    M,
    N,
    K,
    alpha,
    beta,
    dtA: dtypeId(a.dtype),
    dtB: dtypeId(b.dtype),
    dtC: dtypeId(c.dtype),
    strideA: nA === 1 ? 0 : M * K,
    strideB: nB === 1 ? 0 : K * N,
    strideC: M * N,
  });
  return c;
}

/** A @ B (f32 result). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return gemm(a, b);
}
