/**
 * The head explorer's real bundle in headless Debian chromium (playwright-core), inside the very
 * page the extension serves (explorerHtml: strict CSP, nonce script) with a mocked
 * acquireVsCodeApi. Posts an analysis message as the host does and checks what is drawn, what the
 * webview answers, state restore, and that the CSP reports no violation. Skipped where chromium is
 * not installed (apt-get install -y chromium).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { explorerHtml, makeNonce } from '../src/extension/core/html';
import type { ExplorerPayload, WebviewToHost } from '../src/shared/protocol';
import { syntheticAnalysis } from './helpers/synthetic-analysis';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`;
const ROOT = path.resolve(__dirname, '..', '..');
const ASSETS = path.join(ROOT, 'out', 'test-dist', 'webview');

/** Runs in the page before the bundle: the VS Code API mock, and CSP violation capture. */
const MOCK = `
  window.__posted = [];
  window.__csp = [];
  window.__state = window.__initialState;
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => window.__posted.push(m),
    getState: () => window.__state,
    setState: (s) => { window.__state = s; },
  });
`;

/** The payload as plain arrays (what page.evaluate can carry); the page rebuilds the typed arrays. */
function plain(p: ExplorerPayload): Record<string, unknown> {
  const out: Record<string, unknown> = { ...p };
  for (const k of ['starts', 'ends', 'ids', 'positions', 'attentionLearned', 'attentionInteger'] as const) {
    const a = p[k];
    if (a) out[k] = { kind: a instanceof Int32Array ? 'i32' : 'f32', values: Array.from(a) };
  }
  return out;
}

