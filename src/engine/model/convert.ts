/**
 * Checkpoint folder (official RePo-OLMo2 layout) → model.onnx (+ model.onnx.data for big models).
 *
 * Streams: weights are read, converted and written one chunk at a time, so peak memory stays at a
 * few MB whatever the model size. The file appears atomically: everything is written under a
 * temporary name in outDir and renamed into place at the end.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { openCheckpoint, WeightSpec } from '../checkpoint';
import { DataType, StreamedTensor } from '../onnx/builder';
import { AttentionImpl, buildRePoOlmo2Graph, defaultAttention, defaultChunk, GraphOutputs } from '../onnx/repo-olmo2';
import { writeModel } from '../onnx/writer';
import { ModelInfo } from './types';

/** Bumped whenever the graph or the stored info changes; models.ts re-converts on mismatch. */
export const CONVERTER_VERSION = '5';
/** Metadata key holding the ModelInfo JSON. */
export const METADATA_KEY = 'repo_lens';
export const ONNX_FILE = 'model.onnx';
export const DATA_FILE = 'model.onnx.data';
/** Above this many weight bytes, weights go to external data (protobuf files are limited to 2 GiB). */
export const EXTERNAL_DATA_THRESHOLD = 1.5e9;

/** The converted graph a provider runs: weight storage, matmul precision and attention graph. */
export interface GraphChoice {
  storage: 'fp32' | 'fp16';
  compute: 'fp32' | 'fp16';
  /** undefined: the converter's default for the model (defaultAttention). */
  attention?: AttentionImpl;
  /** undefined: the default (fused RotaryEmbedding). */
  rotary?: 'fused' | 'ops';
}

/**
 * Which graph to convert for a session on `provider`. 'auto' storage: fp16 on CUDA (half the GPU
 * memory), fp32 on the CPU (ORT casts fp16 weights back there) and on WebGPU (on an H200 its fp16
 * graph was only 1.2–1.4× faster at 4K tokens of the 1B model, 1.72 vs 2.37 s, and moved positions
 * by up to 0.5; fp32: 1.6e-4). fp16 weights on a GPU also get fp16 matmuls, the GPU's fast path.
 *
 * WebGPU gets the plain-op attention blocks: its com.microsoft MultiHeadAttention gave wrong rows
 * past the first few hundred tokens under Mesa's lavapipe (onnxruntime-node 1.30; positions off by
 * up to 1.5 at 512 tokens, with a causal bias and with unidirectional=1), while plain
 * MatMul/Where/Softmax blocks match the CPU to 1e-5. On an H200's Vulkan driver both were right,
 * and the plain blocks faster (1B model, 4K tokens: 2.15 vs 2.70 s).
 *
 * CUDA gets the fused blocks with an additive causal bias ('chunked-mha') whatever the model, the
 * attention-bias path CUDA's MultiHeadAttention is built for; the CPU's past-keyed blocks (narrow
 * models, defaultAttention) rely on unidirectional masking with a past, which no CUDA run has
 * checked yet. The CPU graph (undefined attention) is the converter's default for the model. Both GPU graphs keep the
 * plain-op rotary: the opset-23 RotaryEmbedding kernel is measured on the CPU only.
 */
export function graphFor(provider: 'cpu' | 'cuda' | 'webgpu', storage: 'auto' | 'fp32' | 'fp16'): GraphChoice {
  const s = storage === 'auto' ? (provider === 'cuda' ? 'fp16' : 'fp32') : storage;
  const compute = s === 'fp16' && provider !== 'cpu' ? 'fp16' : 'fp32';
  if (provider === 'webgpu') return { storage: s, compute, attention: 'chunked', rotary: 'ops' };
  if (provider === 'cuda') return { storage: s, compute, attention: 'chunked-mha', rotary: 'ops' };
  return { storage: s, compute };
}

