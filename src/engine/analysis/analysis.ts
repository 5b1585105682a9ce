import type { ModelInfo, RunResult } from '../model/types';
import type { Encoding } from '../tokenizer/types';
import type { CurveOptions } from '../curves';
import { needleMass, queryAttentionOf, reshapePositions } from './attention';
import { AnalysisError, TextRange, defaultQueryRange, validateRange } from './ranges';
import { DEFAULT_RECENT_WINDOW, SplitGrids, SplitTotals, recentRange, splitAttention, splitDelta, splitTotals } from './split';
import { CurvesJson, StructureJson, summarizeCurves, summarizeStructure } from './summaries';
import { TargetChoice, TargetSource, chooseNeedle, chooseQuery } from './targets';

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

/** How the query or needle was chosen (see targets.ts); absent only for plans made without a source. */
export interface TargetInfo {
  source?: TargetSource;
  note?: string;
}

/** Where the query's attention goes: needle / recent / rest (see split.ts and docs/analysis.md). */
export interface NeedleSplitJson {
  /** K: tokens just before the query that count as recent, with the query tokens themselves. */
  recentWindow: number;
  /** The recent tokens as a token-index range [start, end) (needle tokens in it count as needle). */
  recentTokens: { start: number; end: number };
  /** From the run with learned positions: [L][H] each. */
  learned: SplitGrids;
  /** From the integer-position run of the same weights (absent when that run was skipped). */
  integer?: SplitGrids;
  /** learned − integer. */
  delta?: SplitGrids;
  totals: { learned: SplitTotals; integer?: SplitTotals; delta?: SplitTotals };
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
  query: AnalysisSpan & { defaulted: boolean } & TargetInfo;
  /** [numLayers][numHeads][T]: mean over query rows of their causal softmax attention rows. */
  queryAttention: number[][][];
  needle?: AnalysisSpan & TargetInfo;
  /** [numLayers][numHeads]: sum of queryAttention over the needle tokens. */
  needleMass?: number[][];
  /** Per RePo layer and head: statistics of the position curve (analysis@1 addition). */
  curves?: CurvesJson;
  /** Segments and tables of the text, the token map, and their position summaries (addition). */
  structure?: StructureJson;
  /** Needle / recent / rest split of the query attention, learned vs integer positions (addition). */
  needleSplit?: NeedleSplitJson;
  [extra: string]: unknown;
}

/** The token indices a run needs: query rows (always) and needle tokens (when asked). */
export interface AnalysisPlan {
  query: AnalysisSpan & { defaulted: boolean } & TargetInfo;
  needle?: AnalysisSpan & TargetInfo;
}

const LABELS: Record<TargetSource, [string, string]> = {
  range: ['--query-range', '--needle-range'],
  text: ['--query-text', '--needle-text'],
  auto: ['automatic query (question line)', 'automatic needle'],
  default: ['default query (last non-blank line)', 'default needle'],
};

/**
 * Resolves and validates the query and needle ranges against the text and its tokens. Without a
 * query range the query is the last non-blank line (see defaultQueryRange). Throws AnalysisError.
 */
export function planAnalysis(
  text: string,
  enc: Encoding,
  opts: { queryRange?: TextRange | TargetChoice; needleRange?: TextRange | TargetChoice },
): AnalysisPlan {
  if (text.length === 0 || enc.ids.length === 0) throw new AnalysisError('the text is empty');
  const qSource = (opts.queryRange as TargetChoice | undefined)?.source;
  const defaulted = qSource ? qSource === 'auto' || qSource === 'default' : opts.queryRange === undefined;
  const q = opts.queryRange ?? defaultQueryRange(text);
  const qLabel = qSource ? LABELS[qSource][0] : defaulted ? LABELS.default[0] : LABELS.range[0];
  const queryTokens = validateRange(q, text.length, enc, qLabel);
  const plan: AnalysisPlan = { query: { start: q.start, end: q.end, tokens: queryTokens, defaulted, ...targetInfo(q) } };
  if (opts.needleRange) {
    const n = opts.needleRange;
    const nSource = (n as TargetChoice).source ?? 'range';
    plan.needle = { start: n.start, end: n.end, tokens: validateRange(n, text.length, enc, LABELS[nSource][1]), ...targetInfo(n) };
  }
  return plan;
}

