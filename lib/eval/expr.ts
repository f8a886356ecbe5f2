// A small evaluator for the numeric and algebraic expressions found in math answers (LaTeX or plain
// text): + - * / ^, implicit multiplication ("2\sqrt{2}", "3\pi", "(a+5)(b+2)"), \frac/\dfrac/\tfrac
// (also "\frac12", "\frac{270}7"), mixed numbers ("1\frac{4}{5}" = 9/5), \sqrt{x}, \sqrt[n]{x},
// \pi, \infty, n!, \binom, and the usual functions (\sin, \cos, \tan, \cot, \sec, \csc, \ln, \log,
// \exp, \arcsin, \arccos, \arctan). Single letters (optionally subscripted: x_1) and Greek letters
// are variables. It is not a CAS: two expressions are compared exactly as rationals where both are
// rational, otherwise numerically (with variables, at a few fixed pseudo-random points).
//
// Out of scope: complex arithmetic ("i" is an ordinary variable, so "2i+1" = "1+2i" but
// "(1+i)^2" != "2i"), absolute values, floor/ceiling, sums/integrals, number bases ("52_8" fails to
// parse and is compared as a string), scientific "1e5" notation (use 1\times10^5).

/** An exact rational: d > 0, gcd(|n|, d) = 1. */
export interface Rational {
  n: bigint;
  d: bigint;
}

export type Expr =
  | { t: 'num'; v: Rational }
  | { t: 'const'; name: 'pi' | 'inf' }
  | { t: 'var'; name: string }
  | { t: 'neg'; a: Expr }
  | { t: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'binom'; a: Expr; b: Expr }
  | { t: 'root'; a: Expr; k: Expr }
  | { t: 'fn'; name: string; a: Expr }
  | { t: 'fact'; a: Expr };

const FUNCTIONS = new Set([
  'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'ln', 'log', 'exp',
  'arcsin', 'arccos', 'arctan', 'sinh', 'cosh', 'tanh',
]);
const GREEK = new Set([
  'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta',
  'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi',
  'chi', 'psi', 'omega', 'Gamma', 'Delta', 'Theta', 'Lambda', 'Xi', 'Sigma', 'Phi', 'Psi', 'Omega',
]);
/** Commands that are layout only: skipped wherever whitespace is. */
const SKIP = new Set(['left', 'right', 'big', 'Big', 'bigl', 'bigr', 'Bigl', 'Bigr', 'displaystyle', 'quad', 'qquad']);

// ---------------------------------------------------------------------------------------------
// Rationals

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b) [a, b] = [b, a % b];
  return a;
}

export function rat(n: bigint, d: bigint = 1n): Rational {
  if (d === 0n) throw new Error('rational with zero denominator');
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d) || 1n;
  return { n: n / g, d: d / g };
}

const bitLength = (x: bigint): number => (x < 0n ? -x : x).toString(2).length;

/** Parses a plain decimal literal ("12", "0.5", ".0000672", "3.") exactly. */
export function parseDecimal(s: string): Rational | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === '' && !m[3])) return null;
  const frac = m[3] ?? '';
  const n = BigInt((m[2] || '0') + frac) * (m[1] === '-' ? -1n : 1n);
  return rat(n, 10n ** BigInt(frac.length));
}

export function ratToNumber(r: Rational): number {
  // Scale big operands down so that the division stays in range.
  const shift = Math.max(0, Math.max(bitLength(r.n), bitLength(r.d)) - 1000);
  if (shift === 0) return Number(r.n) / Number(r.d);
  const b = BigInt(shift);
  return Number(r.n >> b) / Number(r.d >> b);
}

export const ratEq = (a: Rational, b: Rational): boolean => a.n === b.n && a.d === b.d;

