/**
 * Reader for Hugging Face safetensors checkpoints: one `model.safetensors` or shards listed in
 * `model.safetensors.index.json`.
 *
 * Only the JSON headers are held in memory. Tensor bytes are read by file offset, one tensor (or one
 * chunk of a tensor) at a time, so a multi-GB shard is never loaded whole. Every header is validated
 * up front so that a damaged or lying file is refused with a message naming the file and the tensor,
 * before any conversion work starts.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Bytes per element of every dtype the safetensors format defines. */
const DTYPE_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};

/** The dtypes that can be converted to float32 / float16. */
export type FloatDtype = 'F32' | 'BF16' | 'F16';
const FLOAT_DTYPES = new Set<string>(['F32', 'BF16', 'F16']);

/** safetensors' own limit on the header size (100 MB); a larger claim is certainly corrupt. */
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute path of the file holding the bytes. */
  file: string;
  /** Absolute byte offset of the first element in `file`. */
  offset: number;
  byteLength: number;
  numel: number;
  /** Size and mtime of `file` when its header was read: a file replaced since is refused. */
  fileStamp?: { size: number; mtimeMs: number };
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  tensors: TensorEntry[];
  metadata: Record<string, string>;
}

const fileLabel = (file: string) => path.basename(file);

/** Reads and validates one safetensors file's header (never its data). */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    throw new SafetensorsError(`${fileLabel(file)}: cannot open (${(e as Error).message})`);
  }
  try {
    const st = await fh.stat();
    const fileSize = st.size;
    const fileStamp = { size: st.size, mtimeMs: st.mtimeMs };
    const name = fileLabel(file);
    if (fileSize < 8) throw new SafetensorsError(`${name}: file is ${fileSize} bytes, too short for a safetensors header`);
    const lenBuf = Buffer.alloc(8);
    await readExactly(fh, lenBuf, 0, file);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > fileSize - 8) {
      throw new SafetensorsError(`${name}: header length ${headerLen} is larger than the file (${fileSize} bytes)`);
    }
    if (headerLen > MAX_HEADER_BYTES) {
      throw new SafetensorsError(`${name}: header length ${headerLen} exceeds the safetensors limit of ${MAX_HEADER_BYTES}`);
    }
    const headerBuf = Buffer.alloc(headerLen);
    await readExactly(fh, headerBuf, 8, file);
    let json: unknown;
    try {
      json = JSON.parse(headerBuf.toString('utf8'));
    } catch (e) {
      throw new SafetensorsError(`${name}: header is not valid JSON (${(e as Error).message})`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new SafetensorsError(`${name}: header is not a JSON object`);
    }
    const dataStart = 8 + headerLen;
    const dataSize = fileSize - dataStart;
    const tensors: TensorEntry[] = [];
    let metadata: Record<string, string> = {};
    for (const [key, raw] of Object.entries(json as Record<string, unknown>)) {
      if (key === '__metadata__') {
        if (raw && typeof raw === 'object') metadata = raw as Record<string, string>;
        continue;
      }
      tensors.push({ ...parseEntry(name, file, key, raw, dataStart), fileStamp });
    }
    // Offsets must not overlap (the format also forbids holes, but we only need disjointness to trust the bytes).
    const byStart = [...tensors].sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
    for (let i = 1; i < byStart.length; i++) {
      const prev = byStart[i - 1];
      const cur = byStart[i];
      if (cur.offset < prev.offset + prev.byteLength) {
        throw new SafetensorsError(`${name}: tensor "${cur.name}" overlaps tensor "${prev.name}"`);
      }
    }
    for (const t of byStart) {
      const end = t.offset - dataStart + t.byteLength;
      if (end > dataSize) {
        throw new SafetensorsError(
          `${name}: truncated — tensor "${t.name}" ends at data byte ${end} but the file holds only ${dataSize} data bytes ` +
            `(${fileSize} bytes in all)`,
        );
      }
    }
    return { file, fileSize, tensors, metadata };
  } finally {
    await fh.close();
  }
}

function parseEntry(name: string, file: string, key: string, raw: unknown, dataStart: number): TensorEntry {
  const where = `${name}: tensor "${key}"`;
  if (!raw || typeof raw !== 'object') throw new SafetensorsError(`${where}: entry is not an object`);
  const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_SIZE)) {
    throw new SafetensorsError(`${where}: unknown dtype ${JSON.stringify(e.dtype)}`);
  }
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`${where}: invalid shape ${JSON.stringify(e.shape)}`);
  }
  const offs = e.data_offsets;
  if (
    !Array.isArray(offs) || offs.length !== 2 ||
    !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]
  ) {
    throw new SafetensorsError(`${where}: invalid data_offsets ${JSON.stringify(offs)}`);
  }
  const shape = e.shape as number[];
  const numel = shape.reduce((a, b) => a * b, 1);
  const expected = numel * DTYPE_SIZE[e.dtype];
  const byteLength = offs[1] - offs[0];
  if (byteLength !== expected) {
    throw new SafetensorsError(
      `${where}: data_offsets span ${byteLength} bytes but shape [${shape.join(', ')}] × ${e.dtype} needs ${expected}`,
    );
  }
  return { name: key, dtype: e.dtype, shape, file, offset: dataStart + offs[0], byteLength, numel };
}

