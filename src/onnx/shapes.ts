// Static shape propagation from the model input through the graph. Each op below has its
// spec's output-shape rule; any other op makes its outputs unknown (null) rather than guessed,
// unless the model's value_info states a concrete shape for them. Small integer tensors on
// "shape paths" (Shape -> Gather -> Concat -> Reshape, as torch.onnx exports flatten) are
// evaluated too, so the Reshape at their end gets a shape.
import { Attributes } from './attributes.js';
import type { ConstantResolver } from './constants.js';
import { CONV_WEIGHT_INPUT, convGeometry } from './conv-attrs.js';
import { convOutputSize, parseAutoPad, resolveConvPads } from './geometry.js';
import { inputAt } from './graph-index.js';
import { toNumber, type NodeProto } from './schema.js';
import { broadcastShapes } from '../model/shape.js';
import {
  concatShape, flattenShape, matmulShape, normalizeAxis, reduceShape, reshapeShape,
  squeezeShape, transposeShape, unsqueezeShape, type Shape,
} from './shapeops.js';

const SAME_SHAPE_OPS = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Celu', 'Gelu', 'Mish',
  'Softplus', 'Softsign', 'ThresholdedRelu', 'Shrink', 'Erf', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Reciprocal',
  'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Not', 'IsNaN', 'IsInf', 'Identity', 'Dropout', 'Cast', 'CastLike',
  'Softmax', 'LogSoftmax', 'Hardmax', 'Clip', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization',
  'GroupNormalization', 'LpNormalization', 'LRN', 'MeanVarianceNormalization', 'QuantizeLinear', 'DequantizeLinear',
]);
const BROADCAST_OPS = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Less', 'LessOrEqual', 'Greater',
  'GreaterOrEqual', 'And', 'Or', 'Xor', 'Where', 'Mod', 'BitShift',
]);
const POOL_OPS = new Set(['MaxPool', 'AveragePool', 'LpPool']);
const GLOBAL_POOL_OPS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const REDUCE_OPS = new Set([
  'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSum', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum',
  'ReduceLogSumExp', 'ReduceSumSquare', 'ArgMax', 'ArgMin',
]);
/** Ops whose small integer results are evaluated (shape arithmetic). */
const MAX_VALUE_LENGTH = 64;

export class ShapeMap {
  readonly shapes = new Map<string, Shape | null>();
  /** Values of small integer tensors computed from shapes. */
  readonly values = new Map<string, number[]>();

  get(name: string | null): Shape | null {
    return name ? this.shapes.get(name) ?? null : null;
  }
}

export function propagateShapes(
  nodes: NodeProto[],
  resolver: ConstantResolver,
  seeds: Map<string, Shape | null>,
  declared: Map<string, Shape>,
): ShapeMap {
  const map = new ShapeMap();
  for (const [k, v] of seeds) map.shapes.set(k, v);
  for (const node of nodes) {
    let outs: (Shape | null)[];
    try {
      outs = nodeOutputShapes(node, map, resolver);
    } catch {
      outs = []; // a node whose shape rule fails leaves its outputs unknown; extraction reports real errors
    }
    (node.output ?? []).forEach((o, i) => {
      if (!o) return;
      const s = outs[i] ?? null;
      const valid = s && s.every((d) => Number.isSafeInteger(d) && d >= 0) ? s : null;
      map.shapes.set(o, valid ?? declared.get(o) ?? null);
    });
  }
  return map;
}

