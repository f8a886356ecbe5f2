// mathrl: train math-reasoning language models on custom CPU and CUDA kernels.
export {
  Tensor,
  tidy,
  keep,
  memory,
  resetPeakMemory,
  roundBf16,
  f32ToBf16Bits,
  bf16BitsToF32,
} from './tensor';
export type { DType, Device, TensorOptions, TensorData, MemoryInfo } from './tensor';
export { backends, setNumThreads, synchronize } from './backends';
export type { Backends } from './backends';
export type { CudaInfo } from './native';
export { add, mul, scale, cast } from './ops/elementwise';
export { sum, max } from './ops/reduce';
export { softmax, logSoftmax } from './ops/softmax';
export { gemm, matmul } from './ops/gemm';
export type { GemmOptions } from './ops/gemm';
export { rmsnorm, rmsnormBackward } from './ops/rmsnorm';
export type { RmsNormBackwardOptions } from './ops/rmsnorm';
export { rope, ropeBackward } from './ops/rope';
export type { RopeOptions } from './ops/rope';
export { swiglu, swigluBackward } from './ops/swiglu';
export { embedding, embeddingBackward, checkIndexErrors } from './ops/embedding';
export { crossEntropy } from './ops/crossEntropy';
export type { CrossEntropyOptions, CrossEntropyResult } from './ops/crossEntropy';
