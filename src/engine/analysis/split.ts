/**
 * The needle-mass split: where the query's attention goes (needle / recent tokens / rest), per
 * layer and head, and its averages. Pure float64 arithmetic; definitions in docs/analysis.md.
 */

/** Default number of tokens just before the query that count as "recent". */
export const DEFAULT_RECENT_WINDOW = 32;

export interface SplitGrids {
  /** [L][H] each; needle + recent + rest = 1 for every (layer, head). */
  needle: number[][];
  recent: number[][];
  rest: number[][];
}

export interface SplitTotals {
  /** [L]: mean over heads of each part. */
  perLayer: { needle: number[]; recent: number[]; rest: number[] };
  /** Mean over all layers and heads. */
  overall: { needle: number; recent: number; rest: number };
}

/**
 * The recent tokens as a token range [start, end): the query tokens plus the `window` tokens just
 * before the first of them. Query tokens are contiguous (they overlap one text span).
 */
export function recentRange(queryTokens: readonly number[], window: number): { start: number; end: number } {
  if (!Number.isInteger(window) || window < 0) throw new RangeError(`recent window must be an integer ≥ 0, got ${window}`);
  if (queryTokens.length === 0) throw new RangeError('recentRange: the query has no tokens');
  const first = Math.min(...queryTokens);
  const last = Math.max(...queryTokens);
  return { start: Math.max(0, first - window), end: last + 1 };
}

/**
 * Splits each mean query-attention row into needle, recent and rest. A needle token inside the
 * recent range counts as needle (each token belongs to exactly one part). Each part is divided by
 * the row's total, which is 1 up to float32 rounding, so the three parts sum to 1 in float64.
 */
export function splitAttention(
  queryAttention: number[][][],
  needleTokens: readonly number[],
  recent: { start: number; end: number },
): SplitGrids {
  const isNeedle = new Set(needleTokens);
  const needle: number[][] = [];
  const rec: number[][] = [];
  const rest: number[][] = [];
  for (const perHead of queryAttention) {
    const n: number[] = [], r: number[] = [], o: number[] = [];
    for (const row of perHead) {
      let sn = 0, sr = 0, so = 0;
      for (let t = 0; t < row.length; t++) {
        const v = row[t];
        if (isNeedle.has(t)) sn += v;
        else if (t >= recent.start && t < recent.end) sr += v;
        else so += v;
      }
      const total = sn + sr + so;
      if (total > 0) {
        n.push(sn / total);
        r.push(sr / total);
        o.push(so / total);
      } else {
        // A row of zeros cannot come from a softmax; keep it visible instead of inventing shares.
        n.push(NaN);
        r.push(NaN);
        o.push(NaN);
      }
    }
    needle.push(n);
    rec.push(r);
    rest.push(o);
  }
  return { needle, recent: rec, rest };
}

/** a − b, element by element. */
export function splitDelta(a: SplitGrids, b: SplitGrids): SplitGrids {
  const sub = (x: number[][], y: number[][]) => x.map((row, l) => row.map((v, h) => v - y[l][h]));
  return { needle: sub(a.needle, b.needle), recent: sub(a.recent, b.recent), rest: sub(a.rest, b.rest) };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, v) => s + v, 0) / xs.length : NaN);

/** Means over heads per layer, and over all (layer, head) cells. */
export function splitTotals(g: SplitGrids): SplitTotals {
  const per = (grid: number[][]) => grid.map(mean);
  const all = (grid: number[][]) => mean(grid.flat());
  return {
    perLayer: { needle: per(g.needle), recent: per(g.recent), rest: per(g.rest) },
    overall: { needle: all(g.needle), recent: all(g.recent), rest: all(g.rest) },
  };
}
