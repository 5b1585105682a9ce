/**
 * A converted model loaded in onnxruntime-node: validates requests, runs one forward pass, returns
 * typed arrays (see RunResult in types.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { DataType, valueInfo } from '../onnx/builder';
import { readOnnxMetadata } from '../onnx/writer';
import { GRAPH_IO, ModelInfo, RunRequest, RunResult } from './types';
import { DATA_FILE, METADATA_KEY } from './convert';

export interface SessionOpenOptions {
  /**
   * 'auto' tries CUDA and falls back to CPU (recording why); 'cuda' fails if CUDA cannot load;
   * 'webgpu' is onnxruntime-node's bundled WebGPU provider (Dawn; Vulkan on Linux), which needs no
   * CUDA install but a GPU driver with Vulkan; it fails if no adapter is found.
   */
  executionProvider?: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  /** Intra-op threads (default: ORT's choice, one per core). */
  threads?: number;
}

const probes = new Map<'cuda' | 'webgpu', Promise<{ ok: boolean; why: string }>>();

/** Opens a one-node session on `provider`: whether it loads (and, for WebGPU, finds an adapter). */
function probeProvider(provider: 'cuda' | 'webgpu'): Promise<{ ok: boolean; why: string }> {
  let p = probes.get(provider);
  if (!p) {
    p = (async () => {
      ort.env.logLevel = 'fatal';
      const model: onnx.IModelProto = {
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        graph: {
          name: `${provider}-probe`,
          node: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
          input: [valueInfo('x', DataType.FLOAT, [1])],
          output: [valueInfo('y', DataType.FLOAT, [1])],
        },
      };
      try {
        const s = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { executionProviders: [provider] });
        await s.release();
        return { ok: true, why: `${provider === 'cuda' ? 'CUDA' : 'WebGPU'} execution provider loaded` };
      } catch (e) {
        return { ok: false, why: firstLine(e) };
      }
    })();
    probes.set(provider, p);
  }
  return p;
}

/**
 * Whether onnxruntime's CUDA provider loads in this process (its library, CUDA 12 and cuDNN 9);
 * asked once per process. Used to pick the weight storage before a conversion (fp16 for the GPU),
 * which has to happen before the real session.
 */
export function cudaAvailable(): Promise<{ ok: boolean; why: string }> {
  return probeProvider('cuda');
}

/** Whether the bundled WebGPU provider finds a GPU adapter (Vulkan on Linux); asked once per process. */
export function webgpuAvailable(): Promise<{ ok: boolean; why: string }> {
  return probeProvider('webgpu');
}

/** Said with every fallback to the CPU: a GPU without a CUDA install can still be used. */
const WEBGPU_HINT = '; a GPU without CUDA 12 can run the model with the webgpu device';

