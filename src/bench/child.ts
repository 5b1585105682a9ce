/**
 * One measurement of `npm run bench`, run in a fresh process by src/bench/run.ts so that its peak
 * RSS (VmHWM) belongs to that measurement alone. Prints one JSON line on stdout.
 *
 *   node out/src/bench/child.js e2e    '<json args>'   one `repo-lens analyze` run, in process
 *   node out/src/bench/child.js model  '<json args>'   warm forward passes: analysing vs logits-only graph
 *   node out/src/bench/child.js matmul '<json args>'   fp32 MatMul rate of onnxruntime on this CPU
 *   node out/src/bench/child.js convert '<json args>'  checkpoint → cached ONNX (time, peak RSS)
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { DataType, valueInfo } from '../engine/onnx/builder';
import { GRAPH_IO } from '../engine/model/types';
import { hasExternalData } from '../engine/model/session';

/** Peak and current resident set of this process, in bytes (VmHWM / VmRSS). */
export function procMemory(): { peak: number; current: number } {
  try {
    const s = fs.readFileSync('/proc/self/status', 'utf8');
    const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    const peak = field('VmHWM');
    const current = field('VmRSS');
    if (Number.isFinite(peak)) return { peak, current };
  } catch {
    // not Linux: fall through
  }
  return { peak: process.resourceUsage().maxRSS * 1024, current: process.memoryUsage().rss };
}

/** The session options RePoSession uses on CPU (src/engine/model/session.ts), for like-for-like runs. */
export function cpuSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    interOpNumThreads: 1,
    intraOpNumThreads: threads,
    executionProviders: ['cpu'],
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---- e2e: the command line, exactly as a user runs it ---------------------------------------------
interface E2eArgs {
  text: string;
  model: string;
  threads: number;
  queryRange: string;
  needleRange: string;
  maxTokens: number;
  json: string;
  /** Where to write the analysed ids and query rows (for the model and torch runs). */
  tokensOut?: string;
  /** More CLI options, e.g. --no-ablation (one forward pass, as the PyTorch reference runs). */
  extraArgs?: string[];
  /** --device (default cpu). */
  device?: string;
}

async function e2e(a: E2eArgs): Promise<object> {
  const { main } = await import('../cli/main');
  const t0 = performance.now();
  const code = await main([
    'analyze', a.text, '--model', a.model, '--threads', String(a.threads), '--device', a.device ?? 'cpu',
    '--query-range', a.queryRange, '--needle-range', a.needleRange, '--max-tokens', String(a.maxTokens),
    '--json', a.json, ...(a.extraArgs ?? []),
  ]);
  // performance.now() counts from process start: node start-up and module loading are included,
  // as they are in what a user waits for.
  const processMs = performance.now();
  const mainMs = processMs - t0;
  const mem = procMemory(); // before reading the (possibly large) JSON back
  if (code !== 0) throw new Error(`repo-lens analyze exited with ${code}`);
  const j = JSON.parse(fs.readFileSync(a.json, 'utf8'));
  const T = j.tokens.length as number;
  if (a.tokensOut) {
    fs.writeFileSync(a.tokensOut, JSON.stringify({ ids: j.tokens.map((t: { id: number }) => t.id), rows: j.query.tokens }));
  }
  return {
    T,
    Q: j.query.tokens.length,
    processMs,
    mainMs,
    peakRss: mem.peak,
    timings: j.timings ?? j.extra?.timings ?? null,
    jsonBytes: fs.statSync(a.json).size,
  };
}

// ---- model: warm forward passes, analysing graph against logits-only graph ------------------------
interface ModelArgs {
  analysis: string;
  /** The logits-only twin; without it only the analysing graph is timed. */
  logits?: string;
  tokens: string;
  threads: number;
  reps: number;
  budgetS: number;
}

async function model(a: ModelArgs): Promise<object> {
  ort.env.logLevel = 'fatal';
  const { ids, rows } = JSON.parse(fs.readFileSync(a.tokens, 'utf8')) as { ids: number[]; rows: number[] };
  const T = ids.length;
  const feeds = {
    [GRAPH_IO.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, T]),
    [GRAPH_IO.queryRows]: new ort.Tensor('int64', BigInt64Array.from(rows, BigInt), [rows.length]),
    [GRAPH_IO.integerPositions]: new ort.Tensor('bool', Uint8Array.of(0), [1]),
  };
  // As RePoSession opens it (src/engine/model/session.ts): no prepacking for external-data models.
  const opts: ort.InferenceSession.SessionOptions = {
    ...cpuSessionOptions(a.threads),
    ...(hasExternalData(a.analysis) ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  };
  const full = await ort.InferenceSession.create(a.analysis, opts);
  const bare = a.logits ? await ort.InferenceSession.create(a.logits, opts) : null;
  const time = async (s: ort.InferenceSession) => {
    const t0 = performance.now();
    const out = await s.run(feeds);
    return { ms: performance.now() - t0, out };
  };
  // First run of each session is a cold one (allocation, kernel selection): timed, not counted.
  const coldFull = await time(full);
  const coldBare = bare ? await time(bare) : null;
  const tFull: number[] = [];
  const tBare: number[] = [];
  const t0 = performance.now();
  // Alternate the two graphs so load changes on the machine hit both alike.
  while (tFull.length < Math.max(1, a.reps)) {
    tFull.push((await time(full)).ms);
    if (bare) tBare.push((await time(bare)).ms);
    const spent = (performance.now() - t0) / 1000;
    if (spent + (tFull[tFull.length - 1] + (tBare[tBare.length - 1] ?? 0)) / 1000 > a.budgetS) break;
  }
  const lf = coldFull.out[GRAPH_IO.lastLogits].data as Float32Array;
  let maxDiff: number | null = null;
  if (coldBare) {
    const lb = coldBare.out[GRAPH_IO.lastLogits].data as Float32Array;
    maxDiff = 0;
    for (let i = 0; i < lf.length; i++) maxDiff = Math.max(maxDiff, Math.abs(lf[i] - lb[i]));
  }
  const outputs = Object.keys(coldFull.out).map((k) => ({ name: k, bytes: (coldFull.out[k].data as Float32Array).byteLength }));
  await full.release();
  await bare?.release();
  return {
    T,
    Q: rows.length,
    analysisMs: median(tFull),
    analysisMinMs: Math.min(...tFull),
    logitsOnlyMs: bare ? median(tBare) : null,
    logitsOnlyMinMs: bare ? Math.min(...tBare) : null,
    coldAnalysisMs: coldFull.ms,
    coldLogitsOnlyMs: coldBare?.ms ?? null,
    reps: tFull.length,
    analysisTimes: tFull,
    logitsOnlyTimes: tBare,
    logitsOnlyMaxAbsDiff: maxDiff,
    lastLogits: Array.from(lf),
    outputs,
  };
}

