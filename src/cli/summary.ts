/**
 * The terminal summary of `repo-lens analyze` (without --json): what ran, where the query's
 * attention went with learned vs integer positions, which heads re-position the most, and the
 * prompt structure found. About 20–25 lines whatever the model size.
 */
import { AnalysisJson, topHeads } from '../engine/analysis';

/** A short quoted excerpt of the text for the terminal (JSON escaping keeps control chars visible). */
export function excerpt(text: string, start: number, end: number, max = 48): string {
  const s = text.slice(start, end);
  return JSON.stringify(s.length > max ? s.slice(0, max - 1) + '…' : s);
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const signed = (v: number) => (Number.isFinite(v) ? (v >= 0 ? '+' : '') + v.toFixed(3) : '–');
const pct = (v: number) => `${Math.round(v * 100)}%`;

function how(s: { source?: string; note?: string }): string {
  if (!s.source) return '';
  return `; ${s.source}${s.note ? ': ' + s.note : ''}`;
}

export function summary(a: AnalysisJson, text: string): string {
  const m = a.model as AnalysisJson['model'] & { device?: string; deviceNote?: string; source?: string };
  const t = (a.timings ?? {}) as Record<string, number>;
  const lines: string[] = [];
  const repo = m.repoLayers.length ? `RePo layers ${m.repoLayers.join(',')}` : 'no RePo layers';
  lines.push(`model   ${m.name} (${m.source}; ${m.numLayers} layers × ${m.numHeads} heads; ${repo}) on ${m.device}`);
  if (m.deviceNote) lines.push(`        ${m.deviceNote}`);
  lines.push(`text    ${a.text.length} UTF-16 units → ${a.tokens.length} tokens${a.text.bomStripped ? ' (BOM stripped)' : ''}`);
  lines.push(`query   ${a.query.start}:${a.query.end} ${excerpt(text, a.query.start, a.query.end)} (${a.query.tokens.length} tokens${how(a.query)})`);
  if (a.needle) {
    lines.push(`needle  ${a.needle.start}:${a.needle.end} ${excerpt(text, a.needle.start, a.needle.end)} (${a.needle.tokens.length} tokens${how(a.needle)})`);
  } else {
    lines.push('needle  none found (give --needle-text "…" or --needle-range A:B)');
  }
  const second = t.ablationRunMs !== undefined ? ` + ${Math.round(t.ablationRunMs)} ms ${a.integerPositions ? 'learned' : 'integer'}-position run` : '';
  lines.push(
    `time    ${t.convertMs ? `convert ${(t.convertMs / 1000).toFixed(1)} s, ` : ''}load ${Math.round(t.loadMs)} ms, run ${Math.round(t.runMs)} ms${second}, total ${Math.round(t.totalMs)} ms`,
  );
  if (a.integerPositions) lines.push('        positions: integer 0..T-1 (ablation)');
  const cut = a.truncated as { tokens: number; originalTokens: number; endOffset: number } | undefined;
  if (cut) lines.push(`        truncated: first ${cut.tokens} of ${cut.originalTokens} tokens (text up to offset ${cut.endOffset})`);

  const sp = a.needleSplit;
  if (sp) {
    const tot = sp.totals;
    const row = (o: { needle: number; recent: number; rest: number }, fmt: (v: number) => string) => `${fmt(o.needle)} / ${fmt(o.recent)} / ${fmt(o.rest)}`;
    lines.push(`needle split, mean over layers and heads (needle / recent: query + ${sp.recentWindow} before / rest):`);
    lines.push(`  learned  ${row(tot.learned.overall, f3)}`);
    if (tot.integer && tot.delta) {
      lines.push(`  integer  ${row(tot.integer.overall, f3)}`);
      lines.push(`  Δ        ${row(tot.delta.overall, signed)}`);
    } else {
      lines.push('  integer  not run (--no-ablation)');
    }
    const L = tot.learned.perLayer.needle.length;
    if (L <= 24) {
      lines.push(`  needle by layer, learned  ${tot.learned.perLayer.needle.map(f3).join(' ')}`);
      if (tot.integer) lines.push(`  needle by layer, integer  ${tot.integer.perLayer.needle.map(f3).join(' ')}`);
    }
  }
  if (a.needleMass) {
    lines.push('needle mass (query attention summed over needle tokens), top heads:');
    for (const h of topHeads(a.needleMass, 3)) {
      const other = sp?.integer ? `   (integer ${sp.integer.needle[h.layer][h.head].toFixed(4)})` : '';
      lines.push(`  layer ${h.layer} head ${h.head}  ${h.value.toFixed(4)}${other}`);
    }
  }

  const c = a.curves;
  if (c && c.heads.length) {
    const name = (r: number, h: number) => `L${m.repoLayers[r]}h${h}`;
    const all = c.heads.flatMap((perHead, r) => perHead.map((s, h) => ({ r, h, s })));
    const byRange = [...all].sort((x, y) => y.s.range - x.s.range).slice(0, 4);
    const byConst = [...all]
      .sort((x, y) => y.s.chunks.fractions.constant - x.s.chunks.fractions.constant || y.s.range - x.s.range)
      .slice(0, 4);
    lines.push(`most re-positioning heads (range d = max − min position; chunks of ${c.options.chunkSize} tokens):`);
    lines.push(`  largest d      ${byRange.map((x) => `${name(x.r, x.h)} ${x.s.range.toFixed(1)}`).join(' · ')}`);
    lines.push(`  most Constant  ${byConst.map((x) => `${name(x.r, x.h)} ${pct(x.s.chunks.fractions.constant)}`).join(' · ')}`);
    lines.push(`  all RePo heads Constant ${pct(c.fractions.constant)} · Mono ${pct(c.fractions.mono)} · Hybrid ${pct(c.fractions.hybrid)}`);
  }

  const st = a.structure;
  if (st) {
    const kinds = new Map<string, number>();
    for (const s of st.segments) kinds.set(s.kind, (kinds.get(s.kind) ?? 0) + 1);
    const segs = st.segments.length ? ` (${[...kinds].map(([k, n]) => `${k} ×${n}`).join(', ')})` : '';
    const tables = st.tables.length
      ? st.tables
          .slice(0, 3)
          .map((tb) => {
            // The head that gathers columns most (smallest ratio), against the chance level.
            let best: { r: number; h: number; v: number } | undefined;
            tb.togetherness.columns.forEach((perHead, r) =>
              perHead.forEach((v, h) => {
                if (v !== null && (!best || v < best.v)) best = { r, h, v };
              }),
            );
            const b = best as { r: number; h: number; v: number } | undefined;
            const together = b ? `, columns closest in L${m.repoLayers[b.r]}h${b.h} ${b.v.toFixed(2)} (chance ${f3(tb.togetherness.columnsChance ?? NaN)})` : '';
            return `${tb.kind} ${tb.rows}×${tb.cols}${together}`;
          })
          .join('; ') + (st.tables.length > 3 ? `; +${st.tables.length - 3} more` : '')
      : 'no tables';
    lines.push(`structure ${st.segments.length} segments${segs}; tables: ${tables}`);
  }
  return lines.join('\n') + '\n';
}
