/**
 * The converted ONNX model against the PyTorch reference (golden files), plus the converter's and
 * the session's own behaviour. Every test/golden/*.json whose checkpoint folder exists is checked,
 * and the generated-checkpoint goldens in test/data/generated-golden.
 */
import test, { after, describe } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { convertCheckpoint, DATA_FILE, graphFor, ONNX_FILE } from '../src/engine/model/convert';
import { defaultAttention } from '../src/engine/onnx/repo-olmo2';
import { RePoSession, validateRequest } from '../src/engine/model/session';
import { RunRequest } from '../src/engine/model/types';
import { FIXTURES, REPO_ROOT, makeRandomCheckpoint, TINY, tmpDir } from './helpers/checkpoints';
import { assertClose, FP16_TOL, FP32_TOL, TolSet } from './helpers/compare';
import { writeGenerated } from './helpers/generated-fixtures';

interface GoldenCase {
  name: string;
  ids: number[];
  queryRows: number[];
  integerPositions: boolean;
  positionsShape: number[];
  positions: number[];
  attentionShape: number[];
  attention: number[];
  lastLogits: number[];
}
interface Golden {
  checkpoint: string;
  repoLayers: number[];
  numLayers: number;
  numHeads: number;
  vocabSize: number;
  cases: GoldenCase[];
}

const THREADS = 1; // the test machine is shared
const open = (p: string) => RePoSession.open(p, { executionProvider: 'cpu', threads: THREADS });
const sessions: RePoSession[] = [];
after(async () => {
  for (const s of sessions) await s.dispose();
});
async function convertAndOpen(dir: string, opts: Parameters<typeof convertCheckpoint>[2] = {}) {
  const res = await convertCheckpoint(dir, tmpDir('onnx'), opts);
  const s = await open(res.onnxPath);
  sessions.push(s);
  return { ...res, session: s };
}

function goldens(): { file: string; golden: Golden; dir: string }[] {
  const out: { file: string; golden: Golden; dir: string }[] = [];
  const gdir = path.join(REPO_ROOT, 'test', 'golden');
  for (const f of fs.readdirSync(gdir).filter((f) => f.endsWith('.json')).sort()) {
    const golden: Golden = JSON.parse(fs.readFileSync(path.join(gdir, f), 'utf8'));
    // test/golden also holds other components' golden data (e.g. tokenizer): only model goldens here.
    if (typeof golden.checkpoint !== 'string' || !Array.isArray(golden.cases)) continue;
    const dir = path.join(REPO_ROOT, golden.checkpoint);
    if (fs.existsSync(path.join(dir, 'config.json'))) out.push({ file: f, golden, dir });
  }
  const gen = path.join(REPO_ROOT, 'test', 'data', 'generated-golden');
  for (const f of fs.readdirSync(gen).filter((f) => f.endsWith('.json')).sort()) {
    const golden: Golden = JSON.parse(fs.readFileSync(path.join(gen, f), 'utf8'));
    const dir = path.join(tmpDir('gen'), 'ckpt');
    writeGenerated(golden.checkpoint.replace(/^generated:/, ''), dir);
    out.push({ file: f, golden, dir });
  }
  return out;
}

async function checkGolden(session: RePoSession, g: Golden, tol: TolSet) {
  assert.deepStrictEqual(session.info.repoLayers, g.repoLayers);
  assert.strictEqual(session.info.numLayers, g.numLayers);
  assert.strictEqual(session.info.numHeads, g.numHeads);
  assert.strictEqual(session.info.vocabSize, g.vocabSize);
  for (const c of g.cases) {
    // Cases without query rows check positions and logits only (the graph wants at least one row).
    const queryRows = c.queryRows.length ? c.queryRows : [c.ids.length - 1];
    const r = await session.run({ ids: c.ids, queryRows, integerPositions: c.integerPositions });
    assert.strictEqual(r.T, c.ids.length);
    assert.strictEqual(r.Q, queryRows.length);
    assert.deepStrictEqual(c.positionsShape, [g.repoLayers.length, g.numHeads, c.ids.length]);
    assert.deepStrictEqual(c.attentionShape, [g.numLayers, g.numHeads, c.queryRows.length, c.ids.length]);
    assertClose(`${c.name} positions`, r.positions, c.positions, tol.positions);
    // The reference gives every query row's attention; the graph their mean over the rows.
    if (c.queryRows.length) assertClose(`${c.name} attention`, r.attention, meanOverRows(c.attention, g.numLayers, g.numHeads, c.queryRows.length, c.ids.length), tol.attention);
    assertClose(`${c.name} lastLogits`, r.lastLogits, c.lastLogits, tol.logits);
  }
}

