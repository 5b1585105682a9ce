/**
 * Editor decorations: created once (themable colours from contributes.colors), applied only to
 * visible editors, recomputed on a debounce. What goes where comes from core/decorations.ts.
 */
import * as vscode from 'vscode';
import { DecorationPlan, LEVELS, OffsetRange } from './core/decorations';

export const DECORATE_DEBOUNCE_MS = 120;

export class Decorator implements vscode.Disposable {
  private readonly levels: vscode.TextEditorDecorationType[];
  private readonly query: vscode.TextEditorDecorationType;
  private readonly needle: vscode.TextEditorDecorationType;
  private readonly boundary: vscode.TextEditorDecorationType;
  private timer?: NodeJS.Timeout;

  constructor(private readonly planFor: (document: vscode.TextDocument) => DecorationPlan | undefined) {
    this.levels = Array.from({ length: LEVELS }, (_, k) =>
      vscode.window.createTextEditorDecorationType({
        backgroundColor: new vscode.ThemeColor(`repoLens.level${k + 1}`),
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
      }),
    );
    this.query = vscode.window.createTextEditorDecorationType({
      border: '1px solid',
      borderColor: new vscode.ThemeColor('repoLens.queryBorder'),
      borderRadius: '2px',
      overviewRulerColor: new vscode.ThemeColor('repoLens.queryBorder'),
      overviewRulerLane: vscode.OverviewRulerLane.Right,
    });
    this.needle = vscode.window.createTextEditorDecorationType({
      border: '1px dashed',
      borderColor: new vscode.ThemeColor('repoLens.needleBorder'),
      borderRadius: '2px',
      overviewRulerColor: new vscode.ThemeColor('repoLens.needleBorder'),
      overviewRulerLane: vscode.OverviewRulerLane.Center,
    });
    this.boundary = vscode.window.createTextEditorDecorationType({
      before: { contentText: '\u258f', color: new vscode.ThemeColor('repoLens.boundary') },
    });
  }

  /** Recomputes the visible editors' decorations after a short quiet period. */
  schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.applyVisible(), DECORATE_DEBOUNCE_MS);
  }

  applyVisible(): void {
    for (const editor of vscode.window.visibleTextEditors) this.apply(editor);
  }

  apply(editor: vscode.TextEditor): void {
    const plan = this.planFor(editor.document);
    const doc = editor.document;
    const ranges = (list: OffsetRange[] | undefined) => (list ?? []).map(([s, e]) => new vscode.Range(doc.positionAt(s), doc.positionAt(e)));
    this.levels.forEach((type, k) => editor.setDecorations(type, ranges(plan?.levels[k])));
    editor.setDecorations(this.query, ranges(plan?.query));
    editor.setDecorations(this.needle, ranges(plan?.needle));
    editor.setDecorations(this.boundary, ranges(plan?.boundaries));
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const d of [...this.levels, this.query, this.needle, this.boundary]) d.dispose();
  }
}
