/**
 * The serving side of the inference runtime, shared by the worker-thread entry (worker.ts) and the
 * child-process entry (child.ts). It owns the tokenizers and the onnxruntime sessions, and handles
 * one request at a time: tokenize and check → convert (cache miss only) → load (first use only) → run.
 *
 * Cancellation is cooperative. onnxruntime-node cannot interrupt a forward pass (its run() is one
 * synchronous native call without a terminate flag), and terminating a worker while it is inside
 * that call aborts the whole process (the addon throws into a dying environment), so the host
 * never terminates a busy worker. Instead a `cancel` is honoured at every point where this
 * thread's event loop runs: before each phase and between converted tensors (an interrupted
 * conversion removes its temporary folder). A cancel that arrives during the forward pass takes
 * effect when it returns: the result is dropped, the session stays loaded for the next request.
 */
import * as fs from 'node:fs';
import { convertCheckpoint, CONVERTER_VERSION, GraphChoice, graphFor } from '../model/convert';
import { cudaAvailable, RePoSession } from '../model/session';
import { ModelSource, TokenizerChoice, chooseTokenizer, configLimits, ensureConverted, readCheckpoint, tokenizerJsonPath, withYarn } from '../models';
import { AbortError, toWire } from './errors';
import { ModelLimits, prepareAnalysis, Prepared } from './prepare';
import { AnalyzeProgress, HostMessage, PROTOCOL_VERSION, WireResult, WorkerAnalyzeRequest, WorkerInit, WorkerMessage } from './protocol';

/** Loaded sessions kept at once (least recently used one released first): e.g. repo vs. rope model. */
const MAX_SESSIONS = 2;

/** How the serving side talks to its host: a worker thread's port or a child process's IPC channel. */
export interface InferenceChannel {
  /** `transfer` moves the buffers where the channel can (worker threads); others copy them. */
  post(m: WorkerMessage, transfer?: ArrayBuffer[]): void;
  onMessage(listener: (m: HostMessage) => void): void;
}

let init: WorkerInit;
let post: (m: WorkerMessage, transfer?: ArrayBuffer[]) => void;
let served = false;

const sessions = new Map<string, RePoSession>();
const tokenizers = new Map<string, { stamp: string; choice: TokenizerChoice }>();
const cancelled = new Set<number>();
let crashAtNextRun = false;
/** Requests are handled strictly one after another (the host sends one at a time anyway). */
let chain: Promise<unknown> = Promise.resolve();

/**
 * Serves the analyze/cancel/shutdown protocol on `channel` until shutdown (which exits the thread
 * or process). One per thread or process: sessions and tokenizers are module state.
 */
export function serveInference(channel: InferenceChannel, initData: WorkerInit): void {
  if (served) throw new Error('serveInference was already started in this thread');
  served = true;
  init = initData;
  post = (m, transfer = []) => channel.post(m, transfer);
  if (init?.protocol !== PROTOCOL_VERSION) {
    post({
      type: 'fatal',
      error: { name: 'EngineError', code: 'PROTOCOL_MISMATCH', message: `inference worker speaks protocol ${PROTOCOL_VERSION}, host ${init?.protocol}` },
    });
    process.exit(1);
  }
  channel.onMessage(onHostMessage);
}

function onHostMessage(m: HostMessage): void {
  switch (m.type) {
    case 'analyze':
      chain = chain.then(() => analyze(m.id, m.request));
      break;
    case 'cancel':
      cancelled.add(m.id);
      break;
    case 'shutdown':
      chain = chain.then(shutdown);
      break;
    case 'test-crash':
      if (m.when === 'now') process.exit(70);
      crashAtNextRun = true;
      break;
  }
}

