import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  AnalysisError,
  buildAnalysis,
  chooseNeedle,
  chooseQuery,
  findNeedleSentence,
  planTargets,
  recentRange,
  sentencesOf,
  splitAttention,
  splitDelta,
  splitTotals,
  wordsOf,
} from '../src/engine/analysis';
import type { ModelInfo, RunResult } from '../src/engine/model/types';
import { ByteTokenizer } from '../src/engine/tokenizer/bytes';

const ROOT = path.resolve(__dirname, '..', '..');
const tok = new ByteTokenizer(260);

function info(over: Partial<ModelInfo> = {}): ModelInfo {
  return {
    name: 'hand-made',
    numLayers: 2,
    numHeads: 2,
    headDim: 8,
    hiddenSize: 16,
    vocabSize: 260,
    repoLayers: [1],
    peMode: 'swigluex_multihead',
    maxPositions: 4096,
    storage: 'fp32',
    converterVersion: 'test',
    ...over,
  };
}

/**
 * Causal rows whose weight on token t is ∝ (t + 1 + l + h + bias·[t is a needle token]); `bias`
 * lets a second run differ in a known direction. Positions come from `pos(r, h, t)`.
 */
function fakeRun(inf: ModelInfo, T: number, queryRows: number[], needle: number[], bias: number, pos: (r: number, h: number, t: number) => number): RunResult {
  const L = inf.numLayers, H = inf.numHeads, R = inf.repoLayers.length, Q = queryRows.length;
  const isNeedle = new Set(needle);
  // The graph's output: the rows averaged, [L,H,T].
  const attention = new Float32Array(L * H * T);
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++)
      queryRows.forEach((qi) => {
        const w = (t: number) => t + 1 + l + h + (isNeedle.has(t) ? bias : 0);
        let sum = 0;
        for (let t = 0; t <= qi; t++) sum += w(t);
        for (let t = 0; t <= qi; t++) attention[(l * H + h) * T + t] += w(t) / sum / Q;
      });
  const positions = new Float32Array(R * H * T);
  for (let r = 0; r < R; r++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) positions[(r * H + h) * T + t] = pos(r, h, t);
  return { positions, attention, lastLogits: new Float32Array(inf.vocabSize), T, Q };
}

const sliceOf = (text: string, r: { start: number; end: number } | undefined) => (r ? text.slice(r.start, r.end) : undefined);

describe('needle split', () => {
  it('splits each row into needle, recent and rest by hand', () => {
    // One layer, one head, T = 8, query = token 7, K = 2: recent = {5, 6, 7}, needle = {1, 2}.
    const row = [0.05, 0.1, 0.2, 0.05, 0.1, 0.15, 0.15, 0.2];
    const recent = recentRange([7], 2);
    assert.deepEqual(recent, { start: 5, end: 8 });
    const g = splitAttention([[row]], [1, 2], recent);
    assert.ok(Math.abs(g.needle[0][0] - 0.3) < 1e-12);
    assert.ok(Math.abs(g.recent[0][0] - 0.5) < 1e-12);
    assert.ok(Math.abs(g.rest[0][0] - 0.2) < 1e-12);
    // A needle token inside the recent window counts as needle, once.
    const inside = splitAttention([[row]], [6], recent);
    assert.ok(Math.abs(inside.needle[0][0] - 0.15) < 1e-12);
    assert.ok(Math.abs(inside.recent[0][0] - 0.35) < 1e-12);
    assert.ok(Math.abs(inside.rest[0][0] - 0.5) < 1e-12);
    // The window is clipped at token 0 and covers every query token.
    assert.deepEqual(recentRange([3, 4, 5], 32), { start: 0, end: 6 });
    assert.deepEqual(recentRange([40, 41], 32), { start: 8, end: 42 });
    assert.throws(() => recentRange([1], -1), /window/);
  });

  it('normalises by the row total so the parts sum to 1', () => {
    const g = splitAttention([[[0.2, 0.2, 0.2, 0.2]]], [0], { start: 3, end: 4 }); // total 0.8
    assert.ok(Math.abs(g.needle[0][0] - 0.25) < 1e-12);
    assert.ok(Math.abs(g.needle[0][0] + g.recent[0][0] + g.rest[0][0] - 1) < 1e-12);
  });

  it('delta is learned − integer and totals are means over heads and cells', () => {
    const a = { needle: [[0.5, 0.3], [0.1, 0.2]], recent: [[0.2, 0.3], [0.4, 0.4]], rest: [[0.3, 0.4], [0.5, 0.4]] };
    const b = { needle: [[0.1, 0.1], [0.1, 0.1]], recent: [[0.4, 0.4], [0.4, 0.4]], rest: [[0.5, 0.5], [0.5, 0.5]] };
    const d = splitDelta(a, b);
    assert.deepEqual(d.needle, [[0.5 - 0.1, 0.3 - 0.1], [0.1 - 0.1, 0.2 - 0.1]]);
    assert.deepEqual(d.rest, [[0.3 - 0.5, 0.4 - 0.5], [0.5 - 0.5, 0.4 - 0.5]]);
    const t = splitTotals(a);
    assert.deepEqual(t.perLayer.needle, [0.4, 0.15000000000000002]);
    assert.ok(Math.abs(t.overall.needle - 0.275) < 1e-12);
    assert.ok(Math.abs(t.overall.recent - 0.325) < 1e-12);
  });
});

