/**
 * A checkpoint folder in the official RePo-OLMo2 layout: config.json (+ pe_config) and safetensors.
 *
 * parseConfig() turns config.json into the architecture exactly as tools/reference/repo_olmo2.py
 * reads it; openCheckpoint() also checks that every weight that architecture needs is present with
 * the right shape. A config that claims RePo layers whose weights are missing is refused: running
 * such a model with integer RoPE would silently give wrong results.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsCheckpoint, SafetensorsError } from './safetensors';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export type PeMode = 'swigluex_multihead' | 'nope';

export interface RopeSpec {
  type: 'default' | 'yarn';
  /** head_dim/2 inverse frequencies, float32 exactly as torch computes them. */
  invFreq: Float32Array;
  /** cos and sin are multiplied by this (1 without YaRN). */
  attentionFactor: number;
  /** The rope_scaling dict as read from config.json (null for default). */
  scaling: Record<string, unknown> | null;
}

export interface Architecture {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  /** Longest trained context: max_position_embeddings, or factor × original for YaRN if larger. */
  maxPositions: number;
  peMode: PeMode | null;
  /** Sorted, distinct RePo layer indices (empty for plain OLMo-2). */
  repoLayers: number[];
  /** Width of the RePo position MLP (hidden_size / 8). */
  peDim: number;
  tieWordEmbeddings: boolean;
  rope: RopeSpec;
}

type Json = Record<string, unknown>;

