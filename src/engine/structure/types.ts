/**
 * Prompt structure. Every offset is a UTF-16 code-unit index into the analysed text, end
 * exclusive, like the rest of the engine (see analysis/ranges.ts).
 */

/**
 * - document: a numbered document header line ("Document 1:", "[2]", "Doc 3 —", "Source 4:") and
 *   the lines under it;
 * - tag: an XML-ish element written as a block, `<doc id="1">…</doc>`, `<context>…</context>`;
 * - heading: a markdown heading and the lines under it;
 * - passage: blank-line-separated text that nothing above claimed (the fallback).
 */
export type SegmentKind = 'document' | 'tag' | 'heading' | 'passage';

export interface Segment {
  kind: SegmentKind;
  /** Short human label: "Document 1", "[2]", "doc 3", the heading text, "passage 4". */
  label: string;
  start: number;
  end: number;
}

export type TableKind = 'markdown' | 'csv' | 'tsv' | 'json' | 'jsonl' | 'html';

export interface TableCell {
  /** Data rows count from 0; −1 is the header row. */
  row: number;
  col: number;
  /** The cell's content, whitespace-trimmed; for quoted CSV and JSON strings, inside the quotes. */
  start: number;
  end: number;
  /** The cell's value: unescaped (CSV "", JSON \n, markdown \|), tags stripped for HTML. */
  text: string;
}

export interface Table {
  kind: TableKind;
  start: number;
  end: number;
  /** Header texts by column; empty when the table has no header row. */
  header: string[];
  /** Number of data rows (the header row not counted). */
  rows: number;
  /** Number of columns: the most cells in any row, header included. */
  cols: number;
  /** Header cells (row −1) first, then data cells row by row, each row left to right. */
  cells: TableCell[];
  /** CSV only: the delimiter found (',' or ';'). */
  delimiter?: string;
}

export interface TextStructure {
  segments: Segment[];
  tables: Table[];
}
