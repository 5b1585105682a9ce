/**
 * The one message protocol between the extension host (src/extension/explorerView.ts) and the head
 * explorer webview (webview/explorer/). Both ends import this file; every message is a member of a
 * discriminated union on `type`. Bulk data (positions, attention, token offsets) crosses once per
 * analysis as typed arrays inside ExplorerPayload, never as per-point JSON.
 *
 * Types and small pure helpers only: no `vscode`, no DOM, no Node.
 */
import type { CurveSummaryJson, NeedleSplitJson } from '../engine/analysis';

export const EXPLORER_PROTOCOL_VERSION = 1;

/** A token-index span [start, end) labelled for the band shading behind the curves. */
import type { TokenBand } from '../engine/analysis/bands';
export type { TokenBand };

/** Only what the charts draw of a curve summary (the focus range, plateaus, jumps). */
export type CurveMarks = Pick<CurveSummaryJson, 'focus' | 'plateaus' | 'jumps' | 'min' | 'max'>;

/** Everything the explorer shows of one analysis. */
export interface ExplorerPayload {
  /** Unique per analysis run; the webview's state and exports refer to it. */
  id: string;
  documentUri: string;
  /** A short name for titles (file name, or "cell 3 of notebook.ipynb"). */
  documentLabel: string;
  /** Document offset (UTF-16) where the analysed text starts (a selection's start, else 0). */
  baseOffset: number;
  /** The analysed text, for token labels (always drawn as text, never parsed as HTML). */
  text: string;
  model: { name: string; numLayers: number; numHeads: number; repoLayers: number[]; device: string };
  integerPositions: boolean;
  T: number;
  /** [T] token offsets into `text` and token ids. */
  starts: Int32Array;
  ends: Int32Array;
  ids: Int32Array;
  /** [R·H·T] positions of the main run, R = repoLayers.length. */
  positions: Float32Array;
  /** [L·H·T] mean query attention, learned positions (the main run unless integerPositions). */
  attentionLearned?: Float32Array;
  /** [L·H·T] the same with integer positions fed to the RePo layers (ablation or main run). */
  attentionInteger?: Float32Array;
  query: { start: number; end: number; firstToken: number; lastToken: number };
  needle?: { start: number; end: number; firstToken: number; lastToken: number };
  needleSplit?: NeedleSplitJson;
  /** [R][H]. */
  curves?: CurveMarks[][];
  bands: { segments: TokenBand[]; rows: TokenBand[] };
}

/** What the explorer shows; kept in webview state so a reload comes back the same. */
export interface ExplorerSelection {
  view: 'positions' | 'needle';
  /** Index into repoLayers (positions view). */
  repoLayer: number;
  head: number;
  focus: boolean;
  diagonal: boolean;
  bands: 'none' | 'segments' | 'rows';
  /** Needle view: which part of the split. */
  part: 'needle' | 'recent' | 'rest';
}

export const DEFAULT_SELECTION: ExplorerSelection = {
  view: 'positions',
  repoLayer: 0,
  head: 0,
  focus: false,
  diagonal: true,
  bands: 'segments',
  part: 'needle',
};

export type ExportKind = 'png' | 'json' | 'csv-positions' | 'csv-needle';

/** Host → webview. */
export type HostToWebview =
  | { type: 'analysis'; payload: ExplorerPayload }
  /** The editor cursor sits on this token of analysis `id` (−1: outside the analysed text). */
  | { type: 'cursor'; id: string; token: number }
  /** Show this token (from a hover's "Show in head explorer" link). */
  | { type: 'reveal'; id: string; token: number; repoLayer?: number; head?: number }
  /** The document changed since the analysis: results still shown, marked out of date. */
  | { type: 'stale'; id: string; stale: boolean }
  | { type: 'clear'; reason: string }
  | { type: 'exported'; ok: boolean; message: string };

/** Webview → host. */
export type WebviewToHost =
  | { type: 'ready'; protocol: number; restoredId?: string }
  /** A click on a curve point or token: select it in the editor. */
  | { type: 'selectToken'; id: string; documentUri: string; baseOffset: number; start: number; end: number }
  /** The layer/head the user is looking at (decorations in "position" mode follow it). */
  | { type: 'selection'; id: string; repoLayer: number; layer: number; head: number }
  | { type: 'export'; kind: ExportKind; id: string; pngDataUrl?: string }
  /** Rendering facts, for tests and diagnostics. */
  | { type: 'rendered'; id: string; view: ExplorerSelection['view']; heads: number; tokens: number; charts: number }
  | { type: 'log'; level: 'error' | 'info'; message: string };

/** Type guard for messages coming from the webview (they arrive as `any`). */
export function isWebviewMessage(m: unknown): m is WebviewToHost {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'selectToken' || t === 'selection' || t === 'export' || t === 'rendered' || t === 'log';
}

/** Index of the last token whose start is ≤ offset and that covers it, or −1 (offsets into the analysed text). */
export function tokenAtOffset(starts: ArrayLike<number>, ends: ArrayLike<number>, offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= offset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0) return -1;
  // Byte tokens of one character share its range: report the first of them.
  while (found > 0 && starts[found - 1] === starts[found]) found--;
  return offset < ends[found] ? found : -1;
}
