/**
 * Analytical matmul FLOP count of one forward pass of the analysing graph
 * (src/engine/onnx/repo-olmo2.ts), 2 FLOPs per multiply-add. Elementwise ops, norms, softmax and
 * rotary are left out: they are a few percent at most and no matmul unit runs them.
 */
import { Architecture, isLearnedLayer } from '../engine/checkpoint';
import { defaultAttention, defaultChunk } from '../engine/onnx/repo-olmo2';

export interface FlopCount {
  /** q, k, v projections over all T rows; o_proj over the rows that need it. */
  projections: number;
  /** RePo position maps (gate, content, final) of the learned layers. */
  repoMaps: number;
  /** SwiGLU MLP (gate, up, down). */
  mlp: number;
  /** Causal attention, useful work only: QKᵀ and PV over the lower triangle, T(T+1)/2 per head. */
  attention: number;
  /** lm_head for the last row. */
  lmHead: number;
  /** The inspection outputs: the Q+1 query rows' scores against all T keys, every layer (the graph's
   *  extra work over a logits-only forward). */
  inspection: number;
  /** Everything a plain forward needs: projections + repoMaps + mlp + attention + lmHead. */
  forward: number;
  /** forward + inspection: what the analysing graph computes, as counted here. */
  total: number;
  /** Attention as the blocked kernel executes it: block b of C rows scores keys up to its end, so
   *  some of the masked upper triangle is computed too (informational). */
  attentionExecuted: number;
}

/**
 * @param T tokens; @param Q query rows; @param chunk rows per attention block (the default graph's)
 * In the last layer only the last position feeds the logits, so the graph runs attention, o_proj
 * and the MLP for that one row there (k and v still cover all T rows, q too: the query rows read it).
 */
export function countFlops(arch: Architecture, T: number, Q: number, chunk = defaultChunk(defaultAttention(arch))): FlopCount {
  const d = arch.hiddenSize;
  const HD = arch.numHeads * arch.headDim;
  const H = arch.numHeads;
  const D = arch.headDim;
  const I = arch.intermediateSize;
  const pe = arch.peDim;
  const mm = (m: number, k: number, n: number) => 2 * m * k * n;
  const tri = (T * (T + 1)) / 2;
  const nBlocks = Math.ceil(T / chunk);
  // Σ_b C·min((b+1)C, T) scored pairs per head.
  let executedPairs = 0;
  for (let b = 0; b < nBlocks; b++) executedPairs += chunk * Math.min((b + 1) * chunk, T);
  // Padding rows of the last block are computed too; count them (they are real work done).

  const c: FlopCount = {
    projections: 0,
    repoMaps: 0,
    mlp: 0,
    attention: 0,
    lmHead: mm(1, d, arch.vocabSize),
    inspection: 0,
    forward: 0,
    total: 0,
    attentionExecuted: 0,
  };
  for (let layer = 0; layer < arch.numLayers; layer++) {
    const last = layer === arch.numLayers - 1;
    const rows = last ? 1 : T;
    c.projections += 3 * mm(T, d, HD) + mm(rows, HD, d);
    if (isLearnedLayer(arch, layer)) c.repoMaps += 2 * mm(T, d, pe) + mm(T, pe, H);
    c.mlp += 2 * mm(rows, d, I) + mm(rows, I, d);
    const pairs = last ? T : tri; // one query row against T keys in the last layer
    c.attention += 2 * H * 2 * D * pairs; // QKᵀ and PV
    c.attentionExecuted += 2 * H * 2 * D * (last ? T : executedPairs);
    c.inspection += H * mm(Q + 1, D, T);
  }
  c.forward = c.projections + c.repoMaps + c.mlp + c.attention + c.lmHead;
  c.total = c.forward + c.inspection;
  return c;
}
