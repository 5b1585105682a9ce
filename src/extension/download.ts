/**
 * `RePo Lens: Download Official Model` (repoLens.downloadModel): the engine's hub downloader behind
 * a cancellable progress notification, then an offer to make the download the model in use.
 * Runs in the extension host: the transfer is I/O and hashing is done chunk by chunk, so the
 * event loop stays free.
 */
import * as vscode from 'vscode';
import { DownloadError, OFFICIAL_REPO_ID, downloadModel, formatBytes, parseRepoSpec, progressLine } from '../engine/download';
import { cacheBase } from '../engine/models';
import { CONFIG_SECTION } from './core/config';
import { proxyFromVscodeSettings, repoInputProblem } from './core/download';

export const DOWNLOAD_COMMAND = 'repoLens.downloadModel';

/**
 * Registers the command. Its argument (for other extensions, tests or keybindings) may name the
 * model: "owner/name[@revision]" or { repoId, revision }; without one, an input box offers the
 * official model.
 */
export function registerDownloadCommand(output: vscode.OutputChannel): vscode.Disposable {
  let running: string | undefined;
  return vscode.commands.registerCommand(DOWNLOAD_COMMAND, async (arg?: unknown) => {
    if (running) {
      void vscode.window.showInformationMessage(`RePo Lens: ${running} is already being downloaded.`);
      return;
    }
    let spec: string | undefined;
    if (typeof arg === 'string') spec = arg;
    else if (arg && typeof arg === 'object' && typeof (arg as { repoId?: unknown }).repoId === 'string') {
      const a = arg as { repoId: string; revision?: string };
      spec = a.revision ? `${a.repoId}@${a.revision}` : a.repoId;
    } else {
      spec = await vscode.window.showInputBox({
        title: 'RePo Lens: download a model from the Hugging Face hub',
        prompt: `Model id (owner/name, or owner/name@revision). The official RePo-OLMo2-1B is about 6 GB; files go to ${cacheBase()}/hub.`,
        value: OFFICIAL_REPO_ID,
        ignoreFocusOut: true,
        validateInput: repoInputProblem,
      });
      if (spec === undefined) return;
    }
    const ref = parseRepoSpec(spec.trim());
    if (!ref) {
      void vscode.window.showErrorMessage(`RePo Lens: "${spec}" is not ${repoInputProblem(spec)}.`);
      return;
    }
    const http = vscode.workspace.getConfiguration('http');
    const proxy = proxyFromVscodeSettings({ proxy: http.get('proxy'), proxyStrictSSL: http.get('proxyStrictSSL'), noProxy: http.get('noProxy') });
    running = spec.trim();
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `RePo Lens: downloading ${running}`, cancellable: true },
        async (progress, token) => {
          const abort = new AbortController();
          const sub = token.onCancellationRequested(() => abort.abort());
          let shown = 0;
          try {
            return await downloadModel({
              ...ref,
              cacheRoot: cacheBase(),
              proxy,
              signal: abort.signal,
              onProgress: (p) => {
                const pct = p.totalBytes > 0 ? Math.floor((p.bytes / p.totalBytes) * 100) : 0;
                progress.report({ message: progressLine(p), increment: Math.max(0, pct - shown) });
                shown = Math.max(shown, pct);
              },
            });
          } finally {
            sub.dispose();
          }
        },
      );
      output.appendLine(
        `downloaded ${result.spec}${result.commit ? ` (commit ${result.commit})` : ''}: ${formatBytes(result.totalBytes)} in ${result.dir}, ` +
          `${formatBytes(result.fetchedBytes)} fetched${result.alreadyComplete ? ' (already complete)' : ''}`,
      );
      for (const w of result.warnings) {
        output.appendLine(`warning: ${w}`);
        void vscode.window.showWarningMessage(`RePo Lens: ${w}.`);
      }
      const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
      const what = result.alreadyComplete ? 'is already downloaded' : 'is downloaded';
      if (config.get('model') === result.spec) {
        void vscode.window.showInformationMessage(`RePo Lens: ${result.spec} ${what} and is the model in use.`);
        return;
      }
      const use = 'Use This Model';
      const pick = await vscode.window.showInformationMessage(`RePo Lens: ${result.spec} ${what} (${formatBytes(result.totalBytes)} in ${result.dir}).`, use);
      // repoLens.model is machine-scoped: it belongs in the user (or remote machine) settings.
      if (pick === use) await config.update('model', result.spec, vscode.ConfigurationTarget.Global);
    } catch (e) {
      if (e instanceof Error && e.name === 'AbortError') {
        output.appendLine(`download of ${running} cancelled`);
        void vscode.window.showInformationMessage(`RePo Lens: download of ${running} cancelled; what was downloaded is kept, run the command again to resume.`);
        return;
      }
      const message = e instanceof Error ? e.message : String(e);
      output.appendLine(`download of ${running} failed: ${e instanceof DownloadError ? `${e.code}: ${message}` : e instanceof Error ? (e.stack ?? message) : message}`);
      const pick = await vscode.window.showErrorMessage(`RePo Lens: ${message}.`, 'Show Log');
      if (pick) output.show(true);
    } finally {
      running = undefined;
    }
  });
}
