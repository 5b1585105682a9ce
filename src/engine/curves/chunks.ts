import { CurveOptions, resolveCurveOptions } from './options';
import { Curve, CurveScale, assertCurve, curveScale, flatTolerance } from './stats';

export type ChunkLabel = 'constant' | 'mono' | 'hybrid';

export interface ChunkInfo {
  /** Token range [start, end). */
  start: number;
  end: number;
  label: ChunkLabel;
  /** max − min of z inside the chunk. */
  spread: number;
  /** For Mono chunks: which way they go. */
  direction?: 'up' | 'down';
}

export interface ChunkLabels {
  chunkSize: number;
  chunks: ChunkInfo[];
  /** Tokens at the end left unlabelled because the partial chunk was shorter than minPartialChunk. */
  unlabelledTail: number;
  counts: Record<ChunkLabel, number>;
  /** counts / chunks.length; all 0 when there is no labelled chunk. */
  fractions: Record<ChunkLabel, number>;
}

/** Labels z[start, end) as Constant, Mono or Hybrid (definitions in CurveOptions). */
export function labelChunk(z: Curve, start: number, end: number, scale: CurveScale, opts: CurveOptions): ChunkInfo {
  let lo = Infinity;
  let hi = -Infinity;
  for (let t = start; t < end; t++) {
    if (z[t] < lo) lo = z[t];
    if (z[t] > hi) hi = z[t];
  }
  const spread = hi - lo;
  if (spread <= flatTolerance(end - start, scale, opts)) return { start, end, label: 'constant', spread };
  // Largest fall below the running maximum and largest rise above the running minimum: a
  // monotone chunk allows small wiggles back, but not a drift made of many small ones.
  const tol = Math.max(opts.resolution, opts.monoRel * spread);
  let runMax = z[start];
  let runMin = z[start];
  let fall = 0;
  let rise = 0;
  for (let t = start + 1; t < end; t++) {
    const v = z[t];
    if (v > runMax) runMax = v;
    if (v < runMin) runMin = v;
    if (runMax - v > fall) fall = runMax - v;
    if (v - runMin > rise) rise = v - runMin;
  }
  if (fall <= tol) return { start, end, label: 'mono', spread, direction: 'up' };
  if (rise <= tol) return { start, end, label: 'mono', spread, direction: 'down' };
  return { start, end, label: 'hybrid', spread };
}

/**
 * The paper's chunk analysis for one head: tokens split into consecutive chunks of chunkSize; the
 * last partial chunk counts only with ≥ minPartialChunk tokens. O(T log T) (the scale needs sorts).
 */
export function labelChunks(z: Curve, options: Partial<CurveOptions> = {}, scale?: CurveScale): ChunkLabels {
  assertCurve(z);
  const opts = resolveCurveOptions(options);
  const sc = scale ?? curveScale(z);
  const T = z.length;
  const chunks: ChunkInfo[] = [];
  let unlabelledTail = 0;
  for (let start = 0; start < T; start += opts.chunkSize) {
    const end = Math.min(T, start + opts.chunkSize);
    if (end - start < opts.chunkSize && end - start < opts.minPartialChunk) {
      unlabelledTail = end - start;
      break;
    }
    chunks.push(labelChunk(z, start, end, sc, opts));
  }
  const counts: Record<ChunkLabel, number> = { constant: 0, mono: 0, hybrid: 0 };
  for (const c of chunks) counts[c.label]++;
  const n = chunks.length;
  const fractions: Record<ChunkLabel, number> = {
    constant: n ? counts.constant / n : 0,
    mono: n ? counts.mono / n : 0,
    hybrid: n ? counts.hybrid / n : 0,
  };
  return { chunkSize: opts.chunkSize, chunks, unlabelledTail, counts, fractions };
}
