/**
 * The contract between the ONNX graph, the model session and everything above it.
 * Shapes are row-major, batch 1.
 */

/** What a converted model knows about itself (stored as JSON in the ONNX metadata under `repo_lens`). */
export interface ModelInfo {
  /** Display name: embedded model name or checkpoint folder's base name. */
  name: string;
  numLayers: number;
  numHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  /** Layers whose rotary positions are learned (RePo). Empty for a plain RoPE model. */
  repoLayers: number[];
  /** 'swigluex_multihead' (RePo), 'nope', or null for plain OLMo-2. */
  peMode: string | null;
  /** Longest context the checkpoint was trained for (max_position_embeddings, or YaRN-extended). */
  maxPositions: number;
  /** How the weights are stored in the ONNX file. */
  storage: 'fp32' | 'fp16';
  /** Precision of the big matmuls ('fp16' only with fp16 storage, for GPUs; see GraphOptions.compute). */
  compute?: 'fp32' | 'fp16';
  /** Version of the converter that wrote the file; a different version re-converts. */
  converterVersion: string;
  /** Rotary details (informational): 'default' or 'yarn', theta, and the cos/sin factor. */
  ropeType?: 'default' | 'yarn';
  ropeTheta?: number;
  attentionFactor?: number;
  /** How the graph computes the main causal attention (see src/engine/onnx/repo-olmo2.ts). */
  attentionImpl?: string;
}

/** One forward pass request. */
export interface RunRequest {
  /** Token ids, length T >= 1. */
  ids: ArrayLike<number>;
  /** Token indices (0..T-1) whose attention rows are wanted, at least one; averaged in the graph. */
  queryRows: ArrayLike<number>;
  /** Feed integer positions 0..T-1 to the RePo layers instead of the learned ones (ablation). */
  integerPositions: boolean;
}

/** One forward pass result. */
export interface RunResult {
  /** [repoLayers.length][numHeads][T]: positions used by each RePo layer and head. */
  positions: Float32Array;
  /**
   * [numLayers][numHeads][T]: the causal softmax attention of the Q query rows, averaged over the
   * rows (each row is zero past its own token, so each mean row sums to 1).
   */
  attention: Float32Array;
  /** [vocabSize]: next-token logits at the last position. */
  lastLogits: Float32Array;
  T: number;
  Q: number;
}

/** ONNX input / output names. */
export const GRAPH_IO = {
  inputIds: 'input_ids', // int64 [1, T]
  queryRows: 'query_rows', // int64 [Q]
  integerPositions: 'integer_positions', // bool [1]
  positions: 'positions', // float32 [R, H, T]
  attention: 'mean_query_attention', // float32 [L, H, T]
  lastLogits: 'last_logits', // float32 [V]
} as const;
