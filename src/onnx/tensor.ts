// TensorProto -> numbers. Float types (float, double, float16, bfloat16) decode to a
// Float32Array (double with its rounding error recorded); integer types to a typed array of
// their own width (int64 to Float64Array).
// raw_data of the model's own type is viewed in place when aligned: a 500 MB checkpoint
// must not be copied just to be read.
import { InputError } from '../errors.js';
import { parseExternalRef, readExternalBytes } from './external.js';
import { bfloat16ToFloat32, halfToFloat32 } from './halffloat.js';
import { DATA_TYPE_NAMES, DataType, toNumber, type TensorProto } from './schema.js';

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

export interface Tensor {
  name: string;
  dims: number[];
  /** ONNX data type as stored in the file (the data itself is already decoded). */
  dataType: number;
  data: NumericArray;
  /** How the values were stored, when not plain float32 in the file (for layer notes). */
  notes: string[];
  /**
   * Float data that differs from the model's real value e (a double weight, a BatchNormalization
   * fold, a dequantized weight): |e - data[i]| <= rounding * |data[i]| + roundingAbs per element.
   * Absent = 0: the data are the model's values exactly.
   */
  rounding?: number;
  /** Absolute part, for results that rounded into float32's subnormal range (no relative bound there). */
  roundingAbs?: number;
}

/** Unit roundoff of float32 (round to nearest): fl(y) = y (1 + d) and y = fl(y) (1 + d'), |d|, |d'| <= u, above 2^-126. */
export const FLOAT32_UNIT = 2 ** -24;
/** Absolute error of rounding to float32 below its normal range: half the subnormal spacing 2^-149. */
const FLOAT32_SUBNORMAL_ERROR = 2 ** -150;
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * prod(1 + r_i) - 1, rounded up: relative errors that compose along a derivation (each stated
 * against the value computed from the previous step). prod <= exp(s), s = sum r_i, and
 * exp(s) - 1 <= s (1 + s) for s <= 1; the final factor covers the few float64 roundings here.
 */
export function composeRounding(...r: number[]): number {
  const nonzero = r.filter((x) => x !== 0);
  if (nonzero.length <= 1) return nonzero[0] ?? 0;
  const s = nonzero.reduce((a, b) => a + b, 0);
  return s >= 1 ? Infinity : s * (1 + s) * (1 + 2 ** -40);
}

export interface RoundedFloat32 {
  data: Float32Array;
  rounding: number;
  roundingAbs: number;
}

/**
 * Stores n float64 values as float32, rounding each exactly once, and states the error against the
 * real values: `value(i)` is within relative `evalError` of the real value computed from the inputs'
 * stored data, which are themselves within `inputRounding` (relative) of the model's real inputs, and
 * `inputAbs` is the inputs' absolute error already carried through to this result's scale. Per element
 * |e - out| <= rounding |out| + roundingAbs: the float32 rounding counts only when some element was
 * inexact, and an inexact element below 2^-126 (where float32 has no relative bound) adds 2^-150 to
 * the absolute part instead.
 */
export function storeFloat32(n: number, value: (i: number) => number, evalError = 0, inputRounding = 0, inputAbs = 0): RoundedFloat32 {
  const data = new Float32Array(n);
  let inexact = false;
  let subnormal = false;
  for (let i = 0; i < n; i++) {
    const y = value(i);
    data[i] = y;
    if (data[i] !== y && y === y) {
      inexact = true;
      if (Math.abs(data[i]) < FLOAT32_MIN_NORMAL) subnormal = true;
    }
  }
  const rounding = composeRounding(inexact ? FLOAT32_UNIT : 0, evalError, inputRounding);
  // the subnormal element's relative part is covered too: its |out| < 2^-126 makes rounding*|out| tiny, and the absolute term is added on top
  // (the margin on 2^-150 covers the relative parts times such an element's |y| <= 2^-126)
  const roundingAbs = inputAbs * (1 + rounding) * (1 + 2 ** -40) + (subnormal ? FLOAT32_SUBNORMAL_ERROR * (1 + 2 ** -20) : 0);
  return { data, rounding, roundingAbs };
}

