/**
 * Downloads a checkpoint in the official layout from the Hugging Face hub (or a mirror speaking its
 * URL scheme) into the hub cache (see hub.ts), with no Python.
 *
 * What it guarantees:
 * - A file appears under its final name only once complete and verified: it is written to
 *   `<file>.partial` and renamed when its size matches and, for large (LFS) files, its sha256
 *   matches the one the hub states in its ETag. A folder is usable (`complete` in its manifest)
 *   only when every file is.
 * - Cancel (AbortSignal), a cut connection, a full disk or a crash leave the `.partial` file and
 *   every finished file in place; the next run resumes with an HTTP Range request, after checking
 *   that the partial belongs to the same upstream file (size and hash recorded beside it).
 * - Files already verified are not fetched or rewritten again (their mtime keys the ONNX cache).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheBase } from '../models';
import { readSafetensorsHeader } from '../safetensors';
import {
  DEFAULT_ENDPOINT,
  DEFAULT_REVISION,
  DownloadManifest,
  MANIFEST_FILE,
  MANIFEST_SCHEMA,
  ManifestFile,
  RepoRef,
  modelDir,
  readManifest,
  repoIdProblem,
  repoSpec,
  resolveUrl,
  revisionProblem,
} from './hub';
import { HttpResult, NetworkError, header, readBody, request } from './http';
import { ProxySettings, proxyFromEnv } from './proxy';

export type DownloadErrorCode =
  | 'BAD_REQUEST'
  | 'REPO_NOT_FOUND'
  | 'REVISION_NOT_FOUND'
  | 'FILE_NOT_FOUND'
  | 'AUTH_REQUIRED'
  | 'ACCESS_DENIED'
  | 'NOT_A_CHECKPOINT'
  | 'HTTP_ERROR'
  | 'NETWORK'
  | 'SIZE_MISMATCH'
  | 'HASH_MISMATCH'
  | 'NO_SPACE'
  | 'DISK_FULL'
  | 'FOLDER_MOVED'
  | 'BUSY'
  | 'FILE_SYSTEM';

/** A download failure. The message is one line for the user; `resumable`: running again continues. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly code: DownloadErrorCode,
    readonly resumable = false,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export interface DownloadProgress {
  /** checking: asking the hub what to fetch; verifying: hashing bytes already on disk. */
  phase: 'checking' | 'verifying' | 'downloading' | 'done';
  /** The file being worked on (downloading, verifying). */
  file?: string;
  /** 1-based index among the files fetched by this run, and their number. */
  fileIndex: number;
  fileCount: number;
  fileBytes: number;
  fileSize: number;
  /** Bytes of the whole checkpoint present and verified so far (finished files + partial bytes). */
  bytes: number;
  totalBytes: number;
  /** Bytes transferred by this run. */
  fetchedBytes: number;
  /** Recent transfer rate, or null until there is enough to measure. */
  bytesPerSecond: number | null;
  /** Seconds left at that rate, or null. */
  etaSeconds: number | null;
}

export interface DownloadOptions {
  repoId: string;
  /** Branch, tag or commit (default main). */
  revision?: string;
  /** Cache root (default: $REPO_LENS_CACHE or ~/.cache/repo-lens); files go to <root>/hub/…. */
  cacheRoot?: string;
  /** Hub URL (default: $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Access token (default: $HF_TOKEN), sent to the endpoint's host only. */
  token?: string;
  /** Proxy settings (default: from the environment, see proxyFromEnv). */
  proxy?: ProxySettings;
  /** Where the defaults above are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Automatic resumes of one file after a network error before giving up (default 3). */
  retries?: number;
  /** Wait before the first automatic resume, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
  /** A connection silent this long is dropped (and resumed) (default 60 s). */
  timeoutMs?: number;
  /** Free bytes on the disk holding `dir` (default: fs.statfs); tests pass their own. */
  freeBytes?: (dir: string) => Promise<number | null>;
}

export interface DownloadedFile {
  name: string;
  size: number;
  /** Verified against the hub's sha256 (large files), or only by size. */
  sha256?: string;
  /** Fetched (wholly or partly) by this run; false: already there and verified. */
  fetched: boolean;
  /** Bytes of an earlier partial download this run continued from. */
  resumedFrom?: number;
}

export interface DownloadResult extends RepoRef {
  dir: string;
  /** What --model takes to use it. */
  spec: string;
  commit?: string;
  files: DownloadedFile[];
  totalBytes: number;
  fetchedBytes: number;
  /** Nothing needed fetching. */
  alreadyComplete: boolean;
  warnings: string[];
}

/** What the hub says about one file before it is fetched. */
interface RemoteFile {
  name: string;
  size: number | null;
  /** From X-Linked-Etag: the LFS object's sha256. */
  sha256: string | null;
  etag: string | null;
}

