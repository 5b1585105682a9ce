import assert from 'node:assert/strict';
import test from 'node:test';
import {
  Table,
  analyzeStructure,
  assignByOverlap,
  cellPositionStats,
  findSegments,
  findTables,
  groupPositionStats,
  mapTokens,
  segmentPositionStats,
  splitLines,
  tableTogetherness,
} from '../src/engine/structure';

/** Offsets of the only occurrence of `needle` (fails when it is missing or repeated). */
function at(text: string, needle: string): [number, number] {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, `"${needle}" not in text`);
  assert.equal(text.indexOf(needle, i + 1), -1, `"${needle}" occurs twice`);
  return [i, i + needle.length];
}

const cellsOf = (t: Table) => t.cells.map((c) => [c.row, c.col, c.text]);

test('splitLines handles LF, CRLF and lone CR', () => {
  assert.deepEqual(splitLines('a\r\nbc\rd\n'), [
    { start: 0, end: 1, next: 3 },
    { start: 3, end: 5, next: 6 },
    { start: 6, end: 7, next: 8 },
    { start: 8, end: 8, next: 8 },
  ]);
});

test('markdown table with CRLF line endings, CJK and emoji cells: exact offsets', () => {
  const text =
    'Data:\r\n\r\n| Name | 城市 | Score |\r\n|------|:----:|------:|\r\n| 李雷 | 北京 | 10 |\r\n| Zoë 😀 | Paris | 20 |\r\n\r\nQuestion: average?';
  const tables = findTables(text);
  assert.equal(tables.length, 1);
  const t = tables[0];
  assert.equal(t.kind, 'markdown');
  assert.deepEqual(t.header, ['Name', '城市', 'Score']);
  assert.equal(t.rows, 2);
  assert.equal(t.cols, 3);
  assert.equal(t.start, at(text, '| Name')[0]);
  assert.equal(t.end, at(text, '| 20 |')[1]);
  assert.deepEqual(cellsOf(t), [
    [-1, 0, 'Name'], [-1, 1, '城市'], [-1, 2, 'Score'],
    [0, 0, '李雷'], [0, 1, '北京'], [0, 2, '10'],
    [1, 0, 'Zoë 😀'], [1, 1, 'Paris'], [1, 2, '20'],
  ]);
  for (const c of t.cells) {
    assert.deepEqual([c.start, c.end], at(text, c.text), `cell ${c.text}`);
    assert.equal(text.slice(c.start, c.end), c.text);
  }
  // Hand-counted: '李雷' follows 'Data:\r\n\r\n' (9), the header row (21 + CRLF), the delimiter row (23 + CRLF) and '| '.
  assert.deepEqual([t.cells[3].start, t.cells[3].end], [9 + 23 + 25 + 2, 9 + 23 + 25 + 4]);
  // The emoji is a surrogate pair: 'Zoë 😀' is 6 code units.
  assert.equal(t.cells[6].end - t.cells[6].start, 6);
});

test('markdown: escaped pipes, empty cells, no outer pipes, and a bare --- is not a table', () => {
  const text = 'a | b\n--- | ---\nx \\| y | \n| | z |\n\nplain\n---\ntext';
  const [t] = findTables(text);
  assert.equal(findTables(text).length, 1);
  assert.deepEqual(cellsOf(t), [[-1, 0, 'a'], [-1, 1, 'b'], [0, 0, 'x | y'], [1, 0, ''], [1, 1, 'z']]);
  assert.equal(t.cells[2].start, text.indexOf('x \\|'));
  assert.equal(t.cells[2].end, text.indexOf(' y') + 2);
  // The trailing pipe closes the row rather than opening an empty cell (as in GitHub markdown).
  assert.equal(t.cols, 2);
  assert.equal(t.end, text.indexOf('z |') + 3);
  // A header must have as many cells as the delimiter row.
  assert.equal(findTables('a | b | c\n---|---\n1|2').length, 0);
});

