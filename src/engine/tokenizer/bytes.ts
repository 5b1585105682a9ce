import type { Encoding, Tokenizer } from './types';

/**
 * Byte-level tokenizer of the embedded models: a token id is a UTF-8 byte value (0..255).
 * Special tokens exist in the vocabulary but are never produced from text, so text that happens to
 * spell "<|endoftext|>" is encoded as its 13 bytes, not as id 256.
 *
 * Offsets ("snap to character boundaries"): a character of k UTF-8 bytes yields k tokens, and every
 * one of them gets the UTF-16 range of that whole character. So an emoji outside the BMP (4 bytes,
 * 2 UTF-16 code units) gives 4 tokens that all map to the same 2-code-unit range, a CJK character
 * (3 bytes, 1 code unit) gives 3 tokens with the same 1-code-unit range, and ASCII maps 1:1. Ranges
 * therefore never start or end inside a surrogate pair, and the text under a token's range always
 * encodes to bytes that include that token's byte. CR and LF are separate characters and stay
 * separate tokens; combining marks are their own code points and get their own ranges (they are not
 * merged into the preceding base letter: grapheme clustering is a display concern, not a tokenizer
 * one). Right-to-left text needs nothing special: offsets are logical (memory) order.
 *
 * Lone surrogates (a high surrogate not followed by a low one, or a stray low one) cannot be UTF-8
 * encoded; like TextEncoder and Buffer.from(text, 'utf8') we encode U+FFFD (EF BF BD) in their
 * place, and the three tokens map to the single lone code unit.
 */
export const BYTE_SPECIAL_TOKENS: Readonly<Record<string, number>> = Object.freeze({
  '<|endoftext|>': 256,
  '<|pad|>': 257,
});

export class ByteTokenizer implements Tokenizer {
  readonly kind = 'bytes';
  readonly specialTokens = BYTE_SPECIAL_TOKENS;

  /** @param vocabSize the model's vocabulary size (≥ 256); the byte ids are always 0..255. */
  constructor(readonly vocabSize: number = 258) {
    if (!Number.isInteger(vocabSize) || vocabSize < 256) {
      throw new Error(`byte tokenizer needs a vocabulary of at least 256 ids, got ${vocabSize}`);
    }
  }

  encode(text: string): Encoding {
    const ids: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const push = (byte: number, start: number, end: number) => {
      ids.push(byte);
      starts.push(start);
      ends.push(end);
    };
    let i = 0;
    while (i < text.length) {
      const start = i;
      let cp = text.charCodeAt(i);
      i += 1;
      if (cp >= 0xd800 && cp <= 0xdbff && i < text.length) {
        const lo = text.charCodeAt(i);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 1;
        }
      }
      // Any surrogate still standing here is unpaired: substitute U+FFFD as TextEncoder does.
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
      const end = i;
      if (cp < 0x80) {
        push(cp, start, end);
      } else if (cp < 0x800) {
        push(0xc0 | (cp >> 6), start, end);
        push(0x80 | (cp & 0x3f), start, end);
      } else if (cp < 0x10000) {
        push(0xe0 | (cp >> 12), start, end);
        push(0x80 | ((cp >> 6) & 0x3f), start, end);
        push(0x80 | (cp & 0x3f), start, end);
      } else {
        push(0xf0 | (cp >> 18), start, end);
        push(0x80 | ((cp >> 12) & 0x3f), start, end);
        push(0x80 | ((cp >> 6) & 0x3f), start, end);
        push(0x80 | (cp & 0x3f), start, end);
      }
    }
    return { ids, starts, ends };
  }
}
