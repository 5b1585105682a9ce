/**
 * `npm run bench:gpu`: the official RePo-OLMo2-1B shapes (random weights, src/bench/official.ts)
 * at 4K tokens on a GPU, against the CPU and PyTorch on the same GPU. For each weight storage and
 * each GPU provider asked for (onnxruntime-node's bundled WebGPU provider; CUDA when its provider
 * library is installed) it opens the engine's own RePoSession, times a cold and warm forward
 * passes, and compares every output (positions, query attention, last-token logits) with the CPU
 * provider's fp32 pass on the same ids. Then `repo-lens analyze` end to end (learned + integer
 * passes, as users run it) on the first GPU provider that worked, and the PyTorch reference on
 * CUDA (tools/bench/torch_gpu.py) when Python with CUDA torch is there. Prints each figure as it
 * comes and writes bench/gpu.json + bench/gpu.md (or --out-dir). Reports; asserts nothing.
 *
 *   npm run bench:gpu -- [--tokens 4096] [--providers webgpu,cuda] [--storages fp32,fp16] [--reps 3]
 *                        [--webgpu-mha] [--dir D] [--keep] [--small] [--no-cpu] [--python P]
 *                        [--tokenizer F] [--out-dir D]
 *
 * --webgpu-mha also runs the fused MultiHeadAttention graph on WebGPU, to see whether it is right
 * on that driver (it was not under Mesa's lavapipe; the engine uses plain-op blocks there).
 *
 * --small writes a 4-layer, hidden-256 checkpoint instead (a quick check of the script itself).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { CONVERTER_VERSION, convertCheckpoint, graphFor } from '../engine/model/convert';
import { RePoSession, cudaAvailable } from '../engine/model/session';
import { AttentionImpl, defaultAttention } from '../engine/onnx/repo-olmo2';
import { GRAPH_IO, RunResult } from '../engine/model/types';
import { ensureConverted, modelCacheDir, repoRoot, resolveModel } from '../engine/models';
import { loadHfTokenizer } from '../engine/tokenizer/hf';
import { CheckpointShapes, OFFICIAL_SHAPES, checkpointComplete, promptOf, writeCheckpoint } from './official';
import { machineInfo, runNode, runPython } from './run';

type Provider = 'cpu' | 'cuda' | 'webgpu';
type Storage = 'fp32' | 'fp16';

const SMALL: CheckpointShapes = { layers: 4, hidden: 256, heads: 4, ffn: 1024, vocab: 100352, repoFrom: 1 };

function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d; // NaN counts as the worst
  }
  return m;
}

function argmax(a: Float32Array): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i;
  return k;
}

/** Output agreement with the CPU fp32 pass: max abs differences, and whether the top token agrees. */
function compare(r: RunResult, ref: RunResult) {
  return {
    positionsMaxAbs: maxDiff(r.positions, ref.positions),
    attentionMaxAbs: maxDiff(r.attention, ref.attention),
    lastLogitsMaxAbs: maxDiff(r.lastLogits, ref.lastLogits),
    top1Agrees: argmax(r.lastLogits) === argmax(ref.lastLogits),
  };
}