/** [L,H,Q,T] per-row attention → [L,H,T] mean over the rows, in float64. */
function meanOverRows(a: ArrayLike<number>, L: number, H: number, Q: number, T: number): number[] {
  const out = new Array<number>(L * H * T).fill(0);
  for (let lh = 0; lh < L * H; lh++) for (let q = 0; q < Q; q++) for (let t = 0; t < T; t++) out[lh * T + t] += a[(lh * Q + q) * T + t] / Q;
  return out;
}

const all = goldens();
test('golden files found for both committed fixtures and the generated ones', () => {
  const names = all.map((x) => x.file);
  for (const n of ['random-repo-bf16-sharded.json', 'random-repo-f16-yarn.json', 'gen-nope.json', 'gen-plain.json']) {
    assert.ok(names.includes(n), `${n} missing from ${names.join(', ')}`);
  }
});

for (const { file, golden, dir } of all) {
  describe(`parity ${file}`, () => {
    test('fp32 storage, learned and integer positions', async () => {
      const { session } = await convertAndOpen(dir);
      await checkGolden(session, golden, FP32_TOL);
    });
    test('fp16 storage (looser tolerances)', async () => {
      const { session } = await convertAndOpen(dir, { storage: 'fp16' });
      assert.strictEqual(session.info.storage, 'fp16');
      await checkGolden(session, golden, FP16_TOL);
    });
    if (golden.cases.some((c) => c.ids.length > 32)) {
      test('fp32, attention in blocks of 16 rows (several blocks, ragged last block)', async () => {
        const { session } = await convertAndOpen(dir, { chunk: 16 });
        await checkGolden(session, golden, FP32_TOL);
      });
    }
  });
}

// ---- converter ---------------------------------------------------------------------------------

test('external data: relative location, small .onnx, same results as inline', async () => {
  const ck = path.join(FIXTURES, 'random-repo-f16-yarn');
  const inline = await convertAndOpen(ck);
  const ext = await convertAndOpen(ck, { externalData: true });
  const outDir = path.dirname(ext.onnxPath);
  assert.deepStrictEqual(fs.readdirSync(outDir).sort(), [ONNX_FILE, DATA_FILE]);
  const graph = onnx.ModelProto.decode(fs.readFileSync(ext.onnxPath)).graph as onnx.GraphProto;
  const external = graph.initializer.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
  assert.ok(external.length > 20);
  for (const t of external) {
    const loc = (t.externalData as onnx.StringStringEntryProto[]).find((e) => e.key === 'location')!.value;
    assert.strictEqual(loc, DATA_FILE);
  }
  // Shape constants stay inline.
  assert.ok(graph.initializer.some((t) => t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL && t.dataType === 7));
  assert.ok(fs.statSync(ext.onnxPath).size < 64 * 1024);
  const req: RunRequest = { ids: [5, 9, 14, 3, 7, 1], queryRows: [5, 2], integerPositions: false };
  const a = await inline.session.run(req);
  const b = await ext.session.run(req);
  // Same weights, but an external-data session skips weight prepacking (session.ts), so its matmul
  // kernels may sum in another order: equal within the fp32 tolerances, not bit for bit.
  assertClose('positions', b.positions, a.positions, FP32_TOL.positions);
  assertClose('attention', b.attention, a.attention, FP32_TOL.attention);
  assertClose('logits', b.lastLogits, a.lastLogits, FP32_TOL.logits);
});