async function analyze(id: number, req: WorkerAnalyzeRequest): Promise<void> {
  const t0 = performance.now();
  const progress = (p: AnalyzeProgress) => post({ type: 'progress', id, progress: p });
  const checkCancel = () => {
    if (cancelled.has(id)) throw new AbortError();
  };
  try {
    checkCancel();
    progress({ phase: 'tokenizing' });
    const read = readCheckpoint(req.model.dir, req.model.name, req.model.kind);
    const src = req.yarnFactor ? withYarn(read, req.yarnFactor) : read;
    const fromConfig = configLimits(src.config, src.name);
    const { tokenizer, warnings: tokWarnings } = await tokenizerFor(src);
    checkCancel();
    const tTok = performance.now();
    const full = tokenizer.encode(req.text);
    const tokenizeMs = performance.now() - tTok;
    const limits = (l: Omit<ModelLimits, 'name'>): ModelLimits => ({ name: src.name, ...l });
    const first = prepareAnalysis(req.text, full, limits(fromConfig), req, tokenizer.kind);
    let prepared = first;
    const warnings = [...tokWarnings, ...truncationWarning(prepared)];
    progress({ phase: 'tokenized', model: src.name, tokens: prepared.enc.ids.length, originalTokens: prepared.originalTokens, warnings });
    checkCancel();

    const precision = await resolvePrecision(req.storage);
    const cached = await ensureConverted(src, {
      ...precision,
      converterVersion: CONVERTER_VERSION,
      convert: (dir, out, o) => convertCheckpoint(dir, out, o),
      cacheDir: init.cacheDir,
      onProgress: (message, fraction) => {
        checkCancel(); // throwing here aborts the conversion and removes its temporary folder
        progress({ phase: 'converting', message, fraction });
      },
    });
    checkCancel();
    const tLoad = performance.now();
    const { session, reused } = await sessionFor(cached.onnxPath, progress);
    const loadMs = reused ? 0 : performance.now() - tLoad;
    checkCancel();

    // The converted model's own numbers are authoritative (config.json was an early reading).
    const info = session.info;
    if (info.maxPositions !== fromConfig.maxPositions || info.vocabSize !== fromConfig.vocabSize) {
      prepared = prepareAnalysis(req.text, full, limits(info), req, tokenizer.kind);
    }
    const { enc, plan } = prepared;
    progress({ phase: 'running', tokens: enc.ids.length });
    if (crashAtNextRun) process.exit(70);
    const tRun = performance.now();
    const integerPositions = req.integerPositions ?? false;
    const out = await session.run({ ids: enc.ids, queryRows: plan.query.tokens, integerPositions });
    const runMs = performance.now() - tRun;
    // The pass could not be interrupted: let a cancel that arrived meanwhile be delivered, then
    // drop the result rather than send it (and skip the ablation pass).
    await nextTurn();
    checkCancel();
    let ablation: WireResult['ablation'];
    let ablationRunMs = 0;
    if (req.ablation) {
      progress({ phase: 'running', tokens: enc.ids.length, ablation: true });
      const tAbl = performance.now();
      const a = await session.run({ ids: enc.ids, queryRows: plan.query.tokens, integerPositions: !integerPositions });
      ablationRunMs = performance.now() - tAbl;
      await nextTurn();
      checkCancel();
      ablation = { positions: owned(a.positions), attention: owned(a.attention), lastLogits: owned(a.lastLogits) };
    }

    const positions = owned(out.positions);
    const attention = owned(out.attention);
    const lastLogits = owned(out.lastLogits);
    const ids = Int32Array.from(enc.ids);
    const starts = Int32Array.from(enc.starts);
    const ends = Int32Array.from(enc.ends);
    const result: WireResult = {
      model: {
        name: src.name,
        kind: src.kind,
        dir: src.dir,
        info,
        tokenizer: tokenizer.kind,
        cache: { hit: cached.hit, key: cached.key, dir: cached.dir },
      },
      executionProvider: session.executionProvider,
      providerNote: session.providerNote,
      sessionReused: reused,
      ids,
      starts,
      ends,
      plan,
      positions,
      attention,
      lastLogits,
      T: out.T,
      Q: out.Q,
      integerPositions,
      ...(ablation ? { ablation } : {}),
      ...(prepared.truncated ? { truncated: prepared.truncated } : {}),
      warnings: prepared === first ? warnings : [...tokWarnings, ...truncationWarning(prepared)],
      timings: { tokenizeMs, convertMs: cached.convertMs, loadMs, runMs, ablationRunMs, totalMs: performance.now() - t0 },
    };
    const arrays = [positions, attention, lastLogits, ids, starts, ends, ...(ablation ? Object.values(ablation) : [])];
    post({ type: 'result', id, result }, arrays.map((a) => a.buffer as ArrayBuffer));
  } catch (e) {
    post({ type: 'error', id, error: toWire(e) });
  } finally {
    cancelled.delete(id);
  }
}

/**
 * The graph to convert (graphFor in convert.ts) for the provider this worker's sessions will use:
 * 'auto' means CUDA when its provider loads (the per-process probe), else the CPU.
 */
async function resolvePrecision(want: WorkerAnalyzeRequest['storage']): Promise<GraphChoice> {
  const ep = init.executionProvider;
  const provider = ep === 'cpu' || ep === 'webgpu' ? ep : (await cudaAvailable()).ok ? 'cuda' : 'cpu';
  return graphFor(provider, want ?? 'auto');
}

/** Resolves after the event loop has dispatched pending messages (setImmediate runs after I/O). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function truncationWarning(p: Prepared): string[] {
  const t = p.truncated;
  return t ? [`analysing the first ${t.tokens} of ${t.originalTokens} tokens (the text up to offset ${t.endOffset})`] : [];
}

/** A typed array that owns its whole buffer, so transferring the buffer moves exactly this data. */
function owned(a: Float32Array): Float32Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer ? a : a.slice();
}

/** Tokenizers are reused while tokenizer.json is unchanged (dolma2 takes a while to build). */
async function tokenizerFor(src: ModelSource): Promise<TokenizerChoice> {
  const hf = tokenizerJsonPath(src);
  let stamp = `${src.config.vocab_size}|${JSON.stringify(src.config.repo_lens ?? null)}`;
  if (hf) {
    const st = fs.statSync(hf);
    stamp += `|${st.size}|${st.mtimeMs}`;
  }
  const hit = tokenizers.get(src.dir);
  if (hit && hit.stamp === stamp) return hit.choice;
  const choice = await chooseTokenizer(src);
  tokenizers.set(src.dir, { stamp, choice });
  return choice;
}

async function sessionFor(onnxPath: string, progress: (p: AnalyzeProgress) => void): Promise<{ session: RePoSession; reused: boolean }> {
  const have = sessions.get(onnxPath);
  if (have) {
    // Re-insert: Map order is the LRU order.
    sessions.delete(onnxPath);
    sessions.set(onnxPath, have);
    return { session: have, reused: true };
  }
  progress({ phase: 'loading' });
  const session = await RePoSession.open(onnxPath, { executionProvider: init.executionProvider, threads: init.threads });
  sessions.set(onnxPath, session);
  while (sessions.size > MAX_SESSIONS) {
    const [oldest, s] = sessions.entries().next().value as [string, RePoSession];
    sessions.delete(oldest);
    await s.dispose();
  }
  return { session, reused: false };
}

async function shutdown(): Promise<void> {
  for (const s of sessions.values()) await s.dispose().catch(() => undefined);
  sessions.clear();
  process.exit(0);
}
