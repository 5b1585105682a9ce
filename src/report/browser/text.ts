/// <reference lib="dom" />
/**
 * The prompt as text, each token shaded by the query's attention to it. Only a window of tokens is
 * in the DOM at a time (WINDOW units), so a 16K-token prompt stays responsive. Prompt text is
 * inserted with textContent / text nodes only.
 */
import type { AnalysisJson } from '../../engine/analysis';
import { fmt, h, select } from './dom';

const WINDOW = 1500;

/** Consecutive tokens with the same text range (the bytes of one character) shown as one unit. */
interface Unit {
  start: number;
  end: number;
  t0: number;
  t1: number;
}

function unitsOf(a: AnalysisJson): { units: Unit[]; unitOf: Int32Array } {
  const units: Unit[] = [];
  const unitOf = new Int32Array(a.tokens.length);
  a.tokens.forEach((tok, t) => {
    const last = units[units.length - 1];
    if (last && last.start === tok.start && last.end === tok.end) last.t1 = t + 1;
    else units.push({ start: tok.start, end: tok.end, t0: t, t1: t + 1 });
    unitOf[t] = units.length - 1;
  });
  return { units, unitOf };
}

export interface TextView {
  element: HTMLElement;
  /** Brings token t into the window and marks it. */
  focusToken(t: number): void;
}

export function textSection(a: AnalysisJson, text: string): TextView {
  const L = a.model.numLayers;
  const H = a.model.numHeads;
  const { units, unitOf } = unitsOf(a);
  const isQuery = new Uint8Array(a.tokens.length);
  for (const t of a.query.tokens) isQuery[t] = 1;
  const isNeedle = new Uint8Array(a.tokens.length);
  for (const t of a.needle?.tokens ?? []) isNeedle[t] = 1;
  const state = { layer: 'mean', head: 'mean', start: 0, focus: -1 };

  let values = new Float64Array(units.length);
  let vmax = 1;
  const compute = () => {
    const ls = state.layer === 'mean' ? [...Array(L).keys()] : [Number(state.layer)];
    const hs = state.head === 'mean' ? [...Array(H).keys()] : [Number(state.head)];
    const perToken = new Float64Array(a.tokens.length);
    for (const l of ls) for (const hd of hs) {
      const row = a.queryAttention[l][hd];
      for (let t = 0; t < row.length; t++) perToken[t] += row[t];
    }
    const n = ls.length * hs.length;
    values = new Float64Array(units.length);
    units.forEach((u, i) => {
      for (let t = u.t0; t < u.t1; t++) values[i] += perToken[t] / n;
    });
    // Scale by the largest value outside the query: the query attends to itself most.
    vmax = 0;
    units.forEach((u, i) => {
      if (!isQuery[u.t0] && values[i] > vmax) vmax = values[i];
    });
    if (vmax <= 0) vmax = Math.max(1e-12, ...values);
  };

  const view = h('div', { class: 'textview' });
  const where = h('span', { class: 'where' });
  const slider = h('input', { attrs: { 'aria-label': 'window start' } });
  slider.type = 'range';
  slider.min = '0';
  slider.max = String(Math.max(0, units.length - WINDOW));
  slider.step = '1';
  slider.addEventListener('input', () => {
    state.start = Number(slider.value);
    draw();
  });
  const move = (to: number) => {
    state.start = Math.max(0, Math.min(units.length - WINDOW, to));
    if (state.start < 0) state.start = 0;
    draw();
  };
  const button = (label: string, fn: () => void) => h('button', { on: { click: fn } }, label);

  const draw = () => {
    slider.value = String(state.start);
    const end = Math.min(units.length, state.start + WINDOW);
    const parts: Node[] = [];
    if (state.start > 0) parts.push(h('span', { class: 'elided' }, `… ${state.start} earlier units …\n`));
    let prev = units[state.start]?.start ?? 0;
    let focused: HTMLElement | null = null;
    for (let i = state.start; i < end; i++) {
      const u = units[i];
      if (u.start > prev) parts.push(document.createTextNode(text.slice(prev, u.start)));
      const cls = ['tok'];
      if (isQuery[u.t0]) cls.push('q');
      if (isNeedle[u.t0]) cls.push('n');
      const tokens = u.t1 - u.t0 > 1 ? `tokens ${u.t0}–${u.t1 - 1}` : `token ${u.t0}`;
      const span = h('span', { class: cls.join(' '), title: `${tokens} · attention ${fmt(values[i], 5)}` }, text.slice(u.start, u.end));
      const k = Math.min(1, Math.sqrt(values[i] / vmax));
      if (k > 0.02) span.style.backgroundColor = `rgba(255,140,0,${k.toFixed(3)})`;
      if (state.focus >= u.t0 && state.focus < u.t1) {
        span.classList.add('focus');
        focused = span;
      }
      parts.push(span);
      prev = Math.max(prev, u.end);
    }
    if (end < units.length) parts.push(h('span', { class: 'elided' }, `\n… ${units.length - end} later units …`));
    view.replaceChildren(...parts);
    where.textContent = `units ${state.start}–${end - 1} of ${units.length} (${a.tokens.length} tokens)`;
    if (focused) (focused as HTMLElement).scrollIntoView({ block: 'center' });
  };

  const centre = (t: number) => move(unitOf[t] - Math.floor(WINDOW / 2));
  const layerOpts: [string, string][] = [['mean', 'mean over layers'], ...Array.from({ length: L }, (_, l) => [String(l), `layer ${l}`] as [string, string])];
  const headOpts: [string, string][] = [['mean', 'mean over heads'], ...Array.from({ length: H }, (_, i) => [String(i), `head ${i}`] as [string, string])];
  const controls = h(
    'div',
    { class: 'controls' },
    h('label', {}, 'attention of ', select(layerOpts, state.layer, (v) => {
      state.layer = v;
      compute();
      draw();
    }, 'layer')),
    ' ',
    select(headOpts, state.head, (v) => {
      state.head = v;
      compute();
      draw();
    }, 'head'),
    ' ',
    button('◀', () => move(state.start - WINDOW)),
    button('▶', () => move(state.start + WINDOW)),
    units.length > WINDOW ? slider : null,
    button('query', () => centre(a.query.tokens[0])),
    a.needle ? button('needle', () => centre(a.needle!.tokens[0])) : null,
    ' ',
    where,
  );
  const element = h(
    'section',
    { id: 'text' },
    h('h2', {}, 'Text coloured by query attention'),
    h('p', { class: 'note' }, 'Shade: √(attention ÷ largest attention outside the query), averaged over query tokens. Blue underline: query; red underline: needle. Hover a token for its numbers.'),
    controls,
    view,
  );
  compute();
  // Start where the needle (else the query) is, so the first screen shows what matters.
  centre(a.needle?.tokens[0] ?? a.query.tokens[0]);
  return {
    element,
    focusToken(t: number) {
      state.focus = t;
      centre(t);
    },
  };
}