describe('head explorer webview in chromium', { skip: SKIP }, () => {
  let server: http.Server;
  let origin = '';
  let browser: import('playwright-core').Browser;
  const consoleErrors: string[] = [];

  before(async () => {
    const { buildExtensionBundles } = await import('../src/build/bundles');
    await buildExtensionBundles({ outDir: path.dirname(ASSETS), only: ['webview'] });
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/') {
        const nonce = makeNonce();
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(explorerHtml({ cspSource: origin, nonce, scriptUri: `${origin}/assets/explorer.js`, styleUri: `${origin}/assets/explorer.css` }));
        return;
      }
      if (url.pathname === '/favicon.ico') {
        // Chromium asks for one on its own; not the webview's doing.
        res.statusCode = 204;
        res.end();
        return;
      }
      const file = path.join(ASSETS, path.basename(url.pathname));
      if (!url.pathname.startsWith('/assets/') || !fs.existsSync(file)) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : 'text/css');
      res.end(fs.readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  async function openPage(initialState?: unknown) {
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.addInitScript(`window.__initialState = ${JSON.stringify(initialState ?? null) === 'null' ? 'undefined' : JSON.stringify(initialState)};\n${MOCK}`);
    await page.goto(`${origin}/`);
    return page;
  }

  const posted = (page: import('playwright-core').Page) => page.evaluate(() => (window as unknown as { __posted: WebviewToHost[] }).__posted);

  async function postAnalysis(page: import('playwright-core').Page, p: ExplorerPayload) {
    await page.evaluate((payload) => {
      const rebuilt: Record<string, unknown> = { ...payload };
      for (const [k, v] of Object.entries(payload)) {
        const a = v as { kind?: string; values?: number[] };
        if (a && typeof a === 'object' && 'values' in a && Array.isArray(a.values)) rebuilt[k] = a.kind === 'i32' ? Int32Array.from(a.values) : Float32Array.from(a.values);
      }
      (window as unknown as { __postedAt: number }).__postedAt = performance.now();
      window.postMessage({ type: 'analysis', payload: rebuilt }, '*');
    }, plain(p));
  }

  let savedState: unknown;

  it('draws every head of the layer plus one large, answers clicks, with no CSP violation', async () => {
    const { payload } = syntheticAnalysis();
    const page = await openPage();
    await page.waitForFunction(() => (window as unknown as { __posted: WebviewToHost[] }).__posted.some((m) => m.type === 'ready'));
    await postAnalysis(page, payload);
    await page.waitForFunction((id) => document.body.dataset.rendered === id, payload.id);
    const rendered = (await posted(page)).filter((m) => m.type === 'rendered');
    assert.deepEqual(rendered.at(-1), { type: 'rendered', id: payload.id, view: 'positions', heads: 4, tokens: payload.T, charts: 5 });
    // What end-to-end tests wait on: data-drawn once every chart has painted, and what is shown.
    await page.waitForFunction((id) => document.body.dataset.drawn === id, payload.id);
    const data = await page.evaluate(() => ({ ...document.body.dataset }));
    assert.deepEqual([data.view, data.heads, data.tokens, data.charts, data.needle], ['positions', '4', String(payload.T), '5', `${payload.needle!.start}:${payload.needle!.end}`]);
    assert.equal(await page.locator('.multiple canvas').count(), 4);
    assert.equal(await page.locator('[data-testid="big-chart"]').count(), 1);
    // The large chart has pixels drawn (not a blank canvas).
    const inked = await page.evaluate(() => {
      const c = document.querySelector('[data-testid="big-chart"]') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 500, `${inked} inked pixels`);
    // A click on head 2's small chart makes it the large one and tells the host.
    await page.locator('.multiple[data-head="2"]').click();
    await page.waitForFunction(() => document.querySelector('.multiple.selected')?.getAttribute('data-head') === '2');
    assert.ok((await posted(page)).some((m) => m.type === 'selection' && m.head === 2));
    // A click on the large curve selects that token in the editor (document offsets via baseOffset).
    const box = (await page.locator('[data-testid="big-chart"]').boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    // chart.js handles canvas events on the next animation frame: wait for the answer.
    await page.waitForFunction(() => (window as unknown as { __posted: WebviewToHost[] }).__posted.some((m) => m.type === 'selectToken'));
    const select = (await posted(page)).find((m) => m.type === 'selectToken');
    assert.ok(select && select.type === 'selectToken');
    assert.equal(select.documentUri, payload.documentUri);
    assert.equal(select.baseOffset, payload.baseOffset);
    assert.ok(select.end > select.start);
    // The editor's cursor moves: the explorer names that token, as text.
    await page.evaluate((id) => window.postMessage({ type: 'cursor', id, token: 3 }, '*'), payload.id);
    await page.waitForFunction(() => /^token 3 /.test(document.querySelector('[data-testid="token-info"]')?.textContent ?? ''));
    savedState = await page.evaluate(() => (window as unknown as { __state: unknown }).__state);
    assert.deepEqual(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), []);
    await page.close();
  });

  it('comes back from saved state without a new analysis, and shows the needle grids', async () => {
    const { payload } = syntheticAnalysis();
    const state = { ...(savedState as Record<string, unknown>), selection: { ...(savedState as { selection: object }).selection, view: 'needle' } };
    const page = await openPage(state);
    await page.waitForFunction((id) => document.body.dataset.rendered === id, payload.id);
    const ready = (await posted(page)).find((m) => m.type === 'ready');
    assert.deepEqual(ready, { type: 'ready', protocol: 1, restoredId: payload.id });
    const rows = await page.locator('[data-testid="grid-learned"] tr').count();
    assert.equal(rows, 1 + 3, 'header + one row per layer');
    assert.equal(await page.locator('[data-testid="grid-learned"] td').count(), 3 * 4);
    assert.equal(await page.locator('[data-testid="grid-integer"] td').count(), 3 * 4);
    assert.match((await page.locator('[data-testid="needle-totals"]').textContent()) ?? '', /learned positions.*integer positions/s);
    // A cell click selects that head's top needle token in the editor.
    await page.locator('[data-testid="grid-learned"] td').first().click();
    const select = (await posted(page)).find((m) => m.type === 'selectToken');
    assert.ok(select && select.type === 'selectToken');
    assert.ok(select.start >= payload.needle!.start && select.end <= payload.needle!.end);
    assert.deepEqual(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), []);
    await page.close();
  });

  it('keeps only the selection when an analysis is too large for the saved state, and says so after a reload', async () => {
    const { payload } = syntheticAnalysis();
    const page = await openPage();
    await page.evaluate(() => ((window as unknown as { repoLensStateLimitBytes: number }).repoLensStateLimitBytes = 1000));
    await page.waitForFunction(() => (window as unknown as { __posted: WebviewToHost[] }).__posted.some((m) => m.type === 'ready'));
    await postAnalysis(page, payload);
    await page.waitForFunction((id) => document.body.dataset.rendered === id, payload.id);
    const state = (await page.evaluate(() => (window as unknown as { __state: Record<string, unknown> }).__state)) as Record<string, any>;
    assert.equal(state.payload, undefined);
    assert.ok(state.notKept.bytes > 1000);
    assert.equal(state.selection.view, 'positions');
    await page.close();
    // A reload with that state: no analysis, a message saying why, and a ready without restoredId
    // (so a host that still holds the analysis sends it again).
    const again = await openPage(state);
    await again.waitForFunction(() => /too large to keep across a window reload/.test(document.body.textContent ?? ''));
    const ready = (await posted(again)).find((m) => m.type === 'ready');
    assert.deepEqual(ready, { type: 'ready', protocol: 1 });
    await again.close();
  });

  it('stays responsive at 16K tokens (decimated curves), and renders prompt text only as text', async (t) => {
    const hostile = '<img src=x onerror="document.body.dataset.pwned=1"> ';
    const text = (hostile + 'filler words here. ').repeat(Math.ceil(16000 / 70)).slice(0, 16000) + '\nQuestion: what is it?\n';
    const { payload } = syntheticAnalysis(text, 2, 4, [1]);
    const page = await openPage();
    await page.waitForFunction(() => (window as unknown as { __posted: WebviewToHost[] }).__posted.some((m) => m.type === 'ready'));
    const t0 = Date.now();
    await postAnalysis(page, payload);
    await page.waitForFunction((id) => document.body.dataset.rendered === id, payload.id, { timeout: 30_000 });
    const ms = Date.now() - t0;
    // From the message's arrival in the page to the charts drawn (the test's own transfer excluded).
    const inPage = await page.evaluate(() => performance.now() - (window as unknown as { __postedAt: number }).__postedAt);
    const rendered = (await posted(page)).filter((m) => m.type === 'rendered').at(-1);
    assert.deepEqual(rendered, { type: 'rendered', id: payload.id, view: 'positions', heads: 4, tokens: payload.T, charts: 5 });
    assert.ok(payload.T > 16000);
    // Hovering the curve shows a token's text in the tooltip (canvas), and the info line as text.
    await page.evaluate((id) => window.postMessage({ type: 'cursor', id, token: 1 }, '*'), payload.id);
    await page.waitForFunction(() => /^token 1 /.test(document.querySelector('[data-testid="token-info"]')?.textContent ?? ''));
    assert.equal(await page.locator('img').count(), 0, 'no prompt HTML became an element');
    assert.equal(await page.evaluate(() => document.body.dataset.pwned), undefined);
    assert.deepEqual(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), []);
    assert.deepEqual(consoleErrors, []);
    t.diagnostic(`T=${payload.T}: rendered ${Math.round(inPage)} ms after the message arrived (${ms} ms with the test's own JSON transfer)`);
    await page.close();
  });
});
