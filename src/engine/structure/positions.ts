import type { Table } from './types';
import type { TokenStructure } from './tokens';

/** Learned positions of one run: flat [layers][heads][tokens] (RunResult.positions). */
export interface PositionTensor {
  data: Float32Array;
  layers: number;
  heads: number;
  tokens: number;
}

/** Position statistics of groups of tokens (segments, cells), per RePo layer and head. */
export interface GroupPositionStats {
  groups: number;
  layers: number;
  heads: number;
  /** [groups]: tokens in each group. */
  count: Int32Array;
  /** [groups][layers][heads], flat; NaN for a group without tokens. */
  mean: Float32Array;
  min: Float32Array;
  max: Float32Array;
}

function checkTensor(p: PositionTensor): void {
  const { data, layers, heads, tokens } = p;
  if (![layers, heads, tokens].every((n) => Number.isInteger(n) && n >= 0) || data.length !== layers * heads * tokens) {
    throw new RangeError(`positions of length ${data.length} do not match ${layers}×${heads}×${tokens}`);
  }
}

/**
 * Mean, min and max position of each group per layer and head. `groupOf[t]` is token t's group
 * (0..groups−1) or −1 for none. One pass over the tensor: O(R·H·T).
 */
export function groupPositionStats(pos: PositionTensor, groupOf: ArrayLike<number>, groups: number): GroupPositionStats {
  checkTensor(pos);
  const { data, layers: R, heads: H, tokens: T } = pos;
  if (groupOf.length !== T) throw new RangeError(`${groupOf.length} group entries for ${T} tokens`);
  const RH = R * H;
  const count = new Int32Array(groups);
  for (let t = 0; t < T; t++) {
    const g = groupOf[t];
    if (g >= groups) throw new RangeError(`token ${t} is in group ${g} of ${groups}`);
    if (g >= 0) count[g]++;
  }
  const sum = new Float64Array(groups * RH);
  const min = new Float32Array(groups * RH).fill(Infinity);
  const max = new Float32Array(groups * RH).fill(-Infinity);
  for (let rh = 0; rh < RH; rh++) {
    const row = rh * T;
    for (let t = 0; t < T; t++) {
      const g = groupOf[t];
      if (g < 0) continue;
      const v = data[row + t];
      const k = g * RH + rh;
      sum[k] += v;
      if (v < min[k]) min[k] = v;
      if (v > max[k]) max[k] = v;
    }
  }
  const mean = new Float32Array(groups * RH);
  for (let g = 0; g < groups; g++) {
    for (let rh = 0; rh < RH; rh++) {
      const k = g * RH + rh;
      if (count[g] === 0) {
        mean[k] = min[k] = max[k] = NaN;
      } else mean[k] = sum[k] / count[g];
    }
  }
  return { groups, layers: R, heads: H, count, mean, min, max };
}

/** Per-segment position statistics (group = segment index). */
export function segmentPositionStats(pos: PositionTensor, map: TokenStructure, segments: number): GroupPositionStats {
  return groupPositionStats(pos, map.segment, segments);
}

/**
 * Per-cell position statistics of every table, in one pass over the tensor: element k describes
 * tables[k], with one group per cell (index into tables[k].cells).
 */
export function cellPositionStats(pos: PositionTensor, map: TokenStructure, tables: Table[]): GroupPositionStats[] {
  const offsets: number[] = [];
  let total = 0;
  for (const t of tables) {
    offsets.push(total);
    total += t.cells.length;
  }
  const groupOf = new Int32Array(map.cell.length);
  for (let t = 0; t < groupOf.length; t++) groupOf[t] = map.cell[t] < 0 ? -1 : offsets[map.table[t]] + map.cell[t];
  const all = groupPositionStats(pos, groupOf, total);
  const RH = all.layers * all.heads;
  return tables.map((t, k) => {
    const a = offsets[k], b = a + t.cells.length;
    return {
      groups: t.cells.length,
      layers: all.layers,
      heads: all.heads,
      count: all.count.subarray(a, b),
      mean: all.mean.subarray(a * RH, b * RH),
      min: all.min.subarray(a * RH, b * RH),
      max: all.max.subarray(a * RH, b * RH),
    };
  });
}

