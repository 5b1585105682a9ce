/// <reference lib="dom" />
/**
 * Needle mass: layer × head grids of the needle / recent / rest split, learned positions beside
 * integer positions, with the totals. A click on a cell selects, in the editor, the token that
 * head attends to most within that part.
 */
import type { ExplorerPayload, ExplorerSelection } from '../../src/shared/protocol';
import { el } from './dom';

const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)}%`);

/** The token of the given part with the most attention from the query in (layer, head). */
export function topToken(p: ExplorerPayload, flat: Float32Array | undefined, layer: number, head: number, part: ExplorerSelection['part']): number {
  if (!flat) return -1;
  const H = p.model.numHeads;
  const off = (layer * H + head) * p.T;
  const inNeedle = (t: number) => !!p.needle && t >= p.needle.firstToken && t <= p.needle.lastToken;
  const recent = p.needleSplit?.recentTokens;
  const inRecent = (t: number) => !!recent && t >= recent.start && t < recent.end && !inNeedle(t);
  let best = -1;
  let bestV = -1;
  for (let t = 0; t < p.T; t++) {
    const ok = part === 'needle' ? inNeedle(t) : part === 'recent' ? inRecent(t) : !inNeedle(t) && !inRecent(t);
    if (ok && flat[off + t] > bestV) {
      bestV = flat[off + t];
      best = t;
    }
  }
  return best;
}

export function renderNeedle(
  root: HTMLElement,
  p: ExplorerPayload,
  sel: ExplorerSelection,
  onCell: (side: 'learned' | 'integer', layer: number, head: number) => void,
): HTMLTableElement[] {
  const split = p.needleSplit;
  if (!split || !p.needle) {
    root.append(el('p', { class: 'empty' }, 'No needle in this analysis: mark one with “RePo: Mark as Needle” and run again.'));
    return [];
  }
  const L = p.model.numLayers;
  const H = p.model.numHeads;
  const totals = el('table', { class: 'totals', 'data-testid': 'needle-totals' });
  totals.append(el('tr', {}, el('th', {}, ''), el('th', {}, 'needle'), el('th', {}, 'recent'), el('th', {}, 'rest')));
  for (const side of ['learned', 'integer', 'delta'] as const) {
    const t = split.totals[side]?.overall;
    if (!t) continue;
    totals.append(el('tr', {}, el('th', {}, side === 'delta' ? 'learned − integer' : `${side} positions`), el('td', {}, pct(t.needle)), el('td', {}, pct(t.recent)), el('td', {}, pct(t.rest))));
  }
  const grids: HTMLTableElement[] = [];
  const pair = el('div', { class: 'grid-pair' });
  for (const side of ['learned', 'integer'] as const) {
    const g = split[side];
    const box = el('div', { class: 'grid-box' }, el('h3', {}, `${side} positions: ${sel.part} share`));
    if (!g) {
      box.append(el('p', { class: 'empty' }, 'not computed'));
      pair.append(box);
      continue;
    }
    const values = g[sel.part];
    let max = 0;
    for (const row of values) for (const v of row) max = Math.max(max, v);
    const table = el('table', { class: 'grid', 'data-testid': `grid-${side}` });
    const header = el('tr', {}, el('th', {}, 'layer'));
    for (let h = 0; h < H; h++) header.append(el('th', {}, `h${h}`));
    table.append(header);
    for (let l = 0; l < L; l++) {
      const tr = el('tr', {}, el('th', {}, String(l)));
      for (let h = 0; h < H; h++) {
        const v = values[l][h];
        const td = el('td', { title: `layer ${l}, head ${h}: ${pct(v)} (click: select its top ${sel.part} token)` }, pct(v));
        // CSSOM, not a style attribute: allowed under the strict CSP.
        td.style.backgroundColor = `rgba(250, 176, 5, ${max > 0 ? (0.08 + 0.8 * (v / max)).toFixed(3) : '0'})`;
        td.addEventListener('click', () => onCell(side, l, h));
        tr.append(td);
      }
      table.append(tr);
    }
    grids.push(table);
    box.append(table);
    pair.append(box);
  }
  root.append(el('h3', {}, 'Where the query’s attention goes (mean over layers and heads)'), totals, pair);
  return grids;
}