test('CSV with quoted commas and escaped quotes', () => {
  const text = 'Table:\nid,name,note\n1,"Smith, John","said ""hi"""\n2,Lee,plain\n\nThe end.';
  const tables = findTables(text);
  assert.equal(tables.length, 1);
  const t = tables[0];
  assert.equal(t.kind, 'csv');
  assert.equal(t.delimiter, ',');
  assert.deepEqual(t.header, ['id', 'name', 'note']);
  assert.equal(t.rows, 2);
  assert.deepEqual(cellsOf(t), [
    [-1, 0, 'id'], [-1, 1, 'name'], [-1, 2, 'note'],
    [0, 0, '1'], [0, 1, 'Smith, John'], [0, 2, 'said "hi"'],
    [1, 0, '2'], [1, 1, 'Lee'], [1, 2, 'plain'],
  ]);
  // A quoted cell spans the inside of its quotes.
  assert.deepEqual([t.cells[4].start, t.cells[4].end], at(text, 'Smith, John'));
  assert.deepEqual([t.cells[5].start, t.cells[5].end], at(text, 'said ""hi""'));
  assert.deepEqual([t.start, t.end], [text.indexOf('id,'), text.indexOf('plain') + 5]);
});

test('TSV, semicolons, headerless numeric blocks, and prose that is not CSV', () => {
  const tsv = findTables('city\tpop\r\nOslo\t0.7\r\nBergen\t0.3');
  assert.equal(tsv.length, 1);
  assert.equal(tsv[0].kind, 'tsv');
  assert.deepEqual(tsv[0].header, ['city', 'pop']);
  assert.equal(tsv[0].cells[5].text, '0.3');
  const semi = findTables('a;b;c\n1;2;3');
  assert.equal(semi[0].delimiter, ';');
  const numeric = findTables('1,2\n3,4\n5,6');
  assert.deepEqual(numeric[0].header, []);
  assert.equal(numeric[0].rows, 3);
  assert.deepEqual(numeric[0].cells[0], { row: 0, col: 0, start: 0, end: 1, text: '1' });
  // Same comma count on two prose lines: sentence breaks inside a field rule it out.
  assert.equal(findTables('Hello, world. This is fine.\nAnother line, with one comma. Yes.').length, 0);
  // One line alone is not a table; an unclosed quote breaks the block.
  assert.equal(findTables('a,b').length, 0);
  assert.equal(findTables('a,b\n"x,y\nc,d').length, 0);
});

test('JSON rows: an array of flat objects and JSON lines', () => {
  const text = 'Rows: [{"name": "Ann", "age": 31}, {"age": 7, "name": "Bo\\"b", "x": null}] done\n{"k": 1}\n{"k": 2, "j": "q"},\n';
  const tables = findTables(text);
  assert.deepEqual(tables.map((t) => t.kind), ['json', 'jsonl']);
  const [arr, lines] = tables;
  assert.equal(arr.start, text.indexOf('['));
  assert.equal(arr.end, text.indexOf(' done'));
  assert.deepEqual(arr.header, ['name', 'age', 'x']);
  assert.equal(arr.rows, 2);
  assert.deepEqual(cellsOf(arr), [[0, 0, 'Ann'], [0, 1, '31'], [1, 1, '7'], [1, 0, 'Bo"b'], [1, 2, 'null']]);
  assert.deepEqual([arr.cells[0].start, arr.cells[0].end], at(text, 'Ann'));
  assert.deepEqual([arr.cells[3].start, arr.cells[3].end], at(text, 'Bo\\"b'));
  assert.deepEqual([arr.cells[1].start, arr.cells[1].end], at(text, '31'));
  assert.deepEqual(lines.header, ['k', 'j']);
  assert.deepEqual(cellsOf(lines), [[0, 0, '1'], [1, 0, '2'], [1, 1, 'q']]);
  assert.equal(lines.end, text.indexOf('},\n') + 1);
  // Nested values are not flat rows; broken JSON is simply not a table.
  assert.equal(findTables('[{"a": {"b": 1}}, {"a": 2}]').length, 0);
  assert.equal(findTables('[{"a": 1}, {"a": ').length, 0);
  assert.equal(findTables('{"a": 1}').length, 0);
});

