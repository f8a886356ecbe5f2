// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) for mathrl.
//
// The tokenizer itself is @huggingface/tokenizers (Tokenizers.js): a pure-JS, zero-dependency
// implementation of HF's tokenizer.json pipeline (normalizers, Split/ByteLevel pre-tokenizers, BPE,
// added/special tokens, post-processors, decoders), ~650 kB installed. It loads real byte-level BPE
// files (Llama 3's 128k vocab included, checked against @lenml/tokenizers in the tests), so the much
// larger @huggingface/transformers (which depends on it, plus onnxruntime and sharp) is not needed.
// Chat templates are rendered with @huggingface/jinja, the renderer transformers.js uses.
import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';

/** One chat turn. Roles are free-form for templates; the built-in template knows system/user/assistant. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface EncodeOptions {
  /**
   * Apply the tokenizer's post-processor (e.g. prepend BOS), as HF does. Default true. Special-token
   * text inside the string (e.g. "<|eos|>") is always encoded as that special token.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, PAD, ...) from the output. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * HF's clean_up_tokenization_spaces (" ." -> ".", " 's" -> "'s", ...). Default false, so that
   * decode(encode(x)) === x; tokenizer_config.json's setting is ignored.
   */
  cleanUpTokenizationSpaces?: boolean;
}

export interface ChatTemplateOptions {
  /** End with the prompt for the assistant's turn ("Assistant:" in the built-in format). Default false. */
  addGenerationPrompt?: boolean;
}

/**
 * The DeepSeekMath chat format as a Jinja chat template, used when tokenizer_config.json has none and
 * written into the config of tokenizers trained with trainBpe:
 *   [system + "\n\n"] + "User: {q}\n\n" + "Assistant: {a}" + eos ... [+ "Assistant:"]
 */
export const DEEPSEEKMATH_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}" +
  "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n\\n' }}" +
  "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}" +
  "{% else %}{{ raise_exception('unknown chat role ' + message['role'] + ' (expected system, user or assistant)') }}" +
  "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

type Json = Record<string, unknown>;

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'sep_token', 'cls_token', 'mask_token'];

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function readJson(file: string, what: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`Tokenizer: cannot read ${what} '${file}': ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`Tokenizer: ${what} '${file}' is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(value)) throw new Error(`Tokenizer: ${what} '${file}' must hold a JSON object`);
  return value;
}

/** A special-token entry of tokenizer_config.json: a string or {"__type": "AddedToken", "content": ...}. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/**
 * A text tokenizer: HF tokenizer.json semantics (via @huggingface/tokenizers) plus the tokenizer_config.json
 * metadata (special tokens, chat template). Load one with fromFile/fromDir/fromJSON, or train one with
 * trainBpe. Instances are immutable.
 */
export class Tokenizer {
  /** Size of the id space: the largest id (vocabulary or added token) + 1. Use it for embedding tables. */
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  /** Id of tokenizer_config.json's bos_token (undefined when it has none). */
  readonly bosId: number | undefined;
  /** Id of tokenizer_config.json's eos_token (undefined when it has none). */
  readonly eosId: number | undefined;
  /** Id of tokenizer_config.json's pad_token (undefined when it has none; no fallback to EOS). */
  readonly padId: number | undefined;
  /** The chat template (tokenizer_config.json's chat_template or chat_template.jinja), if any. */
  readonly chatTemplate: string | undefined;

  private readonly hf: HfTokenizer;
  private readonly tokenizerJson: Json;
  private readonly tokenizerConfig: Json;
  private readonly idToTokenTable: (string | undefined)[];
  private readonly specialTokenSet: Set<string>;
  private compiledTemplate: Template | undefined;

