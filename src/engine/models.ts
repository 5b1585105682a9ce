/**
 * Model resolution (embedded name or checkpoint folder), tokenizer choice, and the cache of
 * converted ONNX files. Imports nothing from onnxruntime: the converter is passed in, so listing
 * models or resolving a name stays cheap and the cache logic can be tested with a fake converter.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Architecture, CheckpointError, parseConfig } from './checkpoint';
import { DEFAULT_REVISION, RepoRef, downloadState, modelDir, parseRepoSpec, repoSpec } from './download/hub';
import { ByteTokenizer } from './tokenizer/bytes';
import type { Tokenizer } from './tokenizer/types';
import type { AttentionImpl } from './onnx/repo-olmo2';

/** A problem with the model the user asked for. The message is shown to the user as is. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** Models shipped inside the repository under models/<name>/ (config.json + model.safetensors). */
export const EMBEDDED_MODELS: Readonly<Record<string, string>> = Object.freeze({
  'repo-tiny': 'tiny RePo model (learned positions), byte tokenizer, trained on synthetic retrieval tasks',
  'rope-tiny': 'same size and data, plain integer RoPE: the baseline to compare repo-tiny with',
});

let cachedRoot: string | undefined;

/**
 * The repository (or installed package) root. The compiled file lives in out/src/engine/, so the
 * root is normally three levels up; we walk upwards looking for our own package.json instead, so
 * the answer is also right when run from another layout (e.g. ts-node on src/engine/).
 */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    try {
      if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'repo-lens') return (cachedRoot = dir);
    } catch {
      // not here: keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return (cachedRoot = path.resolve(__dirname, '..', '..', '..'));
}

export function embeddedModelsDir(): string {
  return path.join(repoRoot(), 'models');
}

/** A checkpoint in the official layout, located and read just enough to key the cache. */
export interface ModelSource {
  /** Embedded model name, or the checkpoint folder's base name. */
  name: string;
  kind: 'embedded' | 'checkpoint';
  /** Absolute path of the checkpoint folder. */
  dir: string;
  /** Parsed config.json. */
  config: Record<string, any>;
  /** Raw bytes of config.json and of model.safetensors.index.json (null when unsharded). */
  configBytes: Buffer;
  indexBytes: Buffer | null;
  /** Absolute paths of the safetensors files, sorted by name. */
  weightFiles: string[];
}

/**
 * Resolves what the user typed after --model:
 * - an embedded model name (repo-tiny, rope-tiny) → <repo root>/models/<name>/; the name wins over a
 *   folder of the same name in the working directory (write ./repo-tiny to mean the folder);
 * - anything containing a path separator, or naming an existing directory → a checkpoint folder;
 * - a Hugging Face repo id (owner/name, or owner/name@revision) that is not an existing folder →
 *   the folder `repo-lens download` put it in, once complete (else an error saying to download it);
 * - anything else → error listing the embedded names.
 */
export function resolveModel(spec: string): ModelSource {
  if (!spec) throw new ModelError('no model given: pass --model <name-or-folder>');
  if (Object.prototype.hasOwnProperty.call(EMBEDDED_MODELS, spec)) {
    const dir = path.join(embeddedModelsDir(), spec);
    const problem = embeddedProblem(dir);
    if (problem) {
      throw new ModelError(
        `embedded model ${spec} is not available yet: ${problem} (it is produced by tools/train/train.py and copied to models/${spec}/)`,
      );
    }
    return readCheckpoint(dir, spec, 'embedded');
  }
  const looksLikePath = spec.includes('/') || spec.includes(path.sep) || spec.startsWith('.') || spec.startsWith('~');
  const expanded = spec === '~' || spec.startsWith('~/') ? path.join(os.homedir(), spec.slice(1)) : spec;
  const abs = path.resolve(expanded);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(abs);
  } catch {
    stat = undefined;
  }
  if (stat?.isDirectory()) return readCheckpoint(abs, path.basename(abs), 'checkpoint');
  if (stat) throw new ModelError(`model ${spec} is a file, not a checkpoint folder (pass the folder holding config.json)`);
  const hub = parseRepoSpec(spec);
  if (hub) return resolveDownloaded(spec, hub);
  if (looksLikePath) throw new ModelError(`checkpoint folder ${spec} does not exist`);
  throw new ModelError(
    `unknown model "${spec}": embedded models are ${Object.keys(EMBEDDED_MODELS).join(', ')}; otherwise pass a checkpoint folder path`,
  );
}