describe('buildAnalysis additions', () => {
  const text = 'Intro line here.\nThe vault code is 4721. Keep it.\nMore filler text, and more.\nWhat is the vault code?\n';
  const enc = tok.encode(text);
  const T = enc.ids.length;
  const inf = info();
  const plan = planTargets(text, enc, {});
  const needle = plan.needle!.tokens;
  const learned = fakeRun(inf, T, plan.query.tokens, needle, 50, (_r, h, t) => (h === 0 ? Math.floor(t / 16) * 4 : t * 0.5));
  const integer = fakeRun(inf, T, plan.query.tokens, needle, 0, (_r, _h, t) => t);

  it('chooses the question and its needle sentence, and says how', () => {
    assert.equal(sliceOf(text, plan.query), 'What is the vault code?');
    assert.equal(plan.query.source, 'auto');
    assert.equal(plan.query.defaulted, true);
    assert.equal(sliceOf(text, plan.needle), 'The vault code is 4721.');
    assert.equal(plan.needle!.source, 'auto');
    assert.match(plan.needle!.note!, /vault code/);
  });

  it('gives learned, integer and delta splits that sum to 1, with learned from the learned run', () => {
    const a = buildAnalysis({ text, enc, info: inf, result: learned, ablation: integer, plan, integerPositions: false });
    const s = a.needleSplit!;
    assert.equal(s.recentWindow, 32);
    assert.deepEqual(s.recentTokens, { start: plan.query.tokens[0] - 32, end: plan.query.tokens[plan.query.tokens.length - 1] + 1 });
    for (const side of [s.learned, s.integer!]) {
      for (let l = 0; l < 2; l++)
        for (let h = 0; h < 2; h++) {
          const total = side.needle[l][h] + side.recent[l][h] + side.rest[l][h];
          assert.ok(Math.abs(total - 1) < 1e-12, `sum ${total}`);
          assert.ok(side.needle[l][h] > 0 && side.recent[l][h] > 0 && side.rest[l][h] > 0);
        }
    }
    // learned.needle is needleMass up to the float32 row total.
    for (let l = 0; l < 2; l++) for (let h = 0; h < 2; h++) assert.ok(Math.abs(s.learned.needle[l][h] - a.needleMass![l][h]) < 1e-6);
    // The learned run puts extra weight on the needle: positive delta, exactly learned − integer.
    for (let l = 0; l < 2; l++)
      for (let h = 0; h < 2; h++) {
        assert.ok(s.delta!.needle[l][h] > 0.05);
        assert.equal(s.delta!.needle[l][h], s.learned.needle[l][h] - s.integer!.needle[l][h]);
        assert.equal(s.delta!.recent[l][h], s.learned.recent[l][h] - s.integer!.recent[l][h]);
        assert.equal(s.delta!.rest[l][h], s.learned.rest[l][h] - s.integer!.rest[l][h]);
      }
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    assert.ok(Math.abs(s.totals.learned.overall.needle - mean(s.learned.needle.flat())) < 1e-15);
    assert.deepEqual(s.totals.delta!.perLayer.needle, s.delta!.needle.map(mean));
    assert.ok(Math.abs(s.totals.learned.overall.needle + s.totals.learned.overall.recent + s.totals.learned.overall.rest - 1) < 1e-12);
  });

  it('under --integer-positions the main run is the integer side', () => {
    const a = buildAnalysis({ text, enc, info: inf, result: integer, ablation: learned, plan, integerPositions: true });
    const b = buildAnalysis({ text, enc, info: inf, result: learned, ablation: integer, plan, integerPositions: false });
    assert.deepEqual(a.needleSplit!.learned, b.needleSplit!.learned);
    assert.deepEqual(a.needleSplit!.integer, b.needleSplit!.integer);
    // Without the other run: only the learned side, and nothing at all when the main run is integer.
    const c = buildAnalysis({ text, enc, info: inf, result: learned, plan, integerPositions: false, recentWindow: 4 });
    assert.equal(c.needleSplit!.integer, undefined);
    assert.equal(c.needleSplit!.delta, undefined);
    assert.equal(c.needleSplit!.recentWindow, 4);
    assert.equal(buildAnalysis({ text, enc, info: inf, result: integer, plan, integerPositions: true }).needleSplit, undefined);
    assert.throws(() => buildAnalysis({ text, enc, info: inf, result: learned, ablation: { ...integer, T: T - 1 }, plan, integerPositions: false }), /ablation run/);
  });

  it('summarises each head curve: chunks, plateaus, jumps, focus', () => {
    const a = buildAnalysis({ text, enc, info: inf, result: learned, plan, integerPositions: false });
    const c = a.curves!;
    assert.equal(c.heads.length, 1);
    assert.equal(c.heads[0].length, 2);
    const stairs = c.heads[0][0];
    const ramp = c.heads[0][1];
    const full = Math.floor(T / 16);
    // Head 0: steps of 4 every 16 tokens → every full chunk Constant, a jump at each multiple of 16.
    assert.equal(stairs.chunks.labels.slice(0, full), 'C'.repeat(full));
    assert.deepEqual(stairs.jumps.steps.map((j) => j[0]), Array.from({ length: Math.floor((T - 1) / 16) }, (_, k) => (k + 1) * 16));
    assert.ok(stairs.jumps.steps.every((j) => j[1] === 4));
    assert.ok(stairs.plateaus.spans.length >= full);
    assert.deepEqual(stairs.plateaus.spans[0], [0, 16, 0]);
    assert.equal(stairs.range, Math.floor((T - 1) / 16) * 4);
    // Head 1: a straight ramp → Mono up everywhere, no plateau, no jump.
    assert.match(ramp.chunks.labels, /^U+$/);
    assert.equal(ramp.chunks.fractions.mono, 1);
    assert.deepEqual(ramp.plateaus.spans, []);
    assert.deepEqual(ramp.jumps.steps, []);
    assert.ok(Math.abs(ramp.range - (T - 1) * 0.5) < 1e-9);
    assert.ok(ramp.focus.lo < 0 && ramp.focus.hi > ramp.max);
    assert.ok(Math.abs(c.layers[0].fractions.constant - stairs.chunks.fractions.constant / 2) < 1e-12);
    assert.equal(c.options.chunkSize, 16);
  });
});

