/**
 * `npm run bench:official`: the official RePo-OLMo2-1B at its real shapes, without downloading it.
 * Generates a random checkpoint with exactly the released layout (16 layers, hidden 2048, 16 heads,
 * SwiGLU 8192, vocab 100352, RePo from layer 5, fp32, two shards + index, dolma2 tokenizer.json),
 * then measures, each in a fresh process: the conversion (time, peak RSS, output size) for fp32 and
 * fp16 storage; `repo-lens analyze` at 512 and 1K tokens on the CPU (time, peak RSS); and the PyTorch
 * reference (tools/bench/torch_baselines.py mode b) on the same weights and token ids. Writes
 * bench/official.json and bench/official.md. Reports; asserts nothing.
 *
 *   npm run bench:official -- [--dir D] [--lengths 512,1024] [--threads N] [--python P] [--no-torch]
 *                             [--tokenizer tokenizer.json] [--keep]
 *
 * Needs ≈ 6 GB of disk for the checkpoint and ≈ 9 GB more for the two converted files.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../engine/models';
import { loadHfTokenizer } from '../engine/tokenizer/hf';
import { parseConfig } from '../engine/checkpoint';
import { countFlops } from './flops';
import { machineInfo, maxAbsDiff, runNode, runPython } from './run';

const LAYERS = 16;
const HIDDEN = 2048;
const HEADS = 16;
const FFN = 8192;
const VOCAB = 100352;
const START = 5;

/** The sizes of a generated checkpoint: the released model's by default. */
export interface CheckpointShapes {
  layers: number;
  hidden: number;
  heads: number;
  ffn: number;
  vocab: number;
  repoFrom: number;
}

export const OFFICIAL_SHAPES: CheckpointShapes = { layers: LAYERS, hidden: HIDDEN, heads: HEADS, ffn: FFN, vocab: VOCAB, repoFrom: START };

/** config.json as the released checkpoint has it (repo-method.md), plus a marker saying it is random. */
function officialConfig(sh: CheckpointShapes): Record<string, unknown> {
  const { hidden: HIDDEN, ffn: FFN, layers: LAYERS, heads: HEADS, vocab: VOCAB, repoFrom: START } = sh;
  return {
    architectures: ['Olmo2ForCausalLM'],
    model_type: 'olmo2',
    hidden_size: HIDDEN,
    intermediate_size: FFN,
    num_hidden_layers: LAYERS,
    num_attention_heads: HEADS,
    num_key_value_heads: HEADS,
    hidden_act: 'silu',
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-6,
    rope_theta: 500000,
    vocab_size: VOCAB,
    tie_word_embeddings: false,
    attention_bias: false,
    pad_token_id: 100277,
    eos_token_id: 100257,
    bos_token_id: null,
    torch_dtype: 'float32',
    pe_config: {
      dynamic_pe_mode: 'swigluex_multihead',
      dynamic_pe_start_layer: START,
      dynamic_pe_layer_ids: '',
      dynmaic_pe_start_layer: START,
      dynmaic_pe_layer_ids: '',
    },
    repo_lens_bench: 'random weights with the shapes of SakanaAI/RePo-OLMo2-1B-stage2-L5 (src/bench/official.ts)',
  };
}