/** A model downloaded from the hub into the cache (src/engine/download/), by its repo id. */
function resolveDownloaded(spec: string, ref: RepoRef): ModelSource {
  const dir = modelDir(cacheBase(), ref);
  const st = downloadState(dir);
  if (st.state === 'complete') return readCheckpoint(dir, repoSpec(ref), 'checkpoint');
  const cmd = `repo-lens download ${ref.repoId}${ref.revision === DEFAULT_REVISION ? '' : ` --revision ${ref.revision}`}`;
  if (st.state === 'absent') {
    throw new ModelError(`model ${spec} is not a folder here and has not been downloaded: run \`${cmd}\` to fetch it from the Hugging Face hub`);
  }
  throw new ModelError(`model ${spec} is not completely downloaded (${st.problem}): run \`${cmd}\` to finish it`);
}

/** Why an embedded model folder is unusable, or null when it looks complete. */
function embeddedProblem(dir: string): string | null {
  if (!fs.existsSync(dir)) return `${dir} does not exist`;
  for (const f of ['config.json', 'model.safetensors']) {
    if (!fs.existsSync(path.join(dir, f))) return `${path.join(dir, f)} is missing`;
  }
  return null;
}

/** Reads config.json and finds the weight files of a checkpoint folder in the official layout. */
export function readCheckpoint(dir: string, name: string, kind: ModelSource['kind']): ModelSource {
  const configPath = path.join(dir, 'config.json');
  let configBytes: Buffer;
  try {
    configBytes = fs.readFileSync(configPath);
  } catch {
    throw new ModelError(`${dir} is not a checkpoint folder: config.json is missing`);
  }
  let config: Record<string, any>;
  try {
    config = JSON.parse(configBytes.toString('utf8'));
  } catch (e) {
    throw new ModelError(`${configPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ModelError(`${configPath} does not hold a JSON object`);
  }

  const indexPath = path.join(dir, 'model.safetensors.index.json');
  let indexBytes: Buffer | null = null;
  let weightFiles: string[];
  if (fs.existsSync(indexPath)) {
    indexBytes = fs.readFileSync(indexPath);
    let index: any;
    try {
      index = JSON.parse(indexBytes.toString('utf8'));
    } catch (e) {
      throw new ModelError(`${indexPath} is not valid JSON: ${(e as Error).message}`);
    }
    const map = index?.weight_map;
    if (!map || typeof map !== 'object') throw new ModelError(`${indexPath} has no weight_map`);
    const names = [...new Set(Object.values(map) as unknown[])];
    for (const n of names) {
      // Shard names must be plain file names inside the folder: never follow ../ or absolute paths.
      if (typeof n !== 'string' || n !== path.basename(n) || n === '.' || n === '..') {
        throw new ModelError(`${indexPath} names a shard outside the folder: ${JSON.stringify(n)}`);
      }
    }
    weightFiles = (names as string[]).sort().map((n) => path.join(dir, n));
    for (const f of weightFiles) {
      if (!fs.existsSync(f)) throw new ModelError(`shard ${path.basename(f)} listed in ${indexPath} is missing`);
    }
  } else {
    const single = path.join(dir, 'model.safetensors');
    if (!fs.existsSync(single)) {
      throw new ModelError(`${dir} has neither model.safetensors nor model.safetensors.index.json`);
    }
    weightFiles = [single];
  }
  return { name, kind, dir, config, configBytes, indexBytes, weightFiles };
}

/** YaRN factors offered for extending a model's context (the paper evaluates 8K and 16K with 2 and 4). */
export const YARN_FACTORS: readonly number[] = [2, 4];

/**
 * The same checkpoint with its context extended by YaRN: rope_scaling {rope_type: yarn, factor,
 * original_max_position_embeddings: the trained context} and max_position_embeddings = factor ×
 * that, the way the paper's long-context runs configure it. Setting both keeps transformers'
 * readings (factor from rope_scaling, or from the ratio of the two) in agreement. The new
 * configBytes make a separate conversion-cache entry; the files on disk are not touched.
 */
export function withYarn(src: ModelSource, factor: number): ModelSource {
  if (!YARN_FACTORS.includes(factor)) {
    throw new ModelError(`YaRN factor must be one of ${YARN_FACTORS.join(', ')}, got ${factor}`);
  }
  const cfg = src.config;
  if ((cfg.rope_scaling ?? null) !== null || ((cfg.rope_parameters?.rope_type ?? 'default') !== 'default')) {
    throw new ModelError(`${src.name} already sets rope_scaling in its config.json; a YaRN factor cannot be added on top`);
  }
  const trained = Number(cfg.max_position_embeddings);
  if (!Number.isSafeInteger(trained) || trained < 1) {
    throw new ModelError(`${src.name}: config.json has no usable max_position_embeddings to extend`);
  }
  const config = {
    ...cfg,
    max_position_embeddings: trained * factor,
    rope_scaling: { rope_type: 'yarn', factor, original_max_position_embeddings: trained },
  };
  const configBytes = Buffer.from(JSON.stringify(config), 'utf8');
  return { ...src, config, configBytes };
}

/** What config.json says about the model, read exactly as the converter reads it. */
export interface ConfigLimits {
  numLayers: number;
  numHeads: number;
  vocabSize: number;
  /** max_position_embeddings, or original × factor under YaRN when that is larger. */
  maxPositions: number;
  repoLayers: number[];
  peMode: string | null;
}

/**
 * Parses config.json with the converter's own parser (src/engine/checkpoint.ts), so the early checks
 * made here (text length, attention size) use the same numbers the converted model will report, and
 * an unsupported config is refused before anything is converted.
 */
export function configLimits(config: Record<string, any>, modelName = 'model'): ConfigLimits {
  let arch: Architecture;
  try {
    arch = parseConfig(config);
  } catch (e) {
    if (e instanceof CheckpointError) throw new ModelError(`${modelName}: ${e.message}`);
    throw e;
  }
  return {
    numLayers: arch.numLayers,
    numHeads: arch.numHeads,
    vocabSize: arch.vocabSize,
    maxPositions: arch.maxPositions,
    repoLayers: arch.repoLayers,
    peMode: arch.peMode,
  };
}

/** The tokenizer to use with a model, and warnings the user must see before results. */
export interface TokenizerChoice {
  tokenizer: Tokenizer;
  warnings: string[];
}

/**
 * - config.json `repo_lens.tokenizer == "bytes"` (the embedded models) → byte tokenizer.
 * - Else a Hugging Face tokenizer.json in the folder → that tokenizer (byte-level BPE only, see
 *   tokenizer/hf.ts); one we cannot read is an error, not a silent fallback, since byte tokens
 *   would make every result on that model meaningless.
 * - Else (no tokenizer at all): if the vocabulary has at least 256 entries we fall back to bytes
 *   with an explicit warning (ids 0..255 exist, but they are not what the model's own tokenizer
 *   would produce); smaller vocabularies are refused.
 * Whether the tokenizer's ids fit the model's embedding is checked on the actual ids, per text
 * (runtime/prepare.ts): a tokenizer.json from another model is refused there with the numbers.
 */
export async function chooseTokenizer(src: ModelSource): Promise<TokenizerChoice> {
  const vocab = Number(src.config.vocab_size);
  const declared = src.config.repo_lens?.tokenizer;
  if (declared !== undefined) {
    if (declared !== 'bytes') {
      throw new ModelError(`${src.name}: config.json asks for tokenizer "${declared}", but only "bytes" is supported`);
    }
    if (!(vocab >= 256)) throw new ModelError(`${src.name}: byte tokenizer needs vocab_size ≥ 256, config.json says ${vocab}`);
    return { tokenizer: new ByteTokenizer(vocab), warnings: [] };
  }
  const hfPath = tokenizerJsonPath(src);
  if (hfPath) {
    // Loaded lazily: listing or resolving models should not pull in the tokenizer library.
    const { loadHfTokenizer } = await import('./tokenizer/hf');
    try {
      return { tokenizer: await loadHfTokenizer(hfPath), warnings: [] };
    } catch (e) {
      throw new ModelError(`${src.name}: cannot use its tokenizer.json: ${(e as Error).message}`);
    }
  }
  const why = `${src.name} has no tokenizer repo-lens can use (no tokenizer.json, and config.json does not set repo_lens.tokenizer)`;
  if (!(vocab >= 256)) {
    throw new ModelError(`${why}, and its vocabulary (${vocab}) is too small to fall back to byte tokens`);
  }
  return {
    tokenizer: new ByteTokenizer(vocab),
    warnings: [
      `${why}; falling back to byte tokens (id = UTF-8 byte value), which are NOT the model's own tokens, so results on real text are not meaningful`,
    ],
  };
}

