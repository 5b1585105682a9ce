/**
 * Reductions over the flat tensors of a RunResult. Pure functions, float64 arithmetic.
 */

/**
 * queryAttention[l][h][t] = mean over the Q query rows of attention[l][h][q][t].
 * `attention` is flat [L][H][Q][T]. Each query row is a causal softmax row (sums to 1 over t ≤ its
 * token), so each mean row also sums to 1.
 */
export function meanQueryAttention(attention: ArrayLike<number>, L: number, H: number, Q: number, T: number): number[][][] {
  if (Q <= 0) throw new Error('meanQueryAttention: at least one query row is needed');
  if (attention.length !== L * H * Q * T) {
    throw new Error(`meanQueryAttention: attention has ${attention.length} values, expected L*H*Q*T = ${L}*${H}*${Q}*${T}`);
  }
  const out: number[][][] = [];
  for (let l = 0; l < L; l++) {
    const perHead: number[][] = [];
    for (let h = 0; h < H; h++) {
      const row = new Array<number>(T).fill(0);
      const base = (l * H + h) * Q * T;
      for (let q = 0; q < Q; q++) {
        const off = base + q * T;
        for (let t = 0; t < T; t++) row[t] += attention[off + t];
      }
      for (let t = 0; t < T; t++) row[t] /= Q;
      perHead.push(row);
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
