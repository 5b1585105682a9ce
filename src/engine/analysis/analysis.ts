import type { ModelInfo, RunResult } from '../model/types';
import type { Encoding } from '../tokenizer/types';
import { meanQueryAttention, needleMass, reshapePositions } from './attention';
import { AnalysisError, TextRange, defaultQueryRange, validateRange } from './ranges';

/**
 * The analysis JSON contract, schema "repo-lens/analysis@1". Later versions only add fields, so
 * readers must ignore fields they do not know. All offsets are UTF-16 code-unit indices into the
 * analysed text (after a leading BOM was stripped, see `text.bomStripped`), end exclusive.
 */
export const ANALYSIS_SCHEMA = 'repo-lens/analysis@1';

export interface AnalysisModel {
  name: string;
  numLayers: number;
  numHeads: number;
  /** Layers with learned (RePo) positions; `positions` has one entry per element, in this order. */
  repoLayers: number[];
  [extra: string]: unknown;
}

export interface AnalysisToken {
  id: number;
  start: number;
  end: number;
}

export interface AnalysisSpan {
  start: number;
  end: number;
  /** Indices into `tokens` of the tokens overlapping [start, end). */
  tokens: number[];
}

export interface AnalysisJson {
  schema: typeof ANALYSIS_SCHEMA;
  model: AnalysisModel;
  text: { length: number; bomStripped: boolean };
  /** True when the RePo layers were fed integer positions 0..T-1 instead of their learned ones. */
  integerPositions: boolean;
  tokens: AnalysisToken[];
  /** [repoLayers.length][numHeads][T]: position of each token per RePo layer and head. */
  positions: number[][][];
  query: AnalysisSpan & { defaulted: boolean };
  /** [numLayers][numHeads][T]: mean over query rows of their causal softmax attention rows. */
  queryAttention: number[][][];
  needle?: AnalysisSpan;
  /** [numLayers][numHeads]: sum of queryAttention over the needle tokens. */
  needleMass?: number[][];
  [extra: string]: unknown;
}

/** The token indices a run needs: query rows (always) and needle tokens (when asked). */
export interface AnalysisPlan {
  query: AnalysisSpan & { defaulted: boolean };
  needle?: AnalysisSpan;
}

/**
 * Resolves and validates the query and needle ranges against the text and its tokens. Without a
 * query range the query is the last non-blank line (see defaultQueryRange). Throws AnalysisError.
 */
export function planAnalysis(
  text: string,
  enc: Encoding,
  opts: { queryRange?: TextRange; needleRange?: TextRange },
): AnalysisPlan {
  if (text.length === 0 || enc.ids.length === 0) throw new AnalysisError('the text is empty');
  const defaulted = opts.queryRange === undefined;
  const q = opts.queryRange ?? defaultQueryRange(text);
  const queryTokens = validateRange(q, text.length, enc, defaulted ? 'default query (last non-blank line)' : '--query-range');
  const plan: AnalysisPlan = { query: { start: q.start, end: q.end, tokens: queryTokens, defaulted } };
  if (opts.needleRange) {
    const n = opts.needleRange;
    plan.needle = { start: n.start, end: n.end, tokens: validateRange(n, text.length, enc, '--needle-range') };
  }
  return plan;
}

/**
 * Builds the analysis JSON from one forward pass whose query rows were `plan.query.tokens` (in that
 * order). `extra` fields are added at the top level (timings, warnings, …) and `modelExtra`
 * to `model` (device, storage, …), after the contract fields; they cannot override contract fields.
 */
export function buildAnalysis(args: {
  text: string;
  bomStripped?: boolean;
  enc: Encoding;
  info: ModelInfo;
  result: RunResult;
  plan: AnalysisPlan;
  integerPositions: boolean;
  modelExtra?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}): AnalysisJson {
  const { text, enc, info, result, plan } = args;
  const T = enc.ids.length;
  const L = info.numLayers;
  const H = info.numHeads;
  const R = info.repoLayers.length;
  const Q = plan.query.tokens.length;
  if (result.T !== T) throw new Error(`model returned T=${result.T} for ${T} tokens`);
  if (result.Q !== Q) throw new Error(`model returned Q=${result.Q} for ${Q} query rows`);

  const queryAttention = meanQueryAttention(result.attention, L, H, Q, T);
  const model: AnalysisModel = { name: info.name, numLayers: L, numHeads: H, repoLayers: [...info.repoLayers] };
  addExtra(model, args.modelExtra);
  const out: AnalysisJson = {
    schema: ANALYSIS_SCHEMA,
    model,
    text: { length: text.length, bomStripped: args.bomStripped ?? false },
    integerPositions: args.integerPositions,
    tokens: enc.ids.map((id, i) => ({ id, start: enc.starts[i], end: enc.ends[i] })),
    positions: reshapePositions(result.positions, R, H, T),
    query: { ...plan.query, tokens: [...plan.query.tokens] },
    queryAttention,
  };
  if (plan.needle) {
    out.needle = { ...plan.needle, tokens: [...plan.needle.tokens] };
    out.needleMass = needleMass(queryAttention, plan.needle.tokens);
  }
  // Extras go after the contract fields and never replace one.
  addExtra(out, args.extra, ['needle', 'needleMass']);
  return out;
}

function addExtra(target: Record<string, unknown>, extra: Record<string, unknown> | undefined, reserved: string[] = []): void {
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (!(k in target) && !reserved.includes(k)) target[k] = v;
  }
}