/** Exact integer k-th root of x >= 0, or null if x is not a perfect k-th power. */
function iroot(x: bigint, k: number): bigint | null {
  if (x < 0n) return null;
  if (x < 2n) return x;
  const K = BigInt(k);
  // Newton iteration from an upper bound.
  let r = 1n << BigInt(Math.ceil(bitLength(x) / k) + 1);
  for (;;) {
    const next = ((K - 1n) * r + x / r ** (K - 1n)) / K;
    if (next >= r) break;
    r = next;
  }
  return r ** K === x ? r : null;
}

/** Exact k-th root of a rational, with the sign rule for odd k; null when not rational. */
function ratRoot(v: Rational, k: number): Rational | null {
  if (!Number.isInteger(k) || k < 1 || k > 64) return null;
  const neg = v.n < 0n;
  if (neg && k % 2 === 0) return null;
  const n = iroot(neg ? -v.n : v.n, k);
  const d = iroot(v.d, k);
  if (n === null || d === null) return null;
  return rat(neg ? -n : n, d);
}

// ---------------------------------------------------------------------------------------------
// Parser

class ExprParser {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new Error(`${what} at ${this.i} in '${this.s}'`);
  }

  /** Skips whitespace and layout commands (\left, \right, \, \! \; \: and escaped spaces). */
  ws(): void {
    const s = this.s;
    for (;;) {
      while (this.i < s.length && /\s/.test(s[this.i])) this.i++;
      if (s[this.i] !== '\\') return;
      const c = s[this.i + 1];
      if (c === ',' || c === '!' || c === ';' || c === ':' || c === ' ') {
        this.i += 2;
        continue;
      }
      const m = /^\\([a-zA-Z]+)/.exec(s.slice(this.i));
      if (m && SKIP.has(m[1])) {
        this.i += m[0].length;
        continue;
      }
      return;
    }
  }

  /** The command name at the cursor (after whitespace), without consuming it. */
  peekCmd(): string | null {
    this.ws();
    const m = /^\\([a-zA-Z]+)/.exec(this.s.slice(this.i, this.i + 40));
    return m ? m[1] : null;
  }

  eatCmd(name: string): boolean {
    if (this.peekCmd() !== name) return false;
    this.i += name.length + 1;
    return true;
  }

  peek(): string {
    this.ws();
    return this.s[this.i] ?? '';
  }

  expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected '${c}'`);
    this.i++;
  }

  parse(): Expr {
    const e = this.expr();
    this.ws();
    if (this.i < this.s.length) this.fail(`unexpected '${this.s[this.i]}'`);
    return e;
  }

  expr(): Expr {
    let a = this.term();
    for (;;) {
      const c = this.peek();
      if (c === '+') {
        this.i++;
        a = { t: 'add', a, b: this.term() };
      } else if (c === '-') {
        this.i++;
        a = { t: 'sub', a, b: this.term() };
      } else return a;
    }
  }

  term(): Expr {
    let a = this.unary();
    for (;;) {
      const c = this.peek();
      const cmd = this.peekCmd();
      if (c === '*' || cmd === 'cdot' || cmd === 'times') {
        this.i += c === '*' ? 1 : cmd!.length + 1;
        a = { t: 'mul', a, b: this.unary() };
      } else if (c === '/' || cmd === 'div') {
        this.i += c === '/' ? 1 : 4;
        a = { t: 'div', a, b: this.unary() };
      } else if (this.startsPrimary()) {
        a = { t: 'mul', a, b: this.power() };
      } else return a;
    }
  }

  unary(): Expr {
    const c = this.peek();
    if (c === '-') {
      this.i++;
      return { t: 'neg', a: this.unary() };
    }
    if (c === '+') {
      this.i++;
      return this.unary();
    }
    return this.power();
  }

  power(): Expr {
    const base = this.postfix();
    if (this.peek() === '^') {
      this.i++;
      return { t: 'pow', a: base, b: this.exponent() };
    }
    return base;
  }

  /** The exponent after '^': a braced group or one atom (with sign), right-associative. */
  exponent(): Expr {
    const c = this.peek();
    if (c === '-') {
      this.i++;
      return { t: 'neg', a: this.exponent() };
    }
    if (c === '+') {
      this.i++;
      return this.exponent();
    }
    const atom = this.primary();
    if (this.peek() === '^') {
      this.i++;
      return { t: 'pow', a: atom, b: this.exponent() };
    }
    return atom;
  }

  postfix(): Expr {
    let a = this.primary();
    while (this.peek() === '!' && this.s[this.i + 1] !== '=') {
      this.i++;
      a = { t: 'fact', a };
    }
    return a;
  }

  /** Whether the next token can start an implicitly multiplied factor. */
  startsPrimary(): boolean {
    const c = this.peek();
    if (/[0-9.a-zA-Z({]/.test(c)) return true;
    if (c !== '\\') return false;
    const cmd = this.peekCmd();
    return cmd !== null && (isPrimaryCmd(cmd));
  }

  number(): Expr {
    const m = /^(\d+(?:\.\d*)?|\.\d+)/.exec(this.s.slice(this.i));
    if (!m) this.fail('expected a number');
    this.i += m[0].length;
    if (this.s[this.i] === '_') this.fail('number with a subscript (base notation)');
    const v = parseDecimal(m[0])!;
    // Mixed number: an integer followed by \frac{int}{int}, as in "1\frac{4}{5}" (= 9/5).
    if (!m[0].includes('.')) {
      const save = this.i;
      const cmd = this.peekCmd();
      if (cmd === 'frac' || cmd === 'dfrac' || cmd === 'tfrac') {
        this.i += cmd.length + 1;
        try {
          const a = this.arg();
          const b = this.arg();
          if (a.t === 'num' && b.t === 'num' && a.v.d === 1n && b.v.d === 1n && b.v.n !== 0n) {
            return { t: 'add', a: { t: 'num', v }, b: { t: 'div', a, b } };
          }
        } catch {
          // not a mixed number
        }
        this.i = save;
      }
    }
    return { t: 'num', v };
  }

  /** A LaTeX command argument: {group}, or a single digit, letter or command. */
  arg(): Expr {
    const c = this.peek();
    if (c === '{') {
      this.i++;
      const e = this.expr();
      this.expect('}');
      return e;
    }
    if (/[0-9]/.test(c)) {
      this.i++;
      return { t: 'num', v: rat(BigInt(c)) };
    }
    if (/[a-zA-Z]/.test(c)) {
      this.i++;
      return { t: 'var', name: c };
    }
    if (c === '\\') return this.primary();
    return this.fail('expected an argument');
  }

  primary(): Expr {
    const c = this.peek();
    if (c === '') this.fail('unexpected end');
    if (c === '(' || c === '[' || c === '{') {
      this.i++;
      const e = this.expr();
      this.expect(c === '(' ? ')' : c === '[' ? ']' : '}');
      return e;
    }
    if (/[0-9.]/.test(c)) return this.number();
    if (/[a-zA-Z]/.test(c)) {
      this.i++;
      return { t: 'var', name: c + this.subscript() };
    }
    if (c === '\\') {
      const cmd = this.peekCmd();
      if (cmd === null) return this.fail(`unexpected '\\${this.s[this.i + 1] ?? ''}'`);
      this.i += cmd.length + 1;
      return this.command(cmd);
    }
    return this.fail(`unexpected '${c}'`);
  }

  subscript(): string {
    if (this.s[this.i] !== '_') return '';
    const m = /^_(\{[a-zA-Z0-9]+\}|[a-zA-Z0-9])/.exec(this.s.slice(this.i));
    if (!m) this.fail('bad subscript');
    this.i += m[0].length;
    return '_' + m[1].replace(/[{}]/g, '');
  }

  command(cmd: string): Expr {
    switch (cmd) {
      case 'frac':
      case 'dfrac':
      case 'tfrac':
      case 'cfrac': {
        const a = this.arg();
        return { t: 'div', a, b: this.arg() };
      }
      case 'binom':
      case 'dbinom':
      case 'tbinom': {
        const a = this.arg();
        return { t: 'binom', a, b: this.arg() };
      }
      case 'sqrt': {
        let k: Expr = { t: 'num', v: rat(2n) };
        if (this.peek() === '[') {
          this.i++;
          k = this.expr();
          this.expect(']');
        }
        return { t: 'root', a: this.arg(), k };
      }
      case 'pi':
        return { t: 'const', name: 'pi' };
      case 'infty':
      case 'infin':
        return { t: 'const', name: 'inf' };
      case 'cdot':
      case 'times':
      case 'div':
        return this.fail(`operator \\${cmd} without a left operand`);
    }
    if (GREEK.has(cmd)) return { t: 'var', name: '\\' + cmd + this.subscript() };
    if (FUNCTIONS.has(cmd)) return this.fnApply(cmd);
    return this.fail(`unknown command \\${cmd}`);
  }

  /** \sin x, \sin(2x), \sin^2 x, \log_2 8, \log_{10}(x). */
  fnApply(name: string): Expr {
    let base: Expr | null = null;
    if (name === 'log' && this.s[this.i] === '_') {
      this.i++;
      base = this.arg();
    }
    let power: Expr | null = null;
    if (this.peek() === '^') {
      this.i++;
      power = this.exponent();
    }
    let a: Expr;
    const c = this.peek();
    if (c === '(' || c === '{') a = this.primary();
    else {
      // The argument runs over implicitly multiplied factors: \sin 2x = sin(2x).
      a = this.power();
      while (this.startsPrimary() && !(this.peek() === '\\' && FUNCTIONS.has(this.peekCmd() ?? ''))) {
        a = { t: 'mul', a, b: this.power() };
      }
    }
    let e: Expr = { t: 'fn', name, a };
    if (base) e = { t: 'div', a: { t: 'fn', name: 'ln', a }, b: { t: 'fn', name: 'ln', a: base } };
    return power ? { t: 'pow', a: e, b: power } : e;
  }
}

function isPrimaryCmd(cmd: string): boolean {
  return (
    ['frac', 'dfrac', 'tfrac', 'cfrac', 'sqrt', 'pi', 'infty', 'binom', 'dbinom', 'tbinom'].includes(cmd) ||
    GREEK.has(cmd) ||
    FUNCTIONS.has(cmd)
  );
}

/** Parses an expression; throws with the position on anything it does not understand. */
export function parseExpr(s: string): Expr {
  return new ExprParser(s).parse();
}

/** Like parseExpr, but returns null instead of throwing. */
export function tryParseExpr(s: string): Expr | null {
  try {
    return parseExpr(s);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

const MAX_BITS = 20000;

/** The exact rational value, or null when the expression is not (provably) rational. */
export function evalExact(e: Expr): Rational | null {
  switch (e.t) {
    case 'num':
      return e.v;
    case 'const':
    case 'var':
    case 'fn':
      return null;
    case 'neg': {
      const a = evalExact(e.a);
      return a && { n: -a.n, d: a.d };
    }
    case 'fact': {
      const a = evalExact(e.a);
      if (!a || a.d !== 1n || a.n < 0n || a.n > 2000n) return null;
      let r = 1n;
      for (let k = 2n; k <= a.n; k++) r *= k;
      return rat(r);
    }
    case 'root': {
      const a = evalExact(e.a);
      const k = evalExact(e.k);
      if (!a || !k || k.d !== 1n) return null;
      return ratRoot(a, Number(k.n));
    }
    default: {
      const a = evalExact(e.a);
      if (!a) return null;
      const b = evalExact(e.b);
      if (!b) return null;
      switch (e.t) {
        case 'add':
          return rat(a.n * b.d + b.n * a.d, a.d * b.d);
        case 'sub':
          return rat(a.n * b.d - b.n * a.d, a.d * b.d);
        case 'mul':
          return rat(a.n * b.n, a.d * b.d);
        case 'div':
          return b.n === 0n ? null : rat(a.n * b.d, a.d * b.n);
        case 'binom': {
          if (a.d !== 1n || b.d !== 1n || b.n < 0n || a.n < 0n || a.n > 5000n) return null;
          if (b.n > a.n) return rat(0n);
          const m = b.n < a.n - b.n ? b.n : a.n - b.n;
          let r = 1n;
          for (let i = 0n; i < m; i++) r = (r * (a.n - i)) / (i + 1n);
          return rat(r);
        }
        case 'pow': {
          // Integer exponent, or p/q with an exact q-th root.
          const q = Number(b.d);
          let base = a;
          if (b.d !== 1n) {
            const r = ratRoot(a, q);
            if (!r) return null;
            base = r;
          }
          const p = b.n < 0n ? -b.n : b.n;
          if (p > 100000n || Number(p) * Math.max(bitLength(base.n), bitLength(base.d)) > MAX_BITS) return null;
          if (b.n < 0n && base.n === 0n) return null;
          const n = base.n ** p;
          const d = base.d ** p;
          return b.n < 0n ? rat(d, n) : rat(n, d);
        }
      }
    }
  }
  return null;
}

const FN_IMPL: Record<string, (x: number) => number> = {
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  cot: (x) => 1 / Math.tan(x),
  sec: (x) => 1 / Math.cos(x),
  csc: (x) => 1 / Math.sin(x),
  ln: Math.log,
  log: Math.log,
  exp: Math.exp,
  arcsin: Math.asin,
  arccos: Math.acos,
  arctan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
};

function gammaFact(n: number): number {
  if (!Number.isInteger(n) || n < 0) return NaN;
  let r = 1;
  for (let k = 2; k <= n && r !== Infinity; k++) r *= k;
  return r;
}

/** The floating-point value, with variables taken from env (missing variables give NaN). */
export function evalNumber(e: Expr, env: Record<string, number> = {}): number {
  switch (e.t) {
    case 'num':
      return ratToNumber(e.v);
    case 'const':
      return e.name === 'pi' ? Math.PI : Infinity;
    case 'var':
      return env[e.name] ?? NaN;
    case 'neg':
      return -evalNumber(e.a, env);
    case 'fact':
      return gammaFact(evalNumber(e.a, env));
    case 'fn':
      return FN_IMPL[e.name](evalNumber(e.a, env));
    case 'root': {
      const a = evalNumber(e.a, env);
      const k = evalNumber(e.k, env);
      if (a < 0 && Number.isInteger(k) && k % 2 === 1) return -Math.pow(-a, 1 / k);
      return Math.pow(a, 1 / k);
    }
  }
  const a = evalNumber(e.a, env);
  const b = evalNumber(e.b, env);
  switch (e.t) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return a / b;
    case 'pow':
      return Math.pow(a, b);
    case 'binom': {
      if (!Number.isInteger(a) || !Number.isInteger(b) || b < 0 || a < 0) return NaN;
      if (b > a) return 0;
      const m = Math.min(b, a - b);
      if (m > 100000) return NaN; // bounded work; such values are not answers
      let r = 1;
      for (let i = 0; i < m; i++) r = (r * (a - i)) / (i + 1);
      return r;
    }
  }
}

/** The variable names in an expression. */
export function variables(e: Expr, out: Set<string> = new Set()): Set<string> {
  if (e.t === 'var') out.add(e.name);
  else if (e.t === 'num' || e.t === 'const') return out;
  else if (e.t === 'neg' || e.t === 'fact' || e.t === 'fn') variables(e.a, out);
  else if (e.t === 'root') {
    variables(e.a, out);
    variables(e.k, out);
  } else {
    variables(e.a, out);
    variables(e.b, out);
  }
  return out;
}

export function hasInfinity(e: Expr): boolean {
  if (e.t === 'const') return e.name === 'inf';
  if (e.t === 'num' || e.t === 'var') return false;
  if (e.t === 'neg' || e.t === 'fact' || e.t === 'fn') return hasInfinity(e.a);
  if (e.t === 'root') return hasInfinity(e.a) || hasInfinity(e.k);
  return hasInfinity(e.a) || hasInfinity(e.b);
}

export interface CompareOptions {
  /** Relative tolerance for numeric (non-rational) comparison (default 1e-6). */
  relTol?: number;
}

export const DEFAULT_REL_TOL = 1e-6;

export function closeEnough(a: number, b: number, relTol = DEFAULT_REL_TOL): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return false;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= relTol * Math.max(Math.abs(a), Math.abs(b)) || Math.abs(a - b) <= 1e-12;
}

/** Deterministic evaluation points for the variables (mulberry32, values in [0.5, 2.5)). */
function samplePoints(vars: string[], count: number): Record<string, number>[] {
  let s = 0x9e3779b9;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pts: Record<string, number>[] = [];
  for (let p = 0; p < count; p++) {
    const env: Record<string, number> = {};
    for (const v of vars) env[v] = 0.5 + 2 * next();
    pts.push(env);
  }
  return pts;
}

/**
 * Whether two expressions are equal: exactly when both are rational constants; numerically (relative
 * tolerance) otherwise; with variables, at 6 fixed points (points where both sides are undefined are
 * skipped; at least 3 must remain).
 */
export function exprEqual(a: Expr, b: Expr, opts: CompareOptions = {}): boolean {
  const relTol = opts.relTol ?? DEFAULT_REL_TOL;
  const vars = [...new Set([...variables(a), ...variables(b)])].sort();
  if (vars.length === 0) {
    const ea = evalExact(a);
    const eb = evalExact(b);
    if (ea && eb) return ratEq(ea, eb);
    const na = evalNumber(a);
    const nb = evalNumber(b);
    if (!Number.isFinite(na) || !Number.isFinite(nb)) return na === nb && hasInfinity(a) && hasInfinity(b);
    return closeEnough(na, nb, relTol);
  }
  let valid = 0;
  for (const env of samplePoints(vars, 6)) {
    const na = evalNumber(a, env);
    const nb = evalNumber(b, env);
    const fa = Number.isFinite(na);
    const fb = Number.isFinite(nb);
    if (!fa && !fb) continue;
    if (fa !== fb || !closeEnough(na, nb, relTol)) return false;
    valid++;
  }
  return valid >= 3;
}

/**
 * Whether two equations lhs1 = rhs1 and lhs2 = rhs2 describe the same relation: (lhs - rhs) of one is
 * a nonzero constant multiple of the other's, checked at fixed points.
 */
export function equationEqual(l1: Expr, r1: Expr, l2: Expr, r2: Expr, opts: CompareOptions = {}): boolean {
  const relTol = opts.relTol ?? DEFAULT_REL_TOL;
  const f: Expr = { t: 'sub', a: l1, b: r1 };
  const g: Expr = { t: 'sub', a: l2, b: r2 };
  const vars = [...new Set([...variables(f), ...variables(g)])].sort();
  if (vars.length === 0) return false;
  let ratio: number | null = null;
  let valid = 0;
  for (const env of samplePoints(vars, 6)) {
    const a = evalNumber(f, env);
    const b = evalNumber(g, env);
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    const za = Math.abs(a) < 1e-12;
    const zb = Math.abs(b) < 1e-12;
    if (za && zb) continue;
    if (za !== zb) return false;
    const r = a / b;
    if (ratio === null) ratio = r;
    else if (!closeEnough(r, ratio, relTol)) return false;
    valid++;
  }
  return valid >= 3;
}
