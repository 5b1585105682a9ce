import { Line, isBlank, trimRange } from './lines';
import type { Table, TableCell } from './types';

export interface Field {
  start: number;
  end: number;
  text: string;
  quoted: boolean;
}

/**
 * Splits one line on `delim` outside double quotes. A field is quoted when its first non-blank
 * character is '"'; inside, "" stands for one quote, and after the closing quote only blanks may
 * come before the delimiter. Quotes never span lines here ("simple" fields). Returns null for a
 * malformed line (unclosed quote, text after a closing quote).
 */
export function splitDelimited(text: string, start: number, end: number, delim: number): Field[] | null {
  const fields: Field[] = [];
  let i = start;
  for (;;) {
    let j = i;
    while (j < end && (text.charCodeAt(j) === 32 || (text.charCodeAt(j) === 9 && delim !== 9))) j++;
    if (j < end && text.charCodeAt(j) === 34 /* " */) {
      let k = j + 1;
      let value = '';
      let from = k;
      for (;;) {
        if (k >= end) return null;
        if (text.charCodeAt(k) === 34) {
          if (text.charCodeAt(k + 1) === 34 && k + 1 < end) {
            value += text.slice(from, k + 1);
            k += 2;
            from = k;
            continue;
          }
          break;
        }
        k++;
      }
      value += text.slice(from, k);
      fields.push({ start: j + 1, end: k, text: value, quoted: true });
      k++;
      while (k < end && (text.charCodeAt(k) === 32 || (text.charCodeAt(k) === 9 && delim !== 9))) k++;
      if (k === end) return fields;
      if (text.charCodeAt(k) !== delim) return null;
      i = k + 1;
    } else {
      let k = i;
      while (k < end && text.charCodeAt(k) !== delim) k++;
      const [s, e] = trimRange(text, i, k);
      fields.push({ start: s, end: e, text: text.slice(s, e), quoted: false });
      if (k === end) return fields;
      i = k + 1;
    }
  }
}

/**
 * Guards against prose: two lines of a paragraph can easily have the same number of commas. An
 * unquoted field that ends a sentence inside it, or has more than 8 words, is not a table cell.
 */
function looksLikeProse(f: Field): boolean {
  if (f.quoted) return false;
  if (/[.!?]["')\]]?\s+\S/.test(f.text)) return true;
  return f.text.split(/\s+/).length > 8;
}

const NUMERIC = /^[-+]?(\d[\d_,]*\.?\d*|\.\d+)([eE][-+]?\d+)?%?$/;

/** CSV (',' or ';') and TSV ('\t') blocks; see findDelimitedTables. */
function blocksFor(text: string, lines: Line[], delim: string): Table[] {
  const code = delim.charCodeAt(0);
  const tables: Table[] = [];
  const parsed = lines.map((l) => (isBlank(text, l) ? null : splitDelimited(text, l.start, l.end, code)));
  let i = 0;
  while (i < lines.length) {
    const first = parsed[i];
    if (!first || first.length < 2) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < lines.length && parsed[j]?.length === first.length) j++;
    const block = parsed.slice(i, j) as Field[][];
    if (block.length >= 2 && !block.some((r) => r.some(looksLikeProse))) {
      // The first line is the header unless all of its fields are numbers (then it is data).
      const hasHeader = !first.every((f) => NUMERIC.test(f.text));
      const cells: TableCell[] = [];
      block.forEach((r, k) => {
        const row = hasHeader ? k - 1 : k;
        r.forEach((f, col) => cells.push({ row, col, start: f.start, end: f.end, text: f.text }));
      });
      // Trimming can cut an empty edge field (a trailing tab); the table still contains it.
      const start = Math.min(trimRange(text, lines[i].start, lines[i].end)[0], first[0].start);
      const lastRow = block[block.length - 1];
      const end = Math.max(trimRange(text, lines[j - 1].start, lines[j - 1].end)[1], lastRow[lastRow.length - 1].end);
      tables.push({
        kind: delim === '\t' ? 'tsv' : 'csv',
        start,
        end,
        header: hasHeader ? first.map((f) => f.text) : [],
        rows: block.length - (hasHeader ? 1 : 0),
        cols: first.length,
        cells,
        ...(delim === '\t' ? {} : { delimiter: delim }),
      });
    }
    i = j;
  }
  return tables;
}

/**
 * Delimited blocks: at least 2 consecutive non-blank lines that split into the same number (≥ 2)
 * of fields on one delimiter (tab, comma or semicolon), with simple double-quoted fields. Blocks
 * for different delimiters may overlap; the caller keeps the better one.
 */
export function findDelimitedTables(text: string, lines: Line[]): Table[] {
  return [...blocksFor(text, lines, '\t'), ...blocksFor(text, lines, ','), ...blocksFor(text, lines, ';')];
}