const SMALL_FILE_LIMIT = 64 * 1024 * 1024;
const INDEX_FILE = 'model.safetensors.index.json';
const LOCK_FILE = '.repo-lens-download.lock';
/** Kept free besides the download itself, so the disk is not filled to the last byte. */
const HEADROOM = 64 * 1024 * 1024;
const locksHeld = new Set<string>();

export async function downloadModel(opts: DownloadOptions): Promise<DownloadResult> {
  const env = opts.env ?? process.env;
  const revision = opts.revision ?? DEFAULT_REVISION;
  const idProblem = repoIdProblem(opts.repoId);
  if (idProblem) throw new DownloadError(idProblem, 'BAD_REQUEST');
  const revProblem = revisionProblem(revision);
  if (revProblem) throw new DownloadError(revProblem, 'BAD_REQUEST');
  const endpoint = normaliseEndpoint(opts.endpoint ?? (env.HF_ENDPOINT?.trim() || DEFAULT_ENDPOINT));
  const cacheRoot = opts.cacheRoot ?? cacheBase(env);
  const ref: RepoRef = { repoId: opts.repoId, revision };
  const dir = modelDir(cacheRoot, ref);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fsError(e, `cannot create ${dir}`, dir);
  }
  const release = acquireLock(dir, ref);
  try {
    return await new Run(opts, env, endpoint, ref, dir).go();
  } finally {
    release();
    // A run that failed before writing anything (no such repo, no access) leaves no empty folder
    // behind to be listed as an unfinished download. rmdir refuses folders that hold anything.
    for (const d of [dir, path.dirname(dir)]) {
      try {
        fs.rmdirSync(d);
      } catch {
        // not empty, or already gone
      }
    }
  }
}

class Run {
  private readonly token?: string;
  private readonly proxy: ProxySettings;
  private readonly signal?: AbortSignal;
  /** The commit the first answer named: later files are asked for at that commit, so all match. */
  private commit?: string;
  private readonly warnings: string[] = [];
  private readonly oldManifest: DownloadManifest | null;
  private manifest: DownloadManifest;
  private readonly progress: ProgressTracker;
  /** Where the last request for a file's bytes started (0: earlier partial bytes were dropped). */
  private lastStart = 0;

  constructor(
    private readonly opts: DownloadOptions,
    env: NodeJS.ProcessEnv,
    private readonly endpoint: string,
    private readonly ref: RepoRef,
    private readonly dir: string,
  ) {
    this.token = opts.token ?? (env.HF_TOKEN?.trim() || undefined);
    this.proxy = opts.proxy ?? proxyFromEnv(env);
    this.signal = opts.signal;
    this.oldManifest = readManifest(dir);
    this.manifest = {
      schema: MANIFEST_SCHEMA,
      repoId: ref.repoId,
      revision: ref.revision,
      endpoint,
      complete: false,
      files: {},
    };
    this.progress = new ProgressTracker(opts.onProgress);
  }

