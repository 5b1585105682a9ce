/**
 * Time and peak-memory benchmark of the main-attention implementations. Not a test: it does
 * nothing unless REPO_LENS_BENCH=1 (node --test also loads files under test/).
 *
 *   REPO_LENS_BENCH=1 node out/test/helpers/bench.js [impls] [lengths] [threads]
 *   e.g. REPO_LENS_BENCH=1 node out/test/helpers/bench.js chunked:256,full,mha 1024,4096 1
 *
 * Each (implementation, length) runs in its own child process, so peak RSS is not polluted by
 * earlier runs; the child reports RSS after loading the session and the process peak after runs.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { convertCheckpoint } from '../../src/engine/model/convert';
import { RePoSession } from '../../src/engine/model/session';
import { AttentionImpl } from '../../src/engine/onnx/repo-olmo2';
import { makeRandomCheckpoint, TINY, tmpDir } from './checkpoints';

async function child(onnxPath: string, T: number, threads: number): Promise<void> {
  const s = await RePoSession.open(onnxPath, { executionProvider: 'cpu', threads });
  const rssLoaded = process.memoryUsage().rss;
  const ids = Array.from({ length: T }, (_, i) => (i * 7919) % s.info.vocabSize);
  const rows = [T - 1, Math.floor(T / 2)];
  const times: number[] = [];
  for (let i = 0; i < 2; i++) {
    const t0 = process.hrtime.bigint();
    await s.run({ ids, queryRows: rows, integerPositions: false });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ rssLoaded, peak, ms: Math.min(...times) }) + '\n');
  await s.dispose();
}

async function main(): Promise<void> {
  const [, , a, b, c, d] = process.argv;
  if (a === '--child') return child(b, Number(c), Number(d));
  const impls = (a ?? 'chunked:256,full,mha,attention23').split(',');
  const lengths = (b ?? '1024,4096').split(',').map(Number);
  const threads = Number(c ?? 1);
  const ckpt = tmpDir('bench-ckpt');
  makeRandomCheckpoint(ckpt, TINY);
  const mb = (x: number) => (x / 2 ** 20).toFixed(0);
  for (const spec of impls) {
    const [impl, chunk] = spec.split(':');
    const out = tmpDir(`bench-${impl}`);
    const { onnxPath } = await convertCheckpoint(ckpt, out, { attention: impl as AttentionImpl, chunk: chunk ? Number(chunk) : undefined });
    for (const T of lengths) {
      try {
        const res = JSON.parse(
          execFileSync(process.execPath, [__filename, '--child', onnxPath, String(T), String(threads)], {
            env: { ...process.env, REPO_LENS_BENCH: '1' },
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
          }).trim().split('\n').pop()!,
        );
        console.log(`${spec.padEnd(14)} T=${String(T).padStart(6)}  ${res.ms.toFixed(0).padStart(7)} ms  ` +
          `RSS loaded ${mb(res.rssLoaded)} MiB  peak ${mb(res.peak)} MiB  (+${mb(res.peak - res.rssLoaded)})`);
      } catch (e) {
        console.log(`${spec.padEnd(14)} T=${String(T).padStart(6)}  failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  void path;
}

if (process.env.REPO_LENS_BENCH === '1') {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
