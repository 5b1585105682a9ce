/**
 * Choosing the query and the needle: from a range, from a piece of text, or automatically from the
 * shape of the prompt. Pure functions of the text; definitions in docs/analysis.md.
 */
import { splitLines, trimRange } from '../structure/lines';
import { findTables } from '../structure/tables';
import { AnalysisError, TextRange } from './ranges';

/** How a span was chosen: an explicit range, a text search, a detected question / needle, or the fallback. */
export type TargetSource = 'range' | 'text' | 'auto' | 'default';

export interface TargetChoice extends TextRange {
  source: TargetSource;
  /** Why this span, in words (e.g. 'question line + "Answer:" line', 'shares "magic number for x"'). */
  note?: string;
}

/** A line that only cues the answer: "Answer:", "A:", "Answer :" (full-width colon too). */
const ANSWER_CUE = /^(?:answer|a)\s*[:：]$/i;
/** A question: "Question:" / "Q:" at the start, or a '?' that ends a sentence. */
const QUESTION_START = /^(?:question|q)\s*[:：]/i;
const QUESTION_MARK = /[?？](?=$|\s|["'”’)\]])/;
/** How many trailing non-blank lines are searched for a question (see chooseQuery). */
export const QUESTION_LOOKBACK = 3;

export function isQuestionLine(line: string): boolean {
  return QUESTION_START.test(line) || QUESTION_MARK.test(line);
}

/** Non-blank lines as trimmed ranges, in text order. */
function nonBlankLines(text: string): TextRange[] {
  const out: TextRange[] = [];
  for (const l of splitLines(text)) {
    const [start, end] = trimRange(text, l.start, l.end);
    if (end > start) out.push({ start, end });
  }
  return out;
}

/**
 * The last occurrence (query) or the first (needle) of `needle` in `text`. Throws AnalysisError
 * naming `label` when it does not occur.
 */
export function findText(text: string, needle: string, which: 'first' | 'last', label: string): TextRange {
  if (needle.length === 0) throw new AnalysisError(`${label} is empty`);
  const at = which === 'first' ? text.indexOf(needle) : text.lastIndexOf(needle);
  if (at < 0) {
    const shown = needle.length > 60 ? needle.slice(0, 59) + '…' : needle;
    throw new AnalysisError(`${label} ${JSON.stringify(shown)} does not occur in the text`);
  }
  return { start: at, end: at + needle.length };
}

/**
 * The query span. In order:
 * - `range`: the given offsets (source 'range');
 * - `text`: the last occurrence of the given text (source 'text');
 * - auto: when the last non-blank line is only an answer cue ("Answer:", "A:"), the line before it
 *   plus the cue line; otherwise the last of the final QUESTION_LOOKBACK non-blank lines that is a
 *   question ("Question:"/"Q:" at its start, or a '?' ending a sentence), trimmed (source 'auto').
 *   The look-back is bounded so that a rhetorical question deep in a long context is not taken when
 *   the prompt ends with an instruction;
 * - otherwise the last non-blank line, trimmed (source 'default', the behaviour of analysis@1).
 */
export function chooseQuery(text: string, opts: { range?: TextRange; text?: string } = {}): TargetChoice {
  if (opts.range && opts.text !== undefined) throw new AnalysisError('give either --query-range or --query-text, not both');
  if (opts.range) return { ...opts.range, source: 'range' };
  if (opts.text !== undefined) return { ...findText(text, opts.text, 'last', '--query-text'), source: 'text' };
  const lines = nonBlankLines(text);
  if (lines.length === 0) {
    throw new AnalysisError('the text has no non-blank line to use as the default query; pass --query-range A:B');
  }
  const last = lines[lines.length - 1];
  if (lines.length >= 2 && ANSWER_CUE.test(text.slice(last.start, last.end))) {
    return { start: lines[lines.length - 2].start, end: last.end, source: 'auto', note: 'question line + answer cue line' };
  }
  for (let k = lines.length - 1; k >= Math.max(0, lines.length - QUESTION_LOOKBACK); k--) {
    if (isQuestionLine(text.slice(lines[k].start, lines[k].end))) return { ...lines[k], source: 'auto', note: 'question line' };
  }
  return { ...last, source: 'default', note: 'last non-blank line' };
}

/** Words that never make a needle match on their own: function words and prompt scaffolding. */
const STOPWORDS = new Set(
  (
    'a an the of for to in on at by with from and or nor but is are was were be been being am it its this that these those ' +
    'what which who whom whose when where why how do does did done i you we they he she me my your our their his her him them us ' +
    'as if than then so not no yes all any some there here about into onto can could would should will shall may might must ' +
    'has have had please question answer text provided mentioned following above below based given context document documents ' +
    'passage passages q tell say said one also only just each every other such same'
  ).split(' '),
);

interface Word {
  key: string;
  start: number;
  end: number;
  stop: boolean;
}

const CJK = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]/u;

/**
 * Words of text[start, end): runs of letters, digits and marks; each Han/kana character is a word
 * by itself (no spaces to split on). The key is lowercased with a plural "s" dropped (longer than 3
 * letters, not "ss") so "numbers" matches "number".
 */
export function wordsOf(text: string, start = 0, end = text.length): Word[] {
  const out: Word[] = [];
  const re = /[\p{L}\p{N}\p{M}]+/gu;
  const slice = text.slice(start, end);
  const push = (w: string, at: number) => {
    const lower = w.toLowerCase();
    const key = lower.length > 3 && lower.endsWith('s') && !lower.endsWith('ss') ? lower.slice(0, -1) : lower;
    out.push({ key, start: at, end: at + w.length, stop: STOPWORDS.has(lower) });
  };
  for (let m = re.exec(slice); m; m = re.exec(slice)) {
    const w = m[0];
    const at = start + m.index;
    if (!CJK.test(w)) {
      push(w, at);
      continue;
    }
    // Split CJK characters apart, keep other runs together.
    let runStart = -1;
    for (let i = 0; i < w.length; ) {
      const cp = w.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      if (CJK.test(ch)) {
        if (runStart >= 0) push(w.slice(runStart, i), at + runStart);
        runStart = -1;
        push(ch, at + i);
      } else if (runStart < 0) runStart = i;
      i += ch.length;
    }
    if (runStart >= 0) push(w.slice(runStart), at + runStart);
  }
  return out;
}

/** Sentences of the text: lines split after '.', '!', '?' (and full-width forms) followed by a blank; trimmed. */
export function sentencesOf(text: string): TextRange[] {
  const out: TextRange[] = [];
  const end = /[.!?。！？](?=\s)/g;
  for (const line of splitLines(text)) {
    let s = line.start;
    const body = text.slice(line.start, line.end);
    end.lastIndex = 0;
    for (let m = end.exec(body); m; m = end.exec(body)) {
      const e = line.start + m.index + 1;
      const [a, b] = trimRange(text, s, e);
      if (b > a) out.push({ start: a, end: b });
      s = e;
    }
    const [a, b] = trimRange(text, s, line.end);
    if (b > a) out.push({ start: a, end: b });
  }
  return out;
}

/** At most this many query words are matched (the question part of a long query is at its start). */
const MAX_QUERY_WORDS = 256;

/**
 * The needle span. `range` (source 'range') or the first occurrence of `text` (source 'text');
 * otherwise, when `auto` is not false, the sentence found by findNeedleSentence (source 'auto');
 * undefined when nothing qualifies.
 */
export function chooseNeedle(
  text: string,
  query: TextRange,
  opts: { range?: TextRange; text?: string; auto?: boolean } = {},
): TargetChoice | undefined {
  if (opts.range && opts.text !== undefined) throw new AnalysisError('give either --needle-range or --needle-text, not both');
  if (opts.range) return { ...opts.range, source: 'range' };
  if (opts.text !== undefined) return { ...findText(text, opts.text, 'first', '--needle-text'), source: 'text' };
  if (opts.auto === false) return undefined;
  return findNeedleSentence(text, query);
}

/**
 * The sentence outside the query that shares the heaviest contiguous word n-gram with the query.
 *
 * Candidates are the sentences (sentencesOf) that overlap neither the query nor a table's header
 * row (column names label facts, they are not one: "score" in "What is the score of Emil?" must
 * lead to Emil's row, not to the header); S is their number and
 * df(w) the number of candidates containing word w. A word weighs 0 when it is a stop word, else
 * ln(1 + S/df(w)): words found in few sentences weigh most. For each candidate, its match is the
 * contiguous word sequence it shares with the query's words with the greatest total weight (ties:
 * more words). The needle is the candidate with the heaviest match (ties: the earlier sentence),
 * provided the match contains a rare word: a non-stop word with df(w) ≤ max(2, ⌈S/20⌉). On a RULER
 * prompt ("What is the special magic number for X?") this is the sentence holding "magic number for
 * X": distractor needles share "special magic number for" but not X, whose words are the rarest.
 */
export function findNeedleSentence(text: string, query: TextRange): TargetChoice | undefined {
  const qWords = wordsOf(text, query.start, query.end).slice(0, MAX_QUERY_WORDS);
  if (qWords.length === 0) return undefined;
  const excluded: TextRange[] = [query];
  for (const t of findTables(text)) {
    const head = t.cells.filter((c) => c.row < 0);
    if (head.length) excluded.push({ start: Math.min(...head.map((c) => c.start)), end: Math.max(...head.map((c) => c.end)) });
  }
  const cands = sentencesOf(text)
    .filter((s) => excluded.every((x) => s.end <= x.start || s.start >= x.end))
    .map((s) => ({ ...s, words: wordsOf(text, s.start, s.end) }))
    .filter((s) => s.words.length > 0);
  const S = cands.length;
  if (S === 0) return undefined;
  const df = new Map<string, number>();
  for (const c of cands) for (const k of new Set(c.words.map((w) => w.key))) df.set(k, (df.get(k) ?? 0) + 1);
  const rareMax = Math.max(2, Math.ceil(S / 20));
  const weight = (w: Word) => (w.stop ? 0 : Math.log(1 + S / (df.get(w.key) ?? 1)));
  const isRare = (w: Word) => !w.stop && (df.get(w.key) ?? 0) <= rareMax;

  const qKeys = qWords.map((w) => w.key);
  const qSet = new Set(qKeys);
  let best: { sentence: number; weight: number; len: number; from: number; to: number } | undefined;
  let ties = 0;
  const n = qKeys.length;
  let prevW = new Float64Array(n + 1), curW = new Float64Array(n + 1);
  let prevL = new Int32Array(n + 1), curL = new Int32Array(n + 1);
  cands.forEach((c, ci) => {
    if (!c.words.some((w) => qSet.has(w.key))) return;
    // Longest-common-substring DP over words, by weight; the run ending at (i, j) is scored
    // only when it contains a rare word, tracked as the position of its last rare word.
    prevW.fill(0);
    prevL.fill(0);
    let cBest: { weight: number; len: number; from: number; to: number } | undefined;
    const lastRare = new Int32Array(n + 1).fill(-1);
    const prevRare = new Int32Array(n + 1).fill(-1);
    for (let i = 1; i <= c.words.length; i++) {
      const w = c.words[i - 1];
      const wt = weight(w);
      for (let j = 1; j <= n; j++) {
        if (qKeys[j - 1] === w.key) {
          curW[j] = prevW[j - 1] + wt;
          curL[j] = prevL[j - 1] + 1;
          lastRare[j] = isRare(w) ? i : prevRare[j - 1];
          if (lastRare[j] >= i - curL[j] + 1 && lastRare[j] > 0) {
            const cand = { weight: curW[j], len: curL[j], from: i - curL[j], to: i };
            if (!cBest || cand.weight > cBest.weight + 1e-12 || (Math.abs(cand.weight - cBest.weight) <= 1e-12 && cand.len > cBest.len)) cBest = cand;
          }
        } else {
          curW[j] = 0;
          curL[j] = 0;
          lastRare[j] = -1;
        }
      }
      [prevW, curW] = [curW, prevW];
      [prevL, curL] = [curL, prevL];
      prevRare.set(lastRare);
    }
    if (!cBest) return;
    if (!best || cBest.weight > best.weight + 1e-12 || (Math.abs(cBest.weight - best.weight) <= 1e-12 && cBest.len > best.len)) {
      best = { sentence: ci, ...cBest };
      ties = 0;
    } else if (Math.abs(cBest.weight - best.weight) <= 1e-12 && cBest.len === best.len) ties++;
  });
  if (!best) return undefined;
  const c = cands[best.sentence];
  const phrase = text.slice(c.words[best.from].start, c.words[best.to - 1].end);
  const shown = phrase.length > 60 ? phrase.slice(0, 59) + '…' : phrase;
  const note = `shares ${JSON.stringify(shown)} with the query` + (ties ? `; ${ties} other sentence${ties > 1 ? 's' : ''} tie, the first is used` : '');
  return { start: c.start, end: c.end, source: 'auto', note };
}