  async go(): Promise<DownloadResult> {
    this.progress.phase('checking');
    const config = await this.fetchSmall('config.json', true);
    try {
      const parsed = JSON.parse(config!.bytes.toString('utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    } catch (e) {
      throw new DownloadError(`${this.ref.repoId}: its config.json is not a model configuration (${(e as Error).message})`, 'NOT_A_CHECKPOINT');
    }
    const index = await this.fetchSmall(INDEX_FILE, false);
    const weights = index ? this.shardsOf(index.bytes) : ['model.safetensors'];

    const large: RemoteFile[] = [];
    for (const name of ['tokenizer.json', 'tokenizer_config.json']) {
      const m = await this.head(name, false);
      if (m) large.push(m);
      else if (name === 'tokenizer.json') this.warnings.push(`${this.ref.repoId} has no tokenizer.json; repo-lens will fall back to byte tokens for it`);
    }
    for (const name of weights) large.push((await this.head(name, true))!);

    // What is already here and verified, what a .partial file can continue, what must be fetched.
    const small = [config!, ...(index ? [index] : [])];
    const smallChanged = small.filter((s) => !sameBytes(path.join(this.dir, s.remote.name), s.bytes));
    const todo: { remote: RemoteFile; resumeFrom: number }[] = [];
    for (const r of large) {
      if (await this.alreadyHere(r)) this.record(r.name, { size: r.size!, ...(r.sha256 ? { sha256: r.sha256 } : {}), ...(r.etag ? { etag: r.etag } : {}) });
      else todo.push({ remote: r, resumeFrom: this.usablePartial(r) });
    }
    for (const s of small) this.record(s.remote.name, { size: s.bytes.length, ...(s.remote.etag ? { etag: s.remote.etag } : {}) });
    const files = [...small.map((s) => s.remote), ...large];
    const totalBytes = files.reduce((a, f) => a + (f.size ?? 0), 0);
    const needed = todo.reduce((a, t) => a + Math.max(0, (t.remote.size ?? 0) - t.resumeFrom), 0);
    const stale = Object.keys(this.oldManifest?.files ?? {}).filter((n) => !files.some((f) => f.name === n));
    const alreadyComplete = todo.length === 0 && smallChanged.length === 0 && stale.length === 0 && this.oldManifest?.complete === true;
    await this.checkDiskSpace(needed, files);

    // From here on the folder is being changed: not usable until the manifest says complete again.
    if (!alreadyComplete) this.writeManifest(false);
    for (const s of smallChanged) this.placeBytes(s.remote.name, s.bytes);
    for (const n of stale) fs.rmSync(path.join(this.dir, n), { force: true });

    const present = totalBytes - todo.reduce((a, t) => a + (t.remote.size ?? 0) - t.resumeFrom, 0);
    this.progress.start(totalBytes, present, todo.length);
    const results: DownloadedFile[] = [];
    for (const s of small) results.push({ name: s.remote.name, size: s.bytes.length, fetched: smallChanged.includes(s) });
    for (const r of large) {
      const t = todo.find((x) => x.remote === r);
      if (!t) {
        results.push({ name: r.name, size: r.size!, ...(r.sha256 ? { sha256: r.sha256 } : {}), fetched: false });
        continue;
      }
      const got = await this.fetchLarge(r, t.resumeFrom);
      results.push({ name: r.name, size: got.size, ...(got.sha256 ? { sha256: got.sha256 } : {}), fetched: true, ...(got.resumedFrom > 0 ? { resumedFrom: got.resumedFrom } : {}) });
    }
    this.manifest.completedAt = new Date().toISOString();
    this.writeManifest(true);
    this.progress.phase('done');
    return {
      ...this.ref,
      dir: this.dir,
      spec: repoSpec(this.ref),
      ...(this.commit ? { commit: this.commit } : {}),
      files: results,
      totalBytes,
      fetchedBytes: this.progress.fetched,
      alreadyComplete,
      warnings: this.warnings,
    };
  }

  // ---- asking the hub ----

  private url(file: string): string {
    return resolveUrl(this.endpoint, this.ref.repoId, this.commit ?? this.ref.revision, file);
  }

  private async send(file: string, method: 'GET' | 'HEAD', headers: Record<string, string> = {}, redirects: 'all' | 'same-origin' = 'all'): Promise<HttpResult> {
    this.throwIfAborted();
    try {
      const r = await request(this.url(file), {
        method,
        headers,
        token: this.token,
        tokenOrigin: new URL(this.endpoint).origin,
        proxy: this.proxy,
        signal: this.signal,
        timeoutMs: this.opts.timeoutMs,
        redirects,
      });
      const commit = header(r.originHeaders, 'x-repo-commit');
      if (!this.commit && commit && /^[0-9a-f]{40}$/.test(commit)) {
        this.commit = commit;
        this.manifest.commit = commit;
      }
      return r;
    } catch (e) {
      this.throwIfAborted();
      if (e instanceof NetworkError) throw new DownloadError(`${e.message}; check the network (and HTTPS_PROXY), then run again`, 'NETWORK', true);
      throw e;
    }
  }

  /** A small file read whole into memory; null when optional and absent. */
  private async fetchSmall(name: string, required: boolean): Promise<{ remote: RemoteFile; bytes: Buffer } | null> {
    const r = await this.send(name, 'GET');
    if (r.status === 404 && !required && isEntryNotFound(r)) {
      r.res.resume();
      return null;
    }
    if (r.status !== 200) {
      r.res.resume();
      throw this.statusError(name, r);
    }
    let bytes: Buffer;
    try {
      bytes = await readBody(r.res, SMALL_FILE_LIMIT);
    } catch (e) {
      this.throwIfAborted();
      throw new DownloadError(`reading ${name} from ${this.endpoint} failed: ${(e as Error).message}; run again`, 'NETWORK', true);
    }
    const len = Number(header(r.res.headers, 'content-length'));
    if (Number.isFinite(len) && len !== bytes.length) {
      throw new DownloadError(`${name} arrived with ${bytes.length} of its ${len} bytes; run again`, 'NETWORK', true);
    }
    return { remote: { name, size: bytes.length, sha256: null, etag: etagOf(r.originHeaders) }, bytes };
  }

  /** What the hub says about a file without fetching it: the answer before any CDN redirect. */
  private async head(name: string, required: boolean): Promise<RemoteFile | null> {
    const r = await this.send(name, 'HEAD', {}, 'same-origin');
    r.res.resume();
    if (r.status === 404 && !required && isEntryNotFound(r)) return null;
    if (r.status >= 400) throw this.statusError(name, r);
    const h = r.originHeaders;
    const linkedEtag = stripEtag(header(h, 'x-linked-etag'));
    const linkedSize = Number(header(h, 'x-linked-size'));
    const direct = r.status === 200 ? Number(header(h, 'content-length')) : NaN;
    const size = Number.isSafeInteger(linkedSize) && linkedSize >= 0 ? linkedSize : Number.isSafeInteger(direct) && direct >= 0 ? direct : null;
    // The hub's ETag of an LFS file is its sha256: 64 hex digits (a small file's is a 40-digit git id).
    const tag = linkedEtag ?? etagOf(h);
    const sha256 = tag && /^[0-9a-f]{64}$/.test(tag) ? tag : null;
    return { name, size, sha256, etag: tag };
  }

  private statusError(file: string, r: HttpResult): DownloadError {
    const code = header(r.res.headers, 'x-error-code') ?? header(r.originHeaders, 'x-error-code');
    const where = `${this.ref.repoId}${this.ref.revision === DEFAULT_REVISION ? '' : `@${this.ref.revision}`}`;
    const page = `${this.endpoint}/${this.ref.repoId}`;
    const fromHub = new URL(r.url).origin === new URL(this.endpoint).origin;
    if (code === 'RepoNotFound' || (r.status === 404 && file === 'config.json' && !code && fromHub)) {
      return new DownloadError(
        `${this.ref.repoId} was not found on ${this.endpoint}` + (this.token ? ' (or the token in HF_TOKEN cannot see it)' : ' (a private repository needs HF_TOKEN)'),
        'REPO_NOT_FOUND',
      );
    }
    if (code === 'RevisionNotFound') return new DownloadError(`${this.ref.repoId} has no revision "${this.ref.revision}"`, 'REVISION_NOT_FOUND');
    if (code === 'GatedRepo' || r.status === 401 || r.status === 403) {
      const gated = code === 'GatedRepo' ? ` ${this.ref.repoId} is gated: accept its conditions at ${page},` : '';
      if (!this.token) {
        return new DownloadError(`${this.endpoint} refused ${file} (${r.status}):${gated} set HF_TOKEN to a Hugging Face access token and run again`, 'AUTH_REQUIRED');
      }
      return new DownloadError(
        `${this.endpoint} refused ${file} (${r.status}) with the token in HF_TOKEN:${gated || ' check that the token is valid and that its account can read ' + page}`,
        'ACCESS_DENIED',
      );
    }
    if (r.status === 404) return new DownloadError(`${where} has no ${file} (${page})`, 'FILE_NOT_FOUND');
    if (r.status === 407) return new DownloadError(`the proxy asks for credentials (407): put them in the proxy URL (http://user:password@host:port)`, 'HTTP_ERROR');
    const retry = r.status === 429 || r.status >= 500;
    const msg = header(r.res.headers, 'x-error-message');
    return new DownloadError(
      `${new URL(r.url).host} answered ${r.status} for ${file}${msg ? `: ${msg}` : ''}${retry ? '; try again later' : ''}`,
      'HTTP_ERROR',
      retry,
    );
  }

  private shardsOf(bytes: Buffer): string[] {
    let map: unknown;
    try {
      map = JSON.parse(bytes.toString('utf8'))?.weight_map;
    } catch (e) {
      throw new DownloadError(`${this.ref.repoId}: ${INDEX_FILE} is not valid JSON (${(e as Error).message})`, 'NOT_A_CHECKPOINT');
    }
    if (!map || typeof map !== 'object') throw new DownloadError(`${this.ref.repoId}: ${INDEX_FILE} has no weight_map`, 'NOT_A_CHECKPOINT');
    const names = [...new Set(Object.values(map as Record<string, unknown>))];
    for (const n of names) {
      // A shard name is a plain file name in the folder: never let the index write elsewhere.
      if (typeof n !== 'string' || !n || n !== path.basename(n) || n === '.' || n === '..' || n.includes('\\') || n.endsWith('.partial')) {
        throw new DownloadError(`${this.ref.repoId}: ${INDEX_FILE} names a shard that is not a plain file name: ${JSON.stringify(n)}`, 'NOT_A_CHECKPOINT');
      }
    }
    if (names.length === 0) throw new DownloadError(`${this.ref.repoId}: ${INDEX_FILE} lists no shards`, 'NOT_A_CHECKPOINT');
    return (names as string[]).sort();
  }

  // ---- what is on disk ----

  /** The final file is there and matches what the hub has now. */
  private async alreadyHere(r: RemoteFile): Promise<boolean> {
    const file = path.join(this.dir, r.name);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st?.isFile() || r.size === null || st.size !== r.size) return false;
    const rec = this.oldManifest?.files[r.name];
    if (r.sha256) {
      if (rec?.sha256 === r.sha256 && rec.size === r.size) return true;
      // Placed by a run that stopped before recording it: it was verified then, but check again.
      this.progress.verifying(r.name, r.size);
      return (await this.hashFile(file, st.size, r)) === r.sha256;
    }
    return !!r.etag && rec?.etag === r.etag && rec.size === r.size;
  }

  /** Bytes of `<file>.partial` that a Range request may continue, after discarding a foreign one. */
  private usablePartial(r: RemoteFile): number {
    const partial = this.partialPath(r.name);
    const st = fs.statSync(partial, { throwIfNoEntry: false });
    if (!st) return 0;
    let meta: { size?: number | null; sha256?: string | null; etag?: string | null } = {};
    try {
      meta = JSON.parse(fs.readFileSync(`${partial}.json`, 'utf8'));
    } catch {
      // no record of what it was: start again
    }
    const same = meta.size === r.size && (r.sha256 ? meta.sha256 === r.sha256 : !!r.etag && meta.etag === r.etag);
    if (same && r.size !== null && st.size <= r.size) return st.size;
    this.removePartial(r.name);
    return 0;
  }

  private partialPath(name: string): string {
    return path.join(this.dir, `${name}.partial`);
  }

  private removePartial(name: string): void {
    fs.rmSync(this.partialPath(name), { force: true });
    fs.rmSync(`${this.partialPath(name)}.json`, { force: true });
  }

  private async checkDiskSpace(needed: number, files: RemoteFile[]): Promise<void> {
    if (needed <= 0) return;
    let free: number | null;
    try {
      free = await (this.opts.freeBytes ?? statfsFree)(this.dir);
    } catch {
      free = null; // statfs unsupported here: the write itself will report a full disk
    }
    if (free === null) return;
    if (needed + HEADROOM > free) {
      throw new DownloadError(
        `not enough free disk space for ${this.ref.repoId}: it needs ${formatBytes(needed + HEADROOM)} in ${this.dir}, ` +
          `the disk has ${formatBytes(free)} free (free some space, or set REPO_LENS_CACHE to a folder on a larger disk)`,
        'NO_SPACE',
      );
    }
    const weights = files.filter((f) => f.name.endsWith('.safetensors')).reduce((a, f) => a + (f.size ?? 0), 0);
    if (free - needed < weights) {
      this.warnings.push(
        `after the download ${formatBytes(free - needed)} will be free; converting the model to ONNX needs about ${formatBytes(weights)} (fp32) or half that (fp16) in the same cache`,
      );
    }
  }

  // ---- fetching one large file ----

  private async fetchLarge(r: RemoteFile, resumeFrom: number): Promise<{ size: number; sha256?: string; resumedFrom: number }> {
    const retries = this.opts.retries ?? 3;
    let delay = this.opts.retryDelayMs ?? 1000;
    let have = resumeFrom;
    let kept = resumeFrom;
    let rangeRefused = false;
    this.progress.file(r.name, r.size ?? 0, have);
    fsCall(() => fs.writeFileSync(`${this.partialPath(r.name)}.json`, JSON.stringify({ size: r.size, sha256: r.sha256, etag: r.etag, commit: this.commit }) + '\n'), this.dir, r.name);
    for (let attempt = 0; ; attempt++) {
      try {
        this.lastStart = have;
        const got = await this.fetchOnce(r, have, rangeRefused);
        if (got === 'restart') {
          if (rangeRefused) throw new DownloadError(`${r.name}: the file host answers a request for the whole file with a part of it; run again later`, 'HTTP_ERROR', true);
          rangeRefused = true;
          have = kept = 0;
          continue;
        }
        if (this.lastStart === 0) kept = 0;
        return { ...got, resumedFrom: kept };
      } catch (e) {
        if (this.lastStart === 0) kept = 0;
        this.throwIfAborted();
        const retryable = e instanceof DownloadError && e.resumable && e.code !== 'DISK_FULL' && e.code !== 'FOLDER_MOVED';
        if (!retryable || attempt >= retries) throw e;
        // Continue where the bytes on disk end.
        have = fs.statSync(this.partialPath(r.name), { throwIfNoEntry: false })?.size ?? 0;
        this.progress.file(r.name, r.size ?? 0, have);
        await sleep(delay, this.signal);
        this.throwIfAborted();
        delay *= 2;
      }
    }
  }

  /** One request for the rest of a file. 'restart': the server cannot continue it; start from zero. */
  private async fetchOnce(r: RemoteFile, have: number, noRange: boolean): Promise<{ size: number; sha256?: string } | 'restart'> {
    const partial = this.partialPath(r.name);
    if (r.size !== null && have === r.size && have > 0) return this.finish(r, have, await this.hashFile(partial, have, r));
    const useRange = have > 0 && !noRange;
    const res = await this.send(r.name, 'GET', useRange ? { range: `bytes=${have}-` } : {});
    const status = res.status;
    let size = r.size;
    let start = 0;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res.res.headers, 'content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        // A range we did not ask for: ask for the whole file instead.
        res.res.resume();
        fs.rmSync(partial, { force: true });
        return 'restart';
      }
      const total = m[3] === '*' ? null : Number(m[3]);
      if (total !== null && size !== null && total !== size) return this.sizeMismatch(r, res, total);
      size ??= total;
      start = have;
    } else if (status === 200) {
      const len = Number(header(res.res.headers, 'content-length'));
      if (Number.isSafeInteger(len) && size !== null && len !== size) return this.sizeMismatch(r, res, len);
      if (Number.isSafeInteger(len)) size ??= len;
      // A server that ignores Range sends the whole file: start it again from the first byte.
      start = 0;
    } else if (status === 416 && useRange) {
      // The host thinks the partial already covers the file: it cannot be ours; start over.
      res.res.resume();
      fs.rmSync(partial, { force: true });
      return 'restart';
    } else {
      res.res.resume();
      throw this.statusError(r.name, res);
    }

