/**
 * The extension's state and commands. Two cleanup lists, as in rust-analyzer's client: the
 * extension's lifetime (commands, providers, decoration types) and the inference session's
 * (the InferenceHost and its child process), which settings such as the execution provider renew.
 *
 * Activation is cheap: nothing here loads a model until the first analysis (the InferenceHost
 * starts its child process on its first request).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AnalysisJson } from '../engine/analysis';
import { AnalyzeResult, EngineError, InferenceHost, isAbortError } from '../engine/runtime';
import type { AnalyzeProgress } from '../engine/runtime';
import { ExplorerPayload, WebviewToHost, tokenAtOffset } from '../shared/protocol';
import { CONFIG_SECTION, RepoLensConfig, classifyConfigChange, hostOptionsOf, readConfig } from './core/config';
import { needleCsv, positionsCsvLines } from './core/csv';
import { joinCooperatively, jsonPieces } from './core/serialize';
import { AnalysisStore, stillMatches } from './core/analysisStore';
import { DecorationChoice, DecorationPlan, boundaryOffsets, buildDecorationPlan } from './core/decorations';
import { DocumentMarks, Span, relativeSpan, shiftMarks } from './core/marks';
import { Decorator } from './decorator';
import { registerDownloadCommand } from './download';
import { ExplorerViewProvider, EXPLORER_VIEW_ID } from './explorerView';
import { TokenHoverProvider } from './hover';
import { Summarizer } from './summarizer';
import { REVEAL_COMMAND } from './core/hover';

interface DocumentAnalysis {
  payload: ExplorerPayload;
  analysis: AnalysisJson;
  /** Document version the analysis was made of; an edit makes it stale. */
  version: number;
  /** The analysed part in document offsets, kept across edits (undefined: the whole document), so
   * that "Re-run" analyses the same text whatever is selected when the user clicks it. */
  range?: Span;
  stale: boolean;
  ranAt: Date;
  totalMs: number;
}

/** Documents the extension can analyse: files, unsaved files, notebook cells. */
const DOCUMENT_SELECTOR: vscode.DocumentSelector = [{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: 'vscode-notebook-cell' }];

export class RepoLensController implements vscode.Disposable {
  private readonly lifetime: vscode.Disposable[] = [];
  private readonly sessionScope: vscode.Disposable[] = [];
  private host?: InferenceHost;
  private config: RepoLensConfig;
  private readonly analyses = new Map<string, DocumentAnalysis>();
  private readonly marks = new Map<string, DocumentMarks>();
  /** The analysis the explorer shows (the latest run, or the one a reveal asked for). */
  private currentId?: string;
  private readonly decorator: Decorator;
  private readonly explorer: ExplorerViewProvider;
  private readonly status: vscode.StatusBarItem;
  private readonly output: vscode.OutputChannel;
  private readonly summarizer: Summarizer;
  private choice: Omit<DecorationChoice, 'metric'> = { layer: -1, head: -1 };
  private lastRun?: { device: string; ms: number; at: Date };
  private cursorTimer?: NodeJS.Timeout;
  private staleNotified = new Set<string>();
  /** Analyses saved on disk, brought back after a window reload (undefined without storage). */
  private readonly store?: AnalysisStore;
  /** Documents whose saved analysis was looked for in this session. */
  private readonly restoreTried = new Set<string>();

