/**
 * InferenceHost: the caller's side of the inference runtime, shared by the CLI and the VS Code
 * extension. Inference runs in one worker_threads Worker (worker.ts, transport 'worker', the
 * default) or in one child process (child.ts, transport 'child-process': a native crash there
 * cannot take the caller's process down), never on the caller's event loop; the caller's thread
 * only resolves the model folder (a few small file reads) and keeps the results cache.
 *
 * - Requests are queued here and sent to the worker one at a time (the worker runs them one after
 *   another anyway), so a cancelled or crashed request never strands others inside the worker.
 * - Cancellation (AbortSignal): the promise rejects at once with an AbortError. A queued request is
 *   simply dropped; a running one is cancelled cooperatively (see worker.ts for why the worker is
 *   never terminated while busy): the worker stops at its next checkpoint, or drops the result of a
 *   forward pass it could not interrupt, and stays alive with its sessions loaded. The next request
 *   starts as soon as the worker is free.
 * - A worker crash rejects every pending request with code WORKER_CRASHED; the next request starts
 *   a fresh worker.
 * - Results are cached (LRU, byte budget) by model identity (conversion cache key + tokenizer file),
 *   text and options. Cached results are shared: treat results as read-only.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisPlan } from '../analysis';
import type { RunResult } from '../model/types';
import { ModelSource, cacheKey, resolveModel, tokenizerJsonPath, withYarn } from '../models';
import type { Encoding } from '../tokenizer/types';
import { AbortError, EngineError, fromWire } from './errors';
import { LruCache } from './lru';
import { Transport, startTransport } from './transport';
import {
  AnalyzeProgress,
  AnalyzeRequest,
  AnalyzeTimings,
  ExecutionProviderChoice,
  ExecutionProviderName,
  HostMessage,
  InferenceTransportKind,
  PROTOCOL_VERSION,
  TruncationInfo,
  WireResult,
  WorkerAnalyzeRequest,
  WorkerInit,
  WorkerMessage,
} from './protocol';

export interface InferenceHostOptions {
  /** 'auto' (default): CUDA when its provider loads, else CPU; 'cuda' fails when CUDA cannot load. */
  executionProvider?: ExecutionProviderChoice;
  /** onnxruntime intra-op threads; default: one per core. */
  threads?: number;
  /** Folder of converted ONNX models; default $REPO_LENS_CACHE/models (see models.ts). */
  cacheDir?: string;
  /** Results cache budget in bytes (default 256 MiB); 0 turns the cache off. */
  resultCacheBytes?: number;
  /**
   * 'worker' (default): a worker thread of this process. 'child-process': a process of its own,
   * so a native crash in onnxruntime kills only that process (then pending requests reject with
   * WORKER_CRASHED and the next request starts a fresh one).
   */
  transport?: InferenceTransportKind;
  /**
   * The compiled server script: default worker.js (worker) or child.js (child-process) beside this
   * file. Set it when bundling.
   */
  workerPath?: string;
}

export interface AnalyzeOptions {
  signal?: AbortSignal;
  /** Called on the caller's thread; exceptions it throws are ignored. */
  onProgress?: (p: AnalyzeProgress) => void;
}

export interface AnalyzeResult {
  model: WireResult['model'];
  executionProvider: ExecutionProviderName;
  providerNote: string;
  /** The model session was already loaded (no load time in this result). */
  sessionReused: boolean;
  /** The analysed tokens (the first ones only when `truncated`). */
  encoding: Encoding;
  /** Query (and needle) token indices the run used. */
  plan: AnalysisPlan;
  /** The forward pass outputs; see model/types.ts for shapes. */
  run: RunResult;
  integerPositions: boolean;
  /** The same tokens and query rows in the other position mode (request.ablation). */
  ablation?: RunResult;
  truncated?: TruncationInfo;
  warnings: string[];
  /** Of the run that produced this result (also when it comes from the cache). */
  timings: AnalyzeTimings;
  /** Served from the results cache: no worker was involved. */
  fromCache: boolean;
}

const DEFAULT_RESULT_CACHE_BYTES = 256 * 1024 * 1024;

interface Job {
  id: number;
  request: WorkerAnalyzeRequest;
  key: string;
  onProgress?: (p: AnalyzeProgress) => void;
  resolve: (r: AnalyzeResult) => void;
  reject: (e: Error) => void;
  /** The caller already has its answer (cancelled, crashed, disposed); later messages are ignored. */
  settled: boolean;
  cleanup: () => void;
}

export class InferenceHost {
  private readonly init: WorkerInit;
  private readonly workerPath: string;
  private readonly cache: LruCache<AnalyzeResult>;
  private readonly transport: InferenceTransportKind;
  private worker?: Transport;
  private workerExit?: Promise<void>;
  private workerError?: Error;
  private stopping = false;
  /** The request the worker is working on; may be settled already (cancelled) until the worker answers. */
  private inflight?: Job;
  private readonly queue: Job[] = [];
  private nextId = 1;
  private disposed = false;
  private starts = 0;

