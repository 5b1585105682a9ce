/** The inference runtime shared by the CLI and the VS Code extension (no `vscode` imports here). */
export { InferenceHost } from './host';
export type { AnalyzeOptions, AnalyzeResult, InferenceHostOptions } from './host';
export type { AnalyzeProgress, AnalyzeRequest, AnalyzeTimings, ExecutionProviderChoice, InferenceTransportKind, TruncationInfo } from './protocol';
export { AbortError, EngineError, isAbortError } from './errors';
export type { EngineErrorCode } from './errors';
export { MAX_ATTENTION_VALUES } from './prepare';
