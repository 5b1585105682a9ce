/**
 * The self-contained HTML report: one file that works from file:// with no network. The page holds
 * the browser bundle (out/report/report.js, chart.js included) in a nonce'd <script>, the styles in
 * a nonce'd <style>, and the data in two <script type="application/json"> blocks (the analysis JSON
 * and the text). A strict Content-Security-Policy allows nothing else: no other script or style,
 * no connections, images only from data: URLs. Prompt text is never written into the HTML as
 * markup: it travels as JSON (with '<', '>' and '&' escaped) and the script shows it as text.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisJson } from '../engine/analysis';
import { AnalysisError } from '../engine/analysis';
import { repoRoot } from '../engine/models';

/** Where the build step writes the bundle, relative to the package root. */
export const REPORT_BUNDLE_RELATIVE = path.join('out', 'report', 'report.js');

/** The bundle's path: $REPO_LENS_REPORT_BUNDLE when set (a packaged layout, tests), else under the package root. */
export function reportBundlePath(root: string = repoRoot()): string {
  return process.env.REPO_LENS_REPORT_BUNDLE || path.join(root, REPORT_BUNDLE_RELATIVE);
}

/**
 * The bundle's text, or a clear error when it was not built (the npm `prepare` step builds it:
 * `tsc -p . && node out/src/report/build.js`).
 */
export function loadReportBundle(file: string = reportBundlePath()): string {
  let js: string;
  try {
    js = fs.readFileSync(file, 'utf8');
  } catch {
    throw new AnalysisError(
      `--html needs the report bundle ${file}, which has not been built; run \`node out/src/report/build.js\` (after \`tsc -p .\`) in the repo-lens folder`,
    );
  }
  checkBundleText(js);
  return js;
}

/**
 * A script element's text ends at the first "</script" and "<!--" can change how it is parsed;
 * the bundle must contain neither (esbuild escapes them in strings; comments are not kept).
 */
export function checkBundleText(js: string): void {
  if (/<\/script|<!--/i.test(js)) throw new Error('the report bundle contains "</script" or "<!--" and cannot be inlined');
}

/**
 * JSON for a <script type="application/json"> block: '<', '>' and '&' as \u escapes, so no
 * "</script>" or "<!--" can end or change the block whatever the strings hold. U+2028/2029 are
 * escaped too, for readers that treat the block as JavaScript.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #212529; background: #fff; }
#app { max-width: 1360px; margin: 0 auto; padding: 12px 20px 40px; }
h1 { font-size: 20px; margin: 4px 0 6px; }
h2 { font-size: 16px; margin: 22px 0 8px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 10px 0 4px; }
h4 { font-size: 12px; margin: 4px 0; font-weight: 600; }
.meta { margin: 2px 0; color: #495057; }
.note, .legend, .stats { color: #495057; font-size: 12px; margin: 4px 0; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 6px 0; font-size: 13px; }
.multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 8px; }
.multiple { border: 1px solid #dee2e6; border-radius: 4px; padding: 2px 4px; cursor: pointer; }
.multiple.selected { border-color: #1f6feb; box-shadow: 0 0 0 1px #1f6feb; }
.mtitle { font-size: 11px; color: #495057; white-space: nowrap; overflow: hidden; }
.mcanvas { position: relative; height: 110px; }
.big { position: relative; height: 380px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; vertical-align: middle; }
table { border-collapse: collapse; font-size: 11px; font-variant-numeric: tabular-nums; }
th, td { padding: 2px 5px; text-align: right; border: 1px solid #e9ecef; }
thead th { background: #f8f9fa; }
tr.total td, tr.total th { font-weight: 600; border-top: 2px solid #adb5bd; }
.grids { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 8px; }
.heat td { min-width: 34px; }
.textview { white-space: pre-wrap; word-break: break-word; font: 12.5px/1.6 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  border: 1px solid #dee2e6; border-radius: 4px; padding: 8px; max-height: 520px; overflow: auto; }
.tok.q { box-shadow: inset 0 -2px 0 #1f6feb; }
.tok.n { text-decoration: underline 2px #c92a2a; }
.tok.focus { outline: 2px solid #c92a2a; }
.elided { color: #868e96; font-style: italic; }
.where { color: #495057; font-size: 12px; }
q { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; quotes: none; background: #f8f9fa; }
.error, #csp-violations { color: #c92a2a; white-space: pre-wrap; }
`;

export interface ReportPageInput {
  analysis: AnalysisJson;
  text: string;
  bundle: string;
  /** Fresh random value per page unless given (tests). */
  nonce?: string;
}

export function renderReportHtml(input: ReportPageInput): string {
  checkBundleText(input.bundle);
  const nonce = input.nonce ?? randomBytes(18).toString('base64');
  if (!/^[A-Za-z0-9+/=_-]+$/.test(nonce)) throw new Error('nonce must be base64');
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    '<title>RePo Lens report</title>',
    `<style nonce="${nonce}">${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main id="app"><p>Loading the report… (it needs JavaScript)</p></main>',
    `<script type="application/json" id="repo-lens-analysis">${jsonForScript(input.analysis)}</script>`,
    `<script type="application/json" id="repo-lens-text">${jsonForScript(input.text)}</script>`,
    `<script nonce="${nonce}">${input.bundle}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
