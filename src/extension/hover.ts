/** Hovers on analysed tokens; the text comes from core/hover.ts. */
import * as vscode from 'vscode';
import { buildHoverMarkdown, REVEAL_COMMAND } from './core/hover';
import type { ExplorerPayload } from '../shared/protocol';
import { tokenAtOffset } from '../shared/protocol';

export class TokenHoverProvider implements vscode.HoverProvider {
  constructor(private readonly freshPayload: (document: vscode.TextDocument) => ExplorerPayload | undefined) {}

  provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const p = this.freshPayload(document);
    if (!p) return undefined;
    const offset = document.offsetAt(position) - p.baseOffset;
    const t = tokenAtOffset(p.starts, p.ends, offset);
    if (t < 0) return undefined;
    const md = new vscode.MarkdownString(buildHoverMarkdown(p, t));
    // Only our own reveal command may run from a hover link; no HTML.
    md.isTrusted = { enabledCommands: [REVEAL_COMMAND] };
    md.supportHtml = false;
    const range = new vscode.Range(document.positionAt(p.baseOffset + p.starts[t]), document.positionAt(p.baseOffset + p.ends[t]));
    return new vscode.Hover(md, range);
  }
}