test('HTML table: thead header, omitted closing tags, entities, nested table kept in its cell', () => {
  const text =
    '<table>\n<thead><tr><th>Team</th><th>Score</th></tr></thead>\n<tr><td> Reds </td><td><b>3</b> &amp; 1</td></tr>\n<tr><td>Blues<td><table><tr><td>in</td></tr></table>\n</table>';
  const tables = findTables(text);
  assert.equal(tables.length, 1);
  const t = tables[0];
  assert.equal(t.kind, 'html');
  assert.deepEqual([t.start, t.end], [0, text.length]);
  assert.deepEqual(t.header, ['Team', 'Score']);
  assert.equal(t.rows, 2);
  assert.deepEqual(cellsOf(t), [[-1, 0, 'Team'], [-1, 1, 'Score'], [0, 0, 'Reds'], [0, 1, '3 & 1'], [1, 0, 'Blues'], [1, 1, 'in']]);
  assert.deepEqual([t.cells[2].start, t.cells[2].end], at(text, 'Reds'));
  assert.deepEqual([t.cells[3].start, t.cells[3].end], at(text, '<b>3</b> &amp; 1'));
  const inner = t.cells[5];
  assert.deepEqual([inner.start, inner.end], at(text, '<table><tr><td>in</td></tr></table>'));
  // Without <th> or <thead> there is no header row.
  const plain = findTables('<TABLE><TR><TD>a<i>x</i></TD><TD>b<br>&#x4E2D;&lt;</TD></TR></TABLE>')[0];
  assert.deepEqual(plain.header, []);
  assert.deepEqual(cellsOf(plain), [[0, 0, 'ax'], [0, 1, 'b 中<']]);
});

test('RAG prompt with three numbered documents and a question', () => {
  const text =
    'Answer using the documents.\n\nDocument 1: Paris\nParis is the capital.\n\nIt has museums.\n\nDocument 2: Oslo\nOslo is cold.\n\nDocument 3: Rome\nRome is old.\n\nQuestion: Which city is cold?\nAnswer:';
  const segs = findSegments(text);
  assert.deepEqual(segs.map((s) => [s.kind, s.label]), [
    ['passage', 'passage 1'],
    ['document', 'Document 1'],
    ['document', 'Document 2'],
    ['document', 'Document 3'],
    ['passage', 'passage 2'],
    ['passage', 'passage 3'],
  ]);
  assert.deepEqual([segs[0].start, segs[0].end], at(text, 'Answer using the documents.'));
  // A document keeps its blank-line-separated paragraphs, and stops before the blank line.
  assert.deepEqual([segs[1].start, segs[1].end], at(text, 'Document 1: Paris\nParis is the capital.\n\nIt has museums.'));
  assert.deepEqual([segs[3].start, segs[3].end], at(text, 'Document 3: Rome\nRome is old.'));
  assert.deepEqual([segs[4].start, segs[4].end], at(text, 'Question: Which city is cold?'));
});

test('other document headers: [n], Doc n —, Source n:, markdown headings, code fences', () => {
  const text = '[1] First\nbody one\n\nDoc 2 — Second\nbody two\n## Inside doc 2\nstill two\nSource 3: Third\nbody three';
  assert.deepEqual(findSegments(text).map((s) => [s.kind, s.label, text.slice(s.start, s.end).split('\n')[0]]), [
    ['document', '[1]', '[1] First'],
    ['document', 'Doc 2', 'Doc 2 — Second'],
    ['document', 'Source 3', 'Source 3: Third'],
  ]);
  const litm = 'Document [1](Title: A) alpha\nDocument [2](Title: B) beta\n\nQuestion: which?';
  assert.deepEqual(findSegments(litm).map((s) => [s.kind, s.label, s.end - s.start]), [
    ['document', 'Document 1', 28],
    ['document', 'Document 2', 27],
    ['passage', 'passage 1', 16],
  ]);
  const md = '# Title\nintro\n```\n# not a heading\n```\n## Part *two*\nmore\n\nNumbered 1. items are not documents';
  assert.deepEqual(findSegments(md).map((s) => [s.kind, s.label]), [
    ['heading', 'Title'],
    ['heading', 'Part *two*'],
  ]);
});

test('XML-ish tags: innermost block elements are segments, containers are not', () => {
  const text =
    'Read these.\n<documents>\n<document index="1">\nalpha\n</document>\n<doc id=\'b\'>beta</doc>\n</documents>\n<context>\nctx <b>bold</b>\n</context>\nQuestion?';
  const segs = findSegments(text);
  assert.deepEqual(segs.map((s) => [s.kind, s.label]), [
    ['passage', 'passage 1'],
    ['tag', 'document 1'],
    ['tag', 'doc b'],
    ['tag', 'context'],
    ['passage', 'passage 2'],
  ]);
  assert.deepEqual([segs[1].start, segs[1].end], at(text, '<document index="1">\nalpha\n</document>'));
  assert.deepEqual([segs[2].start, segs[2].end], at(text, "<doc id='b'>beta</doc>"));
  assert.deepEqual([segs[3].start, segs[3].end], at(text, '<context>\nctx <b>bold</b>\n</context>'));
});

