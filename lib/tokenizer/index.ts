export { Tokenizer, DEEPSEEKMATH_CHAT_TEMPLATE } from './tokenizer';
export type { ChatMessage, EncodeOptions, DecodeOptions, ChatTemplateOptions } from './tokenizer';
export { ByteLevelBpe, trainBpe, trainBpeModel, DEFAULT_SPECIAL_TOKENS } from './bpe';
export type { TrainBpeOptions, TrainBpeProgress, BpeEncodeOptions } from './bpe';
export { SPLIT_PATTERN, preTokenize } from './bytelevel';
