/**
 * The extension bundle (dist/extension.js as esbuild builds it) against a stand-in `vscode`
 * module: activation registers everything without starting inference; "Analyze with RePo" runs
 * the random fixture in the child process and feeds the explorer, decorations, hover and status
 * bar; an edit makes the analysis stale; a click in the explorer selects the token in the editor.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeDocument, FakeEditor, Position, Selection, Uri, makeFakeVscode } from './helpers/fake-vscode';

const ROOT = path.resolve(__dirname, '..', '..');
const EXT = path.join(ROOT, 'out', 'test-ext');
const MODEL = path.join(ROOT, 'test', 'fixtures', 'random-repo-bf16-sharded');
const TEXT = 'Notes: the vault code is 4721. Keep it safe.\n\nWhat is the vault code?\n';

describe('extension bundle with a stand-in vscode', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-ext-test-'));
  const fake = makeFakeVscode({ model: MODEL, executionProvider: 'cpu', threads: 1, maxTokens: 0, decorationMetric: 'attention-learned' });
  const Module = require('node:module') as { _load: (req: string, ...rest: unknown[]) => unknown };
  const originalLoad = Module._load;
  const context = { extensionUri: Uri.file(EXT), subscriptions: [] as { dispose(): unknown }[] };
  let ext: { activate(c: unknown): void; deactivate(): void };
  const posted: any[] = [];
  let receive: (m: unknown) => void = () => undefined;
  const doc = new FakeDocument(Uri.file('/work/prompt.txt'), TEXT);
  const editor = new FakeEditor(doc);
  const oldCache = process.env.REPO_LENS_CACHE;

  before(async () => {
    process.env.REPO_LENS_CACHE = tmp;
    const { buildExtensionBundles } = await import('../src/build/bundles');
    await buildExtensionBundles({ outDir: path.join(EXT, 'dist'), only: ['extension', 'child'], dev: true });
    Module._load = function (req: string, ...rest: unknown[]) {
      return req === 'vscode' ? fake.vscode : originalLoad.call(this, req, ...rest);
    };
    ext = require(path.join(EXT, 'dist', 'extension.js'));
  });

  after(async () => {
    for (const d of context.subscriptions.splice(0).reverse()) await d.dispose();
    Module._load = originalLoad;
    if (oldCache === undefined) delete process.env.REPO_LENS_CACHE;
    else process.env.REPO_LENS_CACHE = oldCache;
    // Give the child process a moment to see its channel close.
    await new Promise((r) => setTimeout(r, 200));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('activates cheaply: commands, hover, explorer and status bar, no inference process', () => {
    ext.activate(context);
    for (const c of ['repoLens.analyze', 'repoLens.markNeedle', 'repoLens.markQuery', 'repoLens.revealToken', 'repoLens.showExplorer']) assert.ok(fake.commands.has(c), c);
    assert.equal(fake.hoverProviders.length, 1);
    assert.ok(fake.webviewProviders.has('repoLens.explorer'));
    assert.match(fake.statusItems[0].text, /RePo: .*random-repo-bf16-sharded · CPU$/);
    assert.deepEqual(fake.messages, []);
  });

  it('serves the explorer page with a strict CSP and assets from dist/webview only', () => {
    const view: any = {
      visible: true,
      show: () => undefined,
      onDidDispose: () => ({ dispose: () => undefined }),
      webview: {
        options: undefined,
        html: '',
        cspSource: 'vscode-webview://test',
        asWebviewUri: (u: Uri) => u,
        postMessage: async (m: unknown) => void posted.push(m),
        onDidReceiveMessage: (f: (m: unknown) => void) => {
          receive = f;
          return { dispose: () => undefined };
        },
      },
    };
    fake.webviewProviders.get('repoLens.explorer').resolveWebviewView(view, { state: undefined }, {});
    assert.deepEqual(view.webview.options.localResourceRoots.map((u: Uri) => u.fsPath), [path.join(EXT, 'dist', 'webview')]);
    assert.match(view.webview.html, /default-src 'none'; script-src 'nonce-[\w-]+'; style-src vscode-webview:\/\/test/);
    assert.doesNotMatch(view.webview.html, /unsafe-inline/);
    receive({ type: 'ready', protocol: 1 });
    assert.deepEqual(posted, [], 'nothing to show yet');
  });

  it('analyses the active editor in a child process and feeds explorer, decorations, hover and status', async () => {
    fake.vscode.window.visibleTextEditors.push(editor);
    fake.vscode.workspace.textDocuments.push(doc);
    fake.vscode.window.activeTextEditor = editor;
    await fake.commands.get('repoLens.analyze')!();
    assert.deepEqual(fake.messages, []);
    const msg = posted.find((m) => m.type === 'analysis');
    assert.ok(msg, 'the explorer got the analysis');
    const p = msg.payload;
    assert.ok(p.positions instanceof Float32Array && p.starts instanceof Int32Array && p.attentionInteger instanceof Float32Array);
    assert.equal(p.T, TEXT.length);
    assert.equal(p.documentUri, doc.uri.toString());
    assert.ok(p.needle, 'automatic needle');
    assert.match(fake.statusItems[0].text, /· CPU · \d+ ms$/);
    await new Promise((r) => setTimeout(r, 250)); // the decoration debounce
    const drawn = [...editor.decorations.values()].reduce((n, r) => n + r.length, 0);
    assert.ok(drawn > 2, `${drawn} decoration ranges`);
    const hover = fake.hoverProviders[0].provideHover(doc, doc.positionAt(TEXT.indexOf('4721')));
    assert.ok(hover);
    assert.deepEqual(hover.contents.isTrusted, { enabledCommands: ['repoLens.revealToken'] });
    assert.match(hover.contents.value, /```text\n"4"\n```/);
  });

  it('selects a token the explorer asks for, and reveals a hovered token in the explorer', async () => {
    const p = posted.find((m) => m.type === 'analysis').payload;
    const t = TEXT.indexOf('4721');
    receive({ type: 'selectToken', id: p.id, documentUri: p.documentUri, baseOffset: 0, start: t, end: t + 1 });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual([doc.offsetAt(editor.selection.start), doc.offsetAt(editor.selection.end)], [t, t + 1]);
    await fake.commands.get('repoLens.revealToken')!({ id: p.id, token: 5 });
    assert.deepEqual(posted.at(-1), { type: 'reveal', id: p.id, token: 5 });
  });

  it('marks the analysis stale on an edit: no hover, explorer told, re-run offered', async () => {
    const p = posted.find((m) => m.type === 'analysis').payload;
    doc.edit(0, 0, 'X');
    fake.events.changeDocument.fire({ document: doc, contentChanges: [{ rangeOffset: 0, rangeLength: 0, text: 'X' }] });
    assert.deepEqual(posted.at(-1), { type: 'stale', id: p.id, stale: true });
    assert.equal(fake.hoverProviders[0].provideHover(doc, new Position(0, 3)), undefined);
    assert.match(fake.messages.at(-1)!.text, /prompt\.txt changed since it was analysed/);
    assert.match(fake.statusItems[0].text, /stale$/);
  });

  it('keeps a marked needle across re-runs', async () => {
    const start = doc.getText().indexOf('Keep');
    editor.selection = new Selection(doc.positionAt(start), doc.positionAt(start + 'Keep it safe'.length));
    await fake.commands.get('repoLens.markNeedle')!();
    editor.selection = new Selection(new Position(0, 0), new Position(0, 0));
    const before = posted.length;
    await fake.commands.get('repoLens.analyze')!();
    const p = posted.slice(before).find((m) => m.type === 'analysis').payload;
    assert.deepEqual([p.needle.start, p.needle.end], [start, start + 'Keep it safe'.length]);
  });
});

describe('summarising a run off the event loop (dist/summary-worker.js)', () => {
  it('summarises 16K tokens in the worker while the event loop keeps ticking, same result as inline', async (t) => {
    const { buildExtensionBundles } = await import('../src/build/bundles');
    const [, worker] = await buildExtensionBundles({ outDir: path.join(EXT, 'dist'), only: ['extension'] });
    assert.equal(path.basename(worker.file), 'summary-worker.js');
    const { Summarizer } = await import('../src/extension/summarizer');
    const { summarizeRun } = await import('../src/extension/core/summarize');
    const { syntheticRun } = await import('./helpers/synthetic-analysis');
    const text = 'Filler words go on and on here. | a | b |\n'.repeat(400).slice(0, 16000) + '\nQuestion: what is it?\n';
    const main = syntheticRun(text, 4, 4, [1, 2, 3]);
    const other = syntheticRun(text, 4, 4, [1, 2, 3], true, 3);
    const input = {
      id: 'big',
      documentUri: 'file:///big.txt',
      documentLabel: 'big.txt',
      baseOffset: 0,
      text,
      encoding: main.enc,
      info: { name: 'synthetic', numLayers: 4, numHeads: 4, repoLayers: [1, 2, 3], vocabSize: 300, maxPositions: 32768 } as never,
      plan: main.plan,
      run: main.run,
      integerPositions: false,
      ablation: other.run,
      device: 'CPU',
      modelExtra: {},
      extra: {},
    };
    const s = new Summarizer(worker.file);
    try {
      let last = performance.now();
      let maxGap = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
      }, 5);
      const t0 = performance.now();
      const out = await s.summarize(input).finally(() => clearInterval(timer));
      const ms = performance.now() - t0;
      t.diagnostic(`T=${main.run.T}: summarised in ${ms.toFixed(0)} ms, longest event-loop gap ${maxGap.toFixed(0)} ms`);
      const i0 = performance.now();
      const inline = summarizeRun(input);
      const inlineMs = performance.now() - i0;
      t.diagnostic(`inline on the event loop it would block for ${inlineMs.toFixed(0)} ms`);
      assert.ok(maxGap < inlineMs / 2, `event loop blocked for ${maxGap.toFixed(0)} ms (inline: ${inlineMs.toFixed(0)} ms)`);
      assert.deepEqual(out.payload, inline.payload);
      assert.deepEqual(out.analysis.needleSplit, inline.analysis.needleSplit);
      assert.ok(out.payload.positions instanceof Float32Array);
    } finally {
      s.dispose();
    }
  });
});
