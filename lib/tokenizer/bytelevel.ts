// Byte-level helpers shared by the BPE trainer and its encoder: GPT-2's byte <-> printable-character
// table and the pre-tokenisation split.

/**
 * GPT-2's reversible byte -> unicode-character map: printable Latin-1 bytes map to themselves, the
 * other 68 (controls, space, ...) to U+0100.. in byte order. So ' ' (0x20) is 'Ġ' and '\n' is 'Ċ'.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  return table;
})();

/** Inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/**
 * The pre-tokenisation split written into trained tokenizer.json files (Oniguruma syntax, as read by
 * HF tokenizers). It is the GPT-2/Llama-3 split with two deliberate changes:
 *  - numbers split into single digits (`\p{N}` instead of `\p{N}{1,3}`), like Llama/DeepSeek, so that
 *    every number is spelled digit by digit (better arithmetic);
 *  - the contractions are spelled with explicit [sS] classes instead of `(?i:...)`, which means the
 *    same thing for ASCII but is portable to every regex engine (JS RegExp has no inline flags).
 */
export const SPLIT_PATTERN =
  "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" +
  '| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';

/**
 * SPLIT_PATTERN as a JS RegExp. Oniguruma's \s is Unicode White_Space (it includes U+0085 and not
 * U+FEFF, unlike JS's \s), so \s/\S become \p{White_Space}/\P{White_Space}; this is also how
 * @huggingface/tokenizers translates the pattern, so both sides split identically.
 */
export const SPLIT_REGEX_SOURCE = SPLIT_PATTERN.replace(/\\s/g, '\\p{White_Space}').replace(
  /\\S/g,
  '\\P{White_Space}',
);

/** Splits text into pre-tokens (matches and any unmatched gaps, in order; empty pieces dropped). */
export function preTokenize(text: string, out: string[] = []): string[] {
  const re = new RegExp(SPLIT_REGEX_SOURCE, 'gu');
  let prev = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m.index > prev) out.push(text.slice(prev, m.index));
    if (m[0].length > 0) out.push(m[0]);
    else re.lastIndex++; // cannot happen with SPLIT_PATTERN, but never loop forever
    prev = m.index + m[0].length;
  }
  if (prev < text.length) out.push(text.slice(prev));
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A string's UTF-8 bytes spelled with BYTE_TO_CHAR (how byte-level vocabularies store tokens). */
export function toByteChars(text: string): string {
  let s = '';
  for (const b of encoder.encode(text)) s += BYTE_TO_CHAR[b];
  return s;
}
