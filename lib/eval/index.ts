// Math evaluation: answer extraction, normalisation and equivalence, metrics, dataset loaders and a
// model-agnostic runner.
export { extractAnswer, findBoxes, lastBoxed, lastGsm8kAnswer, lastAnswerIs, lastNumber } from './extract';
export type { AnswerFormat, ExtractOptions, BoxedMatch } from './extract';
export { normalizeAnswer, normalizeDetailed, isEquivalent, parseAnswer, splitTopLevel } from './equivalence';
export type { NormalizedAnswer, AnswerNode, EquivalenceOptions } from './equivalence';
export { parseExpr, tryParseExpr, evalExact, evalNumber, exprEqual, equationEqual } from './expr';
export type { Expr, Rational, CompareOptions } from './expr';
export { greedyAccuracy, majorityVote, majorityAtK, passAtK, meanPassAtK } from './metrics';
export type { Answer, Vote } from './metrics';
export {
  loadGsm8k,
  loadMath500,
  gsm8kFinalAnswer,
  stripCalculatorAnnotations,
  buildPrompt,
  DEEPSEEKMATH_COT_SUFFIX,
} from './datasets';
export type { MathProblem, MalformedLine, LoadOptions, PromptOptions } from './datasets';
export { evaluate, scoreProblem, summarize, defaultPassKs } from './evaluate';
export type { GenerateFn, SampleRecord, ProblemRecord, EvalReport, ScoreOptions, EvaluateOptions } from './evaluate';