test('plain text falls back to blank-line-separated passages', () => {
  const text = '  one a\none b\n\n\n two \r\n\r\nthree';
  const segs = findSegments(text);
  assert.deepEqual(segs.map((s) => text.slice(s.start, s.end)), ['one a\none b', 'two', 'three']);
  assert.deepEqual(segs.map((s) => s.label), ['passage 1', 'passage 2', 'passage 3']);
  assert.deepEqual(findSegments(''), []);
  assert.deepEqual(findSegments('\n\n  \n'), []);
});

test('assignByOverlap: most overlap wins, ties go to the earlier interval', () => {
  const s = [0, 5, 12], e = [5, 10, 15];
  assert.deepEqual(
    Array.from(assignByOverlap(s, e, [3, 3, 5, 10, 9, 9, 11, 20, 0], [9, 7, 5, 12, 14, 13, 16, 21, 15])),
    [1, 0, 1, -1, 2, 1, 2, -1, 0],
  );
});

/** Word-and-space tokens of a text: a stand-in for a tokenizer's offsets. */
function wordTokens(text: string): { starts: number[]; ends: number[]; texts: string[] } {
  const starts: number[] = [], ends: number[] = [], texts: string[] = [];
  for (const m of text.matchAll(/[^\s|]+|\s+|\|/g)) {
    starts.push(m.index!);
    ends.push(m.index! + m[0].length);
    texts.push(m[0]);
  }
  return { starts, ends, texts };
}

test('mapTokens: tokens land in their segment and table cell', () => {
  const text = 'Intro.\n\n| k | v |\n|---|---|\n| a | 100 |\n| b | 2 |\n\nQuestion: sum?';
  const st = analyzeStructure(text);
  assert.equal(st.tables.length, 1);
  const tok = wordTokens(text);
  const map = mapTokens(st, tok.starts, tok.ends);
  const where = (word: string) => {
    const t = tok.texts.indexOf(word);
    return [map.segment[t], map.table[t], map.row[t], map.col[t], map.cell[t]];
  };
  assert.deepEqual(where('k'), [1, 0, -1, 0, 0]);
  assert.deepEqual(where('v'), [1, 0, -1, 1, 1]);
  assert.deepEqual(where('b'), [1, 0, 1, 0, 4]);
  assert.deepEqual(where('2'), [1, 0, 1, 1, 5]);
  assert.deepEqual(where('|'), [1, -1, -1, -1, -1]);
  assert.deepEqual(where('sum?'), [2, -1, -1, -1, -1]);
  assert.deepEqual(where('\n\n'), [-1, -1, -1, -1, -1]);
  // A token straddling two cells goes to the one it overlaps more.
  const a = text.indexOf('a |');
  const m2 = mapTokens(st, [a, a + 2], [a + 6, a + 3]);
  assert.deepEqual([m2.row[0], m2.col[0]], [0, 1]);
  assert.equal(m2.cell[1], -1);
  assert.throws(() => mapTokens(st, [0], []), /differ/);
});

test('position statistics per group, with NaN for an empty group', () => {
  // R = 1, H = 2, T = 5; head 0 = token index, head 1 = 10 × token index.
  const data = Float32Array.from([0, 1, 2, 3, 4, 0, 10, 20, 30, 40]);
  const st = groupPositionStats({ data, layers: 1, heads: 2, tokens: 5 }, [0, 0, -1, 2, 2], 3);
  assert.deepEqual(Array.from(st.count), [2, 0, 2]);
  assert.deepEqual(Array.from(st.mean.slice(0, 2)), [0.5, 5]);
  assert.ok(Number.isNaN(st.mean[2]) && Number.isNaN(st.min[3]));
  assert.deepEqual(Array.from(st.mean.slice(4)), [3.5, 35]);
  assert.deepEqual([st.min[4], st.max[4], st.min[5], st.max[5]], [3, 4, 30, 40]);
  assert.throws(() => groupPositionStats({ data, layers: 1, heads: 3, tokens: 5 }, [0, 0, 0, 0, 0], 1), /do not match/);
  assert.throws(() => groupPositionStats({ data, layers: 1, heads: 2, tokens: 5 }, [0, 0, 0, 0, 3], 1), /group 3/);
});