function nodeOutputShapes(node: NodeProto, map: ShapeMap, resolver: ConstantResolver): (Shape | null)[] {
  const op = node.op_type ?? '';
  const attrs = new Attributes(node);
  const inName = (i: number) => inputAt(node, i);
  const inShape = (i: number): Shape | null => map.get(inName(i)) ?? constDims(resolver, inName(i));
  const values = (i: number): number[] | null => {
    const n = inName(i);
    if (!n) return null;
    const v = map.values.get(n);
    if (v) return v;
    // Shape arithmetic only needs short vectors; copying a big weight here for each of thousands of
    // consumer nodes would stall the load.
    const t = resolver.get(n);
    return t && t.data.length <= MAX_VALUE_LENGTH ? Array.from(t.data) : null;
  };
  const setValue = (v: number[] | null) => {
    if (v && v.length <= MAX_VALUE_LENGTH && node.output?.[0]) map.values.set(node.output[0], v);
  };
  const x = inShape(0);
  if (node.domain && node.domain !== 'ai.onnx') return [];

  if (op in CONV_WEIGHT_INPUT) {
    const w = inShape(CONV_WEIGHT_INPUT[op]);
    if (!x || !w || x.length !== w.length) return [];
    const g = convGeometry(node, w, x.slice(2));
    if (!g.outputSpatial) return [];
    const channels = op === 'ConvTranspose' ? w[1] * g.group : w[0];
    return [[x[0], channels, ...g.outputSpatial]];
  }
  if (SAME_SHAPE_OPS.has(op)) {
    if (op === 'Identity' || op === 'Cast') setValue(values(0));
    return [x, op === 'Dropout' ? x : null];
  }
  if (BROADCAST_OPS.has(op)) {
    const inputs = (node.input ?? []).map((_, i) => inShape(i));
    if (['Add', 'Sub', 'Mul', 'Div'].includes(op)) setValue(elementwise(op, values(0), values(1)));
    return [broadcastShapes(inputs)];
  }
  if (POOL_OPS.has(op)) {
    if (!x) return [];
    const spatial = x.length - 2;
    const kernel = attrs.ints('kernel_shape') ?? [];
    if (kernel.length !== spatial) return [];
    const strides = attrs.ints('strides') ?? new Array<number>(spatial).fill(1);
    const dilations = attrs.ints('dilations') ?? new Array<number>(spatial).fill(1);
    const autoPad = parseAutoPad(attrs.string('auto_pad', 'NOTSET'));
    if (!autoPad) return [];
    const pads = resolveConvPads(autoPad, x.slice(2), kernel, strides, dilations, attrs.ints('pads') ?? []);
    const ceil = attrs.int('ceil_mode', 0) === 1;
    const out = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER'
      ? x.slice(2).map((s, i) => Math.ceil(s / strides[i]))
      : convOutputSize(x.slice(2), kernel, strides, dilations, pads, ceil);
    const y = [x[0], x[1], ...out];
    return [y, y];
  }
  if (GLOBAL_POOL_OPS.has(op)) return x ? [[x[0], x[1], ...x.slice(2).map(() => 1)]] : [];
  if (REDUCE_OPS.has(op)) {
    if (!x) return [];
    const keep = attrs.int('keepdims', 1) === 1;
    if (op === 'ArgMax' || op === 'ArgMin') return [reduceShape(x, [attrs.int('axis', 0)], keep)];
    const axes = attrs.ints('axes') ?? values(1);
    if (!axes && attrs.int('noop_with_empty_axes', 0) === 1) return [x];
    return [reduceShape(x, axes, keep)];
  }

  switch (op) {
    case 'Constant': {
      const t = resolver.get(node.output[0]);
      if (t) setValue(t.data.length <= MAX_VALUE_LENGTH ? Array.from(t.data) : null);
      return [t ? t.dims : null];
    }
    case 'Shape': {
      if (!x) return [];
      const start = normalizeRange(attrs.int('start', 0), x.length);
      const end = normalizeRange(attrs.int('end', x.length), x.length);
      const v = x.slice(start, Math.max(start, end));
      setValue(v);
      return [[v.length]];
    }
    case 'Size':
      if (x) setValue([x.reduce((a, b) => a * b, 1)]);
      return [[]];
    case 'Flatten':
      return [x && flattenShape(x, attrs.int('axis', 1))];
    case 'Reshape': {
      const target = values(1) ?? attrs.ints('shape');
      return [x && target ? reshapeShape(x, target, attrs.int('allowzero', 0) === 1) : null];
    }
    case 'Transpose':
      return [x && transposeShape(x, attrs.ints('perm'))];
    case 'Squeeze': {
      const axes = attrs.ints('axes') ?? values(1);
      const v = values(0);
      if (v && x && x.length <= 1) setValue(v);
      return [x && squeezeShape(x, axes)];
    }
    case 'Unsqueeze': {
      const axes = attrs.ints('axes') ?? values(1);
      const v = values(0);
      if (v && x && x.length <= 1) setValue(v);
      return [x && axes ? unsqueezeShape(x, axes) : null];
    }
    case 'Concat': {
      const shapes = (node.input ?? []).map((_, i) => inShape(i));
      const vals = (node.input ?? []).map((_, i) => values(i));
      if (vals.every((v) => v !== null) && shapes.every((s) => s && s.length <= 1)) setValue(vals.flat() as number[]);
      return [concatShape(shapes, attrs.int('axis', 0))];
    }
    case 'Gather': {
      const idxShape = inShape(1);
      const idx = values(1);
      const axis = x ? normalizeAxis(attrs.int('axis', 0), x.length) : null;
      if (!x || !idxShape || axis === null) return [];
      const v = values(0);
      if (v && idx && x.length === 1) setValue(idx.map((i) => v[i < 0 ? i + v.length : i]));
      return [[...x.slice(0, axis), ...idxShape, ...x.slice(axis + 1)]];
    }
    case 'Slice':
      return [x && sliceShape(attrs, x, values, setValue)];
    case 'Split': {
      if (!x) return [];
      const axis = normalizeAxis(attrs.int('axis', 0), x.length);
      if (axis === null) return [];
      const n = node.output?.length ?? 1;
      let sizes = attrs.ints('split') ?? values(1);
      if (!sizes || sizes.length === 0) {
        const each = Math.ceil(x[axis] / n);
        sizes = Array.from({ length: n }, (_, i) => Math.min(each, x[axis] - each * i));
      }
      return sizes.map((s) => x.map((d, i) => (i === axis ? s : d)));
    }
    case 'Gemm': {
      const a = inShape(0);
      const b = inShape(1);
      if (!a || !b || a.length !== 2 || b.length !== 2) return [];
      const m = attrs.int('transA', 0) ? a[1] : a[0];
      const n = attrs.int('transB', 0) ? b[0] : b[1];
      return [[m, n]];
    }
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul': {
      const a = inShape(0);
      const b = inShape(op === 'QLinearMatMul' ? 3 : 1);
      return [a && b ? matmulShape(a, b) : null];
    }
    case 'Pad': {
      if (!x) return [];
      const pads = attrs.ints('pads') ?? values(1);
      if (!pads) return [];
      const axes = values(3)?.map((a) => normalizeAxis(a, x.length)) ?? x.map((_, i) => i);
      if (pads.length !== 2 * axes.length || axes.some((a) => a === null)) return [];
      const y = [...x];
      axes.forEach((a, k) => { y[a!] += pads[k] + pads[k + axes.length]; });
      return [y];
    }
    case 'Resize':
    case 'Upsample': {
      if (!x) return [];
      const scalesInput = op === 'Upsample' || (node.input?.length ?? 0) === 2 ? 1 : 2;
      const sizes = op === 'Resize' ? values(3) : null;
      const scales = values(scalesInput) ?? attrs.floats('scales');
      const axes = attrs.ints('axes')?.map((a) => normalizeAxis(a, x.length)) ?? x.map((_, i) => i);
      if (axes.some((a) => a === null)) return [];
      const y = [...x];
      if (sizes && sizes.length === axes.length) axes.forEach((a, k) => { y[a!] = sizes[k]; });
      else if (scales && scales.length === axes.length) axes.forEach((a, k) => { y[a!] = Math.floor(x[a!] * scales[k]); });
      else return [];
      return [y];
    }
    case 'Expand': {
      const shape = values(1);
      return [x && shape ? broadcastShapes([x, shape]) : null];
    }
    case 'Tile': {
      const reps = values(1);
      return [x && reps && reps.length === x.length ? x.map((d, i) => d * reps[i]) : null];
    }
    case 'ConstantOfShape': {
      const shape = values(0);
      return [shape];
    }
    case 'DynamicQuantizeLinear':
      return [x, [], []];
    case 'DepthToSpace':
    case 'SpaceToDepth': {
      if (!x || x.length !== 4) return [];
      const b = attrs.int('blocksize', 1);
      return op === 'DepthToSpace'
        ? [[x[0], x[1] / (b * b), x[2] * b, x[3] * b]]
        : [[x[0], x[1] * b * b, x[2] / b, x[3] / b]];
    }
    default:
      return [];
  }
}

