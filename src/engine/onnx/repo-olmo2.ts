/**
 * The RePo-OLMo2 forward pass as an ONNX graph (batch 1, activations kept 2-D as [T, width]).
 *
 * Matches tools/reference/repo_olmo2.py:
 *   h = embed(ids)
 *   per layer: q,k,v = h·Wᵀ; q,k = RMSNorm over the whole q / k vector (before the head split);
 *     rotating layers: angles = pos ⊗ inv_freq (fp32), cos/sin × attention factor, NeoX rotate-half;
 *       pos = learned z (RePo layers: z = (SiLU(h·W_gateᵀ) ⊙ h·W_contentᵀ)·W_finalᵀ, from the raw
 *       layer input), or 0..T-1 (layers below the start, and RePo layers when integer_positions);
 *       `nope` RePo layers do not rotate and report zero positions;
 *     causal softmax attention (scale 1/√D); h += RMSNorm(o·W_oᵀ); h += RMSNorm(SwiGLU MLP(h))
 *   logits = lm_head(RMSNorm(h[last]))
 *
 * Outputs never carry anything T×T or T×V: the query rows' attention averaged over the rows [L,H,T], positions [R,H,T]
 * and the last position's logits [V]. Weights are stored as in the checkpoint ([out, in]) and used
 * through Gemm(transB=1), so conversion never has to transpose a matrix.
 */
import { onnx } from 'onnx-proto';
import { Architecture, WeightSpec, isLearnedLayer } from '../checkpoint';
import { GRAPH_IO } from '../model/types';
import { DataType, GraphBuilder, StreamedTensor, float } from './builder';

/**
 * How the main causal attention is computed.
 * - 'chunked-mha-past' (the CPU default for narrow models, defaultAttention): a Loop over blocks of C
 *   query rows; each block runs com.microsoft MultiHeadAttention with its own C keys as key/value
 *   and the keys before it as past_key/past_value, unidirectional=1: the kernel's causal mask is
 *   offset by the past length, so no mask tensor is built or sliced. Memory O(H·C·T), linear in T.
 * - 'chunked-mha' (the CPU default for wide models, and CUDA's): the same blocks, each attending to
 *   keys [0, block end) through MultiHeadAttention with an additive causal bias sliced from one band.
 * - 'chunked': the same blocks with plain ops (MatMul, Where, Softmax, MatMul); WebGPU's graph.
 * - 'full': plain ops on the whole [H,T,T] score matrix (quadratic memory; for checking).
 * - 'mha': com.microsoft MultiHeadAttention with unidirectional=1 over the whole sequence.
 * - 'attention23': opset-23 Attention with is_causal=1.
 */
export type AttentionImpl = 'chunked' | 'chunked-mha' | 'chunked-mha-past' | 'full' | 'mha' | 'attention23';

export interface GraphOptions {
  storage: 'fp32' | 'fp16';
  /**
   * 'fp16' (with fp16 storage): the projection and MLP matmuls and the output layer run in fp16
   * (activations cast to fp16 in, fp32 out), for GPUs, where fp16 matmuls are the fast path. Norms,
   * the residual stream, rotary, attention and the RePo position modules stay fp32: a learned
   * position of a few thousand would lose whole units in fp16. Default 'fp32'.
   */
  compute?: 'fp32' | 'fp16';
  attention?: AttentionImpl;
  /**
   * How q and k are rotated. 'fused' (default): the opset-23 RotaryEmbedding operator, one kernel
   * per tensor (repo-tiny, 4K tokens, alternating runs: 3–6 % faster per pass than the plain ops).
   * 'ops': Split, Mul, Sub, Add, Concat (the GPU graphs, where the fused kernel is unmeasured).
   */
  rotary?: 'fused' | 'ops';
  /** Query rows per block for the 'chunked…' graphs (default: defaultChunk). */
  chunk?: number;
  /**
   * 'analysis' (default): positions, query attention and last logits. 'logits': last_logits only,
   * with the query-attention rows and position outputs left out of the graph (the same inputs are
   * still declared, so callers feed it alike); used to measure what the inspection outputs cost.
   */
  outputs?: GraphOutputs;
}

export type GraphOutputs = 'analysis' | 'logits';

export interface BuiltGraph {
  graph: onnx.IGraphProto;
  streamed: StreamedTensor[];
  opsetImport: onnx.IOperatorSetIdProto[];
  irVersion: number;
}

