import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ConvertFn,
  ModelError,
  cacheBase,
  cacheKey,
  chooseTokenizer,
  configLimits,
  ensureConverted,
  listEmbeddedModels,
  repoRoot,
  resolveModel,
  withYarn,
} from '../src/engine/models';
import { DOLMA2, DOLMA2_SKIP } from './helpers/checkpoints';

const ROOT = path.resolve(__dirname, '..', '..');
const SHARDED = path.join(ROOT, 'test', 'fixtures', 'random-repo-bf16-sharded');
const YARN = path.join(ROOT, 'test', 'fixtures', 'random-repo-f16-yarn');
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-models-test-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A copy of the sharded fixture that tests may modify. */
function copyFixture(name: string): string {
  const dir = path.join(tmpRoot, name);
  fs.cpSync(SHARDED, dir, { recursive: true });
  return dir;
}

function writeConfig(dir: string, patch: Record<string, unknown>): void {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, ...patch }));
}

describe('resolveModel', () => {
  it('finds the repository root from the compiled file', () => {
    assert.equal(repoRoot(), ROOT);
  });

  it('reads a sharded checkpoint folder', () => {
    const src = resolveModel(SHARDED);
    assert.equal(src.kind, 'checkpoint');
    assert.equal(src.name, 'random-repo-bf16-sharded');
    assert.deepEqual(src.weightFiles.map((f) => path.basename(f)), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    assert.ok(src.indexBytes && src.indexBytes.length > 0);
    assert.equal(src.config.vocab_size, 300);
  });

  it('reads an unsharded checkpoint folder given relative to the working directory', () => {
    const src = resolveModel(path.relative(process.cwd(), YARN) || '.');
    assert.equal(src.indexBytes, null);
    assert.deepEqual(src.weightFiles, [path.join(YARN, 'model.safetensors')]);
  });

  it('explains unknown names, missing folders, files and incomplete folders', () => {
    assert.throws(() => resolveModel('gpt-17'), (e: Error) => e instanceof ModelError && /unknown model "gpt-17": embedded models are repo-tiny, rope-tiny/.test(e.message));
    assert.throws(() => resolveModel(path.join(tmpRoot, 'nope')), /checkpoint folder .*nope does not exist/);
    assert.throws(() => resolveModel(path.join(SHARDED, 'config.json')), /is a file, not a checkpoint folder/);
    const empty = path.join(tmpRoot, 'empty');
    fs.mkdirSync(empty);
    assert.throws(() => resolveModel(empty), /config.json is missing/);
    fs.writeFileSync(path.join(empty, 'config.json'), '{}');
    assert.throws(() => resolveModel(empty), /neither model.safetensors nor model.safetensors.index.json/);
    const missingShard = copyFixture('missing-shard');
    fs.rmSync(path.join(missingShard, 'model-00002-of-00002.safetensors'));
    assert.throws(() => resolveModel(missingShard), /shard model-00002-of-00002.safetensors listed in .* is missing/);
    const evil = copyFixture('evil-index');
    fs.writeFileSync(path.join(evil, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    assert.throws(() => resolveModel(evil), /names a shard outside the folder/);
  });

  it('resolves an embedded model, or says clearly that it is not there yet', () => {
    for (const m of listEmbeddedModels()) {
      if (m.available) {
        const src = resolveModel(m.name);
        assert.equal(src.kind, 'embedded');
        assert.equal(src.dir, path.join(ROOT, 'models', m.name));
        assert.match(m.detail, /layers/);
      } else {
        assert.throws(() => resolveModel(m.name), new RegExp(`embedded model ${m.name} is not available yet: .*(missing|does not exist)`));
      }
    }
    assert.deepEqual(listEmbeddedModels().map((m) => m.name), ['repo-tiny', 'rope-tiny']);
  });
});

describe('chooseTokenizer', () => {
  it('falls back to bytes with a warning when the folder has no tokenizer', async () => {
    const { tokenizer, warnings } = await chooseTokenizer(resolveModel(SHARDED));
    assert.equal(tokenizer.kind, 'bytes');
    assert.equal(tokenizer.vocabSize, 300);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /no tokenizer .* falling back to byte tokens/);
  });

  it('loads a Hugging Face tokenizer.json, without warnings', { skip: DOLMA2_SKIP }, async () => {
    const dir = copyFixture('with-dolma2');
    fs.copyFileSync(DOLMA2, path.join(dir, 'tokenizer.json'));
    const { tokenizer, warnings } = await chooseTokenizer(resolveModel(dir));
    assert.equal(tokenizer.kind, 'hf-bpe');
    assert.equal(tokenizer.vocabSize, 100278);
    assert.deepEqual(warnings, []);
    // Its ids are not checked against the model here (per text, at analysis time).
    assert.deepEqual(tokenizer.encode('Hello world').ids, [9906, 1917]);
  });

  it('refuses a tokenizer.json it cannot read instead of falling back to bytes', async () => {
    const dir = copyFixture('with-bad-tokenizer');
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{}');
    await assert.rejects(chooseTokenizer(resolveModel(dir)), (e: Error) => e instanceof ModelError && /cannot use its tokenizer.json: unsupported tokenizer.json: model is not BPE/.test(e.message));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{not json');
    await assert.rejects(chooseTokenizer(resolveModel(dir)), /cannot use its tokenizer.json: .*JSON/);
  });

  it('refuses the byte fallback when the vocabulary is too small', async () => {
    const dir = copyFixture('small-vocab');
    writeConfig(dir, { vocab_size: 100 });
    await assert.rejects(chooseTokenizer(resolveModel(dir)), /no tokenizer .*vocabulary \(100\) is too small/);
  });

  it('uses bytes silently when config.json declares repo_lens.tokenizer = bytes, and refuses others', async () => {
    const dir = copyFixture('declared-bytes');
    writeConfig(dir, { repo_lens: { tokenizer: 'bytes' } });
    const { tokenizer, warnings } = await chooseTokenizer(resolveModel(dir));
    assert.equal(tokenizer.kind, 'bytes');
    assert.deepEqual(warnings, []);
    writeConfig(dir, { repo_lens: { tokenizer: 'sentencepiece' } });
    await assert.rejects(chooseTokenizer(resolveModel(dir)), /asks for tokenizer "sentencepiece"/);
  });
});

describe('configLimits', () => {
  it('reads sizes and the YaRN-extended context', () => {
    assert.deepEqual(configLimits(resolveModel(SHARDED).config), {
      numLayers: 4,
      numHeads: 4,
      vocabSize: 300,
      maxPositions: 4096,
      repoLayers: [2, 3], // the misspelled dynmaic_* keys win, as in the official code
      peMode: 'swigluex_multihead',
    });
    const yarn = resolveModel(YARN).config;
    assert.equal(configLimits(yarn).maxPositions, 256);
    const longer = { ...yarn, rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 128 } };
    assert.equal(configLimits(longer).maxPositions, 512);
    assert.throws(() => configLimits({ ...yarn, model_type: 'llama' }, 'x'), (e: Error) => e instanceof ModelError && /^x: config.json: model_type "llama" is not supported/.test(e.message));
  });
});

describe('withYarn', () => {
  it('extends the context by the factor, keyed apart from the plain model, files untouched', () => {
    const src = resolveModel(SHARDED);
    const before = fs.readFileSync(path.join(SHARDED, 'config.json'));
    const x2 = withYarn(src, 2);
    assert.equal(configLimits(x2.config).maxPositions, 8192);
    assert.equal(configLimits(withYarn(src, 4).config).maxPositions, 16384);
    assert.deepEqual(x2.config.rope_scaling, { rope_type: 'yarn', factor: 2, original_max_position_embeddings: 4096 });
    assert.equal(JSON.parse(x2.configBytes.toString('utf8')).max_position_embeddings, 8192);
    assert.notEqual(cacheKey(x2, 'fp32', 'v1'), cacheKey(src, 'fp32', 'v1'));
    assert.notEqual(cacheKey(x2, 'fp32', 'v1'), cacheKey(withYarn(src, 4), 'fp32', 'v1'));
    assert.deepEqual(fs.readFileSync(path.join(SHARDED, 'config.json')), before);
    assert.equal(src.config.rope_scaling, undefined, 'the source object is not modified');
  });
  it('refuses other factors and a checkpoint that already scales its rotary', () => {
    const src = resolveModel(SHARDED);
    assert.throws(() => withYarn(src, 3), (e: Error) => e instanceof ModelError && /YaRN factor must be one of 2, 4, got 3/.test(e.message));
    assert.throws(() => withYarn(resolveModel(YARN), 2), (e: Error) => e instanceof ModelError && /already sets rope_scaling/.test(e.message));
  });
});

describe('conversion cache', () => {
  it('uses $REPO_LENS_CACHE when set', () => {
    assert.equal(cacheBase({ REPO_LENS_CACHE: '/x/y' }), path.resolve('/x/y'));
    assert.equal(cacheBase({ HOME: os.homedir() }), path.join(os.homedir(), '.cache', 'repo-lens'));
  });

  it('keys on converter version, storage, config, index and weight file stats', () => {
    const dir = copyFixture('keyed');
    const src = () => resolveModel(dir);
    const k0 = cacheKey(src(), 'fp32', 'v1');
    assert.match(k0, /^[0-9a-f]{64}$/);
    assert.equal(cacheKey(src(), 'fp32', 'v1'), k0, 'stable');
    assert.notEqual(cacheKey(src(), 'fp16', 'v1'), k0, 'storage');
    assert.notEqual(cacheKey(src(), 'fp32', 'v2'), k0, 'converter version');
    assert.equal(cacheKey(src(), 'fp32', 'v1', 'fp32', undefined), k0, 'default graph: same key as before');
    assert.notEqual(cacheKey(src(), 'fp32', 'v1', 'fp32', 'chunked'), k0, 'WebGPU attention graph');
    assert.notEqual(cacheKey(src(), 'fp32', 'v1', 'fp32', 'chunked', 'ops'), cacheKey(src(), 'fp32', 'v1', 'fp32', 'chunked'), 'plain-op rotary');
    assert.notEqual(cacheKey(src(), 'fp16', 'v1', 'fp16'), cacheKey(src(), 'fp16', 'v1'), 'fp16 matmuls');
    const shard = path.join(dir, 'model-00002-of-00002.safetensors');
    const st = fs.statSync(shard);
    fs.utimesSync(shard, st.atime, new Date(st.mtimeMs + 5000));
    const k1 = cacheKey(src(), 'fp32', 'v1');
    assert.notEqual(k1, k0, 'mtime');
    fs.appendFileSync(path.join(dir, 'model.safetensors.index.json'), ' ');
    const k2 = cacheKey(src(), 'fp32', 'v1');
    assert.notEqual(k2, k1, 'index bytes');
    fs.appendFileSync(path.join(dir, 'config.json'), ' ');
    assert.notEqual(cacheKey(src(), 'fp32', 'v1'), k2, 'config bytes');
  });

  it('converts once, then reuses the entry', async () => {
    const cacheDir = path.join(tmpRoot, 'cache-reuse');
    let calls = 0;
    const convert: ConvertFn = async (ckpt, out, o) => {
      calls++;
      assert.equal(ckpt, SHARDED);
      assert.equal(o.name, 'random-repo-bf16-sharded');
      fs.writeFileSync(path.join(out, 'model.onnx'), `onnx ${o.storage}`);
      fs.writeFileSync(path.join(out, 'model.onnx.data'), 'weights');
      return { onnxPath: path.join(out, 'model.onnx') };
    };
    const src = resolveModel(SHARDED);
    const first = await ensureConverted(src, { storage: 'fp16', converterVersion: 'v1', convert, cacheDir });
    assert.equal(first.hit, false);
    assert.equal(calls, 1);
    assert.equal(first.onnxPath, path.join(cacheDir, first.key, 'model.onnx'));
    assert.equal(fs.readFileSync(first.onnxPath, 'utf8'), 'onnx fp16');
    assert.ok(fs.existsSync(path.join(cacheDir, first.key, 'model.onnx.data')), 'side files move with the entry');
    const second = await ensureConverted(resolveModel(SHARDED), { storage: 'fp16', converterVersion: 'v1', convert, cacheDir });
    assert.equal(second.hit, true);
    assert.equal(second.onnxPath, first.onnxPath);
    assert.equal(calls, 1);
    // A new converter version is a different entry.
    const third = await ensureConverted(src, { storage: 'fp16', converterVersion: 'v2', convert, cacheDir });
    assert.equal(third.hit, false);
    assert.equal(calls, 2);
    assert.deepEqual(fs.readdirSync(cacheDir).sort(), [first.key, third.key].sort());
  });

  it('leaves nothing behind when the conversion fails half way', async () => {
    const cacheDir = path.join(tmpRoot, 'cache-fail');
    const convert: ConvertFn = async (_ckpt, out) => {
      fs.writeFileSync(path.join(out, 'model.onnx'), 'half');
      throw new Error('converter exploded');
    };
    await assert.rejects(ensureConverted(resolveModel(SHARDED), { storage: 'fp32', converterVersion: 'v1', convert, cacheDir }), /converter exploded/);
    assert.deepEqual(fs.readdirSync(cacheDir), []);
    // The next attempt converts again (no half entry was taken for a hit).
    let called = false;
    const ok: ConvertFn = async (_c, out) => {
      called = true;
      fs.writeFileSync(path.join(out, 'model.onnx'), 'ok');
      return { onnxPath: path.join(out, 'model.onnx') };
    };
    const r = await ensureConverted(resolveModel(SHARDED), { storage: 'fp32', converterVersion: 'v1', convert: ok, cacheDir });
    assert.ok(called);
    assert.equal(r.hit, false);
  });

  it('replaces an incomplete entry folder instead of trusting it', async () => {
    const cacheDir = path.join(tmpRoot, 'cache-incomplete');
    const src = resolveModel(SHARDED);
    const key = cacheKey(src, 'fp32', 'v1');
    fs.mkdirSync(path.join(cacheDir, key), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, key, 'model.onnx'), 'truncated');
    const r = await ensureConverted(src, {
      storage: 'fp32',
      converterVersion: 'v1',
      cacheDir,
      convert: async (_c, out) => {
        fs.writeFileSync(path.join(out, 'model.onnx'), 'complete');
        return { onnxPath: path.join(out, 'model.onnx') };
      },
    });
    assert.equal(r.hit, false);
    assert.equal(fs.readFileSync(r.onnxPath, 'utf8'), 'complete');
  });
});