/** The checkpoint's tokenizer.json, or null when it has none (a config-declared tokenizer wins). */
export function tokenizerJsonPath(src: ModelSource): string | null {
  if (src.config.repo_lens?.tokenizer !== undefined) return null;
  const p = path.join(src.dir, 'tokenizer.json');
  return fs.existsSync(p) ? p : null;
}

/** Base folder of the cache: $REPO_LENS_CACHE, else $XDG_CACHE_HOME/repo-lens, else ~/.cache/repo-lens. */
export function cacheBase(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REPO_LENS_CACHE) return path.resolve(env.REPO_LENS_CACHE);
  const xdg = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(xdg, 'repo-lens');
}

/** Folder holding one sub-folder per converted model. */
export function modelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheBase(env), 'models');
}

/**
 * Cache key: sha256 over the converter version, the storage type, the display name (it is baked
 * into the ONNX metadata), the exact bytes of config.json and of the shard index, and for each
 * safetensors file its name, size and modification time. Weights are not hashed: hashing 6 GB on
 * every run would cost more than it saves; size + mtime catches any rewrite in practice.
 * Each field is length-prefixed so two different inputs cannot produce the same byte stream.
 */
export function cacheKey(
  src: ModelSource,
  storage: 'fp32' | 'fp16' | 'auto',
  converterVersion: string,
  compute: 'fp32' | 'fp16' = 'fp32',
  attention?: AttentionImpl,
  rotary?: 'fused' | 'ops',
): string {
  const h = createHash('sha256');
  const field = (v: string | Buffer) => {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(b.length));
    h.update(len);
    h.update(b);
  };
  field('repo-lens/model-cache@1');
  field(converterVersion);
  // fp16 matmuls make another graph; fp32 (the default) adds nothing, so older keys stay valid.
  field(compute === 'fp16' ? `${storage}+fp16-matmul` : storage);
  // Likewise a non-default attention graph (the WebGPU provider's) adds a field; the default none.
  if (attention !== undefined) field(`attention:${attention}`);
  if (rotary !== undefined) field(`rotary:${rotary}`);
  field(src.name);
  field(src.configBytes);
  field(src.indexBytes ?? '<no index>');
  for (const f of src.weightFiles) {
    const st = fs.statSync(f);
    field(path.basename(f));
    field(String(st.size));
    field(String(st.mtimeMs));
  }
  return h.digest('hex');
}

