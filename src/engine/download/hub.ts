/**
 * The Hugging Face hub's naming (repo ids, revisions, resolve URLs) and where downloads live in the
 * cache. No network and nothing from the rest of the engine, so `models.ts` can use it to resolve
 * `--model owner/name` without pulling in the downloader.
 *
 * Layout: <cache root>/hub/<owner>--<name>/<revision>/ holds the checkpoint files under their own
 * names (a folder in the official layout, usable as is), `<file>.partial` while a file downloads,
 * and MANIFEST_FILE, which records what was verified and says when the folder is complete.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const OFFICIAL_REPO_ID = 'SakanaAI/RePo-OLMo2-1B-stage2-L5';
export const DEFAULT_REVISION = 'main';
export const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** Written into the model folder; `complete: true` only once every file is verified and in place. */
export const MANIFEST_FILE = 'repo-lens-download.json';
export const MANIFEST_SCHEMA = 'repo-lens/download@1';

export interface RepoRef {
  repoId: string;
  revision: string;
}

/** Why `id` is not a hub model id (owner/name), or null when it is one. Mirrors the hub's own rules. */
export function repoIdProblem(id: string): string | null {
  const parts = id.split('/');
  if (parts.length !== 2) return `"${id}" is not a Hugging Face repo id (owner/name)`;
  for (const p of parts) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/.test(p) || p.endsWith('.') || p.endsWith('-')) {
      return `"${id}" is not a Hugging Face repo id (owner/name of letters, digits, "-", "_", ".")`;
    }
    // The hub forbids these; refusing them also keeps "<owner>--<name>" folder names unambiguous.
    if (p.includes('--') || p.includes('..')) return `"${id}" is not a Hugging Face repo id ("--" and ".." are not allowed)`;
  }
  return null;
}

/** Why `rev` cannot be a revision (branch, tag or commit), or null. Git's ref rules, loosely. */
export function revisionProblem(rev: string): string | null {
  if (!rev) return 'the revision is empty';
  if (rev.length > 255 || /[\s~^:?*[\\\x00-\x1f\x7f]/.test(rev) || rev.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    return `"${rev}" is not a valid revision (branch, tag or commit)`;
  }
  return null;
}

/**
 * Reads `owner/name` or `owner/name@revision` as a hub reference, or returns null when `spec` is not
 * shaped like one (a path such as ./x/y, /abs, ~/x, a/b/c, or a Windows path).
 */
export function parseRepoSpec(spec: string): RepoRef | null {
  if (/^[.~/\\]/.test(spec) || spec.includes('\\') || /^[A-Za-z]:/.test(spec)) return null;
  const at = spec.indexOf('@');
  const repoId = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? DEFAULT_REVISION : spec.slice(at + 1);
  if (repoIdProblem(repoId) || revisionProblem(revision)) return null;
  return { repoId, revision };
}

/** `owner/name`, with `@revision` unless it is the default branch: what --model accepts. */
export function repoSpec(ref: RepoRef): string {
  return ref.revision === DEFAULT_REVISION ? ref.repoId : `${ref.repoId}@${ref.revision}`;
}

/** Folder holding every downloaded repository. */
export function hubCacheDir(cacheRoot: string): string {
  return path.join(cacheRoot, 'hub');
}

/**
 * The model folder of one repository at one revision. Revisions such as refs/pr/1 hold slashes;
 * encodeURIComponent makes them one folder name, reversibly (git refs cannot hold the characters it
 * leaves alone that file systems refuse).
 */
export function modelDir(cacheRoot: string, ref: RepoRef): string {
  const [owner, name] = ref.repoId.split('/');
  return path.join(hubCacheDir(cacheRoot), `${owner}--${name}`, encodeURIComponent(ref.revision));
}

/** `<endpoint>/<repo>/resolve/<revision>/<file>`: the hub's URL of one file. */
export function resolveUrl(endpoint: string, repoId: string, revision: string, file: string): string {
  const base = endpoint.replace(/\/+$/, '');
  const filePath = file.split('/').map(encodeURIComponent).join('/');
  return `${base}/${repoId}/resolve/${encodeURIComponent(revision)}/${filePath}`;
}

/** One verified file of a download. */
export interface ManifestFile {
  size: number;
  /** sha256 of the content, from the hub's ETag of an LFS file, checked on arrival. */
  sha256?: string;
  /** The hub's ETag (for small files: the git blob id), to tell whether the file changed upstream. */
  etag?: string;
}

export interface DownloadManifest {
  schema: typeof MANIFEST_SCHEMA;
  repoId: string;
  revision: string;
  /** The commit the files came from, when the hub said (X-Repo-Commit). */
  commit?: string;
  endpoint: string;
  complete: boolean;
  /** ISO time the folder was last completed. */
  completedAt?: string;
  files: Record<string, ManifestFile>;
}

export function readManifest(dir: string): DownloadManifest | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8'));
    if (m?.schema !== MANIFEST_SCHEMA || typeof m.files !== 'object' || m.files === null) return null;
    return m as DownloadManifest;
  } catch {
    return null;
  }
}

