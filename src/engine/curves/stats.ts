import { CurveOptions, resolveCurveOptions } from './options';

/** A position curve: z[t] is one head's learned position of token t. */
export type Curve = ArrayLike<number>;

/**
 * Throws unless z is a non-empty array of finite numbers. The model never produces NaN or ±Inf
 * for a healthy run, so seeing one means a broken input that no statistic below can describe.
 */
export function assertCurve(z: Curve): void {
  if (z.length === 0) throw new RangeError('position curve is empty');
  for (let t = 0; t < z.length; t++) {
    if (!Number.isFinite(z[t])) throw new RangeError(`position curve has a non-finite value ${z[t]} at token ${t}`);
  }
}

/**
 * The p-quantile (0 ≤ p ≤ 1) of ascending `sorted`, by linear interpolation between closest
 * ranks (numpy's default "linear" method, which the official RePo demo uses).
 */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** An ascending float64 copy (typed-array sort is numeric, O(n log n)). */
function sortedCopy(z: Curve): Float64Array {
  const s = Float64Array.from(z as ArrayLike<number>);
  s.sort();
  return s;
}

export interface FocusRange {
  lo: number;
  hi: number;
  /** Tokens outside the fences [Q1 − k·IQR, Q3 + k·IQR], i.e. left out of the focus view. */
  outliers: number;
}

export interface CurveStats {
  length: number;
  min: number;
  max: number;
  /** max − min: the paper's per-head range d. */
  range: number;
  mean: number;
  q1: number;
  median: number;
  q3: number;
  iqr: number;
  focus: FocusRange;
}

/**
 * The "focus" y-range of the official demo: fences at Q1 − k·IQR and Q3 + k·IQR (k = 1.5); the
 * inliers are the values inside the fences (inclusive); the range is [min inlier − pad,
 * max inlier + pad] with pad = focusPad (5%) of the inliers' span, or focusFlatPad (1.0) when that
 * span is 0. The inlier extremes can sit strictly inside the fences, so this is tighter than
 * clipping the fences to [min, max]. (The demo skips the focus view for ≤ 5 tokens; here it is
 * always computed and then simply covers every value.)
 */
export function focusRange(sorted: ArrayLike<number>, opts: Pick<CurveOptions, 'focusIqrK' | 'focusPad' | 'focusFlatPad'>): FocusRange {
  const n = sorted.length;
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  const iqr = q3 - q1;
  const loFence = q1 - opts.focusIqrK * iqr;
  const hiFence = q3 + opts.focusIqrK * iqr;
  let a = 0;
  while (a < n && sorted[a] < loFence) a++;
  let b = n - 1;
  while (b >= 0 && sorted[b] > hiFence) b--;
  // A small k can leave no value inside the fences (k = 0, two values): then keep them all.
  if (a > b) {
    a = 0;
    b = n - 1;
  }
  const span = sorted[b] - sorted[a];
  const pad = span > 0 ? opts.focusPad * span : opts.focusFlatPad;
  return { lo: sorted[a] - pad, hi: sorted[b] + pad, outliers: a + (n - 1 - b) };
}

/** Summary statistics of one head's curve. O(T log T). Throws on empty or non-finite input. */
export function curveStats(z: Curve, options: Partial<CurveOptions> = {}): CurveStats {
  assertCurve(z);
  const opts = resolveCurveOptions(options);
  const s = sortedCopy(z);
  let sum = 0;
  for (let t = 0; t < z.length; t++) sum += z[t];
  const q1 = quantileSorted(s, 0.25);
  const q3 = quantileSorted(s, 0.75);
  return {
    length: z.length,
    min: s[0],
    max: s[s.length - 1],
    range: s[s.length - 1] - s[0],
    mean: sum / z.length,
    q1,
    median: quantileSorted(s, 0.5),
    q3,
    iqr: q3 - q1,
    focus: focusRange(s, opts),
  };
}

/** The per-head scales every tolerance is measured against (see CurveOptions). */
export interface CurveScale {
  /** Interquartile range of z. */
  iqr: number;
  /** 2·IQR/(T − 1): slope of a straight ramp with this IQR, in position units per token; 0 when T = 1. */
  rate: number;
  /** Median of |z[t] − z[t−1]|; 0 when T = 1. */
  medianStep: number;
  /** max(medianStep, rate): what a step of this head usually looks like. */
  typicalStep: number;
}

export function curveScale(z: Curve): CurveScale {
  assertCurve(z);
  const T = z.length;
  const s = sortedCopy(z);
  const iqr = quantileSorted(s, 0.75) - quantileSorted(s, 0.25);
  const rate = T > 1 ? (2 * iqr) / (T - 1) : 0;
  let medianStep = 0;
  if (T > 1) {
    const steps = new Float64Array(T - 1);
    for (let t = 1; t < T; t++) steps[t - 1] = Math.abs(z[t] - z[t - 1]);
    steps.sort();
    medianStep = quantileSorted(steps, 0.5);
  }
  return { iqr, rate, medianStep, typicalStep: Math.max(medianStep, rate) };
}

/** ε(n): the spread below which n consecutive tokens count as one position (see CurveOptions.constantRel). */
export function flatTolerance(n: number, scale: CurveScale, opts: Pick<CurveOptions, 'resolution' | 'constantRel'>): number {
  return Math.max(opts.resolution, opts.constantRel * Math.max(0, n - 1) * scale.rate);
}