/**
 * The CPU graph's attention for a model: the past-keyed blocks for models whose attention width
 * (heads × head size) is at most 1024, the bias blocks above. Measured (2 threads): repo-tiny
 * (width 128) runs 15–20 % faster with the past-keyed blocks at 4K–16K tokens at about the same
 * memory; at the 1B model's width (2048; 4 of its layers) they are 4–6 % faster at 4K tokens but
 * equal at 8K, where they need 0.9 GB more working memory (5.9 vs 5.0–5.2 GiB peak), the growing
 * present keys fragmenting onnxruntime's arena. Widths in between are unmeasured.
 */
export function defaultAttention(arch: Pick<Architecture, 'numHeads' | 'headDim'>): AttentionImpl {
  return arch.numHeads * arch.headDim <= 1024 ? 'chunked-mha-past' : 'chunked-mha';
}
/**
 * Query rows per attention block when GraphOptions.chunk is not given. 'chunked-mha-past': 128.
 * repo-tiny, 2 threads, best of 9–11 alternating runs: 4K tokens 128 rows 181–188 ms, 64: 184,
 * 192: 205, 256: 187–198, 384: 211, 512: 214; 16K: 128 rows 2.42 s, 256: 2.51 s. Smaller blocks
 * compute less of the masked triangle and keep each head's [C, K] scores nearer the cache; the 1B
 * model's shapes (2K tokens) do not care (128: 5.87 s, 256: 5.78 s). The others: 512 (fewer Loop
 * iterations, less key/value slicing and mask building: 4K 278 vs 296 ms at 256). A block's scores
 * are H × C × T floats (the 1B model at 16K tokens, 128 rows: 134 MB).
 */
export function defaultChunk(impl: AttentionImpl): number {
  return impl === 'chunked-mha-past' ? 128 : 512;
}
const INT64_MAX = Number.MAX_SAFE_INTEGER; // Slice clamps ends, any large value works

/**
 * @param weightFor turns a checkpoint weight into a streamed initializer with the given storage type
 */
