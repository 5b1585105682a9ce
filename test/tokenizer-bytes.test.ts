import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteTokenizer } from '../src/engine/tokenizer/bytes';
import type { Encoding } from '../src/engine/tokenizer/types';

/**
 * Checks the offset rule on any text: consecutive tokens with the same range form one group per
 * code point; the groups tile the text without gaps or overlaps; each group covers exactly one code
 * point (a surrogate pair, or a single code unit); and the group's bytes are exactly what that
 * slice of the text encodes to (so every token's range covers the text its bytes decode to).
 */
function checkOffsets(text: string, enc: Encoding): void {
  assert.equal(enc.starts.length, enc.ids.length);
  assert.equal(enc.ends.length, enc.ids.length);
  let pos = 0;
  let i = 0;
  while (i < enc.ids.length) {
    const s = enc.starts[i];
    const e = enc.ends[i];
    assert.equal(s, pos, `token ${i} starts at ${s}, expected ${pos}`);
    let j = i;
    while (j < enc.ids.length && enc.starts[j] === s && enc.ends[j] === e) j++;
    const slice = text.slice(s, e);
    assert.equal([...slice].length, 1, `range ${s}:${e} holds exactly one code point`);
    assert.ok(e - s === 1 || e - s === 2);
    assert.deepEqual(enc.ids.slice(i, j), [...Buffer.from(slice, 'utf8')], `bytes of range ${s}:${e}`);
    pos = e;
    i = j;
  }
  assert.equal(pos, text.length, 'ranges cover the whole text');
}

/** Tokens whose range is exactly [s, e). */
function tokensAt(enc: Encoding, s: number, e: number): number[] {
  const out: number[] = [];
  enc.ids.forEach((_, i) => {
    if (enc.starts[i] === s && enc.ends[i] === e) out.push(i);
  });
  return out;
}

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer(260);
  // Emoji with skin tone modifier, flag (two regional indicators), CJK, CRLF, tab, Hebrew + Arabic
  // (RTL), a combining acute accent, a lone high surrogate and a lone low surrogate.
  const text = 'Hi 👋🏽 你好\r\n\tשלום عالم e\u0301 🇯🇵 x\ud800y\udc00z\n';

  it('ids are the UTF-8 bytes of the text (lone surrogates as U+FFFD)', () => {
    const enc = tok.encode(text);
    assert.deepEqual(enc.ids, [...Buffer.from(text, 'utf8')]);
    assert.deepEqual(enc.ids, [...new TextEncoder().encode(text)]);
  });

  it('every range snaps to a whole character and the ranges tile the text', () => {
    checkOffsets(text, tok.encode(text));
  });

  it('maps a 4-byte emoji to 4 tokens sharing its 2-code-unit range', () => {
    const enc = tok.encode(text);
    const at = text.indexOf('👋');
    const ids = tokensAt(enc, at, at + 2);
    assert.equal(ids.length, 4);
    assert.deepEqual(ids.map((i) => enc.ids[i]), [0xf0, 0x9f, 0x91, 0x8b]);
  });

  it('maps a CJK character to 3 tokens sharing its 1-code-unit range', () => {
    const enc = tok.encode(text);
    const at = text.indexOf('你');
    assert.deepEqual(tokensAt(enc, at, at + 1).map((i) => enc.ids[i]), [...Buffer.from('你')]);
  });

  it('keeps CR, LF and tab as separate one-unit tokens', () => {
    const enc = tok.encode(text);
    const cr = text.indexOf('\r');
    assert.deepEqual(tokensAt(enc, cr, cr + 1).map((i) => enc.ids[i]), [13]);
    assert.deepEqual(tokensAt(enc, cr + 1, cr + 2).map((i) => enc.ids[i]), [10]);
    assert.deepEqual(tokensAt(enc, cr + 2, cr + 3).map((i) => enc.ids[i]), [9]);
  });

  it('gives a combining mark its own range after the base letter', () => {
    const enc = tok.encode(text);
    const e = text.indexOf('e\u0301');
    assert.deepEqual(tokensAt(enc, e, e + 1).map((i) => enc.ids[i]), [0x65]);
    assert.deepEqual(tokensAt(enc, e + 1, e + 2).map((i) => enc.ids[i]), [0xcc, 0x81]);
  });

  it('keeps RTL text in logical order', () => {
    const enc = tok.encode('שלום');
    assert.deepEqual(enc.starts, [0, 0, 1, 1, 2, 2, 3, 3]);
    assert.deepEqual(enc.ends, [1, 1, 2, 2, 3, 3, 4, 4]);
    assert.deepEqual(enc.ids, [...Buffer.from('שלום')]);
  });

  it('encodes lone surrogates as U+FFFD with the range of the lone code unit', () => {
    const enc = tok.encode(text);
    for (const lone of ['\ud800', '\udc00']) {
      const at = text.indexOf(lone);
      assert.deepEqual(tokensAt(enc, at, at + 1).map((i) => enc.ids[i]), [0xef, 0xbf, 0xbd]);
    }
    // A high surrogate at the very end of the text is lone too.
    const end = tok.encode('a\ud83d');
    assert.deepEqual(end.ids, [0x61, 0xef, 0xbf, 0xbd]);
    assert.deepEqual(end.starts, [0, 1, 1, 1]);
    assert.deepEqual(end.ends, [1, 2, 2, 2]);
  });

  it('never produces special tokens, even from their spelling', () => {
    const enc = tok.encode('<|endoftext|><|pad|>');
    assert.equal(enc.ids.length, 20);
    assert.ok(enc.ids.every((id) => id < 256));
    assert.equal(tok.specialTokens['<|endoftext|>'], 256);
    assert.equal(tok.specialTokens['<|pad|>'], 257);
  });

  it('encodes the empty string to no tokens', () => {
    assert.deepEqual(tok.encode(''), { ids: [], starts: [], ends: [] });
  });

  it('holds the offset properties on random code-unit soup (seeded)', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const pools = [
      () => 0x20 + Math.floor(rand() * 0x5f), // ASCII
      () => 0x80 + Math.floor(rand() * 0x780), // 2-byte
      () => 0x800 + Math.floor(rand() * 0xd000), // 3-byte (may hit surrogates: lone ones)
      () => 0xd800 + Math.floor(rand() * 0x800), // any surrogate
    ];
    for (let n = 0; n < 200; n++) {
      let s = '';
      const len = Math.floor(rand() * 30);
      for (let k = 0; k < len; k++) {
        if (rand() < 0.2) s += String.fromCodePoint(0x10000 + Math.floor(rand() * 0xfffff));
        else s += String.fromCharCode(pools[Math.floor(rand() * pools.length)]());
      }
      const enc = tok.encode(s);
      assert.deepEqual(enc.ids, [...Buffer.from(s, 'utf8')], `ids of ${JSON.stringify(s)}`);
      checkOffsets(s, enc);
    }
  });

  it('refuses a vocabulary smaller than 256', () => {
    assert.throws(() => new ByteTokenizer(200), /at least 256/);
  });
});