const sec = (ms: number) => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string' },
      providers: { type: 'string' },
      storages: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      small: { type: 'boolean' },
      'no-cpu': { type: 'boolean' },
      python: { type: 'string' },
      tokenizer: { type: 'string' },
      'out-dir': { type: 'string' },
      reps: { type: 'string' },
      'webgpu-mha': { type: 'boolean' },
    },
  });
  const log = (m: string) => process.stderr.write(`bench:gpu: ${m}\n`);
  const T = Number(values.tokens ?? 4096);
  const reps = Number(values.reps ?? 3);
  const providers = (values.providers ?? 'webgpu,cuda').split(',') as Provider[];
  const storages = (values.storages ?? 'fp32,fp16').split(',') as Storage[];
  const shapes = values.small ? SMALL : OFFICIAL_SHAPES;
  const tokenizer = values.tokenizer ?? path.join(repoRoot(), '..', 'shared', 'fixtures', 'dolma2-tokenizer.json');
  if (!fs.existsSync(tokenizer)) throw new Error(`dolma2 tokenizer.json not found at ${tokenizer}: pass --tokenizer`);
  const root = path.resolve(values.dir ?? path.join(os.tmpdir(), 'repo-lens-bench-gpu'));
  const ckpt = path.join(root, values.small ? 'RePo-small-random' : 'RePo-OLMo2-1B-random');
  const cacheBase = path.join(root, 'cache'); // $REPO_LENS_CACHE of the analyze run below
  const cacheDir = modelCacheDir({ REPO_LENS_CACHE: cacheBase });
  const outDir = path.resolve(values['out-dir'] ?? path.join(repoRoot(), 'bench'));
  const results: any = {
    schema: 'repo-lens/bench-gpu@1',
    started: new Date().toISOString(),
    machine: machineInfo(os.availableParallelism()),
    backends: ort.listSupportedBackends?.() ?? null,
    shapes,
    T,
    runs: [] as any[],
  };
  const save = () => {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'gpu.json'), JSON.stringify(results, null, 2) + '\n');
    fs.writeFileSync(path.join(outDir, 'gpu.md'), markdown(results));
  };
  try {
    if (!(values.keep && checkpointComplete(ckpt))) {
      fs.rmSync(root, { recursive: true, force: true });
      log(`writing a random checkpoint (${shapes.layers} layers, hidden ${shapes.hidden}) to ${ckpt}`);
      const g = writeCheckpoint(ckpt, tokenizer, shapes);
      log(`  ${(g.bytes / 2 ** 30).toFixed(2)} GiB in ${sec(g.ms)} s`);
    }
    const p = await promptOf(T, tokenizer);
    const enc = (await loadHfTokenizer(tokenizer)).encode(p.text);
    const queryRows = enc.ids.map((_, i) => i).filter((i) => enc.ends[i] > p.query[0]);
    const req = { ids: enc.ids, queryRows, integerPositions: false };
    results.Q = queryRows.length;
    log(`prompt: ${enc.ids.length} tokens, ${queryRows.length} query rows`);
    const src = resolveModel(ckpt);

    // The graph the engine converts for this provider and storage (graphFor), or another attention graph.
    const convert = async (provider: Provider, storage: Storage, attentionOverride?: AttentionImpl) => {
      const t0 = performance.now();
      const choice = graphFor(provider, storage);
      const { compute, rotary } = choice;
      const attention = attentionOverride ?? choice.attention;
      const c = await ensureConverted(src, {
        storage, compute, attention, rotary, converterVersion: CONVERTER_VERSION, cacheDir, convert: (d, o, opts) => convertCheckpoint(d, o, opts),
      });
      if (!c.hit) log(`converted ${storage} (${compute} matmuls, attention ${attention ?? 'default'}) in ${sec(performance.now() - t0)} s`);
      return c.onnxPath;
    };

    const timeSession = async (provider: Provider, storage: Storage, attention: string, onnxPath: string) => {
      const run: any = { provider, storage, attention };
      results.runs.push(run);
      const t0 = performance.now();
      let s: RePoSession;
      try {
        s = await RePoSession.open(onnxPath, { executionProvider: provider });
      } catch (e) {
        run.error = (e as Error).message.split('\n')[0];
        log(`${provider} ${storage}: ${run.error}`);
        save();
        return null;
      }
      run.openMs = performance.now() - t0;
      run.note = s.providerNote;
      try {
        const times: number[] = [];
        let out: RunResult | null = null;
        for (let i = 0; i <= reps; i++) {
          const t = performance.now();
          out = await s.run(req);
          times.push(performance.now() - t);
          log(`${provider} ${storage}: pass ${i} ${sec(times[i])} s`);
        }
        run.coldMs = times[0];
        run.warmMs = times.slice(1).sort((a, b) => a - b)[Math.floor((times.length - 1) / 2)];
        run.times = times;
        save();
        return out;
      } catch (e) {
        run.error = (e as Error).message.split('\n')[0];
        log(`${provider} ${storage}: ${run.error}`);
        save();
        return null;
      } finally {
        await s.dispose();
      }
    };

    const logitsOnly = async (provider: Provider, attention: AttentionImpl | undefined) => {
      const dir = path.join(root, `logits-only-${provider}`);
      fs.mkdirSync(dir, { recursive: true });
      try {
        const { onnxPath } = await convertCheckpoint(src.dir, dir, { storage: 'fp32', attention, outputs: 'logits', config: src.config, name: src.name });
        const s = await ort.InferenceSession.create(onnxPath, {
          executionProviders: [provider], graphOptimizationLevel: 'all', logSeverityLevel: 3, extra: { session: { disable_prepacking: '1' } },
        });
        const feeds = {
          [GRAPH_IO.inputIds]: new ort.Tensor('int64', BigInt64Array.from(enc.ids, BigInt), [1, enc.ids.length]),
          [GRAPH_IO.queryRows]: new ort.Tensor('int64', BigInt64Array.from(queryRows, BigInt), [queryRows.length]),
          [GRAPH_IO.integerPositions]: new ort.Tensor('bool', Uint8Array.of(0), [1]),
        };
        const times: number[] = [];
        for (let i = 0; i <= reps; i++) {
          const t0 = performance.now();
          await s.run(feeds);
          times.push(performance.now() - t0);
        }
        await s.release();
        const warm = times.slice(1).sort((a, b) => a - b)[Math.floor((times.length - 1) / 2)];
        const full = results.runs.find((r: any) => r.provider === provider && r.storage === 'fp32' && !r.error);
        results.overhead = { provider, logitsOnlyWarmMs: warm, analysisWarmMs: full?.warmMs ?? null };
        log(`${provider} fp32 logits-only graph: warm ${sec(warm)} s (analysing graph ${full ? sec(full.warmMs) : '?'} s)`);
      } catch (e) {
        results.overhead = { provider, error: (e as Error).message.split('\n')[0] };
      }
      fs.rmSync(dir, { recursive: true, force: true });
      save();
    };

    // The CPU fp32 pass: the reference every GPU output is held against.
    const cpuAttention = defaultAttention({ numHeads: shapes.heads, headDim: shapes.hidden / shapes.heads });
    let ref: RunResult | null = null;
    if (!values['no-cpu']) ref = await timeSession('cpu', 'fp32', cpuAttention, await convert('cpu', 'fp32'));
    let firstGpu: { provider: Provider; storage: Storage } | null = null;
    const check = async (provider: Provider, storage: Storage, attentionOverride?: AttentionImpl) => {
      const attention = attentionOverride ?? graphFor(provider, storage).attention;
      const out = await timeSession(provider, storage, attention ?? cpuAttention, await convert(provider, storage, attentionOverride));
      if (out && ref) {
        Object.assign(results.runs[results.runs.length - 1], compare(out, ref));
        log(`  vs CPU fp32: ${JSON.stringify(compare(out, ref))}`);
      }
      save();
      return out;
    };
    for (const provider of providers) {
      if (provider === 'cuda') {
        const probe = await cudaAvailable();
        if (!probe.ok) {
          results.runs.push({ provider, storage: '–', error: `CUDA provider unavailable: ${probe.why}` });
          log(`cuda: ${probe.why}`);
          continue;
        }
      }
      for (const storage of storages) {
        const out = await check(provider, storage);
        if (out && !firstGpu) firstGpu = { provider, storage };
      }
      // The inspection outputs' cost on this provider: the same graph with last_logits only.
      if (storages.includes('fp32') && !results.overhead) await logitsOnly(provider, graphFor(provider, 'fp32').attention);
      // Whether the fused MultiHeadAttention blocks are right on this GPU's WebGPU driver too.
      if (provider === 'webgpu' && values['webgpu-mha']) await check('webgpu', 'fp32', 'chunked-mha');
    }

    // End to end, as a user runs it: `repo-lens analyze` in a fresh process (both passes).
    if (firstGpu) {
      const file = path.join(root, `prompt-${T}.txt`);
      fs.writeFileSync(file, p.text);
      const json = path.join(root, 'analysis.json');
      try {
        const r = await runNode(
          'e2e',
          {
            text: file, model: ckpt, threads: os.availableParallelism(), device: firstGpu.provider,
            queryRange: `${p.query[0]}:${p.query[1]}`, needleRange: `${p.needle[0]}:${p.needle[1]}`, maxTokens: T, json,
            extraArgs: [], // 'auto' storage, as users run it (fp32 on WebGPU, fp16 on CUDA)
          },
          { ...process.env, REPO_LENS_CACHE: cacheBase },
          900_000,
        );
        results.e2e = { provider: firstGpu.provider, storage: 'auto', processMs: r.processMs, timings: r.timings, peakRss: r.peakRss };
        log(`repo-lens analyze on ${firstGpu.provider} (auto storage): ${sec(r.processMs)} s end to end, timings ${JSON.stringify(r.timings)}`);
      } catch (e) {
        results.e2e = { ...firstGpu, error: (e as Error).message.split('\n')[0] };
        log(`e2e failed: ${results.e2e.error}`);
      }
      save();
    }

    // PyTorch on the same GPU, same weights and ids.
    const python = values.python ?? process.env.REPO_LENS_PYTHON ?? 'python3';
    const idsFile = path.join(root, 'ids.json');
    fs.writeFileSync(idsFile, JSON.stringify(enc.ids));
    const r = await runPython(python, [path.join(repoRoot(), 'tools', 'bench', 'torch_gpu.py'), '--checkpoint', ckpt, '--ids', idsFile], 900_000);
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    const torch = line ? JSON.parse(line) : { status: 'skipped', why: `${python} failed (exit ${r.code}): ${(r.stderr.trim().split('\n').pop() ?? '').slice(0, 300)}` };
    if (torch.runs && ref) {
      for (const v of Object.values<any>(torch.runs)) {
        if (v.last_logits) v.lastLogitsMaxAbsVsCpu = maxDiff(Float32Array.from(v.last_logits), ref.lastLogits);
        delete v.last_logits;
      }
    }
    results.torch = torch;
    log(`PyTorch: ${JSON.stringify(torch)}`);
    save();
    process.stdout.write('\n' + markdown(results));
  } finally {
    if (values.keep) log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

function markdown(r: any): string {
  const L: string[] = [];
  const m = r.machine;
  L.push(`RePo-OLMo2-1B shapes (random weights: ${r.shapes.layers} layers, hidden ${r.shapes.hidden}), T = ${r.T} tokens, ` +
    `Q = ${r.Q ?? '?'} query rows; ${m.cpuModel}, ${m.nproc} cores; onnxruntime-node ${m.onnxruntimeNode}${r.torch?.gpu ? `; GPU ${r.torch.gpu}` : ''}.`);
  L.push('');
  L.push('| provider | weights | attention graph | session open | cold pass | warm pass | positions max Δ | attention max Δ | logits max Δ | top-1 = CPU |');
  L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const x of r.runs) {
    if (x.error) {
      L.push(`| ${x.provider} | ${x.storage} | ${x.attention ?? '–'} | failed: ${String(x.error).replace(/\|/g, '/').slice(0, 160)} | | | | | | |`);
      continue;
    }
    const d = (v: number | undefined) => (v === undefined ? '–' : v.toExponential(1));
    L.push(`| ${x.provider} | ${x.storage} | ${x.attention} | ${sec(x.openMs)} s | ${sec(x.coldMs ?? 0)} s | ${sec(x.warmMs ?? 0)} s | ${d(x.positionsMaxAbs)} | ${d(x.attentionMaxAbs)} | ${d(x.lastLogitsMaxAbs)} | ${x.top1Agrees === undefined ? '–' : x.top1Agrees ? 'yes' : 'no'} |`);
  }
  const o = r.overhead;
  if (o && !o.error && o.analysisWarmMs) {
    L.push('');
    L.push(`Inspection outputs on ${o.provider} (fp32): analysing graph ${sec(o.analysisWarmMs)} s vs the same graph with last-token logits only ${sec(o.logitsOnlyWarmMs)} s ` +
      `(+${((o.analysisWarmMs / o.logitsOnlyWarmMs - 1) * 100).toFixed(0)} %).`);
  }
  if (r.e2e) {
    L.push('');
    L.push(r.e2e.error
      ? `\`repo-lens analyze\` on ${r.e2e.provider}: failed (${r.e2e.error}).`
      : `\`repo-lens analyze\` end to end on ${r.e2e.provider} (${r.e2e.storage} weight storage, learned + integer-position passes, fresh process, model converted beforehand): ` +
        `${sec(r.e2e.processMs)} s (load ${sec(r.e2e.timings?.loadMs ?? 0)} s, forward passes ${sec(r.e2e.timings?.runMs ?? 0)} s).`);
  }
  if (r.torch) {
    L.push('');
    if (r.torch.status !== 'ok') L.push(`PyTorch on CUDA: ${r.torch.status}${r.torch.why ? ` (${r.torch.why})` : ''}.`);
    else {
      for (const [k, v] of Object.entries<any>(r.torch.runs)) {
        L.push(v.status === 'failed'
          ? `PyTorch ${r.torch.torch} on CUDA, ${k}: failed (${v.why}).`
          : `PyTorch ${r.torch.torch} on CUDA, ${k} (SDPA, last-token logits only, no inspection outputs): cold ${sec(v.cold_s * 1000)} s, warm ${sec(v.median_s * 1000)} s, ` +
            `peak GPU memory ${(v.peak_gpu_bytes / 2 ** 30).toFixed(1)} GiB${v.lastLogitsMaxAbsVsCpu !== undefined ? `, logits max Δ vs onnxruntime CPU ${v.lastLogitsMaxAbsVsCpu.toExponential(1)}` : ''}.`);
      }
    }
  }
  L.push('');
  L.push('Δ: largest absolute difference from the onnxruntime CPU provider\'s fp32 pass on the same ids (positions [R,H,T], mean query attention [L,H,T], last-token logits). ' +
    'Passes: RePoSession.run (the engine\'s own session), cold = the first after opening.');
  return L.join('\n') + '\n';
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`bench:gpu: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
