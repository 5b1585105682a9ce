/**
 * Which document ranges get which decoration, from an analysis: token colour levels by query
 * attention (learned or integer positions) or by position in one layer/head, the query and needle
 * spans, and segment / table-cell boundaries. Offsets are document offsets (UTF-16); the extension
 * turns them into vscode.Ranges. No `vscode` import.
 */
import type { ExplorerPayload } from '../../shared/protocol';
import type { DecorationMetric } from './config';
import { at3 } from './payload';

/** Number of colour levels (contributes.colors repoLens.level1 … repoLens.level5). */
export const LEVELS = 5;

export type OffsetRange = [start: number, end: number];

export interface DecorationPlan {
  /** levels[k] holds the ranges of level k+1 (0 = faintest). */
  levels: OffsetRange[][];
  query: OffsetRange[];
  needle: OffsetRange[];
  /** Zero-length ranges where a segment or table cell starts. */
  boundaries: OffsetRange[];
}

export interface DecorationChoice {
  metric: DecorationMetric;
  /** Attention: a layer (−1: mean over layers). Position: an index into repoLayers. */
  layer: number;
  /** −1: mean over heads. */
  head: number;
}

/** One value per token for the metric, or undefined when the analysis lacks that run. */
export function tokenValues(p: ExplorerPayload, c: DecorationChoice): Float64Array | undefined {
  const H = p.model.numHeads;
  const T = p.T;
  const out = new Float64Array(T);
  if (c.metric === 'off') return undefined;
  if (c.metric === 'position') {
    const R = p.model.repoLayers.length;
    if (R === 0) return undefined;
    const r = Math.min(Math.max(c.layer, 0), R - 1);
    const heads = c.head >= 0 ? [Math.min(c.head, H - 1)] : [...Array(H).keys()];
    for (const h of heads) for (let t = 0; t < T; t++) out[t] += at3(p.positions, H, T, r, h, t) / heads.length;
    return out;
  }
  const flat = c.metric === 'attention-integer' ? p.attentionInteger : p.attentionLearned;
  if (!flat) return undefined;
  const L = p.model.numLayers;
  const layers = c.layer >= 0 ? [Math.min(c.layer, L - 1)] : [...Array(L).keys()];
  const heads = c.head >= 0 ? [Math.min(c.head, H - 1)] : [...Array(H).keys()];
  const n = layers.length * heads.length;
  for (const l of layers) for (const h of heads) for (let t = 0; t < T; t++) out[t] += at3(flat, H, T, l, h, t) / n;
  return out;
}

/**
 * Level of each value: attention relative to the largest (level 0 = none shown, for the long tail
 * of near-zero tokens); positions min..max over the tokens (every token shown).
 */
/** Tokens with less than this fraction of the most-attended token's attention are not coloured. */
export const ATTENTION_FLOOR = 0.05;

export function levelsOf(values: Float64Array, metric: DecorationMetric): Uint8Array {
  const out = new Uint8Array(values.length);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  for (let t = 0; t < values.length; t++) {
    if (metric === 'position') {
      const f = hi > lo ? (values[t] - lo) / (hi - lo) : 0.5;
      out[t] = 1 + Math.min(LEVELS - 1, Math.floor(f * LEVELS));
    } else {
      // Square root: attention is heavy-tailed, the linear scale would show only the top few tokens.
      // Below ATTENTION_FLOOR of the top token's share a token stays uncoloured: with a lower floor
      // nearly every token of a long prompt got the faintest level and the text read as one big
      // selection (seen in the light theme).
      const f = hi > 0 ? Math.sqrt(values[t] / hi) : 0;
      out[t] = f < Math.sqrt(ATTENTION_FLOOR) ? 0 : Math.min(LEVELS, Math.ceil(f * LEVELS));
    }
  }
  return out;
}

export function buildDecorationPlan(p: ExplorerPayload, c: DecorationChoice, boundaries: number[] = []): DecorationPlan {
  const plan: DecorationPlan = { levels: Array.from({ length: LEVELS }, () => []), query: [], needle: [], boundaries: [] };
  const base = p.baseOffset;
  const values = tokenValues(p, c);
  if (values) {
    const level = levelsOf(values, c.metric);
    // The byte tokens of one character share its range: it shows its strongest byte's level.
    const units: { s: number; e: number; level: number }[] = [];
    for (let t = 0; t < p.T; t++) {
      const last = units[units.length - 1];
      if (last && last.s === p.starts[t] && last.e === p.ends[t]) last.level = Math.max(last.level, level[t]);
      else units.push({ s: p.starts[t], e: p.ends[t], level: level[t] });
    }
    // Then touching ranges of one level become one decoration range.
    let run: { s: number; e: number; level: number } | undefined;
    const flush = () => {
      if (run && run.level > 0) plan.levels[run.level - 1].push([base + run.s, base + run.e]);
    };
    for (const u of units) {
      if (run && u.level === run.level && u.s <= run.e) run.e = Math.max(run.e, u.e);
      else {
        flush();
        run = { ...u };
      }
    }
    flush();
  }
  plan.query.push([base + p.query.start, base + p.query.end]);
  if (p.needle) plan.needle.push([base + p.needle.start, base + p.needle.end]);
  for (const b of boundaries) plan.boundaries.push([base + b, base + b]);
  return plan;
}

/** Text offsets where each segment band or table-cell starts (deduplicated, sorted). */
export function boundaryOffsets(p: ExplorerPayload, cellStarts: number[] = []): number[] {
  const set = new Set<number>(cellStarts);
  for (const b of p.bands.segments) if (b.start > 0 && b.start < p.T) set.add(p.starts[b.start]);
  return [...set].sort((x, y) => x - y);
}
