import { CurveOptions, resolveCurveOptions } from './options';
import { Curve, CurveScale, assertCurve, curveScale, flatTolerance } from './stats';

export interface Plateau {
  /** Token range [start, end), at least plateauMinLen long. */
  start: number;
  end: number;
  min: number;
  max: number;
  mean: number;
}

export interface Plateaus {
  /** The band: every plateau's max − min is at most this. */
  tolerance: number;
  plateaus: Plateau[];
}

/**
 * Runs of ≥ plateauMinLen consecutive tokens whose spread stays within ε(plateauMinLen).
 * Greedy from the left: each run is grown as far right as the band allows; a run too short is
 * dropped one token at a time from the left, so runs never overlap and none can be extended to the
 * right. O(T): a sliding window with monotone deques for its minimum and maximum.
 */
export function findPlateaus(z: Curve, options: Partial<CurveOptions> = {}, scale?: CurveScale): Plateaus {
  assertCurve(z);
  const opts = resolveCurveOptions(options);
  const sc = scale ?? curveScale(z);
  const tol = flatTolerance(opts.plateauMinLen, sc, opts);
  const T = z.length;
  const plateaus: Plateau[] = [];
  // Deques of indices: z ascending in minQ, descending in maxQ; heads are the window's extremes.
  const minQ = new Int32Array(T);
  const maxQ = new Int32Array(T);
  let minH = 0, minT = 0, maxH = 0, maxT = 0;
  let s = 0;
  const emit = (start: number, end: number) => {
    let lo = Infinity, hi = -Infinity, sum = 0;
    for (let t = start; t < end; t++) {
      lo = Math.min(lo, z[t]);
      hi = Math.max(hi, z[t]);
      sum += z[t];
    }
    plateaus.push({ start, end, min: lo, max: hi, mean: sum / (end - start) });
  };
  for (let e = 0; e < T; e++) {
    const v = z[e];
    while (minT > minH && z[minQ[minT - 1]] >= v) minT--;
    minQ[minT++] = e;
    while (maxT > maxH && z[maxQ[maxT - 1]] <= v) maxT--;
    maxQ[maxT++] = e;
    // Token e broke the band of [s, e): close the window if it is long enough, else shrink it.
    while (z[maxQ[maxH]] - z[minQ[minH]] > tol) {
      if (e - s >= opts.plateauMinLen) {
        emit(s, e);
        s = e;
        minH = minT = maxH = maxT = 0;
        minQ[minT++] = e;
        maxQ[maxT++] = e;
      } else {
        s++;
        if (minQ[minH] < s) minH++;
        if (maxQ[maxH] < s) maxH++;
      }
    }
  }
  if (T - s >= opts.plateauMinLen) emit(s, T);
  return { tolerance: tol, plateaus };
}

export interface Jump {
  /** The token after the jump: the step is from t − 1 to t (t ≥ 1). */
  index: number;
  /** z[t] − z[t−1], signed. */
  size: number;
}

export interface Jumps {
  /** Steps with |size| strictly greater than this are jumps. */
  threshold: number;
  jumps: Jump[];
}

/** Steps much larger than the head's typical step (see CurveOptions.jumpK). O(T log T). */
export function findJumps(z: Curve, options: Partial<CurveOptions> = {}, scale?: CurveScale): Jumps {
  assertCurve(z);
  const opts = resolveCurveOptions(options);
  const sc = scale ?? curveScale(z);
  const threshold = Math.max(opts.resolution, opts.jumpK * sc.typicalStep);
  const jumps: Jump[] = [];
  for (let t = 1; t < z.length; t++) {
    const d = z[t] - z[t - 1];
    if (Math.abs(d) > threshold) jumps.push({ index: t, size: d });
  }
  return { threshold, jumps };
}
