/**
 * The head explorer's HTML shell: a strict Content-Security-Policy, one script by nonce, one
 * stylesheet from the webview's own origin. No `vscode` import (the caller passes asWebviewUri's
 * results), so the CSP can be tested, and the webview harness test can use the very same page.
 */
import { randomBytes } from 'node:crypto';

export function makeNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function explorerCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    "connect-src 'none'",
  ].join('; ');
}

const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function explorerHtml(opts: { cspSource: string; nonce: string; scriptUri: string; styleUri: string }): string {
  const { nonce } = opts;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(explorerCsp(opts.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(opts.styleUri)}">
<title>RePo head explorer</title>
</head>
<body data-testid="repo-lens-explorer">
<div id="app" data-nonce="${attr(nonce)}"><p class="empty">Run <b>Analyze with RePo</b> on an editor to see its heads here.</p></div>
<script nonce="${attr(nonce)}" src="${attr(opts.scriptUri)}"></script>
</body>
</html>`;
}
