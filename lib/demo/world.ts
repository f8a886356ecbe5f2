// The demo's synthetic arithmetic world: multi-step integer word problems (2–4 steps of + − × on small
// numbers, four templates of entities and quantities) with worked solutions ending in \boxed{n}, a
// pretraining corpus (worked examples and arithmetic facts) and train / held-out test splits that never
// share a problem (a problem is its template and its numbers; names and objects do not count).
// Everything is a pure function of the seed.
//
// A question is a list of sentences, each adding at most one step, then the ask. A worked solution
// goes through the question sentence by sentence — it restates each one and writes the equation of its
// step — then gives the boxed answer:
//   "Fay has 9 apples.\nAna gives her 4 more. 9 + 4 = 13\nThen she buys 2 more. 13 + 2 = 15\nThe answer is \boxed{15}."
// Restating keeps every equation's inputs a few tokens away (the sentence just copied, the previous
// line), so a model of a few hundred thousand parameters learns to work such problems in minutes.
// The pretraining corpus writes most worked examples textbook style, ending "Answer: 15"; answers are
// graded only inside \boxed{} (as MATH is), a convention the base model rarely saw and SFT teaches.
// An answer-only solution skips to "The answer is \boxed{15}." — as real SFT data mixes careful
// solutions with terse ones. The SFT set uses the answer-only style for a share of each template's
// problems (`answerOnlyShare`, larger for some templates). A small model cannot do several steps in its
// head, so answer-only replies are mostly wrong: after SFT the model replies tersely where that style
// dominated its data, and GRPO's answer reward teaches it to work those problems out too — the
// "RL makes the right answer the model already samples its first choice" effect DeepSeekMath reports.
import { Rng } from '../util/rng';
import { MathProblem } from '../eval/datasets';

export type TemplateName = 'story' | 'bus' | 'boxes' | 'shop';
export const TEMPLATES: readonly TemplateName[] = ['story', 'bus', 'boxes', 'shop'];

export type Op = '+' | '-' | '*' | 'r-';

/** One step: value ← value op n ('r-' is n − value, e.g. change from a note). */
export interface Step {
  op: Op;
  n: number;
}

export interface DemoProblem extends MathProblem {
  template: TemplateName;
  start: number;
  steps: Step[];
  /** The question's sentences before the ask, each with the step it adds. */
  sentences: Sentence[];
  /** The worked (step-by-step) solution. */
  solution: string;
  /** Template and numbers: problems with equal keys are the same problem. */
  key: string;
}

export interface WorldOptions {
  seed?: number;
  /** Training problems (default 4000). */
  trainProblems?: number;
  /** Held-out test problems (default 200). */
  testProblems?: number;
  /** Arithmetic-fact documents in the pretraining corpus (default 1500, 16 facts each). */
  factDocuments?: number;
  /** Share of each template's SFT solutions written answer-only (see the file comment). */
  answerOnlyShare?: Partial<Record<TemplateName, number>>;
  /**
   * Share of the corpus's worked examples that end with the boxed answer line instead of "Answer: n"
   * (default 0.1): the base model meets the convention, rarely uses it; SFT makes it the rule.
   */
  corpusBoxedShare?: number;
  limits?: Partial<Limits>;
  /** Most steps per problem (2–4; default 4). */
  maxSteps?: number;
}

export const DEFAULT_ANSWER_ONLY_SHARE: Readonly<Record<TemplateName, number>> = Object.freeze({
  story: 0.2,
  bus: 0.35,
  boxes: 0.7,
  shop: 0.85,
});

