/**
 * The tokenizer contract used by the engine, the CLI and the extension.
 *
 * Offsets are UTF-16 code-unit indices into the exact string passed to `encode` (what JavaScript
 * strings and VS Code positions use), end exclusive. A tokenizer whose tokens can split a character
 * (byte-level tokenizers split multi-byte UTF-8 characters) must snap each token's range outward to
 * whole characters, so every range can be shown in an editor and always covers the text its bytes
 * decode to.
 */
export interface Encoding {
  /** Token ids, in order. */
  ids: number[];
  /** starts[i]: UTF-16 index where token i's text begins. */
  starts: number[];
  /** ends[i]: UTF-16 index just past token i's text (exclusive). */
  ends: number[];
}

export interface Tokenizer {
  /** Short identifier shown to users and written to the analysis JSON, e.g. "bytes". */
  readonly kind: string;
  /** Number of ids the tokenizer can produce including special tokens. */
  readonly vocabSize: number;
  /** Special tokens by name; never produced by `encode`. */
  readonly specialTokens: Readonly<Record<string, number>>;
  encode(text: string): Encoding;
}
