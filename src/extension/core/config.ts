/**
 * The extension's settings as one typed value, and which changes need what. No `vscode` import:
 * the extension reads values through a getter, tests pass plain objects.
 */
import type { ExecutionProviderChoice } from '../../engine/runtime/protocol';

export type DecorationMetric = 'attention-learned' | 'attention-integer' | 'position' | 'off';

export interface RepoLensConfig {
  /** Embedded model name or checkpoint folder (machine-scoped: a workspace cannot point it elsewhere). */
  model: string;
  executionProvider: ExecutionProviderChoice;
  /** onnxruntime intra-op threads; 0 = onnxruntime's default. */
  threads: number;
  /** Longest text analysed; 0 = the model's own context. */
  maxTokens: number;
  decorationMetric: DecorationMetric;
  /** YaRN context factor (2 or 4); 0 = the model's own context. */
  yarnFactor: number;
  weightStorage: 'auto' | 'fp32' | 'fp16';
}

export const CONFIG_SECTION = 'repoLens';

export const DEFAULT_CONFIG: RepoLensConfig = {
  model: 'repo-tiny',
  executionProvider: 'auto',
  threads: 0,
  maxTokens: 0,
  decorationMetric: 'attention-learned',
  yarnFactor: 0,
  weightStorage: 'auto',
};

const METRICS: readonly DecorationMetric[] = ['attention-learned', 'attention-integer', 'position', 'off'];
const PROVIDERS: readonly ExecutionProviderChoice[] = ['auto', 'cpu', 'cuda', 'webgpu'];

/** Reads and validates settings; a bad value falls back to its default (and is named in `problems`). */
export function readConfig(get: (key: keyof RepoLensConfig) => unknown): { config: RepoLensConfig; problems: string[] } {
  const problems: string[] = [];
  const pick = <K extends keyof RepoLensConfig>(key: K, ok: (v: unknown) => boolean): RepoLensConfig[K] => {
    const v = get(key);
    if (v === undefined || v === null) return DEFAULT_CONFIG[key];
    if (ok(v)) return v as RepoLensConfig[K];
    problems.push(`${CONFIG_SECTION}.${key}: ${JSON.stringify(v)} is not valid; using ${JSON.stringify(DEFAULT_CONFIG[key])}`);
    return DEFAULT_CONFIG[key];
  };
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const config: RepoLensConfig = {
    model: pick('model', (v) => typeof v === 'string' && v.trim().length > 0),
    executionProvider: pick('executionProvider', (v) => PROVIDERS.includes(v as ExecutionProviderChoice)),
    threads: pick('threads', count),
    maxTokens: pick('maxTokens', count),
    decorationMetric: pick('decorationMetric', (v) => METRICS.includes(v as DecorationMetric)),
    yarnFactor: pick('yarnFactor', (v) => v === 0 || v === 2 || v === 4),
    weightStorage: pick('weightStorage', (v) => v === 'auto' || v === 'fp32' || v === 'fp16'),
  };
  config.model = config.model.trim();
  return { config, problems };
}

export interface ConfigChange {
  /** The inference process must be restarted (it was started with the old provider or threads). */
  newSession: boolean;
  /** Existing analyses no longer match the settings (another model, another limit). */
  rerun: boolean;
  /** Only the editor colours change. */
  redecorate: boolean;
  /** Why, in words, for a notification. */
  reasons: string[];
}

export function classifyConfigChange(prev: RepoLensConfig, next: RepoLensConfig): ConfigChange {
  const change: ConfigChange = { newSession: false, rerun: false, redecorate: false, reasons: [] };
  if (prev.executionProvider !== next.executionProvider || prev.threads !== next.threads) {
    change.newSession = true;
    change.reasons.push('the execution provider or thread count changed: the model is loaded again on next use');
  }
  if (prev.model !== next.model) {
    change.rerun = true;
    change.reasons.push(`the model changed to ${next.model}: analyses shown were made with ${prev.model}`);
  }
  if (prev.maxTokens !== next.maxTokens) {
    change.rerun = true;
    change.reasons.push('the token limit changed');
  }
  if (prev.yarnFactor !== next.yarnFactor) {
    change.rerun = true;
    change.reasons.push(next.yarnFactor ? `YaRN × ${next.yarnFactor} now extends the context` : 'YaRN context extension is off');
  }
  if (prev.weightStorage !== next.weightStorage) {
    change.rerun = true;
    change.reasons.push(`weights are now stored as ${next.weightStorage}`);
  }
  if (prev.decorationMetric !== next.decorationMetric) change.redecorate = true;
  return change;
}

/** The InferenceHost options these settings mean (threads 0 = onnxruntime's default). */
export function hostOptionsOf(c: RepoLensConfig): { executionProvider: ExecutionProviderChoice; threads?: number } {
  return { executionProvider: c.executionProvider, ...(c.threads > 0 ? { threads: c.threads } : {}) };
}
