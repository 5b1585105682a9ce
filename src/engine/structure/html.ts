import { trimRange } from './lines';
import type { Table, TableCell } from './types';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * Visible text of an HTML fragment: block tags become a blank, inline tags vanish (so "x<b>y</b>"
 * stays "xy"), a few entities are decoded, blanks collapsed.
 */
export function htmlText(fragment: string): string {
  return fragment
    .replace(/<\/?(?:br|p|div|li|ul|ol|table|tr|td|th|thead|tbody|tfoot|h[1-6])\b[^>]*>/gi, ' ')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (all, name: string) => {
      if (name[0] === '#') {
        const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
      }
      return ENTITIES[name.toLowerCase()] ?? all;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

interface OpenCell {
  contentStart: number;
  th: boolean;
}

/**
 * HTML tables: <table> … </table> with <tr> rows and <td>/<th> cells; closing tags may be left
 * out (HTML allows that for cells and rows). A nested table stays inside its outer cell. The first
 * row is the header when it sits in <thead> or all its cells are <th>. A cell spans its content:
 * from the end of its opening tag to the next cell, row or table tag, trimmed. A table without a
 * closing tag ends after its last cell; one without cells is ignored.
 */
export function findHtmlTables(text: string): Table[] {
  const tables: Table[] = [];
  const tag = /<(\/?)(table|thead|tbody|tfoot|tr|td|th)\b[^>]*>/gi;
  let depth = 0;
  let cur: { start: number; rows: { cells: TableCell[]; th: boolean[]; inHead: boolean }[]; inHead: boolean } | null = null;
  let cell: OpenCell | null = null;
  let rowOpen = false;
  let lastEnd = 0;

  const closeCell = (at: number) => {
    if (!cur || !cell) return;
    if (!rowOpen) {
      cur.rows.push({ cells: [], th: [], inHead: cur.inHead });
      rowOpen = true;
    }
    const row = cur.rows[cur.rows.length - 1];
    const [s, e] = trimRange(text, cell.contentStart, at);
    row.cells.push({ row: 0, col: row.cells.length, start: s, end: e, text: htmlText(text.slice(s, e)) });
    row.th.push(cell.th);
    lastEnd = at;
    cell = null;
  };
  const finish = (end: number) => {
    if (!cur) return;
    const rows = cur.rows.filter((r) => r.cells.length > 0);
    if (rows.length > 0) {
      const headerRow = rows[0].inHead || rows[0].th.every(Boolean) ? rows[0] : null;
      const cells: TableCell[] = [];
      let cols = 0;
      let r = 0;
      for (const row of rows) {
        const index = row === headerRow ? -1 : r++;
        for (const c of row.cells) cells.push({ ...c, row: index });
        cols = Math.max(cols, row.cells.length);
      }
      tables.push({
        kind: 'html',
        start: cur.start,
        end,
        header: headerRow ? headerRow.cells.map((c) => c.text) : [],
        rows: r,
        cols,
        cells,
      });
    }
    cur = null;
    cell = null;
    rowOpen = false;
  };

  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    const closing = m[1] === '/';
    const name = m[2].toLowerCase();
    const tagEnd = m.index + m[0].length;
    if (name === 'table') {
      if (!closing) {
        if (depth++ === 0) cur = { start: m.index, rows: [], inHead: false };
      } else if (depth > 0 && --depth === 0) {
        closeCell(m.index);
        finish(tagEnd);
      }
      continue;
    }
    if (depth !== 1 || !cur) continue; // tags of a nested table belong to its outer cell
    if (name === 'thead') {
      closeCell(m.index);
      rowOpen = false;
      cur.inHead = !closing;
    } else if (name === 'tbody' || name === 'tfoot') {
      closeCell(m.index);
      rowOpen = false;
      cur.inHead = false;
    } else if (name === 'tr') {
      closeCell(m.index);
      if (!closing) cur.rows.push({ cells: [], th: [], inHead: cur.inHead });
      rowOpen = !closing;
    } else if (!closing) {
      closeCell(m.index);
      cell = { contentStart: tagEnd, th: name === 'th' };
    } else {
      closeCell(m.index);
    }
  }
  if (cur) {
    closeCell(cell ? text.length : lastEnd);
    finish(lastEnd);
  }
  return tables;
}