/** What a converter must do: write outDir/model.onnx (and any side files) for the checkpoint. */
export type ConvertFn = (
  checkpointDir: string,
  outDir: string,
  opts: {
    storage: 'fp32' | 'fp16';
    /** fp16 matmuls (GPU graph), with fp16 storage only. */
    compute?: 'fp32' | 'fp16';
    /** Main-attention graph; undefined: the converter's default. */
    attention?: AttentionImpl;
    /** How q and k are rotated; undefined: the converter's default. */
    rotary?: 'fused' | 'ops';
    name: string;
    /** The config to convert with: config.json, or a YaRN-extended copy of it (withYarn). */
    config: Record<string, any>;
    onProgress?: (message: string, fraction: number) => void;
  },
) => Promise<{ onnxPath: string }>;

export interface CachedModel {
  onnxPath: string;
  /** Cache entry folder. */
  dir: string;
  key: string;
  /** True when an existing entry was used and nothing was converted. */
  hit: boolean;
  /** Time spent converting (0 on a hit). */
  convertMs: number;
}

/** Marker written last into a finished entry; an entry without it is ignored and replaced. */
const ENTRY_MARKER = 'entry.json';

/**
 * Returns the converted ONNX file for `src`, converting on a cache miss.
 * A conversion runs in a private temporary folder next to the entries and is renamed into place
 * only when complete, so a failed or interrupted conversion never leaves a half-written entry, and
 * two processes racing on the same key both end up with a complete one.
 */