test('converter output: atomic (no temp files), metadata round-trips, progress reported, re-convert replaces', async () => {
  const ck = path.join(FIXTURES, 'random-repo-bf16-sharded');
  const out = tmpDir('atomic');
  const fractions: number[] = [];
  fs.writeFileSync(path.join(out, DATA_FILE), 'stale'); // left by an earlier external conversion
  const res = await convertCheckpoint(ck, out, { name: 'My model', onProgress: (_m, f) => fractions.push(f) });
  assert.deepStrictEqual(fs.readdirSync(out), [ONNX_FILE]);
  assert.strictEqual(res.onnxPath, path.join(out, ONNX_FILE));
  assert.strictEqual(fractions[fractions.length - 1], 1);
  assert.ok(fractions.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= fractions[i - 1])));
  assert.strictEqual(res.info.name, 'My model');
  assert.deepStrictEqual(res.info.repoLayers, [2, 3]);
  const s = await open(res.onnxPath);
  sessions.push(s);
  assert.deepStrictEqual(s.info, res.info);
  assert.strictEqual(s.executionProvider, 'cpu');
  const model = onnx.ModelProto.decode(fs.readFileSync(res.onnxPath));
  assert.ok(Number(model.irVersion) >= 10);
  assert.deepStrictEqual((model.graph as onnx.GraphProto).output.map((o) => o.name), ['positions', 'mean_query_attention', 'last_logits']);
  const fp32Size = fs.statSync(res.onnxPath).size;
  const again = await convertCheckpoint(ck, out, { storage: 'fp16' });
  assert.deepStrictEqual(fs.readdirSync(out), [ONNX_FILE]);
  const fp16Size = fs.statSync(again.onnxPath).size;
  assert.ok(fp16Size < fp32Size * 0.6, `fp16 file ${fp16Size} bytes vs fp32 ${fp32Size}`);
});

test('the graph has no T×T or T×V output and linear-memory attention by default', async () => {
  const res = await convertCheckpoint(path.join(FIXTURES, 'random-repo-f16-yarn'), tmpDir('graph'));
  const model = onnx.ModelProto.decode(fs.readFileSync(res.onnxPath));
  const graph = model.graph as onnx.GraphProto;
  const ops = new Set(graph.node.map((n) => n.opType));
  assert.ok(ops.has('Loop'), 'main attention runs in query blocks');
  const dims = (o: onnx.IValueInfoProto) => o.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  const outs = Object.fromEntries(graph.output.map((o) => [o.name, dims(o)]));
  assert.deepStrictEqual(outs, { positions: [2, 2, 'T'], mean_query_attention: [4, 2, 'T'], last_logits: [200] });
});

// ---- bigger random model: blocks, fp16 from fp32, tied embeddings ------------------------------------

