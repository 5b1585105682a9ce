/** The model-free parts of the runtime: token limit, vocabulary and size checks, results LRU. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planAnalysis } from '../src/engine/analysis';
import { LruCache } from '../src/engine/runtime/lru';
import { applyTokenLimit, checkAttentionSize, checkVocab, MAX_ATTENTION_VALUES, prepareAnalysis } from '../src/engine/runtime/prepare';
import { ByteTokenizer } from '../src/engine/tokenizer/bytes';

const bytes = new ByteTokenizer(300);
const LIMITS = { name: 'tiny', numLayers: 4, numHeads: 4, vocabSize: 300, maxPositions: 16 };

describe('applyTokenLimit', () => {
  it('leaves a text within the limit alone', () => {
    const enc = bytes.encode('a'.repeat(16));
    assert.deepEqual(applyTokenLimit(enc, LIMITS, {}), { enc });
  });

  it('refuses by default, naming the model limit or maxTokens', () => {
    assert.throws(
      () => applyTokenLimit(bytes.encode('a'.repeat(17)), LIMITS, { label: 'x.txt' }),
      (e: Error & { code?: string; details?: any }) => {
        assert.equal(e.name, 'AnalysisError');
        assert.equal(e.code, 'TEXT_TOO_LONG');
        assert.equal(e.message, 'x.txt is 17 tokens long, but tiny handles at most 16 tokens');
        assert.deepEqual(e.details, { tokens: 17, limit: 16, limitSource: 'model', model: 'tiny', modelMaxTokens: 16 });
        return true;
      },
    );
    assert.throws(() => applyTokenLimit(bytes.encode('a'.repeat(9)), LIMITS, { maxTokens: 8 }), {
      message: 'the text is 9 tokens long, more than the limit of 8 tokens',
    });
    // maxTokens above the model's context does not raise it.
    assert.throws(() => applyTokenLimit(bytes.encode('a'.repeat(17)), LIMITS, { maxTokens: 100 }), /handles at most 16 tokens/);
    assert.throws(() => applyTokenLimit(bytes.encode('a'), LIMITS, { maxTokens: 0 }), /maxTokens must be a positive integer/);
  });

  it('truncates to the first tokens without splitting a character', () => {
    // a, b, four bytes of 👋 (one range), c
    const enc = bytes.encode('ab👋c');
    const cut = applyTokenLimit(enc, LIMITS, { maxTokens: 4, overflow: 'truncate' });
    assert.deepEqual(cut.truncated, { tokens: 2, originalTokens: 7, endOffset: 2 });
    assert.deepEqual(cut.enc.ids, [97, 98]);
    const whole = applyTokenLimit(enc, LIMITS, { maxTokens: 6, overflow: 'truncate' });
    assert.deepEqual(whole.truncated, { tokens: 6, originalTokens: 7, endOffset: 4 });
    assert.throws(() => applyTokenLimit(bytes.encode('👋'), LIMITS, { maxTokens: 2, overflow: 'truncate' }), /its first character alone takes more tokens/);
  });
});

describe('prepareAnalysis', () => {
  it('plans the query on the analysed part only', () => {
    const text = 'first line\nsecond line\nthird line\n';
    const p = prepareAnalysis(text, bytes.encode(text), LIMITS, { overflow: 'truncate', maxTokens: 100 }, 'bytes');
    assert.equal(p.enc.ids.length, 16);
    assert.deepEqual(p.truncated, { tokens: 16, originalTokens: text.length, endOffset: 16 });
    assert.deepEqual(p.plan, planAnalysis(text.slice(0, 16), p.enc, {}));
    assert.deepEqual([p.plan.query.start, p.plan.query.end], [11, 16]);
    assert.throws(
      () => prepareAnalysis(text, bytes.encode(text), LIMITS, { overflow: 'truncate', queryRange: { start: 11, end: 22 } }, 'bytes'),
      /--query-range 11:22 reaches past the analysed part: the first 16 tokens end at offset 16 \(the text is 34 long\)/,
    );
  });

  it('refuses token ids the model has no embedding for', () => {
    const enc = { ids: [5, 301, 7], starts: [0, 1, 3], ends: [1, 3, 4] };
    assert.throws(
      () => checkVocab('aXYb', enc, LIMITS, 'hf-bpe'),
      (e: Error & { code?: string }) => {
        assert.equal(e.name, 'ModelError');
        assert.equal(e.code, 'TOKEN_OUT_OF_VOCAB');
        assert.equal(e.message, 'token id 301 ≥ model vocab 300: the hf-bpe tokenizer gave it for "XY" (offsets 1:3), so this tokenizer does not belong to tiny');
        return true;
      },
    );
  });

  it('refuses a query whose attention would be too big', () => {
    const query = { start: 0, end: 1, tokens: Array.from({ length: 4096 }, (_, i) => i), defaulted: false };
    assert.throws(() => checkAttentionSize({ query }, 4096, { numLayers: 16, numHeads: 16 }), new RegExp(`more than the limit ${MAX_ATTENTION_VALUES}; choose a shorter --query-range`));
    checkAttentionSize({ query }, 4096, { numLayers: 16, numHeads: 1 });
    // Per layer: a 1,024-token query on the 1B model's 16 heads at 4K is fine (the layers add nothing).
    checkAttentionSize({ query: { ...query, tokens: query.tokens.slice(0, 1024) } }, 4096, { numLayers: 16, numHeads: 16 });
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entries by bytes and by count', () => {
    const c = new LruCache<string>(100, 3);
    c.set('a', 'A', 40);
    c.set('b', 'B', 40);
    assert.equal(c.get('a'), 'A'); // a is now the most recent
    c.set('c', 'C', 40); // 120 bytes > 100: b goes
    assert.equal(c.get('b'), undefined);
    assert.deepEqual([c.get('a'), c.get('c'), c.bytes], ['A', 'C', 80]);
    c.set('d', 'D', 1);
    c.set('e', 'E', 1); // 4 entries > 3: a (least recent) goes
    assert.equal(c.get('a'), undefined);
    assert.equal(c.size, 3);
    c.set('huge', 'H', 101);
    assert.equal(c.get('huge'), undefined, 'an entry over the whole budget is not stored');
    c.set('c', 'C2', 10);
    assert.deepEqual([c.get('c'), c.bytes], ['C2', 12]);
    c.clear();
    assert.deepEqual([c.size, c.bytes], [0, 0]);
  });
});
