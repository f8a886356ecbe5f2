// Answer normalisation and equivalence for MATH-style (LaTeX) and GSM8K-style (numeric) answers.
//
// normalizeAnswer(s) gives a canonical string: math delimiters, \left/\right, \text{}/\mathrm{}/
// \mbox{}, spacing commands, degrees, dollar and percent signs, trailing units, thousands
// separators, "x =" assignments and whitespace are removed; \dfrac/\tfrac become \frac; plain
// decimals are written canonically ("18.00" -> "18", ".5" -> "0.5").
//
// isEquivalent(pred, ref) compares the structures of the two normalised answers:
// - scalars through the expression evaluator (./expr): exactly as rationals when both are rational
//   ("0.15" = "\frac{3}{20}", "1,000" = "1000", "\frac12" = "1/2"), otherwise numerically with a
//   relative tolerance of 1e-6 ("2\sqrt{2}" = "\sqrt{8}"; note that a decimal within 1e-6 of an
//   irrational value counts as equal), and expressions with variables at fixed random points
//   ("(a+5)(b+2)" = "ab+2a+5b+10");
// - tuples and intervals ("(1,2]", "\left( 3, \frac{\pi}{2} \right)") element by element, with the
//   same brackets; unions of intervals ("(0,9) \cup (9,36)") in any order;
// - lists of values without brackets ("1, 2", "3, 5, 7"), sets "\{...\}" and "a \pm b" as
//   unordered multisets;
// - matrices (\begin{pmatrix}...\end{pmatrix}, bmatrix) element by element;
// - general equations ("5x - 7y + 11z + 4 = 0") up to a nonzero constant factor;
// - words ("\text{Evelyn}", "east") case-insensitively; multiple choice "\text{(C)}" = "C";
// - a percent on one side only: "50\%" equals both "50" and "0.5".
//
// Out of scope: complex arithmetic ("i" is a variable), number bases ("52_8" compared as
// strings), inequalities ("-2 \le x \le 7" vs "[-2,7]"), set-builder notation, units conversion,
// "k =" with a multi-letter left side, and anything needing real algebra beyond evaluation
// (identities with functions are checked numerically, which is usually right but not a proof).
import { CompareOptions, Expr, equationEqual, exprEqual, tryParseExpr, parseDecimal } from './expr';

export type { CompareOptions } from './expr';

const UNIT_WORDS = [
  'square units', 'sq units', 'cubic units', 'square feet', 'square inches', 'square meters',
  'square centimeters', 'square cm', 'sq ft', 'units', 'unit', 'degrees', 'degree', 'dollars',
  'dollar', 'cents', 'cent', 'percent', 'cm', 'mm', 'km', 'meters', 'meter', 'metres', 'metre',
  'centimeters', 'centimeter', 'kilometers', 'kilometer', 'inches', 'inch', 'in', 'feet', 'foot',
  'ft', 'yards', 'yard', 'yd', 'miles', 'mile', 'mph', 'hours', 'hour', 'hrs', 'hr', 'minutes',
  'minute', 'mins', 'min', 'seconds', 'second', 'sec', 'days', 'day', 'weeks', 'week', 'months',
  'month', 'years', 'year', 'kg', 'grams', 'gram', 'pounds', 'pound', 'lbs', 'lb', 'ounces',
  'ounce', 'oz', 'liters', 'liter', 'litres', 'gallons', 'gallon', 'ml', 'people', 'students',
  'points', 'ways', 'times',
];
const UNIT_RE = new RegExp(
  `^(.*?[\\d})])\\s*(?<![\\\\a-zA-Z])(?:${UNIT_WORDS.map((w) => w.replace(' ', '\\s+')).join('|')})(?:\\^\\{?[23]\\}?)?\\.?$`,
  'i',
);

/** Answers longer than this are compared as plain strings (no LaTeX processing or parsing). */
export const MAX_ANSWER_LENGTH = 2000;

export interface NormalizedAnswer {
  /** The canonical string. */
  text: string;
  /** Whether a percent sign (or the word "percent") was removed. */
  percent: boolean;
}