function num(cfg: Json, key: string, opts: { int?: boolean; positive?: boolean; optional?: boolean } = {}): number | undefined {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw new CheckpointError(`config.json: "${key}" is missing`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError(`config.json: "${key}" must be a number, got ${JSON.stringify(v)}`);
  if (opts.int && !Number.isSafeInteger(v)) throw new CheckpointError(`config.json: "${key}" must be an integer, got ${v}`);
  if (opts.positive && !(v > 0)) throw new CheckpointError(`config.json: "${key}" must be positive, got ${v}`);
  return v;
}

/** The official code reads the misspelled `dynmaic_*` keys; the correct spelling is only a fallback. */
function peValue(pe: Json, name: string): unknown {
  const mis = 'dynmaic_' + name;
  if (mis in pe) return pe[mis];
  return pe['dynamic_' + name];
}

/** Python truthiness for the JSON values a config can hold. */
const truthy = (v: unknown) => !(v === undefined || v === null || v === false || v === 0 || v === '');

export function parseConfig(raw: unknown): Architecture {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CheckpointError('config.json: not a JSON object');
  const cfg = raw as Json;
  if (cfg.model_type !== 'olmo2') {
    throw new CheckpointError(
      `config.json: model_type ${JSON.stringify(cfg.model_type)} is not supported; RePo Lens runs OLMo-2 ("olmo2") checkpoints`,
    );
  }
  if (cfg.attention_bias === true) throw new CheckpointError('config.json: attention_bias=true is not supported (OLMo-2 has no biases)');
  if (cfg.hidden_act !== undefined && cfg.hidden_act !== 'silu') {
    throw new CheckpointError(`config.json: hidden_act ${JSON.stringify(cfg.hidden_act)} is not supported (expected "silu")`);
  }
  const vocabSize = num(cfg, 'vocab_size', { int: true, positive: true })!;
  const hiddenSize = num(cfg, 'hidden_size', { int: true, positive: true })!;
  const intermediateSize = num(cfg, 'intermediate_size', { int: true, positive: true })!;
  const numLayers = num(cfg, 'num_hidden_layers', { int: true, positive: true })!;
  const numHeads = num(cfg, 'num_attention_heads', { int: true, positive: true })!;
  const numKvHeads = num(cfg, 'num_key_value_heads', { int: true, positive: true, optional: true }) || numHeads;
  const headDimRaw = num(cfg, 'head_dim', { int: true, positive: true, optional: true });
  const headDim = headDimRaw || Math.floor(hiddenSize / numHeads);
  if (!headDimRaw && hiddenSize % numHeads !== 0) {
    throw new CheckpointError(`config.json: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  }
  if (headDim % 2 !== 0) throw new CheckpointError(`config.json: head_dim ${headDim} must be even for rotary embeddings`);
  if (numKvHeads !== numHeads) {
    throw new CheckpointError(
      `config.json: num_key_value_heads (${numKvHeads}) must equal num_attention_heads (${numHeads}): ` +
        'RePo rotates each head\'s keys by its own positions',
    );
  }
  const rmsNormEps = num(cfg, 'rms_norm_eps', { positive: true, optional: true }) ?? 1e-6;
  const ropeParams = cfg.rope_parameters && typeof cfg.rope_parameters === 'object' ? (cfg.rope_parameters as Json) : null;
  const ropeTheta =
    num(cfg, 'rope_theta', { positive: true, optional: true }) ??
    (ropeParams ? num(ropeParams, 'rope_theta', { positive: true, optional: true }) : undefined) ??
    500000;
  const maxPositionEmbeddings = num(cfg, 'max_position_embeddings', { int: true, positive: true, optional: true }) ?? 4096;

  // pe_config, read the way the reference (and the official fork) reads it.
  let peMode: PeMode | null = null;
  let repoLayers: number[] = [];
  const pe = cfg.pe_config;
  if (pe !== undefined && pe !== null) {
    if (typeof pe !== 'object' || Array.isArray(pe)) throw new CheckpointError('config.json: pe_config must be an object');
    const p = pe as Json;
    const mode = truthy(p.dynamic_pe_mode) ? p.dynamic_pe_mode : truthy(p.dynmaic_pe_mode) ? p.dynmaic_pe_mode : null;
    if (mode !== null) {
      if (mode !== 'swigluex_multihead' && mode !== 'nope') {
        throw new CheckpointError(
          `config.json: pe_config mode ${JSON.stringify(mode)} is not supported (expected "swigluex_multihead" or "nope")`,
        );
      }
      peMode = mode;
      const startRaw = peValue(p, 'pe_start_layer');
      const start = startRaw === undefined || startRaw === null ? 0 : Number(startRaw);
      if (!Number.isSafeInteger(start) || start < 0) {
        throw new CheckpointError(`config.json: pe_config start layer ${JSON.stringify(startRaw)} is not a non-negative integer`);
      }
      const ids = peValue(p, 'pe_layer_ids');
      if (ids === undefined || ids === null || String(ids).trim() === '') {
        for (let i = start; i < numLayers; i++) repoLayers.push(i);
      } else {
        const set = new Set<number>();
        for (const part of String(ids).split(',')) {
          if (part.trim() === '') continue;
          const id = Number(part.trim());
          if (!Number.isSafeInteger(id) || id < 0 || id >= numLayers) {
            throw new CheckpointError(
              `config.json: pe_config layer id ${JSON.stringify(part.trim())} is not a layer index in 0..${numLayers - 1}`,
            );
          }
          set.add(id);
        }
        repoLayers = [...set].sort((a, b) => a - b);
      }
    }
  }
  if (peMode === 'swigluex_multihead' && hiddenSize % 8 !== 0) {
    throw new CheckpointError(`config.json: hidden_size ${hiddenSize} must be divisible by 8 for RePo position modules`);
  }

  // rope_scaling (or transformers-5 rope_parameters with a non-default type).
  let scaling: Json | null = null;
  if (cfg.rope_scaling !== undefined && cfg.rope_scaling !== null) {
    if (typeof cfg.rope_scaling !== 'object') throw new CheckpointError('config.json: rope_scaling must be an object');
    scaling = cfg.rope_scaling as Json;
  } else if (ropeParams && (ropeParams.rope_type ?? 'default') !== 'default') {
    scaling = ropeParams;
  }
  const rope = ropeSpec(headDim, ropeTheta, maxPositionEmbeddings, scaling);
  let maxPositions = maxPositionEmbeddings;
  if (rope.type === 'yarn' && scaling) {
    const factor = Number(scaling.factor);
    const orig = Number(scaling.original_max_position_embeddings);
    if (Number.isFinite(factor) && Number.isFinite(orig)) maxPositions = Math.max(maxPositions, Math.round(factor * orig));
  }
  return {
    vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, rmsNormEps, ropeTheta,
    maxPositionEmbeddings, maxPositions, peMode, repoLayers, peDim: Math.floor(hiddenSize / 8),
    tieWordEmbeddings: cfg.tie_word_embeddings === true, rope,
  };
}

const f32 = Math.fround;

/**
 * inv_freq and the cos/sin factor, as repo_olmo2.rope_inv_freq computes them. Torch does that
 * arithmetic in float32 one operation at a time; each step here is done in float64 and rounded to
 * float32 (exact for + − × ÷, since float64 carries more than twice float32's precision), so the
 * results match torch bit for bit (checked in test/checkpoint.test.ts against values from torch).
 */
export function ropeSpec(dim: number, theta: number, maxPositionEmbeddings: number, scaling: Json | null): RopeSpec {
  const half = dim / 2;
  // pos_freqs = base ** (arange(0, dim, 2).float() / dim);  inv_freq = 1.0 / pos_freqs
  const posFreqs = new Float64Array(half);
  const invFreq = new Float32Array(half);
  for (let k = 0; k < half; k++) {
    posFreqs[k] = f32(theta ** f32((2 * k) / dim));
    invFreq[k] = f32(1 / posFreqs[k]);
  }
  const rtype = scaling ? (scaling.rope_type ?? scaling.type ?? null) : null;
  if (rtype === null || rtype === 'default') return { type: 'default', invFreq, attentionFactor: 1, scaling: null };
  if (rtype !== 'yarn') throw new CheckpointError(`config.json: rope_scaling type ${JSON.stringify(rtype)} is not supported (only "yarn")`);
  const s = scaling!;
  const optNum = (k: string): number | null => {
    const v = s[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError(`config.json: rope_scaling.${k} must be a number`);
    return v;
  };
  const orig = optNum('original_max_position_embeddings') || maxPositionEmbeddings;
  let factor = optNum('factor');
  if (factor === null) factor = maxPositionEmbeddings / orig;
  if (!(factor > 0)) throw new CheckpointError(`config.json: rope_scaling.factor must be positive, got ${factor}`);
  const getMscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  let attentionFactor = optNum('attention_factor');
  const mscale = optNum('mscale');
  const mscaleAllDim = optNum('mscale_all_dim');
  if (attentionFactor === null) {
    attentionFactor = mscale && mscaleAllDim ? getMscale(factor, mscale) / getMscale(factor, mscaleAllDim) : getMscale(factor);
  }
  const betaFast = optNum('beta_fast') || 32;
  const betaSlow = optNum('beta_slow') || 1;
  const corrDim = (numRot: number) => (dim * Math.log(orig / (numRot * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = corrDim(betaFast);
  let high = corrDim(betaSlow);
  if (s.truncate === undefined || truthy(s.truncate)) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  // Python scalars meet float32 tensors here: torch rounds the scalar to float32 first.
  const lowF = f32(low);
  const spanF = f32(high - low);
  const factorF = f32(factor);
  for (let k = 0; k < half; k++) {
    const ramp = Math.min(Math.max(f32(f32(k - lowF) / spanF), 0), 1);
    const extra = f32(1 - ramp);
    const interp = f32(1 / f32(factorF * posFreqs[k]));
    invFreq[k] = f32(f32(interp * f32(1 - extra)) + f32(invFreq[k] * extra));
  }
  return { type: 'yarn', invFreq, attentionFactor, scaling: { ...s } };
}

// ------------------------------------------------------------------------------------------------
// Weights
// ------------------------------------------------------------------------------------------------

export interface WeightSpec {
  /** Name in the checkpoint. */
  name: string;
  shape: number[];
  /** Where the bytes come from (differs from `name` only for tied embeddings). */
  source: string;
}

/** Every weight the architecture needs, in a stable order, with its expected shape. */
export function expectedWeights(arch: Architecture): WeightSpec[] {
  const d = arch.hiddenSize;
  const hd = arch.numHeads * arch.headDim;
  const w = (name: string, shape: number[]): WeightSpec => ({ name, shape, source: name });
  const out: WeightSpec[] = [w('model.embed_tokens.weight', [arch.vocabSize, d])];
  for (let i = 0; i < arch.numLayers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      w(p + 'self_attn.q_proj.weight', [hd, d]),
      w(p + 'self_attn.k_proj.weight', [hd, d]),
      w(p + 'self_attn.v_proj.weight', [hd, d]),
      w(p + 'self_attn.o_proj.weight', [d, hd]),
      w(p + 'self_attn.q_norm.weight', [hd]),
      w(p + 'self_attn.k_norm.weight', [hd]),
    );
    if (isLearnedLayer(arch, i)) {
      out.push(
        w(p + 'self_attn.gate_map.weight', [arch.peDim, d]),
        w(p + 'self_attn.content_map.weight', [arch.peDim, d]),
        w(p + 'self_attn.final_map.weight', [arch.numHeads, arch.peDim]),
      );
    }
    out.push(
      w(p + 'mlp.gate_proj.weight', [arch.intermediateSize, d]),
      w(p + 'mlp.up_proj.weight', [arch.intermediateSize, d]),
      w(p + 'mlp.down_proj.weight', [d, arch.intermediateSize]),
      w(p + 'post_attention_layernorm.weight', [d]),
      w(p + 'post_feedforward_layernorm.weight', [d]),
    );
  }
  out.push(w('model.norm.weight', [d]), w('lm_head.weight', [arch.vocabSize, d]));
  return out;
}

/** A RePo layer with a position module (not a `nope` one). */
export function isLearnedLayer(arch: Architecture, layer: number): boolean {
  return arch.peMode === 'swigluex_multihead' && arch.repoLayers.includes(layer);
}

const POSITION_MODULE = /^model\.layers\.(\d+)\.self_attn\.(gate_map|content_map|final_map)\.weight$/;

export interface Checkpoint {
  dir: string;
  arch: Architecture;
  weights: SafetensorsCheckpoint;
  /** The weights the graph needs, validated. */
  specs: WeightSpec[];
  /** config.json as read (for name lookup etc.). */
  config: Json;
}

/** Reads config.json and the safetensors headers and validates them against each other. */
export async function openCheckpoint(dir: string, opts: { config?: Json } = {}): Promise<Checkpoint> {
  const cfgPath = path.join(dir, 'config.json');
  let config: Json;
  if (opts.config) {
    config = opts.config; // e.g. config.json with a YaRN context extension applied (models.ts withYarn)
  } else {
    try {
      config = JSON.parse(await fs.promises.readFile(cfgPath, 'utf8'));
    } catch (e) {
      throw new CheckpointError(`${cfgPath}: cannot read config.json (${(e as Error).message})`);
    }
  }
  const arch = parseConfig(config);
  let weights: SafetensorsCheckpoint;
  try {
    weights = await SafetensorsCheckpoint.open(dir);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(e.message);
    throw e;
  }
  const specs = expectedWeights(arch);
  for (const spec of specs) {
    if (!weights.has(spec.name)) {
      if (spec.name === 'lm_head.weight' && arch.tieWordEmbeddings) {
        spec.source = 'model.embed_tokens.weight';
        continue;
      }
      const m = POSITION_MODULE.exec(spec.name);
      throw new CheckpointError(
        m
          ? `checkpoint is missing RePo weight "${spec.name}": config.json makes layer ${m[1]} a RePo layer ` +
              `(layers ${arch.repoLayers.join(', ')}), so its position module is required; refusing to fall back to integer RoPE`
          : `checkpoint is missing weight "${spec.name}"`,
      );
    }
    const t = weights.get(spec.name);
    if (t.shape.length !== spec.shape.length || t.shape.some((v, i) => v !== spec.shape[i])) {
      throw new CheckpointError(
        `weight "${spec.name}" has shape [${t.shape.join(', ')}] but config.json implies [${spec.shape.join(', ')}]`,
      );
    }
    if (!['F32', 'BF16', 'F16'].includes(t.dtype)) {
      throw new CheckpointError(`weight "${spec.name}" has dtype ${t.dtype}; only F32, BF16 and F16 are supported`);
    }
  }
  // Position-module weights the config does not account for mean the config and the weights disagree
  // (e.g. a RePo checkpoint whose pe_config was lost): running it would silently be wrong.
  const needed = new Set(specs.map((s) => s.name));
  for (const name of weights.tensors.keys()) {
    const m = POSITION_MODULE.exec(name);
    if (m && !needed.has(name)) {
      throw new CheckpointError(
        `checkpoint has RePo weight "${name}" but config.json does not make layer ${m[1]} a learned-position layer ` +
          `(pe_config mode ${JSON.stringify(arch.peMode)}, RePo layers [${arch.repoLayers.join(', ')}])`,
      );
    }
  }
  return { dir, arch, weights, specs, config };
}
