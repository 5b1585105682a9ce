/// <reference lib="dom" />
/**
 * Position curves: small multiples of every head of one RePo layer, and one head large, with the
 * integer diagonal, the focus y-range, plateaus and jumps, chunk labels and structure bands.
 * chart.js draws on canvases; its LTTB decimation keeps 16K-token curves cheap to draw.
 */
import { Chart, Decimation, LineController, LineElement, LinearScale, PointElement, Tooltip, type ChartDataset, type Plugin } from 'chart.js';
import type { AnalysisJson, CurveSummaryJson } from '../../engine/analysis';
import { structureBands, type TokenBand } from '../../engine/analysis/bands';
import { BAND_TINTS, paintPlateausAndJumps, shadeTokens } from '../../shared/curvePaint';
import { checkbox, excerpt, fmt, h, pct, select } from './dom';

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip, Decimation);

export type Band = TokenBand;

type Pt = { x: number; y: number };

const CHUNK_COLOR: Record<string, string> = { C: '#e8590c', U: '#2f9e44', D: '#66a80f', H: '#adb5bd' };

interface Overlay {
  bands: Band[];
  curve: CurveSummaryJson | undefined;
  z: number[];
  showEvents: boolean;
}

/** Draws structure bands behind the datasets, and plateaus, jumps and the chunk strip over them. */
function overlayPlugin(get: () => Overlay): Plugin<'line'> {
  return {
    id: 'repoOverlay',
    beforeDatasetsDraw(chart) {
      const { ctx, chartArea: area, scales } = chart;
      const x = scales.x;
      const o = get();
      ctx.save();
      o.bands.forEach((b, i) => {
        const width = shadeTokens(ctx, area, x, b.start, b.end - 1, BAND_TINTS[i % 2]);
        if (width > 40 && o.showEvents) {
          const x0 = Math.max(area.left, x.getPixelForValue(b.start - 0.5));
          ctx.fillStyle = '#495057';
          ctx.font = '10px sans-serif';
          ctx.fillText(b.label.slice(0, Math.floor(width / 6)), x0 + 2, area.top + 10);
        }
      });
      ctx.restore();
    },
    afterDatasetsDraw(chart) {
      const o = get();
      if (!o.curve) return;
      const { ctx, chartArea: area, scales } = chart;
      const x = scales.x, y = scales.y;
      ctx.save();
      ctx.beginPath();
      ctx.rect(area.left, area.top, area.right - area.left, area.bottom - area.top);
      ctx.clip();
      if (o.showEvents) paintPlateausAndJumps(ctx, area, x, y, o.curve.plateaus.spans, o.curve.jumps.steps, o.z);
      // Chunk labels as a strip along the bottom of the plot area.
      const size = o.curve.chunks.size;
      const labels = o.curve.chunks.labels;
      const hgt = o.showEvents ? 6 : 4;
      for (let k = 0; k < labels.length; k++) {
        const x0 = x.getPixelForValue(k * size - 0.5);
        const x1 = x.getPixelForValue(Math.min(o.z.length, (k + 1) * size) - 0.5);
        ctx.fillStyle = CHUNK_COLOR[labels[k]] ?? '#ced4da';
        ctx.fillRect(x0, area.bottom - hgt, Math.max(1, x1 - x0 - 0.5), hgt);
      }
      ctx.restore();
    },
  };
}

export interface PositionsState {
  layer: number;
  head: number;
  focus: boolean;
  diagonal: boolean;
  bands: 'none' | 'segments' | 'rows';
}