    const hash = createHash('sha256');
    if (start > 0) {
      this.progress.verifying(r.name, size ?? 0);
      await this.hashInto(hash, partial, start);
    }
    this.lastStart = start;
    this.progress.file(r.name, size ?? 0, start);
    let fh: fs.promises.FileHandle | undefined;
    let written = start;
    try {
      fh = await fsAsync(() => fs.promises.open(partial, start > 0 ? 'r+' : 'w'), this.dir, r.name);
      if (start > 0) await fh.truncate(start);
      try {
        for await (const chunk of res.res as AsyncIterable<Buffer>) {
          if (size !== null && written + chunk.length > size) {
            res.res.destroy();
            this.removePartial(r.name);
            throw new DownloadError(
              `${r.name}: the file host sent more than the ${size} bytes the hub announced; the partial download was deleted, run again`,
              'SIZE_MISMATCH',
            );
          }
          hash.update(chunk);
          await fsAsync(() => fh!.write(chunk, 0, chunk.length, written), this.dir, r.name);
          written += chunk.length;
          this.progress.advance(chunk.length);
        }
      } catch (e) {
        if (e instanceof DownloadError) throw e;
        this.throwIfAborted();
        throw new DownloadError(
          `the connection broke while downloading ${r.name} (${formatBytes(written)} of ${formatBytes(size ?? 0)} kept): ${(e as Error).message}; run the download again to resume`,
          'NETWORK',
          true,
        );
      }
    } finally {
      await fh?.close().catch(() => undefined);
    }
    this.throwIfAborted();
    if (size === null) size = written;
    if (written < size) {
      throw new DownloadError(
        `the connection ended early while downloading ${r.name} (${formatBytes(written)} of ${formatBytes(size)} kept); run the download again to resume`,
        'NETWORK',
        true,
      );
    }
    return this.finish({ ...r, size }, written, hash.digest('hex'));
  }

  private sizeMismatch(r: RemoteFile, res: HttpResult, got: number): never {
    res.res.resume();
    this.removePartial(r.name);
    throw new DownloadError(
      `${r.name}: the hub announced ${r.size} bytes but the file host serves ${got}; nothing was kept, run again later (the repository may be changing)`,
      'SIZE_MISMATCH',
    );
  }

  /** Verifies a complete `.partial` and renames it into place. */
  private async finish(r: RemoteFile, size: number, sha256: string): Promise<{ size: number; sha256?: string }> {
    const partial = this.partialPath(r.name);
    if (r.sha256 && sha256 !== r.sha256) {
      this.removePartial(r.name);
      throw new DownloadError(
        `${r.name} is corrupted: its sha256 is ${sha256.slice(0, 12)}…, the hub says ${r.sha256.slice(0, 12)}…; the bad download was deleted, run again`,
        'HASH_MISMATCH',
      );
    }
    if (!r.sha256 && r.name.endsWith('.safetensors')) {
      // No hash to check against: at least the file must be as long as its own header says.
      const problem = await safetensorsSizeProblem(partial);
      if (problem) {
        this.removePartial(r.name);
        throw new DownloadError(`${r.name}: ${problem}; the download was deleted, run again`, 'SIZE_MISMATCH');
      }
    }
    fsCall(() => fs.renameSync(partial, path.join(this.dir, r.name)), this.dir, r.name);
    fs.rmSync(`${partial}.json`, { force: true });
    this.record(r.name, { size, ...(r.sha256 ? { sha256: r.sha256 } : {}), ...(r.etag ? { etag: r.etag } : {}) });
    this.writeManifest(false);
    this.progress.fileDone();
    return { size, ...(r.sha256 ? { sha256: r.sha256 } : {}) };
  }

  private async hashFile(file: string, size: number, r: RemoteFile): Promise<string> {
    const h = createHash('sha256');
    this.progress.verifying(r.name, size);
    await this.hashInto(h, file, size);
    return h.digest('hex');
  }

  /** Feeds the first `length` bytes of `file` to `hash`. */
  private async hashInto(hash: ReturnType<typeof createHash>, file: string, length: number): Promise<void> {
    if (length <= 0) return;
    const stream = fs.createReadStream(file, { start: 0, end: length - 1, highWaterMark: 1 << 20 });
    let n = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        this.throwIfAborted();
        hash.update(chunk);
        n += chunk.length;
        this.progress.verified(n);
      }
    } catch (e) {
      this.throwIfAborted();
      throw fsError(e, `cannot read ${file}`, this.dir);
    }
  }

  // ---- placing files and the manifest ----

  private record(name: string, f: ManifestFile): void {
    this.manifest.files[name] = f;
  }

  private placeBytes(name: string, bytes: Buffer): void {
    const tmp = this.partialPath(name);
    fsCall(() => {
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, path.join(this.dir, name));
    }, this.dir, name);
  }

  private writeManifest(complete: boolean): void {
    this.manifest.complete = complete;
    // Files recorded by the previous run stay recorded until this run replaces or drops them.
    const files = complete ? this.manifest.files : { ...this.oldManifest?.files, ...this.manifest.files };
    const text = JSON.stringify({ ...this.manifest, files }, null, 2) + '\n';
    const tmp = path.join(this.dir, `${MANIFEST_FILE}.partial`);
    fsCall(() => {
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, path.join(this.dir, MANIFEST_FILE));
    }, this.dir, MANIFEST_FILE);
  }

  private throwIfAborted(): void {
    if (this.signal?.aborted) throw abortError(this.signal);
  }
}

