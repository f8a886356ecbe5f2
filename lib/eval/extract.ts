// Final-answer extraction from model completions: \boxed{...} (nested braces), GSM8K "#### n",
// "The (final) answer is ...", and optionally the last number in the text.

export type AnswerFormat = 'auto' | 'boxed' | 'gsm8k';

export interface ExtractOptions {
  /**
   * 'boxed': only the last \boxed{} / \fbox{}; 'gsm8k': only "#### n"; 'auto' (default): the last
   * box, else the last "#### n", else the last "the (final) answer is ...".
   */
  format?: AnswerFormat;
  /**
   * When nothing else is found, take the last number in the text (GSM8K-style questions; default
   * false). Applies to 'auto' and 'gsm8k'.
   */
  lastNumberFallback?: boolean;
}

export interface BoxedMatch {
  /** The box's content (trimmed). */
  content: string;
  /** Index of the backslash of \boxed / \fbox. */
  start: number;
  /** Index just after the box. */
  end: number;
  /** False when the box's braces never close (a truncated completion). */
  complete: boolean;
}

const BOX_RE = /\\(?:boxed|fbox)(?![a-zA-Z])/g;

/** Every \boxed{...} / \fbox{...} / "\boxed x" in order, braces matched (escaped \{ \} ignored). */
export function findBoxes(text: string): BoxedMatch[] {
  const out: BoxedMatch[] = [];
  BOX_RE.lastIndex = 0;
  for (let m = BOX_RE.exec(text); m; m = BOX_RE.exec(text)) {
    const start = m.index;
    let i = m.index + m[0].length;
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
    if (text[i] === '{') {
      let depth = 0;
      let j = i;
      for (; j < text.length; j++) {
        const c = text[j];
        if (c === '\\') {
          j++;
          continue;
        }
        if (c === '{') depth++;
        else if (c === '}' && --depth === 0) break;
      }
      if (j >= text.length) {
        out.push({ content: text.slice(i + 1).trim(), start, end: text.length, complete: false });
        break;
      }
      out.push({ content: text.slice(i + 1, j).trim(), start, end: j + 1, complete: true });
      BOX_RE.lastIndex = j + 1;
    } else if (i > m.index + m[0].length) {
      // "\boxed 5": up to whitespace or a math delimiter; a sentence's final period is dropped.
      const rest = /^[^\s$]+/.exec(text.slice(i));
      if (rest) {
        const content = rest[0].replace(/[.,;]+$/, '');
        out.push({ content, start, end: i + rest[0].length, complete: true });
        BOX_RE.lastIndex = i + rest[0].length;
      }
    }
  }
  return out;
}

/** The content of the last box, or null when there is none or the last one is unterminated. */
export function lastBoxed(text: string): string | null {
  const boxes = findBoxes(text);
  const last = boxes[boxes.length - 1];
  if (!last || !last.complete || last.content === '') return null;
  return last.content;
}

/** The final answer after the last "####" (GSM8K reference style), up to the end of its line. */
export function lastGsm8kAnswer(text: string): string | null {
  const i = text.lastIndexOf('####');
  if (i < 0) return null;
  const line = text.slice(i + 4).split('\n')[0].trim();
  return cleanTail(line);
}

const ANSWER_IS_RE = /(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*:?\s*/gi;

/** The text after the last "The answer is" / "The final answer is" / "Final answer:". */
export function lastAnswerIs(text: string): string | null {
  let last: RegExpExecArray | null = null;
  ANSWER_IS_RE.lastIndex = 0;
  for (let m = ANSWER_IS_RE.exec(text); m; m = ANSWER_IS_RE.exec(text)) last = m;
  if (!last) return null;
  let rest = text.slice(last.index + last[0].length).split('\n')[0];
  // Inside $...$: take the math.
  const math = /^\s*\$+([^$]+)\$+/.exec(rest) ?? /^\s*\\\((.+?)\\\)/.exec(rest);
  if (math) return cleanTail(math[1]);
  // Otherwise up to the end of the sentence (a period not followed by a digit).
  rest = rest.split(/\.(?!\d)(?:\s|$)/)[0];
  return cleanTail(rest);
}

function cleanTail(s: string): string | null {
  const t = s.trim().replace(/[.,;:!]+$/, '').trim();
  return t === '' ? null : t;
}

const NUMBER_RE = /-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+/g;

/** The last number in the text (thousands separators removed), or null. */
export function lastNumber(text: string): string | null {
  const all = text.match(NUMBER_RE);
  if (!all) return null;
  return all[all.length - 1].replace(/,/g, '');
}

/** The final answer in a completion, or null when none is found (see ExtractOptions). */
export function extractAnswer(text: string, opts: ExtractOptions = {}): string | null {
  if (typeof text !== 'string') return null;
  const format = opts.format ?? 'auto';
  if (format !== 'auto' && format !== 'boxed' && format !== 'gsm8k') {
    throw new Error(`extractAnswer: unknown format '${String(format)}' (auto, boxed or gsm8k)`);
  }
  if (format === 'boxed') return lastBoxed(text);
  if (format === 'gsm8k') return lastGsm8kAnswer(text) ?? (opts.lastNumberFallback ? lastNumber(text) : null);
  const boxes = findBoxes(text);
  if (boxes.length > 0) return lastBoxed(text);
  return (
    lastGsm8kAnswer(text) ?? lastAnswerIs(text) ?? (opts.lastNumberFallback ? lastNumber(text) : null)
  );
}
