import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ANALYSIS_SCHEMA,
  AnalysisError,
  buildAnalysis,
  defaultQueryRange,
  queryAttentionOf,
  needleMass,
  parseRangeSpec,
  planAnalysis,
  reshapePositions,
  tokensInRange,
  topHeads,
  validateRange,
} from '../src/engine/analysis';
import type { ModelInfo, RunResult } from '../src/engine/model/types';
import { ByteTokenizer } from '../src/engine/tokenizer/bytes';

const tok = new ByteTokenizer(260);

function info(over: Partial<ModelInfo> = {}): ModelInfo {
  return {
    name: 'hand-made',
    numLayers: 2,
    numHeads: 3,
    headDim: 8,
    hiddenSize: 24,
    vocabSize: 260,
    repoLayers: [1],
    peMode: 'swigluex_multihead',
    maxPositions: 64,
    storage: 'fp32',
    converterVersion: 'test',
    ...over,
  };
}

/**
 * A RunResult with causal softmax-like rows: row q (token qi) spreads weights ∝ (t+1+l+h) over
 * t ≤ qi, normalised, zeros after. Positions are r*100 + h*10 + t/4 so every value is traceable.
 */
function fakeResult(inf: ModelInfo, T: number, queryRows: number[]): RunResult {
  const L = inf.numLayers;
  const H = inf.numHeads;
  const R = inf.repoLayers.length;
  const Q = queryRows.length;
  // The graph's output: the rows averaged, [L,H,T].
  const attention = new Float32Array(L * H * T);
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++)
      queryRows.forEach((qi) => {
        let sum = 0;
        for (let t = 0; t <= qi; t++) sum += t + 1 + l + h;
        for (let t = 0; t <= qi; t++) attention[(l * H + h) * T + t] += (t + 1 + l + h) / sum / Q;
      });
  const positions = new Float32Array(R * H * T);
  for (let r = 0; r < R; r++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) positions[(r * H + h) * T + t] = r * 100 + h * 10 + t / 4;
  return { positions, attention, lastLogits: new Float32Array(inf.vocabSize), T, Q };
}