  constructor(private readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('RePo Lens');
    const { config, problems } = this.readSettings();
    this.config = config;
    for (const p of problems) void vscode.window.showWarningMessage(`RePo Lens: ${p}`);

    const storage = context.storageUri ?? context.globalStorageUri;
    if (storage) this.store = new AnalysisStore(path.join(storage.fsPath, 'analyses'));
    this.summarizer = new Summarizer(vscode.Uri.joinPath(context.extensionUri, 'dist', 'summary-worker.js').fsPath);
    this.decorator = new Decorator((doc) => this.decorationPlan(doc));
    this.explorer = new ExplorerViewProvider(context.extensionUri, {
      current: () => this.currentPayload(),
      onWebviewMessage: (m) => this.onWebviewMessage(m),
    });
    this.status = vscode.window.createStatusBarItem('repoLens.status', vscode.StatusBarAlignment.Right, 100);
    this.status.name = 'RePo Lens';
    this.status.command = 'repoLens.analyze';
    this.updateStatus();
    this.status.show();

    this.lifetime.push(
      this.output,
      this.summarizer,
      this.decorator,
      this.explorer,
      this.status,
      vscode.window.registerWebviewViewProvider(EXPLORER_VIEW_ID, this.explorer),
      vscode.languages.registerHoverProvider(DOCUMENT_SELECTOR, new TokenHoverProvider((doc) => this.freshPayload(doc))),
      vscode.commands.registerCommand('repoLens.analyze', (arg?: unknown) => this.analyzeCommand(arg)),
      vscode.commands.registerCommand('repoLens.markNeedle', () => this.markCommand('needle')),
      vscode.commands.registerCommand('repoLens.markQuery', () => this.markCommand('query')),
      vscode.commands.registerCommand('repoLens.clearMarks', () => this.clearMarks()),
      vscode.commands.registerCommand('repoLens.showExplorer', () => this.explorer.show()),
      vscode.commands.registerCommand(REVEAL_COMMAND, (arg?: { id?: string; token?: number }) => this.revealCommand(arg)),
      registerDownloadCommand(this.output),
      vscode.window.onDidChangeVisibleTextEditors(() => {
        this.restoreVisible();
        this.decorator.schedule();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => this.onSelection(e)),
      vscode.window.onDidChangeActiveTextEditor(() => this.updateStatus()),
      vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChange(e)),
      vscode.workspace.onDidCloseTextDocument((doc) => this.forget(doc)),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration(CONFIG_SECTION) && this.onConfigChange()),
      { dispose: () => this.disposeSession() },
    );
    this.restoreVisible();
  }

  // ---- analyses saved across window reloads ----

  private restoreVisible(): void {
    for (const e of vscode.window.visibleTextEditors) void this.restoreFor(e.document);
  }

  /** Brings back a document's saved analysis when its text is still what was analysed. */
  private async restoreFor(doc: vscode.TextDocument): Promise<void> {
    const uri = doc.uri.toString();
    if (!this.store || this.analyses.has(uri) || this.restoreTried.has(uri)) return;
    this.restoreTried.add(uri);
    const saved = await this.store.load(uri);
    if (!saved || this.analyses.has(uri) || !stillMatches(doc.getText(), saved)) return;
    this.analyses.set(uri, {
      payload: saved.payload,
      analysis: saved.analysis,
      version: doc.version,
      range: saved.range,
      stale: false,
      ranAt: saved.ranAt,
      totalMs: 0,
    });
    this.output.appendLine(`${saved.payload.documentLabel}: analysis of ${saved.ranAt.toISOString()} restored (text unchanged)`);
    if (!this.currentId) {
      this.currentId = saved.payload.id;
      this.explorer.post({ type: 'analysis', payload: saved.payload });
    }
    this.decorator.schedule();
    this.updateStatus();
  }

  // ---- settings and the inference session ----

  private readSettings() {
    const c = vscode.workspace.getConfiguration(CONFIG_SECTION);
    return readConfig((key) => c.get(key));
  }

  private onConfigChange(): void {
    const { config, problems } = this.readSettings();
    for (const p of problems) void vscode.window.showWarningMessage(`RePo Lens: ${p}`);
    const change = classifyConfigChange(this.config, config);
    this.config = config;
    if (change.newSession) this.disposeSession();
    if (change.rerun) {
      for (const [uri, a] of this.analyses) this.markStale(uri, a, false);
    }
    if (change.reasons.length) this.output.appendLine(`settings changed: ${change.reasons.join('; ')}`);
    if (change.rerun) {
      void vscode.window.showInformationMessage(`RePo Lens: ${change.reasons.join('; ')}.`, 'Re-run').then((pick) => {
        if (!pick) return;
        // The active editor's analysed part again when it has one, else its selection as usual.
        const doc = vscode.window.activeTextEditor?.document;
        const a = doc ? this.analyses.get(doc.uri.toString()) : undefined;
        void this.analyzeCommand(undefined, 'refuse', doc && a ? { document: doc, range: a.range } : undefined);
      });
    }
    this.decorator.schedule();
    this.updateStatus();
  }

  /** The InferenceHost, started on first use (the heavy part of activation). */
  private ensureHost(): InferenceHost {
    if (!this.host) {
      const dist = vscode.Uri.joinPath(this.context.extensionUri, 'dist').fsPath;
      this.host = new InferenceHost({
        ...hostOptionsOf(this.config),
        // A native crash in onnxruntime must not take the extension host down: a process of its own.
        transport: 'child-process',
        workerPath: path.join(dist, 'inference-child.js'),
      });
      const host = this.host;
      this.sessionScope.push({ dispose: () => void host.dispose() });
      this.output.appendLine(`inference process ready to start (${this.config.executionProvider}, threads ${this.config.threads || 'default'})`);
    }
    return this.host;
  }

  private disposeSession(): void {
    for (const d of this.sessionScope.splice(0)) d.dispose();
    this.host = undefined;
  }

  // ---- analysis ----

  private resolveTarget(arg: unknown): { editor?: vscode.TextEditor; document: vscode.TextDocument; label: string } | undefined {
    // From a notebook cell's toolbar the argument is the cell.
    const cell = arg as vscode.NotebookCell | undefined;
    if (cell && typeof cell === 'object' && 'notebook' in cell && 'document' in cell) {
      const editor = vscode.window.visibleTextEditors.find((e) => e.document === cell.document);
      return { editor, document: cell.document, label: `cell ${cell.index + 1} of ${path.basename(cell.notebook.uri.path)}` };
    }
    const editor = vscode.window.activeTextEditor;
    if (!editor) return undefined;
    return { editor, document: editor.document, label: this.documentLabel(editor.document) };
  }

  private documentLabel(doc: vscode.TextDocument): string {
    if (doc.uri.scheme === 'vscode-notebook-cell') {
      const nb = vscode.workspace.notebookDocuments.find((n) => n.getCells().some((c) => c.document === doc));
      const cell = nb?.getCells().find((c) => c.document === doc);
      if (nb && cell) return `cell ${cell.index + 1} of ${path.basename(nb.uri.path)}`;
    }
    return path.basename(doc.uri.path) || doc.uri.toString();
  }

  /**
   * `range` (document offsets) analyses that part instead of the selection: what a re-run of a
   * stale analysis passes, with `document`.
   */
  async analyzeCommand(arg?: unknown, overflow: 'refuse' | 'truncate' = 'refuse', again?: { document: vscode.TextDocument; range?: Span }): Promise<void> {
    const target = again ? { editor: vscode.window.visibleTextEditors.find((e) => e.document === again.document), document: again.document, label: this.documentLabel(again.document) } : this.resolveTarget(arg);
    if (!target) {
      void vscode.window.showInformationMessage('RePo Lens: open a text editor or notebook cell to analyse.');
      return;
    }
    const { editor, document, label } = target;
    let selection: vscode.Range | undefined;
    if (again) {
      const r = again.range;
      // A range that covers the whole document is the whole document (and is labelled so).
      selection = r && (r.start > 0 || r.end < document.getText().length) ? new vscode.Range(document.positionAt(r.start), document.positionAt(r.end)) : undefined;
    } else selection = editor && !editor.selection.isEmpty ? editor.selection : undefined;
    const baseOffset = selection ? document.offsetAt(selection.start) : 0;
    const text = selection ? document.getText(selection) : document.getText();
    if (text.trim().length === 0) {
      void vscode.window.showInformationMessage(`RePo Lens: ${selection ? 'the selection' : label} is empty.`);
      return;
    }
    const uri = document.uri.toString();
    const marks = this.marks.get(uri) ?? {};
    const queryRange = relativeSpan(marks.query, baseOffset, text.length);
    const needleRange = relativeSpan(marks.needle, baseOffset, text.length);
    const version = document.version;
    const model = this.config.model;
    // Open the explorer and start the summary worker now, so both load while the model runs.
    this.summarizer.warm();
    if (!this.explorer.visible) void this.explorer.reveal(editor);

    let result: AnalyzeResult;
    const t0 = Date.now();
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `RePo Lens: ${label}`, cancellable: true },
        async (progress, token) => {
          const abort = new AbortController();
          const sub = token.onCancellationRequested(() => abort.abort());
          try {
            return await this.ensureHost().analyze(
              {
                model,
                text,
                ...(queryRange ? { queryRange } : {}),
                ...(needleRange ? { needleRange } : {}),
                // The automatic needle (and question-line query) unless the user marked a needle.
                autoNeedle: !needleRange,
                // The integer-position pass too: the needle split and the "integer" colouring need it.
                ablation: true,
                overflow,
                ...(this.config.maxTokens > 0 ? { maxTokens: this.config.maxTokens } : {}),
                ...(this.config.yarnFactor > 0 ? { yarnFactor: this.config.yarnFactor } : {}),
                storage: this.config.weightStorage,
                label: selection ? 'the selection' : label,
              },
              { signal: abort.signal, onProgress: (p) => progress.report({ message: progressMessage(p, model) }) },
            );
          } finally {
            sub.dispose();
          }
        },
      );
    } catch (e) {
      await this.reportAnalyzeError(e, arg, again);
      return;
    }

    try {
      const device = deviceLabel(result.executionProvider);
      // Curves, structure, split and the explorer's arrays: off the event loop (see summarize.ts).
      const { analysis, payload } = await this.summarizer.summarize({
        id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
        documentUri: uri,
        documentLabel: label,
        baseOffset,
        text,
        ...(result.truncated ? { truncatedAt: result.truncated.endOffset } : {}),
        encoding: result.encoding,
        info: result.model.info,
        plan: result.plan,
        run: result.run,
        integerPositions: result.integerPositions,
        ablation: result.ablation,
        device,
        modelExtra: { source: result.model.kind, device: result.executionProvider, deviceNote: result.providerNote, tokenizer: result.model.tokenizer },
        extra: {
          tool: { name: 'repo-lens-vscode' },
          warnings: result.warnings,
          ...(result.truncated ? { truncated: result.truncated } : {}),
          timings: result.timings,
        },
      });
      const stale = document.version !== version;
      const range = selection ? { start: baseOffset, end: baseOffset + text.length } : undefined;
      const ranAt = new Date();
      this.analyses.set(uri, { payload, analysis, version, range, stale, ranAt, totalMs: Date.now() - t0 });
      this.store
        ?.save({ documentUri: uri, payload, analysis, range, ranAt })
        .then((kept) => kept || this.output.appendLine(`${label}: too large to keep across window reloads`))
        .catch((e) => this.output.appendLine(`could not save the analysis for window reloads: ${(e as Error).message}`));
      this.staleNotified.delete(uri);
      this.currentId = payload.id;
      this.lastRun = { device, ms: result.timings.totalMs, at: new Date() };
      this.output.appendLine(
        `${label}: ${payload.T} tokens with ${result.model.name} on ${device} in ${Math.round(result.timings.totalMs)} ms (${result.providerNote})` +
          (result.warnings.length ? `; warnings: ${result.warnings.join('; ')}` : ''),
      );
      for (const w of result.warnings) if (/first \d+ of/.test(w)) void vscode.window.showWarningMessage(`RePo Lens: ${w}`);
      this.explorer.post({ type: 'analysis', payload });
      if (stale) this.explorer.post({ type: 'stale', id: payload.id, stale: true });
      // The explorer is where the run is seen: open it, but leave the keyboard in the editor.
      if (!this.explorer.visible) void this.explorer.reveal(editor);
      this.decorator.schedule();
      this.updateStatus();
    } catch (e) {
      await this.reportAnalyzeError(e, arg, again);
    }
  }

  private async reportAnalyzeError(e: unknown, arg: unknown, again?: { document: vscode.TextDocument; range?: Span }): Promise<void> {
    if (isAbortError(e)) {
      this.output.appendLine('analysis cancelled');
      return;
    }
    const err = e as EngineError;
    this.output.appendLine(`analysis failed: ${err?.stack ?? String(e)}`);
    if (err?.code === 'TEXT_TOO_LONG') {
      const limit = Number(err.details?.limit);
      const pick = await vscode.window.showErrorMessage(`RePo Lens: ${err.message}.`, `Analyse the first ${limit} tokens`);
      if (pick) await this.analyzeCommand(arg, 'truncate', again);
      return;
    }
    const more = err?.code === 'WORKER_CRASHED' ? ' The extension host is unaffected; run the analysis again to start a new inference process.' : '';
    const pick = await vscode.window.showErrorMessage(`RePo Lens: ${err?.message ?? String(e)}.${more}`, 'Show Log');
    if (pick) this.output.show(true);
  }

  // ---- marks ----

  private markCommand(kind: 'needle' | 'query'): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
      void vscode.window.showInformationMessage(`RePo Lens: select the ${kind} text first.`);
      return;
    }
    const doc = editor.document;
    const span: Span = { start: doc.offsetAt(editor.selection.start), end: doc.offsetAt(editor.selection.end) };
    const uri = doc.uri.toString();
    this.marks.set(uri, { ...this.marks.get(uri), [kind]: span });
    const a = this.analyses.get(uri);
    if (a && !a.stale) this.markStale(uri, a, true, `the ${kind} mark changed`);
    this.decorator.schedule();
  }

  private clearMarks(): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return;
    this.marks.delete(editor.document.uri.toString());
    this.decorator.schedule();
  }

  // ---- editor events ----

  private onDocumentChange(e: vscode.TextDocumentChangeEvent): void {
    if (e.contentChanges.length === 0) return;
    const uri = e.document.uri.toString();
    const edits = e.contentChanges.map((c) => ({ offset: c.rangeOffset, length: c.rangeLength, inserted: c.text.length }));
    const m = this.marks.get(uri);
    if (m) this.marks.set(uri, shiftMarks(m, edits));
    const a = this.analyses.get(uri);
    // The analysed part follows the edits (as a mark does), for "Re-run"; swallowed whole, the whole document.
    if (a?.range) a.range = shiftMarks({ query: a.range }, edits).query;
    if (a && !a.stale) this.markStale(uri, a, true, `${a.payload.documentLabel} changed since it was analysed`);
    this.decorator.schedule();
  }

  private markStale(uri: string, a: DocumentAnalysis, offerRerun: boolean, why?: string): void {
    a.stale = true;
    this.explorer.post({ type: 'stale', id: a.payload.id, stale: true });
    this.updateStatus();
    if (offerRerun && !this.staleNotified.has(uri)) {
      this.staleNotified.add(uri);
      void vscode.window.showInformationMessage(`RePo Lens: ${why ?? 'the analysis is out of date'}.`, 'Re-run').then((pick) => {
        if (!pick) return;
        // The same part of the document as before, not whatever is selected now (after "Mark as
        // Needle" the selection is the needle).
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
        const current = this.analyses.get(uri);
        if (doc) void this.analyzeCommand(undefined, 'refuse', { document: doc, range: current?.range });
      });
    }
  }

  private forget(doc: vscode.TextDocument): void {
    const uri = doc.uri.toString();
    this.analyses.delete(uri);
    this.marks.delete(uri);
    this.staleNotified.delete(uri);
    this.restoreTried.delete(uri);
  }

  private onSelection(e: vscode.TextEditorSelectionChangeEvent): void {
    const a = this.analyses.get(e.textEditor.document.uri.toString());
    if (!a || a.stale || a.payload.id !== this.currentId || !this.explorer.visible) return;
    clearTimeout(this.cursorTimer);
    this.cursorTimer = setTimeout(() => {
      const offset = e.textEditor.document.offsetAt(e.selections[0].active) - a.payload.baseOffset;
      this.explorer.post({ type: 'cursor', id: a.payload.id, token: tokenAtOffset(a.payload.starts, a.payload.ends, offset) });
    }, 60);
  }

  // ---- decorations, hovers, status ----

  private freshPayload(doc: vscode.TextDocument): ExplorerPayload | undefined {
    const a = this.analyses.get(doc.uri.toString());
    return a && !a.stale && a.version === doc.version ? a.payload : undefined;
  }

  private decorationPlan(doc: vscode.TextDocument): DecorationPlan | undefined {
    const uri = doc.uri.toString();
    const p = this.freshPayload(doc);
    if (p) {
      const a = this.analyses.get(uri)!.analysis;
      const cellStarts = (a.structure?.tables ?? []).flatMap((t) => t.cells.map((c) => c.start));
      return buildDecorationPlan(p, { metric: this.config.decorationMetric, ...this.choice }, boundaryOffsets(p, cellStarts));
    }
    const m = this.marks.get(uri);
    if (!m) return undefined;
    return { levels: [], query: m.query ? [[m.query.start, m.query.end]] : [], needle: m.needle ? [[m.needle.start, m.needle.end]] : [], boundaries: [] };
  }

  private updateStatus(): void {
    const doc = vscode.window.activeTextEditor?.document;
    const a = doc ? this.analyses.get(doc.uri.toString()) : undefined;
    const run = this.lastRun;
    const device = run?.device ?? (this.config.executionProvider === 'auto' ? 'auto' : deviceLabel(this.config.executionProvider));
    this.status.text = `$(telescope) RePo: ${this.config.model} · ${device}${run ? ` · ${formatMs(run.ms)}` : ''}${a?.stale ? ' · stale' : ''}`;
    this.status.tooltip = new vscode.MarkdownString(
      `**RePo Lens**\n\nModel: ${escapeMd(this.config.model)}\n\nDevice: ${device}\n\n` +
        (run ? `Last run: ${formatMs(run.ms)} at ${run.at.toLocaleTimeString()}\n\n` : 'No analysis yet\n\n') +
        (a?.stale ? 'The analysis of this editor is out of date.\n\n' : '') +
        'Click to analyse the current editor.',
    );
  }

  // ---- the explorer ----

  private currentPayload(): ExplorerPayload | undefined {
    for (const a of this.analyses.values()) if (a.payload.id === this.currentId) return a.payload;
    return undefined;
  }

  private findById(id: string): DocumentAnalysis | undefined {
    for (const a of this.analyses.values()) if (a.payload.id === id) return a;
    return undefined;
  }

  private async revealCommand(arg?: { id?: string; token?: number }): Promise<void> {
    const a = arg?.id ? this.findById(arg.id) : undefined;
    if (!a || typeof arg?.token !== 'number') return;
    if (this.currentId !== a.payload.id) {
      this.currentId = a.payload.id;
      this.explorer.post({ type: 'analysis', payload: a.payload });
    }
    await this.explorer.show();
    this.explorer.post({ type: 'reveal', id: a.payload.id, token: arg.token });
  }

  private async onWebviewMessage(m: WebviewToHost): Promise<void> {
    try {
      await this.handleWebviewMessage(m);
    } catch (e) {
      this.output.appendLine(`explorer request ${m.type} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      void vscode.window.showErrorMessage(`RePo Lens: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async handleWebviewMessage(m: WebviewToHost): Promise<void> {
    switch (m.type) {
      case 'selectToken': {
        const uri = vscode.Uri.parse(m.documentUri);
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === m.documentUri) ?? (await vscode.workspace.openTextDocument(uri));
        // A visible editor (or notebook cell editor) is used as it is; otherwise the document is opened.
        const editor = vscode.window.visibleTextEditors.find((e) => e.document === doc) ?? (await vscode.window.showTextDocument(doc, { preserveFocus: false }));
        const range = new vscode.Range(doc.positionAt(m.baseOffset + m.start), doc.positionAt(m.baseOffset + m.end));
        editor.selection = new vscode.Selection(range.start, range.end);
        editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
        break;
      }
      case 'selection':
        if (this.config.decorationMetric === 'position') this.choice = { layer: m.repoLayer, head: m.head };
        else this.choice = { layer: m.layer, head: m.head };
        this.decorator.schedule();
        break;
      case 'export':
        await this.exportCommand(m.kind, m.id, m.pngDataUrl);
        break;
      case 'log':
        this.output.appendLine(`explorer ${m.level}: ${m.message}`);
        break;
      default:
        break;
    }
  }

  private async exportCommand(kind: 'png' | 'json' | 'csv-positions' | 'csv-needle', id: string, png?: string): Promise<void> {
    const a = this.findById(id);
    if (!a && kind !== 'png') {
      this.explorer.post({ type: 'exported', ok: false, message: 'This analysis is no longer in memory (its document was closed or edited, or it was too large to keep across a window reload): run it again to export its data.' });
      return;
    }
    const base = (a?.payload.documentLabel ?? 'analysis').replace(/[^\w.-]+/g, '_');
    const ext = kind === 'png' ? 'png' : kind === 'json' ? 'json' : 'csv';
    const name = `${base}.${kind === 'csv-positions' ? 'positions.' : kind === 'csv-needle' ? 'needle.' : ''}${ext}`;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(folder, name),
      filters: { [ext.toUpperCase()]: [ext] },
      title: 'RePo Lens: export',
    });
    if (!target) return;
    let bytes: Uint8Array;
    if (kind === 'png') {
      const m = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(png ?? '');
      if (!m) {
        this.explorer.post({ type: 'exported', ok: false, message: 'the chart image was not a PNG' });
        return;
      }
      bytes = Buffer.from(m[1], 'base64');
    } else if (kind === 'json') bytes = Buffer.from(await joinCooperatively(jsonPieces(a!.analysis)));
    else if (kind === 'csv-positions') bytes = Buffer.from(await joinCooperatively(positionsCsvLines(a!.analysis, a!.payload.text)));
    else bytes = Buffer.from(needleCsv(a!.analysis));
    await vscode.workspace.fs.writeFile(target, bytes);
    this.explorer.post({ type: 'exported', ok: true, message: `saved ${target.fsPath}` });
  }

  dispose(): void {
    clearTimeout(this.cursorTimer);
    for (const d of this.lifetime.splice(0).reverse()) d.dispose();
  }
}

function progressMessage(p: AnalyzeProgress, model: string): string {
  switch (p.phase) {
    case 'tokenizing':
      return 'tokenizing…';
    case 'tokenized':
      return `${p.tokens} tokens`;
    case 'converting':
      return `converting ${model}: ${p.message}`;
    case 'loading':
      return `loading ${model}…`;
    case 'running':
      return p.ablation ? `integer-position pass on ${p.tokens} tokens…` : `running ${model} on ${p.tokens} tokens…`;
  }
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

/** How the status bar and messages name where the model ran. */
function deviceLabel(ep: 'cpu' | 'cuda' | 'webgpu'): string {
  return ep === 'cuda' ? 'GPU (CUDA)' : ep === 'webgpu' ? 'GPU (WebGPU)' : 'CPU';
}
