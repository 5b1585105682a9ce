/**
 * The hub downloader against a local stand-in for the Hugging Face hub (test/helpers/fake-hub.ts):
 * a 302 to a "CDN" on another port for LFS files, X-Linked-Etag / X-Linked-Size, Range, the hub's
 * error codes. It serves the random sharded BF16 fixture (two shards, ≈ 360 KB), so a finished
 * download can be resolved as a model like any checkpoint folder.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  DownloadError,
  DownloadOptions,
  DownloadProgress,
  MANIFEST_FILE,
  downloadModel,
  downloadState,
  formatBytes,
  formatDuration,
  listDownloaded,
  modelDir,
  parseRepoSpec,
  progressLine,
  proxyForUrl,
  proxyFromEnv,
  resolveUrl,
} from '../src/engine/download';
import { resolveModel } from '../src/engine/models';
import { proxyFromVscodeSettings, repoInputProblem } from '../src/extension/core/download';
import { ConnectProxy, FakeHub } from './helpers/fake-hub';

const ROOT = path.resolve(__dirname, '..', '..');
const SHARDED = path.join(ROOT, 'test', 'fixtures', 'random-repo-bf16-sharded');
const UNSHARDED = path.join(ROOT, 'test', 'fixtures', 'random-repo-f16-yarn');
const SHARD1 = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';
const REPO = 'test-org/RePo-tiny-sharded';
const TOKENIZER = Buffer.from(JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: {}, merges: [] } }));
const TOKENIZER_CONFIG = Buffer.from(JSON.stringify({ eos_token: '<|endoftext|>' }));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-download-test-'));
// resolveModel reads the cache root from the environment; this file runs in its own process.
process.env.REPO_LENS_CACHE = path.join(tmp, 'default-cache');
const hub = new FakeHub();
let cacheCount = 0;
let cache = '';

before(async () => {
  await hub.start();
  hub.addRepo(REPO, FakeHub.folderFiles(SHARDED, { 'tokenizer.json': TOKENIZER, 'tokenizer_config.json': TOKENIZER_CONFIG }));
  hub.addRepo('test-org/unsharded', FakeHub.folderFiles(UNSHARDED));
  hub.addRepo('test-org/gated', FakeHub.folderFiles(SHARDED), { gatedToken: 'hf_secret' });
});
after(async () => {
  await hub.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  hub.fault = {};
  hub.log.length = 0;
  cache = path.join(tmp, `cache-${++cacheCount}`);
});

/** Options for a download from the fake hub into this test's cache, with no environment. */
function opts(extra: Partial<DownloadOptions> = {}): DownloadOptions {
  return { repoId: REPO, cacheRoot: cache, endpoint: hub.endpoint, env: {}, retries: 0, retryDelayMs: 0, ...extra };
}

function dirOf(repoId = REPO, revision = 'main'): string {
  return modelDir(cache, { repoId, revision });
}