/** The positions section; `onToken` is called with a token index when the large chart is clicked. */
export function positionsSection(a: AnalysisJson, text: string, onToken: (t: number) => void): HTMLElement {
  const R = a.positions.length;
  const H = a.model.numHeads;
  const T = a.tokens.length;
  const sec = h('section', { id: 'positions' }, h('h2', {}, 'Learned positions per head'));
  if (R === 0) {
    sec.append(h('p', {}, 'This model has no RePo layers: every layer uses integer positions.'));
    return sec;
  }
  const hasTable = (a.structure?.tables.length ?? 0) > 0;
  const state: PositionsState = { layer: 0, head: bestHead(a, 0), focus: false, diagonal: false, bands: hasTable ? 'rows' : 'segments' };
  const charts: Chart<'line', Pt[]>[] = [];
  const grid = h('div', { class: 'multiples' });
  const bigBox = h('div', { class: 'big' });
  const stats = h('p', { class: 'stats' });
  const controls = h(
    'div',
    { class: 'controls' },
    h('label', {}, 'RePo layer ', select(a.model.repoLayers.map((l, r) => [String(r), `layer ${l}`]), '0', (v) => {
      state.layer = Number(v);
      state.head = bestHead(a, state.layer);
      render();
    }, 'RePo layer')),
    checkbox('focus y-range (1.5·IQR)', state.focus, (v) => {
      state.focus = v;
      render();
    }),
    checkbox('integer diagonal y = t (rescales the axis)', state.diagonal, (v) => {
      state.diagonal = v;
      render();
    }),
    h('label', {}, 'bands ', select([['none', 'none'], ['segments', 'segments'], ['rows', 'table rows']], state.bands, (v) => {
      state.bands = v as PositionsState['bands'];
      render();
    }, 'bands')),
  );
  const legend = h(
    'p',
    { class: 'legend' },
    swatch('#1f6feb'), ' learned position  ',
    swatch('#868e96'), ' integer position t  ',
    swatch('#e8590c'), ' plateau / Constant chunk  ',
    swatch('#2f9e44'), ' Mono chunk  ',
    swatch('#adb5bd'), ' Hybrid chunk  ',
    swatch('#c92a2a'), ' jump',
  );
  const bigTitle = h('h3');
  sec.append(controls, grid, bigTitle, bigBox, legend, stats);

  const curveOf = (r: number, hd: number) => a.curves?.heads[r]?.[hd];
  const render = () => {
    for (const c of charts.splice(0)) c.destroy();
    grid.replaceChildren();
    bigBox.replaceChildren();
    const bands = state.bands === 'none' ? [] : structureBands(a, state.bands);
    for (let hd = 0; hd < H; hd++) {
      const cv = h('canvas');
      const c = curveOf(state.layer, hd);
      const cell = h(
        'div',
        { class: 'multiple' + (hd === state.head ? ' selected' : ''), title: `show head ${hd} large` },
        h('div', { class: 'mtitle' }, `h${hd}  d=${fmt(c?.range, 1)}  C ${pct(c?.chunks.fractions.constant)}`),
        h('div', { class: 'mcanvas' }, cv),
      );
      cell.addEventListener('click', () => {
        state.head = hd;
        render();
      });
      grid.append(cell);
      charts.push(makeChart(cv, a, state.layer, hd, state, bands, true, text, onToken));
    }
    const cv = h('canvas');
    bigBox.append(cv);
    charts.push(makeChart(cv, a, state.layer, state.head, state, bands, false, text, onToken));
    const c = curveOf(state.layer, state.head);
    bigTitle.textContent = `layer ${a.model.repoLayers[state.layer]}, head ${state.head} (click a point to show its token in the text)`;
    stats.textContent = c
      ? `range d = ${fmt(c.range, 2)} (min ${fmt(c.min, 2)}, max ${fmt(c.max, 2)}) · focus ${fmt(c.focus.lo, 2)}…${fmt(c.focus.hi, 2)} ` +
        `(${c.focus.outliers} outliers) · chunks of ${c.chunks.size}: Constant ${pct(c.chunks.fractions.constant)}, ` +
        `Mono ${pct(c.chunks.fractions.mono)}, Hybrid ${pct(c.chunks.fractions.hybrid)} · ${c.plateaus.spans.length} plateaus · ` +
        `${c.jumps.steps.length} jumps · ${T} tokens`
      : '';
  };
  render();
  return sec;
}

function swatch(color: string): HTMLElement {
  const s = h('span', { class: 'swatch' });
  s.style.background = color;
  return s;
}

