/// <reference lib="dom" />
/**
 * The head explorer webview. Talks to the extension host only through the typed messages of
 * src/shared/protocol.ts. Its state (the selection and the analysis itself, typed arrays as
 * base64) is kept with setState, so hiding the view or reloading the window restores it without
 * running the model again.
 */
import type { Chart } from 'chart.js';
import { decodePayload, encodePayload, payloadArrayBytes, type StoredPayload } from '../../src/shared/codec';
import {
  DEFAULT_SELECTION,
  EXPLORER_PROTOCOL_VERSION,
  type ExplorerPayload,
  type ExplorerSelection,
  type ExportKind,
  type HostToWebview,
  type WebviewToHost,
} from '../../src/shared/protocol';
import { button, checkbox, el, select } from './dom';
import { renderNeedle, topToken } from './needle';
import { renderPositions, type PositionsView } from './positions';

interface VsCodeApi {
  postMessage(m: WebviewToHost): void;
  getState(): SavedState | undefined;
  setState(s: SavedState): void;
}
interface SavedState {
  selection: ExplorerSelection;
  payload?: StoredPayload;
  /** Set instead of `payload` when the analysis was too large to keep (see STATE_LIMIT_BYTES). */
  notKept?: { bytes: number };
  stale?: boolean;
}

/**
 * Largest analysis (typed-array bytes) kept in the saved state. VS Code holds that state as one
 * JSON string (base64 here, 4/3 larger) and writes it out on reload; a 16K-token analysis of the
 * 1B model is ≈ 45 MB. Above the limit only the selection is kept: hiding and reopening the view
 * still works (the host sends the analysis again), a window reload asks for a re-run.
 */
const STATE_LIMIT_BYTES = 24 * 2 ** 20;
/** The limit, which the webview harness test lowers through `window.repoLensStateLimitBytes`. */
const stateLimit = () => (window as { repoLensStateLimitBytes?: number }).repoLensStateLimitBytes ?? STATE_LIMIT_BYTES;
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;

let payload: ExplorerPayload | undefined;
/** The payload's saved form, encoded once per analysis (not on every click). */
let storedPayload: StoredPayload | undefined;
/** Restored from a state whose analysis was too large to keep: its size, for the empty view's message. */
let notKeptBytes = 0;
let selection: ExplorerSelection = { ...DEFAULT_SELECTION };
let stale = false;
let cursor = -1;
let charts: Chart[] = [];
let positionsView: PositionsView | undefined;
let statusLine: HTMLElement | undefined;

const post = (m: WebviewToHost) => vscode.postMessage(m);

function save(): void {
  const bytes = payload ? payloadArrayBytes(payload) : 0;
  if (payload && !storedPayload && bytes <= stateLimit()) storedPayload = encodePayload(payload);
  const kept = storedPayload ? { payload: storedPayload } : payload ? { notKept: { bytes } } : {};
  vscode.setState({ selection, stale, ...kept });
}

function restore(): void {
  const s = vscode.getState();
  if (!s) return;
  selection = { ...DEFAULT_SELECTION, ...s.selection };
  stale = !!s.stale;
  notKeptBytes = s.notKept?.bytes ?? 0;
  if (s.payload) {
    try {
      payload = decodePayload(s.payload);
      storedPayload = s.payload;
    } catch (e) {
      post({ type: 'log', level: 'error', message: `could not restore the saved analysis: ${String(e)}` });
    }
  }
}

function selectToken(t: number): void {
  if (!payload || t < 0 || t >= payload.T) return;
  cursor = t;
  positionsView?.setCursor(t);
  post({ type: 'selectToken', id: payload.id, documentUri: payload.documentUri, baseOffset: payload.baseOffset, start: payload.starts[t], end: payload.ends[t] });
}

function reportSelection(): void {
  if (!payload) return;
  const R = payload.model.repoLayers.length;
  const r = Math.min(selection.repoLayer, Math.max(0, R - 1));
  post({ type: 'selection', id: payload.id, repoLayer: r, layer: R ? payload.model.repoLayers[r] : -1, head: selection.head });
}

function update(change: Partial<ExplorerSelection>): void {
  selection = { ...selection, ...change };
  save();
  render();
  if ('repoLayer' in change || 'head' in change) reportSelection();
}

function requestExport(kind: ExportKind): void {
  if (!payload) return;
  delete document.body.dataset.exported;
  const canvas = positionsView?.bigCanvas;
  if (kind === 'png') {
    if (!canvas || selection.view !== 'positions') {
      setStatus('Open the position curves to export a chart as PNG.');
      return;
    }
    post({ type: 'export', kind, id: payload.id, pngDataUrl: canvas.toDataURL('image/png') });
  } else post({ type: 'export', kind, id: payload.id });
}

function setStatus(text: string): void {
  if (statusLine) statusLine.textContent = text;
}

/** Counts render() calls, so that a slow first paint of an older render cannot mark a newer one drawn. */
let renderGeneration = 0;

