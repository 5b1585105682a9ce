import { Line, splitLines, trimRange } from './lines';
import type { Segment } from './types';

/**
 * "Document 1:", "Doc 2 —", "Source 3:", "**Passage 4.**", "## Document 5", "Document [6](Title: …)":
 * a source word, an optional "#", "No." or "[", a number, then a separator or the end of the
 * line. Case-insensitive.
 */
const DOC_HEADER =
  /^(?:#{1,6}\s+)?(?:[*_]{1,2})?(document|doc|source|passage|context|article|reference|result|chunk|snippet|excerpt)\s*(?:#|no\.?\s*)?\[?(\d+)\]?(?:[*_]{1,2})?\s*(?:[:\u2014\u2013.()\]-]|$)/i;
/** "[1]" at the start of a line, followed by a blank or the end of the line. */
const BRACKET_HEADER = /^\[(\d+)\](?=\s|$)/;
/** ATX markdown heading: up to 3 spaces, 1–6 '#', a blank, some text. */
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$/;
/** Lines that start the question part of a prompt: they end an open document or heading. */
const TERMINATOR = /^(?:question|query|answer|instructions?|task|q|a)\s*:/i;
/** Code fences: headings inside them are comments, not structure. */
const FENCE = /^ {0,3}(```|~~~)/;

/** Table-related HTML tags are tables, not segments. */
const NOT_SEGMENT_TAGS = new Set(['table', 'thead', 'tbody', 'tfoot', 'tr', 'td', 'th', 'br', 'hr', 'img', 'meta', 'link', 'input']);

interface Element {
  name: string;
  start: number;
  openEnd: number;
  closeStart: number;
  end: number;
  attrs: string;
}

/**
 * XML-ish elements written as blocks: the opening tag is the first thing on its line and the
 * closing tag the last thing on its line (possibly the same line). Tags are matched by name with a
 * stack; an unmatched opening tag is ignored.
 */
function blockElements(text: string): Element[] {
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s[^<>]*)?)>/g;
  const stack: { name: string; start: number; openEnd: number; attrs: string }[] = [];
  const out: Element[] = [];
  const startsLine = (at: number) => {
    let i = at - 1;
    while (i >= 0 && (text[i] === ' ' || text[i] === '\t')) i--;
    return i < 0 || text[i] === '\n' || text[i] === '\r';
  };
  const endsLine = (at: number) => {
    let i = at;
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
    return i >= text.length || text[i] === '\n' || text[i] === '\r';
  };
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    const name = m[2].toLowerCase();
    if (NOT_SEGMENT_TAGS.has(name) || m[3].endsWith('/')) continue;
    if (m[1] !== '/') {
      stack.push({ name, start: m.index, openEnd: m.index + m[0].length, attrs: m[3] });
      continue;
    }
    let k = stack.length - 1;
    while (k >= 0 && stack[k].name !== name) k--;
    if (k < 0) continue;
    const open = stack[k];
    stack.length = k;
    const end = m.index + m[0].length;
    if (startsLine(open.start) && endsLine(end)) out.push({ ...open, closeStart: m.index, end });
  }
  return out.sort((a, b) => a.start - b.start);
}

function tagLabel(e: Element): string {
  const attr = /\b(?:index|id|title|source|name|key)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i.exec(e.attrs);
  const value = attr ? (attr[1] ?? attr[2] ?? attr[3]) : '';
  return value ? `${e.name} ${value}` : e.name;
}

type Header = { kind: 'document' | 'heading'; label: string } | { kind: 'terminator' };

function classify(line: string): Header | null {
  const s = line.trimStart();
  let m = DOC_HEADER.exec(s);
  if (m) return { kind: 'document', label: `${m[1]} ${m[2]}` };
  m = BRACKET_HEADER.exec(s);
  if (m) return { kind: 'document', label: `[${m[1]}]` };
  m = HEADING.exec(line);
  if (m && m[2]) return { kind: 'heading', label: m[2].slice(0, 80) };
  if (TERMINATOR.test(s)) return { kind: 'terminator' };
  return null;
}

/**
 * Splits a prompt into segments, in text order and non-overlapping:
 * 1. tag: innermost block elements (`<doc id=1>…</doc>`, `<context>…</context>`); an element that
 *    contains another is a container, its own tag lines belong to no segment.
 * 2. document / heading: a header line opens a segment that runs to the last non-blank line before
 *    the next header, a "Question:"-like line, a tag segment, a container's tag line, or the end.
 *    Inside an open document, markdown headings do not split it (documents carry their own).
 * 3. passage: whatever is left, split at blank lines.
 * Ranges are whitespace-trimmed, so separators and blank lines between segments belong to none.
 * Headers inside ``` fences are ignored.
 */
export function findSegments(text: string, lines: Line[] = splitLines(text)): Segment[] {
  const elements = blockElements(text);
  // Leaves: the next element in start order does not start inside this one (elements nest).
  const leaves = elements.filter((e, i) => i + 1 >= elements.length || elements[i + 1].start >= e.end);
  const containerTagLines = new Set<number>();
  const lineOf = (offset: number) => {
    let lo = 0, hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lines[mid].start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const leafSet = new Set(leaves);
  for (const e of elements) {
    if (leafSet.has(e)) continue;
    containerTagLines.add(lineOf(e.start));
    containerTagLines.add(lineOf(e.closeStart));
  }

  const segments: Segment[] = [];
  let open: { kind: 'document' | 'heading'; label: string; start: number; lastEnd: number } | null = null;
  let passage: { start: number; lastEnd: number } | null = null;
  let passages = 0;
  const closeOpen = () => {
    if (open) segments.push({ kind: open.kind, label: open.label, start: open.start, end: open.lastEnd });
    open = null;
  };
  const closePassage = () => {
    if (passage) segments.push({ kind: 'passage', label: `passage ${++passages}`, start: passage.start, end: passage.lastEnd });
    passage = null;
  };

  let leaf = 0;
  let inFence = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    while (leaf < leaves.length && leaves[leaf].end <= line.start) leaf++; // never expected; keeps the walk safe
    if (leaf < leaves.length && leaves[leaf].start < line.next) {
      // A tag segment starts on this line: it ends whatever is open and swallows its lines.
      const e = leaves[leaf++];
      closeOpen();
      closePassage();
      segments.push({ kind: 'tag', label: tagLabel(e), start: e.start, end: e.end });
      while (i + 1 < lines.length && lines[i + 1].start < e.end) i++;
      continue;
    }
    const raw = text.slice(line.start, line.end);
    const [s, e] = trimRange(text, line.start, line.end);
    if (containerTagLines.has(i)) {
      closeOpen();
      closePassage();
      continue;
    }
    if (FENCE.test(raw)) inFence = !inFence;
    const header = inFence || FENCE.test(raw) ? null : classify(raw);
    if (header && header.kind === 'terminator') {
      closeOpen();
      closePassage();
    } else if (header && !(header.kind === 'heading' && open?.kind === 'document')) {
      closeOpen();
      closePassage();
      open = { kind: header.kind, label: header.label, start: s, lastEnd: e };
      continue;
    }
    if (s === e) {
      closePassage();
      continue;
    }
    if (open) open.lastEnd = e;
    else if (passage) passage.lastEnd = e;
    else passage = { start: s, lastEnd: e };
  }
  closeOpen();
  closePassage();
  return segments;
}
