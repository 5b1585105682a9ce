import test from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, expectedWeights, openCheckpoint, parseConfig } from '../src/engine/checkpoint';
import { convertCheckpoint } from '../src/engine/model/convert';
import { FIXTURES, REPO_ROOT, copyFixture, readRawSafetensors, tmpDir, writeRawSafetensors } from './helpers/checkpoints';

const base = {
  model_type: 'olmo2', vocab_size: 100, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 6,
  num_attention_heads: 4, num_key_value_heads: 4, rms_norm_eps: 1e-6, rope_theta: 500000, max_position_embeddings: 4096,
};
const fixtureConfig = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'config.json'), 'utf8'));

function refusesSync(fn: () => unknown, ...fragments: string[]) {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${e.name}: ${e.message}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

/** The refusal must come from convertCheckpoint too, and leave nothing behind in outDir. */
async function conversionRefuses(dir: string, ...fragments: string[]) {
  const out = tmpDir('refused-out');
  await assert.rejects(convertCheckpoint(dir, out), (e: Error) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${e.name}: ${e.message}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
  assert.deepStrictEqual(fs.readdirSync(out), []);
}

// ---- config.json ---------------------------------------------------------------------------------

test('the misspelled dynmaic_* keys win over the correct spelling', () => {
  const a = parseConfig(fixtureConfig('random-repo-bf16-sharded'));
  assert.deepStrictEqual(a.repoLayers, [2, 3]);
  assert.strictEqual(a.peMode, 'swigluex_multihead');
  const b = parseConfig({
    ...base,
    pe_config: { dynamic_pe_mode: 'swigluex_multihead', dynamic_pe_layer_ids: '0,1', dynmaic_pe_layer_ids: '4, 2' },
  });
  assert.deepStrictEqual(b.repoLayers, [2, 4]);
});

test('layer ids: explicit list, empty → every layer from the start layer, missing start → 0', () => {
  assert.deepStrictEqual(parseConfig(fixtureConfig('random-repo-f16-yarn')).repoLayers, [1, 3]);
  const p = (pe: object) => parseConfig({ ...base, pe_config: { dynamic_pe_mode: 'swigluex_multihead', ...pe } }).repoLayers;
  assert.deepStrictEqual(p({ dynamic_pe_start_layer: 4, dynamic_pe_layer_ids: '' }), [4, 5]);
  assert.deepStrictEqual(p({ dynamic_pe_layer_ids: '' }), [0, 1, 2, 3, 4, 5]);
  assert.deepStrictEqual(p({ dynmaic_pe_start_layer: 3 }), [3, 4, 5]);
  refusesSync(() => p({ dynamic_pe_layer_ids: '1,9' }), '"9"', '0..5');
  refusesSync(() => p({ dynamic_pe_layer_ids: '1,x' }), '"x"');
});

test('pe modes: nope needs no position weights; unknown modes are refused; no pe_config is plain OLMo-2', () => {
  const nope = parseConfig({ ...base, pe_config: { dynmaic_pe_mode: 'nope', dynmaic_pe_start_layer: 2 } });
  assert.strictEqual(nope.peMode, 'nope');
  assert.deepStrictEqual(nope.repoLayers, [2, 3, 4, 5]);
  assert.ok(!expectedWeights(nope).some((w) => w.name.includes('_map')));
  const repo = parseConfig({ ...base, pe_config: { dynamic_pe_mode: 'swigluex_multihead', dynamic_pe_start_layer: 5 } });
  assert.deepStrictEqual(
    expectedWeights(repo).filter((w) => w.name.includes('_map')).map((w) => [w.name, w.shape]),
    [
      ['model.layers.5.self_attn.gate_map.weight', [8, 64]],
      ['model.layers.5.self_attn.content_map.weight', [8, 64]],
      ['model.layers.5.self_attn.final_map.weight', [4, 8]],
    ],
  );
  refusesSync(() => parseConfig({ ...base, pe_config: { dynamic_pe_mode: 'sinusoid' } }), '"sinusoid"');
  const plain = parseConfig(base);
  assert.strictEqual(plain.peMode, null);
  assert.deepStrictEqual(plain.repoLayers, []);
});

test('refuses unsupported model types, grouped KV heads and other rope scalings', () => {
  refusesSync(() => parseConfig({ ...base, model_type: 'llama' }), '"llama"', 'olmo2');
  refusesSync(() => parseConfig({ ...base, num_key_value_heads: 2 }), 'num_key_value_heads (2)', 'num_attention_heads (4)');
  refusesSync(() => parseConfig({ ...base, rope_scaling: { rope_type: 'linear', factor: 2 } }), '"linear"');
  refusesSync(() => parseConfig({ ...base, vocab_size: undefined }), '"vocab_size" is missing');
  refusesSync(() => parseConfig({ ...base, hidden_size: 64.5 }), '"hidden_size" must be an integer');
});

test('YaRN: inv_freq and attention factor equal torch\'s float32 values bit for bit', () => {
  // test/data/rope-golden.json holds torch's rope_inv_freq() output for several configurations
  // (made by test/data/make-rope-golden.py with the reference implementation).
  const cases = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'data', 'rope-golden.json'), 'utf8'));
  assert.ok(cases.length >= 8);
  let yarn = 0;
  for (const c of cases) {
    const arch = parseConfig({ model_type: 'olmo2', ...c.config });
    const bits = Array.from(new Int32Array(arch.rope.invFreq.buffer));
    assert.deepStrictEqual(bits, c.invFreqBits, `inv_freq for ${JSON.stringify(c.config)}`);
    assert.strictEqual(arch.rope.attentionFactor, c.attentionFactor);
    assert.strictEqual(Math.fround(arch.rope.attentionFactor), c.attentionFactorF32);
    if (arch.rope.type === 'yarn') yarn++;
  }
  assert.ok(yarn >= 4, 'the golden set covers YaRN');
  const y = parseConfig(fixtureConfig('random-repo-f16-yarn'));
  assert.strictEqual(y.rope.type, 'yarn');
  assert.strictEqual(y.maxPositions, 256);
  assert.ok(Math.abs(y.rope.attentionFactor - (0.1 * Math.log(2) + 1)) < 1e-15);
});