  private constructor(tokenizerJson: Json, tokenizerConfig: Json, source: string) {
    const model = tokenizerJson.model;
    if (!isObject(model)) throw new Error(`Tokenizer: ${source} has no "model" object (not a tokenizer.json?)`);
    if (typeof model.type !== 'string' && !('vocab' in model)) {
      throw new Error(`Tokenizer: ${source}: "model" has neither a "type" nor a "vocab"`);
    }
    if (typeof model.type === 'string' && !['BPE', 'WordPiece', 'Unigram'].includes(model.type)) {
      throw new Error(`Tokenizer: ${source}: unsupported model type '${model.type}' (expected BPE, WordPiece or Unigram)`);
    }
    if (model.type === 'BPE' && (!isObject(model.vocab) || !Array.isArray(model.merges))) {
      throw new Error(`Tokenizer: ${source}: a BPE model needs a "vocab" object and a "merges" array`);
    }
    if (tokenizerJson.added_tokens !== undefined && !Array.isArray(tokenizerJson.added_tokens)) {
      throw new Error(`Tokenizer: ${source}: "added_tokens" must be an array`);
    }
    // Optional sections may be absent in hand-written files; the library wants them present (null).
    const json: Json = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      ...tokenizerJson,
      added_tokens: tokenizerJson.added_tokens ?? [],
    };
    try {
      this.hf = new HfTokenizer(json, tokenizerConfig);
    } catch (e) {
      throw new Error(`Tokenizer: cannot build a tokenizer from ${source}: ${(e as Error).message}`);
    }
    this.tokenizerJson = json;
    this.tokenizerConfig = tokenizerConfig;