export async function ensureConverted(
  src: ModelSource,
  opts: {
    storage: 'fp32' | 'fp16';
    compute?: 'fp32' | 'fp16';
    attention?: AttentionImpl;
    rotary?: 'fused' | 'ops';
    converterVersion: string;
    convert: ConvertFn;
    cacheDir?: string;
    onProgress?: (message: string, fraction: number) => void;
  },
): Promise<CachedModel> {
  const root = opts.cacheDir ?? modelCacheDir();
  const key = cacheKey(src, opts.storage, opts.converterVersion, opts.compute, opts.attention, opts.rotary);
  const dir = path.join(root, key);
  const existing = completeEntry(dir);
  if (existing) return { onnxPath: existing, dir, key, hit: true, convertMs: 0 };

  fs.mkdirSync(root, { recursive: true });
  removeStaleTemps(root);
  const tmp = fs.mkdtempSync(path.join(root, `.tmp-${key.slice(0, 16)}-`));
  const t0 = performance.now();
  try {
    const { onnxPath } = await opts.convert(src.dir, tmp, {
      storage: opts.storage,
      compute: opts.compute,
      attention: opts.attention,
      rotary: opts.rotary,
      name: src.name,
      config: src.config,
      onProgress: opts.onProgress,
    });
    const rel = path.relative(tmp, onnxPath);
    if (rel.startsWith('..') || path.isAbsolute(rel) || !fs.existsSync(onnxPath)) {
      throw new Error(`converter reported ${onnxPath}, which is not a file inside its output folder`);
    }
    const entry = {
      key,
      onnx: rel,
      source: src.dir,
      name: src.name,
      storage: opts.storage,
      converterVersion: opts.converterVersion,
      created: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(tmp, ENTRY_MARKER), JSON.stringify(entry, null, 2) + '\n');
    // An incomplete folder under the final name (from an older, non-atomic writer) is replaced.
    if (fs.existsSync(dir) && !completeEntry(dir)) fs.rmSync(dir, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      const raced = completeEntry(dir);
      if (!raced) throw e;
      // Another process finished the same conversion first: use its entry, drop ours.
      fs.rmSync(tmp, { recursive: true, force: true });
      return { onnxPath: raced, dir, key, hit: true, convertMs: 0 };
    }
    return { onnxPath: path.join(dir, rel), dir, key, hit: false, convertMs: performance.now() - t0 };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The ONNX path of a finished cache entry, or null. */
function completeEntry(dir: string): string | null {
  try {
    const entry = JSON.parse(fs.readFileSync(path.join(dir, ENTRY_MARKER), 'utf8'));
    const onnx = path.join(dir, String(entry.onnx));
    return fs.existsSync(onnx) ? onnx : null;
  } catch {
    return null;
  }
}

/** Removes temporary folders left by conversions killed more than a day ago (best effort). */
function removeStaleTemps(root: string): void {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  let names: string[] = [];
  try {
    names = fs.readdirSync(root);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith('.tmp-')) continue;
    const p = path.join(root, n);
    try {
      if (fs.statSync(p).mtimeMs < dayAgo) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another process may be removing it too
    }
  }
}

/** One line per embedded model for `repo-lens models`. */
export interface EmbeddedModelEntry {
  name: string;
  description: string;
  dir: string;
  available: boolean;
  /** Why it is unavailable, or a short shape summary when available. */
  detail: string;
}

export function listEmbeddedModels(): EmbeddedModelEntry[] {
  return Object.entries(EMBEDDED_MODELS).map(([name, description]) => {
    const dir = path.join(embeddedModelsDir(), name);
    const problem = embeddedProblem(dir);
    if (problem) return { name, description, dir, available: false, detail: `not available: ${problem}` };
    try {
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const lim = configLimits(cfg, name);
      const pe = lim.peMode ? `${lim.peMode}, learned in layers ${lim.repoLayers.join(',')}` : 'integer RoPE';
      return {
        name,
        description,
        dir,
        available: true,
        detail: `${lim.numLayers} layers, ${lim.numHeads} heads, hidden ${cfg.hidden_size}, vocab ${lim.vocabSize}, up to ${lim.maxPositions} tokens, positions: ${pe}`,
      };
    } catch (e) {
      return { name, description, dir, available: false, detail: `unreadable config.json: ${(e as Error).message}` };
    }
  });
}
