/**
 * Turns an analysis (the engine's AnalysisJson plus the raw run arrays) into what the head
 * explorer, the hovers and the decorations read: flat typed arrays, the query/needle token spans,
 * curve marks and structure bands. No `vscode` import.
 */
import type { AnalysisJson } from '../../engine/analysis';
import type { ExplorerPayload } from '../../shared/protocol';
import { structureBands } from '../../engine/analysis/bands';

export { structureBands };

export interface PayloadSource {
  id: string;
  documentUri: string;
  documentLabel: string;
  baseOffset: number;
  text: string;
  analysis: AnalysisJson;
  /** [R·H·T] of the main run. */
  positions: Float32Array;
  /** [L·H·T] mean query attention of the other position mode's run, when there was one. */
  otherAttention?: Float32Array;
  device: string;
}

export function buildExplorerPayload(src: PayloadSource): ExplorerPayload {
  const a = src.analysis;
  const T = a.tokens.length;
  const starts = new Int32Array(T);
  const ends = new Int32Array(T);
  const ids = new Int32Array(T);
  a.tokens.forEach((t, i) => {
    starts[i] = t.start;
    ends[i] = t.end;
    ids[i] = t.id;
  });
  const main = flatten3(a.queryAttention);
  const span = (s: { start: number; end: number; tokens: number[] }) => ({
    start: s.start,
    end: s.end,
    firstToken: s.tokens.length ? Math.min(...s.tokens) : -1,
    lastToken: s.tokens.length ? Math.max(...s.tokens) : -1,
  });
  return {
    id: src.id,
    documentUri: src.documentUri,
    documentLabel: src.documentLabel,
    baseOffset: src.baseOffset,
    text: src.text,
    model: { name: a.model.name, numLayers: a.model.numLayers, numHeads: a.model.numHeads, repoLayers: [...a.model.repoLayers], device: src.device },
    integerPositions: a.integerPositions,
    T,
    starts,
    ends,
    ids,
    positions: src.positions,
    attentionLearned: a.integerPositions ? src.otherAttention : main,
    attentionInteger: a.integerPositions ? main : src.otherAttention,
    query: span(a.query),
    ...(a.needle ? { needle: span(a.needle) } : {}),
    ...(a.needleSplit ? { needleSplit: a.needleSplit } : {}),
    ...(a.curves
      ? { curves: a.curves.heads.map((row) => row.map((c) => ({ focus: c.focus, plateaus: c.plateaus, jumps: c.jumps, min: c.min, max: c.max }))) }
      : {}),
    bands: { segments: structureBands(a, 'segments'), rows: structureBands(a, 'rows') },
  };
}

/** [A][B][C] nested numbers → one Float32Array in that order. */
export function flatten3(x: number[][][]): Float32Array {
  const A = x.length;
  const B = A ? x[0].length : 0;
  const C = B ? x[0][0].length : 0;
  const out = new Float32Array(A * B * C);
  let k = 0;
  for (const p of x) for (const q of p) for (let c = 0; c < C; c++) out[k++] = q[c];
  return out;
}

/** Reads value [i][j][k] of a flat [A·B·C] array. */
export function at3(flat: ArrayLike<number>, B: number, C: number, i: number, j: number, k: number): number {
  return flat[(i * B + j) * C + k];
}