describe('structure in the analysis', () => {
  const text = 'Scores:\n| name | score |\n|---|---|\n| Ann | 71 |\n| Bob | 64 |\n| Cy | 88 |\nWho has 64?\n';
  const enc = tok.encode(text);
  const T = enc.ids.length;
  const inf = info();
  const plan = planTargets(text, enc, { needleText: 'Bob' });
  // Positions: RePo layer 0, head 0 = token index; head 1 = the column (so columns sit together).
  const st = { col: new Map<number, number>() };
  for (let t = 0; t < T; t++) {
    const line = text.slice(0, enc.starts[t]).split('\n').length - 1;
    const before = text.slice(text.lastIndexOf('\n', enc.starts[t] - 1) + 1, enc.starts[t]);
    if (line >= 3 && line <= 5) st.col.set(t, (before.match(/\|/g) ?? []).length);
  }
  const run = fakeRun(inf, T, plan.query.tokens, plan.needle!.tokens, 0, (_r, h, t) => (h === 0 ? t : (st.col.get(t) ?? 0) * 10));
  const a = buildAnalysis({ text, enc, info: inf, result: run, plan, integerPositions: false });

  it('maps tokens to the table cells and summarises cells', () => {
    const s = a.structure!;
    assert.equal(s.tables.length, 1);
    const tb = s.tables[0];
    assert.equal(tb.kind, 'markdown');
    assert.equal(tb.rows, 3);
    assert.equal(tb.cols, 2);
    assert.equal(plan.needle!.source, 'text');
    const bob = text.indexOf('Bob');
    assert.equal(s.tokens.table[bob], 0);
    assert.equal(s.tokens.row[bob], 1);
    assert.equal(s.tokens.col[bob], 0);
    assert.equal(s.tokens.segment.length, T);
    const cell = tb.cells[s.tokens.cell[bob]];
    assert.equal(cell.text, 'Bob');
    assert.equal(cell.tokens, 3);
    // Head 0 positions are token indices: the cell's mean is the mean of its token indices.
    assert.equal(cell.positions!.mean[0][0], bob + 1);
    assert.equal(cell.positions!.min[0][0], bob);
    assert.equal(cell.positions!.max[0][0], bob + 2);
    // Head 1 puts every cell of a column at one position: column togetherness 0; head 0 does not.
    assert.equal(tb.togetherness.columns[0][1], 0);
    assert.ok((tb.togetherness.columns[0][0] as number) > 0.5);
    assert.ok(tb.togetherness.columnsChance! > 0);
  });

  it('stays JSON-clean (no NaN) and within O(R·H·T)', () => {
    const json = JSON.stringify({ curves: a.curves, structure: a.structure, needleSplit: a.needleSplit });
    assert.doesNotMatch(json, /NaN|Infinity/);
    const numbers = (json.match(/-?\d+(\.\d+)?(e[-+]?\d+)?/g) ?? []).length;
    assert.ok(numbers < 40 * inf.repoLayers.length * inf.numHeads * T, `${numbers} numbers`);
  });
});

