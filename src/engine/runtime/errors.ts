/**
 * Errors of the inference runtime, and their round trip across the worker boundary. Messages are
 * written for users and shown as is; `code` is for programs (the CLI adds its own flag hints to
 * TEXT_TOO_LONG, the extension may offer "Analyse the first N tokens").
 */
import type { WireError } from './protocol';

export type EngineErrorCode =
  | 'ABORT_ERR'
  | 'TEXT_TOO_LONG'
  | 'TOKEN_OUT_OF_VOCAB'
  | 'WORKER_CRASHED'
  | 'HOST_DISPOSED'
  | 'PROTOCOL_MISMATCH';

/** An error with a stable code; its `name` is that of the original error (AnalysisError, ModelError, …). */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly code?: EngineErrorCode | string,
    readonly details?: Record<string, unknown>,
    name = 'EngineError',
  ) {
    super(message);
    this.name = name;
  }
}

/** The analysis was cancelled through its AbortSignal (name "AbortError", as fetch and Node use). */
export class AbortError extends EngineError {
  constructor(message = 'analysis cancelled', options?: { cause?: unknown }) {
    super(message, 'ABORT_ERR', undefined, 'AbortError');
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/** Adds a code and details to an existing error (keeps its class, e.g. AnalysisError). */
export function withCode<E extends Error>(e: E, code: EngineErrorCode, details?: Record<string, unknown>): E {
  return Object.assign(e, { code, details });
}

export function toWire(e: unknown): WireError {
  if (e instanceof Error) {
    const { code, details } = e as { code?: unknown; details?: unknown };
    return {
      name: e.name,
      message: e.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
      ...(e.stack ? { stack: e.stack } : {}),
    };
  }
  return { name: 'Error', message: String(e) };
}

/** Rebuilds an error on the host; the worker's stack is kept (it says where it really failed). */
export function fromWire(w: WireError): EngineError {
  const e = w.name === 'AbortError' ? new AbortError(w.message) : new EngineError(w.message, w.code, w.details, w.name);
  if (w.stack) e.stack = w.stack;
  return e;
}
