/// <reference lib="dom" />
/**
 * Entry of the report page (bundled by src/report/build.ts into out/report/report.js and inlined
 * into the HTML). Reads the analysis and the text from the page's JSON blocks and builds the view.
 */
import type { AnalysisJson } from '../../engine/analysis';
import { excerpt, h } from './dom';
import { needleSection } from './needle';
import { positionsSection } from './positions';
import { textSection } from './text';

function readJson<T>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id} data block`);
  return JSON.parse(el.textContent ?? 'null') as T;
}

function header(a: AnalysisJson, text: string): HTMLElement {
  const m = a.model as AnalysisJson['model'] & { device?: string };
  const timings = (a.timings ?? {}) as Record<string, number>;
  const q = a.query;
  const lines = [
    `${m.name} · ${m.numLayers} layers × ${m.numHeads} heads · RePo layers ${m.repoLayers.join(', ') || 'none'}${m.device ? ' · ' + m.device : ''}`,
    `${a.tokens.length} tokens · ${a.text.length} UTF-16 units${timings.totalMs ? ` · ${Math.round(timings.totalMs)} ms` : ''}${a.integerPositions ? ' · positions: integer 0..T−1 (ablation)' : ''}`,
  ];
  const sourceOf = (s: { source?: string; note?: string }) => (s.source ? ` (${s.source}${s.note ? ': ' + s.note : ''})` : '');
  return h(
    'header',
    {},
    h('h1', {}, 'RePo Lens report'),
    ...lines.map((l) => h('p', { class: 'meta' }, l)),
    h('p', { class: 'meta' }, `query ${q.start}:${q.end}${sourceOf(q)} `, h('q', {}, excerpt(text.slice(q.start, q.end), 120))),
    h(
      'p',
      { class: 'meta' },
      a.structure
        ? `structure: ${a.structure.segments.length} segments; ` +
            (a.structure.tables.length ? a.structure.tables.map((t) => `${t.kind} table ${t.rows}×${t.cols}`).join(', ') : 'no tables')
        : '',
    ),
  );
}

function start(): void {
  const root = document.getElementById('app')!;
  // CSP violations (there should be none) become visible in the page instead of only the console.
  document.addEventListener('securitypolicyviolation', (e) => {
    const box = document.getElementById('csp-violations') ?? root.appendChild(h('pre', { id: 'csp-violations' }));
    box.append(`CSP violation: ${e.violatedDirective} ${e.blockedURI}\n`);
  });
  const t0 = performance.now();
  try {
    const a = readJson<AnalysisJson>('repo-lens-analysis');
    const text = readJson<string>('repo-lens-text');
    const tv = textSection(a, text);
    root.replaceChildren(header(a, text), positionsSection(a, text, (t) => tv.focusToken(t)), needleSection(a, text), tv.element);
    root.dataset.ready = 'true';
    // How long building the page took (ms), for checking that long prompts stay responsive.
    root.dataset.renderMs = String(Math.round(performance.now() - t0));
  } catch (e) {
    root.replaceChildren(h('pre', { class: 'error' }, `The report could not be shown: ${(e as Error).message}`));
    root.dataset.ready = 'error';
  }
}

start();
