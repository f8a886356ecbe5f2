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
export type { LlamaModelOptions, InitOptions, ForwardOptions, LossOptions, LossResult, LogprobOptions, LogprobResult } from './model/llama';
export { AdamW } from './optim/adamw';
export type { AdamWConfig, StepOptions, StepResult } from './optim/adamw';
export {
  extractAnswer,
  findBoxes,
  lastBoxed,
  normalizeAnswer,
  isEquivalent,
  parseExpr,
  evalExact,
  evalNumber,
  greedyAccuracy,
  majorityVote,
  majorityAtK,
  passAtK,
  meanPassAtK,
  loadGsm8k,
  loadMath500,
  gsm8kFinalAnswer,
  buildPrompt,
  DEEPSEEKMATH_COT_SUFFIX,
  evaluate,
  scoreProblem,
  summarize,
} from './eval';
export type {
  AnswerFormat,
  ExtractOptions,
  EquivalenceOptions,
  MathProblem,
  LoadOptions as DatasetLoadOptions,
  MalformedLine,
  PromptOptions,
  GenerateFn,
  ProblemRecord,
  EvalReport,
  EvaluateOptions,
} from './eval';
export { sample } from './ops/sample';
export type { SampleOptions, SampleResult, PerRow } from './ops/sample';
export {
  readLines, readCorpus, tokenizeCorpus, unigramCrossEntropy, TokenFile, TokenFileWriter, InputReport,
  TOKEN_FILE_MAGIC, TOKEN_FILE_HEADER_BYTES,
} from './data/tokens';
export type {
  CorpusOptions, CorpusDocument, TokenFileHeader, TokenizeCorpusOptions, TokenizeCorpusResult, OnBadLine, BadLine,
} from './data/tokens';
export { PretrainLoader, fillRow, emptyBatch, IGNORE_INDEX } from './data/packing';
export type { Batch, LoaderState, PackOptions } from './data/packing';
export {
  COT_SUFFIX, gsm8kSolution, toMessages, readSft, tokenizeConversation, loadSftDataset, SftLoader,
} from './data/sft';
export type { SftReadOptions, SftExample, TokenizedExample, SftDatasetOptions, SftDataset, SftPackOptions } from './data/sft';
export { Trainer, PretrainTrainer, SFTTrainer } from './train/trainer';
export type {
  TrainerConfig, TrainerCallbacks, StepMetrics, EvalMetrics, CheckpointInfo, TrainResult, ModelSource,
  PretrainTrainerOptions, SFTTrainerOptions,
} from './train/trainer';
export { lrAt } from './train/schedule';
export type { LrSchedule } from './train/schedule';
export {
  saveTrainingCheckpoint, listCheckpoints, latestCheckpoint, readTrainerState, restoreWeights, loadModelDir, writeFileAtomic,
  CHECKPOINTS_DIR,
} from './train/checkpoint';
export { Rng } from './util/rng';
export type { RngState } from './util/rng';
export { linePlotSvg, niceTicks } from './util/plot';
export type { PlotSeries, PlotOptions } from './util/plot';
export * as data from './data';
export { grpoLoss, grpoMetrics, GRPO_METRIC_NAMES } from './ops/grpoLoss';
export type { GrpoLossInputs, GrpoLossOptions, GrpoLossResult, GrpoLossType, GrpoMetrics } from './ops/grpoLoss';
export { groupAdvantages, processAdvantages } from './ops/grpoAdvantages';
export type { ScaleRewards, AdvantageOptions, GroupAdvantageOptions, ProcessAdvantageOptions } from './ops/grpoAdvantages';
export { linearLogprob, linearLogprobBackward } from './ops/linearLogprob';
export type {
  LinearLogprobOptions,
  LinearLogprobResult,
  LinearLogprobBackwardOptions,
  LinearLogprobGrads,
} from './ops/linearLogprob';
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
export { greedySampler, temperatureSampler, kernelSampler, hashUniform } from './generate/samplers';
export type { Sampler, TemperatureSamplerOptions, KernelSamplerOptions } from './generate/samplers';
export { GRPOTrainer, forwardRolloutEngine, completionSeed } from './train/grpo';
export type {
  GRPOConfig, GRPOTrainerOptions, GRPOExample, GRPOStepMetrics, GRPOCallbacks, GRPOCheckpointInfo, RolloutEngine,
  RolloutOptions, RolloutResult,
} from './train/grpo';
export { mathAccuracyReward, makeMathAccuracyReward, boxedFormatReward, isCorrect, resolveRewards } from './train/rewards';
export type { RewardFunction, RewardValue, NamedReward, MathRewardOptions } from './train/rewards';
