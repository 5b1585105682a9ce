/**
 * Everything the extension computes from a finished run: the analysis JSON (engine's
 * buildAnalysis: curves, structure, needle split), the integer-side query attention and the
 * explorer payload. At 16K tokens this is about half a second of CPU, so the extension runs it in
 * a worker thread (summaryWorker.ts), never on the extension host's event loop. Pure JS, no
 * `vscode`, no onnxruntime: safe in a worker thread.
 */
import { AnalysisJson, AnalysisPlan, buildAnalysis, queryAttentionOf } from '../../engine/analysis';
import type { ModelInfo, RunResult } from '../../engine/model/types';
import type { Encoding } from '../../engine/tokenizer/types';
import type { ExplorerPayload } from '../../shared/protocol';
import { buildExplorerPayload, flatten3 } from './payload';

export interface SummaryInput {
  id: string;
  documentUri: string;
  documentLabel: string;
  baseOffset: number;
  /** The text sent for analysis (the analysed part is its first `truncatedAt` characters when truncated). */
  text: string;
  truncatedAt?: number;
  encoding: Encoding;
  info: ModelInfo;
  plan: AnalysisPlan;
  run: RunResult;
  integerPositions: boolean;
  ablation?: RunResult;
  device: string;
  modelExtra: Record<string, unknown>;
  extra: Record<string, unknown>;
}

export interface SummaryOutput {
  analysis: AnalysisJson;
  payload: ExplorerPayload;
}

export function summarizeRun(i: SummaryInput): SummaryOutput {
  const text = i.truncatedAt !== undefined ? i.text.slice(0, i.truncatedAt) : i.text;
  // A model without RePo layers computes the same in both modes: its main run is both sides.
  const ablation = i.info.repoLayers.length === 0 ? i.run : i.ablation;
  const analysis = buildAnalysis({
    text,
    enc: i.encoding,
    info: i.info,
    result: i.run,
    plan: i.plan,
    integerPositions: i.integerPositions,
    ablation,
    modelExtra: i.modelExtra,
    extra: i.extra,
  });
  const other = ablation ? flatten3(queryAttentionOf(ablation.attention, i.info.numLayers, i.info.numHeads, i.run.T)) : undefined;
  const payload = buildExplorerPayload({
    id: i.id,
    documentUri: i.documentUri,
    documentLabel: i.documentLabel,
    baseOffset: i.baseOffset,
    text,
    analysis,
    positions: i.run.positions,
    otherAttention: other,
    device: i.device,
  });
  return { analysis, payload };
}

/** The payload's own buffers, for a transfer list (moved, not copied, out of the worker). */
export function payloadBuffers(p: ExplorerPayload): ArrayBuffer[] {
  const arrays = [p.starts, p.ends, p.ids, p.positions, p.attentionLearned, p.attentionInteger];
  const seen = new Set<ArrayBuffer>();
  for (const a of arrays) if (a && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) seen.add(a.buffer as ArrayBuffer);
  return [...seen];
}