function normalizeRange(v: number, rank: number): number {
  return Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
}

function elementwise(op: string, a: number[] | null, b: number[] | null): number[] | null {
  if (!a || !b || (a.length !== b.length && a.length !== 1 && b.length !== 1)) return null;
  const n = Math.max(a.length, b.length);
  const f = { Add: (p: number, q: number) => p + q, Sub: (p: number, q: number) => p - q, Mul: (p: number, q: number) => p * q, Div: (p: number, q: number) => Math.trunc(p / q) }[op as 'Add'];
  return Array.from({ length: n }, (_, i) => f(a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]));
}

function sliceShape(
  attrs: Attributes,
  x: Shape,
  values: (i: number) => number[] | null,
  setValue: (v: number[] | null) => void,
): Shape | null {
  const starts = attrs.ints('starts') ?? values(1);
  const ends = attrs.ints('ends') ?? values(2);
  if (!starts || !ends || starts.length !== ends.length) return null;
  const axes = attrs.ints('axes') ?? values(3) ?? starts.map((_, i) => i);
  const steps = values(4) ?? starts.map(() => 1);
  const y = [...x];
  const ranges: { axis: number; from: number; to: number; step: number }[] = [];
  for (let k = 0; k < starts.length; k++) {
    const a = normalizeAxis(axes[k], x.length);
    const step = steps[k];
    if (a === null || !step) return null;
    const dim = x[a];
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v < 0 ? v + dim : v));
    const from = step > 0 ? clamp(starts[k], 0, dim) : clamp(starts[k], -1, dim - 1);
    const to = step > 0 ? clamp(ends[k], 0, dim) : clamp(ends[k], -1, dim - 1);
    y[a] = Math.max(0, Math.ceil((to - from) / step));
    ranges.push({ axis: a, from, to, step });
  }
  const v = values(0);
  if (v && x.length === 1 && ranges.length === 1) {
    const r = ranges[0];
    const out: number[] = [];
    for (let i = r.from; r.step > 0 ? i < r.to : i > r.to; i += r.step) out.push(v[i]);
    setValue(out);
  }
  return y;
}

/** Dims of a constant without decoding its data when it is an initializer. */
function constDims(resolver: ConstantResolver, name: string | null): Shape | null {
  if (!name) return null;
  return resolver.dimsOf(name);
}

/** Concrete dims of a value_info / graph input (symbolic dims -> null entries). */
export function declaredDims(dims: { dim_value?: unknown; dim_param?: string }[]): (number | null)[] {
  return dims.map((d) => {
    const v = d.dim_value === undefined || d.dim_value === null ? 0 : toNumber(d.dim_value as number);
    return v > 0 ? v : null;
  });
}