// ---- matmul: this machine's fp32 matmul rate through onnxruntime ---------------------------------
interface MatmulArgs {
  threads: number;
  sizes: number[];
  budgetS: number;
}

async function matmul(a: MatmulArgs): Promise<object> {
  ort.env.logLevel = 'fatal';
  const results: { n: number; bestGflops: number; medianGflops: number; reps: number }[] = [];
  for (const n of a.sizes) {
    const { FLOAT } = DataType;
    const m: onnx.IModelProto = {
      irVersion: 10,
      opsetImport: [{ domain: '', version: 21 }],
      producerName: 'repo-lens-bench',
      graph: {
        name: 'matmul',
        node: [{ opType: 'MatMul', domain: '', name: 'mm', input: ['A', 'B'], output: ['Y'] }],
        input: [valueInfo('A', FLOAT, [n, n]), valueInfo('B', FLOAT, [n, n])],
        output: [valueInfo('Y', FLOAT, [n, n])],
      },
    };
    const s = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish(), cpuSessionOptions(a.threads));
    const rand = () => Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
    const feeds = { A: new ort.Tensor('float32', rand(), [n, n]), B: new ort.Tensor('float32', rand(), [n, n]) };
    await s.run(feeds);
    await s.run(feeds);
    const times: number[] = [];
    const t0 = performance.now();
    while (times.length < 5 || performance.now() - t0 < a.budgetS * 1000) {
      const t = performance.now();
      await s.run(feeds);
      times.push(performance.now() - t);
      if (times.length >= 200) break;
    }
    const flop = 2 * n * n * n;
    results.push({
      n,
      bestGflops: flop / (Math.min(...times) / 1000) / 1e9,
      medianGflops: flop / (median(times) / 1000) / 1e9,
      reps: times.length,
    });
    await s.release();
  }
  return { threads: a.threads, sizes: results, peakGflops: Math.max(...results.map((r) => r.bestGflops)) };
}

// ---- convert: checkpoint → cached ONNX, as the CLI's first run does it ------------------------------
interface ConvertArgs {
  checkpoint: string;
  storage: 'fp32' | 'fp16';
}

async function convert(a: ConvertArgs): Promise<object> {
  const { convertCheckpoint, CONVERTER_VERSION } = await import('../engine/model/convert');
  const { ensureConverted, resolveModel } = await import('../engine/models');
  const t0 = performance.now();
  // Into $REPO_LENS_CACHE, the cache the CLI uses: the analyse runs that follow hit this entry.
  const r = await ensureConverted(resolveModel(a.checkpoint), {
    storage: a.storage,
    converterVersion: CONVERTER_VERSION,
    convert: (dir, out, o) => convertCheckpoint(dir, out, o),
  });
  const ms = performance.now() - t0;
  const mem = procMemory();
  const bytes = fs.readdirSync(r.dir).reduce((n, f) => n + fs.statSync(`${r.dir}/${f}`).size, 0);
  return { ms, hit: r.hit, peakRss: mem.peak, outputBytes: bytes, onnxPath: r.onnxPath };
}

async function run(): Promise<void> {
  const [, , mode, json] = process.argv;
  const args = JSON.parse(json ?? '{}');
  let res: object;
  if (mode === 'e2e') res = await e2e(args);
  else if (mode === 'model') res = await model(args);
  else if (mode === 'matmul') res = await matmul(args);
  else if (mode === 'convert') res = await convert(args);
  else throw new Error(`unknown bench child mode ${mode}`);
  // A pipe write is asynchronous: exit only once the (possibly MBs long) line is flushed.
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify({ ok: true, ...res }) + '\n', () => resolve()));
}

if (require.main === module) {
  run().then(
    () => process.exit(0),
    (e) => {
      process.stdout.write(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) }) + '\n');
      process.exit(1);
    },
  );
}
