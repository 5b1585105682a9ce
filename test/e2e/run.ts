/**
 * End-to-end test of the packaged extension in a real VS Code (code-server) driven through Debian's
 * chromium by playwright-core. Packages the VSIX (`npm run package`), installs it into code-server
 * on 127.0.0.1, opens examples/rag-prompt.txt in a copy of examples/ and goes through what a user
 * does: Analyze with RePo from the context menu, a token hover (checked against the engine's own
 * analysis of the same text, run here through the CLI), the head explorer's charts, a click on a
 * chart point (the editor selection must follow), Mark as Needle and a re-run (the needle-mass grid
 * checked against the engine), JSON export, and no CSP violation throughout.
 *
 *   node out/test/e2e/run.js        (after tsc; `npm test` runs it after the unit tests)
 *
 * Installs chromium, libkrb5-dev and code-server when missing (setup.ts). Without root and with
 * a Debian package missing it skips, loudly (and fails under CI=true, which must run it);
 * REPO_LENS_E2E=skip skips on purpose. Screenshots go to .cache/e2e/screenshots/. Prints
 * "N passed, N failed" last, and the time from the click on Analyze to the drawn charts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import type { AnalysisJson } from '../../src/engine/analysis';
import { buildVsix, installExtension, startCodeServer, stateDirs, workbenchUrl, type RunningCodeServer } from './codeServer';
import { ROOT, cacheDir, prepareE2e, type Log } from './setup';

const PROMPT = 'rag-prompt.txt';
/** The needle the test marks: not the one the engine finds by itself (proud-falcon's), so the grid must follow the mark. */
const NEEDLE = 'The special magic number for misty-lamp is 219874.';
/** Where the hover goes: inside the question line. */
const HOVER_AT = 'proud-falcon?';
const STEP_MS = 120_000;

const t00 = Date.now();
const log: Log = (l) => process.stdout.write(`[e2e ${((Date.now() - t00) / 1000).toFixed(1).padStart(6)} s] ${l}\n`);

// ---- checks: a named step passes or fails; after a failure the rest of the flow is skipped ----

interface Result {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  detail?: string;
}
const results: Result[] = [];
let broken = false;

async function check(name: string, fn: () => Promise<string | void>, opts: { independent?: boolean } = {}): Promise<void> {
  if (broken && !opts.independent) {
    results.push({ name, status: 'skipped', detail: 'an earlier step failed' });
    log(`SKIP  ${name} (an earlier step failed)`);
    return;
  }
  const t0 = Date.now();
  try {
    const detail = (await fn()) ?? undefined;
    results.push({ name, status: 'passed', ...(detail ? { detail } : {}) });
    log(`PASS  ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${detail ? `: ${detail}` : ''}`);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    results.push({ name, status: 'failed', detail: msg });
    log(`FAIL  ${name}: ${msg}`);
    if (!opts.independent) broken = true;
    await shot(`failed-${name}`).catch(() => undefined);
  }
}

function ok(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = STEP_MS, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message.split('\n')[0] : String(last)})` : ''}`);
}

// ---- browser helpers ----

let page: Page | undefined;
const shotsDir = path.join(cacheDir(), 'screenshots');
let shotIndex = 0;

async function shot(name: string): Promise<void> {
  if (!page) return;
  const file = path.join(shotsDir, `${String(++shotIndex).padStart(2, '0')}-${name.replace(/[^\w-]+/g, '-').slice(0, 60)}.png`);
  await page.screenshot({ path: file, timeout: 15_000 });
}

/** The head explorer's frame: the nested iframe whose body carries our data-testid. */
async function explorerFrame(p: Page): Promise<Frame | undefined> {
  for (const f of p.frames()) {
    if (f.isDetached()) continue;
    try {
      if (await f.$('body[data-testid="repo-lens-explorer"]')) return f;
    } catch {
      /* frame navigating */
    }
  }
  return undefined;
}