  constructor(opts: InferenceHostOptions = {}) {
    const ep = opts.executionProvider ?? 'auto';
    if (ep !== 'auto' && ep !== 'cpu' && ep !== 'cuda' && ep !== 'webgpu') {
      throw new RangeError(`executionProvider must be auto, cpu, cuda or webgpu, got "${ep}"`);
    }
    if (opts.threads !== undefined && !(Number.isSafeInteger(opts.threads) && opts.threads >= 1)) {
      throw new RangeError(`threads must be a positive integer, got ${opts.threads}`);
    }
    this.init = { protocol: PROTOCOL_VERSION, executionProvider: ep, threads: opts.threads, cacheDir: opts.cacheDir };
    const transport = opts.transport ?? 'worker';
    if (transport !== 'worker' && transport !== 'child-process') throw new RangeError(`transport must be worker or child-process, got "${transport}"`);
    this.transport = transport;
    this.workerPath = opts.workerPath ?? path.join(__dirname, transport === 'worker' ? 'worker.js' : 'child.js');
    this.cache = new LruCache(opts.resultCacheBytes ?? DEFAULT_RESULT_CACHE_BYTES);
  }

  /** How many workers were started so far (a crash or a restart shows up here). */
  get workerStarts(): number {
    return this.starts;
  }

  /** The inference child's process id (transport 'child-process' while one runs), for diagnostics and tests. */
  get inferencePid(): number | undefined {
    return this.worker?.pid;
  }

  /** Whether a request is running or queued. */
  get busy(): boolean {
    return this.inflight !== undefined || this.queue.length > 0;
  }