describe('ranges', () => {
  it('parses A:B and rejects other shapes', () => {
    assert.deepEqual(parseRangeSpec('3:17', '--x'), { start: 3, end: 17 });
    assert.deepEqual(parseRangeSpec(' 0 : 1 ', '--x'), { start: 0, end: 1 });
    for (const bad of ['3-7', '3:', ':4', 'a:b', '-1:3', '1.5:3', '']) {
      assert.throws(() => parseRangeSpec(bad, '--needle-range'), (e: Error) => e instanceof AnalysisError && /--needle-range must look like A:B/.test(e.message), bad);
    }
  });

  it('a token belongs to a range when their half-open spans overlap', () => {
    const text = 'a👋b';
    const enc = tok.encode(text); // a | 4 tokens at 1:3 | b
    assert.deepEqual(tokensInRange(enc, { start: 0, end: 1 }), [0]);
    // Touching only the low surrogate still takes the whole emoji.
    assert.deepEqual(tokensInRange(enc, { start: 2, end: 3 }), [1, 2, 3, 4]);
    assert.deepEqual(tokensInRange(enc, { start: 1, end: 2 }), [1, 2, 3, 4]);
    assert.deepEqual(tokensInRange(enc, { start: 3, end: 4 }), [5]);
    // Empty-width ranges overlap nothing.
    assert.deepEqual(tokensInRange(enc, { start: 1, end: 1 }), []);
  });

  it('validates ranges with clear messages', () => {
    const text = 'hello world';
    const enc = tok.encode(text);
    assert.deepEqual(validateRange({ start: 6, end: 11 }, text.length, enc, '--needle-range'), [6, 7, 8, 9, 10]);
    assert.throws(() => validateRange({ start: 5, end: 5 }, text.length, enc, '--needle-range'), /--needle-range 5:5: start must be less than end/);
    assert.throws(() => validateRange({ start: 7, end: 3 }, text.length, enc, '--query-range'), /--query-range 7:3: start must be less than end/);
    assert.throws(() => validateRange({ start: 3, end: 12 }, text.length, enc, '--query-range'), /end is past the end of the text \(length 11/);
    assert.throws(() => validateRange({ start: -1, end: 2 }, text.length, enc, '--q'), /non-negative integers/);
    // A range inside the text that no token overlaps (possible with tokenizers that drop text).
    const gappy = { starts: [0, 5], ends: [2, 6] };
    assert.throws(() => validateRange({ start: 2, end: 5 }, 6, gappy, '--needle-range'), /covers no token/);
  });

  it('defaults the query to the last non-blank line, trimmed', () => {
    const pick = (t: string) => {
      const r = defaultQueryRange(t);
      return t.slice(r.start, r.end);
    };
    assert.equal(pick('context\nWhat is x?'), 'What is x?');
    assert.equal(pick('context\r\n  What is x?  \r\n\r\n \t\n'), 'What is x?');
    assert.equal(pick('one\rtwo\r'), 'two');
    assert.equal(pick('single'), 'single');
    assert.equal(pick('\u3000全角\u3000'), '全角');
    const t = 'ab\n  cd ef \n';
    assert.deepEqual(defaultQueryRange(t), { start: 5, end: 10 });
    assert.throws(() => defaultQueryRange(' \n\t\r\n '), /no non-blank line/);
  });
});

describe('attention reductions', () => {
  it('reads the graph\'s mean query attention per layer and head, and sums the needle mass', () => {
    // L=1, H=2, T=3: the graph's output, already averaged over the query rows.
    const attn = Float32Array.from([0.75, 0.25, 0, 0.6, 0.15, 0.25]);
    const qa = queryAttentionOf(attn, 1, 2, 3);
    assert.deepEqual(qa, [[[0.75, 0.25, 0], [0.6000000238418579, 0.15000000596046448, 0.25]]]);
    const m = needleMass(qa, [1, 2]);
    assert.equal(m[0][0], 0.25);
    assert.ok(Math.abs(m[0][1] - 0.4) < 1e-7);
    assert.throws(() => queryAttentionOf(attn, 1, 2, 4), /expected L\*H\*T = 1\*2\*4/);
  });

  it('reshapes positions and ranks heads', () => {
    const p = reshapePositions(Float32Array.from([1, 2, 3, 4, 5, 6]), 1, 2, 3);
    assert.deepEqual(p, [[[1, 2, 3], [4, 5, 6]]]);
    assert.throws(() => reshapePositions(new Float32Array(5), 1, 2, 3), /expected R\*H\*T/);
    assert.deepEqual(topHeads([[0.1, 0.9], [0.5, 0.2]], 2), [
      { layer: 0, head: 1, value: 0.9 },
      { layer: 1, head: 0, value: 0.5 },
    ]);
  });
});

describe('buildAnalysis', () => {
  const text = 'The code is 4721.\nFiller 你好 👋\nWhat is the code?\n';
  const enc = tok.encode(text);
  const needleStart = text.indexOf('4721');
  const inf = info();

  it('builds the contract from a hand-made RunResult', () => {
    const plan = planAnalysis(text, enc, { needleRange: { start: needleStart, end: needleStart + 4 } });
    assert.equal(plan.query.defaulted, true);
    assert.equal(text.slice(plan.query.start, plan.query.end), 'What is the code?');
    const result = fakeResult(inf, enc.ids.length, plan.query.tokens);
    const a = buildAnalysis({
      text,
      enc,
      info: inf,
      result,
      plan,
      integerPositions: false,
      modelExtra: { device: 'cpu' },
      extra: { schema: 'should not win', timings: { runMs: 1 } },
    });
    const T = enc.ids.length;
    assert.equal(a.schema, ANALYSIS_SCHEMA);
    assert.deepEqual(a.model, { name: 'hand-made', numLayers: 2, numHeads: 3, repoLayers: [1], device: 'cpu' });
    assert.deepEqual(Object.keys(a).slice(0, 2), ['schema', 'model']);
    assert.deepEqual(a.timings, { runMs: 1 });
    assert.equal(a.text.length, text.length);
    assert.equal(a.tokens.length, T);
    assert.deepEqual(a.tokens[0], { id: 84, start: 0, end: 1 });
    // positions: [R][H][T] with the traceable values.
    assert.equal(a.positions.length, 1);
    assert.equal(a.positions[0].length, 3);
    assert.equal(a.positions[0][2][8], 0 * 100 + 2 * 10 + 8 / 4);
    // query tokens are exactly the tokens of the last line.
    const qStart = text.lastIndexOf('What');
    assert.deepEqual(a.query.tokens, Array.from({ length: 17 }, (_, i) => enc.starts.indexOf(qStart) + i));
    // queryAttention: [L][H][T], each mean row sums to 1 and is zero after the last query token.
    assert.equal(a.queryAttention.length, 2);
    const lastQ = a.query.tokens[a.query.tokens.length - 1];
    for (const perHead of a.queryAttention) {
      assert.equal(perHead.length, 3);
      for (const row of perHead) {
        assert.equal(row.length, T);
        assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-5);
        assert.ok(row.slice(lastQ + 1).every((v) => v === 0));
      }
    }
    // Recompute one cell by hand (the right layer, head and token are read): l=1, h=2, t=0 is the
    // mean over query rows of 1+1+2 / rowsum (held as float32 by the graph's output).
    const expect =
      a.query.tokens.reduce((s, qi) => {
        let sum = 0;
        for (let t = 0; t <= qi; t++) sum += t + 4;
        return s + 4 / sum;
      }, 0) / a.query.tokens.length;
    assert.ok(Math.abs(a.queryAttention[1][2][0] - expect) < 1e-7);
    // needle
    assert.deepEqual(a.needle, { start: needleStart, end: needleStart + 4, tokens: [needleStart, needleStart + 1, needleStart + 2, needleStart + 3] });
    for (let l = 0; l < 2; l++)
      for (let h = 0; h < 3; h++) {
        const sum: number = a.needle!.tokens.reduce((s: number, t: number) => s + a.queryAttention[l][h][t], 0);
        assert.equal(a.needleMass![l][h], sum);
        assert.ok(sum > 0 && sum < 1);
      }
  });

  it('leaves needle fields out without a needle, and honours an explicit query', () => {
    const plan = planAnalysis(text, enc, { queryRange: { start: 0, end: 3 } });
    assert.equal(plan.query.defaulted, false);
    assert.deepEqual(plan.query.tokens, [0, 1, 2]);
    const a = buildAnalysis({
      text,
      enc,
      info: inf,
      result: fakeResult(inf, enc.ids.length, plan.query.tokens),
      plan,
      integerPositions: true,
      extra: { needleMass: 'not a contract value', warnings: [] },
    });
    assert.deepEqual(a.warnings, []);
    assert.equal(a.needle, undefined);
    assert.equal(a.needleMass, undefined);
    assert.equal(a.integerPositions, true);
    // With a 1-token query the row is the model's own row: exactly causal.
    const one = planAnalysis(text, enc, { queryRange: { start: 1, end: 2 } });
    const b = buildAnalysis({ text, enc, info: inf, result: fakeResult(inf, enc.ids.length, one.query.tokens), plan: one, integerPositions: false });
    assert.deepEqual(b.queryAttention[0][0].slice(2), new Array(enc.ids.length - 2).fill(0));
  });

  it('refuses results that do not match the request', () => {
    const plan = planAnalysis(text, enc, {});
    const r = fakeResult(inf, enc.ids.length, plan.query.tokens);
    assert.throws(() => buildAnalysis({ text, enc, info: inf, result: { ...r, T: r.T - 1 }, plan, integerPositions: false }), /T=/);
    assert.throws(() => buildAnalysis({ text, enc, info: inf, result: { ...r, Q: r.Q + 1 }, plan, integerPositions: false }), /Q=/);
    assert.throws(() => buildAnalysis({ text, enc, info: info({ numHeads: 4 }), result: r, plan, integerPositions: false }), /expected/);
  });

  it('plans with clear errors for empty text and bad ranges', () => {
    assert.throws(() => planAnalysis('', tok.encode(''), {}), /the text is empty/);
    assert.throws(() => planAnalysis(text, enc, { needleRange: { start: 0, end: 999 } }), /--needle-range 0:999: end is past the end/);
    assert.throws(() => planAnalysis('  \n ', tok.encode('  \n '), {}), /no non-blank line/);
  });
});
