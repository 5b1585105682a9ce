/// <reference lib="dom" />
/**
 * Position curves of one RePo layer: small multiples of every head and one head large, with the
 * integer diagonal, the focus y-range, plateaus and jumps, segment / table-row bands, the query
 * and needle spans and the editor's cursor token. chart.js draws on canvases with LTTB decimation,
 * so a 16K-token curve costs a few hundred points on screen.
 */
import { Chart, Decimation, LineController, LineElement, LinearScale, PointElement, Tooltip, type Plugin } from 'chart.js';
import type { CurveMarks, ExplorerPayload, ExplorerSelection, TokenBand } from '../../src/shared/protocol';
import { BAND_TINTS, curveRange, paintPlateausAndJumps, shadeTokens } from '../../src/shared/curvePaint';
import { el, shownToken, themeColor } from './dom';

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip, Decimation);

type Pt = { x: number; y: number };

export interface PositionsView {
  charts: Chart[];
  /** The large chart's canvas (PNG export). */
  bigCanvas?: HTMLCanvasElement;
  setCursor(token: number): void;
  /** Resolves once every chart has painted at least once on a sized canvas (charts built on a
   * detached canvas draw only after they are attached and measured). */
  drawn: Promise<void>;
}

interface OverlayState {
  bands: TokenBand[];
  marks?: CurveMarks;
  z: Float32Array;
  cursor: number;
  query: [number, number];
  needle?: [number, number];
  detailed: boolean;
}

function overlay(get: () => OverlayState): Plugin<'line'> {
  return {
    id: 'repoLensOverlay',
    beforeDatasetsDraw(chart) {
      const { ctx, chartArea: a, scales } = chart;
      const x = scales.x;
      const o = get();
      const span = (s: number, e: number, color: string) => shadeTokens(ctx, a, x, s, e, color);
      ctx.save();
      o.bands.forEach((b, i) => span(b.start, b.end - 1, BAND_TINTS[i % 2]));
      span(o.query[0], o.query[1], 'rgba(55,148,255,0.18)');
      if (o.needle) span(o.needle[0], o.needle[1], 'rgba(250,176,5,0.30)');
      ctx.restore();
    },
    afterDatasetsDraw(chart) {
      const { ctx, chartArea: a, scales } = chart;
      const x = scales.x;
      const y = scales.y;
      const o = get();
      if (o.marks && o.detailed) paintPlateausAndJumps(ctx, a, x, y, o.marks.plateaus.spans, o.marks.jumps.steps, o.z);
      ctx.save();
      ctx.beginPath();
      ctx.rect(a.left, a.top, a.right - a.left, a.bottom - a.top);
      ctx.clip();
      if (o.cursor >= 0) {
        const px = x.getPixelForValue(o.cursor);
        ctx.strokeStyle = themeColor('editorCursor-foreground', '#d6336c');
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(px, a.top);
        ctx.lineTo(px, a.bottom);
        ctx.stroke();
      }
      ctx.restore();
    },
  };
}

function drawnOnce(onDrawn: () => void): Plugin<'line'> {
  let done = false;
  return {
    id: 'repoLensDrawn',
    afterRender(chart) {
      if (done || chart.width === 0 || chart.height === 0) return;
      done = true;
      onDrawn();
    },
  };
}

function headCurve(p: ExplorerPayload, r: number, h: number): Float32Array {
  const H = p.model.numHeads;
  const off = (r * H + h) * p.T;
  return p.positions.subarray(off, off + p.T);
}

function points(z: Float32Array): Pt[] {
  const out: Pt[] = new Array(z.length);
  for (let t = 0; t < z.length; t++) out[t] = { x: t, y: z[t] };
  return out;
}

