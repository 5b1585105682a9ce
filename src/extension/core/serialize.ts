/**
 * Big exports without freezing the extension host: JSON.stringify of a 16K-token analysis of the
 * 1B model (≈ 7 M numbers) blocks the event loop for about a second. These produce the same text
 * in pieces, and `joinCooperatively` yields to the event loop between pieces. No `vscode`.
 */

/** Array elements serialised per slice by JSON.stringify itself (fast), then the loop yields. */
const SLICE = 8192;

/**
 * The text JSON.stringify(value) gives, as a sequence of pieces, for JSON data (objects, arrays,
 * strings, numbers, booleans, null; `undefined` members left out as JSON.stringify does). Anything
 * else (a toJSON method, typed arrays, Maps) is handed to JSON.stringify whole, so the result is
 * always identical to it.
 */
export function* jsonPieces(value: unknown): Generator<string> {
  if (value === null || typeof value !== 'object' || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    const s = JSON.stringify(value);
    if (s !== undefined) yield s;
    return;
  }
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i += SLICE) {
      const part = value.slice(i, i + SLICE);
      if (i > 0) yield ',';
      if (part.every((v) => v === null || typeof v !== 'object')) {
        // Scalars (and undefined/functions, which become null) exactly as JSON.stringify writes them.
        yield JSON.stringify(part).slice(1, -1);
      } else {
        for (let j = 0; j < part.length; j++) {
          if (j > 0) yield ',';
          const v = part[j];
          if (v === undefined || typeof v === 'function' || typeof v === 'symbol') yield 'null';
          else yield* jsonPieces(v);
        }
      }
    }
    yield ']';
    return;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
    yield JSON.stringify(value);
    return;
  }
  yield '{';
  let first = true;
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    yield (first ? '' : ',') + JSON.stringify(k) + ':';
    first = false;
    yield* jsonPieces(v);
  }
  yield '}';
}

/** Joins pieces, yielding to the event loop whenever about `every` characters were produced. */
export async function joinCooperatively(pieces: Iterable<string>, every = 1 << 20, signal?: AbortSignal): Promise<string> {
  const out: string[] = [];
  let since = 0;
  for (const p of pieces) {
    out.push(p);
    since += p.length;
    if (since >= every) {
      since = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
    }
  }
  return out.join('');
}
