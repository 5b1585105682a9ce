/**
 * The model-free half of an analysis: token limit (refuse or truncate), vocabulary check, query and
 * needle planning, attention size. Pure functions, so they are tested without a worker or a model;
 * the worker runs them before converting or loading anything, and again with the converted model's
 * own numbers.
 */
import { AnalysisError, AnalysisPlan, TextRange, planAnalysis, planTargets } from '../analysis';
import type { Encoding } from '../tokenizer/types';
import { EngineError, withCode } from './errors';
import type { TruncationInfo } from './protocol';

/**
 * Largest query-attention score tensor a run may need inside the graph (H × Q × T float32 values,
 * one layer at a time: the rows are averaged before they leave it). A query covering a whole long
 * prompt on a big model would otherwise need gigabytes per layer (the 1B model, 4K × 4K: 1 GiB).
 */
export const MAX_ATTENTION_VALUES = 64 * 1024 * 1024;

export interface ModelLimits {
  name: string;
  numLayers: number;
  numHeads: number;
  vocabSize: number;
  maxPositions: number;
}

export interface PrepareOptions {
  queryRange?: TextRange;
  needleRange?: TextRange;
  queryText?: string;
  needleText?: string;
  autoNeedle?: boolean;
  overflow?: 'refuse' | 'truncate';
  maxTokens?: number;
  label?: string;
}

export interface Prepared {
  /** The tokens that will be analysed (a prefix of the text's tokens when truncated). */
  enc: Encoding;
  plan: AnalysisPlan;
  truncated?: TruncationInfo;
  /** Token count of the whole text. */
  originalTokens: number;
}

export function prepareAnalysis(text: string, full: Encoding, limits: ModelLimits, opts: PrepareOptions, tokenizerKind: string): Prepared {
  const label = opts.label ?? 'the text';
  if (text.length === 0 || full.ids.length === 0) throw new AnalysisError(`${label} is empty`);
  const { enc, truncated } = applyTokenLimit(full, limits, opts);
  checkVocab(text, enc, limits, tokenizerKind);
  // Ranges are checked against the analysed part: a range past the cut is an error that says so,
  // and the default query is the last non-blank line of that part.
  const end = truncated ? truncated.endOffset : text.length;
  if (truncated) {
    for (const [r, flag] of [[opts.queryRange, '--query-range'], [opts.needleRange, '--needle-range']] as const) {
      if (r && r.end > end) {
        throw new AnalysisError(
          `${flag} ${r.start}:${r.end} reaches past the analysed part: the first ${truncated.tokens} tokens ` +
            `end at offset ${end} (the text is ${text.length} long)`,
        );
      }
    }
  }
  const analysed = truncated ? text.slice(0, end) : text;
  const targets = opts.queryText !== undefined || opts.needleText !== undefined || opts.autoNeedle !== undefined;
  const plan = targets
    ? planTargets(analysed, enc, {
        queryRange: opts.queryRange,
        queryText: opts.queryText,
        needleRange: opts.needleRange,
        needleText: opts.needleText,
        autoNeedle: opts.autoNeedle,
      })
    : planAnalysis(analysed, enc, { queryRange: opts.queryRange, needleRange: opts.needleRange });
  checkAttentionSize(plan, enc.ids.length, limits);
  return { enc, plan, truncated, originalTokens: full.ids.length };
}

/** The effective token limit and the error for a text over it (or its first tokens, when truncating). */
export function applyTokenLimit(
  full: Encoding,
  limits: ModelLimits,
  opts: Pick<PrepareOptions, 'overflow' | 'maxTokens' | 'label'>,
): { enc: Encoding; truncated?: TruncationInfo } {
  const T = full.ids.length;
  const modelMax = Number.isFinite(limits.maxPositions) && limits.maxPositions > 0 ? limits.maxPositions : Infinity;
  if (opts.maxTokens !== undefined && !(Number.isSafeInteger(opts.maxTokens) && opts.maxTokens >= 1)) {
    throw new RangeError(`maxTokens must be a positive integer, got ${opts.maxTokens}`);
  }
  const limit = Math.min(modelMax, opts.maxTokens ?? Infinity);
  if (T <= limit) return { enc: full };
  const label = opts.label ?? 'the text';
  if ((opts.overflow ?? 'refuse') === 'refuse') {
    const byModel = limit === modelMax;
    const message = byModel
      ? `${label} is ${T} tokens long, but ${limits.name} handles at most ${limit} tokens`
      : `${label} is ${T} tokens long, more than the limit of ${limit} tokens`;
    throw withCode(new AnalysisError(message), 'TEXT_TOO_LONG', {
      tokens: T,
      limit,
      limitSource: byModel ? 'model' : 'maxTokens',
      model: limits.name,
      modelMaxTokens: modelMax,
    });
  }
  // Never cut inside a character: tokens that share one character's range (a byte tokenizer's
  // bytes of an emoji, a BPE token ending mid-character) are kept or dropped together, so the
  // analysed part is exactly the text before endOffset.
  let n = limit;
  while (n > 0 && full.starts[n] < full.ends[n - 1]) n--;
  if (n === 0) throw new AnalysisError(`cannot truncate ${label} to ${limit} tokens: its first character alone takes more tokens`);
  const enc: Encoding = { ids: full.ids.slice(0, n), starts: full.starts.slice(0, n), ends: full.ends.slice(0, n) };
  return { enc, truncated: { tokens: n, originalTokens: T, endOffset: enc.ends[n - 1] } };
}

/**
 * A tokenizer can produce ids the model has no embedding for (a tokenizer.json from another
 * model). onnxruntime would fail deep inside Gather, so refuse first, with the numbers.
 */
export function checkVocab(text: string, enc: Encoding, limits: Pick<ModelLimits, 'name' | 'vocabSize'>, tokenizerKind: string): void {
  const V = limits.vocabSize;
  for (let i = 0; i < enc.ids.length; i++) {
    const id = enc.ids[i];
    if (id >= V || id < 0) {
      const piece = text.slice(enc.starts[i], enc.ends[i]);
      throw withCode(
        new EngineError(
          `token id ${id} ≥ model vocab ${V}: the ${tokenizerKind} tokenizer gave it for ${JSON.stringify(piece)} ` +
            `(offsets ${enc.starts[i]}:${enc.ends[i]}), so this tokenizer does not belong to ${limits.name}`,
          undefined,
          undefined,
          'ModelError',
        ),
        'TOKEN_OUT_OF_VOCAB',
        { id, vocabSize: V, tokenIndex: i, start: enc.starts[i], end: enc.ends[i] },
      );
    }
  }
}

export function checkAttentionSize(plan: AnalysisPlan, T: number, limits: Pick<ModelLimits, 'numLayers' | 'numHeads'>): void {
  const Q = plan.query.tokens.length;
  const values = limits.numHeads * Q * T;
  if (values > MAX_ATTENTION_VALUES) {
    throw new AnalysisError(
      `the query covers ${Q} tokens of ${T}: its attention scores would need ${values} values per layer ` +
        `(${limits.numHeads} heads × ${Q} × ${T}), more than the limit ${MAX_ATTENTION_VALUES}; choose a shorter --query-range`,
    );
  }
}