export interface Togetherness {
  layers: number;
  heads: number;
  /** [layers][heads], flat: the ratio below with cells grouped by column; NaN where undefined. */
  columns: Float32Array;
  /** The same with cells grouped by row. */
  rows: Float32Array;
  /** Reference value of the ratio if cell positions were shuffled at random among the cells. */
  columnsChance: number;
  rowsChance: number;
  /** Cells that entered the column and the row measures. */
  columnCells: number;
  rowCells: number;
}

/**
 * How far a head gathers the cells of one column (or one row) together in position space.
 *
 * For one layer and head, let m_j be the mean position of cell j's tokens. Only data cells (not
 * the header row, unless includeHeader) that own at least one token are used, and among them only
 * those whose group (column, or row) has at least two such cells. With N cells in k groups, grand
 * mean m̄ and group means m̄_g:
 *
 *   ratio = sqrt( Σ_g Σ_{j∈g} (m_j − m̄_g)²  /  Σ_j (m_j − m̄)² )
 *
 * i.e. the root-mean-square spread of cells around their own group's mean divided by their
 * root-mean-square spread around the grand mean (√(1 − η²), η² the ANOVA correlation ratio). It
 * lies in [0, 1]: 0 means every group sits at a single position; 1 means the group means coincide
 * and grouping explains nothing. Smaller than `chance` = sqrt((N − k)/(N − 1)) — the square root of
 * the expected within/total ratio if the same positions were dealt to cells at random — means the
 * head brings groups together more than chance. NaN when k < 2 or all N positions are equal.
 * In a row-major linearized table, integer RoPE gives small row ratios and column ratios near 1.
 */
export function tableTogetherness(stats: GroupPositionStats, table: Table, opts: { includeHeader?: boolean } = {}): Togetherness {
  if (stats.groups !== table.cells.length) throw new RangeError(`stats for ${stats.groups} cells, table has ${table.cells.length}`);
  const RH = stats.layers * stats.heads;
  const usable = table.cells.map((c, j) => stats.count[j] > 0 && (c.row >= 0 || !!opts.includeHeader));
  const measure = (key: (j: number) => number) => {
    // Keep cells whose group has ≥ 2 usable cells; renumber groups 0..k−1.
    const size = new Map<number, number>();
    usable.forEach((u, j) => u && size.set(key(j), (size.get(key(j)) ?? 0) + 1));
    const ids = new Map<number, number>();
    const members: number[] = [];
    const groupOf: number[] = [];
    usable.forEach((u, j) => {
      if (!u || (size.get(key(j)) ?? 0) < 2) return;
      if (!ids.has(key(j))) ids.set(key(j), ids.size);
      members.push(j);
      groupOf.push(ids.get(key(j))!);
    });
    const N = members.length;
    const k = ids.size;
    const ratio = new Float32Array(RH).fill(NaN);
    if (k >= 2) {
      const gSum = new Float64Array(k);
      const gCount = new Float64Array(k);
      for (let rh = 0; rh < RH; rh++) {
        gSum.fill(0);
        gCount.fill(0);
        let total = 0;
        for (let i = 0; i < N; i++) {
          const m = stats.mean[members[i] * RH + rh];
          gSum[groupOf[i]] += m;
          gCount[groupOf[i]]++;
          total += m;
        }
        const grand = total / N;
        let within = 0, all = 0;
        for (let i = 0; i < N; i++) {
          const m = stats.mean[members[i] * RH + rh];
          within += (m - gSum[groupOf[i]] / gCount[groupOf[i]]) ** 2;
          all += (m - grand) ** 2;
        }
        // Relative floor: float32 means of equal positions can differ in the last bits.
        if (all > 1e-12 * Math.max(1, grand * grand) * N) ratio[rh] = Math.sqrt(Math.min(1, within / all));
      }
    }
    return { ratio, N, chance: k >= 2 ? Math.sqrt((N - k) / (N - 1)) : NaN };
  };
  const cols = measure((j) => table.cells[j].col);
  const rows = measure((j) => table.cells[j].row);
  return {
    layers: stats.layers,
    heads: stats.heads,
    columns: cols.ratio,
    rows: rows.ratio,
    columnsChance: cols.chance,
    rowsChance: rows.chance,
    columnCells: cols.N,
    rowCells: rows.N,
  };
}
