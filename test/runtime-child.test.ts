/**
 * InferenceHost over the child-process transport (what the VS Code extension uses): the same
 * protocol as the worker thread, but a native crash kills only the child. Random BF16 fixture,
 * one thread (the test machine is shared).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EngineError } from '../src/engine/runtime';
import { hostPool } from './helpers/hosts';

const ROOT = path.resolve(__dirname, '..', '..');
const MODEL = path.join(ROOT, 'test', 'fixtures', 'random-repo-bf16-sharded');
const { tmp, newHost } = hostPool('child-test', { transport: 'child-process', resultCacheBytes: 0 });

const TEXT = 'Notes: the vault code is 4721. Keep it safe.\nWhat is the vault code?\n';
const longText = (seed: string) => (seed + ' ').repeat(Math.ceil(3990 / (seed.length + 1))).slice(0, 3990) + '\nWhat is it?\n';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('InferenceHost over a child process', () => {
  it('gives the same result as the worker thread, typed arrays intact', async () => {
    const child = newHost();
    const worker = newHost({ transport: 'worker' });
    const needleRange = { start: TEXT.indexOf('4721'), end: TEXT.indexOf('4721') + 4 };
    const a = await child.analyze({ model: MODEL, text: TEXT, needleRange });
    const b = await worker.analyze({ model: MODEL, text: TEXT, needleRange });
    assert.ok(a.run.positions instanceof Float32Array && a.run.attention instanceof Float32Array);
    assert.deepEqual(a.run.positions, b.run.positions);
    assert.deepEqual(a.run.attention, b.run.attention);
    assert.deepEqual(a.encoding, b.encoding);
    assert.deepEqual(a.plan, b.plan);
    assert.equal(typeof child.inferencePid, 'number');
    assert.notEqual(child.inferencePid, process.pid);
    assert.equal(worker.inferencePid, undefined);
  });

  it('cancels a running request through the child, which stays alive for the next one', async () => {
    const host = newHost();
    await host.analyze({ model: MODEL, text: 'Warm up.\nQ?\n' });
    const pid = host.inferencePid;
    const ac = new AbortController();
    let abortedAt = 0;
    const p = host.analyze(
      { model: MODEL, text: longText('cancelled') },
      {
        signal: ac.signal,
        onProgress: (pr) => {
          if (pr.phase === 'running') {
            abortedAt = performance.now();
            ac.abort();
          }
        },
      },
    );
    await assert.rejects(p, { name: 'AbortError', code: 'ABORT_ERR' });
    assert.ok(abortedAt > 0, 'aborted while running');
    const next = await host.analyze({ model: MODEL, text: 'Next.\nQ?\n' });
    assert.equal(next.sessionReused, true);
    assert.equal(host.workerStarts, 1);
    assert.equal(host.inferencePid, pid, 'the same child process');
  });

  it('survives a native crash of the child (SIGSEGV mid-run): clear error, then a fresh child', async () => {
    const host = newHost();
    await host.analyze({ model: MODEL, text: 'Warm up.\nQ?\n' });
    const pid = host.inferencePid!;
    const running = host.analyze(
      { model: MODEL, text: longText('crashing') },
      { onProgress: (pr) => pr.phase === 'running' && process.kill(pid, 'SIGSEGV') },
    );
    const queued = host.analyze({ model: MODEL, text: 'Queued behind it.\nQ?\n' });
    for (const p of [running, queued]) {
      await assert.rejects(p, (e: EngineError) => {
        assert.equal(e.code, 'WORKER_CRASHED');
        assert.match(e.message, /^the inference process stopped unexpectedly \(killed by SIGSEGV\); the next analysis starts a new one$/);
        return true;
      });
    }
    assert.equal(alive(pid), false);
    const after = await host.analyze({ model: MODEL, text: 'After the crash.\nQ?\n' });
    assert.equal(after.sessionReused, false, 'the new child loaded the model again');
    assert.equal(host.workerStarts, 2);
    assert.notEqual(host.inferencePid, pid);
  });

  it('notices an exit while idle and a crash at the next run (test hooks)', async () => {
    const host = newHost();
    await host.analyze({ model: MODEL, text: 'Warm up.\nQ?\n' });
    await host.testCrashWorker('now');
    assert.equal(host.inferencePid, undefined);
    await host.testCrashWorker('next-run');
    await assert.rejects(host.analyze({ model: MODEL, text: 'Crash here.\nQ?\n' }), { code: 'WORKER_CRASHED', message: /\(exit code 70\)/ });
    const r = await host.analyze({ model: MODEL, text: 'Fine again.\nQ?\n' });
    assert.equal(r.run.T, 15);
    assert.equal(host.workerStarts, 3);
  });

  it('ends the child on dispose', async () => {
    const host = newHost();
    await host.analyze({ model: MODEL, text: 'Warm up.\nQ?\n' });
    const pid = host.inferencePid!;
    await host.dispose();
    assert.equal(alive(pid), false);
    await assert.rejects(host.analyze({ model: MODEL, text: TEXT }), { code: 'HOST_DISPOSED' });
  });
});

describe('the bundled inference child (dist/inference-child.js as the extension ships it)', () => {
  it('is built by esbuild and serves an analysis, converting the checkpoint inside the bundle', async () => {
    const { buildExtensionBundles } = await import('../src/build/bundles');
    // Inside the repository, so the bundle's require('onnxruntime-node') finds node_modules.
    const outDir = path.join(ROOT, 'out', 'test-dist');
    const [built] = await buildExtensionBundles({ outDir, only: ['child'] });
    assert.equal(path.basename(built.file), 'inference-child.js');
    const host = newHost({ workerPath: built.file, cacheDir: path.join(tmp, 'bundle-cache') });
    const r = await host.analyze({ model: MODEL, text: TEXT, autoNeedle: true, ablation: true });
    assert.equal(r.model.cache.hit, false, 'converted by the bundled converter');
    assert.ok(r.plan.needle && r.ablation);
    assert.equal(r.run.T, TEXT.length);
  });
});
