/** CSV exports of an analysis (positions per token, needle split per layer and head). No `vscode`. */
import type { AnalysisJson } from '../../engine/analysis';

/** One CSV field: quoted when needed; a leading = + - @ is defused so spreadsheets do not run it. */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const row = (fields: (string | number | null | undefined)[]) => fields.map(csvField).join(',');

/** One row per token: index, id, offsets, text, then one column per RePo layer and head. */
export function positionsCsv(a: AnalysisJson, text: string): string {
  return [...positionsCsvLines(a, text)].join('');
}

/** positionsCsv line by line (each with its CRLF), for joinCooperatively on long analyses. */
export function* positionsCsvLines(a: AnalysisJson, text: string): Generator<string> {
  const H = a.model.numHeads;
  const header = ['token', 'id', 'start', 'end', 'text'];
  a.model.repoLayers.forEach((l) => {
    for (let h = 0; h < H; h++) header.push(`L${l}H${h}`);
  });
  yield row(header) + '\r\n';
  for (let t = 0; t < a.tokens.length; t++) {
    const tok = a.tokens[t];
    const f: (string | number)[] = [t, tok.id, tok.start, tok.end, text.slice(tok.start, tok.end)];
    for (let r = 0; r < a.model.repoLayers.length; r++) for (let h = 0; h < H; h++) f.push(a.positions[r][h][t]);
    yield row(f) + '\r\n';
  }
}

/** One row per layer and head: needle mass and the needle / recent / rest split, learned and integer. */
export function needleCsv(a: AnalysisJson): string {
  const s = a.needleSplit;
  const header = ['layer', 'head', 'needle_mass', 'needle_learned', 'recent_learned', 'rest_learned', 'needle_integer', 'recent_integer', 'rest_integer', 'needle_delta'];
  const lines = [row(header)];
  for (let l = 0; l < a.model.numLayers; l++) {
    for (let h = 0; h < a.model.numHeads; h++) {
      lines.push(
        row([
          l,
          h,
          a.needleMass?.[l][h],
          s?.learned.needle[l][h],
          s?.learned.recent[l][h],
          s?.learned.rest[l][h],
          s?.integer?.needle[l][h],
          s?.integer?.recent[l][h],
          s?.integer?.rest[l][h],
          s?.delta?.needle[l][h],
        ]),
      );
    }
  }
  return lines.join('\r\n') + '\r\n';
}