export function buildRePoOlmo2Graph(
  arch: Architecture,
  specs: WeightSpec[],
  weightFor: (spec: WeightSpec, as: 'f32' | 'f16') => StreamedTensor,
  opts: GraphOptions,
): BuiltGraph {
  const impl = opts.attention ?? defaultAttention(arch);
  const fusedRotary = (opts.rotary ?? 'fused') === 'fused';
  const chunk = opts.chunk ?? defaultChunk(impl);
  const inspect = (opts.outputs ?? 'analysis') === 'analysis';
  const g = new GraphBuilder();
  const H = arch.numHeads;
  const D = arch.headDim;
  const HD = H * D;
  const L = arch.numLayers;
  const R = arch.repoLayers.length;
  const { FLOAT, INT64, BOOL } = DataType;

  const inputIds = g.input(GRAPH_IO.inputIds, INT64, [1, 'T']);
  const queryRows = g.input(GRAPH_IO.queryRows, INT64, ['Q']);
  const integerPositions = g.input(GRAPH_IO.integerPositions, BOOL, [1]);

  // ---- weights: declared as streamed initializers; fp16 storage converts back with a Cast --------
  const specByName = new Map(specs.map((s) => [s.name, s]));
  const stored = new Map<string, { name: string; fp16: boolean }>(); // by source tensor
  const storedWeight = (name: string) => {
    const spec = specByName.get(name);
    if (!spec) throw new Error(`graph needs weight ${name}, which the checkpoint plan lacks`);
    let s = stored.get(spec.source);
    if (!s) {
      // Vectors (norm weights) stay fp32: they are tiny and fp16 would only cost accuracy.
      const fp16 = opts.storage === 'fp16' && spec.shape.length > 1;
      const t = weightFor(spec, fp16 ? 'f16' : 'f32');
      s = { name: g.weight(t), fp16 };
      stored.set(spec.source, s);
    }
    return s;
  };
  const castCache = new Map<string, string>();
  const W = (name: string): string => {
    const s = storedWeight(name);
    if (!s.fp16) return s.name;
    let c = castCache.get(s.name);
    if (!c) castCache.set(s.name, (c = g.op('Cast', [s.name], { to: FLOAT })));
    return c;
  };

  // ---- helpers ------------------------------------------------------------------------------------
  const linear = (x: string, w: string) => g.op('Gemm', [x, W(w)], { transB: 1 });
  const halfMatmuls = opts.compute === 'fp16' && opts.storage === 'fp16';
  /** A big matmul: in fp16 under compute 'fp16', on the stored fp16 weight itself (no cast of W). */
  const bigLinear = (x: string, w: string) => {
    if (!halfMatmuls) return linear(x, w);
    const s = storedWeight(w);
    if (!s.fp16) return linear(x, w);
    const y = g.op('Gemm', [g.op('Cast', [x], { to: DataType.FLOAT16 }), s.name], { transB: 1 });
    return g.op('Cast', [y], { to: FLOAT });
  };
  const eps = g.scalarF32(arch.rmsNormEps);
  const two = g.scalarF32(2);
  const lastAxis = g.i64([-1]);
  // Written as Pow→ReduceMean→Add→Sqrt→Div→Mul so ORT fuses it into SimplifiedLayerNormalization.
  const rmsNorm = (x: string, w: string) => {
    const ms = g.op('ReduceMean', [g.op('Pow', [x, two]), lastAxis], { keepdims: 1 });
    const n = g.op('Div', [x, g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    return g.op('Mul', [n, W(w)]);
  };
  const silu = (x: string) => g.op('Mul', [x, g.op('Sigmoid', [x])]);
  const headSplit = g.i64([0, H, D]); // Reshape [T, HD] → [T, H, D] (0 = keep T)
  const halves = g.i64([D / 2, D / 2]);
  const invFreq = g.f32(arch.rope.invFreq);
  const attnFactor = arch.rope.attentionFactor;
  const scaleTrig = (x: string) => (attnFactor === 1 ? x : g.op('Mul', [x, g.scalarF32(attnFactor)]));
  const sqrtD = g.scalarF32(Math.sqrt(D));
  const negInf = g.scalarF32(-Infinity);
  // Graph-wide values the attention blocks build once and share across layers (chunkedMha).
  const shared: ChunkCtx['shared'] = {};
  const zero1 = g.i64([0]);
  const one1 = g.i64([1]);

  /** NeoX rotate-half: [x1,x2] → [x1·c − x2·s, x2·c + x1·s], x: [T,H,D], c/s broadcast to [T,H,D/2]. */
  const rotate = (x: string, cos: string, sin: string) => {
    const [x1, x2] = g.node('Split', [x, halves], { axis: 2 }, { outputs: 2 });
    const r1 = g.op('Sub', [g.op('Mul', [x1, cos]), g.op('Mul', [x2, sin])]);
    const r2 = g.op('Add', [g.op('Mul', [x2, cos]), g.op('Mul', [x1, sin])]);
    return g.op('Concat', [r1, r2], { axis: 2 });
  };
  /** cos/sin of pos ⊗ inv_freq; pos [..., 1] → [..., D/2]. */
  const trig = (pos: string) => {
    const ang = g.op('Mul', [pos, invFreq]);
    return [scaleTrig(g.op('Cos', [ang])), scaleTrig(g.op('Sin', [ang]))];
  };

  // ---- sequence bookkeeping ------------------------------------------------------------------------
  const ids = g.op('Reshape', [inputIds, g.i64([-1])]); // [T]
  const tVec = g.op('Shape', [ids]); // [1] = [T]
  const tScalar = g.op('Squeeze', [tVec, zero1]);
  const posI = g.op('Range', [g.scalarI64(0), tScalar, g.scalarI64(1)]); // [T] int64
  const posCol = g.op('Unsqueeze', [g.op('Cast', [posI], { to: FLOAT }), g.i64([1])]); // [T,1] float
  const hVec = g.i64([H]);

  // Integer RoPE, shared by every layer that uses it: [T,1,D/2] (broadcast over heads).
  let intTrig: string[] | null = null;
  const integerTrig = () => {
    if (!intTrig) intTrig = trig(g.op('Unsqueeze', [posCol, g.i64([2])]));
    return intTrig;
  };

  // (Built only for the analysis outputs: a logits-only graph leaves query_rows unread.)
  // Query attention bias, built once for every layer: key column j > query row i → -inf, else 0.
  // [Q,T]; an Add of it is far cheaper than a Where per layer on [H,Q,T] (ORT's Where broadcasts
  // slowly: ≈ 5 ms per layer at Q = 200, T = 4K on 2 threads).
  const qBias = inspect
    ? g.op('Where', [g.op('Greater', [posI, g.op('Unsqueeze', [queryRows, g.i64([1])])]), negInf, g.scalarF32(0)])
    : '';

  // ---- embedding ---------------------------------------------------------------------------------
  const embed = storedWeight('model.embed_tokens.weight');
  let h = g.op('Gather', [embed.name, ids], { axis: 0 }); // [T, d]
  if (embed.fp16) h = g.op('Cast', [h], { to: FLOAT });

  const positionsOut: string[] = [];
  const attentionOut: string[] = [];
  let usesMs = false;
  let opset = 21;

  for (let layer = 0; layer < L; layer++) {
    const p = `model.layers.${layer}.`;
    const isRepo = arch.repoLayers.includes(layer);
    const last = layer === L - 1;
    const x = h;
    const q = rmsNorm(bigLinear(x, p + 'self_attn.q_proj.weight'), p + 'self_attn.q_norm.weight');
    const k = rmsNorm(bigLinear(x, p + 'self_attn.k_proj.weight'), p + 'self_attn.k_norm.weight');
    const v = bigLinear(x, p + 'self_attn.v_proj.weight');
    let q3 = g.op('Reshape', [q, headSplit]);
    let k3 = g.op('Reshape', [k, headSplit]);
    const v3 = g.op('Reshape', [v, headSplit]);

    if (isRepo && arch.peMode === 'nope') {
      // No rotation; the reference reports zeros as this layer's positions.
      if (inspect) positionsOut.push(g.op('ConstantOfShape', [g.op('Concat', [hVec, tVec], { axis: 0 })]));
    } else {
      let cos: string;
      let sin: string;
      if (isLearnedLayer(arch, layer)) {
        const r = g.op('Mul', [
          silu(linear(x, p + 'self_attn.gate_map.weight')),
          linear(x, p + 'self_attn.content_map.weight'),
        ]);
        const z = linear(r, p + 'self_attn.final_map.weight'); // [T, H]
        const pos = g.op('Where', [integerPositions, posCol, z]); // [T, H]
        if (inspect) positionsOut.push(g.op('Transpose', [pos], { perm: [1, 0] })); // [H, T]
        [cos, sin] = trig(g.op('Unsqueeze', [pos, g.i64([2])])); // [T, H, D/2]
      } else {
        [cos, sin] = integerTrig();
      }
      if (fusedRotary) {
        // opset-23 RotaryEmbedding, one kernel per tensor. Learned positions differ per head, so
        // each (token, head) pair is a row of its own ([1, T·H, D], one head); integer positions
        // are shared by the heads ([1, T, H·D], H heads). cos/sin: [1, rows, D/2].
        opset = Math.max(opset, 23);
        const perHead = isLearnedLayer(arch, layer);
        const xShape = g.i64(perHead ? [1, -1, D] : [1, -1, HD]);
        const trigShape = g.i64([1, -1, D / 2]);
        const c3 = g.op('Reshape', [cos, trigShape]);
        const s3 = g.op('Reshape', [sin, trigShape]);
        const rot = (x: string) =>
          g.op('Reshape', [g.op('RotaryEmbedding', [g.op('Reshape', [x, xShape]), c3, s3], { num_heads: perHead ? 1 : H }), g.i64([-1, H, D])]);
        q3 = rot(q3);
        k3 = rot(k3);
      } else {
        q3 = rotate(q3, cos, sin);
        k3 = rotate(k3, cos, sin);
      }
    }

    // Per-head layouts for attention.
    const kT = g.op('Transpose', [k3], { perm: [1, 2, 0] }); // [H, D, T]
    const vH = g.op('Transpose', [v3], { perm: [1, 0, 2] }); // [H, T, D]

    // Attention of the requested rows, from the same rotated q and k as the main attention, averaged
    // over the rows in the graph: what leaves is [H,T] per layer whatever Q is (per-row output was
    // [H,Q,T]: 13 MB at Q = 50 on repo-tiny at 4K, 3 GB for the 1B model at Q = 200 and 16K tokens).
    if (inspect) {
      // q scaled before the product: a pass over [H,Q,D] instead of the [H,Q,T] scores.
      const qs = g.op('Transpose', [g.op('Div', [g.op('Gather', [q3, queryRows], { axis: 0 }), sqrtD])], { perm: [1, 0, 2] }); // [H,Q,D]
      const probs = g.op('Softmax', [g.op('Add', [g.op('MatMul', [qs, kT]), qBias])], { axis: -1 }); // [H,Q,T]
      attentionOut.push(g.op('Unsqueeze', [g.op('ReduceMean', [probs, one1], { keepdims: 0 }), zero1])); // [1,H,T]
    }

    let o: string; // [rows, HD]
    let resid = x;
    if (last) {
      // Only the last position feeds the logits: attention, o_proj and MLP for that row only.
      const qLast = g.op('Transpose', [g.op('Slice', [q3, g.i64([-1]), g.i64([INT64_MAX]), zero1])], { perm: [1, 0, 2] });
      const probs = g.op('Softmax', [g.op('Div', [g.op('MatMul', [qLast, kT]), sqrtD])], { axis: -1 }); // [H,1,T]
      const oh = g.op('MatMul', [probs, vH]); // [H,1,D]
      o = g.op('Reshape', [g.op('Transpose', [oh], { perm: [1, 0, 2] }), g.i64([1, HD])]);
      resid = g.op('Slice', [x, g.i64([-1]), g.i64([INT64_MAX]), zero1]);
    } else if (impl === 'full') {
      const qH = g.op('Transpose', [q3], { perm: [1, 0, 2] });
      const s = g.op('Div', [g.op('MatMul', [qH, kT]), sqrtD]); // [H,T,T]
      const mask = g.op('Greater', [posI, g.op('Unsqueeze', [posI, g.i64([1])])]);
      const probs = g.op('Softmax', [g.op('Where', [mask, negInf, s])], { axis: -1 });
      o = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, vH])], { perm: [1, 0, 2] }), g.i64([-1, HD])]);
    } else if (impl === 'mha') {
      usesMs = true;
      const bsd = g.i64([1, -1, HD]);
      const out = g.op(
        'MultiHeadAttention',
        [g.op('Reshape', [q3, bsd]), g.op('Reshape', [k3, bsd]), g.op('Reshape', [v3, bsd])],
        { num_heads: H, unidirectional: 1 },
        { domain: 'com.microsoft' },
      );
      o = g.op('Reshape', [out, g.i64([-1, HD])]);
    } else if (impl === 'attention23') {
      opset = Math.max(opset, 23);
      const qH = g.op('Unsqueeze', [g.op('Transpose', [q3], { perm: [1, 0, 2] }), zero1]); // [1,H,T,D]
      const kH = g.op('Unsqueeze', [g.op('Transpose', [k3], { perm: [1, 0, 2] }), zero1]);
      const out = g.op('Attention', [qH, kH, g.op('Unsqueeze', [vH, zero1])], { is_causal: 1 }); // [1,H,T,D]
      o = g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1, 3] }), g.i64([-1, HD])]);
    } else if (impl === 'chunked-mha') {
      usesMs = true;
      o = chunkedMha(g, layer, g.op('Reshape', [q3, g.i64([0, HD])]), g.op('Reshape', [k3, g.i64([0, HD])]), g.op('Reshape', [v3, g.i64([0, HD])]), H, {
        posI, tVec, tScalar, chunk, HD, sqrtD, negInf, zero1, shared,
      });
    } else if (impl === 'chunked-mha-past') {
      usesMs = true;
      o = chunkedMhaPast(g, layer, g.op('Reshape', [q3, g.i64([0, HD])]), k3, v3, H, {
        posI, tVec, tScalar, chunk, HD, sqrtD, negInf, zero1, shared,
      });
    } else {
      o = chunkedCausal(g, layer, g.op('Transpose', [q3], { perm: [1, 0, 2] }), kT, vH, {
        posI, tVec, tScalar, chunk, HD, sqrtD, negInf, zero1, shared,
      });
    }

    const a = bigLinear(o, p + 'self_attn.o_proj.weight');
    h = g.op('Add', [resid, rmsNorm(a, p + 'post_attention_layernorm.weight')]);
    const m = bigLinear(
      g.op('Mul', [silu(bigLinear(h, p + 'mlp.gate_proj.weight')), bigLinear(h, p + 'mlp.up_proj.weight')]),
      p + 'mlp.down_proj.weight',
    );
    h = g.op('Add', [h, rmsNorm(m, p + 'post_feedforward_layernorm.weight')]);
  }

  // ---- outputs -----------------------------------------------------------------------------------
  const logits = bigLinear(rmsNorm(h, 'model.norm.weight'), 'lm_head.weight'); // [1, V]
  g.op('Reshape', [logits, g.i64([-1])], {}, { outputs: [GRAPH_IO.lastLogits] });

  if (!inspect) {
    // Logits-only variant: nothing else leaves the graph.
  } else if (R === 0) {
    g.op('ConstantOfShape', [g.op('Concat', [g.i64([0]), hVec, tVec], { axis: 0 })], {}, { outputs: [GRAPH_IO.positions] });
  } else {
    const parts = positionsOut.map((x) => g.op('Unsqueeze', [x, zero1]));
    g.op('Concat', parts, { axis: 0 }, { outputs: [GRAPH_IO.positions] });
  }
  if (inspect) {
    g.op('Concat', attentionOut, { axis: 0 }, { outputs: [GRAPH_IO.attention] }); // [L,H,T]
    g.output(GRAPH_IO.positions, FLOAT, [R, H, 'T']);
    g.output(GRAPH_IO.attention, FLOAT, [L, H, 'T']);
  }
  g.output(GRAPH_IO.lastLogits, FLOAT, [arch.vocabSize]);

  const opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: '', version: opset }];
  if (usesMs) opsetImport.push({ domain: 'com.microsoft', version: 1 });
  return {
    graph: g.toGraph('repo_olmo2'),
    streamed: g.streamed,
    opsetImport,
    // IR 10 goes with opsets up to 22, IR 11 with 23–24.
    irVersion: opset >= 23 ? 11 : 10,
  };
}