  analyze(request: AnalyzeRequest, opts: AnalyzeOptions = {}): Promise<AnalyzeResult> {
    return new Promise<AnalyzeResult>((resolve, reject) => {
      if (this.disposed) return reject(new EngineError('the inference host has been disposed', 'HOST_DISPOSED'));
      const { signal } = opts;
      if (signal?.aborted) return reject(new AbortError(undefined, { cause: signal.reason }));
      let src: ModelSource;
      let key: string;
      try {
        if (typeof request?.text !== 'string') throw new TypeError('request.text must be a string');
        src = resolveModel(request.model);
        if (request.yarnFactor) src = withYarn(src, request.yarnFactor);
        key = resultKey(src, request);
      } catch (e) {
        return reject(e as Error);
      }
      const hit = this.cache.get(key);
      if (hit) return resolve({ ...hit, fromCache: true });

      const { model: _spec, ...rest } = request;
      const onAbort = () => this.abort(job, signal?.reason);
      const job: Job = {
        id: this.nextId++,
        request: { ...rest, model: { dir: src.dir, name: src.name, kind: src.kind } },
        key,
        onProgress: opts.onProgress,
        resolve,
        reject,
        settled: false,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /**
   * Rejects whatever is pending, lets the worker finish the step it is in (a forward pass cannot be
   * interrupted), releases its sessions and waits for it to exit. Idempotent.
   */
  async dispose(): Promise<void> {
    if (!this.disposed) {
      this.disposed = true;
      const err = () => new EngineError('the inference host has been disposed', 'HOST_DISPOSED');
      for (const job of this.queue.splice(0)) this.settle(job, undefined, err());
      if (this.inflight) {
        this.settle(this.inflight, undefined, err());
        this.post({ type: 'cancel', id: this.inflight.id });
      }
      this.cache.clear();
      if (this.worker) {
        this.stopping = true;
        this.worker.ref();
        this.post({ type: 'shutdown' });
      }
    }
    await this.workerExit;
  }

  /**
   * Tests only: make the worker exit as a crash would, now (resolves once it has exited) or when
   * its next forward pass starts.
   */
  async testCrashWorker(when: 'now' | 'next-run'): Promise<void> {
    if (this.disposed) return;
    this.ensureWorker().ref(); // an unreferenced worker's exit would not keep the caller waiting
    const exited = this.workerExit;
    this.post({ type: 'test-crash', when });
    if (when === 'now') await exited;
  }

  private abort(job: Job, reason: unknown): void {
    if (job.settled) return;
    this.settle(job, undefined, new AbortError(undefined, { cause: reason }));
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    else if (this.inflight === job) this.post({ type: 'cancel', id: job.id });
  }

  private settle(job: Job, result: AnalyzeResult | undefined, error?: Error): void {
    if (job.settled) return;
    job.settled = true;
    job.cleanup();
    if (error) job.reject(error);
    else job.resolve(result!);
  }

  /** Sends the next queued request when the worker is free. */
  private pump(): void {
    if (this.inflight || this.disposed) return;
    const job = this.queue.shift();
    if (!job) {
      // Idle: do not keep the process alive for the worker alone (an idle worker is safe to stop).
      this.worker?.unref();
      return;
    }
    try {
      this.ensureWorker();
    } catch (e) {
      this.settle(job, undefined, e as Error);
      this.pump();
      return;
    }
    this.inflight = job;
    // Busy: keep the process alive, since stopping a worker inside a native call aborts the process.
    this.worker!.ref();
    this.post({ type: 'analyze', id: job.id, request: job.request });
  }

  private ensureWorker(): Transport {
    if (this.worker) return this.worker;
    if (!fs.existsSync(this.workerPath)) {
      throw new EngineError(`inference worker script not found at ${this.workerPath} (when bundling, pass workerPath)`, 'WORKER_CRASHED');
    }
    let resolveExit!: () => void;
    this.workerExit = new Promise((resolve) => (resolveExit = resolve));
    this.workerError = undefined;
    this.stopping = false;
    const w: Transport = startTransport(this.transport, this.workerPath, this.init, {
      message: (m: WorkerMessage) => {
        if (this.worker === w) this.onMessage(m);
      },
      error: (e) => {
        if (this.worker === w) this.workerError = e;
      },
      exit: (detail, code) => {
        this.onExit(w, detail, code);
        resolveExit();
      },
    });
    w.unref(); // referenced only while it has work (see pump)
    this.starts++;
    this.worker = w;
    return w;
  }

  private post(m: HostMessage): void {
    this.worker?.post(m);
  }

  private onMessage(m: WorkerMessage): void {
    if (m.type === 'fatal') {
      this.workerError = fromWire(m.error);
      return;
    }
    const job = this.inflight;
    if (!job || job.id !== m.id) return;
    if (m.type === 'progress') {
      if (!job.settled) {
        try {
          job.onProgress?.(m.progress);
        } catch {
          // a failing progress callback must not break the request
        }
      }
      return;
    }
    this.inflight = undefined;
    if (m.type === 'result') {
      const result = toResult(m.result);
      // Kept even when the caller has gone (a cancel that came too late): the work is done.
      this.cache.set(job.key, result, resultBytes(result));
      this.settle(job, result);
    } else {
      this.settle(job, undefined, fromWire(m.error));
    }
    this.pump();
  }

  private onExit(w: Transport, detail: string, code: number | null): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    const expected = this.stopping;
    this.stopping = false;
    const pending = [...(this.inflight ? [this.inflight] : []), ...this.queue.splice(0)];
    this.inflight = undefined;
    if (expected && pending.length === 0) return;
    const why = this.workerError ? `: ${this.workerError.message}` : ` (${detail})`;
    const what = w.kind === 'worker' ? 'the inference worker' : 'the inference process';
    const crash = () =>
      new EngineError(`${what} stopped unexpectedly${why}; the next analysis starts a new one`, 'WORKER_CRASHED', { exitCode: code, detail });
    for (const job of pending) this.settle(job, undefined, crash());
  }
}

/** Key of the results cache: everything that changes the result, and nothing that does not. */
function resultKey(src: ModelSource, req: AnalyzeRequest): string {
  // 'auto' resolves to the same storage for every request of one host (its device setting is fixed).
  const storage = req.storage ?? 'auto';
  const tok = tokenizerJsonPath(src);
  const tokStat = tok ? fs.statSync(tok) : undefined;
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      // The conversion cache key covers converter version, storage, name, config, shards (size, mtime).
      model: cacheKey(src, storage, converterVersion()),
      tokenizer: tokStat ? [tokStat.size, tokStat.mtimeMs] : null,
      queryRange: req.queryRange ? [req.queryRange.start, req.queryRange.end] : null,
      needleRange: req.needleRange ? [req.needleRange.start, req.needleRange.end] : null,
      queryText: req.queryText ?? null,
      needleText: req.needleText ?? null,
      autoNeedle: req.autoNeedle ?? null,
      integerPositions: req.integerPositions ?? false,
      ablation: req.ablation ?? false,
      overflow: req.overflow ?? 'refuse',
      maxTokens: req.maxTokens ?? null,
    }),
  );
  h.update('\0');
  h.update(req.text);
  return h.digest('hex');
}

let converterVersionCache: string | undefined;
/** The converter's version, read lazily: loading the converter module is not free. */
function converterVersion(): string {
  converterVersionCache ??= (require('../model/convert') as typeof import('../model/convert')).CONVERTER_VERSION;
  return converterVersionCache;
}

function toResult(w: WireResult): AnalyzeResult {
  return {
    model: w.model,
    executionProvider: w.executionProvider,
    providerNote: w.providerNote,
    sessionReused: w.sessionReused,
    // The analysis code indexes and maps plain arrays (a typed array's map() would stay numeric).
    encoding: { ids: Array.from(w.ids), starts: Array.from(w.starts), ends: Array.from(w.ends) },
    plan: w.plan,
    run: { positions: w.positions, attention: w.attention, lastLogits: w.lastLogits, T: w.T, Q: w.Q },
    integerPositions: w.integerPositions,
    ...(w.ablation ? { ablation: { ...w.ablation, T: w.T, Q: w.Q } } : {}),
    ...(w.truncated ? { truncated: w.truncated } : {}),
    warnings: w.warnings,
    timings: w.timings,
    fromCache: false,
  };
}

function resultBytes(r: AnalyzeResult): number {
  const run = (x?: RunResult) => (x ? x.positions.byteLength + x.attention.byteLength + x.lastLogits.byteLength : 0);
  return run(r.run) + run(r.ablation) + r.encoding.ids.length * 3 * 8 + 1024;
}
