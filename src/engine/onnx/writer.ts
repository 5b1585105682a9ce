/**
 * Writes an ONNX model whose large weights are streamed, one chunk at a time, instead of being
 * assembled in memory.
 *
 * protobufjs can only encode a message it holds whole. A ModelProto is a sequence of fields,
 * though, and a repeated field may appear in any number of pieces, anywhere: so the model is
 * written as [ModelProto without graph][graph field header][GraphProto without weights]
 * [one `initializer` field per weight], each weight's TensorProto header encoded by protobufjs and
 * its raw_data bytes copied from the weight's chunk stream. All lengths are known beforehand from
 * the shapes, so nothing needs to be seeked back to.
 *
 * With external data the weights go to a separate file and the .onnx only carries their offsets.
 */
import * as fs from 'fs';
import { onnx } from 'onnx-proto';
import { StreamedTensor } from './builder';

const WIRE_LEN = 2;
const tag = (field: number, wire: number) => encodeVarint(field * 8 + wire);

function encodeVarint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`varint out of range: ${n}`);
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** Alignment of each tensor in the external data file (lets ORT memory-map it, on any OS). */
const EXTERNAL_ALIGN = 65536;

export interface WriteOptions {
  /** Where to write the .onnx bytes (a temporary name; the caller renames). */
  onnxPath: string;
  /** The model; its graph holds the small inline initializers only. */
  model: onnx.IModelProto;
  streamed: StreamedTensor[];
  /** Put the streamed tensors in a separate file: `dataPath` is written, `location` (relative) is recorded. */
  external?: { dataPath: string; location: string } | null;
  /** Called after each tensor with the cumulative number of weight bytes written. */
  onTensor?: (name: string, bytesDone: number) => void;
}

class Sink {
  private position = 0;
  private constructor(private readonly fh: fs.promises.FileHandle) {}
  static async open(file: string): Promise<Sink> {
    return new Sink(await fs.promises.open(file, 'w'));
  }
  get offset(): number {
    return this.position;
  }
  async write(...parts: Uint8Array[]): Promise<void> {
    for (const p of parts) {
      let done = 0;
      while (done < p.byteLength) {
        const { bytesWritten } = await this.fh.write(p, done, p.byteLength - done);
        done += bytesWritten;
      }
      this.position += p.byteLength;
    }
  }
  async pad(to: number): Promise<void> {
    if (to > this.position) await this.write(new Uint8Array(to - this.position));
  }
  async close(): Promise<void> {
    await this.fh.sync();
    await this.fh.close();
  }
}

async function copyTensor(sink: Sink, t: StreamedTensor): Promise<void> {
  let n = 0;
  for await (const chunk of t.chunks()) {
    n += chunk.byteLength;
    if (n > t.byteLength) break;
    await sink.write(chunk);
  }
  if (n !== t.byteLength) throw new Error(`weight "${t.name}": produced ${n} bytes, expected ${t.byteLength}`);
}

export async function writeModel(opts: WriteOptions): Promise<void> {
  const { model, streamed } = opts;
  const graph = model.graph;
  if (!graph) throw new Error('writeModel: model has no graph');
  let bytesDone = 0;

  if (opts.external) {
    // Weights first, to the data file; then a small .onnx that points into it.
    const data = await Sink.open(opts.external.dataPath);
    const refs: onnx.ITensorProto[] = [];
    try {
      for (const t of streamed) {
        await data.pad(Math.ceil(data.offset / EXTERNAL_ALIGN) * EXTERNAL_ALIGN);
        const offset = data.offset;
        await copyTensor(data, t);
        refs.push({
          name: t.name,
          dims: t.dims,
          dataType: t.dataType,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: opts.external.location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(t.byteLength) },
          ],
        });
        bytesDone += t.byteLength;
        opts.onTensor?.(t.name, bytesDone);
      }
    } finally {
      await data.close();
    }
    const full = { ...model, graph: { ...graph, initializer: [...(graph.initializer ?? []), ...refs] } };
    const sink = await Sink.open(opts.onnxPath);
    try {
      await sink.write(onnx.ModelProto.encode(full).finish());
    } finally {
      await sink.close();
    }
    return;
  }

  const head = onnx.ModelProto.encode({ ...model, graph: null }).finish();
  const graphBody = onnx.GraphProto.encode(graph).finish();
  // Per weight: initializer tag + length, TensorProto header, raw_data tag + length, bytes.
  const pieces = streamed.map((t) => {
    const header = onnx.TensorProto.encode({ name: t.name, dims: t.dims, dataType: t.dataType }).finish();
    const rawPrefix = concat(tag(9, WIRE_LEN), encodeVarint(t.byteLength));
    const tensorLen = header.byteLength + rawPrefix.byteLength + t.byteLength;
    const initPrefix = concat(tag(5, WIRE_LEN), encodeVarint(tensorLen), header, rawPrefix);
    return { t, initPrefix, total: initPrefix.byteLength + t.byteLength };
  });
  const graphLen = graphBody.byteLength + pieces.reduce((a, p) => a + p.total, 0);
  const sink = await Sink.open(opts.onnxPath);
  try {
    await sink.write(head, tag(7, WIRE_LEN), encodeVarint(graphLen), graphBody);
    for (const p of pieces) {
      await sink.write(p.initPrefix);
      await copyTensor(sink, p.t);
      bytesDone += p.t.byteLength;
      opts.onTensor?.(p.t.name, bytesDone);
    }
  } finally {
    await sink.close();
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/**
 * Reads a model's metadata_props without loading the file: walks the top-level ModelProto fields
 * and seeks past everything else (the graph may be gigabytes).
 */
export async function readOnnxMetadata(file: string): Promise<Record<string, string>> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    let pos = 0;
    const byte = Buffer.alloc(1);
    const readVarint = async (): Promise<number> => {
      let result = 0;
      let mul = 1;
      for (let i = 0; i < 10; i++) {
        const { bytesRead } = await fh.read(byte, 0, 1, pos);
        if (bytesRead !== 1) throw new Error(`${file}: truncated ONNX file`);
        pos++;
        result += (byte[0] & 0x7f) * mul;
        if (!(byte[0] & 0x80)) return result;
        mul *= 128;
      }
      throw new Error(`${file}: invalid ONNX file (bad varint)`);
    };
    const out: Record<string, string> = {};
    while (pos < size) {
      const key = await readVarint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) {
        await readVarint();
      } else if (wire === 1) {
        pos += 8;
      } else if (wire === 5) {
        pos += 4;
      } else if (wire === WIRE_LEN) {
        const len = await readVarint();
        if (pos + len > size) throw new Error(`${file}: truncated ONNX file`);
        if (field === 14) {
          const buf = Buffer.alloc(len);
          await fh.read(buf, 0, len, pos);
          const entry = onnx.StringStringEntryProto.decode(buf);
          out[entry.key] = entry.value;
        }
        pos += len;
      } else {
        throw new Error(`${file}: not an ONNX model (unexpected wire type ${wire})`);
      }
    }
    return out;
  } finally {
    await fh.close();
  }
}