/**
 * Like chunkedCausal, but each block runs com.microsoft MultiHeadAttention (scale, bias, softmax and
 * PV fused) with an additive causal bias [1,1,C,K]. q, k, v: [T, H·D]. Returns [T, H·D].
 */
function chunkedMha(g: GraphBuilder, layer: number, q2: string, k2: string, v2: string, H: number, c: ChunkCtx): string {
  const C = c.chunk;
  if (!c.shared.mha) {
    const nBlocks = g.op('Div', [g.op('Add', [c.tScalar, g.scalarI64(C - 1)]), g.scalarI64(C)]);
    const tPad = g.op('Mul', [nBlocks, g.scalarI64(C)]);
    const padRows = g.op('Sub', [g.op('Unsqueeze', [tPad, c.zero1]), c.tVec]);
    const qPads = g.op('Concat', [g.i64([0, 0]), padRows, g.i64([0])], { axis: 0 });
    // Every block's causal bias is a column window of one band, built once for all layers and blocks
    // (a copy per block instead of a compare and a select): band[i, x] = 0 where x ≤ Tpad + i, else
    // −inf, [C, Tpad + C]; block b (rows bC + i, keys j < K) takes columns Tpad − bC + j.
    const tPadF = g.op('Cast', [tPad], { to: DataType.FLOAT });
    const xs = g.op('Cast', [g.op('Range', [g.scalarI64(0), g.op('Add', [tPad, g.scalarI64(C)]), g.scalarI64(1)])], { to: DataType.FLOAT });
    const limit = g.op('Add', [g.op('Unsqueeze', [g.op('Cast', [g.op('Range', [g.scalarI64(0), g.scalarI64(C), g.scalarI64(1)])], { to: DataType.FLOAT }), g.i64([1])]), tPadF]); // [C,1]
    const band = g.op('Where', [g.op('Greater', [xs, limit]), c.negInf, g.scalarF32(0)]); // [C, Tpad+C]
    c.shared.mha = { nBlocks, tPad, qPads, band };
  }
  const { nBlocks, tPad, qPads, band } = c.shared.mha;
  const qPad = g.op('Pad', [q2, qPads]); // [Tpad, HD]
  const b = new GraphBuilder(`M${layer}/`);
  const iter = b.input(b.fresh('iter'), DataType.INT64, []);
  const condIn = b.input(b.fresh('cond'), DataType.BOOL, []);
  const start = b.op('Unsqueeze', [b.op('Mul', [iter, g.scalarI64(C)]), c.zero1]);
  const end = b.op('Add', [start, g.i64([C])]);
  const qc = b.op('Unsqueeze', [b.op('Slice', [qPad, start, end, c.zero1]), c.zero1]); // [1, C, HD]
  const kc = b.op('Unsqueeze', [b.op('Slice', [k2, c.zero1, end, c.zero1]), c.zero1]); // [1, K, HD]
  const vc = b.op('Unsqueeze', [b.op('Slice', [v2, c.zero1, end, c.zero1]), c.zero1]);
  const from = b.op('Sub', [b.op('Unsqueeze', [tPad, c.zero1]), start]); // [1] = Tpad − bC
  const kLen = b.op('Min', [end, c.tVec]); // [1] = K
  const bias = b.op('Unsqueeze', [b.op('Slice', [band, from, b.op('Add', [from, kLen]), g.i64([1])]), g.i64([0, 1])]); // [1,1,C,K]
  const out = b.op('MultiHeadAttention', [qc, kc, vc, '', '', bias], { num_heads: H }, { domain: 'com.microsoft' }); // [1,C,HD]
  const condOut = b.op('Identity', [condIn]);
  b.output(condOut, DataType.BOOL, []);
  b.output(b.op('Squeeze', [out, c.zero1]), DataType.FLOAT, [C, 'HD']);
  const stacked = g.op('Loop', [nBlocks, ''], { body: b.toGraph(`attention_mha_block_${layer}`) }); // [n, C, HD]
  const flat = g.op('Reshape', [stacked, g.i64([-1, c.HD])]);
  return g.op('Slice', [flat, c.zero1, c.tVec, c.zero1]);
}

