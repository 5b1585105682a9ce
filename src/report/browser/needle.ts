/// <reference lib="dom" />
/**
 * Needle attention mass: layer × head grids for learned and integer positions side by side, their
 * difference, and the needle / recent / rest totals per layer.
 */
import type { AnalysisJson, SplitGrids, SplitTotals } from '../../engine/analysis';
import { excerpt, fmt, h, select } from './dom';

type Part = 'needle' | 'recent' | 'rest';

/** White → blue for shares in [0, max]. */
function shareColor(v: number, max: number): string {
  if (!Number.isFinite(v)) return '#f1f3f5';
  const k = max > 0 ? Math.min(1, Math.max(0, v / max)) : 0;
  return `rgb(${Math.round(255 - 224 * k)},${Math.round(255 - 144 * k)},${Math.round(255 - 20 * k)})`;
}

/** Red (learned below integer) ← white → green (learned above integer). */
function deltaColor(v: number, maxAbs: number): string {
  if (!Number.isFinite(v)) return '#f1f3f5';
  const k = maxAbs > 0 ? Math.min(1, Math.abs(v) / maxAbs) : 0;
  return v >= 0
    ? `rgb(${Math.round(255 - 208 * k)},${Math.round(255 - 97 * k)},${Math.round(255 - 187 * k)})`
    : `rgb(${Math.round(255 - 54 * k)},${Math.round(255 - 213 * k)},${Math.round(255 - 213 * k)})`;
}

function gridTable(title: string, grid: number[][], color: (v: number) => string, signed: boolean, repoLayers: number[]): HTMLElement {
  const H = grid[0]?.length ?? 0;
  const head = h('tr', {}, h('th', {}, 'layer'), ...Array.from({ length: H }, (_, i) => h('th', {}, `h${i}`)));
  const rows = grid.map((row, l) =>
    h(
      'tr',
      {},
      h('th', { title: repoLayers.includes(l) ? 'RePo layer' : 'integer-position layer' }, `${l}${repoLayers.includes(l) ? ' ●' : ''}`),
      ...row.map((v, i) => {
        // Rounded to two decimals; a tiny negative should not read "-0.00".
        const shown = fmt(v, 2) === '-0.00' ? '0.00' : fmt(v, 2);
        const td = h('td', { title: `layer ${l}, head ${i}: ${fmt(v, 4)}` }, signed && v > 0 && shown !== '0.00' ? `+${shown}` : shown);
        td.style.background = color(v);
        return td;
      }),
    ),
  );
  return h('div', { class: 'grid' }, h('h4', {}, title), h('table', { class: 'heat' }, h('thead', {}, head), h('tbody', {}, ...rows)));
}

function totalsTable(t: { learned: SplitTotals; integer?: SplitTotals; delta?: SplitTotals }, repoLayers: number[]): HTMLElement {
  const parts: Part[] = ['needle', 'recent', 'rest'];
  const groups: [string, SplitTotals | undefined][] = [
    ['learned', t.learned],
    ['integer', t.integer],
    ['Δ learned − integer', t.delta],
  ];
  const present = groups.filter((g) => g[1]) as [string, SplitTotals][];
  const sign = (name: string, v: number) => (name.startsWith('Δ') && v > 0 ? `+${fmt(v, 3)}` : fmt(v, 3));
  const head1 = h('tr', {}, h('th', {}), ...present.map(([n]) => h('th', { attrs: { colspan: '3' } }, n)));
  const head2 = h('tr', {}, h('th', {}, 'layer'), ...present.flatMap(() => parts.map((p) => h('th', {}, p))));
  const L = t.learned.perLayer.needle.length;
  const rows = Array.from({ length: L }, (_, l) =>
    h(
      'tr',
      {},
      h('th', {}, `${l}${repoLayers.includes(l) ? ' ●' : ''}`),
      ...present.flatMap(([n, s]) => parts.map((p) => h('td', {}, sign(n, s.perLayer[p][l])))),
    ),
  );
  const mean = h('tr', { class: 'total' }, h('th', {}, 'mean'), ...present.flatMap(([n, s]) => parts.map((p) => h('td', {}, sign(n, s.overall[p])))));
  return h('table', { class: 'totals' }, h('thead', {}, head1, head2), h('tbody', {}, ...rows, mean));
}

export function needleSection(a: AnalysisJson, text: string): HTMLElement {
  const sec = h('section', { id: 'needle' }, h('h2', {}, 'Needle attention mass'));
  const sp = a.needleSplit;
  if (!a.needle || !sp) {
    sec.append(h('p', {}, 'No needle: give --needle-text "…" or --needle-range A:B (no sentence shared a rare phrase with the query).'));
    return sec;
  }
  sec.append(
    h(
      'p',
      {},
      `Needle ${a.needle.start}:${a.needle.end} (${a.needle.tokens.length} tokens, ${a.needle.source ?? 'range'}${a.needle.note ? ': ' + a.needle.note : ''}) `,
      h('q', { class: 'needle-text' }, excerpt(text.slice(a.needle.start, a.needle.end), 160)),
    ),
    h(
      'p',
      { class: 'note' },
      `Mean over query tokens of the share of attention on the needle, on the recent tokens (the query and the ${sp.recentWindow} tokens before it: tokens ` +
        `${sp.recentTokens.start}…${sp.recentTokens.end - 1}) and on the rest; the three sum to 1 per layer and head. ` +
        (sp.integer ? 'Integer: the same weights run with positions 0..T−1 in the RePo layers. ● = RePo layer.' : 'The integer-position run was skipped (--no-ablation).'),
    ),
    totalsTable(sp.totals, a.model.repoLayers),
  );
  let part: Part = 'needle';
  const grids = h('div', { class: 'grids' });
  const draw = () => {
    const grids3: [string, SplitGrids | undefined][] = [
      ['learned', sp.learned],
      ['integer', sp.integer],
    ];
    const max = Math.max(1e-9, ...grids3.flatMap(([, g]) => (g ? g[part].flat().filter(Number.isFinite) : [])));
    const items: HTMLElement[] = [];
    for (const [name, g] of grids3) if (g) items.push(gridTable(`${part} — ${name}`, g[part], (v) => shareColor(v, max), false, a.model.repoLayers));
    if (sp.delta) {
      const d = sp.delta[part];
      const maxAbs = Math.max(1e-9, ...d.flat().filter(Number.isFinite).map(Math.abs));
      items.push(gridTable(`${part} — Δ learned − integer`, d, (v) => deltaColor(v, maxAbs), true, a.model.repoLayers));
    }
    grids.replaceChildren(...items);
  };
  sec.append(
    h('div', { class: 'controls' }, h('label', {}, 'grid shows ', select([['needle', 'needle'], ['recent', 'recent'], ['rest', 'rest']], part, (v) => {
      part = v as Part;
      draw();
    }, 'split part'))),
    grids,
  );
  draw();
  return sec;
}