    const vocab = this.hf.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`Tokenizer: ${source}: invalid token id ${id}`);
      if (id > maxId) maxId = id;
    }
    if (maxId < 0) throw new Error(`Tokenizer: ${source}: the vocabulary is empty`);
    this.vocabSize = maxId + 1;
    this.idToTokenTable = new Array(this.vocabSize);
    for (const [token, id] of vocab) this.idToTokenTable[id] = token;

    this.specialTokenSet = new Set();
    for (const t of json.added_tokens as unknown[]) {
      if (isObject(t) && t.special === true && typeof t.content === 'string') this.specialTokenSet.add(t.content);
    }

    const specialId = (key: string): [string | undefined, number | undefined] => {
      const text = tokenText(tokenizerConfig[key]);
      if (text === undefined) return [undefined, undefined];
      const id = vocab.get(text);
      if (id === undefined) throw new Error(`Tokenizer: ${source}: ${key} '${text}' is not in the vocabulary`);
      return [text, id];
    };
    [this.bosToken, this.bosId] = specialId('bos_token');
    [this.eosToken, this.eosId] = specialId('eos_token');
    [this.padToken, this.padId] = specialId('pad_token');

    let template = tokenizerConfig.chat_template;
    if (Array.isArray(template)) {
      // Newer configs may hold several named templates: [{name, template}, ...]; use "default".
      const named = template.find((t) => isObject(t) && t.name === 'default');
      template = isObject(named) ? named.template : undefined;
    }
    if (template !== undefined && template !== null && typeof template !== 'string') {
      throw new Error(`Tokenizer: ${source}: chat_template must be a string`);
    }
    this.chatTemplate = template ?? undefined;
  }

  /**
   * Builds a tokenizer from parsed tokenizer.json (and optionally tokenizer_config.json) objects. The
   * objects are kept, not copied (a 128k vocabulary is large): do not modify them afterwards.
   */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig: unknown = {}): Tokenizer {
    if (!isObject(tokenizerJson)) throw new Error('Tokenizer.fromJSON: tokenizerJson must be an object');
    if (!isObject(tokenizerConfig)) throw new Error('Tokenizer.fromJSON: tokenizerConfig must be an object');
    return new Tokenizer(tokenizerJson, { ...tokenizerConfig }, 'tokenizerJson');
  }

  /** Loads tokenizer.json and, when given, tokenizer_config.json. */
  static fromFile(tokenizerJsonPath: string, tokenizerConfigPath?: string): Tokenizer {
    const json = readJson(tokenizerJsonPath, 'tokenizer.json');
    const config = tokenizerConfigPath === undefined ? {} : readJson(tokenizerConfigPath, 'tokenizer_config.json');
    return new Tokenizer(json, config, `'${tokenizerJsonPath}'`);
  }

  /**
   * Loads a Hugging Face model directory: tokenizer.json (required), tokenizer_config.json,
   * special_tokens_map.json (fills special tokens the config lacks) and chat_template.jinja (the
   * newer place for the chat template), each when present.
   */
  static fromDir(dir: string): Tokenizer {
    const jsonPath = path.join(dir, 'tokenizer.json');
    if (!fs.existsSync(jsonPath)) throw new Error(`Tokenizer.fromDir: no tokenizer.json in '${dir}'`);
    const json = readJson(jsonPath, 'tokenizer.json');
    const configPath = path.join(dir, 'tokenizer_config.json');
    const config = fs.existsSync(configPath) ? readJson(configPath, 'tokenizer_config.json') : {};
    const mapPath = path.join(dir, 'special_tokens_map.json');
    if (fs.existsSync(mapPath)) {
      const map = readJson(mapPath, 'special_tokens_map.json');
      for (const key of SPECIAL_TOKEN_KEYS) if (config[key] == null && map[key] != null) config[key] = map[key];
    }
    const templatePath = path.join(dir, 'chat_template.jinja');
    if (config.chat_template == null && fs.existsSync(templatePath)) {
      config.chat_template = fs.readFileSync(templatePath, 'utf8');
    }
    return new Tokenizer(json, config, `'${jsonPath}'`);
  }

  /** Token ids of `text`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`Tokenizer.encode: text must be a string, got ${typeof text}`);
    const addSpecialTokens = options.addSpecialTokens ?? true;
    if (text.length === 0 && !addSpecialTokens) return [];
    return this.hf.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Text of token ids; ids must be integers in [0, vocabSize). */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = Array.from(ids);
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.idToTokenTable[id] === undefined) {
        throw new Error(`Tokenizer.decode: ids[${i}] = ${id} is not a token id (vocabSize ${this.vocabSize})`);
      }
    }
    if (list.length === 0) return '';
    return this.hf.decode(list, {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? false,
    });
  }

  /** Id of a token string as stored in the vocabulary (byte-level tokens spell ' ' as 'Ġ'), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** Token string of an id, or undefined when no token has that id. */
  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.idToTokenTable[id] : undefined;
  }

  /** Whether `token` is a special added token (BOS, EOS, PAD, ...). */
  isSpecialToken(token: string): boolean {
    return this.specialTokenSet.has(token);
  }

  /**
   * Renders a conversation as text with the tokenizer's chat template (Jinja, given messages,
   * add_generation_prompt and the special tokens of tokenizer_config.json), or with the DeepSeekMath
   * format when it has none. Encode the result with encodeChat, or with addSpecialTokens: false when
   * the template writes BOS itself.
   */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (!Array.isArray(messages)) throw new Error('Tokenizer.applyChatTemplate: messages must be an array');
    messages.forEach((m, i) => {
      if (!isObject(m) || typeof m.role !== 'string' || typeof m.content !== 'string') {
        throw new Error(`Tokenizer.applyChatTemplate: messages[${i}] must be {role: string, content: string}`);
      }
    });
    if (this.chatTemplate === undefined && this.eosToken === undefined) {
      throw new Error('Tokenizer.applyChatTemplate: no chat_template and no eos_token for the DeepSeekMath format');
    }
    if (this.compiledTemplate === undefined) {
      try {
        this.compiledTemplate = new Template(this.chatTemplate ?? DEEPSEEKMATH_CHAT_TEMPLATE);
      } catch (e) {
        throw new Error(`Tokenizer.applyChatTemplate: cannot parse the chat template: ${(e as Error).message}`);
      }
    }
    const context: Json = {};
    for (const key of SPECIAL_TOKEN_KEYS) {
      const text = tokenText(this.tokenizerConfig[key]);
      if (text !== undefined) context[key] = text;
    }
    context.messages = messages.map((m) => ({ ...m }));
    context.add_generation_prompt = options.addGenerationPrompt ?? false;
    try {
      return this.compiledTemplate.render(context);
    } catch (e) {
      throw new Error(`Tokenizer.applyChatTemplate: ${(e as Error).message}`);
    }
  }

  /**
   * Token ids of a rendered conversation. BOS is added by the post-processor only when the rendered
   * text does not already start with it, so it never appears twice.
   */
  encodeChat(messages: ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    const text = this.applyChatTemplate(messages, options);
    const hasBos = this.bosToken !== undefined && text.startsWith(this.bosToken);
    return this.encode(text, { addSpecialTokens: !hasBos });
  }

  /** Copies of the tokenizer.json and tokenizer_config.json objects this tokenizer was built from. */
  toJSON(): { tokenizer: Json; config: Json } {
    return { tokenizer: structuredClone(this.tokenizerJson), config: structuredClone(this.tokenizerConfig) };
  }

  /** Writes tokenizer.json and tokenizer_config.json into `dir` (created if missing). */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(this.tokenizerJson, null, 2) + '\n');
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(this.tokenizerConfig, null, 2) + '\n');
  }
}
