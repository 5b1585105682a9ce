/**
 * The one message protocol between InferenceHost (caller's thread) and the inference worker
 * (worker.ts). Every message is a member of a discriminated union on `type`; each `analyze` gets
 * exactly one terminal answer (`result` or `error`) carrying its id, also when it was cancelled,
 * so the host always knows when the worker is free again.
 *
 * Large arrays travel as typed arrays whose ArrayBuffers are put in the transfer list (moved, not
 * copied or JSON-encoded): the three model outputs (Float32Array) and the token ids and offsets
 * (Int32Array).
 *
 * This file holds types only (plus a few constants), so both ends can import it without pulling in
 * anything heavy.
 */
import type { AnalysisPlan, TextRange } from '../analysis';
import type { ModelInfo } from '../model/types';

/** Bumped on any incompatible change; the worker refuses to start on a mismatch. */
export const PROTOCOL_VERSION = 1;

/** Environment variable that carries the JSON WorkerInit to a child-process server (child.ts). */
export const CHILD_INIT_ENV = 'REPO_LENS_INFERENCE_INIT';

/** Where inference runs: a worker thread of this process, or a child process of its own. */
export type InferenceTransportKind = 'worker' | 'child-process';

export type ExecutionProviderChoice = 'auto' | 'cpu' | 'cuda' | 'webgpu';
/** The provider a session actually runs on. */
export type ExecutionProviderName = 'cpu' | 'cuda' | 'webgpu';

/** What the host tells a new worker (passed as workerData). */
export interface WorkerInit {
  protocol: number;
  executionProvider: ExecutionProviderChoice;
  /** Intra-op threads per session; undefined = onnxruntime's default (one per core). */
  threads?: number;
  /** Folder of converted models; undefined = models.ts modelCacheDir(). */
  cacheDir?: string;
}

/** One analysis, as the caller asks for it. */
export interface AnalyzeRequest {
  /** Embedded model name or checkpoint folder, resolved like the CLI's --model. */
  model: string;
  text: string;
  /** Query span (UTF-16 offsets); default: the last non-blank line of the analysed text. */
  queryRange?: TextRange;
  needleRange?: TextRange;
  /**
   * Query / needle by text and automatic needle (analysis/targets.ts). When any of these three is
   * set the plan comes from planTargets; otherwise from planAnalysis (query range or last line,
   * needle range only).
   */
  queryText?: string;
  needleText?: string;
  autoNeedle?: boolean;
  /** Feed integer positions to the RePo layers (ablation). Default false. */
  integerPositions?: boolean;
  /** Also run the other position mode (same tokens and query rows); the result's `ablation`. */
  ablation?: boolean;
  /**
   * Weight storage of the converted ONNX file. 'auto' (default): fp16 when the session runs on CUDA
   * (half the GPU memory), fp32 on the CPU (fp16 weights are no faster there: ORT casts them back)
   * and on WebGPU (its fp16 graph is barely faster and visibly less exact).
   */
  storage?: 'auto' | 'fp32' | 'fp16';
  /**
   * Extend the model's context with YaRN by this factor (2 or 4, as the paper's 8K/16K runs): the
   * conversion uses config.json plus rope_scaling (models.ts withYarn). Default: none.
   */
  yarnFactor?: number;
  /**
   * Texts with more tokens than the limit (the model's context, or maxTokens when smaller):
   * 'refuse' (default) fails with code TEXT_TOO_LONG; 'truncate' analyses the first tokens and
   * says so in `truncated`.
   */
  overflow?: 'refuse' | 'truncate';
  maxTokens?: number;
  /** How error messages name the text, e.g. a file name. Default "the text". Not part of the cache key. */
  label?: string;
}

/** Set when only the first part of the text was analysed. */
export interface TruncationInfo {
  /** Tokens analysed (the limit, less any tokens of a character the cut would have split). */
  tokens: number;
  /** Tokens of the whole text. */
  originalTokens: number;
  /** UTF-16 offset where the analysed part ends (end of the last analysed token). */
  endOffset: number;
}

/** Progress of one request, in order; `converting` only on a conversion-cache miss, `loading` only when the model is not loaded yet. */
export type AnalyzeProgress =
  | { phase: 'tokenizing' }
  /** Every check that needs no model has passed; warnings are final from here on. */
  | { phase: 'tokenized'; model: string; tokens: number; originalTokens: number; warnings: string[] }
  | { phase: 'converting'; message: string; fraction: number }
  | { phase: 'loading' }
  /** Once per forward pass; `ablation` marks the second pass of an ablation request. */
  | { phase: 'running'; tokens: number; ablation?: boolean };

export interface AnalyzeTimings {
  tokenizeMs: number;
  convertMs: number;
  loadMs: number;
  runMs: number;
  /** The ablation pass (0 without one). */
  ablationRunMs: number;
  /** Worker-side time for the whole request. */
  totalMs: number;
}

/** What the worker sends back for one analysis (the host turns the Int32Arrays into an Encoding). */
export interface WireResult {
  model: {
    name: string;
    kind: 'embedded' | 'checkpoint';
    dir: string;
    info: ModelInfo;
    /** Tokenizer kind, e.g. "bytes" or "hf-bpe". */
    tokenizer: string;
    /** Conversion cache: entry key and folder, and whether it was reused. */
    cache: { hit: boolean; key: string; dir: string };
  };
  executionProvider: ExecutionProviderName;
  /** Which provider ran and why (e.g. why CUDA was not used under 'auto'). */
  providerNote: string;
  /** True when the session was already loaded by an earlier request. */
  sessionReused: boolean;
  ids: Int32Array;
  starts: Int32Array;
  ends: Int32Array;
  plan: AnalysisPlan;
  positions: Float32Array;
  attention: Float32Array;
  lastLogits: Float32Array;
  T: number;
  Q: number;
  integerPositions: boolean;
  /** Outputs of the pass in the other position mode, when asked for. */
  ablation?: { positions: Float32Array; attention: Float32Array; lastLogits: Float32Array };
  truncated?: TruncationInfo;
  warnings: string[];
  timings: AnalyzeTimings;
}

/** An error as it crosses the thread boundary (Error objects lose their class and fields). */
export interface WireError {
  name: string;
  message: string;
  /** Stable machine-readable code, e.g. TEXT_TOO_LONG, TOKEN_OUT_OF_VOCAB, ABORT_ERR. */
  code?: string;
  details?: Record<string, unknown>;
  stack?: string;
}

/** Host → worker. */
export type HostMessage =
  | { type: 'analyze'; id: number; request: WorkerAnalyzeRequest }
  /** Stop request `id` at the next point the worker can (see worker.ts); it still answers. */
  | { type: 'cancel'; id: number }
  /** Release every session and exit. */
  | { type: 'shutdown' }
  /** Tests only: exit now, or at the start of the next forward pass, as a crash would. */
  | { type: 'test-crash'; when: 'now' | 'next-run' };

/** The request as the worker gets it: the model already resolved by the host. */
export interface WorkerAnalyzeRequest extends Omit<AnalyzeRequest, 'model'> {
  model: { dir: string; name: string; kind: 'embedded' | 'checkpoint' };
}

/** Worker → host. */
export type WorkerMessage =
  | { type: 'progress'; id: number; progress: AnalyzeProgress }
  | { type: 'result'; id: number; result: WireResult }
  | { type: 'error'; id: number; error: WireError }
  /** An error outside any request (e.g. a protocol mismatch at start-up). */
  | { type: 'fatal'; error: WireError };
