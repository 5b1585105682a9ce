import { findDelimitedTables } from './delimited';
import { findHtmlTables } from './html';
import { findJsonTables } from './json';
import { Line, splitLines } from './lines';
import { findMarkdownTables } from './markdown';
import type { Table, TableKind } from './types';

/**
 * When candidates overlap, the more specific syntax wins: HTML and markdown tables and JSON carry
 * explicit structure, while a comma-separated block is the easiest to see where there is none (a
 * JSON line or a markdown row has commas too).
 */
const PRIORITY: Record<TableKind, number> = { html: 0, markdown: 1, json: 2, jsonl: 3, tsv: 4, csv: 4 };

/**
 * Every linearized table in the text, non-overlapping, in text order. Among overlapping
 * candidates of equal priority (CSV vs TSV, or ',' vs ';') the one with more cells wins, then the
 * earlier one.
 */
export function findTables(text: string, lines: Line[] = splitLines(text)): Table[] {
  const candidates = [
    ...findHtmlTables(text),
    ...findMarkdownTables(text, lines),
    ...findJsonTables(text, lines),
    ...findDelimitedTables(text, lines),
  ];
  candidates.sort((a, b) => PRIORITY[a.kind] - PRIORITY[b.kind] || b.cells.length - a.cells.length || a.start - b.start);
  const kept: Table[] = [];
  for (const c of candidates) {
    if (!kept.some((k) => k.start < c.end && c.start < k.end)) kept.push(c);
  }
  return kept.sort((a, b) => a.start - b.start);
}
