/**
 * ExplorerPayload ⇄ a JSON-safe form, for the webview's saved state (setState keeps only JSON):
 * typed arrays become base64 strings of their bytes. Pure; runs in the webview and in Node.
 */
import type { ExplorerPayload } from './protocol';

const TYPED_KEYS = ['starts', 'ends', 'ids', 'positions', 'attentionLearned', 'attentionInteger'] as const;
type TypedKey = (typeof TYPED_KEYS)[number];

export type StoredPayload = Omit<ExplorerPayload, TypedKey> & { arrays: Partial<Record<TypedKey, { kind: 'i32' | 'f32'; b64: string }>> };

function toBase64(bytes: Uint8Array): string {
  let s = '';
  // In pieces: String.fromCharCode with too many arguments overflows the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodePayload(p: ExplorerPayload): StoredPayload {
  const rest: Record<string, unknown> = { ...p };
  const arrays: StoredPayload['arrays'] = {};
  for (const k of TYPED_KEYS) {
    const a = p[k];
    delete rest[k];
    if (!a) continue;
    arrays[k] = { kind: a instanceof Int32Array ? 'i32' : 'f32', b64: toBase64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)) };
  }
  return { ...(rest as Omit<ExplorerPayload, TypedKey>), arrays };
}

export function decodePayload(s: StoredPayload): ExplorerPayload {
  const { arrays, ...rest } = s;
  const out: Record<string, unknown> = { ...rest };
  for (const k of TYPED_KEYS) {
    const a = arrays[k];
    if (!a) continue;
    const bytes = fromBase64(a.b64);
    out[k] = a.kind === 'i32' ? new Int32Array(bytes.buffer, 0, bytes.byteLength / 4) : new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
  }
  return out as unknown as ExplorerPayload;
}

/** Bytes of the payload's typed arrays (what dominates its size in memory and in saved state). */
export function payloadArrayBytes(p: ExplorerPayload): number {
  return TYPED_KEYS.reduce((n, k) => n + (p[k]?.byteLength ?? 0), 0);
}
