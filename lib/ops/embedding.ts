// Token embedding lookup and its backward. Twins: native/cpu/embedding.cpp, native/cuda/embedding.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId, shapeStr } from '../tensor';
import { floatDType, sameDevice, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    embedding(dt: number, N: number, V: number, D: number, ids: NativeBuffer, table: NativeBuffer, out: NativeBuffer): void;
    embeddingBackward(
      dt: number, N: number, V: number, D: number, dout: NativeBuffer, ids: NativeBuffer, dtable: NativeBuffer,
    ): void;
    cudaIndexErrors(): void;
  }
}

function idsArg(op: string, ids: Tensor): void {
  tensorArg(op, 'ids', ids);
  if (ids.dtype !== 'i32') throw new TypeError(`${op}: ids must be i32, got ${ids.dtype} ${shapeStr(ids.shape)}`);
}

function tableArg(op: string, name: string, t: Tensor): [number, number] {
  tensorArg(op, name, t);
  if (t.ndim !== 2) throw new RangeError(`${op}: ${name} ${shapeStr(t.shape)} must be [V, D]`);
  return [t.shape[0], t.shape[1]];
}

/**
 * Rows of table [V, D] (f32 or bf16) at ids (i32, any shape): out [...ids.shape, D], table's dtype.
 * Out-of-range ids: on the CPU an Error naming the first bad id and its position (nothing is written);
 * on CUDA the kernel never reads outside the table, writes a NaN row instead and records the id, which
 * the next embedding / embeddingBackward / crossEntropy call on CUDA, or checkIndexErrors(), throws.
 */
export function embedding(ids: Tensor, table: Tensor): Tensor {
  const op = 'embedding';
  idsArg(op, ids);
  const [V, D] = tableArg(op, 'table', table);
  sameDevice(op, ids, table);
  const dt = floatDType(op, table);
  const out = Tensor.empty([...ids.shape, D], { dtype: dt, device: table.device });
  native().embedding(dtypeId(dt), ids.size, V, D, ids.buffer(op), table.buffer(op), out.buffer(op));
  return out;
}

/**
 * Backward of embedding: adds each row of dout [...ids.shape, D] (f32 or bf16) into dtable[ids[n]]
 * (f32 [V, D]) in place and returns dtable. Deterministic on the CPU; atomicAdd on CUDA. Out-of-range
 * ids as in embedding (on CUDA the row is skipped).
 */
export function embeddingBackward(dout: Tensor, ids: Tensor, dtable: Tensor): Tensor {
  const op = 'embeddingBackward';
  tensorArg(op, 'dout', dout);
  idsArg(op, ids);
  const [V, D] = tableArg(op, 'dtable', dtable);
  sameDevice(op, dout, ids, dtable);
  const dt = floatDType(op, dout);
  if (dtable.dtype !== 'f32') throw new TypeError(`${op}: dtable must be f32, got ${dtable.dtype}`);
  const want = [...ids.shape, D];
  if (dout.ndim !== want.length || dout.shape.some((d, i) => d !== want[i]))
    throw new RangeError(
      `${op}: dout ${shapeStr(dout.shape)} must be ${shapeStr(want)} for ids ${shapeStr(ids.shape)} and dtable ${shapeStr(dtable.shape)}`,
    );
  native().embeddingBackward(dtypeId(dt), ids.size, V, D, dout.buffer(op), ids.buffer(op), dtable.buffer(op));
  return dtable;
}

/**
 * Waits for the CUDA stream and throws if an embedding or crossEntropy kernel met an out-of-range token
 * id / target since the last report (the record is cleared). No-op without CUDA.
 */
export function checkIndexErrors(): void {
  native().cudaIndexErrors();
}