/**
 * securitypolicyviolation events of the explorer's document and of VS Code's webview frame around
 * it: the explorer counts its own from its first script on (data-csp-violations); the test listens
 * too, from when it finds the frame.
 */
async function cspEvents(f: Frame): Promise<string[]> {
  const out: string[] = [];
  for (const fr of [f, f.parentFrame()]) {
    if (!fr) continue;
    const seen = await fr.evaluate(() => {
      const w = window as unknown as { __repoLensCsp?: string[] };
      if (!w.__repoLensCsp) {
        w.__repoLensCsp = [];
        document.addEventListener('securitypolicyviolation', (e) => w.__repoLensCsp!.push(`${e.violatedDirective} ${e.blockedURI}`), true);
      }
      return w.__repoLensCsp;
    });
    out.push(...seen);
  }
  const own = Number((await bodyData(f)).cspViolations ?? 0);
  if (own) out.push(`${own} counted by the explorer itself`);
  return out;
}

async function bodyData(f: Frame): Promise<Record<string, string>> {
  return f.evaluate(() => ({ ...document.body.dataset }) as Record<string, string>);
}

/** Line and column (1-based) of a UTF-16 offset, as VS Code's status bar counts them (no tabs here). */
function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, col: offset - (before.lastIndexOf('\n') + 1) + 1 };
}

function engineAnalysis(file: string, out: string, extra: string[] = []): AnalysisJson {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'repo-lens.js'), 'analyze', file, '--model', 'repo-tiny', '--json', out, ...extra], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`repo-lens analyze failed: ${r.stderr || r.stdout}`);
  return JSON.parse(fs.readFileSync(out, 'utf8')) as AnalysisJson;
}

/** Mean, min, max and the most-moved head of token t in RePo layer r, as the hover computes them. */
function engineStats(a: AnalysisJson, r: number, t: number) {
  const zs = a.positions[r].map((head) => head[t]);
  let moved = 0;
  for (let h = 1; h < zs.length; h++) if (Math.abs(zs[h] - t) > Math.abs(zs[moved] - t)) moved = h;
  return { mean: zs.reduce((s, z) => s + z, 0) / zs.length, min: Math.min(...zs), max: Math.max(...zs), moved };
}

/** Selects the first occurrence of `text` in the active editor with the find widget (what a user would do). */
async function selectInEditor(p: Page, text: string): Promise<void> {
  await p.locator('.editor-group-container .monaco-editor .view-lines').first().click({ position: { x: 5, y: 5 } });
  await p.keyboard.press('Control+Home');
  await p.keyboard.press('Control+F');
  const input = p.locator('.find-widget.visible textarea, .find-widget.visible input').first();
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(text);
  await until('the find widget to report a match', async () => /^1 of \d+$/.test((await p.locator('.find-widget.visible .matchesCount').textContent()) ?? ''), 15_000);
  await p.keyboard.press('Enter');
  await p.keyboard.press('Escape');
  await until('the find widget to close', async () => (await p.locator('.find-widget.visible').count()) === 0, 15_000);
}

/** Hovers the HOVER_AT text in the editor until the RePo Lens hover shows; returns its locator. */
async function showHover(p: Page) {
  await selectInEditor(p, HOVER_AT);
  const box = await selectionBox(p);
  await p.keyboard.press('ArrowRight'); // a caret, no selection: hovers are shown plainly
  const hover = p.locator('.monaco-hover:visible', { hasText: 'RePo Lens' });
  // Hover until it shows: the hover provider answers only once the extension has activated and
  // the analysis has reached it.
  await until(
    'the RePo Lens hover',
    async () => {
      await p.mouse.move(box.x + box.width / 2, 2);
      await p.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      try {
        await hover.first().waitFor({ state: 'visible', timeout: 2500 });
        return true;
      } catch {
        return false;
      }
    },
    STEP_MS,
    0,
  );
  return hover;
}

