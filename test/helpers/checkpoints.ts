/**
 * Test helpers: temporary folders, copies of the committed fixtures, and small random checkpoints
 * in the official layout written on the fly (so no large files need committing).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { float32ToHalfBits } from '../../src/engine/safetensors';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
/** The real dolma2 tokenizer.json: licensed data kept outside the repository; tests needing it skip without it. */
export const DOLMA2 = path.join(REPO_ROOT, '..', 'shared', 'fixtures', 'dolma2-tokenizer.json');
export const DOLMA2_SKIP: false | string = fs.existsSync(DOLMA2) ? false : `dolma2 tokenizer.json not found at ${DOLMA2} (licensed fixture kept outside the repo)`;

const created: string[] = [];
let cleanupRegistered = false;

/** A fresh temp folder, removed when the process exits (set REPO_LENS_KEEP_TMP=1 to keep them). */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `repo-lens-${prefix}-`));
  created.push(dir);
  if (!cleanupRegistered && !process.env.REPO_LENS_KEEP_TMP) {
    cleanupRegistered = true;
    process.on('exit', () => {
      for (const d of created) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** Copies a committed fixture folder into a fresh temp folder and returns its path. */
export function copyFixture(name: string): string {
  const dst = tmpDir(name);
  for (const f of fs.readdirSync(path.join(FIXTURES, name))) fs.copyFileSync(path.join(FIXTURES, name, f), path.join(dst, f));
  return dst;
}

export interface RawTensor {
  name: string;
  dtype: 'F32' | 'BF16' | 'F16';
  shape: number[];
  data: Float32Array;
}

function encode(t: RawTensor): Buffer {
  if (t.dtype === 'F32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = Buffer.alloc(t.data.length * 2);
  const u32 = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
  for (let i = 0; i < t.data.length; i++) {
    // bf16 by truncation is fine for random test data; f16 rounds properly.
    out.writeUInt16LE(t.dtype === 'BF16' ? u32[i] >>> 16 : float32ToHalfBits(t.data[i]), i * 2);
  }
  return out;
}

/** Writes a well-formed safetensors file. */
export function writeSafetensors(file: string, tensors: RawTensor[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const b = encode(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + b.length] };
    blobs.push(b);
    offset += b.length;
  }
  writeRawSafetensors(file, header, Buffer.concat(blobs));
}

/** Writes header + data as given (for building deliberately broken files). */
export function writeRawSafetensors(file: string, header: unknown, data: Buffer, headerLenOverride?: number): void {
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLenOverride ?? json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
}

/** Reads a safetensors file's header JSON and data bytes (for editing fixtures in tests). */
export function readRawSafetensors(file: string): { header: Record<string, any>; data: Buffer } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: buf.subarray(8 + n) };
}

/** Deterministic PRNG (mulberry32) with a Box–Muller normal. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

export interface TinyConfig {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  /** pe_config written to config.json, or null for plain OLMo-2. */
  peConfig: Record<string, unknown> | null;
  /** Layers that get position-module weights. */
  repoLayers: number[];
  dtype?: 'F32' | 'BF16' | 'F16';
  seed?: number;
  extraConfig?: Record<string, unknown>;
}

/** Writes a random checkpoint (config.json + one model.safetensors) in the official layout. */
export function makeRandomCheckpoint(dir: string, c: TinyConfig): void {
  fs.mkdirSync(dir, { recursive: true });
  const r = rng(c.seed ?? 1234);
  const dtype = c.dtype ?? 'F32';
  const d = c.hidden;
  const tensors: RawTensor[] = [];
  const add = (name: string, shape: number[], kind: 'w' | 'norm' | 'map') => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = kind === 'norm' ? 0.5 + r.uniform() : r.normal() * (kind === 'map' ? 0.2 : 0.08);
    }
    tensors.push({ name, dtype, shape, data });
  };
  add('model.embed_tokens.weight', [c.vocab, d], 'w');
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    for (const m of ['q_proj', 'k_proj', 'v_proj']) add(`${p}self_attn.${m}.weight`, [d, d], 'w');
    add(`${p}self_attn.o_proj.weight`, [d, d], 'w');
    add(`${p}self_attn.q_norm.weight`, [d], 'norm');
    add(`${p}self_attn.k_norm.weight`, [d], 'norm');
    if (c.repoLayers.includes(i)) {
      add(`${p}self_attn.gate_map.weight`, [d / 8, d], 'map');
      add(`${p}self_attn.content_map.weight`, [d / 8, d], 'map');
      add(`${p}self_attn.final_map.weight`, [c.heads, d / 8], 'map');
    }
    add(`${p}mlp.gate_proj.weight`, [c.intermediate, d], 'w');
    add(`${p}mlp.up_proj.weight`, [c.intermediate, d], 'w');
    add(`${p}mlp.down_proj.weight`, [d, c.intermediate], 'w');
    add(`${p}post_attention_layernorm.weight`, [d], 'norm');
    add(`${p}post_feedforward_layernorm.weight`, [d], 'norm');
  }
  add('model.norm.weight', [d], 'norm');
  add('lm_head.weight', [c.vocab, d], 'w');
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const config: Record<string, unknown> = {
    architectures: ['Olmo2ForCausalLM'],
    model_type: 'olmo2',
    vocab_size: c.vocab,
    hidden_size: d,
    intermediate_size: c.intermediate,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.heads,
    rms_norm_eps: 1e-6,
    rope_theta: 500000,
    max_position_embeddings: 4096,
    tie_word_embeddings: false,
    ...(c.peConfig ? { pe_config: c.peConfig } : {}),
    ...(c.extraConfig ?? {}),
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
}

/** The tiny benchmark size: 4 layers, hidden 128, 4 heads (head_dim 32), RePo from layer 1. */
export const TINY: TinyConfig = {
  vocab: 512,
  hidden: 128,
  intermediate: 512,
  layers: 4,
  heads: 4,
  peConfig: { dynamic_pe_mode: 'swigluex_multihead', dynmaic_pe_start_layer: 1, dynmaic_pe_layer_ids: '' },
  repoLayers: [1, 2, 3],
};
