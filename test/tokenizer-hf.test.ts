/**
 * The dolma2 (RePo-OLMo2) tokenizer against Python `tokenizers`: ids and UTF-16 offsets must equal
 * test/golden/dolma2-tokens.json (made by tools/reference/make_tokenizer_golden.py), and every
 * token's range must cover exactly the text its bytes come from, snapped to whole characters.
 *
 * The tokenizer.json is licensed data kept outside the repository (../shared/fixtures); without it
 * these tests are skipped, not failed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { HfByteLevelTokenizer, loadHfTokenizer } from '../src/engine/tokenizer/hf';
import type { Encoding } from '../src/engine/tokenizer/types';

// Compiled to out/test/, so the repository root is two levels up.
const ROOT = path.resolve(__dirname, '..', '..');
const TOKENIZER_JSON = path.join(ROOT, '..', 'shared', 'fixtures', 'dolma2-tokenizer.json');
const GOLDEN = path.join(ROOT, 'test', 'golden', 'dolma2-tokens.json');
const CORPUS = path.join(ROOT, 'test', 'fixtures', 'tokenizer-corpus.txt');

const skip = existsSync(TOKENIZER_JSON)
  ? false
  : `dolma2 tokenizer.json not found at ${TOKENIZER_JSON} (licensed fixture kept outside the repo)`;

interface GoldenCase { text: string; ids: number[]; starts: number[]; ends: number[] }
interface Golden { vocab_size: number; lines: GoldenCase[]; whole: GoldenCase; extras: GoldenCase[] }
const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden;

let loaded: Promise<HfByteLevelTokenizer> | undefined;
function tokenizer(): Promise<HfByteLevelTokenizer> {
  loaded ??= loadHfTokenizer(TOKENIZER_JSON) as Promise<HfByteLevelTokenizer>;
  return loaded;
}

/** A lone surrogate is encoded as U+FFFD (TextEncoder's rule); this is the text those bytes spell. */
const wellFormed = (s: string) => s.replace(/[\uD800-\uDFFF]/gu, '\uFFFD');
const utf8 = (s: string) => Buffer.from(s, 'utf8');

/**
 * Checks the offset contract independently of how hf.ts computes it: bounds, monotonicity, ranges
 * on character boundaries, and that each range is the smallest run of whole characters holding the
 * token's bytes (any extra is a partial character at either edge, less than one character long).
 */
function checkOffsets(tok: HfByteLevelTokenizer, text: string, enc: Encoding, label: string): void {
  const n = enc.ids.length;
  assert.equal(enc.starts.length, n, `${label}: starts length`);
  assert.equal(enc.ends.length, n, `${label}: ends length`);
  const isLow = (i: number) => i > 0 && i < text.length && /[\uDC00-\uDFFF]/.test(text[i]) && /[\uD800-\uDBFF]/.test(text[i - 1]);
  // byteAt[i]: UTF-8 offset of UTF-16 index i (only meaningful on character boundaries).
  const byteAt = new Array<number>(text.length + 1).fill(-1);
  {
    let b = 0;
    for (let i = 0; i <= text.length; ) {
      byteAt[i] = b;
      if (i === text.length) break;
      const cp = text.codePointAt(i)!;
      const units = cp > 0xffff ? 2 : 1;
      b += utf8(text.slice(i, i + units)).length;
      i += units;
    }
  }
  const all = utf8(text);
  let b = 0;
  for (let k = 0; k < n; k++) {
    const s = enc.starts[k];
    const e = enc.ends[k];
    const where = `${label}: token ${k} (id ${enc.ids[k]}) [${s},${e})`;
    assert.ok(0 <= s && s < e && e <= text.length, `${where} out of bounds`);
    if (k > 0) {
      assert.ok(s >= enc.starts[k - 1], `${where} start goes backwards`);
      assert.ok(e >= enc.ends[k - 1], `${where} end goes backwards`);
    }
    assert.ok(!isLow(s) && !isLow(e), `${where} splits a surrogate pair`);

    const bytes = tok.bytesOf(enc.ids[k]);
    const b0 = b;
    const b1 = b + bytes.length;
    b = b1;
    assert.deepEqual(Buffer.from(bytes), all.subarray(b0, b1), `${where} bytes are not the input's`);

    // The covered text, as UTF-8, must hold the token's bytes at the right place ...
    const covered = utf8(text.slice(s, e));
    const lead = b0 - byteAt[s];
    const trail = byteAt[e] - b1;
    assert.ok(lead >= 0 && trail >= 0, `${where} does not cover its bytes (lead ${lead}, trail ${trail})`);
    assert.deepEqual(covered.subarray(lead, lead + bytes.length), Buffer.from(bytes), `${where} covered text differs`);
    // ... and extend past them only inside the first and last character (the outward snap).
    const first = utf8(String.fromCodePoint(text.codePointAt(s)!)).length;
    const lastIndex = e - 1 > s && isLow(e - 1) ? e - 2 : e - 1;
    const last = utf8(String.fromCodePoint(text.codePointAt(lastIndex)!)).length;
    assert.ok(lead < first, `${where} starts a whole character early`);
    assert.ok(trail < last, `${where} ends a whole character late`);
    // A token made of whole characters decodes to exactly the text under it.
    if (lead === 0 && trail === 0) {
      assert.equal(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes), wellFormed(text.slice(s, e)), `${where} decodes differently`);
    }
  }
  assert.equal(b, all.length, `${label}: tokens do not cover the whole text`);
}

