/**
 * A small ONNX graph builder over the `onnx-proto` message classes.
 *
 * Values are referred to by name (strings). Node and value names are generated from a prefix and a
 * counter so that subgraphs (Loop bodies) built with their own prefix never shadow outer names.
 * Weights are not stored in the builder: they are declared as StreamedTensor placeholders and their
 * bytes are produced only when the file is written (see writer.ts).
 */
import { onnx } from 'onnx-proto';

export const DataType = onnx.TensorProto.DataType;
export type DataTypeId = onnx.TensorProto.DataType;

/** Marks a number as a FLOAT attribute (plain numbers are INT attributes). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export const float = (v: number) => new FloatAttr(v);

export type AttrValue = number | number[] | string | FloatAttr | onnx.IGraphProto | onnx.ITensorProto;

/** A weight whose bytes are streamed into the file at write time. */
export interface StreamedTensor {
  name: string;
  dims: number[];
  dataType: DataTypeId;
  byteLength: number;
  /** Yields the little-endian bytes, in order; must yield exactly byteLength bytes. */
  chunks(): AsyncIterable<Uint8Array>;
}

export type Dim = number | string;

export function valueInfo(name: string, elemType: DataTypeId, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (v instanceof FloatAttr) return { name, type: T.FLOAT, f: v.value };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; wrap floats with float()`);
    return { name, type: T.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('node' in v || 'output' in v) return { name, type: T.GRAPH, g: v as onnx.IGraphProto };
  return { name, type: T.TENSOR, t: v as onnx.ITensorProto };
}

export interface NodeOptions {
  domain?: string;
  /** Number of outputs (generated names) or explicit output names. */
  outputs?: number | string[];
}

export class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  readonly streamed: StreamedTensor[] = [];
  readonly inputs: onnx.IValueInfoProto[] = [];
  readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();

  constructor(readonly prefix = '') {}

  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  input(name: string, elemType: DataTypeId, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: DataTypeId, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Adds a node; returns its output names. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): string[] {
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(opType));
    this.nodes.push({
      opType,
      domain: opts.domain ?? '',
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** Single-output node. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): string {
    return this.node(opType, inputs, attrs, opts)[0];
  }

  /** A small inline constant (an initializer), shared when the same values are asked for again. */
  constant(dataType: DataTypeId, dims: number[], values: ArrayLike<number | bigint>, hint = 'const'): string {
    const key = `${dataType}|${dims.join(',')}|${Array.from(values as ArrayLike<number>).join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh(hint);
    this.initializers.push(makeTensor(name, dataType, dims, values));
    this.constCache.set(key, name);
    return name;
  }

  i64(values: number[], dims: number[] = [values.length]): string {
    return this.constant(DataType.INT64, dims, values, 'i64');
  }

  scalarI64(v: number): string {
    return this.constant(DataType.INT64, [], [v], 'i64');
  }

  f32(values: ArrayLike<number>, dims: number[] = [values.length]): string {
    return this.constant(DataType.FLOAT, dims, values, 'f32');
  }

  scalarF32(v: number): string {
    return this.constant(DataType.FLOAT, [], [v], 'f32');
  }

  /** Declares a streamed weight and returns its name. */
  weight(t: StreamedTensor): string {
    this.streamed.push(t);
    return t.name;
  }

  /**
   * The GraphProto. Inline constants that no node (here or in a subgraph) reads are dropped, so
   * ORT has nothing to warn about. Pass the names a parent graph's subgraphs use via `alsoUsed`.
   */
  toGraph(name: string, alsoUsed: Iterable<string> = []): onnx.IGraphProto {
    const used = new Set<string>(alsoUsed);
    const visit = (nodes: onnx.INodeProto[]) => {
      for (const n of nodes) {
        for (const i of n.input ?? []) used.add(i);
        for (const a of n.attribute ?? []) if (a.g) visit(a.g.node ?? []);
      }
    };
    visit(this.nodes);
    return {
      name,
      node: this.nodes,
      initializer: this.initializers.filter((t) => used.has(t.name!)),
      input: this.inputs,
      output: this.outputs,
    };
  }
}

/** Builds a TensorProto holding raw little-endian data (float32, int64, bool). */
export function makeTensor(name: string, dataType: DataTypeId, dims: number[], values: ArrayLike<number | bigint>): onnx.ITensorProto {
  let raw: Uint8Array;
  if (dataType === DataType.FLOAT) {
    raw = new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
  } else if (dataType === DataType.INT64) {
    raw = new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
  } else if (dataType === DataType.BOOL) {
    raw = Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
  } else {
    throw new Error(`makeTensor: unsupported data type ${dataType}`);
  }
  return { name, dataType, dims, rawData: raw };
}