/** How big the numbers get. */
export interface Limits {
  /** Values never leave [0, maxValue] (at most 99: one or two digits). */
  maxValue: number;
  /** Largest operand of + and −. */
  maxOperand: number;
  /** Largest factor of ×. */
  maxFactor: number;
  /** Largest starting amount of the story and bus templates. */
  maxStart: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({ maxValue: 40, maxOperand: 9, maxFactor: 5, maxStart: 9 });

const NAMES: [string, 'she' | 'he'][] = [
  ['Ana', 'she'], ['Ben', 'he'], ['Cara', 'she'], ['Dev', 'he'], ['Eli', 'he'], ['Fay', 'she'],
  ['Gus', 'he'], ['Hana', 'she'], ['Ivan', 'he'], ['Jo', 'she'], ['Kai', 'he'], ['Lea', 'she'],
];
const ITEMS: [string, string][] = [
  ['apple', 'apples'], ['pen', 'pens'], ['card', 'cards'], ['stamp', 'stamps'], ['marble', 'marbles'],
  ['book', 'books'], ['shell', 'shells'], ['coin', 'coins'], ['egg', 'eggs'], ['sticker', 'stickers'],
];
const THINGS = ['a hat', 'a bag', 'a lamp', 'a ball', 'a kite', 'a cup'];

function cap(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** Two factors in [2, maxFactor] whose product stays within maxValue. */
function factors(rng: Rng, L: Limits): [number, number] {
  for (;;) {
    const a = 2 + rng.int(L.maxFactor - 1);
    const b = 2 + rng.int(L.maxFactor - 1);
    if (a * b <= L.maxValue) return [a, b];
  }
}

function apply(v: number, s: Step): number {
  switch (s.op) {
    case '+': return v + s.n;
    case '-': return v - s.n;
    case '*': return v * s.n;
    case 'r-': return s.n - v;
  }
}

/** The equation of one step, e.g. "12 - 3 = 9". */
export function stepEquation(v: number, s: Step): string {
  const r = apply(v, s);
  if (s.op === 'r-') return `${s.n} - ${v} = ${r}`;
  return `${v} ${s.op === '*' ? '*' : s.op} ${s.n} = ${r}`;
}

export function answerLine(answer: number): string {
  return `The answer is \\boxed{${answer}}.`;
}

/** The worked lines: each sentence of the question restated, with the equation of its step. */
export function workedSteps(start: number, sentences: readonly Sentence[]): string[] {
  const lines: string[] = [];
  let v = start;
  for (const x of sentences) {
    if (x.step) {
      lines.push(`${x.text} ${stepEquation(v, x.step)}`);
      v = apply(v, x.step);
    } else lines.push(x.text);
  }
  return lines;
}

/** Worked solution: the worked lines, then the boxed answer. */
export function workedSolution(start: number, sentences: readonly Sentence[]): string {
  const steps = sentences.flatMap((x) => (x.step ? [x.step] : []));
  return [...workedSteps(start, sentences), answerLine(finalValue(start, steps))].join('\n');
}

function finalValue(start: number, steps: Step[]): number {
  return steps.reduce(apply, start);
}

/** A random +/− step keeping the value in [0, maxValue]. */
function plusMinus(rng: Rng, v: number, L: Limits): Step {
  const canSub = v >= 2;
  const canAdd = v <= L.maxValue - 2;
  if (canSub && (!canAdd || rng.next() < 0.5)) return { op: '-', n: 1 + rng.int(Math.min(L.maxOperand, v - 1)) };
  return { op: '+', n: 1 + rng.int(Math.min(L.maxOperand, L.maxValue - v)) };
}

/** A sentence of a question and the step it adds (none for the one that gives the start). */
export interface Sentence {
  text: string;
  step?: Step;
}

interface Drawn {
  template: TemplateName;
  start: number;
  sentences: Sentence[];
  /** The final question sentence. */
  ask: string;
}

function drawStory(rng: Rng, nSteps: number, L: Limits): Drawn {
  const [name, pr] = pick(rng, NAMES);
  const [friend] = pick(rng, NAMES.filter((n) => n[0] !== name));
  const [, items] = pick(rng, ITEMS);
  const obj = pr === 'she' ? 'her' : 'him';
  const start = 2 + rng.int(L.maxStart - 1);
  const sentences: Sentence[] = [{ text: `${name} has ${start} ${items}.` }];
  let v = start;
  for (let i = 0; i < nSteps; i++) {
    let s: Step;
    if (i > 0 && v >= 2 && 2 * v <= L.maxValue && rng.next() < 0.25)
      s = { op: '*', n: 2 + rng.int(Math.min(L.maxFactor, Math.floor(L.maxValue / v)) - 1) };
    else s = plusMinus(rng, v, L);
    const P = i === 0 ? cap(pr) : `Then ${pr}`;
    let text: string;
    if (s.op === '+')
      text = pick(rng, [`${P} buys ${s.n} more.`, `${P} finds ${s.n} more.`, `${i === 0 ? '' : 'Then '}${friend} gives ${obj} ${s.n} more.`]);
    else if (s.op === '-') text = pick(rng, [`${P} gives ${s.n} to ${friend}.`, `${P} loses ${s.n}.`, `${P} sells ${s.n}.`]);
    else text = `${P} ends up with ${s.n} times as many.`;
    sentences.push({ text, step: s });
    v = apply(v, s);
  }
  return { template: 'story', start, sentences, ask: `How many ${items} does ${name} have now?` };
}

function drawBus(rng: Rng, nSteps: number, L: Limits): Drawn {
  const vehicle = pick(rng, ['bus', 'train', 'boat']);
  const start = 3 + rng.int(L.maxStart - 2);
  const sentences: Sentence[] = [{ text: `A ${vehicle} has ${start} people on it.` }];
  let v = start;
  for (let i = 0; i < nSteps; i++) {
    const s = plusMinus(rng, v, L);
    const where = i === 0 ? 'At the first stop' : pick(rng, ['At the next stop', 'Then']);
    sentences.push({ text: `${where}, ${s.n} ${s.n === 1 ? 'person gets' : 'people get'} ${s.op === '+' ? 'on' : 'off'}.`, step: s });
    v = apply(v, s);
  }
  return { template: 'bus', start, sentences, ask: `How many people are on the ${vehicle} now?` };
}

function drawBoxes(rng: Rng, nSteps: number, L: Limits): Drawn {
  const [name, pr] = pick(rng, NAMES);
  const [item, items] = pick(rng, ITEMS);
  const [a, b] = factors(rng, L);
  const sentences: Sentence[] = [
    { text: `${name} has ${a} boxes.` },
    { text: `There are ${b} ${items} in each box.`, step: { op: '*', n: b } },
  ];
  let v = a * b;
  const P = cap(pr);
  for (let i = 1; i < nSteps; i++) {
    const s = plusMinus(rng, v, L);
    const what = s.n === 1 ? item : items;
    const text = s.op === '+'
      ? pick(rng, [`${P} buys ${s.n} more ${what}.`, `${P} finds ${s.n} more ${what}.`])
      : pick(rng, [`${P} gives away ${s.n} ${what}.`, `${P} loses ${s.n} ${what}.`]);
    sentences.push({ text, step: s });
    v = apply(v, s);
  }
  return { template: 'boxes', start: a, sentences, ask: `How many ${items} does ${name} have now?` };
}

function drawShop(rng: Rng, nSteps: number, L: Limits): Drawn {
  const [name, pr] = pick(rng, NAMES);
  const [item, items] = pick(rng, ITEMS);
  const [price, count] = factors(rng, L);
  const P = cap(pr);
  const sentences: Sentence[] = [
    { text: `One ${item} costs ${price} dollars.` },
    { text: `${name} buys ${count} ${items}.`, step: { op: '*', n: count } },
  ];
  let v = price * count;
  // an extra purchase (+) and a coupon (−) in either order, then optionally change from a note (r−)
  const extras: ('thing' | 'coupon' | 'change')[] = [];
  if (nSteps >= 2) extras.push(rng.next() < 0.5 ? 'thing' : 'coupon');
  if (nSteps >= 3) extras.push(extras[0] === 'thing' ? 'coupon' : 'thing');
  if (nSteps >= 4) extras.push('change');
  if (nSteps === 3 && rng.next() < 0.5) extras[1] = 'change';
  for (const e of extras) {
    let s: Step;
    let text: string;
    if (e === 'thing') {
      s = { op: '+', n: 1 + rng.int(Math.min(L.maxOperand, L.maxValue - v)) };
      text = `${P} also buys ${pick(rng, THINGS)} for ${s.n} dollars.`;
    } else if (e === 'coupon') {
      s = { op: '-', n: 1 + rng.int(Math.min(L.maxOperand, v - 1)) };
      text = `${P} has a coupon for ${s.n} dollars off.`;
    } else {
      s = { op: 'r-', n: Math.min(L.maxValue, 10 * Math.ceil((v + 1) / 10)) };
      text = `${P} pays with ${s.n} dollars.`;
    }
    sentences.push({ text, step: s });
    v = apply(v, s);
  }
  const last = sentences[sentences.length - 1].step!;
  const ask = last.op === 'r-' ? `How many dollars of change does ${name} get?` : `How many dollars does ${name} pay?`;
  return { template: 'shop', start: price, sentences, ask };
}

const DRAW: Record<TemplateName, (rng: Rng, nSteps: number, L: Limits) => Drawn> = { story: drawStory, bus: drawBus, boxes: drawBoxes, shop: drawShop };

/** A random problem of a template with 2–4 steps. */
export function drawProblem(
  rng: Rng, template: TemplateName = pick(rng, TEMPLATES), nSteps = 2 + rng.int(3), L: Limits = DEFAULT_LIMITS,
): DemoProblem {
  const d = DRAW[template](rng, nSteps, L);
  const steps = d.sentences.flatMap((x) => (x.step ? [x.step] : []));
  const answer = finalValue(d.start, steps);
  const key = `${d.template}|${d.start}|${steps.map((s) => s.op + s.n).join(',')}`;
  return {
    id: '',
    question: [...d.sentences.map((x) => x.text), d.ask].join(' '),
    answer: String(answer),
    template: d.template,
    start: d.start,
    steps,
    sentences: d.sentences,
    solution: workedSolution(d.start, d.sentences),
    key,
  };
}

export interface SftRecord {
  problem: DemoProblem;
  /** The reply the SFT set uses (worked or answer-only). */
  response: string;
  answerOnly: boolean;
}

export interface World {
  seed: number;
  train: DemoProblem[];
  test: DemoProblem[];
  /** SFT replies for the train problems. */
  sft: SftRecord[];
  /** Pretraining documents (no blank lines inside; join with "\n\n"). */
  corpus: string[];
  answerOnlyShare: Record<TemplateName, number>;
}

/**
 * Pretraining document of a worked example. Textbook style by default: the solution ends "Answer: n",
 * not with the \boxed{} answer the grader reads; `boxed` gives the full worked solution instead.
 */
export function workedExampleDocument(p: DemoProblem, boxed = false): string {
  const end = boxed ? answerLine(Number(p.answer)) : `Answer: ${p.answer}`;
  return `Question: ${p.question}\nSolution:\n${workedSteps(p.start, p.sentences).join('\n')}\n${end}`;
}

/** A document of `n` random arithmetic facts ("23 + 14 = 37", "6 * 7 = 42", "40 - 15 = 25"). */
export function factDocument(rng: Rng, n: number, L: Limits = DEFAULT_LIMITS): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.4) {
      const a = rng.int(L.maxValue);
      const b = 1 + rng.int(Math.min(L.maxOperand, L.maxValue - a));
      lines.push(`${a} + ${b} = ${a + b}`);
    } else if (r < 0.8) {
      const a = 1 + rng.int(L.maxValue);
      const b = 1 + rng.int(Math.min(L.maxOperand, a));
      lines.push(`${a} - ${b} = ${a - b}`);
    } else {
      const [a, b] = factors(rng, L);
      lines.push(`${a} * ${b} = ${a * b}`);
    }
  }
  return lines.join('\n');
}

