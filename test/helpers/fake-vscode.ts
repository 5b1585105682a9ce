/**
 * A small stand-in for the `vscode` module: enough of the API for the extension bundle to
 * activate, run an analysis and talk to its webview in plain Node. Records what the extension
 * does (decorations, messages, status text) for the activation test. Not a real editor: the
 * code-server end-to-end test is the real check.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import * as path from 'node:path';

type Listener<T> = (e: T) => unknown;
export class Emitter<T> {
  private listeners: Listener<T>[] = [];
  event = (l: Listener<T>) => {
    this.listeners.push(l);
    return { dispose: () => (this.listeners = this.listeners.filter((x) => x !== l)) };
  };
  fire(e: T) {
    for (const l of this.listeners) l(e);
  }
}

export class Uri {
  constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}
  get fsPath() {
    return this.path;
  }
  toString() {
    return `${this.scheme}://${this.path}`;
  }
  static file(p: string) {
    return new Uri('file', p);
  }
  static parse(s: string) {
    const m = /^(\w[\w-]*):\/\/(.*)$/.exec(s);
    return m ? new Uri(m[1], m[2]) : new Uri('file', s);
  }
  static joinPath(u: Uri, ...parts: string[]) {
    return new Uri(u.scheme, path.posix.join(u.path, ...parts));
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
  get isEmpty() {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}
export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor, active);
  }
}

export class FakeDocument {
  version = 1;
  constructor(
    readonly uri: Uri,
    private text: string,
  ) {}
  getText(r?: Range) {
    return r ? this.text.slice(this.offsetAt(r.start), this.offsetAt(r.end)) : this.text;
  }
  offsetAt(p: Position) {
    const lines = this.text.split('\n');
    let o = 0;
    for (let i = 0; i < p.line; i++) o += lines[i].length + 1;
    return o + p.character;
  }
  positionAt(offset: number) {
    const before = this.text.slice(0, offset).split('\n');
    return new Position(before.length - 1, before[before.length - 1].length);
  }
  edit(offset: number, length: number, inserted: string) {
    this.text = this.text.slice(0, offset) + inserted + this.text.slice(offset + length);
    this.version++;
  }
}

export class FakeEditor {
  selection: Selection;
  decorations = new Map<string, Range[]>();
  viewColumn = 1;
  constructor(readonly document: FakeDocument) {
    this.selection = new Selection(new Position(0, 0), new Position(0, 0));
  }
  setDecorations(type: { key: string }, ranges: Range[]) {
    this.decorations.set(type.key, ranges);
  }
  revealRange() {}
}

export function makeFakeVscode(settings: Record<string, unknown>) {
  const commands = new Map<string, (...a: any[]) => any>();
  const messages: { kind: string; text: string }[] = [];
  const hoverProviders: any[] = [];
  const webviewProviders = new Map<string, any>();
  const events = {
    visibleEditors: new Emitter<unknown>(),
    selection: new Emitter<any>(),
    activeEditor: new Emitter<unknown>(),
    changeDocument: new Emitter<any>(),
    closeDocument: new Emitter<unknown>(),
    configuration: new Emitter<any>(),
  };
  let decorationCount = 0;
  const statusItems: any[] = [];
  const window: any = {
    visibleTextEditors: [] as FakeEditor[],
    activeTextEditor: undefined as FakeEditor | undefined,
    createOutputChannel: () => ({ appendLine: () => undefined, show: () => undefined, dispose: () => undefined }),
    createTextEditorDecorationType: () => ({ key: `deco${decorationCount++}`, dispose: () => undefined }),
    createStatusBarItem: () => {
      const item = { text: '', tooltip: undefined, command: undefined, name: '', show: () => undefined, dispose: () => undefined };
      statusItems.push(item);
      return item;
    },
    registerWebviewViewProvider: (id: string, p: unknown) => {
      webviewProviders.set(id, p);
      return { dispose: () => undefined };
    },
    onDidChangeVisibleTextEditors: events.visibleEditors.event,
    onDidChangeTextEditorSelection: events.selection.event,
    onDidChangeActiveTextEditor: events.activeEditor.event,
    withProgress: async (_o: unknown, task: any) => {
      const cancel = new Emitter<void>();
      return task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: cancel.event });
    },
    showInformationMessage: async (text: string) => void messages.push({ kind: 'info', text }),
    showWarningMessage: async (text: string) => void messages.push({ kind: 'warning', text }),
    showErrorMessage: async (text: string) => void messages.push({ kind: 'error', text }),
    showTextDocument: async (doc: FakeDocument) => window.visibleTextEditors.find((e: FakeEditor) => e.document === doc),
    showSaveDialog: async () => undefined,
  };
  const vscode = {
    Uri,
    Position,
    Range,
    Selection,
    ThemeColor: class {
      constructor(readonly id: string) {}
    },
    MarkdownString: class {
      isTrusted: unknown;
      supportHtml = false;
      constructor(readonly value: string) {}
    },
    Hover: class {
      constructor(
        readonly contents: unknown,
        readonly range: Range,
      ) {}
    },
    StatusBarAlignment: { Left: 1, Right: 2 },
    ProgressLocation: { Notification: 15 },
    DecorationRangeBehavior: { ClosedClosed: 1 },
    OverviewRulerLane: { Left: 1, Center: 2, Right: 4 },
    TextEditorRevealType: { InCenterIfOutsideViewport: 2 },
    window,
    languages: {
      registerHoverProvider: (_s: unknown, p: unknown) => {
        hoverProviders.push(p);
        return { dispose: () => undefined };
      },
    },
    commands: {
      registerCommand: (id: string, f: (...a: any[]) => any) => {
        commands.set(id, f);
        return { dispose: () => commands.delete(id) };
      },
      executeCommand: async (id: string, ...a: unknown[]) => commands.get(id)?.(...a),
    },
    workspace: {
      getConfiguration: () => ({ get: (k: string) => settings[k] }),
      onDidChangeTextDocument: events.changeDocument.event,
      onDidCloseTextDocument: events.closeDocument.event,
      onDidChangeConfiguration: events.configuration.event,
      textDocuments: [] as FakeDocument[],
      notebookDocuments: [],
      workspaceFolders: undefined,
      fs: { writeFile: async () => undefined },
      openTextDocument: async () => undefined,
    },
  };
  return { vscode, commands, messages, hoverProviders, webviewProviders, events, statusItems };
}