export interface DecodeContext {
  /** Folder that external data locations are relative to. */
  modelDir: string;
  maxTensorBytes: number;
}

const ELEMENT_BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.BFLOAT16]: 2,
};

export function dataTypeName(t: number): string {
  return DATA_TYPE_NAMES[t] ?? `#${t}`;
}

export function isFloatType(t: number): boolean {
  return t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16 || t === DataType.BFLOAT16;
}

export function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function decodeTensor(t: TensorProto, ctx: DecodeContext): Tensor {
  const name = t.name ?? '';
  const fail = (msg: string) => new InputError(`tensor '${name}': ${msg}`);
  const dims = (t.dims ?? []).map((d) => toNumber(d));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw fail(`invalid shape [${dims.join(', ')}]`);
  const dataType = t.data_type ?? DataType.UNDEFINED;
  const width = ELEMENT_BYTES[dataType];
  if (width === undefined) throw fail(`unsupported data type ${dataTypeName(dataType)}`);
  const count = elementCount(dims);
  const nbytes = count * width;
  // Checked before any allocation: a corrupt or hostile shape must not exhaust memory.
  if (!Number.isSafeInteger(nbytes) || nbytes > ctx.maxTensorBytes) {
    throw fail(`shape [${dims.join(', ')}] needs ${formatBytes(nbytes)}, over the ${formatBytes(ctx.maxTensorBytes)} limit`);
  }
  const notes: string[] = [];
  if (dataType !== DataType.FLOAT) notes.push(`stored as ${dataTypeName(dataType).toLowerCase()}`);

  let raw: Uint8Array | null = null;
  if (t.data_location === 1) {
    const ref = parseExternalRef(t.external_data ?? [], name);
    raw = readExternalBytes(ref, ctx.modelDir, nbytes, name);
    notes.push(`external data in ${ref.location}`);
  } else if (t.raw_data && (t.raw_data.length > 0 || count === 0)) {
    if (dataType === DataType.FLOAT) alignRawDataInPlace(t);
    raw = t.raw_data!;
    if (raw.length !== nbytes) {
      throw fail(`raw_data holds ${raw.length} bytes but shape [${dims.join(', ')}] of ${dataTypeName(dataType)} needs ${nbytes}`);
    }
  }
  const data = raw ? fromRaw(raw, dataType, count) : fromTypedField(t, dataType, count, fail);
  if (dataType === DataType.DOUBLE) {
    // float64 weights are kept as float32, rounded once: the error is recorded, not ignored
    const { data: f32, ...err } = storeFloat32(count, (i) => data[i]);
    return { name, dims, dataType, data: f32, notes, ...err };
  }
  return { name, dims, dataType, data, notes };
}

/**
 * Float32 views need 4-byte alignment, but raw_data sits wherever the protobuf put it. Rather
 * than copy a misaligned tensor (hundreds of MB for a VGG-16 classifier), shift its bytes back
 * by 1-3 bytes inside the file buffer: they land on the field's own tag and length varint
 * (at least 3 bytes when the payload is 128 bytes or more), which were already decoded and
 * which no other view covers. The proto's raw_data is repointed so a second decode sees the
 * moved bytes. The file's sha256 must be taken before any tensor is decoded.
 */
function alignRawDataInPlace(t: TensorProto): void {
  const raw = t.raw_data!;
  const shift = raw.byteOffset % 4;
  if (shift === 0 || raw.length < 128) return;
  new Uint8Array(raw.buffer, raw.byteOffset - shift, raw.length + shift).copyWithin(0, shift);
  t.raw_data = new Uint8Array(raw.buffer, raw.byteOffset - shift, raw.length);
}

