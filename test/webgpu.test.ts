/**
 * The WebGPU provider bundled with onnxruntime-node (--device webgpu, repoLens.executionProvider
 * "webgpu"): a clear message without an adapter, and on an adapter (a GPU, or lavapipe on the CPU,
 * test/helpers/webgpu.ts) the same analysis as the CPU across several attention blocks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import type { AnalyzeResult } from '../src/engine/runtime';
import { hostPool } from './helpers/hosts';
import { prepareWebgpu } from './helpers/webgpu';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'repo-lens.js');
const { tmp, newHost } = hostPool('repo-lens-webgpu-test-');

// 3 attention blocks (512 query rows each) and a needle in the middle one.
const FILLER = 'The archive lists shipments by date and port; nothing in it is unusual. ';
const TEXT = FILLER.repeat(8) + 'The locker code is 5190. ' + FILLER.repeat(7) + '\nWhat is the locker code?\n';

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('WebGPU provider', () => {
  it('without an adapter: one clear line, exit 1, no output file', () => {
    const out = path.join(tmp, 'none.json');
    const r = spawnSync(process.execPath, [BIN, 'analyze', '-', '--model', 'repo-tiny', '--device', 'webgpu', '--threads', '1', '--json', out], {
      input: TEXT,
      encoding: 'utf8',
      // No Vulkan driver at all: the loader finds no device, so Dawn finds no adapter.
      env: { ...process.env, VK_DRIVER_FILES: path.join(tmp, 'no-such-icd.json'), VK_ICD_FILENAMES: path.join(tmp, 'no-such-icd.json'), REPO_LENS_CACHE: path.join(tmp, 'cli-cache') },
      timeout: 120_000,
    });
    assert.equal(r.status, 1, r.stderr);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('repo-lens:') && !/converting|converted/.test(l));
    assert.deepEqual(ours, ['repo-lens: WebGPU execution provider could not be loaded: Failed to get a WebGPU adapter: No supported adapters']);
    // Dawn prints its own adapter search to stderr (native, "at CheckVkSuccessImpl (….cpp:106)"); no JS stack.
    assert.ok(!/^\s+at .*\.js:\d+/m.test(r.stderr), 'no stack trace');
    assert.equal(fs.existsSync(out), false);
  });

  describe('on an adapter', () => {
    let skip: string | null = null;
    before(() => {
      skip = prepareWebgpu((l) => process.stdout.write(`webgpu setup: ${l}\n`));
    });

    it('analyses repo-tiny like the CPU: positions, query attention, logits', async (t) => {
      if (skip) return t.skip(skip);
      const req = { model: 'repo-tiny', text: TEXT, ablation: true };
      const gpu: AnalyzeResult = await newHost({ executionProvider: 'webgpu' }).analyze(req);
      const cpu: AnalyzeResult = await newHost({ executionProvider: 'cpu' }).analyze(req);
      assert.equal(gpu.executionProvider, 'webgpu');
      assert.equal(gpu.providerNote, 'WebGPU execution provider (requested)');
      assert.ok(gpu.run.T > 1024, `crosses two block boundaries (T = ${gpu.run.T})`);
      assert.deepEqual(gpu.plan, cpu.plan);
      // Its own cache entry: fp32 weights ('auto' on WebGPU) with the plain-op attention blocks.
      assert.notEqual(gpu.model.cache.key, cpu.model.cache.key);
      const entry = JSON.parse(fs.readFileSync(path.join(gpu.model.cache.dir, 'entry.json'), 'utf8'));
      assert.equal(entry.storage, 'fp32');
      // Measured: positions within 3e-4 of the CPU (they reach a few hundred), attention within 1e-6.
      assert.ok(maxAbsDiff(gpu.run.positions, cpu.run.positions) < 1e-2, 'positions');
      assert.ok(maxAbsDiff(gpu.run.attention, cpu.run.attention) < 1e-4, 'query attention');
      assert.ok(maxAbsDiff(gpu.run.lastLogits, cpu.run.lastLogits) < 1e-3, 'last logits');
      assert.ok(gpu.ablation && cpu.ablation);
      assert.ok(maxAbsDiff(gpu.ablation.attention, cpu.ablation.attention) < 1e-4, 'integer-position pass');
    });
  });
});