function assertSameFile(got: string, want: string): void {
  assert.ok(fs.readFileSync(got).equals(fs.readFileSync(want)), `${path.basename(got)} differs from the fixture`);
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<DownloadError> {
  let err: unknown;
  await assert.rejects(p, (e) => ((err = e), true));
  assert.ok(err instanceof DownloadError, `expected a DownloadError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, message);
  assert.ok(!err.message.includes('\n'), 'one line');
  return err;
}

describe('downloadModel from a hub-like server', () => {
  it('downloads config, index, shards and tokenizer files, verified, and the folder resolves as a model', async () => {
    const events: DownloadProgress[] = [];
    const r = await downloadModel(opts({ token: 'hf_public_token', onProgress: (p) => events.push(p) }));
    const dir = dirOf();
    assert.equal(r.dir, dir);
    assert.equal(r.spec, REPO);
    assert.match(r.commit ?? '', /^[0-9a-f]{40}$/);
    assert.equal(r.alreadyComplete, false);
    for (const f of ['config.json', 'model.safetensors.index.json', SHARD1, SHARD2]) assertSameFile(path.join(dir, f), path.join(SHARDED, f));
    assert.ok(fs.readFileSync(path.join(dir, 'tokenizer.json')).equals(TOKENIZER));
    assert.ok(fs.readFileSync(path.join(dir, 'tokenizer_config.json')).equals(TOKENIZER_CONFIG));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.partial') || f.includes('.lock')), []);
    const shard = r.files.find((f) => f.name === SHARD1)!;
    assert.match(shard.sha256 ?? '', /^[0-9a-f]{64}$/, 'LFS files are checked against the hub sha256');
    const weights = fs.statSync(path.join(SHARDED, SHARD1)).size + fs.statSync(path.join(SHARDED, SHARD2)).size;
    assert.equal(r.fetchedBytes, weights + TOKENIZER.length + TOKENIZER_CONFIG.length);
    assert.equal(downloadState(dir).state, 'complete');

    // The token went to the hub, and never to the file host it redirected to.
    const hubReqs = hub.log.filter((x) => x.server === 'hub');
    assert.ok(hubReqs.length > 0 && hubReqs.every((x) => x.headers.authorization === 'Bearer hf_public_token'));
    assert.ok(hub.cdnRequests().length >= 2);
    assert.ok(hub.cdnRequests().every((x) => x.headers.authorization === undefined), 'token sent to the CDN');
    // After the first answer, files are asked for at the commit it named, so they all match.
    assert.ok(hubReqs.slice(1).every((x) => x.url.includes(`/resolve/${r.commit}/`)));

    const last = events.at(-1)!;
    assert.equal(last.phase, 'done');
    assert.equal(last.bytes, last.totalBytes);
    assert.ok(events.some((e) => e.phase === 'downloading' && e.file === SHARD2 && e.fileBytes > 0));
    assert.ok(events.every((e, i) => i === 0 || e.fetchedBytes >= events[i - 1].fetchedBytes));

    const src = resolveModel(REPO_SPEC_IN(cache));
    assert.equal(src.dir, dir);
    assert.equal(src.name, REPO);
    assert.deepEqual(src.weightFiles.map((f) => path.basename(f)), [SHARD1, SHARD2]);

    // A second run fetches nothing and rewrites nothing (shard mtimes key the ONNX cache).
    const mtime = fs.statSync(path.join(dir, SHARD1)).mtimeMs;
    hub.log.length = 0;
    const again = await downloadModel(opts());
    assert.equal(again.alreadyComplete, true);
    assert.equal(again.fetchedBytes, 0);
    assert.deepEqual(hub.cdnRequests(), []);
    assert.equal(fs.statSync(path.join(dir, SHARD1)).mtimeMs, mtime);

    const listed = listDownloaded(cache);
    assert.deepEqual(listed.map((d) => [d.spec, d.complete]), [[REPO, true]]);
  });

  it('resumes a shard whose connection was cut, fetching only the rest with a Range request', async () => {
    hub.fault = { hold: SHARD2 };
    const first = downloadModel(opts());
    await hub.whenHeld();
    hub.cut();
    const err = await rejectsWith(first, 'NETWORK', /connection .*model-00002-of-00002\.safetensors.*run the download again to resume/);
    assert.equal(err.resumable, true);
    const dir = dirOf();
    const kept = fs.statSync(path.join(dir, `${SHARD2}.partial`)).size;
    const size = fs.statSync(path.join(SHARDED, SHARD2)).size;
    assert.ok(kept > 0 && kept < size, `kept ${kept} of ${size}`);
    assert.ok(!fs.existsSync(path.join(dir, SHARD2)), 'no final file for the cut shard');
    assertSameFile(path.join(dir, SHARD1), path.join(SHARDED, SHARD1));
    assert.equal(downloadState(dir).state, 'incomplete');
    assert.throws(() => resolveModel(REPO_SPEC_IN(cache)), /not completely downloaded .*run `repo-lens download test-org\/RePo-tiny-sharded` to finish it/);

    hub.fault = {};
    hub.log.length = 0;
    const r = await downloadModel(opts());
    const cdn = hub.cdnRequests(SHARD2);
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0].headers.range, `bytes=${kept}-`);
    assert.equal(cdn[0].status, 206);
    assert.equal(cdn[0].sent, size - kept);
    assert.deepEqual(hub.cdnRequests(SHARD1), [], 'the finished shard is not fetched again');
    assert.equal(r.files.find((f) => f.name === SHARD2)!.resumedFrom, kept);
    assertSameFile(path.join(dir, SHARD2), path.join(SHARDED, SHARD2));
    assert.equal(downloadState(dir).state, 'complete');
  });

  it('resumes on its own after a cut when retries are allowed', async () => {
    hub.fault = { hold: SHARD1 };
    let cutDone = false;
    const r = await downloadModel(
      opts({
        retries: 2,
        onProgress: (p) => {
          if (!cutDone && p.file === SHARD1 && p.fileBytes > 0) {
            cutDone = true;
            hub.fault = {};
            void hub.whenHeld().then(() => hub.cut());
          }
        },
      }),
    );
    const reqs = hub.cdnRequests(SHARD1);
    assert.equal(reqs.length, 2);
    assert.match(String(reqs[1].headers.range), /^bytes=[1-9]\d*-$/);
    assertSameFile(path.join(r.dir, SHARD1), path.join(SHARDED, SHARD1));
  });

  it('starts a shard again when the server ignores Range', async () => {
    hub.fault = { hold: SHARD1 };
    const first = downloadModel(opts());
    await hub.whenHeld();
    hub.cut();
    await rejectsWith(first, 'NETWORK', /resume/);
    hub.fault = { ignoreRange: true };
    hub.log.length = 0;
    const r = await downloadModel(opts());
    const reqs = hub.cdnRequests(SHARD1);
    assert.equal(reqs.length, 1);
    assert.ok(reqs[0].headers.range);
    assert.equal(reqs[0].status, 200);
    assert.equal(r.files.find((f) => f.name === SHARD1)!.resumedFrom, undefined);
    assertSameFile(path.join(r.dir, SHARD1), path.join(SHARDED, SHARD1));
  });

  it('detects a corrupted byte by its sha256: no file placed, the partial deleted, a clean run succeeds', async () => {
    hub.fault = { corrupt: SHARD2 };
    await rejectsWith(downloadModel(opts()), 'HASH_MISMATCH', /model-00002-of-00002\.safetensors is corrupted: its sha256 .* the bad download was deleted, run again/);
    const dir = dirOf();
    assert.ok(!fs.existsSync(path.join(dir, SHARD2)));
    assert.ok(!fs.existsSync(path.join(dir, `${SHARD2}.partial`)));
    assertSameFile(path.join(dir, SHARD1), path.join(SHARDED, SHARD1));
    hub.fault = {};
    hub.log.length = 0;
    await downloadModel(opts());
    assert.deepEqual(hub.cdnRequests(SHARD1), []);
    assertSameFile(path.join(dir, SHARD2), path.join(SHARDED, SHARD2));
  });

  it('refuses a shard whose size differs from what the hub announced', async () => {
    hub.fault = { wrongSize: SHARD1 };
    await rejectsWith(downloadModel(opts()), 'SIZE_MISMATCH', /model-00001-of-00002\.safetensors: the hub announced \d+ bytes but the file host serves \d+/);
    const dir = dirOf();
    assert.ok(!fs.existsSync(path.join(dir, SHARD1)));
    assert.ok(!fs.existsSync(path.join(dir, `${SHARD1}.partial`)));
    assert.notEqual(downloadState(dir).state, 'complete');
  });

  it('cancels mid-shard leaving the cache usable, and a later run resumes', async () => {
    hub.fault = { hold: SHARD1 };
    const ac = new AbortController();
    const p = downloadModel(opts({ signal: ac.signal, onProgress: (e) => e.file === SHARD1 && e.fileBytes > 0 && ac.abort() }));
    await assert.rejects(p, (e: Error) => e.name === 'AbortError');
    const dir = dirOf();
    const kept = fs.statSync(path.join(dir, `${SHARD1}.partial`)).size;
    assert.ok(kept > 0);
    assert.ok(!fs.existsSync(path.join(dir, '.repo-lens-download.lock')), 'lock released');
    for (const f of ['config.json', 'model.safetensors.index.json', 'tokenizer.json']) assert.ok(fs.existsSync(path.join(dir, f)), f);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')).complete, false);

    hub.fault = {};
    hub.log.length = 0;
    await downloadModel(opts());
    assert.equal(hub.cdnRequests(SHARD1)[0].headers.range, `bytes=${kept}-`);
    assertSameFile(path.join(dir, SHARD1), path.join(SHARDED, SHARD1));
    assert.equal(downloadState(dir).state, 'complete');
  });

  it('refuses a second download of the same folder while one runs', async () => {
    hub.fault = { hold: SHARD1 };
    const ac = new AbortController();
    const first = downloadModel(opts({ signal: ac.signal }));
    await hub.whenHeld();
    await rejectsWith(downloadModel(opts()), 'BUSY', /already being downloaded/);
    ac.abort();
    await assert.rejects(first, (e: Error) => e.name === 'AbortError');
  });

  it('says so when the folder is moved away while downloading', async () => {
    let moved = false;
    const dir = dirOf();
    await rejectsWith(
      downloadModel(
        opts({
          onProgress: (p) => {
            if (!moved && p.file === SHARD1 && p.fileBytes > 0) {
              moved = true;
              fs.renameSync(dir, `${dir}-moved`);
            }
          },
        }),
      ),
      'FOLDER_MOVED',
      /was moved or deleted while in use.*run the download again/,
    );
  });

  it('stops with a clear message when the disk fills up, keeping the bytes written for a resume', async () => {
    const realOpen = fs.promises.open;
    let writes = 0;
    // The second write into the shard's .partial fails as a full disk would.
    fs.promises.open = (async (...a: Parameters<typeof realOpen>) => {
      const fh = await realOpen(...a);
      if (!String(a[0]).endsWith(`${SHARD2}.partial`)) return fh;
      const write = fh.write.bind(fh) as (...x: unknown[]) => Promise<unknown>;
      (fh as unknown as { write: unknown }).write = async (...x: unknown[]) => {
        if (++writes === 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return write(...x);
      };
      return fh;
    }) as typeof realOpen;
    hub.fault = { hold: SHARD2 };
    try {
      const p = downloadModel(opts({ retries: 3 }));
      await hub.whenHeld();
      hub.cut();
      const err = await rejectsWith(p, 'DISK_FULL', /the disk holding .* is full .*free some space and run again: the download resumes where it stopped/);
      assert.equal(err.resumable, true);
    } finally {
      fs.promises.open = realOpen;
    }
    const dir = dirOf();
    const kept = fs.statSync(path.join(dir, `${SHARD2}.partial`)).size;
    assert.ok(kept > 0, 'the bytes written before the disk filled are kept');
    assert.ok(!fs.existsSync(path.join(dir, SHARD2)));
    hub.fault = {};
    hub.log.length = 0;
    await downloadModel(opts());
    assert.equal(hub.cdnRequests(SHARD2)[0].headers.range, `bytes=${kept}-`);
    assertSameFile(path.join(dir, SHARD2), path.join(SHARDED, SHARD2));
  });

  it('downloads an unsharded checkpoint (no index on the hub)', async () => {
    const r = await downloadModel(opts({ repoId: 'test-org/unsharded' }));
    assertSameFile(path.join(r.dir, 'model.safetensors'), path.join(UNSHARDED, 'model.safetensors'));
    assert.ok(!fs.existsSync(path.join(r.dir, 'model.safetensors.index.json')));
    assert.ok(r.warnings.some((w) => /no tokenizer\.json/.test(w)));
    assert.equal(downloadState(r.dir).state, 'complete');
  });

  it('checks free disk space before fetching anything large', async () => {
    await rejectsWith(downloadModel(opts({ freeBytes: async () => 1000 })), 'NO_SPACE', /not enough free disk space .*the disk has 1\.00 kB free/);
    assert.deepEqual(hub.cdnRequests(), []);
  });

  it('explains a repo that does not exist, a gated one without a token, and a missing revision', async () => {
    await rejectsWith(downloadModel(opts({ repoId: 'test-org/no-such-model' })), 'REPO_NOT_FOUND', /test-org\/no-such-model was not found on http:\/\/127\.0\.0\.1:\d+ \(a private repository needs HF_TOKEN\)/);
    await rejectsWith(downloadModel(opts({ repoId: 'test-org/gated' })), 'AUTH_REQUIRED', /refused config\.json \(401\): test-org\/gated is gated: accept its conditions at .*, set HF_TOKEN/);
    await rejectsWith(downloadModel(opts({ repoId: 'test-org/gated', token: 'hf_wrong' })), 'ACCESS_DENIED', /with the token in HF_TOKEN/);
    await rejectsWith(downloadModel(opts({ revision: 'v9' })), 'REVISION_NOT_FOUND', /has no revision "v9"/);
    await rejectsWith(downloadModel(opts({ repoId: 'not a repo' })), 'BAD_REQUEST', /not a Hugging Face repo id/);
    // Nothing is left behind for a repo that was never found.
    assert.ok(!fs.existsSync(path.dirname(dirOf('test-org/no-such-model'))));
    assert.deepEqual(listDownloaded(cache), []);

    const r = await downloadModel(opts({ repoId: 'test-org/gated', env: { HF_TOKEN: 'hf_secret' } }));
    assert.equal(downloadState(r.dir).state, 'complete');
    assert.ok(hub.cdnRequests().length > 0 && hub.cdnRequests().every((x) => x.headers.authorization === undefined));
  });

  it('goes through an HTTP(S) proxy given by the environment, and not for NO_PROXY hosts', async () => {
    const proxy = new ConnectProxy();
    await proxy.start();
    try {
      const r = await downloadModel(opts({ env: { HF_ENDPOINT: hub.endpoint, HTTP_PROXY: proxy.url }, endpoint: undefined }));
      assertSameFile(path.join(r.dir, SHARD2), path.join(SHARDED, SHARD2));
      const hubHost = new URL(hub.endpoint).host;
      const cdnHost = new URL(hub.cdnOrigin).host;
      assert.ok(proxy.targets.includes(hubHost), `tunnelled to ${proxy.targets.join(', ')}`);
      assert.ok(proxy.targets.includes(cdnHost));
      proxy.targets.length = 0;
      cache = path.join(tmp, `cache-${++cacheCount}`);
      await downloadModel(opts({ env: { HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' } }));
      assert.deepEqual(proxy.targets, []);
    } finally {
      await proxy.stop();
    }
  });
});

describe('hub naming and proxy rules', () => {
  it('reads repo ids and revisions and builds resolve URLs', () => {
    assert.deepEqual(parseRepoSpec('SakanaAI/RePo-OLMo2-1B-stage2-L5'), { repoId: 'SakanaAI/RePo-OLMo2-1B-stage2-L5', revision: 'main' });
    assert.deepEqual(parseRepoSpec('a/b@refs/pr/1'), { repoId: 'a/b', revision: 'refs/pr/1' });
    for (const notRepo of ['./a/b', '/a/b', '~/a/b', 'a/b/c', 'a', 'a--x/b', 'a/..', 'C:/x', 'a/b@']) assert.equal(parseRepoSpec(notRepo), null, notRepo);
    assert.equal(resolveUrl('https://huggingface.co/', 'a/b', 'refs/pr/1', 'sub dir/x.json'), 'https://huggingface.co/a/b/resolve/refs%2Fpr%2F1/sub%20dir/x.json');
    assert.equal(path.basename(modelDir('/c', { repoId: 'a/b', revision: 'refs/pr/1' })), 'refs%2Fpr%2F1');
    assert.equal(path.basename(path.dirname(modelDir('/c', { repoId: 'a/b', revision: 'main' }))), 'a--b');
  });

  it('picks the proxy the way curl does', () => {
    const env = proxyFromEnv({ HTTPS_PROXY: 'proxy.corp:3128', http_proxy: 'http://p2:80', NO_PROXY: 'internal.corp, .lan,10.0.0.1:8080' });
    assert.equal(proxyForUrl(new URL('https://huggingface.co/x'), env), 'http://proxy.corp:3128/');
    assert.equal(proxyForUrl(new URL('http://mirror.example/x'), env), 'http://p2/');
    assert.equal(proxyForUrl(new URL('https://a.internal.corp/x'), env), null);
    assert.equal(proxyForUrl(new URL('https://internal.corp/x'), env), null);
    assert.equal(proxyForUrl(new URL('https://box.lan/x'), env), null);
    assert.equal(proxyForUrl(new URL('http://10.0.0.1:8080/x'), env), null);
    assert.equal(proxyForUrl(new URL('http://10.0.0.1:8081/x'), env), 'http://p2/');
    assert.equal(proxyForUrl(new URL('https://x/'), proxyFromEnv({ ALL_PROXY: 'http://all:1', NO_PROXY: '*' })), null);
    assert.equal(proxyForUrl(new URL('https://x/'), proxyFromEnv({})), null);
    assert.throws(() => proxyForUrl(new URL('https://x/'), { https: 'socks5://user:pw@s:1' }), (e: Error) => /only http:\/\/ and https:\/\//.test(e.message) && !e.message.includes('pw'));
  });

  it('formats sizes, durations and progress', () => {
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(5_930_000_000), '5.93 GB');
    assert.equal(formatDuration(3725), '1h 02m');
    assert.equal(formatDuration(65), '1m 05s');
    assert.equal(formatDuration(null), '?');
    const line = progressLine({ phase: 'downloading', file: SHARD1, fileIndex: 1, fileCount: 2, fileBytes: 1e9, fileSize: 3e9, bytes: 1.5e9, totalBytes: 6e9, fetchedBytes: 1e9, bytesPerSecond: 5e7, etaSeconds: 90 });
    assert.equal(line, `1.50 GB of 6.00 GB (25%), 50.0 MB/s, 1m 30s left; ${SHARD1} (1/2)`);
  });
});

describe('repo-lens download and models (CLI)', () => {
  const BIN = path.join(ROOT, 'bin', 'repo-lens.js');
  // Asynchronous: the fake hub answers from this process's event loop.
  const cli = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: tmp, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('downloads into $REPO_LENS_CACHE/hub, lists it, and --model takes the repo id', async () => {
    const env = { REPO_LENS_CACHE: cache, HF_ENDPOINT: hub.endpoint };
    const run = await cli(['download', REPO], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`use it with: repo-lens analyze FILE --model ${REPO}`));
    assert.ok(run.stdout.includes(dirOf()));
    assert.match(run.stderr, /repo-lens: .*model-00001-of-00002\.safetensors/, 'progress lines on a non-terminal stderr');
    assert.equal(downloadState(dirOf()).state, 'complete');

    const models = await cli(['models'], env);
    assert.equal(models.code, 0, models.stderr);
    assert.match(models.stdout, new RegExp(`${REPO}  available`));

    const missing = await cli(['download', 'test-org/absent'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^repo-lens: test-org\/absent was not found on http:\/\/127\.0\.0\.1:\d+ \(a private repository needs HF_TOKEN\)\n$/);
    const bad = await cli(['download', 'x/y', '--revision', 'a b'], env);
    assert.equal(bad.code, 2);
  });

  it('says to run repo-lens download for a repo id that is not downloaded', async () => {
    const run = await cli(['analyze', path.join(ROOT, 'examples', 'rag-prompt.txt'), '--model', 'test-org/not-here'], { REPO_LENS_CACHE: cache });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^repo-lens: model test-org\/not-here is not a folder here and has not been downloaded: run `repo-lens download test-org\/not-here` to fetch it from the Hugging Face hub\n$/);
  });
});

describe('RePo Lens: Download Official Model (extension command, stand-in vscode)', () => {
  const Module = require('node:module') as { _load: (req: string, ...rest: unknown[]) => unknown };
  const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy', 'HF_TOKEN'];

  /** Loads src/extension/download.ts against a minimal vscode and runs its command once. */
  async function runCommand(ui: { input?: string; pick?: string; cancelWhen?: (message: string) => boolean; arg?: unknown }) {
    const calls = { reports: [] as string[], messages: [] as { kind: string; text: string; items: string[] }[], updates: [] as unknown[][], inputBox: 0 };
    let registered: ((arg?: unknown) => Promise<void>) | undefined;
    const vscode = {
      ProgressLocation: { Notification: 15 },
      ConfigurationTarget: { Global: 1 },
      commands: { registerCommand: (_id: string, f: (arg?: unknown) => Promise<void>) => ((registered = f), { dispose: () => undefined }) },
      workspace: {
        getConfiguration: (section: string) => ({
          get: (k: string) => (section === 'repoLens' && k === 'model' ? 'repo-tiny' : undefined),
          update: async (...a: unknown[]) => void calls.updates.push([section, ...a]),
        }),
      },
      window: {
        showInputBox: async () => (calls.inputBox++, ui.input),
        withProgress: async (_o: unknown, task: (p: unknown, t: unknown) => Promise<unknown>) => {
          let cancel: (() => void) | undefined;
          const progress = {
            report: (r: { message?: string }) => {
              calls.reports.push(r.message ?? '');
              if (cancel && ui.cancelWhen?.(r.message ?? '')) cancel();
            },
          };
          return task(progress, { isCancellationRequested: false, onCancellationRequested: (f: () => void) => ((cancel = f), { dispose: () => (cancel = undefined) }) });
        },
        showInformationMessage: async (text: string, ...items: string[]) => (calls.messages.push({ kind: 'info', text, items }), ui.pick),
        showWarningMessage: async (text: string, ...items: string[]) => void calls.messages.push({ kind: 'warning', text, items }),
        showErrorMessage: async (text: string, ...items: string[]) => void calls.messages.push({ kind: 'error', text, items }),
      },
    };
    const originalLoad = Module._load;
    const saved = Object.fromEntries([...PROXY_VARS, 'HF_ENDPOINT', 'REPO_LENS_CACHE'].map((k) => [k, process.env[k]]));
    Module._load = function (req: string, ...rest: unknown[]) {
      return req === 'vscode' ? vscode : originalLoad.call(this, req, ...rest);
    };
    try {
      for (const k of PROXY_VARS) delete process.env[k];
      process.env.HF_ENDPOINT = hub.endpoint;
      process.env.REPO_LENS_CACHE = cache;
      // Loaded afresh each time: the module keeps the vscode object it was loaded with.
      delete require.cache[require.resolve('../src/extension/download')];
      const { registerDownloadCommand } = require('../src/extension/download') as typeof import('../src/extension/download');
      registerDownloadCommand({ appendLine: () => undefined, show: () => undefined } as never);
      await registered!(ui.arg);
    } finally {
      Module._load = originalLoad;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    return calls;
  }

  it('asks for the model (the official one by default), shows progress, and offers to use it', async () => {
    const calls = await runCommand({ input: REPO, pick: 'Use This Model' });
    assert.equal(calls.inputBox, 1);
    assert.ok(calls.reports.some((m) => /of .* \(\d+%\)/.test(m)), calls.reports.join(' | '));
    const done = calls.messages.find((m) => m.kind === 'info')!;
    assert.match(done.text, new RegExp(`${REPO} is downloaded`));
    assert.deepEqual(done.items, ['Use This Model']);
    assert.deepEqual(calls.updates, [['repoLens', 'model', REPO, 1]]);
    assert.equal(downloadState(dirOf()).state, 'complete');
  });

  it('cancelling the notification keeps what was fetched, and running it again resumes', async () => {
    hub.fault = { hold: SHARD1 };
    // The shard's first report is its start, the second its first bytes (always reported).
    let seen = 0;
    const calls = await runCommand({ arg: REPO, cancelWhen: (m) => m.includes(SHARD1) && ++seen === 2 });
    assert.match(calls.messages.at(-1)!.text, /cancelled; what was downloaded is kept, run the command again to resume/);
    assert.ok(fs.statSync(path.join(dirOf(), `${SHARD1}.partial`)).size > 0);
    hub.fault = {};
    hub.log.length = 0;
    const again = await runCommand({ arg: { repoId: REPO } });
    assert.match(String(hub.cdnRequests(SHARD1)[0].headers.range), /^bytes=[1-9]/);
    assert.ok(again.messages.some((m) => m.kind === 'info' && /is downloaded/.test(m.text)));
    assert.deepEqual(again.updates, [], 'nothing changed without the user choosing it');
  });

  it('shows the error of a repo that does not exist as one message', async () => {
    const calls = await runCommand({ arg: 'test-org/missing' });
    assert.deepEqual(calls.messages.map((m) => [m.kind, m.items]), [['error', ['Show Log']]]);
    assert.match(calls.messages[0].text, /^RePo Lens: test-org\/missing was not found on /);
  });

  it('takes the proxy from http.proxy, else the environment', () => {
    assert.deepEqual(proxyFromVscodeSettings({ proxy: 'http://p:8080', proxyStrictSSL: false, noProxy: ['corp.lan'] }, { HTTPS_PROXY: 'http://env:1', NO_PROXY: 'x' }), {
      https: 'http://p:8080',
      http: 'http://p:8080',
      noProxy: ['corp.lan', 'x'],
      strictSSL: false,
    });
    assert.deepEqual(proxyFromVscodeSettings({ proxy: '' }, { https_proxy: 'http://env:1' }), { https: 'http://env:1' });
    assert.deepEqual(proxyFromVscodeSettings({}, {}), {});
    assert.equal(repoInputProblem(' SakanaAI/RePo-OLMo2-1B-stage2-L5 '), null);
    assert.match(repoInputProblem('just-a-name')!, /owner\/name/);
  });
});

/** resolveModel reads $REPO_LENS_CACHE: point it at `root` and return the spec to resolve. */
function REPO_SPEC_IN(root: string, spec = REPO): string {
  process.env.REPO_LENS_CACHE = root;
  return spec;
}
