/**
 * Needle and query marks of a document (UTF-16 document offsets), kept across edits and re-runs.
 * No `vscode` import.
 */
export interface Span {
  start: number;
  end: number;
}

export interface DocumentMarks {
  needle?: Span;
  query?: Span;
}

/** One text edit in document offsets: `length` characters at `offset` replaced by `inserted` characters. */
export interface OffsetEdit {
  offset: number;
  length: number;
  inserted: number;
}

/**
 * Where a span is after an edit: edits before it shift it, edits inside it grow or shrink it, an
 * edit that swallows it entirely removes it (undefined).
 */
export function shiftSpan(span: Span, edit: OffsetEdit): Span | undefined {
  const editEnd = edit.offset + edit.length;
  const delta = edit.inserted - edit.length;
  if (editEnd <= span.start) return { start: span.start + delta, end: span.end + delta };
  if (edit.offset >= span.end) return span;
  if (edit.offset <= span.start && editEnd >= span.end) return undefined;
  const start = Math.min(span.start, edit.offset);
  const end = Math.max(start, editEnd >= span.end ? edit.offset + edit.inserted : span.end + delta);
  return end > start ? { start, end } : undefined;
}

/** Applies the edits of one change event (VS Code reports them against the old text, last first is safe). */
export function shiftMarks(marks: DocumentMarks, edits: readonly OffsetEdit[]): DocumentMarks {
  // Applying from the highest offset down keeps earlier offsets valid.
  const sorted = [...edits].sort((a, b) => b.offset - a.offset);
  const out: DocumentMarks = {};
  for (const key of ['needle', 'query'] as const) {
    let s: Span | undefined = marks[key];
    for (const e of sorted) if (s) s = shiftSpan(s, e);
    if (s) out[key] = s;
  }
  return out;
}

/** A mark relative to an analysed part [base, base + length) of the document, or undefined when outside it. */
export function relativeSpan(span: Span | undefined, base: number, length: number): Span | undefined {
  if (!span || span.start < base || span.end > base + length || span.end <= span.start) return undefined;
  return { start: span.start - base, end: span.end - base };
}
