import { Line, trimRange } from './lines';
import type { Table, TableCell } from './types';

/** A parsed JSON value with its offsets; strings keep [start, end) inside their quotes. */
type JsonNode =
  | { type: 'object'; start: number; end: number; entries: { key: string; value: JsonNode }[] }
  | { type: 'array'; start: number; end: number; items: JsonNode[] }
  | { type: 'string'; start: number; end: number; value: string }
  | { type: 'scalar'; start: number; end: number; value: string };

class JsonFail extends Error {}

/**
 * A strict JSON reader that keeps offsets (JSON.parse keeps none). `budget` caps the characters it
 * may step over, summed over every attempt on one text, so text full of '[{' cannot make the
 * detector quadratic; when it runs out, detection stops.
 */
class Reader {
  pos = 0;
  constructor(private readonly text: string, public budget: number) {}

  private fail(): never {
    throw new JsonFail();
  }

  private ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
      this.pos++;
    }
  }

  private step(n = 1): void {
    this.pos += n;
    if ((this.budget -= n) < 0) this.fail();
  }

  value(depth = 0): JsonNode {
    if (depth > 64) this.fail();
    this.ws();
    const t = this.text;
    const start = this.pos;
    const c = t[start];
    if (c === '{') {
      this.step();
      const entries: { key: string; value: JsonNode }[] = [];
      this.ws();
      if (t[this.pos] === '}') {
        this.step();
        return { type: 'object', start, end: this.pos, entries };
      }
      for (;;) {
        this.ws();
        if (t[this.pos] !== '"') this.fail();
        const key = this.string().value;
        this.ws();
        if (t[this.pos] !== ':') this.fail();
        this.step();
        entries.push({ key, value: this.value(depth + 1) });
        this.ws();
        if (t[this.pos] === ',') this.step();
        else if (t[this.pos] === '}') {
          this.step();
          return { type: 'object', start, end: this.pos, entries };
        } else this.fail();
      }
    }
    if (c === '[') {
      this.step();
      const items: JsonNode[] = [];
      this.ws();
      if (t[this.pos] === ']') {
        this.step();
        return { type: 'array', start, end: this.pos, items };
      }
      for (;;) {
        items.push(this.value(depth + 1));
        this.ws();
        if (t[this.pos] === ',') this.step();
        else if (t[this.pos] === ']') {
          this.step();
          return { type: 'array', start, end: this.pos, items };
        } else this.fail();
      }
    }
    if (c === '"') return this.string();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null)/.exec(t.slice(start, start + 64));
    if (!m) this.fail();
    this.step(m[0].length);
    return { type: 'scalar', start, end: this.pos, value: m[0] };
  }

  private string(): JsonNode & { type: 'string'; value: string } {
    const t = this.text;
    this.step(); // opening quote
    const start = this.pos;
    let value = '';
    let from = start;
    for (;;) {
      if (this.pos >= t.length) this.fail();
      const c = t.charCodeAt(this.pos);
      if (c === 34) break;
      if (c < 32) this.fail();
      if (c === 92) {
        value += t.slice(from, this.pos);
        const e = t[this.pos + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          value += simple[e];
          this.step(2);
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(t.slice(this.pos + 2, this.pos + 6))) {
          value += String.fromCharCode(parseInt(t.slice(this.pos + 2, this.pos + 6), 16));
          this.step(6);
        } else this.fail();
        from = this.pos;
        continue;
      }
      this.step();
    }
    value += t.slice(from, this.pos);
    const end = this.pos;
    this.step(); // closing quote
    return { type: 'string', start, end, value };
  }

  /** Parses one value at `at`; null when the text there is not JSON. Rethrows nothing. */
  tryValue(at: number): JsonNode | null {
    this.pos = at;
    try {
      return this.value();
    } catch (e) {
      if (e instanceof JsonFail) return null;
      throw e;
    }
  }
}

function isFlatObject(n: JsonNode): n is JsonNode & { type: 'object' } {
  return n.type === 'object' && n.entries.length > 0 && n.entries.every((e) => e.value.type === 'string' || e.value.type === 'scalar');
}

/** Rows = flat objects; columns = keys in order of first appearance. Header cells have no offsets in the text of their own, so JSON tables have no row −1 cells. */
function tableOf(kind: 'json' | 'jsonl', objects: (JsonNode & { type: 'object' })[], start: number, end: number): Table {
  const columns = new Map<string, number>();
  const cells: TableCell[] = [];
  objects.forEach((o, row) => {
    for (const { key, value } of o.entries) {
      let col = columns.get(key);
      if (col === undefined) columns.set(key, (col = columns.size));
      const text = value.type === 'string' || value.type === 'scalar' ? value.value : '';
      cells.push({ row, col, start: value.start, end: value.end, text });
    }
  });
  return { kind, start, end, header: [...columns.keys()], rows: objects.length, cols: columns.size, cells };
}

/**
 * JSON rows: (1) an array of one or more flat objects (every value a string, number, boolean or
 * null), found wherever a '[' is followed by '{', nested inside other JSON or not; (2) JSON lines:
 * two or more consecutive lines that each hold exactly one flat object (a trailing comma allowed).
 */
export function findJsonTables(text: string, lines: Line[]): Table[] {
  const tables: Table[] = [];
  const reader = new Reader(text, 8 * text.length + 100_000);
  const open = /\[\s*\{/g;
  for (let m = open.exec(text); m && reader.budget > 0; m = open.exec(text)) {
    const node = reader.tryValue(m.index);
    if (node?.type === 'array' && node.items.length > 0 && node.items.every(isFlatObject)) {
      tables.push(tableOf('json', node.items as (JsonNode & { type: 'object' })[], node.start, node.end));
      open.lastIndex = node.end;
    }
  }
  let run: { obj: JsonNode & { type: 'object' }; line: number }[] = [];
  const flush = () => {
    if (run.length >= 2) tables.push(tableOf('jsonl', run.map((r) => r.obj), run[0].obj.start, run[run.length - 1].obj.end));
    run = [];
  };
  for (let i = 0; i < lines.length && reader.budget > 0; i++) {
    const [s, e] = trimRange(text, lines[i].start, lines[i].end);
    let node: JsonNode | null = null;
    if (text[s] === '{') {
      node = reader.tryValue(s);
      const tailEnd = node ? node.end + (text[node.end] === ',' ? 1 : 0) : -1;
      if (!node || !isFlatObject(node) || trimRange(text, tailEnd, e)[0] !== e) node = null;
    }
    if (node) run.push({ obj: node as JsonNode & { type: 'object' }, line: i });
    else flush();
  }
  flush();
  return tables;
}
