/**
 * Reductions over the flat tensors of a RunResult. Pure functions, float64 arithmetic.
 */

/**
 * queryAttention[l][h][t] from the graph's flat [L][H][T] output, which already holds the mean over
 * the query rows of their causal softmax attention (each mean row sums to 1).
 */
export function queryAttentionOf(attention: ArrayLike<number>, L: number, H: number, T: number): number[][][] {
  if (attention.length !== L * H * T) {
    throw new Error(`queryAttentionOf: attention has ${attention.length} values, expected L*H*T = ${L}*${H}*${T}`);
  }
  const out: number[][][] = [];
  for (let l = 0; l < L; l++) {
    const perHead: number[][] = [];
    for (let h = 0; h < H; h++) {
      const off = (l * H + h) * T;
      perHead.push(Array.from({ length: T }, (_, t) => attention[off + t]));
    }
    out.push(perHead);
  }
  return out;
}

/** needleMass[l][h] = sum over needle tokens t of queryAttention[l][h][t]. */
export function needleMass(queryAttention: number[][][], needleTokens: readonly number[]): number[][] {
  return queryAttention.map((perHead) =>
    perHead.map((row) => {
      let s = 0;
      for (const t of needleTokens) s += row[t];
      return s;
    }),
  );
}

/** Reshapes flat [R][H][T] positions into nested arrays. */
export function reshapePositions(positions: ArrayLike<number>, R: number, H: number, T: number): number[][][] {
  if (positions.length !== R * H * T) {
    throw new Error(`positions has ${positions.length} values, expected R*H*T = ${R}*${H}*${T}`);
  }
  const out: number[][][] = [];
  for (let r = 0; r < R; r++) {
    const perHead: number[][] = [];
    for (let h = 0; h < H; h++) {
      const off = (r * H + h) * T;
      perHead.push(Array.from({ length: T }, (_, t) => positions[off + t]));
    }
    out.push(perHead);
  }
  return out;
}

/** The `count` (layer, head) pairs with the largest values, largest first. */
export function topHeads(perLayerHead: number[][], count: number): { layer: number; head: number; value: number }[] {
  const all: { layer: number; head: number; value: number }[] = [];
  perLayerHead.forEach((row, layer) => row.forEach((value, head) => all.push({ layer, head, value })));
  all.sort((a, b) => b.value - a.value || a.layer - b.layer || a.head - b.head);
  return all.slice(0, count);
}
