/**
 * Analyses kept on disk (the extension's workspace storage), so that a window reload brings back
 * hovers, decorations and the data exports of documents still open, without running the model
 * again. One JSON file per document, written atomically after each run; the newest MAX_FILES are
 * kept. No `vscode`: the controller passes the folder.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisJson } from '../../engine/analysis';
import { decodePayload, encodePayload, payloadArrayBytes, type StoredPayload } from '../../shared/codec';
import type { ExplorerPayload } from '../../shared/protocol';
import type { Span } from './marks';
import { joinCooperatively, jsonPieces } from './serialize';

export const SAVED_FORMAT = 'repo-lens/saved-analysis@1';
/**
 * Analyses with more array bytes than this are not saved: reading one back is a JSON.parse on the
 * extension host. Measured: repo-tiny at 16K tokens is 2.9 MB of arrays, a 13 MB file, 74 ms to load;
 * the file grows ≈ 4.5× the arrays, so this cap keeps a load near 100 ms.
 */
export const MAX_SAVED_ARRAY_BYTES = 4 * 2 ** 20;
export const MAX_FILES = 20;

export interface SavedAnalysis {
  documentUri: string;
  payload: ExplorerPayload;
  analysis: AnalysisJson;
  range?: Span;
  ranAt: Date;
}

interface SavedFile {
  format: string;
  documentUri: string;
  range?: Span;
  ranAt: string;
  payload: StoredPayload;
  analysis: AnalysisJson;
}

/** Whether a saved analysis still describes the document's text (same characters where it was run). */
export function stillMatches(documentText: string, s: Pick<SavedAnalysis, 'payload' | 'range'>): boolean {
  const p = s.payload;
  if (!s.range) return p.baseOffset === 0 && documentText === p.text;
  return s.range.start === p.baseOffset && documentText.slice(s.range.start, s.range.end) === p.text;
}

export class AnalysisStore {
  constructor(private readonly dir: string) {}

  private file(documentUri: string): string {
    return path.join(this.dir, createHash('sha256').update(documentUri).digest('hex').slice(0, 32) + '.json');
  }

  /** Saves (or replaces) the analysis of a document; false when it is too large to keep. */
  async save(s: SavedAnalysis): Promise<boolean> {
    if (payloadArrayBytes(s.payload) > MAX_SAVED_ARRAY_BYTES) {
      await fs.promises.rm(this.file(s.documentUri), { force: true });
      return false;
    }
    const body: SavedFile = {
      format: SAVED_FORMAT,
      documentUri: s.documentUri,
      ...(s.range ? { range: s.range } : {}),
      ranAt: s.ranAt.toISOString(),
      payload: encodePayload(s.payload),
      analysis: s.analysis,
    };
    const text = await joinCooperatively(jsonPieces(body));
    await fs.promises.mkdir(this.dir, { recursive: true });
    const target = this.file(s.documentUri);
    const tmp = `${target}.${process.pid}.tmp`;
    await fs.promises.writeFile(tmp, text);
    await fs.promises.rename(tmp, target);
    await this.prune();
    return true;
  }

  /** The saved analysis of a document, or undefined (none, unreadable, or another format). */
  async load(documentUri: string): Promise<SavedAnalysis | undefined> {
    let raw: string;
    try {
      raw = await fs.promises.readFile(this.file(documentUri), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const f = JSON.parse(raw) as SavedFile;
      if (f.format !== SAVED_FORMAT || f.documentUri !== documentUri) return undefined;
      return { documentUri, payload: decodePayload(f.payload), analysis: f.analysis, range: f.range, ranAt: new Date(f.ranAt) };
    } catch {
      return undefined; // a torn or foreign file: ignored, replaced by the next run
    }
  }

  async forget(documentUri: string): Promise<void> {
    await fs.promises.rm(this.file(documentUri), { force: true });
  }

  /** Keeps the MAX_FILES most recently written files. */
  private async prune(): Promise<void> {
    const names = (await fs.promises.readdir(this.dir)).filter((n) => n.endsWith('.json'));
    if (names.length <= MAX_FILES) return;
    const stats = await Promise.all(names.map(async (n) => ({ n, t: (await fs.promises.stat(path.join(this.dir, n))).mtimeMs })));
    stats.sort((a, b) => b.t - a.t);
    for (const { n } of stats.slice(MAX_FILES)) await fs.promises.rm(path.join(this.dir, n), { force: true });
  }
}
