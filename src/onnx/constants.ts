// Values known before the model runs: initializers, Constant nodes, and what Identity, Cast,
// DequantizeLinear, Transpose and Reshape-like ops make of them (exporters route weights
// through all of these). Resolved lazily and memoized, so unused tensors are never decoded.
import { InputError } from '../errors.js';
import { Attributes } from './attributes.js';
import { roundTo } from './build.js';
import { GraphIndex, inputAt } from './graph-index.js';
import { DataType, toNumber, type NodeProto, type TensorProto } from './schema.js';
import { reshapeShape, squeezeShape, transposeData, unsqueezeShape, flattenShape } from './shapeops.js';
import { composeRounding, dataTypeName, decodeTensor, elementCount, formatBytes, isFloatType, storeFloat32, type DecodeContext, type Tensor } from './tensor.js';

/** Ops whose constant value compute() derives from their inputs' values; every other producer is a leaf. */
const DERIVING_OPS = new Set(['Identity', 'Dropout', 'Cast', 'DequantizeLinear', 'Transpose', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten']);
/**
 * All constants together may hold at most this many times the single-tensor limit: a hostile
 * chain of Transpose/Cast nodes would otherwise copy one weight thousands of times.
 */
const TOTAL_BYTES_FACTOR = 2;

export class ConstantResolver {
  private readonly memo = new Map<string, Tensor | null>();
  private readonly reasons = new Map<string, string>();
  private readonly initializers = new Map<string, TensorProto>();
  private readonly inProgress = new Set<string>();
  private warming = false;
  /** Inputs that failed to decode, rethrown on every request (recomputing them would be quadratic in a chain). */
  private readonly failures = new Map<string, InputError>();
  /** Data arrays already counted against the memory budget, and their total size. */
  private readonly counted = new WeakSet<object>();
  private heldBytes = 0;

  constructor(
    private readonly index: GraphIndex,
    private readonly ctx: DecodeContext,
  ) {
    for (const t of index.graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
  }

  /** The constant value of a tensor, or null when it is only known at run time. */
  get(name: string | null): Tensor | null {
    if (!name) return null;
    if (this.memo.has(name)) return this.memo.get(name)!;
    const failed = this.failures.get(name);
    if (failed) throw failed;
    if (this.inProgress.has(name)) return null; // malformed cyclic graph
    // While warming up, inputs come in dependency order: one not known yet closes a cycle (recursing
    // into it could be 20000 frames deep).
    if (this.warming && this.inProgress.size > 0) return null;
    if (!this.warming && this.inProgress.size === 0) this.resolveDependencies(name);
    this.inProgress.add(name);
    let value: Tensor | null;
    try {
      value = this.compute(name);
      this.account(value);
    } catch (e) {
      if (e instanceof InputError) this.failures.set(name, e);
      throw e;
    } finally {
      this.inProgress.delete(name);
    }
    this.memo.set(name, value);
    return value;
  }

  /**
   * Resolves what `name` depends on bottom-up with an explicit stack, so that compute() finds its
   * inputs memoized: a chain of thousands of Identity/Transpose nodes must not overflow the call
   * stack. Errors are left for the real computation to raise, if it needs that input at all.
   */
  private resolveDependencies(name: string): void {
    const postOrder: string[] = [];
    const seen = new Set<string>([name]);
    const stack: { name: string; expanded: boolean }[] = [{ name, expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.expanded) {
        stack.pop();
        postOrder.push(top.name);
        continue;
      }
      top.expanded = true;
      const node = this.index.producer.get(top.name)?.node;
      if (!node || this.initializers.has(top.name) || !DERIVING_OPS.has(node.op_type ?? '') || (node.domain && node.domain !== 'ai.onnx')) continue;
      for (const x of node.input ?? []) {
        if (x && !seen.has(x) && !this.memo.has(x) && !this.failures.has(x)) {
          seen.add(x);
          stack.push({ name: x, expanded: false });
        }
      }
    }
    postOrder.pop(); // `name` itself, computed by the caller
    this.warming = true;
    try {
      for (const n of postOrder) {
        try {
          this.get(n);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      }
    } finally {
      this.warming = false;
    }
  }

  /** Counts a newly made constant against the memory budget; refuses the model past it. */
  private account(t: Tensor | null): void {
    if (!t || this.counted.has(t.data)) return;
    this.counted.add(t.data);
    this.heldBytes += t.data.byteLength;
    const limit = TOTAL_BYTES_FACTOR * this.ctx.maxTensorBytes;
    if (this.heldBytes > limit) {
      throw new InputError(`the graph's constants need more than ${formatBytes(limit)} of memory (after '${t.name}'); refused`);
    }
  }

  /** Dims of a constant; initializers answer without decoding their data. */
  dimsOf(name: string): number[] | null {
    const init = this.initializers.get(name);
    if (init) return (init.dims ?? []).map((d) => toNumber(d));
    return this.get(name)?.dims ?? null;
  }

  /** Why get(name) returned null, for unsupported-layer reasons. */
  whyNot(name: string): string {
    return this.reasons.get(name) ?? `'${name}' is computed at run time, not a constant`;
  }

  private unknown(name: string, reason?: string): null {
    if (reason) this.reasons.set(name, reason);
    return null;
  }

  private compute(name: string): Tensor | null {
    const init = this.initializers.get(name);
    if (init) return decodeTensor(init, this.ctx);
    const prod = this.index.producer.get(name);
    if (!prod) return this.unknown(name);
    const node = prod.node;
    if (node.domain && node.domain !== 'ai.onnx') return this.unknown(name);
    const attrs = new Attributes(node);
    const input = (i: number) => this.get(inputAt(node, i));
    const op = node.op_type ?? '';
    const via = (t: Tensor, note: string, patch: Partial<Tensor> = {}): Tensor => ({ ...t, ...patch, notes: withNote(t.notes, note) });
    switch (op) {
      case 'Constant':
        return this.constantNode(node, attrs, name);
      case 'Identity':
      case 'Dropout': {
        if (node.output[0] !== name) return this.unknown(name);
        const x = input(0);
        return x && via(x, `through ${op}`);
      }
      case 'Cast': {
        const x = input(0);
        if (!x) return null;
        const to = attrs.int('to', DataType.FLOAT);
        const data = castData(x, to);
        if (!data) return this.unknown(name, `Cast '${node.name}' to ${dataTypeName(to).toLowerCase()} of a rounded (derived) constant`);
        return via(x, `through Cast to ${dataTypeName(to).toLowerCase()}`, data);
      }
      case 'DequantizeLinear':
        return this.dequantize(node, attrs, name);
      case 'Transpose': {
        const x = input(0);
        if (!x) return null;
        const perm = attrs.ints('perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i);
        if (perm.length !== x.dims.length) return this.unknown(name, `Transpose '${node.name}' perm does not match the rank`);
        const Ctor = x.data.constructor as new (n: number) => Tensor['data'];
        const data = transposeData(x.data, x.dims, perm, (n) => new Ctor(n));
        return via(x, `through Transpose perm [${perm.join(',')}]`, { dims: perm.map((p) => x.dims[p]), data });
      }
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze':
      case 'Flatten': {
        const x = input(0);
        if (!x) return null;
        const dims = this.reshapedDims(op, node, attrs, x.dims);
        if (!dims) return this.unknown(name, `${op} '${node.name}' of a constant could not be evaluated`);
        return via(x, `through ${op}`, { dims });
      }
      default:
        return this.unknown(name);
    }
  }

  private reshapedDims(op: string, node: NodeProto, attrs: Attributes, dims: number[]): number[] | null {
    const listInput = (i: number): number[] | null => {
      const t = this.get(inputAt(node, i));
      return t ? Array.from(t.data) : null;
    };
    switch (op) {
      case 'Reshape': {
        const target = listInput(1) ?? attrs.ints('shape');
        return target ? reshapeShape(dims, target, attrs.int('allowzero', 0) === 1) : null;
      }
      case 'Squeeze':
        return squeezeShape(dims, attrs.ints('axes') ?? listInput(1));
      case 'Unsqueeze': {
        const axes = attrs.ints('axes') ?? listInput(1);
        return axes ? unsqueezeShape(dims, axes) : null;
      }
      case 'Flatten':
        return flattenShape(dims, attrs.int('axis', 1));
      default:
        return null;
    }
  }

  private constantNode(node: NodeProto, attrs: Attributes, name: string): Tensor | null {
    const t = attrs.tensor('value');
    if (t) {
      const decoded = decodeTensor({ ...t, name: t.name || name }, this.ctx);
      return { ...decoded, notes: [...decoded.notes, 'from a Constant node'] };
    }
    const fromList = (values: number[], dims: number[], dataType: number): Tensor => ({
      name,
      dims,
      dataType,
      data: dataType === DataType.FLOAT ? Float32Array.from(values) : Float64Array.from(values),
      notes: ['from a Constant node'],
    });
    if (attrs.has('value_float')) return fromList([attrs.float('value_float', 0)], [], DataType.FLOAT);
    if (attrs.has('value_floats')) { const v = attrs.floats('value_floats')!; return fromList(v, [v.length], DataType.FLOAT); }
    if (attrs.has('value_int')) return fromList([attrs.int('value_int', 0)], [], DataType.INT64);
    if (attrs.has('value_ints')) { const v = attrs.ints('value_ints')!; return fromList(v, [v.length], DataType.INT64); }
    return this.unknown(name, `Constant '${node.name ?? name}' has no numeric value (sparse or string)`);
  }

  /** y = (x - zero_point) * scale, per tensor or along `axis` (opset 13+). */
  private dequantize(node: NodeProto, attrs: Attributes, name: string): Tensor | null {
    const x = this.get(inputAt(node, 0));
    const scale = this.get(inputAt(node, 1));
    const zpName = inputAt(node, 2);
    const zp = zpName ? this.get(zpName) : null;
    if (!x || !scale || (zpName && !zp)) return this.unknown(name, `DequantizeLinear '${node.name}' has a non-constant input`);
    if (attrs.int('block_size', 0) > 0) return this.unknown(name, `DequantizeLinear '${node.name}': blocked quantization is not supported`);
    return dequantizeTensor(x, scale, zp, attrs.int('axis', 1), `DequantizeLinear '${node.name || name}'`);
  }
}

/**
 * (x - zero_point) * scale. One scale: per tensor; otherwise one scale per slice along `axis`.
 * Shared by DequantizeLinear and the quantized layer ops (QLinearConv, QLinearMatMul).
 */
export function dequantizeTensor(x: Tensor, scale: Tensor, zp: Tensor | null, axisAttr: number, where: string): Tensor {
  const nScale = scale.data.length;
  if (zp && zp.data.length !== nScale) throw new InputError(`${where}: zero point has ${zp.data.length} values, scale has ${nScale}`);
  // The real (x - zp) * scale, rounded once to float32. x and zp are integers, so x - zp is exact;
  // only a scale read from a double (or a non-integer x) carries an error into the product.
  if (x.rounding && zp?.data.some((z) => z !== 0)) throw new InputError(`${where}: a rounded float input with a zero point`);
  let channel: (i: number) => number;
  let note: string;
  if (nScale === 1) {
    channel = () => 0;
    note = `dequantized from ${dataTypeName(x.dataType).toLowerCase()} (per-tensor scale ${scale.data[0]})`;
  } else {
    const rank = x.dims.length;
    const raw = axisAttr;
    const axis = raw < 0 ? raw + rank : raw;
    if (axis < 0 || axis >= rank || x.dims[axis] !== nScale) {
      throw new InputError(`${where}: ${nScale} scales do not match axis ${axisAttr} of shape [${x.dims.join(', ')}]`);
    }
    const inner = elementCount(x.dims.slice(axis + 1));
    channel = (i) => Math.floor(i / inner) % nScale;
    note = `dequantized from ${dataTypeName(x.dataType).toLowerCase()} (per-axis scales along axis ${axis})`;
  }
  const maxAbs = (a: ArrayLike<number> | undefined) => { let m = 0; for (let i = 0; i < (a?.length ?? 0); i++) m = Math.max(m, Math.abs(a![i])); return m; };
  const maxQ = maxAbs(x.data) + maxAbs(zp?.data);
  // (x - zp) * scale is exact in float64 when |x - zp| < 2^29 and each scale has float32's 24 bits
  const exactProduct = maxQ < 2 ** 29 && Array.prototype.every.call(scale.data, (s: number) => Math.fround(s) === s);
  const inputAbs = (scale.roundingAbs ?? 0) * maxQ + (x.roundingAbs ?? 0) * maxAbs(scale.data);
  const { data, ...err } = storeFloat32(
    x.data.length,
    (i) => { const c = channel(i); return (x.data[i] - (zp ? zp.data[c] : 0)) * scale.data[c]; },
    exactProduct ? 0 : 2 ** -53,
    composeRounding(x.rounding ?? 0, scale.rounding ?? 0),
    inputAbs,
  );
  return { name: x.name, dims: x.dims, dataType: DataType.FLOAT, data, notes: withNote(x.notes, note), ...err };
}

const MAX_NOTES = 12;
const MORE_NOTES = '(more ops on the way not listed)';

/** notes + note, capped: a chain of thousands of Identity nodes must not grow a list per node. */
function withNote(notes: string[], note: string): string[] {
  if (notes.length < MAX_NOTES) return [...notes, note];
  return notes[notes.length - 1] === MORE_NOTES ? notes : [...notes, MORE_NOTES];
}

/** Data after a Cast: float targets decode to float32 (rounded to fp16/bf16 when cast to those). */
function castData(x: Tensor, to: number): Partial<Tensor> | null {
  // Rounding (to fp16/bf16, or to an integer) of data that are already off the model's values can
  // land on a different value than the model's: no relative error bound survives it.
  if ((x.rounding || x.roundingAbs) && !(to === DataType.FLOAT || to === DataType.DOUBLE)) return null;
  if (to === DataType.FLOAT16 || to === DataType.BFLOAT16) {
    return { dataType: to, data: Float32Array.from(roundTo(to === DataType.FLOAT16 ? 'float16' : 'bfloat16', x.data)) };
  }
  if (isFloatType(to)) return { dataType: to, data: x.data instanceof Float32Array ? x.data : Float32Array.from(x.data) };
  const data = Float64Array.from(x.data, (v) => Math.trunc(v));
  return { dataType: to, data };
}