function targetInfo(r: TextRange | TargetChoice): TargetInfo {
  const c = r as TargetChoice;
  const out: TargetInfo = {};
  if (c.source) out.source = c.source;
  if (c.note) out.note = c.note;
  return out;
}

/**
 * Chooses the query and the needle (targets.ts: range, text, automatic, default) and plans the run.
 * Without a needle range or text, the needle is found automatically unless `autoNeedle` is false.
 */
export function planTargets(
  text: string,
  enc: Encoding,
  opts: { queryRange?: TextRange; queryText?: string; needleRange?: TextRange; needleText?: string; autoNeedle?: boolean },
): AnalysisPlan {
  if (text.length === 0 || enc.ids.length === 0) throw new AnalysisError('the text is empty');
  const query = chooseQuery(text, { range: opts.queryRange, text: opts.queryText });
  const needle = chooseNeedle(text, query, { range: opts.needleRange, text: opts.needleText, auto: opts.autoNeedle });
  return planAnalysis(text, enc, { queryRange: query, needleRange: needle });
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
  /**
   * The same request run in the other position mode (integer positions when `integerPositions`
   * is false, learned ones when it is true): gives needleSplit its integer (or learned) side.
   */
  ablation?: RunResult;
  /** K for the needle split's recent tokens (default DEFAULT_RECENT_WINDOW = 32). */
  recentWindow?: number;
  curveOptions?: Partial<CurveOptions>;
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

  const queryAttention = queryAttentionOf(result.attention, L, H, T);
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
  out.curves = summarizeCurves(result.positions, R, H, T, args.curveOptions);
  out.structure = summarizeStructure(text, enc.starts, enc.ends, result.positions, R, H);
  if (plan.needle) {
    let other: number[][][] | undefined;
    if (args.ablation) {
      const a = args.ablation;
      if (a.T !== T || a.Q !== Q) throw new Error(`ablation run has T=${a.T}, Q=${a.Q}; expected T=${T}, Q=${Q}`);
      other = queryAttentionOf(a.attention, L, H, T);
    }
    out.needleSplit = needleSplit(
      args.integerPositions ? other : queryAttention,
      args.integerPositions ? queryAttention : other,
      plan,
      args.recentWindow ?? DEFAULT_RECENT_WINDOW,
    );
  }
  // Extras go after the contract fields and never replace one.
  addExtra(out, args.extra, ['needle', 'needleMass', 'curves', 'structure', 'needleSplit']);
  return out;
}

/**
 * The split for the learned run and the integer run. Under --integer-positions without an ablation
 * run there is no learned run: the split is then left out.
 */
function needleSplit(
  learnedQA: number[][][] | undefined,
  integerQA: number[][][] | undefined,
  plan: AnalysisPlan,
  window: number,
): NeedleSplitJson | undefined {
  if (!learnedQA || !plan.needle) return undefined;
  const recent = recentRange(plan.query.tokens, window);
  const learned = splitAttention(learnedQA, plan.needle.tokens, recent);
  const out: NeedleSplitJson = { recentWindow: window, recentTokens: recent, learned, totals: { learned: splitTotals(learned) } };
  if (integerQA) {
    const integer = splitAttention(integerQA, plan.needle.tokens, recent);
    const delta = splitDelta(learned, integer);
    out.integer = integer;
    out.delta = delta;
    out.totals.integer = splitTotals(integer);
    out.totals.delta = splitTotals(delta);
  }
  return out;
}

function addExtra(target: Record<string, unknown>, extra: Record<string, unknown> | undefined, reserved: string[] = []): void {
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (!(k in target) && !reserved.includes(k)) target[k] = v;
  }
}