test('togetherness of columns and rows on a 3×3 table', () => {
  const text = '| A | B | C |\n|---|---|---|\n| a0 | b0 | c0 |\n| a1 | b1 | c1 |\n| a2 | b2 | c2 |';
  const st = analyzeStructure(text);
  const table = st.tables[0];
  // One token per cell (header cells too), in text order.
  const starts = table.cells.map((c) => c.start);
  const ends = table.cells.map((c) => c.end);
  const map = mapTokens(st, starts, ends);
  const T = starts.length; // 12
  // Head 0: every cell of column c at position c (columns fully gathered).
  // Head 1: integer positions, row-major. Head 2: everything at one position.
  const data = new Float32Array(3 * T);
  table.cells.forEach((c, t) => {
    data[t] = c.col;
    data[T + t] = t;
    data[2 * T + t] = 7;
  });
  const pos = { data, layers: 1, heads: 3, tokens: T };
  const [cells] = cellPositionStats(pos, map, st.tables);
  const tg = tableTogetherness(cells, table);
  assert.equal(tg.columnCells, 9);
  assert.equal(tg.rowCells, 9);
  close(tg.columns[0], 0);
  close(tg.rows[0], 1);
  // Data positions 3..11 = 3 + 3r + c: within-column SS 54, within-row SS 6, total SS 60.
  close(tg.columns[1], Math.sqrt(54 / 60));
  close(tg.rows[1], Math.sqrt(6 / 60));
  assert.ok(Number.isNaN(tg.columns[2]) && Number.isNaN(tg.rows[2]));
  close(tg.columnsChance, Math.sqrt(6 / 8));
  // With the header, columns hold 4 cells: 12 cells in 3 columns.
  const withHeader = tableTogetherness(cells, table, { includeHeader: true });
  assert.equal(withHeader.columnCells, 12);
  close(withHeader.columns[0], 0);
  const segStats = segmentPositionStats(pos, map, st.segments.length);
  assert.equal(segStats.count[0], 12);
  close(segStats.mean[1], 5.5);
});

function close(a: number, b: number, eps = 1e-6): void {
  assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);
}

/** Deterministic pseudo-random numbers (32-bit LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('odd and nested input never throws and keeps the invariants', () => {
  const odd = [
    '', '\r\n', '|', '|---|', '| a |\n|---|', '"', '","\n","', '[{', '[{"a":', '{"a":1}\n{',
    '<table>', '<table><table><tr><td>x', '</table><tr><td>', '<doc>\n<doc>\n</doc>', '</doc>',
    '<a href="x">\n</a>', '# ', '#', 'Document 1:', '[1]', '```\n# x', '<table><tr><td></td></tr></table>',
    '[' + '{"a":"'.repeat(2000), '[{'.repeat(5000), '\uD800|\uDC00\n|---|',
  ];
  const r = lcg(11);
  const alphabet = ['|', '-', ',', '"', '\t', ';', '\n', '\r\n', ' ', 'a', '1', '#', '[', ']', '{', '}', ':', '<table>', '<tr>', '<td>', '</td>', '</table>', '<doc>', '</doc>', 'Document 2:', '😀', '東'];
  for (let k = 0; k < 300; k++) {
    let s = '';
    const n = Math.floor(r() * 60);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
    odd.push(s);
  }
  const t0 = performance.now();
  for (const text of odd) {
    const st = analyzeStructure(text);
    let prev = 0;
    for (const s of st.segments) {
      assert.ok(prev <= s.start && s.start < s.end && s.end <= text.length, `segment ${JSON.stringify(s)} in ${JSON.stringify(text)}`);
      prev = s.end;
    }
    prev = 0;
    for (const t of st.tables) {
      assert.ok(prev <= t.start && t.start < t.end && t.end <= text.length, `table in ${JSON.stringify(text)}`);
      prev = t.end;
      for (const c of t.cells) {
        assert.ok(t.start <= c.start && c.start <= c.end && c.end <= t.end, `cell ${JSON.stringify(c)} in ${JSON.stringify(text)}`);
      }
    }
    const tok = wordTokens(text);
    mapTokens(st, tok.starts, tok.ends);
  }
  assert.ok(performance.now() - t0 < 3000);
});
