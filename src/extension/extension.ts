/**
 * Entry point of the VS Code extension (bundled to dist/extension.js). Activation only wires up
 * commands, providers and the status bar; the model is loaded on the first analysis.
 */
import * as vscode from 'vscode';
import { RepoLensController } from './controller';

let controller: RepoLensController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  try {
    controller = new RepoLensController(context);
    context.subscriptions.push(controller);
  } catch (e) {
    // Shown, not swallowed: an extension that silently does nothing is worse.
    void vscode.window.showErrorMessage(`RePo Lens failed to start: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
}

export function deactivate(): void {
  controller = undefined;
}
