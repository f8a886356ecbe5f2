// Loads the compiled addon (prebuilds/ first, then build/Release) through node-gyp-build.
import * as fs from 'fs';
import * as path from 'path';

/** A block of native memory on one device; JS Tensors hold these as handles. */
export interface NativeBuffer {
  readonly bytes: number;
  readonly device: 'cpu' | 'cuda';
  readonly freed: boolean;
  free(): void;
}

export interface NativeGemmOptions {
  transA: boolean;
  transB: boolean;
  batch: number;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  dtA: number;
  dtB: number;
  dtC: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

export interface CudaInfo {
  compiled: boolean;
  available: boolean;
  devices: number;
  name?: string;
  computeCapability?: string;
  totalMemory?: number;
  runtimeVersion?: number;
  driverVersion?: number;
  reason?: string;
}

export interface NativeMemory {
  bytes: number;
  peakBytes: number;
  buffers: number;
  allocations: number;
  cachedBytes: number;
}

/**
 * The raw addon surface. Op functions take dtype ids, sizes and buffers; the wrappers in lib/ops check
 * shapes first. Each lib/ops/<op>.ts adds its own native functions to this interface
 * (`declare module '../native'`), beside the code that calls them.
 */
export interface NativeAddon {
  NativeBuffer: new (bytes: number, device: number) => NativeBuffer;
  backends(): { cpu: boolean; threads: number; cuda: CudaInfo };
  memory(device: number): NativeMemory;
  resetPeakMemory(): void;
  emptyCache(): void;
  setNumThreads(n: number): void;
  synchronize(): void;
  upload(buf: NativeBuffer, data: ArrayBufferView): void;
  download(buf: NativeBuffer, data: ArrayBufferView): void;
  copy(dst: NativeBuffer, src: NativeBuffer, bytes: number): void;
  // Benchmark-only peer (dlopen'd OpenBLAS), never used by the library itself.
  openblasLoad(path: string): boolean;
  openblasSetThreads(n: number): void;
  openblasInfo(): string;
  openblasSgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
  ): void;
}

/** The package root: the nearest folder above this file whose package.json is mathrl's. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'mathrl') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('mathrl: cannot find the package root (package.json) above ' + __dirname);
    dir = up;
  }
}

let addon: NativeAddon | null = null;

/** The addon, loaded on first use. A missing build becomes an Error that says how to build it. */
export function native(): NativeAddon {
  if (addon) return addon;
  const root = packageRoot();
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    addon = load(root);
  } catch (e) {
    throw new Error(
      `mathrl: the native addon could not be loaded from ${root} (${(e as Error).message}). ` +
        'Build it with `npm run build:native` (needs cmake and a C++17 compiler).',
    );
  }
  return addon;
}
