import type { Table, TextStructure } from './types';

/** Token → structure maps; one entry per token. */
export interface TokenStructure {
  /** Index into segments, −1 when the token lies in no segment (e.g. blank lines between them). */
  segment: Int32Array;
  /** Index into tables of the table whose cell owns the token, −1 when no cell does. */
  table: Int32Array;
  /** Index into tables[table].cells, −1 when no cell owns the token. */
  cell: Int32Array;
  /** The owning cell's row (−1 = header row) and column; both −1 when `cell` is −1, so test `cell` first. */
  row: Int32Array;
  col: Int32Array;
}

/**
 * For each token [starts[t], ends[t]) the interval it overlaps most among `ivStart/ivEnd`
 * (sorted by start, non-overlapping); ties go to the earlier interval; −1 when it overlaps none.
 * A zero-length token belongs to the interval containing its position. O(T log n) plus overlaps.
 */
export function assignByOverlap(
  ivStart: ArrayLike<number>,
  ivEnd: ArrayLike<number>,
  starts: ArrayLike<number>,
  ends: ArrayLike<number>,
): Int32Array {
  const n = ivStart.length;
  const out = new Int32Array(starts.length).fill(-1);
  for (let t = 0; t < starts.length; t++) {
    const s = starts[t];
    const e = Math.max(ends[t], s);
    // First interval that ends after s (ends are sorted because intervals are disjoint).
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ivEnd[mid] > s) hi = mid;
      else lo = mid + 1;
    }
    if (e === s) {
      if (lo < n && ivStart[lo] <= s) out[t] = lo;
      continue;
    }
    let best = -1, bestOverlap = 0;
    for (let k = lo; k < n && ivStart[k] < e; k++) {
      const ov = Math.min(e, ivEnd[k]) - Math.max(s, ivStart[k]);
      if (ov > bestOverlap) {
        best = k;
        bestOverlap = ov;
      }
    }
    out[t] = best;
  }
  return out;
}

/**
 * Maps tokens (their text ranges, as in Encoding.starts/ends) onto segments and table cells.
 * A token belongs to the segment, and to the cell, that its range overlaps most. Empty cells own
 * no tokens.
 */
export function mapTokens(structure: TextStructure, starts: ArrayLike<number>, ends: ArrayLike<number>): TokenStructure {
  if (starts.length !== ends.length) throw new RangeError(`token starts (${starts.length}) and ends (${ends.length}) differ in length`);
  const segs = [...structure.segments].map((s, i) => ({ s, i })).sort((a, b) => a.s.start - b.s.start);
  const segHit = assignByOverlap(segs.map((x) => x.s.start), segs.map((x) => x.s.end), starts, ends);
  const segment = segHit.map((k) => (k < 0 ? -1 : segs[k].i));

  const cells: { table: number; cell: number; start: number; end: number; t: Table }[] = [];
  structure.tables.forEach((t, ti) =>
    t.cells.forEach((c, ci) => {
      if (c.end > c.start) cells.push({ table: ti, cell: ci, start: c.start, end: c.end, t });
    }),
  );
  cells.sort((a, b) => a.start - b.start);
  const hit = assignByOverlap(cells.map((c) => c.start), cells.map((c) => c.end), starts, ends);
  const T = starts.length;
  const out: TokenStructure = {
    segment,
    table: new Int32Array(T).fill(-1),
    cell: new Int32Array(T).fill(-1),
    row: new Int32Array(T).fill(-1),
    col: new Int32Array(T).fill(-1),
  };
  for (let t = 0; t < T; t++) {
    const k = hit[t];
    if (k < 0) continue;
    const c = cells[k];
    out.table[t] = c.table;
    out.cell[t] = c.cell;
    out.row[t] = c.t.cells[c.cell].row;
    out.col[t] = c.t.cells[c.cell].col;
  }
  return out;
}