/** Builds the world of a seed (deterministic). */
export function makeWorld(opts: WorldOptions = {}): World {
  const seed = opts.seed ?? 0;
  const nTrain = opts.trainProblems ?? 4000;
  const nTest = opts.testProblems ?? 200;
  const nFacts = opts.factDocuments ?? 1500;
  const L: Limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
  const maxSteps = opts.maxSteps ?? 4;
  if (!(Number.isInteger(maxSteps) && maxSteps >= 2 && maxSteps <= 4)) throw new RangeError(`demo world: maxSteps must be 2, 3 or 4, got ${maxSteps}`);
  if (!(L.maxValue >= 10 && L.maxValue <= 99 && L.maxOperand >= 1 && L.maxFactor >= 2 && L.maxFactor * 2 <= L.maxValue && L.maxStart >= 3 && L.maxStart <= L.maxValue))
    throw new RangeError(`demo world: bad limits ${JSON.stringify(L)}`);
  const share = { ...DEFAULT_ANSWER_ONLY_SHARE, ...(opts.answerOnlyShare ?? {}) };
  for (const [t, v] of Object.entries(share))
    if (!(v >= 0 && v <= 1)) throw new RangeError(`demo world: answerOnlyShare.${t} must be in [0, 1], got ${v}`);
  const boxedShare = opts.corpusBoxedShare ?? 0.1;
  if (!(boxedShare >= 0 && boxedShare <= 1)) throw new RangeError(`demo world: corpusBoxedShare must be in [0, 1], got ${boxedShare}`);
  const rng = new Rng(seed * 7919 + 17);
  const seen = new Set<string>();
  const draw = (n: number, prefix: string): DemoProblem[] => {
    const out: DemoProblem[] = [];
    let tries = 0;
    while (out.length < n) {
      if (++tries > n * 50) throw new Error(`demo world: cannot draw ${n} distinct problems`);
      // templates in turn, so every split has all four in equal numbers
      const p = drawProblem(rng, TEMPLATES[out.length % TEMPLATES.length], 2 + rng.int(maxSteps - 1), L);
      if (seen.has(p.key)) continue;
      seen.add(p.key);
      p.id = `${prefix}/${out.length}`;
      out.push(p);
    }
    return out;
  };
  // the test split first: the train split can then never repeat one of its problems
  const test = draw(nTest, 'test');
  const train = draw(nTrain, 'train');
  const sft = train.map((p) => {
    const answerOnly = rng.next() < share[p.template];
    return { problem: p, response: answerOnly ? answerLine(Number(p.answer)) : p.solution, answerOnly };
  });
  const corpus: string[] = train.map((p) => workedExampleDocument(p, rng.next() < boxedShare));
  for (let i = 0; i < nFacts; i++) corpus.push(factDocument(rng, 16, L));
  // a seeded shuffle of the documents
  const order = rng.permutation(corpus.length);
  return { seed, train, test, sft, corpus: Array.from(order, (i) => corpus[i]), answerOnlyShare: share };
}