export interface ConvertOptions {
  storage?: 'fp32' | 'fp16';
  /** fp16 matmuls (with fp16 storage): the GPU graph. Default 'fp32'. */
  compute?: 'fp32' | 'fp16';
  name?: string;
  onProgress?: (message: string, fraction: number) => void;
  /** Force (true) or forbid (false) external data; default: by size. */
  externalData?: boolean;
  /** Main-attention implementation (for benchmarks and checks; the default is linear in T). */
  attention?: AttentionImpl;
  chunk?: number;
  /** How q and k are rotated (GraphOptions.rotary); default 'fused'. */
  rotary?: 'fused' | 'ops';
  /**
   * 'logits' writes a graph with last_logits as its only output (no positions, no query attention):
   * the baseline the benchmark compares the analysing graph with. RePoSession cannot run it.
   * Default 'analysis'.
   */
  outputs?: GraphOutputs;
  /** Use this config instead of the folder's config.json (a YaRN context extension, models.ts withYarn). */
  config?: Record<string, any>;
}

export async function convertCheckpoint(
  checkpointDir: string,
  outDir: string,
  opts: ConvertOptions = {},
): Promise<{ onnxPath: string; info: ModelInfo }> {
  const storage = opts.storage ?? 'fp32';
  const progress = opts.onProgress ?? (() => undefined);
  progress('reading checkpoint', 0);
  const ckpt = await openCheckpoint(checkpointDir, { config: opts.config });
  const { arch } = ckpt;
  const attention = opts.attention ?? defaultAttention(arch);
  const info: ModelInfo = {
    name: opts.name ?? path.basename(path.resolve(checkpointDir)),
    numLayers: arch.numLayers,
    numHeads: arch.numHeads,
    headDim: arch.headDim,
    hiddenSize: arch.hiddenSize,
    vocabSize: arch.vocabSize,
    repoLayers: arch.repoLayers,
    peMode: arch.peMode,
    maxPositions: arch.maxPositions,
    storage,
    compute: storage === 'fp16' && opts.compute === 'fp16' ? 'fp16' : 'fp32',
    converterVersion: CONVERTER_VERSION,
    ropeType: arch.rope.type,
    ropeTheta: arch.ropeTheta,
    attentionFactor: arch.rope.attentionFactor,
    attentionImpl: attention.startsWith('chunked') ? `${attention}:${opts.chunk ?? defaultChunk(attention)}` : attention,
  };

  const weightFor = (spec: WeightSpec, as: 'f32' | 'f16'): StreamedTensor => {
    const numel = spec.shape.reduce((a, b) => a * b, 1);
    return {
      name: spec.source,
      dims: spec.shape,
      dataType: as === 'f16' ? DataType.FLOAT16 : DataType.FLOAT,
      byteLength: numel * (as === 'f16' ? 2 : 4),
      chunks: () => ckpt.weights.convertedChunks(spec.source, as),
    };
  };
  const built = buildRePoOlmo2Graph(arch, ckpt.specs, weightFor, {
    storage,
    compute: info.compute,
    attention,
    chunk: opts.chunk,
    rotary: opts.rotary,
    outputs: opts.outputs,
  });
  const model: onnx.IModelProto = {
    irVersion: built.irVersion,
    opsetImport: built.opsetImport,
    producerName: 'repo-lens',
    producerVersion: CONVERTER_VERSION,
    metadataProps: [{ key: METADATA_KEY, value: JSON.stringify(info) }],
    graph: built.graph,
  };
  const total = built.streamed.reduce((a, t) => a + t.byteLength, 0);
  const external = opts.externalData ?? total > EXTERNAL_DATA_THRESHOLD;

  await fs.promises.mkdir(outDir, { recursive: true });
  const onnxPath = path.join(outDir, ONNX_FILE);
  const dataPath = path.join(outDir, DATA_FILE);
  const tag = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const tmpOnnx = path.join(outDir, `.${ONNX_FILE}.${tag}.tmp`);
  const tmpData = path.join(outDir, `.${DATA_FILE}.${tag}.tmp`);
  try {
    await writeModel({
      onnxPath: tmpOnnx,
      model,
      streamed: built.streamed,
      external: external ? { dataPath: tmpData, location: DATA_FILE } : null,
      onTensor: (name, done) => progress(`converted ${name}`, total ? done / total : 1),
    });
    if (external) await fs.promises.rename(tmpData, dataPath);
    await fs.promises.rename(tmpOnnx, onnxPath);
    // An inline model never reads a data file; drop one left by an earlier external conversion.
    if (!external) await fs.promises.rm(dataPath, { force: true });
  } catch (e) {
    await fs.promises.rm(tmpOnnx, { force: true });
    await fs.promises.rm(tmpData, { force: true });
    throw e;
  }
  progress('done', 1);
  return { onnxPath, info };
}
