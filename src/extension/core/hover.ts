/**
 * The hover text of an analysed token, as Markdown. Prompt text is untrusted: the token's text goes
 * into a fenced code block (shown as text, never as Markdown or HTML), and the only command link is
 * REVEAL_COMMAND, which the extension allow-lists (`isTrusted: { enabledCommands }`). No `vscode`.
 */
import type { ExplorerPayload } from '../../shared/protocol';
import { at3 } from './payload';

export const REVEAL_COMMAND = 'repoLens.revealToken';

export interface HeadStats {
  mean: number;
  min: number;
  max: number;
  /** The head whose position for this token is farthest from its integer index. */
  movedMostHead: number;
  movedBy: number;
}

/** Learned positions of token t in RePo layer r (index into repoLayers), over heads. */
export function positionStats(p: ExplorerPayload, r: number, t: number): HeadStats {
  const H = p.model.numHeads;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let movedMostHead = 0;
  let movedBy = 0;
  for (let h = 0; h < H; h++) {
    const z = at3(p.positions, H, p.T, r, h, t);
    sum += z;
    min = Math.min(min, z);
    max = Math.max(max, z);
    if (Math.abs(z - t) > Math.abs(movedBy)) {
      movedBy = z - t;
      movedMostHead = h;
    }
  }
  return { mean: sum / H, min, max, movedMostHead, movedBy };
}

/** Mean over heads of layer l's query attention on token t (undefined without that run). */
export function attentionMean(flat: Float32Array | undefined, p: ExplorerPayload, l: number, t: number): number | undefined {
  if (!flat) return undefined;
  const H = p.model.numHeads;
  let s = 0;
  for (let h = 0; h < H; h++) s += at3(flat, H, p.T, l, h, t);
  return s / H;
}

/** A code fence longer than any run of backticks inside `s`, so `s` cannot close it. */
export function fenceFor(s: string): string {
  let longest = 0;
  for (const m of s.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return '`'.repeat(Math.max(3, longest + 1));
}

const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(2));
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(2)}%`);

export function buildHoverMarkdown(p: ExplorerPayload, t: number): string {
  const tokenText = p.text.slice(p.starts[t], p.ends[t]);
  const shown = JSON.stringify(tokenText);
  const fence = fenceFor(shown);
  const role = [
    t >= p.query.firstToken && t <= p.query.lastToken ? 'query' : '',
    p.needle && t >= p.needle.firstToken && t <= p.needle.lastToken ? 'needle' : '',
  ].filter(Boolean);
  const lines: string[] = [];
  lines.push(`**RePo Lens** · token ${t} of ${p.T} · id ${p.ids[t]}${role.length ? ` · ${role.join(', ')}` : ''}`);
  lines.push('', fence + 'text', shown, fence, '');
  if (p.model.repoLayers.length) {
    lines.push(`| RePo layer | mean | min | max | moved most: head (z − t) |`, `|---|---:|---:|---:|---|`);
    p.model.repoLayers.forEach((layer, r) => {
      const s = positionStats(p, r, t);
      lines.push(`| ${layer} | ${num(s.mean)} | ${num(s.min)} | ${num(s.max)} | head ${s.movedMostHead} (${s.movedBy >= 0 ? '+' : ''}${num(s.movedBy)}) |`);
    });
    lines.push('');
  }
  if (p.attentionLearned || p.attentionInteger) {
    lines.push(`| layer | attention from query, learned | integer |`, `|---|---:|---:|`);
    for (let l = 0; l < p.model.numLayers; l++) {
      lines.push(`| ${l} | ${pct(attentionMean(p.attentionLearned, p, l, t))} | ${pct(attentionMean(p.attentionInteger, p, l, t))} |`);
    }
    lines.push('');
  }
  const args = encodeURIComponent(JSON.stringify([{ id: p.id, token: t }]));
  lines.push(`[Show in head explorer](command:${REVEAL_COMMAND}?${args} "Reveal this token in the RePo head explorer")`);
  return lines.join('\n');
}