/** A view of `bytes` as elements of `width` bytes; copied only when the offset is misaligned. */
function aligned(bytes: Uint8Array, width: number): { buffer: ArrayBufferLike; byteOffset: number } {
  if (bytes.byteOffset % width === 0) return { buffer: bytes.buffer, byteOffset: bytes.byteOffset };
  const copy = new Uint8Array(bytes); // (Buffer#slice would be a view, not a copy)
  return { buffer: copy.buffer, byteOffset: 0 };
}

function fromRaw(bytes: Uint8Array, dataType: number, n: number): NumericArray {
  // ONNX raw_data is little-endian; typed-array views use the host order, which is
  // little-endian on every platform Node ships for.
  const view = <T>(width: number, make: (b: ArrayBufferLike, off: number, n: number) => T): T => {
    const a = aligned(bytes, width);
    return make(a.buffer, a.byteOffset, n);
  };
  switch (dataType) {
    case DataType.FLOAT: return view(4, (b, o, k) => new Float32Array(b, o, k));
    case DataType.DOUBLE: return view(8, (b, o, k) => new Float64Array(b, o, k)); // to float32 in decodeTensor
    case DataType.FLOAT16: return halfToFloat32(view(2, (b, o, k) => new Uint16Array(b, o, k)));
    case DataType.BFLOAT16: return bfloat16ToFloat32(view(2, (b, o, k) => new Uint16Array(b, o, k)));
    case DataType.INT8: return new Int8Array(bytes.buffer, bytes.byteOffset, n);
    case DataType.UINT8:
    case DataType.BOOL: return new Uint8Array(bytes.buffer, bytes.byteOffset, n);
    case DataType.INT16: return view(2, (b, o, k) => new Int16Array(b, o, k));
    case DataType.UINT16: return view(2, (b, o, k) => new Uint16Array(b, o, k));
    case DataType.INT32: return view(4, (b, o, k) => new Int32Array(b, o, k));
    case DataType.UINT32: return view(4, (b, o, k) => new Uint32Array(b, o, k));
    case DataType.INT64:
    case DataType.UINT64: {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      const out = new Float64Array(n);
      const signed = dataType === DataType.INT64;
      for (let i = 0; i < n; i++) out[i] = Number(signed ? dv.getBigInt64(8 * i, true) : dv.getBigUint64(8 * i, true));
      return out;
    }
    default: throw new Error(`fromRaw: data type ${dataType} not handled`);
  }
}

function fromTypedField(t: TensorProto, dataType: number, n: number, fail: (m: string) => InputError): NumericArray {
  const check = <T extends ArrayLike<unknown>>(field: string, values: T | undefined): T => {
    const len = values?.length ?? 0;
    if (len !== n) throw fail(`${field} holds ${len} values but the shape needs ${n}`);
    return values as T;
  };
  switch (dataType) {
    case DataType.FLOAT: return Float32Array.from(check('float_data', t.float_data));
    case DataType.DOUBLE: return Float64Array.from(check('double_data', t.double_data)); // to float32 in decodeTensor
    case DataType.FLOAT16: return halfToFloat32(check('int32_data', t.int32_data));
    case DataType.BFLOAT16: return bfloat16ToFloat32(check('int32_data', t.int32_data));
    case DataType.INT8: return Int8Array.from(check('int32_data', t.int32_data));
    case DataType.UINT8:
    case DataType.BOOL: return Uint8Array.from(check('int32_data', t.int32_data));
    case DataType.INT16: return Int16Array.from(check('int32_data', t.int32_data));
    case DataType.UINT16: return Uint16Array.from(check('int32_data', t.int32_data));
    case DataType.INT32: return Int32Array.from(check('int32_data', t.int32_data));
    case DataType.INT64: return Float64Array.from(check('int64_data', t.int64_data), (v) => toNumber(v));
    case DataType.UINT32:
    case DataType.UINT64: return Float64Array.from(check('uint64_data', t.uint64_data), (v) => toNumber(v));
    default: throw new Error(`fromTypedField: data type ${dataType} not handled`);
  }
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'an unbounded number of bytes';
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} bytes`;
}
