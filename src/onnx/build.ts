// Builds ONNX models in memory: used by the fixture generator, by tests, and by the
// power-iteration baseline (which runs a single Conv through onnxruntime-node).
import { AttributeType, DataType, encodeModel } from './schema.js';

export type AttrValue =
  | { kind: 'i'; v: number }
  | { kind: 'f'; v: number }
  | { kind: 's'; v: string }
  | { kind: 'ints'; v: number[] }
  | { kind: 'floats'; v: number[] }
  | { kind: 't'; v: TensorObj }
  | { kind: 'g'; v: GraphObj };

/** Attribute constructors: ONNX attributes are typed, so the caller says which type. */
export const attr = {
  i: (v: number): AttrValue => ({ kind: 'i', v }),
  f: (v: number): AttrValue => ({ kind: 'f', v }),
  s: (v: string): AttrValue => ({ kind: 's', v }),
  ints: (v: number[]): AttrValue => ({ kind: 'ints', v }),
  floats: (v: number[]): AttrValue => ({ kind: 'floats', v }),
  t: (v: TensorObj): AttrValue => ({ kind: 't', v }),
  g: (v: GraphObj): AttrValue => ({ kind: 'g', v }),
};

export type TensorObj = Record<string, unknown> & { name?: string };
export type NodeObj = Record<string, unknown>;
export type GraphObj = Record<string, unknown>;

/** How a float tensor's values are stored in the file. */
export type FloatEncoding = 'raw' | 'float_data' | 'double' | 'double_data' | 'float16' | 'float16_int32' | 'bfloat16' | 'bfloat16_int32';

function f32ToF16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

function f32ToBf16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  // round to nearest even
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The float values a tensor written with `encoding` will decode to (fp16/bf16 round). */
export function roundTo(encoding: FloatEncoding, data: ArrayLike<number>): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    if (encoding === 'float16' || encoding === 'float16_int32') out[i] = f16BitsToNumber(f32ToF16Bits(data[i]));
    else if (encoding === 'bfloat16' || encoding === 'bfloat16_int32') {
      out[i] = new Float32Array(new Uint32Array([f32ToBf16Bits(data[i]) << 16]).buffer)[0];
    } else if (encoding === 'double' || encoding === 'double_data') out[i] = data[i];
    else out[i] = Math.fround(data[i]);
  }
  return out;
}

function f16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A float tensor in the chosen on-disk encoding. */
export function floatTensor(name: string, dims: number[], data: ArrayLike<number>, encoding: FloatEncoding = 'raw'): TensorObj {
  const n = data.length;
  switch (encoding) {
    case 'raw': {
      const f = Float32Array.from(data);
      return { name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(f.buffer) };
    }
    case 'float_data':
      return { name, dims, data_type: DataType.FLOAT, float_data: Array.from(data) };
    case 'double': {
      const f = Float64Array.from(data);
      return { name, dims, data_type: DataType.DOUBLE, raw_data: new Uint8Array(f.buffer) };
    }
    case 'double_data':
      return { name, dims, data_type: DataType.DOUBLE, double_data: Array.from(data) };
    case 'float16':
    case 'bfloat16': {
      const bits = new Uint16Array(n);
      for (let i = 0; i < n; i++) bits[i] = encoding === 'float16' ? f32ToF16Bits(data[i]) : f32ToBf16Bits(data[i]);
      return { name, dims, data_type: encoding === 'float16' ? DataType.FLOAT16 : DataType.BFLOAT16, raw_data: new Uint8Array(bits.buffer) };
    }
    case 'float16_int32':
    case 'bfloat16_int32': {
      const bits: number[] = [];
      for (let i = 0; i < n; i++) bits.push(encoding === 'float16_int32' ? f32ToF16Bits(data[i]) : f32ToBf16Bits(data[i]));
      return { name, dims, data_type: encoding === 'float16_int32' ? DataType.FLOAT16 : DataType.BFLOAT16, int32_data: bits };
    }
  }
}

/** An integer tensor (int8/uint8/int32/int64) stored as raw_data. */
export function intTensor(name: string, dims: number[], data: ArrayLike<number>, dataType: number): TensorObj {
  let bytes: Uint8Array;
  switch (dataType) {
    case DataType.INT8: bytes = new Uint8Array(Int8Array.from(data).buffer); break;
    case DataType.UINT8: bytes = Uint8Array.from(data); break;
    case DataType.INT32: bytes = new Uint8Array(Int32Array.from(data).buffer); break;
    case DataType.INT64: bytes = new Uint8Array(BigInt64Array.from(Array.from(data, (x) => BigInt(x))).buffer); break;
    default: throw new Error(`intTensor: unsupported data type ${dataType}`);
  }
  return { name, dims, data_type: dataType, raw_data: bytes };
}

export function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): NodeObj {
  const attribute = Object.entries(attrs).map(([key, a]) => {
    switch (a.kind) {
      case 'i': return { name: key, type: AttributeType.INT, i: a.v };
      case 'f': return { name: key, type: AttributeType.FLOAT, f: a.v };
      case 's': return { name: key, type: AttributeType.STRING, s: new TextEncoder().encode(a.v) };
      case 'ints': return { name: key, type: AttributeType.INTS, ints: a.v };
      case 'floats': return { name: key, type: AttributeType.FLOATS, floats: a.v };
      case 't': return { name: key, type: AttributeType.TENSOR, t: a.v };
      case 'g': return { name: key, type: AttributeType.GRAPH, g: a.v };
    }
  });
  return { op_type: opType, input: inputs, output: outputs, attribute, ...(name !== undefined ? { name } : {}) };
}

/** A tensor value_info; string dims are symbolic (dim_param). */
export function valueInfo(name: string, dims: (number | string)[] | null, elemType: number = DataType.FLOAT): Record<string, unknown> {
  const tensor_type: Record<string, unknown> = { elem_type: elemType };
  if (dims) tensor_type.shape = { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) };
  return { name, type: { tensor_type } };
}

export interface GraphSpec {
  nodes: NodeObj[];
  initializers?: TensorObj[];
  inputs: Record<string, unknown>[];
  outputs: Record<string, unknown>[];
  valueInfo?: Record<string, unknown>[];
  name?: string;
}

export function graph(spec: GraphSpec): GraphObj {
  return {
    name: spec.name ?? 'main',
    node: spec.nodes,
    initializer: spec.initializers ?? [],
    input: spec.inputs,
    output: spec.outputs,
    value_info: spec.valueInfo ?? [],
  };
}

export interface ModelSpec extends GraphSpec {
  opset?: number;
  producer?: string;
  irVersion?: number;
}

/** A serialized ModelProto. */
export function buildModel(spec: ModelSpec): Uint8Array {
  return encodeModel({
    ir_version: spec.irVersion ?? 8,
    producer_name: spec.producer ?? 'lipcheck',
    producer_version: '0',
    opset_import: [{ domain: '', version: spec.opset ?? 17 }],
    graph: graph(spec),
  });
}
