/**
 * Thresholds for the position-curve statistics, all in one place so the UI, the CLI and the tests
 * agree on them. Positions are in RoPE units: a difference of 1 rotates the fastest rotary pair by
 * 1 radian, exactly what one token step does under integer RoPE.
 */
export interface CurveOptions {
  /**
   * The smallest position difference treated as meaningful. 0.05 turns the fastest rotary pair
   * by 0.05 rad (cos > 0.998), so attention barely sees it; it is the absolute floor of every
   * tolerance below and keeps float noise on (near-)constant curves from counting as structure.
   */
  resolution: number;
  /** Tokens per chunk for the Constant / Mono / Hybrid labels (the paper's chunk analysis). */
  chunkSize: number;
  /** A final partial chunk is labelled only when it has at least this many tokens. */
  minPartialChunk: number;
  /**
   * A chunk of n tokens is Constant when its spread (max − min) is at most
   * ε(n) = max(resolution, constantRel · (n − 1) · rate), where rate = 2·IQR(z)/(T − 1) is the
   * slope of a straight ramp with the head's interquartile spread. In words: the chunk moves less
   * than a quarter of what an evenly spread head would move over the same tokens. Tying ε to the
   * rate (not to IQR alone) keeps integer positions Mono at any length, and using the IQR (not the
   * step sizes) keeps pure noise Hybrid.
   */
  constantRel: number;
  /**
   * A non-Constant chunk is Mono when it never falls back by more than
   * max(resolution, monoRel · spread) below its running maximum (non-decreasing), or never rises
   * by more than that above its running minimum (non-increasing). Otherwise it is Hybrid.
   */
  monoRel: number;
  /**
   * Plateaus: runs of at least this many tokens whose spread stays within ε(plateauMinLen), the
   * same band a Constant chunk of that length would have.
   */
  plateauMinLen: number;
  /**
   * A jump at t is |z[t] − z[t−1]| > max(resolution, jumpK · typicalStep) with
   * typicalStep = max(median |Δz|, rate). The rate term is the floor that matters on staircases,
   * where most steps are 0 and the median alone would call every wiggle a jump.
   */
  jumpK: number;
  /** Focus range: values outside [Q1 − k·IQR, Q3 + k·IQR] are outliers (the demo's k = 1.5). */
  focusIqrK: number;
  /** Focus range: padding on each side, as a fraction of the inliers' span (the demo's 5%). */
  focusPad: number;
  /** Focus range: padding used when the inliers' span is 0 (the demo uses 1.0). */
  focusFlatPad: number;
}

export const CURVE_DEFAULTS: Readonly<CurveOptions> = Object.freeze({
  resolution: 0.05,
  chunkSize: 16,
  minPartialChunk: 4,
  constantRel: 0.25,
  monoRel: 0.1,
  plateauMinLen: 8,
  jumpK: 5,
  focusIqrK: 1.5,
  focusPad: 0.05,
  focusFlatPad: 1.0,
});

/** Fills in defaults and rejects nonsense (negative tolerances, fractional chunk sizes). */
export function resolveCurveOptions(opts: Partial<CurveOptions> = {}): CurveOptions {
  const o: CurveOptions = { ...CURVE_DEFAULTS, ...opts };
  const nonNeg: (keyof CurveOptions)[] = ['resolution', 'constantRel', 'monoRel', 'jumpK', 'focusIqrK', 'focusPad', 'focusFlatPad'];
  for (const k of nonNeg) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new RangeError(`curve option ${k} must be a finite number ≥ 0, got ${o[k]}`);
  }
  const posInt: (keyof CurveOptions)[] = ['chunkSize', 'minPartialChunk', 'plateauMinLen'];
  for (const k of posInt) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`curve option ${k} must be an integer ≥ 1, got ${o[k]}`);
  }
  return o;
}
