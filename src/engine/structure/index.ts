import { splitLines } from './lines';
import { findSegments } from './segments';
import { findTables } from './tables';
import type { TextStructure } from './types';

export * from './types';
export { splitLines, trimRange } from './lines';
export type { Line } from './lines';
export { findSegments } from './segments';
export { findTables } from './tables';
export { findMarkdownTables } from './markdown';
export { findDelimitedTables, splitDelimited } from './delimited';
export type { Field as DelimitedField } from './delimited';
export { findJsonTables } from './json';
export { findHtmlTables, htmlText } from './html';
export * from './tokens';
export * from './positions';

/** Segments and tables of a text (UTF-16 offsets, end exclusive). Pure; never throws on odd text. */
export function analyzeStructure(text: string): TextStructure {
  const lines = splitLines(text);
  return { segments: findSegments(text, lines), tables: findTables(text, lines) };
}