function render(): void {
  for (const c of charts.splice(0)) c.destroy();
  positionsView = undefined;
  app.replaceChildren();
  if (!payload) {
    delete document.body.dataset.rendered;
    delete document.body.dataset.drawn;
    app.append(
      el(
        'p',
        { class: 'empty' },
        notKeptBytes
          ? `The last analysis (${(notKeptBytes / 2 ** 20).toFixed(0)} MB) was too large to keep across a window reload: run “Analyze with RePo” again to see it here.`
          : 'Run “Analyze with RePo” on an editor to see its heads here.',
      ),
    );
    return;
  }
  const p = payload;
  const R = p.model.repoLayers.length;
  const header = el(
    'div',
    { class: 'header' },
    el('strong', {}, p.documentLabel),
    ` · ${p.model.name} · ${p.T} tokens · ${p.model.device}`,
    ...(stale ? [el('span', { class: 'stale', 'data-testid': 'stale' }, ' · out of date: the text changed since this analysis')] : []),
  );
  const controls = el(
    'div',
    { class: 'controls' },
    select('view', [['positions', 'position curves'], ['needle', 'needle mass']], selection.view, (v) => update({ view: v as ExplorerSelection['view'] })),
  );
  if (selection.view === 'positions') {
    controls.append(
      select('RePo layer', p.model.repoLayers.map((l, r) => [String(r), `layer ${l}`]), String(Math.min(selection.repoLayer, Math.max(0, R - 1))), (v) =>
        update({ repoLayer: Number(v) }),
      ),
      select('bands', [['none', 'none'], ['segments', 'segments'], ['rows', 'table rows']], selection.bands, (v) => update({ bands: v as ExplorerSelection['bands'] })),
      checkbox('focus y-range', selection.focus, (v) => update({ focus: v })),
      checkbox('integer diagonal', selection.diagonal, (v) => update({ diagonal: v })),
    );
  } else {
    controls.append(select('part', [['needle', 'needle'], ['recent', 'recent'], ['rest', 'rest']], selection.part, (v) => update({ part: v as ExplorerSelection['part'] })));
  }
  const exports = el(
    'div',
    { class: 'exports' },
    ...(
      [
        ['PNG', 'png'],
        ['JSON', 'json'],
        ['CSV positions', 'csv-positions'],
        ['CSV needle', 'csv-needle'],
      ] as const
    ).map(([label, kind]) => {
      const b = button(label, () => requestExport(kind));
      b.dataset.testid = `export-${kind}`;
      return b;
    }),
  );
  statusLine = el('p', { class: 'status', 'data-testid': 'status' });
  const body = el('div', { class: 'body' });
  app.append(header, controls, body, exports, statusLine);

  if (selection.view === 'positions') {
    positionsView = renderPositions(body, p, selection, cursor, (h) => update({ head: h }), selectToken);
    charts = positionsView.charts;
  } else {
    renderNeedle(body, p, selection, (side, l, h) => {
      const flat = side === 'learned' ? p.attentionLearned : p.attentionInteger;
      const t = topToken(p, flat, l, h, selection.part);
      selection = { ...selection, head: h };
      save();
      post({ type: 'selection', id: p.id, repoLayer: selection.repoLayer, layer: l, head: h });
      if (t >= 0) selectToken(t);
    });
  }
  // What is shown, as data attributes: end-to-end tests wait on these rather than on time.
  const b = document.body.dataset;
  b.rendered = p.id;
  b.view = selection.view;
  b.heads = String(p.model.numHeads);
  b.layers = String(p.model.numLayers);
  b.tokens = String(p.T);
  b.charts = String(charts.length);
  b.needle = p.needle ? `${p.needle.start}:${p.needle.end}` : '';
  delete b.drawn;
  const generation = ++renderGeneration;
  void (positionsView?.drawn ?? Promise.resolve()).then(() => {
    if (generation !== renderGeneration) return;
    b.drawnAt = String(Date.now());
    b.drawn = p.id;
  });
  post({ type: 'rendered', id: p.id, view: selection.view, heads: p.model.numHeads, tokens: p.T, charts: charts.length });
}

window.addEventListener('message', (ev: MessageEvent<HostToWebview>) => {
  const m = ev.data;
  switch (m?.type) {
    case 'analysis':
      // Wall-clock times (same machine as a test driving it): when the analysis arrived, when drawn.
      document.body.dataset.receivedAt = String(Date.now());
      payload = m.payload;
      storedPayload = undefined;
      notKeptBytes = 0;
      stale = false;
      cursor = -1;
      save();
      render();
      // The editor colours follow a head only once the user picks one here.
      break;
    case 'cursor':
      if (payload && m.id === payload.id) {
        cursor = m.token;
        positionsView?.setCursor(m.token);
      }
      break;
    case 'reveal':
      if (payload && m.id === payload.id) {
        cursor = m.token;
        if (selection.view !== 'positions' || m.repoLayer !== undefined || m.head !== undefined) {
          update({ view: 'positions', ...(m.repoLayer !== undefined ? { repoLayer: m.repoLayer } : {}), ...(m.head !== undefined ? { head: m.head } : {}) });
        } else positionsView?.setCursor(m.token);
      }
      break;
    case 'stale':
      if (payload && m.id === payload.id && stale !== m.stale) {
        stale = m.stale;
        save();
        render();
      }
      break;
    case 'clear':
      payload = undefined;
      storedPayload = undefined;
      save();
      render();
      setStatus(m.reason);
      break;
    case 'exported':
      setStatus(m.message);
      document.body.dataset.exported = m.ok ? 'ok' : 'failed';
      break;
  }
});

document.addEventListener('securitypolicyviolation', (e) => {
  document.body.dataset.cspViolations = String(Number(document.body.dataset.cspViolations ?? 0) + 1);
  post({ type: 'log', level: 'error', message: `CSP violation: ${e.violatedDirective} ${e.blockedURI}` });
});

restore();
render();
post({ type: 'ready', protocol: EXPLORER_PROTOCOL_VERSION, ...(payload ? { restoredId: payload.id } : {}) });