/** Where the editor's selection is drawn (its first visual line). */
async function selectionBox(p: Page) {
  const box = await until('the selection to be drawn', async () => p.locator('.editor-group-container .monaco-editor .selected-text').first().boundingBox(), 15_000);
  return box;
}

/** A context-menu entry by its label (the menu item's accessible name also carries the keybinding). */
const menuItem = (p: Page, label: string) => p.locator(`.monaco-menu .action-label[aria-label="${label}"]`).first();

/** Clicks a menu entry until the menu closes: VS Code's menu can ignore a click that comes right after it opened. */
async function clickMenuItem(p: Page, label: string): Promise<number> {
  const item = menuItem(p, label);
  let clickedAt = 0;
  await until(`"${label}" to run (the menu to close)`, async () => {
    if (!(await item.isVisible())) return true;
    await item.hover();
    clickedAt = Date.now();
    await item.click({ timeout: 5000 });
    await item.waitFor({ state: 'hidden', timeout: 1000 }).catch(() => undefined);
    return !(await item.isVisible());
  }, 20_000, 0);
  return clickedAt;
}

async function contextMenuItem(p: Page, x: number, y: number, label: string): Promise<void> {
  await p.mouse.click(x, y, { button: 'right' });
  await menuItem(p, label).waitFor({ state: 'visible', timeout: 15_000 });
  await clickMenuItem(p, label);
}

// ---- the test ----

