/**
 * The JSON forms of the per-head curve statistics (../curves) and of the prompt structure
 * (../structure) for an analysis. Everything is O(R·H·T) or smaller: per head a few numbers, one
 * letter per 16-token chunk, and the plateaus and jumps found; per segment and per cell that owns
 * tokens one [R][H] block of mean/min/max.
 */
import { CurveOptions, analyzeCurve, headCurve, resolveCurveOptions } from '../curves';
import {
  GroupPositionStats,
  PositionTensor,
  Table,
  TableKind,
  analyzeStructure,
  cellPositionStats,
  mapTokens,
  segmentPositionStats,
  tableTogetherness,
} from '../structure';

/** NaN and ±Infinity become null in JSON; say so explicitly. */
function num(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

export interface CurveSummaryJson {
  min: number;
  max: number;
  /** max − min: the paper's per-head range d. */
  range: number;
  mean: number;
  median: number;
  iqr: number;
  /** The demo's focus y-range (1.5·IQR fences, 5% padding) and how many tokens fall outside it. */
  focus: { lo: number; hi: number; outliers: number };
  chunks: {
    size: number;
    /** One letter per chunk, in token order: C = Constant, U = Mono up, D = Mono down, H = Hybrid. */
    labels: string;
    counts: { constant: number; mono: number; hybrid: number };
    fractions: { constant: number; mono: number; hybrid: number };
    unlabelledTail: number;
  };
  /** [start, end, mean] token ranges (end exclusive) whose positions stay within `tolerance`. */
  plateaus: { tolerance: number; spans: [number, number, number][] };
  /** [t, z[t] − z[t−1]] for steps larger than `threshold`. */
  jumps: { threshold: number; steps: [number, number][] };
}

export interface CurvesJson {
  options: CurveOptions;
  /** [R][H] in the order of model.repoLayers. */
  heads: CurveSummaryJson[][];
  /** [R]: means over the layer's heads. */
  layers: { range: number; fractions: { constant: number; mono: number; hybrid: number } }[];
  /** Chunk label fractions pooled over every chunk of every RePo head. */
  fractions: { constant: number; mono: number; hybrid: number };
}

const LETTER = { constant: 'C', hybrid: 'H' } as const;

export function summarizeCurves(positions: Float32Array, R: number, H: number, T: number, options: Partial<CurveOptions> = {}): CurvesJson {
  const opts = resolveCurveOptions(options);
  const heads: CurveSummaryJson[][] = [];
  const layers: CurvesJson['layers'] = [];
  const pooled = { constant: 0, mono: 0, hybrid: 0 };
  for (let r = 0; r < R; r++) {
    const perHead: CurveSummaryJson[] = [];
    for (let h = 0; h < H; h++) {
      const a = analyzeCurve(headCurve(positions, H, T, r, h), opts);
      const s = a.stats;
      let labels = '';
      for (const c of a.chunks.chunks) labels += c.label === 'mono' ? (c.direction === 'down' ? 'D' : 'U') : LETTER[c.label];
      for (const k of ['constant', 'mono', 'hybrid'] as const) pooled[k] += a.chunks.counts[k];
      perHead.push({
        min: s.min,
        max: s.max,
        range: s.range,
        mean: s.mean,
        median: s.median,
        iqr: s.iqr,
        focus: { ...s.focus },
        chunks: {
          size: a.chunks.chunkSize,
          labels,
          counts: { ...a.chunks.counts },
          fractions: { ...a.chunks.fractions },
          unlabelledTail: a.chunks.unlabelledTail,
        },
        plateaus: { tolerance: a.plateaus.tolerance, spans: a.plateaus.plateaus.map((p) => [p.start, p.end, p.mean]) },
        jumps: { threshold: a.jumps.threshold, steps: a.jumps.jumps.map((j) => [j.index, j.size]) },
      });
    }
    const avg = (f: (c: CurveSummaryJson) => number) => (H ? perHead.reduce((acc, c) => acc + f(c), 0) / H : NaN);
    layers.push({
      range: avg((c) => c.range),
      fractions: {
        constant: avg((c) => c.chunks.fractions.constant),
        mono: avg((c) => c.chunks.fractions.mono),
        hybrid: avg((c) => c.chunks.fractions.hybrid),
      },
    });
    heads.push(perHead);
  }
  const n = pooled.constant + pooled.mono + pooled.hybrid;
  return {
    options: opts,
    heads,
    layers,
    fractions: { constant: n ? pooled.constant / n : 0, mono: n ? pooled.mono / n : 0, hybrid: n ? pooled.hybrid / n : 0 },
  };
}

/** Position summary of one group (segment or cell) per RePo layer and head: [R][H] each. */
export interface GroupPositionsJson {
  mean: number[][];
  min: number[][];
  max: number[][];
}

function groupPositions(st: GroupPositionStats, g: number): GroupPositionsJson | null {
  if (st.count[g] === 0) return null;
  const RH = st.layers * st.heads;
  const grid = (a: Float32Array) =>
    Array.from({ length: st.layers }, (_, r) => Array.from({ length: st.heads }, (_, h) => a[g * RH + r * st.heads + h]));
  return { mean: grid(st.mean), min: grid(st.min), max: grid(st.max) };
}

export interface StructureJson {
  segments: {
    kind: string;
    label: string;
    start: number;
    end: number;
    /** Number of tokens assigned to the segment. */
    tokens: number;
    /** null when the segment owns no token. */
    positions: GroupPositionsJson | null;
  }[];
  tables: {
    kind: TableKind;
    start: number;
    end: number;
    header: string[];
    rows: number;
    cols: number;
    delimiter?: string;
    cells: { row: number; col: number; start: number; end: number; text: string; tokens: number; positions: GroupPositionsJson | null }[];
    /**
     * [R][H] ratios (null where undefined) and their chance levels; see tableTogetherness in
     * src/engine/structure/positions.ts: 0 = each column (row) at one position, 1 = no grouping.
     */
    togetherness: {
      columns: (number | null)[][];
      rows: (number | null)[][];
      columnsChance: number | null;
      rowsChance: number | null;
      columnCells: number;
      rowCells: number;
    };
  }[];
  /** Per token: segment index, table index, cell index in that table, row (−1 = header) and column; −1 = none. */
  tokens: { segment: number[]; table: number[]; cell: number[]; row: number[]; col: number[] };
}

/** Segments, tables and the token map of `text`, with position summaries from `positions` ([R][H][T] flat). */
export function summarizeStructure(
  text: string,
  starts: ArrayLike<number>,
  ends: ArrayLike<number>,
  positions: Float32Array,
  R: number,
  H: number,
): StructureJson {
  const T = starts.length;
  const st = analyzeStructure(text);
  const map = mapTokens(st, starts, ends);
  const pos: PositionTensor = { data: positions, layers: R, heads: H, tokens: T };
  const segStats = segmentPositionStats(pos, map, st.segments.length);
  const cellStats = cellPositionStats(pos, map, st.tables);
  const grid = (a: Float32Array) => Array.from({ length: R }, (_, r) => Array.from({ length: H }, (_, h) => num(a[r * H + h])));
  return {
    segments: st.segments.map((s, i) => ({
      kind: s.kind,
      label: s.label,
      start: s.start,
      end: s.end,
      tokens: segStats.count[i],
      positions: groupPositions(segStats, i),
    })),
    tables: st.tables.map((t: Table, k) => {
      const tg = tableTogetherness(cellStats[k], t);
      return {
        kind: t.kind,
        start: t.start,
        end: t.end,
        header: [...t.header],
        rows: t.rows,
        cols: t.cols,
        ...(t.delimiter !== undefined ? { delimiter: t.delimiter } : {}),
        cells: t.cells.map((c, j) => ({ ...c, tokens: cellStats[k].count[j], positions: groupPositions(cellStats[k], j) })),
        togetherness: {
          columns: grid(tg.columns),
          rows: grid(tg.rows),
          columnsChance: num(tg.columnsChance),
          rowsChance: num(tg.rowsChance),
          columnCells: tg.columnCells,
          rowCells: tg.rowCells,
        },
      };
    }),
    tokens: {
      segment: Array.from(map.segment),
      table: Array.from(map.table),
      cell: Array.from(map.cell),
      row: Array.from(map.row),
      col: Array.from(map.col),
    },
  };
}
