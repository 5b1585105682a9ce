/**
 * Token spans of the prompt's structure, for drawing bands behind position curves. Shared by the
 * HTML report (browser bundle) and the head explorer's payload, so it imports types only.
 */
import type { AnalysisJson } from './analysis';

export interface TokenBand {
  start: number;
  /** Exclusive token index. */
  end: number;
  label: string;
}

/** Token spans of segments, or of table rows (header row included), from the token map. */
export function structureBands(a: AnalysisJson, kind: 'segments' | 'rows'): TokenBand[] {
  const st = a.structure;
  if (!st) return [];
  const spans = new Map<string, TokenBand>();
  for (let t = 0; t < a.tokens.length; t++) {
    let key: string;
    let label: string;
    if (kind === 'segments') {
      const s = st.tokens.segment[t];
      if (s < 0) continue;
      key = String(s);
      label = st.segments[s].label;
    } else {
      const tb = st.tokens.table[t];
      if (tb < 0) continue;
      const row = st.tokens.row[t];
      key = `${tb}:${row}`;
      label = row < 0 ? 'header' : `row ${row + 1}`;
    }
    const b = spans.get(key);
    if (b) b.end = t + 1;
    else spans.set(key, { start: t, end: t + 1, label });
  }
  return [...spans.values()].sort((x, y) => x.start - y.start);
}