describe('tiny random model (4 layers, d 128, 4 heads)', () => {
  const ck = tmpDir('tiny');
  makeRandomCheckpoint(ck, TINY);
  const T = 300; // > two 128-row blocks, ragged
  const req = { ids: Array.from({ length: T }, (_, i) => (i * 37 + 11) % TINY.vocab), queryRows: [T - 1, 150, 0, 128], integerPositions: false };

  test('blocked attention (the default with a past, with a bias, plain ops) equals whole-matrix attention', async () => {
    const full = await convertAndOpen(ck, { attention: 'full' });
    const variants = [
      await convertAndOpen(ck), // 128-row blocks: two full ones and a ragged one, a past two blocks long
      await convertAndOpen(ck, { chunk: 256 }), // one full block and a ragged one
      await convertAndOpen(ck, { attention: 'chunked-mha', chunk: 128 }),
      await convertAndOpen(ck, { attention: 'chunked', chunk: 128 }),
      await convertAndOpen(ck, { rotary: 'ops' }), // the GPU graphs' rotary
    ];
    for (const blocked of variants) {
      for (const integerPositions of [false, true]) {
        const a = await blocked.session.run({ ...req, integerPositions });
        const b = await full.session.run({ ...req, integerPositions });
        assertClose('positions', a.positions, b.positions, FP32_TOL.positions);
        assertClose('attention', a.attention, b.attention, FP32_TOL.attention);
        assertClose('logits', a.lastLogits, b.lastLogits, FP32_TOL.logits);
      }
    }
  });

  test('fp16 storage of an fp32 checkpoint stays within the fp16 tolerances', async () => {
    const f32 = await convertAndOpen(ck);
    const f16 = await convertAndOpen(ck, { storage: 'fp16' });
    const a = await f32.session.run(req);
    const b = await f16.session.run(req);
    assertClose('positions', b.positions, a.positions, FP16_TOL.positions);
    assertClose('attention', b.attention, a.attention, FP16_TOL.attention);
    assertClose('logits', b.lastLogits, a.lastLogits, FP16_TOL.logits);
    // ...and it did change something (the weights really are half precision).
    assert.notDeepStrictEqual(b.lastLogits, a.lastLogits);
  });

  test('integer_positions puts 0..T-1 in every RePo layer and changes the result', async () => {
    const { session } = await convertAndOpen(ck);
    const learned = await session.run(req);
    const integer = await session.run({ ...req, integerPositions: true });
    const R = TINY.repoLayers.length;
    assert.strictEqual(integer.positions.length, R * TINY.heads * T);
    for (let i = 0; i < integer.positions.length; i++) assert.strictEqual(integer.positions[i], i % T);
    assert.notDeepStrictEqual(learned.positions, integer.positions);
    assert.notDeepStrictEqual(learned.lastLogits, integer.lastLogits);
    // The output is the mean of the rows' causal distributions: each row of it sums to 1, is zero past
    // the last query row, and equals the mean of the rows asked for one at a time.
    const L = TINY.layers;
    const H = TINY.heads;
    const last = Math.max(...req.queryRows);
    const single = await Promise.all(req.queryRows.map((r) => session.run({ ...req, queryRows: [r] })));
    const mean = new Float64Array(L * H * T);
    for (const s of single) for (let i = 0; i < mean.length; i++) mean[i] += s.attention[i] / single.length;
    assertClose('mean of single-row runs', learned.attention, mean, FP32_TOL.attention);
    for (let lh = 0; lh < L * H; lh++) {
      const row = learned.attention.subarray(lh * T, (lh + 1) * T);
      let sum = 0;
      for (let j = 0; j < T; j++) {
        if (j > last) assert.strictEqual(row[j], 0);
        sum += row[j];
      }
      assert.ok(Math.abs(sum - 1) < 1e-5);
    }
  });

  test('tied embeddings: no lm_head + tie_word_embeddings gives lm_head = embed_tokens', async () => {
    const tiedDir = tmpDir('tied');
    makeRandomCheckpoint(tiedDir, { ...TINY, layers: 2, repoLayers: [1], extraConfig: { tie_word_embeddings: true } });
    const untied = await convertAndOpen(tiedDir);
    // Rewrite the same weights with lm_head removed.
    const { readRawSafetensors, writeRawSafetensors } = await import('./helpers/checkpoints');
    const file = path.join(tiedDir, 'model.safetensors');
    const { header, data } = readRawSafetensors(file);
    const e = header['model.embed_tokens.weight'].data_offsets;
    header['lm_head.weight'].data_offsets = e; // what a tied model computes
    const shared = tmpDir('tied2');
    fs.copyFileSync(path.join(tiedDir, 'config.json'), path.join(shared, 'config.json'));
    writeRawSafetensors(path.join(shared, 'model.safetensors'), Object.fromEntries(Object.entries(header).filter(([k]) => k !== 'lm_head.weight')), data);
    const sameAsEmbedDir = tmpDir('tied3');
    fs.copyFileSync(path.join(tiedDir, 'config.json'), path.join(sameAsEmbedDir, 'config.json'));
    // lm_head pointing at the embedding bytes overlaps them, which the reader refuses: copy the bytes instead.
    const emb = data.subarray(e[0], e[1]);
    const lm = header['lm_head.weight'];
    const copy = Buffer.concat([data, emb]);
    lm.data_offsets = [data.length, data.length + emb.length];
    writeRawSafetensors(path.join(sameAsEmbedDir, 'model.safetensors'), header, copy);
    const tied = await convertAndOpen(shared);
    const reference = await convertAndOpen(sameAsEmbedDir);
    const r = { ...req, ids: req.ids.slice(0, 40), queryRows: [39] };
    const a = await tied.session.run(r);
    const b = await reference.session.run(r);
    assert.deepStrictEqual(a.lastLogits, b.lastLogits);
    assert.notDeepStrictEqual(a.lastLogits, (await untied.session.run(r)).lastLogits);
  });
});

// ---- session -------------------------------------------------------------------------------------

