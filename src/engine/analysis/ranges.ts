import type { Encoding } from '../tokenizer/types';

/** A span of the input text: UTF-16 code-unit offsets, end exclusive. */
export interface TextRange {
  start: number;
  end: number;
}

/** A user-facing problem with the input (bad range, empty query…). The message is shown as is. */
export class AnalysisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnalysisError';
  }
}

/**
 * Parses "A:B" (two non-negative decimal integers) into a range. Only the syntax is checked here;
 * `validateRange` checks it against the text. `label` names the option in error messages.
 */
export function parseRangeSpec(spec: string, label: string): TextRange {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(spec);
  if (!m) {
    throw new AnalysisError(`${label} must look like A:B (UTF-16 offsets, end exclusive), got "${spec}"`);
  }
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
    throw new AnalysisError(`${label} ${spec}: offsets are too large`);
  }
  return { start, end };
}

/**
 * Indices of the tokens that belong to `range`: a token belongs if its [start, end) overlaps
 * [range.start, range.end). Because byte tokens carry the range of their whole character, a range
 * that touches any code unit of a character takes all of that character's tokens.
 */
export function tokensInRange(enc: Pick<Encoding, 'starts' | 'ends'>, range: TextRange): number[] {
  const out: number[] = [];
  for (let i = 0; i < enc.starts.length; i++) {
    if (enc.starts[i] < range.end && enc.ends[i] > range.start) out.push(i);
  }
  return out;
}

/**
 * Checks a user range against the text and its tokens and returns the token indices it covers.
 * Errors say which option was wrong and why, with the numbers.
 */
export function validateRange(
  range: TextRange,
  textLength: number,
  enc: Pick<Encoding, 'starts' | 'ends'>,
  label: string,
): number[] {
  const { start, end } = range;
  const shown = `${label} ${start}:${end}`;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < 0) {
    throw new AnalysisError(`${shown}: offsets must be non-negative integers`);
  }
  if (start >= end) {
    throw new AnalysisError(`${shown}: start must be less than end (the end is exclusive)`);
  }
  if (end > textLength) {
    throw new AnalysisError(`${shown}: end is past the end of the text (length ${textLength} UTF-16 code units)`);
  }
  const tokens = tokensInRange(enc, range);
  if (tokens.length === 0) {
    throw new AnalysisError(`${shown}: the range covers no token`);
  }
  return tokens;
}

/**
 * The default query: the text's last line that contains something other than whitespace, trimmed of
 * leading and trailing whitespace (the same characters String.prototype.trim removes). Lines end at
 * "\r\n", "\n" or "\r". Throws when every line is blank.
 */
export function defaultQueryRange(text: string): TextRange {
  const isSpace = (c: string) => /\s/.test(c);
  let lineEnd = text.length;
  while (lineEnd >= 0) {
    // Find the start of the line ending at lineEnd: just after the previous "\n" or "\r".
    let lineStart = lineEnd;
    while (lineStart > 0 && text[lineStart - 1] !== '\n' && text[lineStart - 1] !== '\r') lineStart--;
    let s = lineStart;
    let e = lineEnd;
    while (s < e && isSpace(text[s])) s++;
    while (e > s && isSpace(text[e - 1])) e--;
    if (s < e) return { start: s, end: e };
    if (lineStart === 0) break;
    // Step over the line break ("\r\n" counts as one break).
    lineEnd = lineStart - 1;
    if (text[lineEnd] === '\n' && lineEnd > 0 && text[lineEnd - 1] === '\r') lineEnd--;
  }
  throw new AnalysisError('the text has no non-blank line to use as the default query; pass --query-range A:B');
}
