// Final-answer extraction: \boxed{} with nested and escaped braces, several boxes, \fbox, "\boxed 5",
// GSM8K "#### n", "The answer is ...", and the optional last-number fallback.
import { extractAnswer, findBoxes, lastBoxed, lastNumber } from '../lib/eval';

describe('extractAnswer: boxes', () => {
  test('nested braces are matched', () => {
    expect(extractAnswer('so $\\boxed{\\frac{1}{2}}$.')).toBe('\\frac{1}{2}');
    expect(extractAnswer('\\boxed{\\frac{\\sqrt{3}}{2^{2}}} done')).toBe('\\frac{\\sqrt{3}}{2^{2}}');
    expect(extractAnswer('\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}')).toBe('\\left( 3, \\frac{\\pi}{2} \\right)');
  });

  test('escaped braces do not count', () => {
    expect(extractAnswer('\\boxed{\\{1,2\\}}')).toBe('\\{1,2\\}');
    expect(extractAnswer('\\boxed{\\left\\{ a \\right\\}} tail')).toBe('\\left\\{ a \\right\\}');
  });

  test('the last of several boxes wins; \\fbox and "\\boxed 5" count', () => {
    expect(extractAnswer('first \\boxed{1}, then \\boxed{2}.')).toBe('2');
    expect(extractAnswer('\\boxed{1} and \\fbox{7}')).toBe('7');
    expect(extractAnswer('thus \\boxed 5.')).toBe('5');
    expect(extractAnswer('$\\boxed 42$')).toBe('42');
    expect(findBoxes('a \\boxed{x} b \\boxed{y{z}} c').map((b) => b.content)).toEqual(['x', 'y{z}']);
  });

  test('\\boxeddd is not a box; a box beats "The answer is" and "####"', () => {
    expect(extractAnswer('\\boxeddd{3}')).toBeNull();
    expect(extractAnswer('The answer is 5. #### 6\n \\boxed{7}')).toBe('7');
  });

  test('unterminated or empty last box gives null', () => {
    expect(extractAnswer('\\boxed{1} and then \\boxed{12')).toBeNull();
    expect(lastBoxed('\\boxed{}')).toBeNull();
    expect(extractAnswer('\\boxed{  }')).toBeNull();
  });

  test("format 'boxed' looks at boxes only", () => {
    expect(extractAnswer('#### 5', { format: 'boxed' })).toBeNull();
    expect(extractAnswer('The answer is 5', { format: 'boxed' })).toBeNull();
    expect(extractAnswer('x \\boxed{5}', { format: 'boxed' })).toBe('5');
  });
});

describe('extractAnswer: GSM8K and "the answer is"', () => {
  test('"#### n", last occurrence, up to the end of the line', () => {
    expect(extractAnswer('work\n#### 18')).toBe('18');
    expect(extractAnswer('#### 1,000')).toBe('1,000');
    expect(extractAnswer('#### 3\nredo\n#### 4\nmore text')).toBe('4');
    expect(extractAnswer('work\n#### 18', { format: 'gsm8k' })).toBe('18');
    expect(extractAnswer('\\boxed{5}', { format: 'gsm8k' })).toBeNull();
    expect(extractAnswer('####   ')).toBeNull();
  });

  test('"The answer is", "The final answer is", "Final answer:"', () => {
    expect(extractAnswer('The answer is 18.')).toBe('18');
    expect(extractAnswer('So the answer is 3.5.')).toBe('3.5');
    expect(extractAnswer('The final answer is $\\frac{3}{4}$. I hope it is correct.')).toBe('\\frac{3}{4}');
    expect(extractAnswer('Final answer: 42')).toBe('42');
    expect(extractAnswer('the answer is 1. No wait, the answer is 2.')).toBe('2');
  });

  test('last-number fallback only when asked', () => {
    const t = 'She has 12 apples and buys 3 more, so 15 apples.';
    expect(extractAnswer(t)).toBeNull();
    expect(extractAnswer(t, { lastNumberFallback: true })).toBe('15');
    expect(extractAnswer(t, { format: 'gsm8k', lastNumberFallback: true })).toBe('15');
    expect(extractAnswer(t, { format: 'boxed', lastNumberFallback: true })).toBeNull();
    expect(lastNumber('costs $1,234.50 in total')).toBe('1234.50');
    expect(lastNumber('values -3 and -0.5')).toBe('-0.5');
    expect(lastNumber('no digits')).toBeNull();
  });

  test('nothing found gives null; bad input', () => {
    expect(extractAnswer('')).toBeNull();
    expect(extractAnswer('no answer here')).toBeNull();
    expect(extractAnswer(undefined as unknown as string)).toBeNull();
    expect(() => extractAnswer('x', { format: 'latex' as never })).toThrow(/unknown format 'latex'/);
  });
});