async function readExactly(fh: fs.promises.FileHandle, buf: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(`${fileLabel(file)}: unexpected end of file at byte ${position + done}`);
    }
    done += bytesRead;
  }
}

// ------------------------------------------------------------------------------------------------
// Float conversions. All supported platforms are little-endian, as is the safetensors format, so
// typed-array views over the raw bytes are read directly.
// ------------------------------------------------------------------------------------------------

if (os.endianness() !== 'LE') throw new Error('safetensors reader assumes a little-endian platform');

let f16Table: Float32Array | undefined;
/** All 65536 half-precision values as float32 (exact), built once. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac ? NaN : Infinity;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  return (f16Table = t);
}

/** float32 → IEEE half, round-to-nearest-even, with subnormals; overflow gives ±Infinity. */
export function float32ToHalfBits(value: number): number {
  F32[0] = value;
  const x = U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // rounds to ±0
    mant |= 0x800000; // implicit leading bit
    const shift = 14 - e; // 14..24
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    const rounded = rem > mid || (rem === mid && (half & 1)) ? half + 1 : half;
    return sign | rounded;
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // Carry from mantissa into exponent is the correct behaviour (also rounds up to Inf).
  const rounded = rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? half + 1 : half;
  return sign | rounded;
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** Converts raw little-endian bytes of `dtype` to float32 values. */
export function bytesToFloat32(dtype: FloatDtype, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength / (dtype === 'F32' ? 4 : 2);
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes);
  } else if (dtype === 'BF16') {
    const src = alignedU16(bytes);
    const dst = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) dst[i] = src[i] << 16; // bf16 is the top half of a float32
  } else {
    const src = alignedU16(bytes);
    const table = halfTable();
    for (let i = 0; i < n; i++) out[i] = table[src[i]];
  }
  return out;
}

/** Converts raw bytes of `dtype` to IEEE half bytes. Returns the index of the first value that overflowed, if any. */
export function bytesToFloat16(dtype: FloatDtype, bytes: Uint8Array): { bytes: Uint8Array; overflowAt: number } {
  if (dtype === 'F16') return { bytes: new Uint8Array(bytes), overflowAt: -1 };
  const f32 = bytesToFloat32(dtype, bytes);
  const out = new Uint16Array(f32.length);
  let overflowAt = -1;
  for (let i = 0; i < f32.length; i++) {
    const h = float32ToHalfBits(f32[i]);
    if (overflowAt < 0 && (h & 0x7c00) === 0x7c00 && Number.isFinite(f32[i])) overflowAt = i;
    out[i] = h;
  }
  return { bytes: new Uint8Array(out.buffer), overflowAt };
}

function alignedU16(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return new Uint16Array(bytes.slice().buffer);
}

// ------------------------------------------------------------------------------------------------
// A checkpoint folder: one file or an index of shards.
// ------------------------------------------------------------------------------------------------

export class SafetensorsCheckpoint {
  private constructor(
    readonly dir: string,
    /** The file(s) the tensors came from, for messages. */
    readonly files: string[],
    readonly tensors: ReadonlyMap<string, TensorEntry>,
  ) {}

  /**
   * Opens `dir/model.safetensors.index.json` when present (as the reference loader does), else
   * `dir/model.safetensors`. Validates every header before returning.
   */
  static async open(dir: string): Promise<SafetensorsCheckpoint> {
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const singlePath = path.join(dir, 'model.safetensors');
    if (fs.existsSync(indexPath)) return SafetensorsCheckpoint.openIndex(dir, indexPath);
    if (fs.existsSync(singlePath)) {
      const h = await readSafetensorsHeader(singlePath);
      return new SafetensorsCheckpoint(dir, [singlePath], new Map(h.tensors.map((t) => [t.name, t])));
    }
    throw new SafetensorsError(`${dir}: neither model.safetensors nor model.safetensors.index.json found`);
  }

