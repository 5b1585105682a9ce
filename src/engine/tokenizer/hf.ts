import { readFile } from 'node:fs/promises';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import type { Encoding, Tokenizer } from './types';

/**
 * A Hugging Face `tokenizer.json` byte-level BPE tokenizer (the RePo-OLMo2 "dolma2" tokenizer:
 * cl100k_base pre-tokenizer regex, 100278 entries, no normalizer, no BOS, no post-processor).
 *
 * Ids come from `@huggingface/tokenizers` (pure JS, loads the file offline). It translates the
 * Oniguruma pre-tokenizer pattern, including the `(?i:'s|'t|…)` inline-flag group JS RegExp lacks,
 * into an equivalent `u`-mode RegExp, and is checked against Python `tokenizers` by
 * test/tokenizer-hf.test.ts. It returns no offsets, so they are rebuilt here from each token's bytes.
 *
 * Offsets. In a byte-level tokenizer each token is a run of UTF-8 bytes, and the tokens of a text
 * concatenate to exactly the UTF-8 encoding of that text (checked on every call; a mismatch throws
 * rather than returning wrong ranges). So token i covers bytes [b0, b1) of the text, and the range is
 * mapped to UTF-16 indices with this rule:
 *   start = UTF-16 index where the character containing byte b0 begins   (snap down)
 *   end   = UTF-16 index where the character containing byte b1-1 ends   (snap up)
 * A token that begins or ends inside a multi-byte character (cl100k often splits emoji and CJK)
 * therefore covers that whole character, so the range never splits a surrogate pair and the text
 * under it always contains every byte of the token. Neighbouring tokens that share a character
 * share its range (overlap is possible; starts and ends stay non-decreasing). This is the same rule
 * Python `tokenizers` applies, in code points instead of UTF-16 units.
 * Lone surrogates cannot be UTF-8 encoded: the library (TextEncoder) and this mapping both use
 * U+FFFD (EF BF BD) in their place, so those three bytes map to the single lone code unit.
 *
 * Added tokens ("<|endoftext|>", "<|pad|>", …) written in the text are split out as their ids, as
 * Python `tokenizers` does by default; their bytes are the UTF-8 of their content.
 */
export class HfByteLevelTokenizer implements Tokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  /** Added tokens marked `special` in tokenizer.json, by content, e.g. "<|endoftext|>" → 100257. */
  readonly specialTokens: Readonly<Record<string, number>>;

  private readonly hf: HfTokenizer;
  /** id → byte-level token string (GPT-2 alphabet), or the content of an added token. */
  private readonly idToToken: string[];
  private readonly addedIds: Set<number>;
  /** Lazily filled cache of each id's raw bytes. */
  private readonly idBytes: (Uint8Array | undefined)[];

  constructor(json: TokenizerJson, kind = 'hf-bpe') {
    assertByteLevelBpe(json);
    this.kind = kind;
    // The second argument is tokenizer_config.json; nothing in it changes encoding of this model
    // (only decode clean-up, which we do not use).
    this.hf = new HfTokenizer(json, {});

    this.idToToken = [];
    for (const [token, id] of Object.entries(json.model.vocab)) this.idToToken[id] = token;
    this.addedIds = new Set();
    const special: Record<string, number> = {};
    for (const t of json.added_tokens ?? []) {
      this.idToToken[t.id] = t.content;
      this.addedIds.add(t.id);
      if (t.special) special[t.content] = t.id;
    }
    this.specialTokens = Object.freeze(special);
    // Ids need not be dense in general; the id space is what the model's embedding must cover.
    this.vocabSize = this.idToToken.length;
    this.idBytes = new Array(this.vocabSize);
  }

  encode(text: string): Encoding {
    // add_special_tokens: false: tokens a post-processor would add (none for dolma2) have no text.
    const ids = this.hf.encode(text, { add_special_tokens: false }).ids;
    const starts = new Array<number>(ids.length);
    const ends = new Array<number>(ids.length);

    const utf8 = Buffer.from(text, 'utf8'); // lone surrogates → EF BF BD, like TextEncoder
    const { charStart, charEnd } = byteToUtf16(text, utf8.length);

    let b = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.bytesOf(ids[i]);
      const b0 = b;
      for (let k = 0; k < bytes.length; k++, b++) {
        if (b >= utf8.length || utf8[b] !== bytes[k]) throw mismatch(ids[i], b);
      }
      if (bytes.length === 0) throw mismatch(ids[i], b0);
      starts[i] = charStart[b0];
      ends[i] = charEnd[b - 1];
    }
    if (b !== utf8.length) throw mismatch(undefined, b);
    return { ids, starts, ends };
  }

  /**
   * The text of `ids` with every token kept (special tokens included, like Python
   * `decode(ids, skip_special_tokens=False)`); byte sequences that are not valid UTF-8 (a character
   * split across a cut) become U+FFFD, as in Python.
   */
  decode(ids: number[]): string {
    const parts = ids.map((id) => this.bytesOf(id));
    // ignoreBOM: keep a leading U+FEFF; it is text the tokens encode, not a byte-order mark.
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(Buffer.concat(parts));
  }

  /** The raw bytes of one token: its UTF-8 content for an added token, else through the byte table. */
  bytesOf(id: number): Uint8Array {
    let bytes = this.idBytes[id];
    if (bytes !== undefined) return bytes;
    const token = this.idToToken[id];
    if (token === undefined) throw new Error(`tokenizer: unknown token id ${id}`);
    if (this.addedIds.has(id)) {
      bytes = Buffer.from(token, 'utf8');
    } else {
      bytes = new Uint8Array(token.length);
      for (let k = 0; k < token.length; k++) {
        const byte = UNICODE_TO_BYTE.get(token.charCodeAt(k));
        if (byte === undefined) throw new Error(`tokenizer: token ${id} is not byte-level: ${JSON.stringify(token)}`);
        bytes[k] = byte;
      }
    }
    this.idBytes[id] = bytes;
    return bytes;
  }
}