async function main(): Promise<number> {
  if (process.env.REPO_LENS_E2E === 'skip') {
    banner('SKIPPED on purpose (REPO_LENS_E2E=skip): the extension was NOT tested in VS Code.');
    return 0;
  }
  const prep = await prepareE2e({ browser: true, log });
  if ('skip' in prep) {
    banner(`SKIPPED: ${prep.skip}. The extension was NOT tested in VS Code.`);
    // CI must run this test: a skip there is a failure, never a silent pass.
    return process.env.CI ? 1 : 0;
  }
  const { tools } = prep;

  fs.rmSync(shotsDir, { recursive: true, force: true });
  fs.mkdirSync(shotsDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-e2e-'));
  const workspace = path.join(tmp, 'workspace');
  fs.mkdirSync(workspace);
  for (const f of fs.readdirSync(path.join(ROOT, 'examples'))) fs.copyFileSync(path.join(ROOT, 'examples', f), path.join(workspace, f));
  const promptFile = path.join(workspace, PROMPT);
  const text = fs.readFileSync(promptFile, 'utf8');
  const needleStart = text.indexOf(NEEDLE);
  ok(needleStart >= 0, `${PROMPT} no longer contains the needle sentence`);
  const needle = { start: needleStart, end: needleStart + NEEDLE.length };

  let cs: RunningCodeServer | undefined;
  let context: BrowserContext | undefined;
  const cspConsole: string[] = [];
  let analyzeToChartMs = NaN;
  let firstRunParts = '';
  let tokenCount = 0;
  let rerunToChartMs = NaN;
  let rerunParts = '';
  let keep = false;
  try {
    let vsix = '';
    await check('npm run package builds the VSIX', async () => {
      vsix = await buildVsix(log);
      return `${path.relative(ROOT, vsix)} (${(fs.statSync(vsix).size / 1048576).toFixed(1)} MiB)`;
    });

    // The engine's own analyses of the same text: the reference for the hover and the needle grid.
    let plain: AnalysisJson | undefined;
    let marked: AnalysisJson | undefined;
    await check('the engine analyses the prompt (CLI, reference values)', async () => {
      plain = engineAnalysis(promptFile, path.join(tmp, 'engine.json'));
      marked = engineAnalysis(promptFile, path.join(tmp, 'engine-needle.json'), ['--needle-range', `${needle.start}:${needle.end}`]);
      tokenCount = plain.tokens.length;
      return `${plain.tokens.length} tokens, ${plain.model.numLayers} layers × ${plain.model.numHeads} heads`;
    });

    const dirs = stateDirs(path.join(tmp, 'code-server'));
    await check('code-server installs the VSIX and starts on 127.0.0.1', async () => {
      await installExtension(tools, dirs, vsix, log);
      const installed = fs.readdirSync(dirs.extensions).filter((d) => d.startsWith('repo-lens.repo-lens-'));
      ok(installed.length === 1, `extension folder not found in ${dirs.extensions}`);
      cs = await startCodeServer(tools, dirs, { folder: workspace, log });
      return `${cs.origin}, ${installed[0]}`;
    });

    await check('the workbench opens the prompt in an editor', async () => {
      const { chromium } = await import('playwright-core');
      context = await chromium.launchPersistentContext(path.join(tmp, 'chromium'), {
        executablePath: tools.chromium,
        headless: true,
        viewport: { width: 1500, height: 1000 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      page = context.pages()[0] ?? (await context.newPage());
      page.on('console', (m) => {
        if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspConsole.push(`${m.location().url || '?'}: ${m.text()}`);
      });
      await page.goto(workbenchUrl(cs!, workspace, promptFile), { timeout: STEP_MS });
      await page.locator('.editor-group-container .monaco-editor .view-lines', { hasText: 'Document 1:' }).first().waitFor({ timeout: STEP_MS });
      await shot('workbench');
    });

    await check('select all, right-click → Analyze with RePo: the head explorer draws every head', async () => {
      const p = page!;
      const lines = p.locator('.editor-group-container .monaco-editor .view-lines');
      await lines.first().click();
      await p.keyboard.press('Control+A');
      const box = (await lines.first().boundingBox())!;
      // The context menu lists Analyze with RePo once the extension's contributions are in.
      await until('Analyze with RePo in the context menu', async () => {
        await p.mouse.click(box.x + 60, box.y + 30, { button: 'right' });
        try {
          await menuItem(p, 'Analyze with RePo').waitFor({ state: 'visible', timeout: 3000 });
          return true;
        } catch {
          await p.keyboard.press('Escape');
          return false;
        }
      });
      // From the click that ran the command.
      const t0 = await clickMenuItem(p, 'Analyze with RePo');
      // Where the time goes: the explorer's page exists, the analysis reaches it, its charts are drawn.
      let frameAt = 0;
      let frame: Frame | undefined;
      const id = await until(
        'the charts to be drawn',
        async () => {
          if (!frame && (frame = await explorerFrame(p))) {
            frameAt = Date.now();
            await cspEvents(frame);
          }
          return frame ? (await bodyData(frame)).drawn : undefined;
        },
        STEP_MS,
        20,
      );
      analyzeToChartMs = Date.now() - t0;
      const at = await bodyData(frame!);
      firstRunParts = `explorer page present after ${frameAt - t0} ms, the analysis reached it after ${Number(at.receivedAt) - t0} ms, drawn ${Number(at.drawnAt) - Number(at.receivedAt)} ms later`;
      await shot('analyzed');
      const d = await bodyData(frame!);
      ok(d.rendered === id && d.view === 'positions', `explorer shows ${d.view} of ${d.rendered}, drawn ${id}`);
      ok(Number(d.heads) === plain!.model.numHeads, `explorer says ${d.heads} heads, the model has ${plain!.model.numHeads}`);
      ok(Number(d.tokens) === plain!.tokens.length, `explorer says ${d.tokens} tokens, the engine made ${plain!.tokens.length}`);
      const smallCharts = await frame!.locator('[data-testid="multiples"] .multiple canvas').count();
      ok(smallCharts === plain!.model.numHeads, `${smallCharts} small charts for ${plain!.model.numHeads} heads`);
      ok(Number(d.charts) === plain!.model.numHeads + 1, `${d.charts} charts drawn`);
      const inked = await frame!.evaluate(() => {
        const c = document.querySelector('[data-testid="big-chart"]') as HTMLCanvasElement;
        const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
        return n;
      });
      ok(inked > 500, `the large chart has ${inked} inked pixels`);
      const header = (await frame!.locator('.header').textContent()) ?? '';
      ok(header.includes(`${plain!.tokens.length} tokens`) && header.includes('repo-tiny'), `header: ${header}`);
      return `${d.heads} heads × ${d.tokens} tokens, ${d.charts} charts; click → drawn ${analyzeToChartMs} ms`;
    });

    await check('a token hover shows the positions the engine computes', async () => {
      const p = page!;
      const hover = await showHover(p);
      await shot('hover');
      const hoverText = (await hover.first().innerText()).replace(/\s+/g, ' ');
      const m = /token (\d+) of (\d+)/.exec(hoverText);
      ok(m, `no token index in the hover: ${hoverText.slice(0, 200)}`);
      const t = Number(m[1]);
      ok(Number(m[2]) === plain!.tokens.length, `hover says ${m[2]} tokens`);
      const at = text.indexOf(HOVER_AT);
      const tok = plain!.tokens[t];
      ok(tok.start >= at && tok.end <= at + HOVER_AT.length, `hovered token ${t} (${tok.start}:${tok.end}) is not under the mouse (${at}:${at + HOVER_AT.length})`);
      ok(hoverText.includes(JSON.stringify(text.slice(tok.start, tok.end))), `hover does not show the token's text ${JSON.stringify(text.slice(tok.start, tok.end))}`);
      const rows = await hover
        .first()
        .locator('table')
        .first()
        .locator('tr')
        .evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => (td.textContent ?? '').trim())).filter((r) => r.length));
      const repoLayers = plain!.model.repoLayers;
      ok(rows.length === repoLayers.length, `${rows.length} position rows for ${repoLayers.length} RePo layers`);
      const diffs: string[] = [];
      rows.forEach((row, r) => {
        const e = engineStats(plain!, r, t);
        ok(Number(row[0]) === repoLayers[r], `row ${r} is layer ${row[0]}, expected ${repoLayers[r]}`);
        (['mean', 'min', 'max'] as const).forEach((k, i) => {
          const shown = Number(row[1 + i]);
          const tol = Math.abs(e[k]) >= 100 ? 0.051 : 0.0051;
          if (!(Math.abs(shown - e[k]) <= tol + 1e-3)) diffs.push(`layer ${repoLayers[r]} ${k}: hover ${row[1 + i]}, engine ${e[k].toFixed(4)}`);
        });
        if (!row[4].startsWith(`head ${e.moved} `)) diffs.push(`layer ${repoLayers[r]}: hover says ${row[4]} moved most, engine head ${e.moved}`);
      });
      ok(diffs.length === 0, diffs.join('; '));
      await p.mouse.move(5, 5);
      const last = rows.at(-1)!;
      return `token ${t} ${JSON.stringify(text.slice(tok.start, tok.end))}: ${rows.length} layers agree (layer ${repoLayers.at(-1)} mean ${last[1]}, min ${last[2]}, max ${last[3]})`;
    });

    await check('a click on the large chart selects that token in the editor', async () => {
      const p = page!;
      const frame = (await explorerFrame(p))!;
      const chart = frame.locator('[data-testid="big-chart"]');
      const box = (await chart.boundingBox())!;
      const before = (await frame.locator('[data-testid="token-info"]').textContent()) ?? '';
      // Through the locator: it scrolls the chart into the panel's view first.
      await chart.click({ position: { x: box.width * 0.62, y: box.height / 2 } });
      const info = await until('the explorer to name the clicked token', async () => {
        const s = (await frame.locator('[data-testid="token-info"]').textContent()) ?? '';
        return s !== before && /^token \d+ /.test(s) ? s : undefined;
      });
      const t = Number(/^token (\d+) /.exec(info)![1]);
      const tok = plain!.tokens[t];
      const end = lineCol(text, tok.end);
      const want = new RegExp(`Ln ${end.line}, Col ${end.col} \\(${tok.end - tok.start} selected\\)`);
      const status = p.locator('[id="status.editor.selection"]');
      const got = await until(`the status bar to show ${want.source}`, async () => {
        const s = (await status.textContent()) ?? '';
        return want.test(s) ? s : undefined;
      }, 20_000).catch(async (e) => {
        throw new Error(`${e.message}; status bar shows "${await status.textContent()}"`);
      });
      await shot('chart-click');
      return `token ${t} ${JSON.stringify(text.slice(tok.start, tok.end))} → editor selection ${got.trim()}`;
    });

    await check('Mark as Needle, Re-run: the needle-mass grids follow the mark', async () => {
      const p = page!;
      await selectInEditor(p, NEEDLE);
      const box = await selectionBox(p);
      const frame = (await explorerFrame(p))!;
      const firstId = (await bodyData(frame)).rendered;
      await contextMenuItem(p, box.x + Math.min(40, box.width / 2), box.y + box.height / 2, 'Mark as Needle');
      // The mark makes the analysis stale: the explorer says so, and a notification offers a re-run.
      await until('the explorer to say the analysis is out of date', async () => (await frame.locator('[data-testid="stale"]').count()) > 0);
      const rerun = p.locator('.notification-toast', { hasText: 'needle mark changed' }).getByRole('button', { name: 'Re-run' });
      await rerun.first().waitFor({ state: 'visible', timeout: 20_000 });
      const t0 = Date.now();
      await rerun.first().click();
      const id = await until(
        'the re-run to be drawn',
        async () => {
          const d = await bodyData(frame);
          return d.drawn && d.drawn !== firstId ? d.drawn : undefined;
        },
        STEP_MS,
        20,
      );
      rerunToChartMs = Date.now() - t0;
      const at = await bodyData(frame);
      rerunParts = `the analysis reached the explorer after ${Number(at.receivedAt) - t0} ms, drawn ${Number(at.drawnAt) - Number(at.receivedAt)} ms later`;
      // The status bar shows the run's own time (both passes, in the inference process).
      const runTime = / · (\d+(?:\.\d+)? m?s)/.exec((await p.locator('.statusbar-item', { hasText: 'RePo:' }).first().textContent()) ?? '');
      if (runTime) rerunParts += `; the inference process's run (both passes) took ${runTime[1]} (status bar)`;
      let d = await bodyData(frame);
      ok(d.tokens === String(plain!.tokens.length), `the re-run analysed ${d.tokens} tokens, not the whole prompt (${plain!.tokens.length})`);
      ok(d.needle === `${needle.start}:${needle.end}`, `explorer's needle is ${d.needle}, the mark is ${needle.start}:${needle.end}`);
      // Switch the explorer to the needle-mass view through its own control.
      await frame.locator('vscode-single-select[aria-label="view"]').click();
      await frame.getByText('needle mass', { exact: true }).last().click();
      await until('the needle view', async () => {
        d = await bodyData(frame);
        return d.view === 'needle' && d.drawn === id;
      });
      await shot('needle-grid');
      const L = marked!.model.numLayers;
      const H = marked!.model.numHeads;
      const diffs: string[] = [];
      for (const side of ['learned', 'integer'] as const) {
        const cells = await frame.locator(`[data-testid="grid-${side}"] tr`).evaluateAll((trs) => trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));
        ok(cells.length === L && cells.every((r) => r.length === H), `${side} grid is ${cells.length} × ${cells[0]?.length}, expected ${L} × ${H}`);
        const ref = marked!.needleSplit![side]!.needle;
        for (let l = 0; l < L; l++) {
          for (let h = 0; h < H; h++) {
            const shown = parseFloat(cells[l][h]) / 100;
            if (!(Math.abs(shown - ref[l][h]) <= 0.0005 + 1e-4)) diffs.push(`${side} L${l}h${h}: grid ${cells[l][h]}, engine ${(ref[l][h] * 100).toFixed(2)}%`);
          }
        }
      }
      ok(diffs.length === 0, diffs.slice(0, 6).join('; '));
      const totals = (await frame.locator('[data-testid="needle-totals"]').innerText()).replace(/\s+/g, ' ');
      const learnedNeedle = marked!.needleSplit!.totals.learned.overall.needle;
      ok(totals.includes(`${(learnedNeedle * 100).toFixed(1)}%`), `totals "${totals}" lack the engine's learned needle share ${(learnedNeedle * 100).toFixed(1)}%`);
      return `${L} × ${H} grids, learned and integer, match the engine with --needle-range ${needle.start}:${needle.end} (needle share ${(learnedNeedle * 100).toFixed(1)}% learned)`;
    });

    await check('Export JSON writes the analysis', async () => {
      const p = page!;
      const frame = (await explorerFrame(p))!;
      await frame.locator('[data-testid="export-json"]').click();
      // code-server's save dialog is VS Code's own (a quick input with the path filled in).
      const input = p.locator('.quick-input-widget:visible input').first();
      await input.waitFor({ state: 'visible', timeout: 20_000 });
      // The dialog fills in the folder first and the file name a moment later.
      const wanted = await until('the save dialog to propose a .json file', async () => {
        const v = await input.inputValue();
        return v.endsWith('.json') ? v : undefined;
      }, 20_000);
      await shot('export-dialog');
      await input.press('Enter');
      const state = await until('the explorer to report the export', async () => (await bodyData(frame)).exported);
      const status = (await frame.locator('[data-testid="status"]').textContent()) ?? '';
      ok(state === 'ok', `export failed: ${status}`);
      const file = /^saved (.+)$/.exec(status.trim())?.[1];
      ok(file && fs.existsSync(file), `no file at "${file}" (status: ${status}; dialog had ${wanted})`);
      ok(path.dirname(file) === workspace, `exported to ${file}, not into the workspace`);
      const json = JSON.parse(fs.readFileSync(file, 'utf8')) as AnalysisJson & { schema: string };
      ok(json.schema === 'repo-lens/analysis@1', `schema ${json.schema}`);
      ok(json.tokens.length === plain!.tokens.length, `${json.tokens.length} tokens exported`);
      ok(json.needle?.start === needle.start && json.needle?.end === needle.end, `exported needle ${json.needle?.start}:${json.needle?.end}`);
      const maxDiff = Math.max(...json.positions.flatMap((layer, r) => layer.flatMap((head, h) => head.map((z, t) => Math.abs(z - marked!.positions[r][h][t])))));
      ok(maxDiff < 1e-3, `exported positions differ from the engine's by up to ${maxDiff}`);
      return `${path.basename(file)}: ${json.tokens.length} tokens, needle ${json.needle!.start}:${json.needle!.end}, positions within ${maxDiff.toExponential(1)} of the CLI's`;
    });

    await check('after a window reload, the hover works again without re-running the model', async () => {
      const p = page!;
      await p.reload({ timeout: STEP_MS });
      await p.locator('.editor-group-container .monaco-editor .view-lines', { hasText: 'Document 1:' }).first().waitFor({ timeout: STEP_MS });
      // The extension host restarted: the hover can only come from the analysis saved on disk.
      const hover = await showHover(p);
      const hoverText = (await hover.first().innerText()).replace(/\s+/g, ' ');
      const m = /token (\d+) of (\d+)/.exec(hoverText);
      ok(m && Number(m[2]) === plain!.tokens.length, `hover after the reload: ${hoverText.slice(0, 200)}`);
      await shot('hover-after-reload');
      // ...and it did come from disk: the new extension host logged the restore.
      const logs = path.join(tmp, 'code-server', 'user-data', 'logs');
      const line = await until(
        'the restore line in the RePo Lens output log',
        async () => {
          for (const f of findFiles(logs, /RePo Lens\.log$/)) {
            const hit = /.*analysis of .* restored \(text unchanged\).*/.exec(fs.readFileSync(f, 'utf8'));
            if (hit) return hit[0];
          }
          return undefined;
        },
        30_000,
        250,
      );
      return `hover shows token ${m![1]} of ${m![2]}; log: ${line.trim().slice(0, 160)}`;
    });

    await check(
      'no Content Security Policy violation',
      async () => {
        const frame = page ? await explorerFrame(page) : undefined;
        const events = frame ? await cspEvents(frame) : [];
        ok(events.length === 0 && cspConsole.length === 0, `securitypolicyviolation: ${events.join(' | ') || 'none'}; console: ${cspConsole.join(' | ') || 'none'}`);
        if (!frame) return 'none in any frame’s console (the explorer never opened)';
        // The detectors themselves: an inline script (no nonce) must be refused and seen by both.
        await frame.evaluate(() => {
          const sc = document.createElement('script');
          sc.textContent = 'document.body.dataset.inlineRan = "1"';
          document.body.append(sc);
        });
        await until('the injected inline script to be reported', async () => (await cspEvents(frame)).length > 0 && cspConsole.length > 0, 10_000);
        ok((await bodyData(frame)).inlineRan === undefined, 'an inline script ran in the explorer: its CSP is not in force');
        return `none in the explorer (its own count and the test's listener) or any frame’s console; an injected inline script was refused and reported by both`;
      },
      { independent: true },
    );
  } catch (e) {
    // A failure outside a check (setup of this script itself): counted, not swallowed.
    results.push({ name: 'test harness', status: 'failed', detail: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  } finally {
    const failed = results.some((r) => r.status === 'failed');
    if (failed && cs) {
      log(`code-server output (last lines):\n${cs.output().slice(-3000)}`);
      for (const f of findFiles(path.join(tmp, 'code-server', 'user-data', 'logs'), /RePo Lens\.log$|exthost\.log$/)) log(`${path.relative(tmp, f)}:\n${fs.readFileSync(f, 'utf8').slice(-3000)}`);
    }
    await context?.close().catch(() => undefined);
    await cs?.stop().catch(() => undefined);
    keep = failed && !process.env.CI;
    if (keep) log(`state kept for a look: ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }

  const n = (s: Result['status']) => results.filter((r) => r.status === s).length;
  process.stdout.write(`\nRePo Lens in VS Code (code-server), end to end: screenshots in ${path.relative(ROOT, shotsDir)}/\n`);
  for (const r of results) process.stdout.write(`  ${r.status === 'passed' ? '✔' : r.status === 'failed' ? '✖' : '-'} ${r.name}${r.status !== 'passed' && r.detail ? `\n      ${r.detail.split('\n').join('\n      ')}` : ''}\n`);
  if (Number.isFinite(analyzeToChartMs)) {
    process.stdout.write(
      `  time from the click on Analyze to the drawn charts, ${PROMPT} (${tokenCount} tokens), first run: ${analyzeToChartMs} ms (goal < 1500 ms; not asserted)\n` +
        `      (includes activation, the inference process's start, the model's load and the explorer's first load: ${firstRunParts})\n`,
    );
  }
  if (Number.isFinite(rerunToChartMs)) {
    process.stdout.write(`  time from the click on Re-run to the drawn charts (warm: process, model and explorer loaded): ${rerunToChartMs} ms (goal < 1500 ms; not asserted)${rerunParts ? `; ${rerunParts}` : ''}\n`);
  }
  process.stdout.write(`${n('passed')} passed, ${n('failed')} failed${n('skipped') ? `, ${n('skipped')} skipped` : ''}\n`);
  return n('failed') === 0 && n('passed') > 0 ? 0 : 1;
}

function findFiles(dir: string, re: RegExp): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findFiles(p, re));
    else if (re.test(e.name)) out.push(p);
  }
  return out;
}

function banner(message: string): void {
  const line = '!'.repeat(100);
  process.stdout.write(`\n${line}\n!! end-to-end test (VS Code): ${message}\n${line}\n\n`);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`e2e: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