/** The head with the largest range in RePo layer r (what a reader looks at first). */
function bestHead(a: AnalysisJson, r: number): number {
  const heads = a.curves?.heads[r];
  if (!heads) return 0;
  let best = 0;
  heads.forEach((c, i) => {
    if (c.range > heads[best].range) best = i;
  });
  return best;
}

function makeChart(
  canvas: HTMLCanvasElement,
  a: AnalysisJson,
  r: number,
  hd: number,
  state: PositionsState,
  bands: Band[],
  small: boolean,
  text: string,
  onToken: (t: number) => void,
): Chart<'line', Pt[]> {
  const z = a.positions[r][hd];
  const T = z.length;
  const curve = a.curves?.heads[r]?.[hd];
  const datasets: ChartDataset<'line', Pt[]>[] = [
    {
      label: 'learned position',
      data: z.map((y, x) => ({ x, y })),
      borderColor: '#1f6feb',
      borderWidth: small ? 1 : 1.25,
      pointRadius: 0,
      pointHoverRadius: small ? 0 : 4,
      indexAxis: 'x',
    },
  ];
  if (state.diagonal) {
    datasets.push({
      label: 'integer position',
      data: [{ x: 0, y: 0 }, { x: T - 1, y: T - 1 }],
      borderColor: '#868e96',
      borderWidth: 1,
      pointRadius: 0,
      pointHoverRadius: 0,
      indexAxis: 'x',
      borderDash: [4, 4],
    });
  }
  const y: { type: 'linear'; min?: number; max?: number; ticks: object; title?: object } = {
    type: 'linear',
    // Bounds are the data range, not round numbers: keep them out of the tick labels.
    ticks: small ? { maxTicksLimit: 3, font: { size: 9 }, includeBounds: false } : { includeBounds: false },
    title: small ? undefined : { display: true, text: 'position' },
  };
  // The y-range follows the learned curve (or its focus range). Learned positions are dense (a
  // range far below T), so with the diagonal shown the axis grows to 0..T−1 and the curve flattens:
  // that contrast is what the diagonal is for. Focus wins over the diagonal.
  if (curve) {
    const pad = curve.range > 0 ? 0.04 * curve.range : 1;
    y.min = state.focus ? curve.focus.lo : curve.min - pad;
    y.max = state.focus ? curve.focus.hi : curve.max + pad;
    if (state.diagonal && !state.focus) {
      y.min = Math.min(y.min, 0);
      y.max = Math.max(y.max, T - 1);
    }
  }
  const tokenText = (t: number) => {
    const tok = a.tokens[t];
    return tok ? excerpt(text.slice(tok.start, tok.end), 24) : '';
  };
  return new Chart<'line', Pt[]>(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      spanGaps: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: {
          type: 'linear',
          min: 0,
          max: Math.max(1, T - 1),
          ticks: small ? { maxTicksLimit: 3, font: { size: 9 } } : {},
          title: small ? undefined : { display: true, text: 'token index' },
        },
        y,
      },
      events: small ? [] : ['mousemove', 'mouseout', 'click'],
      plugins: {
        decimation: { enabled: true, algorithm: 'lttb', samples: small ? 160 : 1200 },
        tooltip: {
          enabled: !small,
          filter: (item) => item.datasetIndex === 0,
          callbacks: {
            title: (items) => (items.length ? `token ${items[0].parsed.x} ${tokenText(items[0].parsed.x as number)}` : ''),
            label: (item) => `position ${fmt(item.parsed.y as number, 3)}`,
          },
        },
      },
      onClick: small
        ? undefined
        : (_ev, els, chart) => {
            // After decimation, element indices point into the decimated data, whose x is the token.
            const el = els.find((e) => e.datasetIndex === 0);
            const p = el ? (chart.data.datasets[0].data[el.index] as Pt | undefined) : undefined;
            if (p) onToken(p.x);
          },
    },
    plugins: [overlayPlugin(() => ({ bands, curve, z, showEvents: !small }))],
  });
}