/** Tensor names and shapes in the order the two shards hold them. */
function tensorList(sh: CheckpointShapes): { name: string; shape: number[]; norm: boolean }[] {
  const { hidden: HIDDEN, ffn: FFN, layers: LAYERS, heads: HEADS, vocab: VOCAB, repoFrom: START } = sh;
  const PE_DIM = HIDDEN / 8;
  const t: { name: string; shape: number[]; norm: boolean }[] = [];
  const add = (name: string, shape: number[], norm = false) => t.push({ name, shape, norm });
  add('model.embed_tokens.weight', [VOCAB, HIDDEN]);
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}.`;
    for (const k of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) add(`${p}self_attn.${k}.weight`, [HIDDEN, HIDDEN]);
    add(`${p}self_attn.q_norm.weight`, [HIDDEN], true);
    add(`${p}self_attn.k_norm.weight`, [HIDDEN], true);
    if (l >= START) {
      add(`${p}self_attn.gate_map.weight`, [PE_DIM, HIDDEN]);
      add(`${p}self_attn.content_map.weight`, [PE_DIM, HIDDEN]);
      add(`${p}self_attn.final_map.weight`, [HEADS, PE_DIM]);
    }
    add(`${p}mlp.gate_proj.weight`, [FFN, HIDDEN]);
    add(`${p}mlp.up_proj.weight`, [FFN, HIDDEN]);
    add(`${p}mlp.down_proj.weight`, [HIDDEN, FFN]);
    add(`${p}post_attention_layernorm.weight`, [HIDDEN], true);
    add(`${p}post_feedforward_layernorm.weight`, [HIDDEN], true);
  }
  add('model.norm.weight', [HIDDEN], true);
  add('lm_head.weight', [VOCAB, HIDDEN]);
  return t;
}

/**
 * Writes the checkpoint tensor by tensor (never more than one 64 MiB buffer in memory). Values:
 * uniform with standard deviation 0.02 from a seeded xorshift (the paper's init scale), norm weights
 * 1 ± 0.1; deterministic, so two runs convert and analyse the same model.
 */
export function writeCheckpoint(dir: string, tokenizer: string, sh: CheckpointShapes = OFFICIAL_SHAPES): { bytes: number; ms: number } {
  const t0 = performance.now();
  fs.mkdirSync(dir, { recursive: true });
  const all = tensorList(sh);
  const half = all.findIndex((t) => t.name === `model.layers.${Math.floor(sh.layers / 2)}.self_attn.q_proj.weight`);
  const shards = [all.slice(0, half), all.slice(half)];
  const names = shards.map((_, i) => `model-0000${i + 1}-of-0000${shards.length}.safetensors`);
  let state = 0x9e3779b9 >>> 0;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
  const a = 0.02 * Math.sqrt(3);
  const weightMap: Record<string, string> = {};
  let total = 0;
  const buf = new Float32Array(16 * 2 ** 20);
  shards.forEach((tensors, i) => {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let off = 0;
    for (const t of tensors) {
      const n = t.shape.reduce((x, y) => x * y, 1) * 4;
      header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + n] };
      off += n;
      weightMap[t.name] = names[i];
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8); // data starts 8-byte aligned
    const fd = fs.openSync(path.join(dir, names[i]), 'w');
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      fs.writeSync(fd, len);
      fs.writeSync(fd, Buffer.from(json, 'utf8'));
      for (const t of tensors) {
        let left = t.shape.reduce((x, y) => x * y, 1);
        while (left > 0) {
          const k = Math.min(left, buf.length);
          for (let j = 0; j < k; j++) buf[j] = t.norm ? 1 + 0.2 * (next() - 0.5) : a * (2 * next() - 1);
          fs.writeSync(fd, new Uint8Array(buf.buffer, 0, k * 4));
          left -= k;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    total += off;
  });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(officialConfig(sh), null, 2) + '\n');
  fs.writeFileSync(
    path.join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n',
  );
  fs.copyFileSync(tokenizer, path.join(dir, 'tokenizer.json'));
  return { bytes: total, ms: performance.now() - t0 };
}

/** True when `dir` holds a checkpoint this script wrote completely (index last, every shard its size). */
export function checkpointComplete(dir: string): boolean {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    const shards = [...new Set(Object.values<string>(index.weight_map))];
    const headerBytes = shards.reduce((n, f) => {
      const fd = fs.openSync(path.join(dir, f), 'r');
      const b = Buffer.alloc(8);
      fs.readSync(fd, b, 0, 8, 0);
      fs.closeSync(fd);
      return n + 8 + Number(b.readBigUInt64LE());
    }, 0);
    const sizes = shards.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    return sizes === index.metadata.total_size + headerBytes && fs.existsSync(path.join(dir, 'tokenizer.json'));
  } catch {
    return false;
  }
}

/** A RULER-style prompt of exactly T dolma2 tokens: filler, a needle in the middle, a question last. */
export async function promptOf(T: number, tokenizerPath: string): Promise<{ text: string; query: [number, number]; needle: [number, number] }> {
  const tok = await loadHfTokenizer(tokenizerPath);
  const words = ('the river ran past the old mill and the field lay quiet under a grey morning sky while ' +
    'letters waited on the table by the window for someone to read them aloud').split(' ');
  const needle = 'The special magic number for proud-falcon is 482913.';
  const question = 'What is the special magic number for proud-falcon?';
  const build = (n: number) => {
    const filler = Array.from({ length: n }, (_, i) => words[(i * 7) % words.length]).join(' ');
    const at = filler.lastIndexOf(' ', Math.floor(filler.length / 2));
    const body = filler.slice(0, at) + '. ' + needle + ' ' + filler.slice(at + 1) + '.';
    const text = `${body}\n\n${question}`;
    const ns = at + 2;
    return { text, needle: [ns, ns + needle.length] as [number, number], query: [text.length - question.length, text.length] as [number, number] };
  };
  // Filler words are about one token each: search for the count that gives exactly T tokens.
  let n = T;
  for (let i = 0; i < 60; i++) {
    const p = build(n);
    const got = tok.encode(p.text).ids.length;
    if (got === T) return p;
    n += T - got > 0 ? Math.max(1, Math.floor((T - got) / 2)) : Math.min(-1, Math.ceil((T - got) / 2));
  }
  throw new Error(`could not build a prompt of exactly ${T} tokens`);
}

const gib = (b: number) => (b / 2 ** 30).toFixed(2);
const s = (ms: number) => (ms / 1000).toFixed(1);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      lengths: { type: 'string' },
      threads: { type: 'string' },
      python: { type: 'string' },
      'no-torch': { type: 'boolean' },
      tokenizer: { type: 'string' },
      keep: { type: 'boolean' },
      'out-dir': { type: 'string' },
    },
  });
  const log = (m: string) => process.stderr.write(`bench:official: ${m}\n`);
  const lengths = (values.lengths ?? '512,1024').split(',').map((x) => Number(/k$/i.test(x) ? Number(x.slice(0, -1)) * 1024 : x));
  const threads = Number(values.threads ?? os.availableParallelism());
  const python = values['no-torch'] ? null : values.python ?? process.env.REPO_LENS_PYTHON ?? 'python3';
  const tokenizer = values.tokenizer ?? path.join(repoRoot(), '..', 'shared', 'fixtures', 'dolma2-tokenizer.json');
  if (!fs.existsSync(tokenizer)) throw new Error(`dolma2 tokenizer.json not found at ${tokenizer}: pass --tokenizer`);
  const root = path.resolve(values.dir ?? path.join(os.tmpdir(), 'repo-lens-bench-official'));
  const ckpt = path.join(root, 'RePo-OLMo2-1B-random');
  const env = { ...process.env, REPO_LENS_CACHE: path.join(root, 'cache') };
  const outDir = path.resolve(values['out-dir'] ?? path.join(repoRoot(), 'bench'));
  const load0 = os.loadavg();
  const started = new Date();
  try {
    // --keep leaves the generated checkpoint; a later run reuses it (writing 6 GB takes minutes).
    const reuse = values.keep && checkpointComplete(ckpt);
    fs.rmSync(path.join(root, 'cache'), { recursive: true, force: true });
    if (!reuse) fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    const free = fs.statfsSync(root);
    const need = (reuse ? 10 : 16) * 2 ** 30;
    if (free.bavail * free.bsize < need) throw new Error(`needs ≈${need / 2 ** 30} GiB free under ${root}, has ${gib(free.bavail * free.bsize)} GiB`);
    let gen: { bytes: number; ms: number };
    if (reuse) {
      gen = { bytes: JSON.parse(fs.readFileSync(path.join(ckpt, 'model.safetensors.index.json'), 'utf8')).metadata.total_size, ms: 0 };
      log(`reusing the random checkpoint in ${ckpt}`);
    } else {
      log(`writing a random checkpoint with the official shapes to ${ckpt}`);
      gen = writeCheckpoint(ckpt, tokenizer);
      log(`checkpoint: ${gib(gen.bytes)} GiB in ${s(gen.ms)} s`);
    }

    // This machine's fp32 matmul rate through onnxruntime, same threads: what the forward's GFLOP/s
    // is held against (as `npm run bench` does for repo-tiny).
    const mm = await runNode('matmul', { threads, sizes: [512, 1024, 2048], budgetS: 2 }, env, 300_000);
    log(`matmul peak ${mm.peakGflops.toFixed(1)} GFLOP/s`);
    const arch = parseConfig(officialConfig(OFFICIAL_SHAPES));

    const conversions: Record<string, any> = {};
    for (const storage of ['fp32', 'fp16'] as const) {
      log(`converting (${storage} storage)`);
      conversions[storage] = await runNode('convert', { checkpoint: ckpt, storage }, env, 1_800_000);
      const c = conversions[storage];
      log(`  ${s(c.ms)} s, peak RSS ${gib(c.peakRss)} GiB, output ${gib(c.outputBytes)} GiB`);
    }

    const rows: any[] = [];
    for (const T of lengths) {
      const p = await promptOf(T, tokenizer);
      const file = path.join(root, `prompt-${T}.txt`);
      fs.writeFileSync(file, p.text);
      const tokensOut = path.join(root, `tokens-${T}.json`);
      const row: any = { T };
      rows.push(row);
      for (const storage of ['fp32', 'fp16'] as const) {
        log(`analyse T=${T} (${storage} weights, CPU, one forward pass)`);
        try {
          const r = await runNode(
            'e2e',
            {
              text: file, model: ckpt, threads, queryRange: `${p.query[0]}:${p.query[1]}`, needleRange: `${p.needle[0]}:${p.needle[1]}`,
              maxTokens: T, json: path.join(root, `analysis-${T}-${storage}.json`), tokensOut: storage === 'fp32' ? tokensOut : undefined,
              extraArgs: ['--no-ablation', '--storage', storage],
            },
            env,
            1_800_000,
          );
          const j = JSON.parse(fs.readFileSync(path.join(root, `analysis-${T}-${storage}.json`), 'utf8'));
          row[storage] = { processMs: r.processMs, peakRss: r.peakRss, timings: r.timings, Q: r.Q, T: r.T, jsonTokens: j.tokens.length };
          log(`  ${s(r.processMs)} s end to end (load ${s(r.timings?.loadMs ?? 0)} s, forward ${s(r.timings?.runMs ?? 0)} s), peak RSS ${gib(r.peakRss)} GiB`);
        } catch (e) {
          row[storage] = { error: (e as Error).message };
          log(`  failed: ${(e as Error).message}`);
        }
      }
      // Warm forward passes of the cached fp32 graph: its time, and last-token logits to hold against PyTorch's.
      if (row.fp32 && !row.fp32.error) {
        try {
          const m = await runNode('model', { analysis: conversions.fp32.onnxPath, tokens: tokensOut, threads, reps: 1, budgetS: 1 }, env, 1_800_000);
          const flops = countFlops(arch, T, m.Q).total;
          row.model = { analysisMs: m.analysisMs, coldAnalysisMs: m.coldAnalysisMs, Q: m.Q, gflop: flops / 1e9, gflopsPerS: flops / (m.analysisMs / 1000) / 1e9 };
          row.lastLogits = m.lastLogits;
          log(`  warm forward ${s(m.analysisMs)} s (cold ${s(m.coldAnalysisMs)} s)`);
        } catch (e) {
          log(`  warm forward failed: ${(e as Error).message}`);
        }
      }
    }

    let torch: any = { status: 'skipped', why: '--no-torch' };
    if (python) {
      const runs = rows.filter((r) => r.fp32 && !r.fp32.error).map((r) => ({ T: r.T, ids: JSON.parse(fs.readFileSync(path.join(root, `tokens-${r.T}.json`), 'utf8')).ids }));
      const tokensJson = path.join(root, 'torch-tokens.json');
      fs.writeFileSync(tokensJson, JSON.stringify({ runs }));
      log(`PyTorch reference (mode b: SDPA, last-token logits) with ${python}`);
      const r = await runPython(
        python,
        [path.join(repoRoot(), 'tools', 'bench', 'torch_baselines.py'), '--checkpoint', ckpt, '--tokens', tokensJson, '--modes', 'b',
          '--threads', String(threads), '--reps', '1', '--budget-s', '600', '--time-limit', '900', '--mem-limit-gb', '16'],
        3_600_000,
      );
      const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      torch = line ? JSON.parse(line) : { status: 'skipped', why: `${python} failed (exit ${r.code}): ${(r.stderr.trim().split('\n').pop() ?? '').slice(0, 300)}` };
      for (const res of torch.results ?? []) {
        const row = rows.find((x) => x.T === res.T);
        if (row) row.torch = { ...res, last_logits: undefined, lastLogitsMaxAbsDiff: maxAbsDiff(row.lastLogits, res.last_logits) };
      }
    }

    const results = {
      schema: 'repo-lens/bench-official@1',
      started: started.toISOString(),
      loadAvg: { start: load0, end: os.loadavg() },
      machine: machineInfo(threads),
      matmulPeakGflops: mm.peakGflops,
      checkpoint: { shapes: { layers: LAYERS, hidden: HIDDEN, heads: HEADS, ffn: FFN, vocab: VOCAB, repoFrom: START }, bytes: gen.bytes, writeMs: gen.ms },
      conversions,
      rows: rows.map(({ lastLogits: _l, ...r }) => r),
      torch: { status: torch.status, why: torch.why },
    };
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'official.json'), JSON.stringify(results, null, 2) + '\n');
    const md = markdown(results);
    fs.writeFileSync(path.join(outDir, 'official.md'), md);
    process.stdout.write('\n' + md);
  } finally {
    if (values.keep) log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

function markdown(r: any): string {
  const L: string[] = [];
  const load = `load average ${r.loadAvg.start[0].toFixed(1)} → ${r.loadAvg.end[0].toFixed(1)} on ${r.machine.nproc} cores`;
  L.push(`Official shapes (random weights, ${gib(r.checkpoint.bytes)} GiB fp32, two shards), ${r.machine.cpuModel}, ${r.machine.threads} threads, ${load}; ` +
    `measured fp32 MatMul peak ${r.matmulPeakGflops?.toFixed(0) ?? '?'} GFLOP/s:`);
  L.push('');
  L.push('| conversion | time | peak RSS | output |');
  L.push('|---|---:|---:|---:|');
  for (const [k, c] of Object.entries<any>(r.conversions)) L.push(`| ${k} storage | ${s(c.ms)} s | ${gib(c.peakRss)} GiB | ${gib(c.outputBytes)} GiB |`);
  L.push('');
  L.push('| T | analyse fp32 (end to end / forward) | peak RSS fp32 | analyse fp16 weights | peak RSS fp16 | warm forward fp32 | of matmul peak | PyTorch reference forward (b) | its peak RSS | ratio | max abs Δ last logits |');
  L.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of r.rows) {
    const cell = (x: any) => (!x ? '–' : x.error ? 'failed' : `${s(x.processMs)} s / ${s(x.timings?.runMs ?? 0)} s`);
    const rss = (x: any) => (!x || x.error ? '–' : `${gib(x.peakRss)} GiB`);
    const t = row.torch;
    const tcell = t?.status === 'ok' ? `${t.median_s.toFixed(1)} s (cold ${t.times_s?.[0]?.toFixed(1) ?? "?"} s)` : t ? t.status : r.torch.status;
    const trss = t?.status === 'ok' && t.peak_rss_bytes ? `${gib(t.peak_rss_bytes)} GiB` : '–';
    const warm = row.model ? `${s(row.model.analysisMs)} s` : '–';
    const share = row.model?.gflopsPerS && r.matmulPeakGflops
      ? `${(row.model.gflopsPerS / r.matmulPeakGflops * 100).toFixed(0)} % (${row.model.gflop.toFixed(0)} GFLOP at ${row.model.gflopsPerS.toFixed(0)} GFLOP/s)`
      : '–';
    const ratio = row.model && t?.status === 'ok' ? `${(row.model.analysisMs / 1000 / t.median_s).toFixed(2)}×` : '–';
    const diff = t?.lastLogitsMaxAbsDiff ?? null;
    L.push(`| ${row.T} | ${cell(row.fp32)} | ${rss(row.fp32)} | ${cell(row.fp16)} | ${rss(row.fp16)} | ${warm} | ${share} | ${tcell} | ${trss} | ${ratio} | ${diff === null ? '–' : diff.toExponential(1)} |`);
  }
  if (r.torch.status !== 'ok') L.push('', `PyTorch reference: ${r.torch.status}${r.torch.why ? ` (${r.torch.why})` : ''}.`);
  L.push('');
  L.push('End to end: `repo-lens analyze` in a fresh process with the converted model cached (`--no-ablation`: one forward pass, ' +
    'as the reference runs), including loading the model; forward: the onnxruntime session.run inside it. PyTorch: ' +
    'tools/reference/repo_olmo2.py with SDPA on the same weights and token ids, last-token logits, warm median. ' +
    'Of matmul peak: the analysing graph\'s matmul FLOPs (src/bench/flops.ts) per second of warm forward, against one large ' +
    'ONNX MatMul on the same threads, measured in the same run.');
  return L.join('\n') + '\n';
}


if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`bench:official: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