/** Removes `\cmd{...}` wrappers, keeping the (balanced) content. */
function unwrapCommand(s: string, names: string[]): string {
  const re = new RegExp(`\\\\(?:${names.join('|')})\\s*\\{`, 'g');
  for (;;) {
    re.lastIndex = 0;
    const m = re.exec(s);
    if (!m) return s;
    const start = m.index + m[0].length;
    const end = matchBrace(s, start - 1);
    if (end < 0) return s.slice(0, m.index) + s.slice(start); // unbalanced: drop the command only
    s = s.slice(0, m.index) + s.slice(start, end) + s.slice(end + 1);
  }
}

/** Index of the '}' matching the '{' at `open` (escaped \{ \} ignored), or -1. */
export function matchBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/** Detailed normalisation (see normalizeAnswer). */
export function normalizeDetailed(input: string): NormalizedAnswer {
  let s = String(input).trim();
  let percent = false;
  // Bounded work: an "answer" this long is not one; only its whitespace is normalised.
  if (s.length > MAX_ANSWER_LENGTH) return { text: s.replace(/\s+/g, ' '), percent };

  // Unicode forms.
  s = s
    .replace(/[−–—]/g, '-')
    .replace(/π/g, '\\pi ')
    .replace(/∞/g, '\\infty ')
    .replace(/√/g, '\\sqrt')
    .replace(/[·×]/g, '\\cdot ')
    .replace(/÷/g, '/')
    .replace(/°/g, '^\\circ')
    .replace(/±/g, '\\pm ')
    .replace(/∪/g, '\\cup ');

  // Math delimiters around the whole answer.
  for (let changed = true; changed; ) {
    changed = false;
    const t = s.trim();
    const m = /^\$+([\s\S]*?)\$+$/.exec(t) ?? /^\\\(([\s\S]*)\\\)$/.exec(t) ?? /^\\\[([\s\S]*)\\\]$/.exec(t);
    if (m) {
      s = m[1];
      changed = true;
    } else s = t;
  }

  // Protect LaTeX row breaks (\\) from the single-backslash rules below.
  s = s.replace(/\\\\/g, '\u0001');

  s = s
    .replace(/\\\$/g, '')
    .replace(/\$/g, '')
    .replace(/\\(?:left|right)\s*\.(?![0-9])/g, '') // invisible delimiters \left. \right.
    .replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|displaystyle)(?![a-zA-Z])/g, '')
    .replace(/\\[dtc]frac(?![a-zA-Z])/g, '\\frac')
    .replace(/\\dbinom|\\tbinom/g, '\\binom')
    .replace(/,\s*\\!\s*/g, ',') // 10,\!080
    .replace(/\\[!,;:]|\\ |~/g, ' ')
    .replace(/\\(?:q?quad)(?![a-zA-Z])/g, ' ')
    .replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree/g, '');

  if (/\\%|%|\bpercent\b/.test(s)) {
    percent = true;
    s = s.replace(/\\%|%|\s*\bpercent\b/g, '');
  }

  // Units in \text{} or \mbox{} after a value: "5.4 \text{ cents}", "864 \mbox{ inches}^2".
  s = s.replace(
    /^(.*?[0-9}a-zA-Z)\]])\s*\\(?:text|mbox|textrm|mathrm)\s*\{\s*[a-zA-Z][a-zA-Z.\s]*\}(?:\s*\^\s*\{?[23]\}?)?\s*\.?$/,
    (all, pre: string) => (/\d/.test(pre) ? pre : all),
  );
  s = unwrapCommand(s, ['text', 'textbf', 'textrm', 'textit', 'texttt', 'mbox', 'mathrm', 'mathbf', 'mathit', 'operatorname', 'boxed', 'fbox']);
  s = s.trim().replace(/\.$/, '').trim();

  // Plain unit words after a number: "5 cm", "10 dollars", "15 cm^2".
  const unit = UNIT_RE.exec(s);
  if (unit) s = unit[1].trim();
  // Any words after a plain number (GSM8K style "18 eggs", "5 apples per day").
  const words = /^([-+]?\d[\d,]*(?:\.\d+)?)\s+[a-zA-Z]{3,}[a-zA-Z\s.'-]*$/.exec(s);
  if (words) s = words[1];

  // Words joining several answers.
  s = s.replace(/\s+(?:and|or)\s+/g, ', ');

  // Infinity spellings.
  s = s.replace(/\binfinity\b|\binf\b/gi, '\\infty');

  // Multiple choice: "(C)" -> "C".
  const choice = /^\(\s*([A-E])\s*\)$/.exec(s.trim());
  if (choice) s = choice[1];

  // Thousands separators over a whole number: "1,000", "11,111,111,100", "-2,500.75".
  const t = s.replace(/\s+/g, '');
  if (/^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(t)) s = t.replace(/,/g, '');

  // Canonical LaTeX spellings for the string form.
  s = s
    .replace(/\\frac\s*(\d)\s*(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac\s*(\d)\s*\{/g, '\\frac{$1}{')
    .replace(/\\frac\s*(\{[^{}]*\})\s*(\d)/g, '\\frac$1{$2}')
    .replace(/\\sqrt\s*(\d)/g, '\\sqrt{$1}')
    .replace(/_\{(\w)\}/g, '_$1');

  // Leading "x =" / "x \in" assignment.
  const assign = ASSIGN_RE.exec(s.trim());
  if (assign && assign[0].length < s.trim().length) s = s.trim().slice(assign[0].length);

  // Whitespace: removed, except a single space between a command and a following letter.
  s = s.replace(/(\\[a-zA-Z]+)\s+(?=[a-zA-Z])/g, '$1\u0000').replace(/\s+/g, '').replace(/\u0000/g, ' ')
  s = s.replace(/\u0001/g, '\\\\');

  // Plain numbers in canonical decimal form.
  const r = /^[-+]?(\d+\.?\d*|\.\d+)$/.test(s) ? parseDecimal(s) : null;
  if (r) s = canonicalDecimal(s);
  return { text: s, percent };
}

function canonicalDecimal(s: string): string {
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let [int, frac = ''] = s.split('.');
  int = int.replace(/^0+(?=\d)/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const out = frac ? `${int}.${frac}` : int;
  return neg && out !== '0' ? '-' + out : out;
}

/** The canonical string form of an answer (see the file comment for what is removed). */
export function normalizeAnswer(s: string): string {
  return normalizeDetailed(s).text;
}

// ---------------------------------------------------------------------------------------------
// Structure

export type AnswerNode =
  | { kind: 'scalar'; text: string; expr: Expr | null }
  | { kind: 'text'; text: string }
  | { kind: 'tuple'; open: string; close: string; items: AnswerNode[] }
  | { kind: 'set'; items: AnswerNode[] }
  | { kind: 'union'; parts: AnswerNode[] }
  | { kind: 'matrix'; rows: AnswerNode[][] }
  | { kind: 'equation'; text: string; lhs: Expr; rhs: Expr };

/** Splits at top-level occurrences of `sep` (outside (), [], {}, \{ \}). */
export function splitTopLevel(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      if (s[i + 1] === '{' || s[i + 1] === '[' || s[i + 1] === '(') depth++;
      else if (s[i + 1] === '}' || s[i + 1] === ']' || s[i + 1] === ')') depth--;
      else if (depth === 0 && s.startsWith(sep, i) && !/[a-zA-Z]/.test(s[i + sep.length] ?? '')) {
        out.push(s.slice(start, i));
        start = i + sep.length;
        i += sep.length - 1;
        continue;
      }
      i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      out.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

/** Whether the bracket at 0 closes exactly at the end (so "(1,2)" but not "(1)(2)"). */
function wrapsWhole(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0 && i < s.length - 1) return false;
    }
  }
  return depth === 0;
}

const ASSIGN_RE = /^\s*(?:[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?|\\(?:alpha|beta|gamma|delta|theta|lambda|mu|phi|psi|omega|rho|sigma|tau))'?\s*(?:=|\\in(?![a-zA-Z]))\s*(?!.*=)/;
const WORD_RE = /^[A-Za-z]+(?:[ '-][A-Za-z]+)*$/;

/** Parses a normalised answer into its structure. */
export function parseAnswer(s: string): AnswerNode {
  s = s.trim();
  if (s.length > MAX_ANSWER_LENGTH) return { kind: 'scalar', text: s, expr: null };
  // Leading "x =" / "x \in".
  const assign = ASSIGN_RE.exec(s);
  if (assign && assign[0].length < s.length) s = s.slice(assign[0].length).trim();

  // Matrices.
  const mat = /^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?([\s\S]*)\\end\{\1\}$/.exec(s);
  if (mat) {
    const rows = mat[2]
      .split(/\\\\/)
      .map((r) => r.trim())
      .filter((r) => r.length > 0)
      .map((r) => r.split('&').map((c) => parseAnswer(c)));
    return { kind: 'matrix', rows };
  }

  const union = splitTopLevel(s, '\\cup');
  if (union.length > 1) return { kind: 'union', parts: union.map(parseAnswer) };

  // Sets \{ ... \}.
  if (s.startsWith('\\{') && s.endsWith('\\}')) {
    const inner = s.slice(2, -2);
    return { kind: 'set', items: flattenPm(splitTopLevel(inner, ',').map(parseAnswer)) };
  }

  // Tuples and intervals.
  if (/^[([]/.test(s) && /[)\]]$/.test(s) && wrapsWhole(s)) {
    const items = splitTopLevel(s.slice(1, -1), ',');
    if (items.length >= 2) return { kind: 'tuple', open: s[0], close: s[s.length - 1], items: items.map(parseAnswer) };
  }

  // Lists of values (unordered).
  const list = splitTopLevel(s, ',');
  if (list.length > 1 && list.every((x) => x.trim().length > 0)) {
    return { kind: 'set', items: flattenPm(list.map(parseAnswer)) };
  }

  // a \pm b.
  const pm = splitTopLevel(s, '\\pm');
  if (pm.length === 2 || (pm.length === 1 && /\\mp(?![a-zA-Z])/.test(s))) {
    const parts = pm.length === 2 ? pm : splitTopLevel(s, '\\mp');
    if (parts.length === 2) {
      const [a, b] = parts;
      const left = a.trim() === '' ? '' : a;
      return { kind: 'set', items: [parseAnswer(`${left}+${b}`), parseAnswer(`${left}-(${b})`)] };
    }
  }

  // Equations.
  const eq = splitTopLevel(s, '=');
  if (eq.length === 2) {
    const lhs = tryParseExpr(eq[0]);
    const rhs = tryParseExpr(eq[1]);
    if (lhs && rhs) return { kind: 'equation', text: s, lhs, rhs };
  }

  if (WORD_RE.test(s) && /[A-Za-z]{3}/.test(s)) return { kind: 'text', text: s.toLowerCase().replace(/\s+/g, ' ') };
  return { kind: 'scalar', text: s, expr: tryParseExpr(s) };
}

function flattenPm(items: AnswerNode[]): AnswerNode[] {
  return items.flatMap((x) => (x.kind === 'set' ? x.items : [x]));
}

// ---------------------------------------------------------------------------------------------
// Comparison

export interface EquivalenceOptions extends CompareOptions {
  /** Accept "50\%" as 0.5 as well as 50 when only one side has a percent sign (default true). */
  percentAsFraction?: boolean;
}

function scaleDown(e: Expr): Expr {
  return { t: 'div', a: e, b: { t: 'num', v: { n: 100n, d: 1n } } };
}

function nodeEqual(a: AnswerNode, b: AnswerNode, opts: EquivalenceOptions): boolean {
  if (a.kind === 'set' || b.kind === 'set') {
    const xs = a.kind === 'set' ? a.items : [a];
    const ys = b.kind === 'set' ? b.items : [b];
    return multisetEqual(xs, ys, opts);
  }
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'scalar': {
      const bb = b as typeof a;
      if (a.text === bb.text) return true;
      return !!a.expr && !!bb.expr && exprEqual(a.expr, bb.expr, opts);
    }
    case 'text':
      return a.text === (b as typeof a).text;
    case 'tuple': {
      const bb = b as typeof a;
      return (
        a.open === bb.open &&
        a.close === bb.close &&
        a.items.length === bb.items.length &&
        a.items.every((x, i) => nodeEqual(x, bb.items[i], opts))
      );
    }
    case 'union':
      return multisetEqual(a.parts, (b as typeof a).parts, opts);
    case 'matrix': {
      const bb = b as typeof a;
      return (
        a.rows.length === bb.rows.length &&
        a.rows.every(
          (r, i) => r.length === bb.rows[i].length && r.every((x, j) => nodeEqual(x, bb.rows[i][j], opts)),
        )
      );
    }
    case 'equation': {
      const bb = b as typeof a;
      return a.text === bb.text || equationEqual(a.lhs, a.rhs, bb.lhs, bb.rhs, opts);
    }
  }
}

/**
 * Multiset equality under nodeEqual: a perfect matching between the two lists (Kuhn's augmenting
 * paths, O(n^3) at worst); lists longer than 200 are compared in order.
 */
function multisetEqual(xs: AnswerNode[], ys: AnswerNode[], opts: EquivalenceOptions): boolean {
  if (xs.length !== ys.length) return false;
  if (xs.length > 200) return xs.every((x, i) => nodeEqual(x, ys[i], opts));
  const eq = xs.map((x) => ys.map((y) => nodeEqual(x, y, opts)));
  const owner = new Array<number>(ys.length).fill(-1);
  const augment = (i: number, seen: boolean[]): boolean => {
    for (let j = 0; j < ys.length; j++) {
      if (!eq[i][j] || seen[j]) continue;
      seen[j] = true;
      if (owner[j] < 0 || augment(owner[j], seen)) {
        owner[j] = i;
        return true;
      }
    }
    return false;
  };
  for (let i = 0; i < xs.length; i++) if (!augment(i, new Array<boolean>(ys.length).fill(false))) return false;
  return true;
}

const cache = new Map<string, { norm: NormalizedAnswer; node: AnswerNode }>();

/** Normalises and parses, with a bounded cache (majority voting compares the same strings often). */
export function analyzeAnswer(s: string): { norm: NormalizedAnswer; node: AnswerNode } {
  let hit = cache.get(s);
  if (!hit) {
    const norm = normalizeDetailed(s);
    hit = { norm, node: parseAnswer(norm.text) };
    if (cache.size >= 10000) cache.delete(cache.keys().next().value as string);
    cache.set(s, hit);
  }
  return hit;
}

/**
 * Whether a predicted answer is equivalent to a reference answer (null/undefined/empty predictions
 * are never equivalent). Symmetric except for the percent rule's orientation, which is symmetric too.
 */
export function isEquivalent(
  pred: string | null | undefined,
  ref: string | null | undefined,
  opts: EquivalenceOptions = {},
): boolean {
  if (pred === null || pred === undefined || ref === null || ref === undefined) return false;
  const p = analyzeAnswer(pred);
  const r = analyzeAnswer(ref);
  if (p.norm.text === '' || r.norm.text === '') return false;
  if (p.norm.text === r.norm.text) return true;
  if (nodeEqual(p.node, r.node, opts)) return true;
  // "50\%" vs "0.5": one side had a percent sign.
  if ((opts.percentAsFraction ?? true) && p.norm.percent !== r.norm.percent) {
    const [pc, other] = p.norm.percent ? [p.node, r.node] : [r.node, p.node];
    if (pc.kind === 'scalar' && pc.expr && other.kind === 'scalar' && other.expr) {
      return exprEqual(scaleDown(pc.expr), other.expr, opts);
    }
  }
  return false;
}