export type DownloadState =
  | { state: 'complete'; manifest: DownloadManifest; bytes: number }
  | { state: 'incomplete'; problem: string; manifest: DownloadManifest | null }
  | { state: 'absent' };

/**
 * Whether a model folder can be used: its manifest says complete and every file it lists is there
 * with its recorded size (so a folder emptied or moved away under us reads as not usable).
 */
export function downloadState(dir: string): DownloadState {
  if (!fs.existsSync(dir)) return { state: 'absent' };
  const manifest = readManifest(dir);
  if (!manifest) return { state: 'incomplete', problem: 'the download has not finished', manifest: null };
  if (!manifest.complete) return { state: 'incomplete', problem: 'the download has not finished', manifest };
  let bytes = 0;
  for (const [name, f] of Object.entries(manifest.files)) {
    let size: number;
    try {
      size = fs.statSync(path.join(dir, name)).size;
    } catch {
      return { state: 'incomplete', problem: `${name} is missing`, manifest };
    }
    if (size !== f.size) return { state: 'incomplete', problem: `${name} is ${size} bytes, expected ${f.size}`, manifest };
    bytes += size;
  }
  return { state: 'complete', manifest, bytes };
}

export interface DownloadedModel extends RepoRef {
  dir: string;
  /** What --model takes to use it. */
  spec: string;
  complete: boolean;
  /** Bytes of the verified files (complete folders), else bytes present so far. */
  bytes: number;
  /** Why an incomplete folder cannot be used yet. */
  problem?: string;
}

/** Every model folder under the hub cache, complete or not, sorted by repo id and revision. */
export function listDownloaded(cacheRoot: string): DownloadedModel[] {
  const out: DownloadedModel[] = [];
  const hub = hubCacheDir(cacheRoot);
  let repos: string[] = [];
  try {
    repos = fs.readdirSync(hub);
  } catch {
    return out;
  }
  for (const r of repos.sort()) {
    const m = /^(.+?)--(.+)$/.exec(r);
    if (!m) continue;
    const repoId = `${m[1]}/${m[2]}`;
    if (repoIdProblem(repoId)) continue;
    let revs: string[] = [];
    try {
      revs = fs.readdirSync(path.join(hub, r));
    } catch {
      continue;
    }
    for (const enc of revs.sort()) {
      let revision: string;
      try {
        revision = decodeURIComponent(enc);
      } catch {
        continue;
      }
      const dir = path.join(hub, r, enc);
      if (revisionProblem(revision) || !fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) continue;
      const ref = { repoId, revision };
      const st = downloadState(dir);
      if (st.state === 'absent') continue;
      out.push({
        ...ref,
        dir,
        spec: repoSpec(ref),
        complete: st.state === 'complete',
        bytes: st.state === 'complete' ? st.bytes : folderBytes(dir),
        ...(st.state === 'incomplete' ? { problem: st.problem } : {}),
      });
    }
  }
  return out;
}

function folderBytes(dir: string): number {
  let n = 0;
  try {
    for (const f of fs.readdirSync(dir)) n += fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.size ?? 0;
  } catch {
    // gone while listing: count what was seen
  }
  return n;
}
