// Values known before the model runs: initializers, Constant nodes, and what Identity, Cast,
// DequantizeLinear, Transpose and Reshape-like ops make of them (exporters route weights
// through all of these). Resolved lazily and memoized, so unused tensors are never decoded.
import { InputError } from '../errors.js';
import { Attributes } from './attributes.js';
import { roundTo } from './build.js';
import { GraphIndex, inputAt } from './graph-index.js';
import { DataType, toNumber, type NodeProto, type TensorProto } from './schema.js';
import { reshapeShape, squeezeShape, transposeData, unsqueezeShape, flattenShape } from './shapeops.js';
import { dataTypeName, decodeTensor, elementCount, isFloatType, type DecodeContext, type Tensor } from './tensor.js';

export class ConstantResolver {
  private readonly memo = new Map<string, Tensor | null>();
  private readonly reasons = new Map<string, string>();
  private readonly initializers = new Map<string, TensorProto>();
  private readonly inProgress = new Set<string>();

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
    if (this.inProgress.has(name)) return null; // malformed cyclic graph
    this.inProgress.add(name);
    let value: Tensor | null;
    try {
      value = this.compute(name);
    } finally {
      this.inProgress.delete(name);
    }
    this.memo.set(name, value);
    return value;
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
    const via = (t: Tensor, note: string, patch: Partial<Tensor> = {}): Tensor => ({ ...t, ...patch, notes: [...t.notes, note] });
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
        return x && via(x, `through Cast to ${dataTypeName(attrs.int('to', DataType.FLOAT)).toLowerCase()}`, castData(x, attrs.int('to', DataType.FLOAT)));
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
  const out = new Float32Array(x.data.length);
  let note: string;
  if (nScale === 1) {
    const s = scale.data[0];
    const z = zp ? zp.data[0] : 0;
    for (let i = 0; i < out.length; i++) out[i] = (x.data[i] - z) * s;
    note = `dequantized from ${dataTypeName(x.dataType).toLowerCase()} (per-tensor scale ${s})`;
  } else {
    const rank = x.dims.length;
    const raw = axisAttr;
    const axis = raw < 0 ? raw + rank : raw;
    if (axis < 0 || axis >= rank || x.dims[axis] !== nScale) {
      throw new InputError(`${where}: ${nScale} scales do not match axis ${axisAttr} of shape [${x.dims.join(', ')}]`);
    }
    const inner = elementCount(x.dims.slice(axis + 1));
    for (let i = 0; i < out.length; i++) {
      const c = Math.floor(i / inner) % nScale;
      out[i] = (x.data[i] - (zp ? zp.data[c] : 0)) * scale.data[c];
    }
    note = `dequantized from ${dataTypeName(x.dataType).toLowerCase()} (per-axis scales along axis ${axis})`;
  }
  return { name: x.name, dims: x.dims, dataType: DataType.FLOAT, data: out, notes: [...x.notes, note] };
}

/** Data after a Cast: float targets decode to float32 (rounded to fp16/bf16 when cast to those). */
function castData(x: Tensor, to: number): Partial<Tensor> {
  if (to === DataType.FLOAT16 || to === DataType.BFLOAT16) {
    return { dataType: to, data: Float32Array.from(roundTo(to === DataType.FLOAT16 ? 'float16' : 'bfloat16', x.data)) };
  }
  if (isFloatType(to)) return { dataType: to, data: x.data instanceof Float32Array ? x.data : Float32Array.from(x.data) };
  const data = Float64Array.from(x.data, (v) => Math.trunc(v));
  return { dataType: to, data };
}

