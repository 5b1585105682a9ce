/**
 * The head explorer: a WebviewView (panel) that shows the current analysis. All messages are the
 * typed unions of src/shared/protocol.ts. The webview keeps its own state (getState/setState), so
 * hiding it or reloading the window brings it back without running the model again; the host also
 * re-sends the current analysis when the view is resolved anew.
 */
import * as vscode from 'vscode';
import { HostToWebview, WebviewToHost, isWebviewMessage } from '../shared/protocol';
import type { ExplorerPayload } from '../shared/protocol';
import { explorerHtml, makeNonce } from './core/html';

export const EXPLORER_VIEW_ID = 'repoLens.explorer';

export interface ExplorerHost {
  current(): ExplorerPayload | undefined;
  onWebviewMessage(m: WebviewToHost): void | Promise<void>;
}

export class ExplorerViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view?: vscode.WebviewView;
  private ready = false;
  /** Messages sent before the webview said it was ready (the latest analysis wins). */
  private pending: HostToWebview[] = [];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly host: ExplorerHost,
  ) {}

  resolveWebviewView(view: vscode.WebviewView, _context: vscode.WebviewViewResolveContext): void {
    this.view = view;
    this.ready = false;
    const assets = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [assets] };
    view.webview.html = explorerHtml({
      cspSource: view.webview.cspSource,
      nonce: makeNonce(),
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(assets, 'explorer.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(assets, 'explorer.css')).toString(),
    });
    this.disposables.push(
      view.webview.onDidReceiveMessage((m: unknown) => {
        if (!isWebviewMessage(m)) return;
        if (m.type === 'ready') {
          this.ready = true;
          const cur = this.host.current();
          // The webview restored its own state: send the analysis only when it has another one.
          const queue = this.pending.splice(0);
          if (cur && m.restoredId !== cur.id && !queue.some((q) => q.type === 'analysis')) queue.unshift({ type: 'analysis', payload: cur });
          for (const q of queue) void view.webview.postMessage(q);
        }
        void this.host.onWebviewMessage(m);
      }),
      view.onDidDispose(() => {
        if (this.view === view) {
          this.view = undefined;
          this.ready = false;
        }
      }),
    );
  }

  get visible(): boolean {
    return !!this.view?.visible;
  }

  post(m: HostToWebview): void {
    if (this.view && this.ready) {
      void this.view.webview.postMessage(m);
      return;
    }
    if (m.type === 'analysis') this.pending = this.pending.filter((q) => q.type !== 'analysis' && q.type !== 'cursor');
    if (m.type === 'cursor') this.pending = this.pending.filter((q) => q.type !== 'cursor');
    this.pending.push(m);
  }

  /** Opens the view (VS Code adds a `<viewId>.focus` command for every view). */
  async show(): Promise<void> {
    if (this.view) this.view.show(true);
    else await vscode.commands.executeCommand(`${EXPLORER_VIEW_ID}.focus`);
  }

  /** Opens the view without keeping the keyboard: `<viewId>.focus` (the only way to open a view
   * that was never resolved) focuses it, so the editor gets the focus back. */
  async reveal(editor?: vscode.TextEditor): Promise<void> {
    if (this.view) {
      this.view.show(true);
      return;
    }
    await vscode.commands.executeCommand(`${EXPLORER_VIEW_ID}.focus`);
    if (editor && editor.document.uri.scheme !== 'vscode-notebook-cell') {
      await vscode.window.showTextDocument(editor.document, { viewColumn: editor.viewColumn, preserveFocus: false });
    }
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