export class RePoSession {
  /** Runs are serialised: one session, one forward pass at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly info: ModelInfo,
    readonly executionProvider: 'cpu' | 'cuda' | 'webgpu',
    readonly providerNote: string,
  ) {}

  static async open(onnxPath: string, opts: SessionOpenOptions = {}): Promise<RePoSession> {
    const info = await readInfo(onnxPath);
    // ORT's process-wide logger would print the (expected) CUDA load failure of 'auto' to stderr;
    // failures reach the caller as exceptions and providerNote instead. Read once, at first session.
    ort.env.logLevel = 'fatal';
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3, // errors only: ORT's optimiser notes are not for users
      interOpNumThreads: 1,
      ...(opts.threads && opts.threads > 0 ? { intraOpNumThreads: opts.threads } : {}),
      // Weights in external data (big models): without prepacking onnxruntime maps the data file
      // instead of copying every weight into packed buffers. Measured on the 1B model's shapes
      // (5.6 GB, 2 CPU threads): load 15.5 s → 0.2 s, peak RSS 5.66 → 5.09 GiB, warm passes ≈ 6%
      // slower. Small models keep prepacking: their load is instant either way.
      ...(hasExternalData(onnxPath) ? { extra: { session: { disable_prepacking: '1' } } } : {}),
    };
    const want = opts.executionProvider ?? 'auto';
    if (want === 'webgpu') {
      try {
        // Outputs come back to the CPU (the analysis reads them there); ops the WebGPU provider
        // lacks run on the CPU provider, which onnxruntime adds by itself.
        const s = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['webgpu'] });
        return new RePoSession(s, info, 'webgpu', 'WebGPU execution provider (requested)');
      } catch (e) {
        throw new Error(`WebGPU execution provider could not be loaded: ${firstLine(e)}`);
      }
    }
    if (want === 'cpu') {
      const s = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] });
      return new RePoSession(s, info, 'cpu', 'CPU execution provider (requested)');
    }
    // ORT does not fall back by itself: a session asking for CUDA fails outright when the CUDA
    // provider library, CUDA 12 or cuDNN 9 is missing. Under 'auto' the per-process probe (already
    // asked when the weight storage was chosen) saves a second failed attempt on every model.
    if (want === 'auto') {
      const probe = await cudaAvailable();
      if (!probe.ok) {
        const s = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] });
        return new RePoSession(s, info, 'cpu', `CPU execution provider (CUDA unavailable: ${probe.why}${WEBGPU_HINT})`);
      }
    }
    try {
      const s = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cuda'] });
      return new RePoSession(s, info, 'cuda', want === 'cuda' ? 'CUDA execution provider (requested)' : 'CUDA execution provider (found)');
    } catch (e) {
      const why = firstLine(e);
      if (want === 'cuda') throw new Error(`CUDA execution provider could not be loaded: ${why}`);
      const s = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] });
      return new RePoSession(s, info, 'cpu', `CPU execution provider (CUDA unavailable: ${why}${WEBGPU_HINT})`);
    }
  }

  run(req: RunRequest): Promise<RunResult> {
    const next = this.queue.then(() => this.runNow(req));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(req: RunRequest): Promise<RunResult> {
    if (this.disposed) throw new Error('RePoSession: run() after dispose()');
    const { ids, queryRows } = validateRequest(req, this.info.vocabSize);
    const T = ids.length;
    const Q = queryRows.length;
    const feeds: Record<string, ort.Tensor> = {
      [GRAPH_IO.inputIds]: new ort.Tensor('int64', ids, [1, T]),
      [GRAPH_IO.queryRows]: new ort.Tensor('int64', queryRows, [Q]),
      [GRAPH_IO.integerPositions]: new ort.Tensor('bool', Uint8Array.of(req.integerPositions ? 1 : 0), [1]),
    };
    const out = await this.session.run(feeds);
    const f32 = (name: string) => {
      const t = out[name];
      if (!t || t.type !== 'float32') throw new Error(`model output ${name} missing or not float32`);
      return t.data as Float32Array;
    };
    const { numLayers: L, numHeads: H, vocabSize: V, repoLayers } = this.info;
    const result: RunResult = {
      positions: f32(GRAPH_IO.positions),
      attention: f32(GRAPH_IO.attention),
      lastLogits: f32(GRAPH_IO.lastLogits),
      T,
      Q,
    };
    // A model file that disagrees with its own metadata would be misread silently further up.
    const expect = (what: string, got: number, want: number) => {
      if (got !== want) throw new Error(`model output ${what} has ${got} values, expected ${want}`);
    };
    expect(GRAPH_IO.positions, result.positions.length, repoLayers.length * H * T);
    expect(GRAPH_IO.attention, result.attention.length, L * H * T);
    expect(GRAPH_IO.lastLogits, result.lastLogits.length, V);
    return result;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.session.release();
  }
}

/** Checks a request and converts it to the graph's int64 inputs. Exported for tests. */
export function validateRequest(req: RunRequest, vocabSize: number): { ids: BigInt64Array; queryRows: BigInt64Array } {
  const T = req.ids.length;
  if (!(T >= 1)) throw new RangeError('ids must hold at least one token');
  const ids = new BigInt64Array(T);
  for (let i = 0; i < T; i++) {
    const v = req.ids[i];
    if (!Number.isInteger(v) || v < 0 || v >= vocabSize) {
      throw new RangeError(`token id ${v} at index ${i} is outside the vocabulary 0..${vocabSize - 1}`);
    }
    ids[i] = BigInt(v);
  }
  const Q = req.queryRows.length;
  // The graph averages over the rows: with none there is nothing to average.
  if (!(Q >= 1)) throw new RangeError('queryRows must hold at least one token index');
  const rows = new BigInt64Array(Q);
  for (let i = 0; i < Q; i++) {
    const r = req.queryRows[i];
    if (!Number.isInteger(r) || r < 0 || r >= T) {
      throw new RangeError(`query row ${r} is outside 0..${T - 1} (the prompt has ${T} tokens)`);
    }
    rows[i] = BigInt(r);
  }
  if (typeof req.integerPositions !== 'boolean') throw new TypeError('integerPositions must be a boolean');
  return { ids, queryRows: rows };
}

async function readInfo(onnxPath: string): Promise<ModelInfo> {
  const meta = await readOnnxMetadata(onnxPath);
  const raw = meta[METADATA_KEY];
  if (raw === undefined) {
    throw new Error(`${onnxPath}: not a RePo Lens model (no "${METADATA_KEY}" metadata); convert the checkpoint first`);
  }
  let info: ModelInfo;
  try {
    info = JSON.parse(raw);
  } catch {
    throw new Error(`${onnxPath}: "${METADATA_KEY}" metadata is not valid JSON`);
  }
  for (const k of ['numLayers', 'numHeads', 'headDim', 'hiddenSize', 'vocabSize'] as const) {
    if (!Number.isSafeInteger(info[k]) || info[k] <= 0) throw new Error(`${onnxPath}: metadata field ${k} is invalid`);
  }
  if (!Array.isArray(info.repoLayers)) throw new Error(`${onnxPath}: metadata field repoLayers is invalid`);
  return info;
}

/** Whether the converted model keeps its weights in external data (models above 1.5 GB). */
export function hasExternalData(onnxPath: string): boolean {
  return fs.existsSync(path.join(path.dirname(onnxPath), DATA_FILE));
}

/**
 * The first line of an error, without the source location and failed check that onnxruntime puts
 * before its own explanation ("/onnxruntime_src/….cc:136 <function> <check> was false. <why>").
 */
export function firstLine(e: unknown): string {
  let msg = e instanceof Error ? e.message : String(e);
  const ort = /^\/onnxruntime_src\/\S+:\d+ [^\n]*? was false\. ([^\n]+)/.exec(msg);
  if (ort) msg = ort[1];
  const line = msg.split('\n').find((l) => l.trim() !== '') ?? msg;
  return line.length > 240 ? line.slice(0, 240) + '…' : line;
}