function checkGolden(tok: HfByteLevelTokenizer, g: GoldenCase, label: string): void {
  const enc = tok.encode(g.text);
  assert.deepEqual(enc.ids, g.ids, `${label}: ids differ from Python`);
  assert.deepEqual(enc.starts, g.starts, `${label}: starts differ from Python`);
  assert.deepEqual(enc.ends, g.ends, `${label}: ends differ from Python`);
  checkOffsets(tok, g.text, enc, label);
}

test('dolma2: vocabulary size and special tokens', { skip }, async () => {
  const tok = await tokenizer();
  assert.equal(tok.vocabSize, golden.vocab_size);
  assert.equal(tok.vocabSize, 100278);
  assert.equal(tok.specialTokens['<|endoftext|>'], 100257);
  assert.equal(tok.specialTokens['<|pad|>'], 100277);
  assert.deepEqual(tok.encode(''), { ids: [], starts: [], ends: [] });
});

test('dolma2: golden corpus matches the committed corpus file', () => {
  // Catches a stale golden (or a checkout that rewrote the CRLF lines); needs no tokenizer.
  const corpus = readFileSync(CORPUS, 'utf8');
  assert.equal(golden.whole.text, corpus);
  assert.deepEqual(golden.lines.map((l) => l.text), corpus.split('\n'));
});

test('dolma2: every corpus line matches Python ids and offsets', { skip }, async () => {
  const tok = await tokenizer();
  assert.ok(golden.lines.length >= 60);
  golden.lines.forEach((g, i) => checkGolden(tok, g, `line ${i + 1}`));
});

test('dolma2: the whole corpus as one text matches Python', { skip }, async () => {
  const tok = await tokenizer();
  checkGolden(tok, golden.whole, 'whole text');
});

test('dolma2: CRLF, U+FFFD and special-token edge cases match Python', { skip }, async () => {
  const tok = await tokenizer();
  golden.extras.forEach((g, i) => checkGolden(tok, g, `extra ${i} ${JSON.stringify(g.text)}`));
});

test('dolma2: added tokens in the text are split out', { skip }, async () => {
  const tok = await tokenizer();
  const text = 'x<|endoftext|>y';
  assert.deepEqual(tok.encode(text), { ids: [87, 100257, 88], starts: [0, 1, 14], ends: [1, 14, 15] });
});

test('dolma2: lone surrogates encode as U+FFFD and map to their one code unit', { skip }, async () => {
  const tok = await tokenizer();
  const cases = ['a\uD83Db', '\uDE00\uD800 x\uDBFF', '\uDC00\uD83D\uDE00\uD83D', 'end\uD800'];
  for (const text of cases) {
    const enc = tok.encode(text);
    const asFffd = tok.encode(wellFormed(text));
    // Same bytes, so the same ids and (each U+FFFD being one code unit too) the same ranges.
    assert.deepEqual(enc, asFffd, JSON.stringify(text));
    checkOffsets(tok, text, enc, JSON.stringify(text));
  }
  // "a\uD83Db": the lone high surrogate is token 1, covering exactly index 1.
  assert.deepEqual(tok.encode('a\uD83Db'), { ids: [64, 5809, 65], starts: [0, 1, 2], ends: [1, 2, 3] });
});

test('dolma2: CRLF and tabs keep exact ranges', { skip }, async () => {
  const tok = await tokenizer();
  const text = 'line one\r\n\tline two\r\n\r\n\t\tthree\r';
  const enc = tok.encode(text);
  checkOffsets(tok, text, enc, 'crlf');
  // Ranges tile the text with no overlap here (all ASCII), so joining them gives the text back.
  assert.equal(enc.starts.map((s, i) => text.slice(s, enc.ends[i])).join(''), text);
});

test('dolma2: tokens inside one emoji share its range', { skip }, async () => {
  const tok = await tokenizer();
  const text = '👍🏽';
  const enc = tok.encode(text);
  assert.ok(enc.ids.length > 2, 'cl100k splits this emoji');
  checkOffsets(tok, text, enc, 'emoji');
  for (let i = 0; i < enc.ids.length; i++) {
    // Each token lies within one of the two code points (each 2 UTF-16 units, 4 bytes).
    assert.ok([0, 2].includes(enc.starts[i]) && [2, 4].includes(enc.ends[i]));
  }
});

test('dolma2: decode gives the text back', { skip }, async () => {
  const tok = await tokenizer();
  for (const g of [...golden.lines, golden.whole, ...golden.extras]) {
    assert.equal(tok.decode(g.ids), g.text);
  }
  // A leading U+FEFF is text, not a byte-order mark to drop.
  assert.equal(tok.decode(tok.encode('\uFEFFhi').ids), '\uFEFFhi');
});

test('dolma2: a 16K-token text encodes in reasonable time', { skip }, async () => {
  const tok = await tokenizer();
  // The corpus ten times over (~16K tokens); repeated words hit the library's word cache, so this is
  // a smoke test for accidental quadratic behaviour, not a benchmark.
  const text = Array(10).fill(golden.whole.text).join('\n');
  const t0 = process.hrtime.bigint();
  const enc = tok.encode(text);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`  encoded ${text.length} chars -> ${enc.ids.length} tokens in ${ms.toFixed(1)} ms`);
  assert.ok(enc.ids.length >= 16000);
  assert.equal(enc.ends[enc.ids.length - 1], text.length);
});