// ---- progress ----

class ProgressTracker {
  fetched = 0;
  private total = 0;
  /** Bytes counted as present: finished files, kept partial bytes, bytes fetched so far. */
  private base = 0;
  private fileName?: string;
  private fileSize = 0;
  private fileBytes = 0;
  private fileIndex = 0;
  private fileCount = 0;
  /** The file being hashed, and how far (phase 'verifying'). */
  private checkName?: string;
  private checkSize = 0;
  private checkBytes = 0;
  private lastEmit = 0;
  private firstChunk = false;
  private current: DownloadProgress['phase'] = 'checking';
  /** (time, fetched) samples of the last seconds, for the rate. */
  private samples: [number, number][] = [];

  constructor(private readonly cb?: (p: DownloadProgress) => void) {}

  start(total: number, present: number, fileCount: number): void {
    this.total = total;
    this.base = present;
    this.fileCount = fileCount;
    this.samples = [[Date.now(), 0]];
  }

  phase(phase: 'checking' | 'done'): void {
    this.current = phase;
    this.emit(true);
  }

  verifying(name: string, size: number): void {
    this.current = 'verifying';
    this.checkName = name;
    this.checkSize = size;
    this.checkBytes = 0;
    this.emit(true);
  }

  verified(n: number): void {
    this.checkBytes = n;
    this.emit(false);
  }