  private static async openIndex(dir: string, indexPath: string): Promise<SafetensorsCheckpoint> {
    let index: { weight_map?: unknown };
    try {
      index = JSON.parse(await fs.promises.readFile(indexPath, 'utf8'));
    } catch (e) {
      throw new SafetensorsError(`model.safetensors.index.json: not valid JSON (${(e as Error).message})`);
    }
    const wm = index && index.weight_map;
    if (!wm || typeof wm !== 'object' || Array.isArray(wm)) {
      throw new SafetensorsError('model.safetensors.index.json: missing "weight_map" object');
    }
    const weightMap = wm as Record<string, unknown>;
    const shardFor = new Map<string, string[]>(); // shard -> tensors the index puts there
    for (const [tensor, shard] of Object.entries(weightMap)) {
      // Shards must be plain names inside the checkpoint folder: an index may not point elsewhere.
      if (typeof shard !== 'string' || shard === '' || shard !== path.basename(shard) || shard === '.' || shard === '..') {
        throw new SafetensorsError(`model.safetensors.index.json: tensor "${tensor}" names an invalid shard ${JSON.stringify(shard)}`);
      }
      if (!shardFor.has(shard)) shardFor.set(shard, []);
      shardFor.get(shard)!.push(tensor);
    }
    const tensors = new Map<string, TensorEntry>();
    const files: string[] = [];
    for (const [shard, names] of [...shardFor.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const file = path.join(dir, shard);
      if (!fs.existsSync(file)) {
        throw new SafetensorsError(
          `model.safetensors.index.json names shard ${shard} (for tensor "${names[0]}"${names.length > 1 ? ` and ${names.length - 1} more` : ''}), but the file is missing`,
        );
      }
      const h = await readSafetensorsHeader(file);
      files.push(file);
      const inShard = new Map(h.tensors.map((t) => [t.name, t]));
      for (const n of names) {
        const t = inShard.get(n);
        if (!t) throw new SafetensorsError(`${shard}: does not contain tensor "${n}" that model.safetensors.index.json places there`);
        tensors.set(n, t);
      }
    }
    return new SafetensorsCheckpoint(dir, files, tensors);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): TensorEntry {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`tensor "${name}" is not in the checkpoint`);
    return t;
  }

  /** Raw bytes of a whole tensor. */
  async readRaw(name: string): Promise<Uint8Array> {
    const t = this.get(name);
    const chunks: Uint8Array[] = [];
    for await (const c of this.rawChunks(t, t.byteLength)) chunks.push(c);
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  /** A whole tensor as float32 (F32, BF16 and F16 sources). */
  async readFloat32(name: string): Promise<Float32Array> {
    const t = this.get(name);
    requireFloat(t);
    return bytesToFloat32(t.dtype as FloatDtype, await this.readRaw(name));
  }

  /** A whole tensor as IEEE half bytes; refuses values that overflow half precision. */
  async readFloat16Bytes(name: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for await (const c of this.convertedChunks(name, 'f16')) chunks.push(c);
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  /**
   * Streams a tensor converted to float32 or float16 little-endian bytes, in chunks of about
   * `chunkBytes` of source data, so that converting the largest matrix needs only a few MB.
   */
  async *convertedChunks(name: string, to: 'f32' | 'f16', chunkBytes = 8 << 20): AsyncGenerator<Uint8Array> {
    const t = this.get(name);
    requireFloat(t);
    const dtype = t.dtype as FloatDtype;
    let index = 0;
    for await (const raw of this.rawChunks(t, chunkBytes)) {
      if (to === 'f32') {
        const f = bytesToFloat32(dtype, raw);
        yield new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
      } else {
        const { bytes, overflowAt } = bytesToFloat16(dtype, raw);
        if (overflowAt >= 0) {
          throw new SafetensorsError(
            `${fileLabel(t.file)}: tensor "${name}" element ${index + overflowAt} is outside float16 range; use fp32 storage`,
          );
        }
        yield bytes;
      }
      index += raw.byteLength / DTYPE_SIZE[dtype];
    }
  }

  private async *rawChunks(t: TensorEntry, chunkBytes: number): AsyncGenerator<Uint8Array> {
    const elem = DTYPE_SIZE[t.dtype];
    const step = Math.max(elem, chunkBytes - (chunkBytes % elem));
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(t.file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new SafetensorsError(
        code === 'ENOENT'
          ? `${t.file} disappeared while the model was being read (was the folder moved or deleted?); nothing was lost: put it back and run again`
          : `${fileLabel(t.file)}: cannot open (${(e as Error).message})`,
      );
    }
    const st = await fh.stat();
    if (t.fileStamp && (st.size !== t.fileStamp.size || st.mtimeMs !== t.fileStamp.mtimeMs)) {
      await fh.close();
      throw new SafetensorsError(
        `${t.file} changed while the model was being read (${t.fileStamp.size} → ${st.size} bytes); run again to read the new file`,
      );
    }
    try {
      for (let done = 0; done < t.byteLength; done += step) {
        const n = Math.min(step, t.byteLength - done);
        const buf = Buffer.allocUnsafe(n);
        try {
          await readExactly(fh, buf, t.offset + done, t.file);
        } catch (e) {
          // The header was checked against the size at open time; the file shrank since.
          throw new SafetensorsError(`${fileLabel(t.file)}: truncated while reading tensor "${t.name}" (${(e as Error).message})`);
        }
        yield buf;
      }
    } finally {
      await fh.close();
    }
  }
}

function requireFloat(t: TensorEntry): void {
  if (!FLOAT_DTYPES.has(t.dtype)) {
    throw new SafetensorsError(`${fileLabel(t.file)}: tensor "${t.name}" has dtype ${t.dtype}; only F32, BF16 and F16 are supported`);
  }
}
