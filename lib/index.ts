// mathrl: train math-reasoning language models on custom CPU and CUDA kernels.
export {
  Tensor,
  tidy,
  keep,
  memory,
  resetPeakMemory,
  emptyCache,
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
export {
  Tokenizer,
  DEEPSEEKMATH_CHAT_TEMPLATE,
  ByteLevelBpe,
  trainBpe,
  trainBpeModel,
  DEFAULT_SPECIAL_TOKENS,
  SPLIT_PATTERN,
  preTokenize,
} from './tokenizer';
export type {
  ChatMessage,
  EncodeOptions,
  DecodeOptions,
  ChatTemplateOptions,
  TrainBpeOptions,
  TrainBpeProgress,
  BpeEncodeOptions,
} from './tokenizer';
export {
  readSafetensors,
  openSafetensors,
  loadSafetensors,
  saveSafetensors,
  saveSharded,
  loadCheckpoint,
  readShardIndex,
  SafetensorsFile,
  f16BitsToF32,
} from './io/safetensors';
export type {
  SafetensorsDType,
  SafetensorsTensorInfo,
  RawTensor,
  LoadOptions,
  TensorMap,
  ShardIndex,
  SaveShardedOptions,
} from './io/safetensors';
export {
  readConfig,
  writeConfig,
  parseConfig,
  validateConfig,
  toHFConfig,
  countParameters,
  LLAMA_PRESETS,
  presetConfig,
} from './model/config';
export type { LlamaConfig, ModelType, LlamaPresetName } from './model/config';
export { adamw } from './ops/adamw';
export type { AdamWOptions } from './ops/adamw';
export { gradNormSquared, clipGradNorm, clipGradNormInPlace } from './ops/gradNorm';
export { attention, attentionBackward } from './ops/attention';
export type { AttentionOptions, AttentionResult, AttentionGrads } from './ops/attention';
export { rmsnorm, rmsnormBackward } from './ops/rmsnorm';
export type { RmsNormBackwardOptions } from './ops/rmsnorm';
export { rope, ropeBackward } from './ops/rope';
export type { RopeOptions } from './ops/rope';
export { swiglu, swigluBackward } from './ops/swiglu';
export { embedding, embeddingBackward, checkIndexErrors } from './ops/embedding';
export { crossEntropy } from './ops/crossEntropy';
export type { CrossEntropyOptions, CrossEntropyResult } from './ops/crossEntropy';
export { LlamaModel, parameterShapes } from './model/llama';
export type { LlamaModelOptions, InitOptions, ForwardOptions, LossOptions, LossResult } from './model/llama';
export { AdamW } from './optim/adamw';
export type { AdamWConfig, StepOptions, StepResult } from './optim/adamw';
export { kvCacheWrite, checkKvCacheErrors } from './ops/kvCache';
export type { RowIndex, KvCacheWriteOptions } from './ops/kvCache';
export { attentionDecode } from './ops/attentionDecode';
export type { AttentionDecodeOptions } from './ops/attentionDecode';
export { argmax } from './ops/argmax';
export type { ArgmaxResult } from './ops/argmax';
export { KVCache } from './model/kvCache';
export type { PrefillOptions } from './model/llama';
export { generate } from './generate/generate';
export type { GenerateOptions, GenerateResult, StopOptions, FinishReason } from './generate/generate';
export { greedySampler, temperatureSampler, hashUniform } from './generate/samplers';
export type { Sampler, TemperatureSamplerOptions } from './generate/samplers';
