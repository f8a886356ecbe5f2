// The DeepSeekMath corpus pipeline: see lib/data/*.ts and `mathrl data --help`.
export { FastTextClassifier } from './classifier';
export type { ClassifierOptions, LabelledText, Prediction, TestResult, LabelMetrics, LossKind } from './classifier';
export { MinHasher, NearDupIndex, estimateJaccard, jaccard } from './minhash';
export type { MinHashOptions, NearDupOptions } from './minhash';
export { ContaminationIndex, loadBenchmarkDir, loadBenchmarkFile, stripCalculatorNotes } from './decontaminate';
export type { BenchmarkText, Contamination, DecontaminateOptions } from './decontaminate';
export { normalizeUrl, domainOf } from './url';
export type { NormalizeOptions } from './url';
export { readDocs, readAllDocs, listShards, JsonlWriter, parseDocLine } from './jsonl';
export type { Doc, DocRef, BadLine, ReadOptions } from './jsonl';
export { dedup, decontaminate, scoreAndSelect, domainStats, proposeDomains, iterate } from './pipeline';
export type { StepReport, ScoreReport, DomainStat, IterateOptions, RoundSummary, DedupOptions, ScoreOptions } from './pipeline';
export { makeSample, writeSample } from './sample';
export type { SampleDoc, SamplePool, SampleOptions, SampleTruth } from './sample';
export { words } from './text';
