/// <reference lib="dom" />
/**
 * Canvas painting shared by the head explorer (webview/explorer/positions.ts) and the HTML report
 * (src/report/browser/positions.ts): shaded token spans behind a position curve, and the plateaus
 * and jumps found in it drawn over it. Takes chart.js-like scales (getPixelForValue) so it does not
 * depend on chart.js itself.
 */

export interface PixelScale {
  getPixelForValue(v: number): number;
}

export interface PlotArea {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Alternating tints for structure bands (documents, table rows). */
export const BAND_TINTS = ['rgba(134,142,150,0.10)', 'rgba(31,111,235,0.07)'] as const;

/** Fills tokens first..last (inclusive) across the plot's height; returns the span's pixel width. */
export function shadeTokens(ctx: CanvasRenderingContext2D, a: PlotArea, x: PixelScale, first: number, last: number, color: string): number {
  const x0 = Math.max(a.left, x.getPixelForValue(first - 0.5));
  const x1 = Math.min(a.right, x.getPixelForValue(last + 0.5));
  if (x1 <= x0) return 0;
  ctx.fillStyle = color;
  ctx.fillRect(x0, a.top, Math.max(1, x1 - x0), a.bottom - a.top);
  return x1 - x0;
}

/**
 * Plateaus ([start, end, level] spans) as thick horizontal strokes and jumps ([token, …] steps) as
 * vertical strokes from z[t−1] to z[t], clipped to the plot area. At most 2000 jumps are drawn.
 */
export function paintPlateausAndJumps(
  ctx: CanvasRenderingContext2D,
  a: PlotArea,
  x: PixelScale,
  y: PixelScale,
  plateaus: readonly (readonly number[])[],
  jumps: readonly (readonly number[])[],
  z: ArrayLike<number>,
): void {
  ctx.save();
  ctx.beginPath();
  ctx.rect(a.left, a.top, a.right - a.left, a.bottom - a.top);
  ctx.clip();
  ctx.strokeStyle = 'rgba(232,89,12,0.85)';
  ctx.lineWidth = 3;
  for (const [s, e, m] of plateaus) {
    const py = y.getPixelForValue(m);
    ctx.beginPath();
    ctx.moveTo(x.getPixelForValue(s), py);
    ctx.lineTo(x.getPixelForValue(e - 1), py);
    ctx.stroke();
  }
  ctx.strokeStyle = 'rgba(201,42,42,0.9)';
  ctx.lineWidth = 1.5;
  for (const [t] of jumps.slice(0, 2000)) {
    const px = x.getPixelForValue(t - 0.5);
    ctx.beginPath();
    ctx.moveTo(px, y.getPixelForValue(z[t - 1]));
    ctx.lineTo(px, y.getPixelForValue(z[t]));
    ctx.stroke();
  }
  ctx.restore();
}

/** The y-range of a curve with a little headroom, so reference lines (the integer diagonal) never rescale it. */
export function curveRange(z: ArrayLike<number>): { min: number; max: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < z.length; i++) {
    const v = z[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi >= lo)) return { min: 0, max: 1 };
  const pad = Math.max((hi - lo) * 0.05, 0.5);
  return { min: lo - pad, max: hi + pad };
}