/** Reads and parses a `tokenizer.json`; throws if it is not a byte-level BPE tokenizer. */
export async function loadHfTokenizer(tokenizerJsonPath: string): Promise<Tokenizer> {
  const json = JSON.parse(await readFile(tokenizerJsonPath, 'utf8')) as TokenizerJson;
  return new HfByteLevelTokenizer(json);
}

/** The parts of tokenizer.json this module reads itself (the library reads the rest). */
export interface TokenizerJson {
  normalizer: unknown;
  pre_tokenizer: { type: string; pretokenizers?: { type: string }[] } | null;
  model: { type: string; vocab: Record<string, number>; byte_fallback?: boolean };
  added_tokens?: { id: number; content: string; special?: boolean; normalized?: boolean }[];
  [key: string]: unknown;
}

/**
 * Offsets are rebuilt from bytes, which is only exact when the model's tokens are raw bytes of the
 * unmodified input: BPE, a ByteLevel pre-tokenizer, and no normalizer (a normalizer would change the
 * bytes, e.g. NFC, and the token bytes would no longer be the input's).
 */
function assertByteLevelBpe(json: TokenizerJson): void {
  const why = (msg: string) => new Error(`unsupported tokenizer.json: ${msg}`);
  if (json?.model?.type !== 'BPE' || typeof json.model.vocab !== 'object') throw why('model is not BPE');
  if (json.normalizer !== null && json.normalizer !== undefined) throw why('has a normalizer');
  const pre = json.pre_tokenizer;
  const steps = pre?.type === 'Sequence' ? pre.pretokenizers ?? [] : pre ? [pre] : [];
  if (!steps.some((s) => s.type === 'ByteLevel')) throw why('pre-tokenizer is not byte-level');
}

/**
 * For a text whose UTF-8 encoding is `nBytes` long: charStart[b] / charEnd[b] are the UTF-16
 * indices where the character that byte b belongs to begins / ends. Byte lengths follow UTF-8 (and
 * TextEncoder: an unpaired surrogate is U+FFFD, 3 bytes, 1 code unit).
 */
function byteToUtf16(text: string, nBytes: number): { charStart: Int32Array; charEnd: Int32Array } {
  const charStart = new Int32Array(nBytes);
  const charEnd = new Int32Array(nBytes);
  let b = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    let units = 1;
    let len: number;
    if (c < 0x80) len = 1;
    else if (c < 0x800) len = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      const paired = d >= 0xdc00 && d <= 0xdfff;
      units = paired ? 2 : 1;
      len = paired ? 4 : 3;
    } else len = 3; // rest of the BMP, and lone surrogates (as U+FFFD)
    for (let k = 0; k < len; k++, b++) {
      charStart[b] = i;
      charEnd[b] = i + units;
    }
    i += units;
  }
  if (b !== nBytes) throw new Error(`tokenizer: UTF-8 length mismatch (${b} vs ${nBytes})`);
  return { charStart, charEnd };
}

function mismatch(id: number | undefined, byte: number): Error {
  return new Error(
    `tokenizer: token bytes do not reproduce the input at byte ${byte}` +
      (id === undefined ? ' (text not fully covered)' : ` (token ${id})`) +
      '; offsets cannot be rebuilt',
  );
}

/**
 * GPT-2's byte ↔ unicode table, inverted: byte-level vocabularies spell every byte as one printable
 * character. Bytes that are already printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
 * themselves; the other 68 (controls, space, 0x7F–0xA0, 0xAD) are assigned U+0100, U+0101, … in
 * byte order.
 */
const UNICODE_TO_BYTE: ReadonlyMap<number, number> = (() => {
  const map = new Map<number, number>();
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0x100;
  for (let b = 0; b < 256; b++) map.set(printable(b) ? b : next++, b);
  return map;
})();
