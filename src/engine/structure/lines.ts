/** One line of a text: [start, end) excludes the line break; `next` is where the next line starts. */
export interface Line {
  start: number;
  end: number;
  next: number;
}

/** Splits on \r\n, \n and lone \r, so CRLF files give the same cells as LF files. */
export function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) {
      const next = c === 13 && text.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
      lines.push({ start, end: i, next });
      start = next;
      i = next - 1;
    }
  }
  lines.push({ start, end: text.length, next: text.length });
  return lines;
}

export function isSpace(c: number): boolean {
  // Space, tab, and the other whitespace String.prototype.trim removes that show up in prompts.
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12 || c === 0xa0 || c === 0x3000 || c === 0xfeff;
}

/** [start, end) with leading and trailing whitespace removed (an empty range stays at `start`). */
export function trimRange(text: string, start: number, end: number): [number, number] {
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return [start, end];
}

export function isBlank(text: string, line: Line): boolean {
  const [s, e] = trimRange(text, line.start, line.end);
  return s === e;
}
