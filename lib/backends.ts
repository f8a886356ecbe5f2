// What the loaded addon can do on this machine.
import { CudaInfo, native } from './native';
import { Device } from './tensor';

export interface Backends {
  cpu: true;
  /** CPU worker threads used by the kernels (MATHRL_NUM_THREADS or the core count). */
  threads: number;
  cuda: CudaInfo;
  /** 'cuda' when a usable GPU is visible, else 'cpu'. */
  defaultDevice: Device;
}

export function backends(): Backends {
  const b = native().backends();
  return { cpu: true, threads: b.threads, cuda: b.cuda, defaultDevice: b.cuda.available ? 'cuda' : 'cpu' };
}

/** Sets the number of CPU worker threads. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: expected a positive integer, got ${n}`);
  native().setNumThreads(n);
}

/** Waits for all queued GPU work (no-op on CPU). Reports asynchronous CUDA errors. */
export function synchronize(): void {
  native().synchronize();
}