describe('automatic query', () => {
  const q = (text: string, o = {}) => {
    const c = chooseQuery(text, o);
    return [text.slice(c.start, c.end), c.source];
  };

  it('takes the question line', () => {
    assert.deepEqual(q('Some context.\nWhat is x?'), ['What is x?', 'auto']);
    assert.deepEqual(q('ctx\r\n  Where is the key?  \r\n\r\n'), ['Where is the key?', 'auto']);
    assert.deepEqual(q('ctx\n问题：钥匙在哪里？\n'), ['问题：钥匙在哪里？', 'auto']);
  });

  it('takes the line before a trailing answer cue, with the cue', () => {
    assert.deepEqual(q('Doc.\nQuestion: What is x?\nAnswer:\n'), ['Question: What is x?\nAnswer:', 'auto']);
    assert.deepEqual(q('Doc.\nQ: 2 + 2\n\nA:'), ['Q: 2 + 2\n\nA:', 'auto']);
  });

  it('finds a question followed by an instruction, but not one deep in the context', () => {
    assert.deepEqual(q('Text.\nWhat colour is the sky?\nAnswer in one word.'), ['What colour is the sky?', 'auto']);
    assert.deepEqual(q('Why? Because.\nline two\nline three\nline four\nSummarise the text.'), ['Summarise the text.', 'default']);
    assert.deepEqual(q('Just a statement.'), ['Just a statement.', 'default']);
    // A '?' inside a word or URL is not a question mark ending a sentence.
    assert.deepEqual(q('See http://x.org/?a=1 for more'), ['See http://x.org/?a=1 for more', 'default']);
  });

  it('handles a RULER prompt whose last line holds the question and the answer prefix', () => {
    const last = 'What are all the special magic numbers for wise-tiger mentioned in the provided text? The special magic numbers for wise-tiger mentioned in the provided text are';
    assert.deepEqual(q(`Some text.\nMore text.\n${last}`), [last, 'auto']);
  });

  it('honours --query-range and --query-text (last occurrence), with clear errors', () => {
    assert.deepEqual(q('abc abc', { range: { start: 0, end: 3 } }), ['abc', 'range']);
    const c = chooseQuery('abc x abc', { text: 'abc' });
    assert.deepEqual([c.start, c.end, c.source], [6, 9, 'text']);
    assert.throws(() => chooseQuery('abc', { text: 'zzz' }), (e: Error) => e instanceof AnalysisError && /--query-text "zzz" does not occur/.test(e.message));
    assert.throws(() => chooseQuery('abc', { text: '' }), /--query-text is empty/);
    assert.throws(() => chooseQuery('abc', { text: 'a', range: { start: 0, end: 1 } }), /either --query-range or --query-text/);
    assert.throws(() => chooseQuery(' \n\t'), /no non-blank line/);
  });
});