/**
 * Causal attention in blocks of C query rows (a Loop): block b's rows [bC, bC+C) go to
 * MultiHeadAttention with the block's own keys/values as key/value and keys [0, bC) as
 * past_key/past_value (BNSH), unidirectional=1. The kernel then masks key j for row i when
 * j > i + past length: exactly causal, with no mask or bias tensor of ours (unidirectional without a
 * past would mask relative to the block's first row and give wrong rows). The past is a loop-carried
 * value: each block's present_key/present_value (past + its own keys, which the kernel assembles
 * anyway) is the next block's past, so no block slices the earlier keys again (4K tokens: 5–7 %
 * faster per pass than slicing them from a [1,H,T,D] copy; 16K: 9–13 %; bit-identical). q is padded
 * to a multiple of C (the Loop stacks same-shaped outputs); the padding rows are dropped; keys and
 * values are not padded: the last block's slice is just shorter (Slice clamps).
 * q2: [T, HD]; k3, v3: [T, H, D]. Returns [T, HD].
 */
function chunkedMhaPast(g: GraphBuilder, layer: number, q2: string, k3: string, v3: string, H: number, c: ChunkCtx): string {
  const C = c.chunk;
  const D = c.HD / H;
  if (!c.shared.past) {
    const nBlocks = g.op('Div', [g.op('Add', [c.tScalar, g.scalarI64(C - 1)]), g.scalarI64(C)]);
    const padRows = g.op('Sub', [g.op('Unsqueeze', [g.op('Mul', [nBlocks, g.scalarI64(C)]), c.zero1]), c.tVec]);
    const qPads = g.op('Concat', [g.i64([0, 0]), padRows, g.i64([0])], { axis: 0 });
    const empty = g.op('ConstantOfShape', [g.i64([1, H, 0, D])]); // the first block's past
    c.shared.past = { nBlocks, qPads, empty };
  }
  const { nBlocks, qPads, empty } = c.shared.past;
  const qPad = g.op('Pad', [q2, qPads]); // [Tpad, HD]
  const k2 = g.op('Reshape', [k3, g.i64([0, c.HD])]);
  const v2 = g.op('Reshape', [v3, g.i64([0, c.HD])]);

  const b = new GraphBuilder(`P${layer}/`);
  const iter = b.input(b.fresh('iter'), DataType.INT64, []);
  const condIn = b.input(b.fresh('cond'), DataType.BOOL, []);
  const pastK = b.input(b.fresh('past_k'), DataType.FLOAT, [1, H, 'P', D]);
  const pastV = b.input(b.fresh('past_v'), DataType.FLOAT, [1, H, 'P', D]);
  const start = b.op('Unsqueeze', [b.op('Mul', [iter, g.scalarI64(C)]), c.zero1]);
  const end = b.op('Add', [start, g.i64([C])]);
  const qc = b.op('Unsqueeze', [b.op('Slice', [qPad, start, end, c.zero1]), c.zero1]); // [1, C, HD]
  const kc = b.op('Unsqueeze', [b.op('Slice', [k2, start, end, c.zero1]), c.zero1]); // [1, ≤C, HD]
  const vc = b.op('Unsqueeze', [b.op('Slice', [v2, start, end, c.zero1]), c.zero1]);
  const [out, presentK, presentV] = b.node(
    'MultiHeadAttention',
    [qc, kc, vc, '', '', '', pastK, pastV],
    { num_heads: H, unidirectional: 1 },
    { domain: 'com.microsoft', outputs: 3 },
  );
  b.output(b.op('Identity', [condIn]), DataType.BOOL, []);
  b.output(presentK, DataType.FLOAT, [1, H, 'P', D]);
  b.output(presentV, DataType.FLOAT, [1, H, 'P', D]);
  b.output(b.op('Squeeze', [out, c.zero1]), DataType.FLOAT, [C, 'HD']);
  const [, , stacked] = g.node('Loop', [nBlocks, '', empty, empty], { body: b.toGraph(`attention_mhap_block_${layer}`) }, { outputs: 3 }); // [n, C, HD]
  const flat = g.op('Reshape', [stacked, g.i64([-1, c.HD])]);
  return g.op('Slice', [flat, c.zero1, c.tVec, c.zero1]);
}