// ---- weights -------------------------------------------------------------------------------------

/** Copy of a fixture with some header entries removed or changed (data untouched). */
function editFixture(name: string, file: string, edit: (header: Record<string, any>) => void): string {
  const dir = copyFixture(name);
  const { header, data } = readRawSafetensors(path.join(dir, file));
  edit(header);
  writeRawSafetensors(path.join(dir, file), header, data);
  return dir;
}

test('the committed fixtures validate', async () => {
  for (const name of ['random-repo-bf16-sharded', 'random-repo-f16-yarn']) {
    const ck = await openCheckpoint(path.join(FIXTURES, name));
    assert.strictEqual(ck.specs.length, ck.weights.tensors.size, `${name}: every tensor is used`);
  }
});

for (const map of ['gate_map', 'content_map', 'final_map']) {
  test(`refuses a RePo config whose ${map} weight is missing (never falls back to integer RoPE)`, async () => {
    const weight = `model.layers.3.self_attn.${map}.weight`;
    const dir = editFixture('random-repo-f16-yarn', 'model.safetensors', (h) => delete h[weight]);
    await conversionRefuses(dir, `"${weight}"`, 'RePo layer', 'integer RoPE');
  });
}

test('refuses a RePo config when the checkpoint has no position modules at all', async () => {
  const dir = editFixture('random-repo-f16-yarn', 'model.safetensors', (h) => {
    for (const k of Object.keys(h)) if (k.includes('_map.')) delete h[k];
  });
  await conversionRefuses(dir, 'missing RePo weight', 'model.layers.1.self_attn.gate_map.weight');
});

test('refuses position-module weights the config does not declare (e.g. a lost pe_config)', async () => {
  const dir = copyFixture('random-repo-f16-yarn');
  const cfgPath = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  delete cfg.pe_config;
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  await conversionRefuses(dir, 'has RePo weight', 'model.layers.1.self_attn');
});

test('refuses a weight with the wrong shape, naming it and both shapes', async () => {
  const dir = editFixture('random-repo-f16-yarn', 'model.safetensors', (h) => {
    h['model.layers.2.self_attn.q_proj.weight'].shape = [32, 128]; // same byte size, wrong shape
  });
  await conversionRefuses(dir, '"model.layers.2.self_attn.q_proj.weight"', '[32, 128]', '[64, 64]');
});

test('refuses a missing ordinary weight and an untied missing lm_head', async () => {
  const dir = editFixture('random-repo-f16-yarn', 'model.safetensors', (h) => delete h['lm_head.weight']);
  await conversionRefuses(dir, 'missing weight "lm_head.weight"');
});

test('refuses an unsupported model_type from the folder', async () => {
  const dir = copyFixture('random-repo-f16-yarn');
  const cfgPath = path.join(dir, 'config.json');
  fs.writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgPath, 'utf8')), model_type: 'mistral' }));
  await conversionRefuses(dir, '"mistral"');
});

test('refuses a truncated shard and a missing shard (as CheckpointError, naming the shard)', async () => {
  const dir = copyFixture('random-repo-bf16-sharded');
  const shard = path.join(dir, 'model-00001-of-00002.safetensors');
  fs.truncateSync(shard, fs.statSync(shard).size - 1);
  await conversionRefuses(dir, 'model-00001-of-00002.safetensors', 'truncated');
  const dir2 = copyFixture('random-repo-bf16-sharded');
  fs.unlinkSync(path.join(dir2, 'model-00002-of-00002.safetensors'));
  await conversionRefuses(dir2, 'model-00002-of-00002.safetensors', 'missing');
});

test('refuses a header lying about tensor sizes', async () => {
  const dir = editFixture('random-repo-bf16-sharded', 'model-00002-of-00002.safetensors', (h) => {
    const k = Object.keys(h).find((n) => n !== '__metadata__')!;
    h[k].shape = [h[k].shape[0] + 1, ...h[k].shape.slice(1)];
  });
  await conversionRefuses(dir, 'model-00002-of-00002.safetensors', 'data_offsets span');
});

test('refuses a folder without config.json or weights', async () => {
  await conversionRefuses(tmpDir('empty'), 'config.json');
  const dir = tmpDir('noweights');
  fs.copyFileSync(path.join(FIXTURES, 'random-repo-f16-yarn', 'config.json'), path.join(dir, 'config.json'));
  await conversionRefuses(dir, 'model.safetensors');
});