  /** `name` starts, or starts again, with `have` bytes kept (a new file's are already in `base`). */
  file(name: string, size: number, have: number): void {
    const same = this.fileName === name && this.fileBytes === have && this.fileSize === size && this.current === 'downloading';
    if (this.fileName === name) this.base += have - this.fileBytes;
    else this.fileIndex++;
    this.fileName = name;
    this.fileSize = size;
    this.fileBytes = have;
    this.current = 'downloading';
    this.firstChunk = true;
    if (!same) this.emit(true);
  }

  advance(n: number): void {
    this.fileBytes += n;
    this.base += n;
    this.fetched += n;
    // The first bytes of a request are always shown: they say the transfer has begun.
    this.emit(this.firstChunk);
    this.firstChunk = false;
  }

  fileDone(): void {
    this.emit(true);
  }

  private emit(force: boolean): void {
    if (!this.cb) return;
    const now = Date.now();
    if (!force && now - this.lastEmit < 100) return;
    this.lastEmit = now;
    this.samples.push([now, this.fetched]);
    while (this.samples.length > 2 && now - this.samples[1][0] >= 10_000) this.samples.shift();
    const [t0, f0] = this.samples[0];
    const rate = now - t0 >= 1000 && this.fetched > f0 ? ((this.fetched - f0) * 1000) / (now - t0) : null;
    const checking = this.current === 'verifying';
    const file = checking ? this.checkName : this.fileName;
    this.cb({
      phase: this.current,
      ...(file !== undefined ? { file } : {}),
      fileIndex: this.fileIndex,
      fileCount: this.fileCount,
      fileBytes: checking ? this.checkBytes : this.fileBytes,
      fileSize: checking ? this.checkSize : this.fileSize,
      bytes: Math.min(this.base, this.total),
      totalBytes: this.total,
      fetchedBytes: this.fetched,
      bytesPerSecond: rate,
      etaSeconds: rate ? Math.max(0, this.total - this.base) / rate : null,
    });
  }
}