function makeChart(
  canvas: HTMLCanvasElement,
  p: ExplorerPayload,
  z: Float32Array,
  sel: ExplorerSelection,
  marks: CurveMarks | undefined,
  state: () => OverlayState,
  big: boolean,
  onDrawn: () => void,
  onClickToken?: (t: number) => void,
): Chart<'line', Pt[]> {
  const line = themeColor('charts-blue', '#1f6feb');
  const grey = themeColor('charts-lines', '#868e96');
  const fg = themeColor('foreground', '#444');
  const datasets: any[] = [
    { label: 'learned position', data: points(z), borderColor: line, borderWidth: big ? 1.5 : 1, pointRadius: 0, tension: 0 },
  ];
  if (sel.diagonal) datasets.push({ label: 'integer position t', data: [{ x: 0, y: 0 }, { x: p.T - 1, y: p.T - 1 }], borderColor: grey, borderDash: [4, 4], borderWidth: 1, pointRadius: 0 });
  const focus = sel.focus && marks ? marks.focus : undefined;
  return new Chart(canvas, {
    type: 'line',
    data: { datasets },
    plugins: [overlay(state), drawnOnce(onDrawn)],
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      events: big ? ['click', 'mousemove', 'mouseout'] : ['click'],
      onClick: onClickToken
        ? (ev, _els, chart) => {
            const t = Math.round(chart.scales.x.getValueForPixel((ev as { x: number }).x) ?? -1);
            if (t >= 0 && t < p.T) onClickToken(t);
          }
        : undefined,
      plugins: {
        legend: { display: false },
        tooltip: {
          enabled: big,
          mode: 'nearest',
          intersect: false,
          callbacks: {
            title: (items) => {
              const t = Math.round(items[0]?.parsed.x ?? 0);
              return `token ${t}: ${shownToken(p.text.slice(p.starts[t], p.ends[t]))}`;
            },
            label: (item) => `${item.dataset.label}: ${Number(item.parsed.y).toFixed(2)}`,
          },
        },
        decimation: { enabled: true, algorithm: 'lttb', samples: big ? 1200 : 300, threshold: big ? 1500 : 400 },
      },
      scales: {
        x: { type: 'linear', min: 0, max: Math.max(1, p.T - 1), ticks: { color: fg, display: big, maxTicksLimit: 8 }, grid: { display: big } },
        y: {
          type: 'linear',
          // The learned curve sets the range; the integer diagonal (up to T) is clipped, not
          // allowed to squash a compressed curve into a flat line.
          ...(focus ? { min: focus.lo, max: focus.hi } : curveRange(z)),
          ticks: { color: fg, display: big, maxTicksLimit: 6 },
          grid: { display: big },
        },
      },
    },
  });
}

export function renderPositions(
  root: HTMLElement,
  p: ExplorerPayload,
  sel: ExplorerSelection,
  cursor: number,
  onHead: (h: number) => void,
  onToken: (t: number) => void,
): PositionsView {
  const R = p.model.repoLayers.length;
  const H = p.model.numHeads;
  let pending = H + 1;
  let allDrawn: () => void = () => undefined;
  const drawn = new Promise<void>((resolve) => (allDrawn = resolve));
  const onDrawn = () => {
    if (--pending === 0) allDrawn();
  };
  const view: PositionsView = { charts: [], setCursor: () => undefined, drawn };
  if (R === 0) {
    allDrawn();
    root.append(el('p', { class: 'empty' }, `${p.model.name} has no RePo layers: every layer uses integer positions.`));
    return view;
  }
  const r = Math.min(sel.repoLayer, R - 1);
  const bands = sel.bands === 'none' ? [] : p.bands[sel.bands];
  let cursorToken = cursor;
  const stateFor = (h: number, detailed: boolean) => () => ({
    bands,
    marks: p.curves?.[r]?.[h],
    z: headCurve(p, r, h),
    cursor: cursorToken,
    query: [p.query.firstToken, p.query.lastToken] as [number, number],
    needle: p.needle ? ([p.needle.firstToken, p.needle.lastToken] as [number, number]) : undefined,
    detailed,
  });

  const grid = el('div', { class: 'multiples', 'data-testid': 'multiples' });
  for (let h = 0; h < H; h++) {
    const marks = p.curves?.[r]?.[h];
    const range = marks ? marks.max - marks.min : NaN;
    const canvas = el('canvas');
    const cell = el(
      'div',
      { class: 'multiple' + (h === sel.head ? ' selected' : ''), title: `show head ${h} large`, 'data-head': String(h) },
      el('div', { class: 'mtitle' }, `h${h}  d=${Number.isFinite(range) ? range.toFixed(1) : '–'}`),
      el('div', { class: 'mcanvas' }, canvas),
    );
    cell.addEventListener('click', () => onHead(h));
    grid.append(cell);
    view.charts.push(makeChart(canvas, p, headCurve(p, r, h), sel, marks, stateFor(h, false), false, onDrawn));
  }
  const head = Math.min(sel.head, H - 1);
  const bigCanvas = el('canvas', { 'data-testid': 'big-chart' });
  const info = el('p', { class: 'token-info', 'data-testid': 'token-info' });
  const marks = p.curves?.[r]?.[head];
  root.append(
    grid,
    el('h3', {}, `layer ${p.model.repoLayers[r]}, head ${head}`),
    el('div', { class: 'big' }, bigCanvas),
    info,
    el(
      'p',
      { class: 'legend' },
      'blue: learned position · dashed: integer position t · orange: plateau · red: jump · shaded: query (blue), needle (yellow), bands',
    ),
  );
  const big = makeChart(bigCanvas, p, headCurve(p, r, head), sel, marks, stateFor(head, true), true, onDrawn, onToken);
  view.charts.push(big);
  view.bigCanvas = bigCanvas;
  const showInfo = () => {
    if (cursorToken < 0) {
      info.textContent = 'Click the curve to select a token in the editor.';
      return;
    }
    const z = headCurve(p, r, head)[cursorToken];
    info.textContent = `token ${cursorToken} “${shownToken(p.text.slice(p.starts[cursorToken], p.ends[cursorToken]))}” at position ${z.toFixed(2)} (integer ${cursorToken})`;
  };
  showInfo();
  view.setCursor = (t) => {
    cursorToken = t;
    showInfo();
    for (const c of view.charts) c.draw();
  };
  return view;
}
