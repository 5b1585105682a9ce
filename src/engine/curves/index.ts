import { ChunkLabels, labelChunks } from './chunks';
import { Jumps, Plateaus, findJumps, findPlateaus } from './events';
import { CurveOptions, resolveCurveOptions } from './options';
import { Curve, CurveScale, CurveStats, curveScale, curveStats } from './stats';

export * from './options';
export * from './stats';
export * from './chunks';
export * from './events';

export interface CurveAnalysis {
  stats: CurveStats;
  scale: CurveScale;
  chunks: ChunkLabels;
  plateaus: Plateaus;
  jumps: Jumps;
}

/** Everything about one head's curve, sharing one scale computation. O(T log T). */
export function analyzeCurve(z: Curve, options: Partial<CurveOptions> = {}): CurveAnalysis {
  const opts = resolveCurveOptions(options);
  const scale = curveScale(z);
  return {
    stats: curveStats(z, opts),
    scale,
    chunks: labelChunks(z, opts, scale),
    plateaus: findPlateaus(z, opts, scale),
    jumps: findJumps(z, opts, scale),
  };
}

/**
 * One head's curve out of a flat [R][H][T] positions tensor (RunResult.positions), as a view
 * (no copy). `layer` indexes the RePo layers (0..R−1), not the model's layer numbers.
 */
export function headCurve(positions: Float32Array, heads: number, tokens: number, layer: number, head: number): Float32Array {
  if (!Number.isInteger(layer) || !Number.isInteger(head) || layer < 0 || head < 0 || head >= heads) {
    throw new RangeError(`no head ${head} in RePo layer ${layer}`);
  }
  const off = (layer * heads + head) * tokens;
  if (off + tokens > positions.length) throw new RangeError(`no RePo layer ${layer} in positions of length ${positions.length}`);
  return positions.subarray(off, off + tokens);
}