// ---- helpers ----

function normaliseEndpoint(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new DownloadError(`HF_ENDPOINT "${raw}" is not a URL`, 'BAD_REQUEST');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new DownloadError(`HF_ENDPOINT "${raw}" is not an http(s) URL`, 'BAD_REQUEST');
  return u.toString().replace(/\/+$/, '');
}

function isEntryNotFound(r: HttpResult): boolean {
  const code = header(r.res.headers, 'x-error-code') ?? header(r.originHeaders, 'x-error-code');
  // A plain 404 (a mirror without the hub's error codes) counts as "no such file" too.
  return code === undefined || code === 'EntryNotFound';
}

function stripEtag(v: string | undefined): string | null {
  if (!v) return null;
  return v.trim().replace(/^W\//, '').replace(/^"|"$/g, '') || null;
}

function etagOf(h: Record<string, string | string[] | undefined>): string | null {
  return stripEtag(header(h, 'x-linked-etag') ?? header(h, 'etag'));
}

function sameBytes(file: string, bytes: Buffer): boolean {
  try {
    return fs.readFileSync(file).equals(bytes);
  } catch {
    return false;
  }
}

async function safetensorsSizeProblem(file: string): Promise<string | null> {
  try {
    const h = await readSafetensorsHeader(file);
    const end = h.tensors.reduce((a, t) => Math.max(a, t.offset + t.byteLength), 0);
    if (h.tensors.length && end !== h.fileSize) return `it is ${h.fileSize} bytes but its header describes ${end}`;
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

async function statfsFree(dir: string): Promise<number | null> {
  const s = await fs.promises.statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const e = new Error('download cancelled');
  e.name = 'AbortError';
  return e;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Maps a file-system error to the user's terms: a full disk, a folder moved away, or as it is. */
function fsError(e: unknown, what: string, dir: string): DownloadError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DownloadError(`the disk holding ${dir} is full (${what}); free some space and run again: the download resumes where it stopped`, 'DISK_FULL', true);
  }
  if (code === 'ENOENT') {
    return new DownloadError(`the download folder ${dir} was moved or deleted while in use (${what}); run the download again`, 'FOLDER_MOVED', true);
  }
  return new DownloadError(`${what}: ${(e as Error)?.message ?? String(e)}`, 'FILE_SYSTEM');
}

function fsCall<T>(fn: () => T, dir: string, name: string): T {
  try {
    return fn();
  } catch (e) {
    throw fsError(e, `writing ${name}`, dir);
  }
}

async function fsAsync<T>(fn: () => Promise<T>, dir: string, name: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fsError(e, `writing ${name}`, dir);
  }
}

/** One download per model folder at a time, across processes (a lock file naming the owner). */
function acquireLock(dir: string, ref: RepoRef): () => void {
  const lock = path.join(dir, LOCK_FILE);
  const busy = (who: string) =>
    new DownloadError(`${repoSpec(ref)} is already being downloaded (${who}); wait for it to finish (remove ${lock} if that is not so)`, 'BUSY');
  if (locksHeld.has(dir)) throw busy('by this process');
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() }) + '\n', { flag: 'wx' });
      locksHeld.add(dir);
      return () => {
        locksHeld.delete(dir);
        fs.rmSync(lock, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, `cannot create ${lock}`, dir);
    }
    let owner: { pid?: number; host?: string } = {};
    try {
      owner = JSON.parse(fs.readFileSync(lock, 'utf8'));
    } catch {
      // half-written or just removed: treat as stale
    }
    if (owner.host && owner.host !== os.hostname()) throw busy(`by process ${owner.pid} on ${owner.host}`);
    if (typeof owner.pid === 'number' && owner.pid !== process.pid && pidAlive(owner.pid)) throw busy(`by process ${owner.pid}`);
    fs.rmSync(lock, { force: true }); // left by a process that is gone
  }
  throw busy('the lock could not be taken');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** "1.23 GB": decimal units, as download sizes are usually given. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** "1h 02m", "3m 05s", "42s". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** One line of progress, as the CLI and the extension show it. */
export function progressLine(p: DownloadProgress): string {
  if (p.phase === 'checking') return 'asking the hub for the file list';
  if (p.phase === 'done') return `done: ${formatBytes(p.totalBytes)}`;
  const pct = p.totalBytes > 0 ? Math.floor((p.bytes / p.totalBytes) * 100) : 0;
  const file = p.file ? `${p.file}${p.fileCount > 1 ? ` (${p.fileIndex}/${p.fileCount})` : ''}` : '';
  if (p.phase === 'verifying') return `verifying ${file} on disk: ${formatBytes(p.fileBytes)} of ${formatBytes(p.fileSize)}`;
  const rate = p.bytesPerSecond ? `, ${formatBytes(p.bytesPerSecond)}/s, ${formatDuration(p.etaSeconds)} left` : '';
  return `${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)} (${pct}%)${rate}; ${file}`;
}