/** A RULER-style NIAH prompt: instructions, a noise haystack, one needle and two distractor needles. */
function rulerPrompt(key: string, others: string[]): { text: string; needle: string } {
  const noise = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ';
  const needle = `One of the special magic numbers for ${key} is: 7391244.`;
  const distract = others.map((k, i) => `One of the special magic numbers for ${k} is: ${1000003 + i * 7919}.`);
  const body = [noise.repeat(6), distract[0], noise.repeat(5), needle, noise.repeat(4), distract[1], noise.repeat(3)].join(' ');
  const text =
    'Some special magic numbers are hidden within the following text. Make sure to memorize it. I will quiz you about the numbers afterwards.\n' +
    body +
    '\n' +
    `What are all the special magic numbers for ${key} mentioned in the provided text? The special magic numbers for ${key} mentioned in the provided text are`;
  return { text, needle };
}

describe('automatic needle', () => {
  it('finds the needle sentence of a RULER prompt among distractors', () => {
    for (const [key, others] of [
      ['determined-oak', ['wise-tiger', 'quiet-harbor']],
      ['5e1c6a27-1d3b-4f7e-9a55-2c0f1b8e7d44', ['0a1b2c3d-aaaa-bbbb-cccc-111122223333', '99999999-8888-7777-6666-555544443333']],
      ['oak', ['elm', 'ash']],
    ] as [string, string[]][]) {
      const { text, needle } = rulerPrompt(key, others);
      const query = chooseQuery(text);
      const found = chooseNeedle(text, query);
      assert.equal(sliceOf(text, found), needle, key);
      assert.equal(found!.source, 'auto');
    }
  });

  it('finds the needle of the RAG example (and of the singular question form)', () => {
    const text = fs.readFileSync(path.join(ROOT, 'examples', 'rag-prompt.txt'), 'utf8');
    const plan = planTargets(text, tok.encode(text), {});
    assert.equal(sliceOf(text, plan.query), 'What is the special magic number for proud-falcon?\nAnswer:');
    assert.equal(sliceOf(text, plan.needle), 'The special magic number for proud-falcon is 730155.');
    // Rare words outweigh a longer common phrase: "the magic number for" is in two distractors.
    const rare = 'The magic number for Oslo is 12. The magic number for Lima is 7. Proud falcon holds 99.\nWhat is the magic number for proud falcon?';
    assert.equal(sliceOf(rare, findNeedleSentence(rare, chooseQuery(rare))), 'Proud falcon holds 99.');
    const sing = 'The magic numbers for Oslo is 12.\nThe magic number for Lima is 7.\nWhat is the magic number for Oslo?';
    assert.equal(sliceOf(sing, findNeedleSentence(sing, chooseQuery(sing))), 'The magic numbers for Oslo is 12.');
  });

  it('takes the data row of a table, not its header', () => {
    const text = fs.readFileSync(path.join(ROOT, 'examples', 'table-prompt.md'), 'utf8');
    const plan = planTargets(text, tok.encode(text), {});
    assert.equal(sliceOf(text, plan.query), 'What is the score of Emil?\nAnswer:');
    assert.equal(sliceOf(text, plan.needle), '| Emil | Quito | white | 92 | 1969 |');
  });

  it('finds nothing when no rare word is shared, and respects explicit needles', () => {
    const text = 'The sky is blue. Grass grows.\nWhat is the answer?';
    assert.equal(findNeedleSentence(text, chooseQuery(text)), undefined);
    assert.equal(chooseNeedle(text, chooseQuery(text), { auto: false }), undefined);
    const t2 = 'code A. code B. code A.\nWhich code?';
    const n = chooseNeedle(t2, chooseQuery(t2), { text: 'code A' })!;
    assert.deepEqual([n.start, n.end, n.source], [0, 6, 'text']);
    assert.throws(() => chooseNeedle(t2, chooseQuery(t2), { text: 'nope' }), /--needle-text "nope" does not occur/);
    assert.throws(() => chooseNeedle(t2, chooseQuery(t2), { text: 'A', range: { start: 0, end: 1 } }), /either --needle-range or --needle-text/);
  });

  it('splits words and sentences as documented', () => {
    assert.deepEqual(wordsOf('Magic numbers, class: 3.14 你好').map((w) => w.key), ['magic', 'number', 'class', '3', '14', '你', '好']);
    const text = 'One. Two! Three? Four 3.14 five\nSix';
    assert.deepEqual(sentencesOf(text).map((r) => text.slice(r.start, r.end)), ['One.', 'Two!', 'Three?', 'Four 3.14 five', 'Six']);
  });
});
