/**
 * A small analysis made without a model: byte tokens of a short prompt, made-up positions and
 * causal attention rows, run through the engine's real buildAnalysis. For the extension's pure
 * helpers and the webview harness.
 */
import { AnalysisJson, buildAnalysis, planTargets, queryAttentionOf } from '../../src/engine/analysis';
import type { ModelInfo, RunResult } from '../../src/engine/model/types';
import { ByteTokenizer } from '../../src/engine/tokenizer/bytes';
import { buildExplorerPayload, flatten3 } from '../../src/extension/core/payload';
import type { ExplorerPayload } from '../../src/shared/protocol';

export const SYNTH_TEXT = '# Notes\nThe vault code is 4721. Café ☕ is open.\n\n| key | value |\n|---|---|\n| a | 1 |\n\nQuestion: what is the vault code?\n';

export function syntheticRun(text: string, L: number, H: number, repoLayers: number[], integer = false, seed = 1) {
  const enc = new ByteTokenizer(300).encode(text);
  const plan = planTargets(text, enc, { autoNeedle: true });
  const T = enc.ids.length;
  const Q = plan.query.tokens.length;
  const R = repoLayers.length;
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const positions = new Float32Array(R * H * T);
  for (let r = 0; r < R; r++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) positions[(r * H + h) * T + t] = integer ? t : t * (0.5 + h * 0.25) + (t % 16 < 8 ? 3 : 0) + rand();
  // Causal softmax-like rows per query row, averaged over the rows as the graph does: [L,H,T].
  const attention = new Float32Array(L * H * T);
  const row = new Float64Array(T);
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++)
      plan.query.tokens.forEach((qi) => {
        const off = (l * H + h) * T;
        let sum = 0;
        for (let t = 0; t <= qi; t++) sum += row[t] = rand() + (plan.needle?.tokens.includes(t) ? 2 * (h + 1) : 0);
        for (let t = 0; t <= qi; t++) attention[off + t] += row[t] / sum / Q;
      });
  const run: RunResult = { positions, attention, lastLogits: new Float32Array(300), T, Q };
  return { enc, plan, run };
}

export function syntheticAnalysis(text = SYNTH_TEXT, L = 3, H = 4, repoLayers = [1, 2]): { analysis: AnalysisJson; payload: ExplorerPayload; run: RunResult } {
  const info: ModelInfo = {
    name: 'synthetic',
    numLayers: L,
    numHeads: H,
    headDim: 8,
    hiddenSize: 32,
    vocabSize: 300,
    repoLayers,
    peMode: 'swigluex_multihead',
    maxPositions: 4096,
    storage: 'fp32',
    converterVersion: 'test',
  } as ModelInfo;
  const main = syntheticRun(text, L, H, repoLayers);
  const other = syntheticRun(text, L, H, repoLayers, true, 7);
  const analysis = buildAnalysis({ text, enc: main.enc, info, result: main.run, plan: main.plan, integerPositions: false, ablation: other.run });
  const payload = buildExplorerPayload({
    id: 'synthetic-1',
    documentUri: 'untitled:Untitled-1',
    documentLabel: 'Untitled-1',
    baseOffset: 10,
    text,
    analysis,
    positions: main.run.positions,
    otherAttention: flatten3(queryAttentionOf(other.run.attention, L, H, main.run.T)),
    device: 'CPU',
  });
  return { analysis, payload, run: main.run };
}