test('session validates requests with clear errors', async () => {
  const { session } = await convertAndOpen(path.join(FIXTURES, 'random-repo-f16-yarn'));
  const ok = { ids: [1, 2, 3], queryRows: [2], integerPositions: false };
  await assert.rejects(session.run({ ...ok, ids: [] }), /at least one token/);
  await assert.rejects(session.run({ ...ok, ids: [1, 200] }), /token id 200 at index 1 is outside the vocabulary 0\.\.199/);
  await assert.rejects(session.run({ ...ok, ids: [-1] }), /token id -1/);
  await assert.rejects(session.run({ ...ok, ids: [1.5] }), /token id 1.5/);
  await assert.rejects(session.run({ ...ok, queryRows: [3] }), /query row 3 is outside 0\.\.2/);
  await assert.rejects(session.run({ ...ok, queryRows: [-1] }), /query row -1/);
  assert.throws(() => validateRequest({ ...ok, integerPositions: 'yes' as unknown as boolean }, 10), /boolean/);
  await assert.rejects(session.run({ ...ok, queryRows: [] }), /queryRows must hold at least one token index/);
  // Still usable after refused requests; the attention is one mean row per layer and head.
  const r = await session.run(ok);
  assert.strictEqual(r.attention.length, 4 * 2 * 3);
  assert.strictEqual(r.positions.length, 2 * 2 * 3);
  assert.strictEqual(r.lastLogits.length, 200);
  // Concurrent runs are serialised and each gets its own answer.
  const [x, y] = await Promise.all([session.run(ok), session.run({ ...ok, ids: [4, 5, 6, 7] })]);
  assert.strictEqual(x.T, 3);
  assert.strictEqual(y.T, 4);
});

test('execution providers: auto falls back to CPU with a reason; cuda fails loudly when absent', async () => {
  const res = await convertCheckpoint(path.join(FIXTURES, 'random-repo-f16-yarn'), tmpDir('ep'));
  const auto = await RePoSession.open(res.onnxPath, { threads: THREADS });
  sessions.push(auto);
  if (auto.executionProvider === 'cpu') {
    assert.match(auto.providerNote, /CUDA unavailable: .+/);
    await assert.rejects(RePoSession.open(res.onnxPath, { executionProvider: 'cuda' }), /CUDA execution provider could not be loaded/);
  } else {
    assert.strictEqual(auto.executionProvider, 'cuda');
  }
  const cpu = await open(res.onnxPath);
  sessions.push(cpu);
  assert.match(cpu.providerNote, /CPU/);
});

test('session refuses a file that is not a converted model', async () => {
  const dir = tmpDir('notmodel');
  const file = path.join(dir, 'x.onnx');
  fs.writeFileSync(file, onnx.ModelProto.encode({ irVersion: 10, graph: { name: 'g' } }).finish());
  await assert.rejects(open(file), /not a RePo Lens model/);
  await assert.rejects(open(path.join(dir, 'missing.onnx')), /ENOENT/);
});

test('a run after dispose is refused', async () => {
  const res = await convertCheckpoint(path.join(FIXTURES, 'random-repo-f16-yarn'), tmpDir('dispose'));
  const s = await open(res.onnxPath);
  await s.dispose();
  await assert.rejects(s.run({ ids: [1], queryRows: [], integerPositions: false }), /after dispose/);
});

test('defaultAttention: past-keyed blocks for narrow models, bias blocks at the 1B width', () => {
  assert.strictEqual(defaultAttention({ numHeads: 4, headDim: 32 }), 'chunked-mha-past'); // repo-tiny
  assert.strictEqual(defaultAttention({ numHeads: 16, headDim: 128 }), 'chunked-mha'); // RePo-OLMo2-1B
});

test('graphFor: the graph each provider gets', () => {
  assert.deepStrictEqual(graphFor('cpu', 'auto'), { storage: 'fp32', compute: 'fp32' });
  assert.deepStrictEqual(graphFor('cpu', 'fp16'), { storage: 'fp16', compute: 'fp32' }, 'fp16 weights, fp32 matmuls on the CPU');
  assert.deepStrictEqual(graphFor('cuda', 'auto'), { storage: 'fp16', compute: 'fp16', attention: 'chunked-mha', rotary: 'ops' });
  assert.deepStrictEqual(graphFor('cuda', 'fp32'), { storage: 'fp32', compute: 'fp32', attention: 'chunked-mha', rotary: 'ops' });
  assert.deepStrictEqual(graphFor('webgpu', 'auto'), { storage: 'fp32', compute: 'fp32', attention: 'chunked', rotary: 'ops' });
  assert.deepStrictEqual(graphFor('webgpu', 'fp16'), { storage: 'fp16', compute: 'fp16', attention: 'chunked', rotary: 'ops' });
});