interface ChunkCtx {
  posI: string;
  tVec: string;
  tScalar: string;
  chunk: number;
  HD: number;
  sqrtD: string;
  negInf: string;
  zero1: string;
  /** Values built once per graph and shared by every layer's blocks. */
  shared: {
    mha?: { nBlocks: string; tPad: string; qPads: string; band: string };
    past?: { nBlocks: string; qPads: string; empty: string };
  };
}

/**
 * Causal attention in blocks of C query rows (a Loop): block b holds rows [bC, bC+C) and attends to
 * keys [0, bC+C), so at most H·C·T scores exist at a time and the masked upper half of the full
 * matrix is mostly never computed. q is padded to a multiple of C so every block has the same shape
 * (Loop stacks the per-iteration outputs); the padding rows are dropped afterwards.
 * q, v: [H,T,D], kT: [H,D,T]. Returns [T, H·D].
 */
function chunkedCausal(g: GraphBuilder, layer: number, qH: string, kT: string, vH: string, c: ChunkCtx): string {
  const C = c.chunk;
  const nBlocks = g.op('Div', [g.op('Add', [c.tScalar, g.scalarI64(C - 1)]), g.scalarI64(C)]); // scalar
  const tPad = g.op('Mul', [nBlocks, g.scalarI64(C)]);
  const padRows = g.op('Sub', [g.op('Unsqueeze', [tPad, c.zero1]), c.tVec]); // [1]
  const pads = g.op('Concat', [g.i64([0, 0, 0, 0]), padRows, g.i64([0])], { axis: 0 });
  // Scaling q ([H,T,D]) once instead of every block's scores ([H,C,K]) saves a pass over the largest
  // tensor of the loop: with small heads the scores' elementwise passes cost more than the matmuls.
  const qPad = g.op('Pad', [g.op('Div', [qH, c.sqrtD]), pads]); // [H, Tpad, D]
  // Row and column indices as floats (exact below 2^24): the mask is then built by float ops, which
  // the WebGPU provider runs on the GPU; int64 ones fall back to the CPU and copy every block's mask
  // back (measured on an H200: one host copy per block and layer).
  const rowsPad = g.op('Cast', [g.op('Range', [g.scalarI64(0), tPad, g.scalarI64(1)])], { to: DataType.FLOAT }); // [Tpad]
  const posF = g.op('Cast', [c.posI], { to: DataType.FLOAT }); // [T]

  // Loop body. Outer values (qPad, kT, vH, constants) are referenced by name.
  const b = new GraphBuilder(`L${layer}/`);
  const iter = b.input(b.fresh('iter'), DataType.INT64, []);
  const condIn = b.input(b.fresh('cond'), DataType.BOOL, []);
  const start = b.op('Unsqueeze', [b.op('Mul', [iter, g.scalarI64(C)]), c.zero1]); // [1]
  const end = b.op('Add', [start, g.i64([C])]); // [1]
  const qc = b.op('Slice', [qPad, start, end, g.i64([1])]); // [H, C, D]
  const kc = b.op('Slice', [kT, c.zero1, end, g.i64([2])]); // [H, D, K] (K = min(end, T))
  const vc = b.op('Slice', [vH, c.zero1, end, g.i64([1])]); // [H, K, D]
  const s = b.op('MatMul', [qc, kc]); // [H, C, K], already scaled (q was divided by √D)
  const rows = b.op('Unsqueeze', [b.op('Slice', [rowsPad, start, end, c.zero1]), g.i64([1])]); // [C,1]
  const cols = b.op('Slice', [posF, c.zero1, end, c.zero1]); // [K]
  const masked = b.op('Where', [b.op('Greater', [cols, rows]), c.negInf, s]);
  const out = b.op('MatMul', [b.op('Softmax', [masked], { axis: -1 }), vc]); // [H, C, D]
  const condOut = b.op('Identity', [condIn]);
  const blockOut = b.op('Transpose', [out], { perm: [1, 0, 2] }); // [C, H, D]
  b.output(condOut, DataType.BOOL, []);
  b.output(blockOut, DataType.FLOAT, [C, 'H', 'D']);

  const stacked = g.op('Loop', [nBlocks, ''], { body: b.toGraph(`attention_block_${layer}`) }); // [n, C, H, D]
  const flat = g.op('Reshape', [stacked, g.i64([-1, c.HD])]); // [Tpad, HD]
  return g.op('Slice', [flat, c.zero1, c.tVec, c.zero1]); // [T, HD]
}
