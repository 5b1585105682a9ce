import { Line, isBlank, trimRange } from './lines';
import type { Table, TableCell } from './types';

interface RawCell {
  start: number;
  end: number;
  text: string;
}

/** Offsets of the pipes in [start, end) that are not escaped as \|. */
function pipes(text: string, start: number, end: number): number[] {
  const out: number[] = [];
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 /* \ */) i++;
    else if (c === 124 /* | */) out.push(i);
  }
  return out;
}

/**
 * Splits one pipe-table line into cells as GitHub-flavoured markdown does: an outer leading and
 * trailing pipe are optional and not cell borders of empty cells; cell contents are trimmed.
 * Returns null for a line without any pipe.
 */
function splitRow(text: string, line: Line): RawCell[] | null {
  const [s, e] = trimRange(text, line.start, line.end);
  const ps = pipes(text, s, e);
  if (ps.length === 0) return null;
  const borders = [s - 1, ...ps, e];
  // A leading pipe opens the row rather than ending an empty first cell; same for a trailing one.
  if (ps[0] === s) borders.shift();
  if (ps[ps.length - 1] === e - 1 && borders.length > 1) borders.pop();
  const cells: RawCell[] = [];
  for (let k = 0; k + 1 < borders.length; k++) {
    const [cs, ce] = trimRange(text, borders[k] + 1, borders[k + 1]);
    cells.push({ start: cs, end: ce, text: text.slice(cs, ce).replace(/\\\|/g, '|') });
  }
  return cells;
}

/** A delimiter row such as |---|:--:|--:| (at least one pipe, so a bare --- rule is not one). */
const SEPARATOR = /^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$/;

function separatorColumns(text: string, line: Line): number {
  const [s, e] = trimRange(text, line.start, line.end);
  const body = text.slice(s, e);
  if (!body.includes('|') || !SEPARATOR.test(body)) return 0;
  return body.replace(/^\|/, '').replace(/\|$/, '').split('|').length;
}

/**
 * Markdown pipe tables: a header row, a delimiter row with as many columns, then body rows until a
 * blank line or a line without a pipe. Body rows keep every cell they have (GitHub would drop
 * extra cells and pad missing ones), so `cols` can exceed the header's width.
 */
export function findMarkdownTables(text: string, lines: Line[]): Table[] {
  const tables: Table[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const n = separatorColumns(text, lines[i + 1]);
    if (n === 0) continue;
    const head = splitRow(text, lines[i]);
    if (!head || head.length !== n || isBlank(text, lines[i])) continue;
    const cells: TableCell[] = head.map((c, col) => ({ row: -1, col, ...c }));
    let cols = n;
    let rows = 0;
    let last = i + 1;
    for (let j = i + 2; j < lines.length; j++) {
      if (isBlank(text, lines[j])) break;
      const row = splitRow(text, lines[j]);
      if (!row) break;
      row.forEach((c, col) => cells.push({ row: rows, col, ...c }));
      cols = Math.max(cols, row.length);
      rows++;
      last = j;
    }
    const start = trimRange(text, lines[i].start, lines[i].end)[0];
    const end = trimRange(text, lines[last].start, lines[last].end)[1];
    tables.push({ kind: 'markdown', start, end, header: head.map((c) => c.text), rows, cols, cells });
    i = last;
  }
  return tables;
}
