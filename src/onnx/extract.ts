// Finds every conv / dense layer of the graph, in graph order, and turns it into a layer
// record with its weight as the operator sees it. Anything conv/dense-like that cannot be
// read exactly becomes an UnsupportedLayer with a reason: never skipped, never approximated.
import { InputError } from '../errors.js';
import type { ConvLayer, Layer, UnsupportedLayer } from '../model/layer.js';
import { Attributes } from './attributes.js';
import { dequantizeTensor, type ConstantResolver } from './constants.js';
import { CONV_WEIGHT_INPUT, convGeometry } from './conv-attrs.js';
import { inputAt, nodeLabel, type GraphIndex } from './graph-index.js';
import type { GraphProto, NodeProto } from './schema.js';
import type { ShapeMap } from './shapes.js';
import type { Shape } from './shapeops.js';
import { composeRounding, dataTypeName, elementCount, storeFloat32, type RoundedFloat32, type Tensor } from './tensor.js';

const LAYER_OPS = new Set(['Conv', 'ConvTranspose', 'ConvInteger', 'QLinearConv', 'Gemm', 'MatMul', 'MatMulInteger', 'QLinearMatMul']);
/** Ops of other domains (com.microsoft FusedConv, NhwcConv, ...) that look like layers. */
const LAYER_LIKE = /conv|gemm|matmul|dense|fullyconnected/i;

export interface Extraction {
  layers: Layer[];
  warnings: string[];
  /** Nodes absorbed into a layer (folded BatchNormalization, merged Pad): node -> layer name. */
  absorbed: Map<NodeProto, string>;
  /** The layer record made from each layer node. */
  layerOf: Map<NodeProto, number>;
}

interface Ctx {
  index: GraphIndex;
  resolver: ConstantResolver;
  shapes: ShapeMap;
  out: Extraction;
}

export function extractLayers(nodes: NodeProto[], index: GraphIndex, resolver: ConstantResolver, shapes: ShapeMap): Extraction {
  const out: Extraction = { layers: [], warnings: [], absorbed: new Map(), layerOf: new Map() };
  const ctx: Ctx = { index, resolver, shapes, out };
  nodes.forEach((node, i) => {
    const op = node.op_type ?? '';
    const foreign = node.domain && node.domain !== 'ai.onnx';
    let layer: Layer | null = null;
    if (!foreign && LAYER_OPS.has(op)) layer = withLayerName(node, () => extractLayer(node, i, ctx));
    else if (LAYER_LIKE.test(op)) layer = unsupported(node, i, node.name || op, `operator ${node.domain ? `${node.domain}.` : ''}${op} is not supported`);
    if (layer) {
      out.layerOf.set(node, out.layers.length);
      out.layers.push(layer);
    }
    for (const { attr, graph } of new Attributes(node).graphs()) reportSubgraph(graph, `${attr} of ${op} '${nodeLabel(node)}'`, i, out);
  });
  nodes.forEach((node) => {
    if (node.op_type === 'BatchNormalization' && !out.absorbed.has(node)) {
      const why = isTrainingMode(node) ? 'is in training mode (batch statistics)' : 'does not directly follow a Conv';
      out.warnings.push(`BatchNormalization '${nodeLabel(node)}' ${why} and was not folded; its scale is not part of any layer`);
    }
  });
  return out;
}

/** Errors about a layer's weight name the layer, so the user knows where to look. */
function withLayerName(node: NodeProto, f: () => Layer | null): Layer | null {
  try {
    return f();
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`layer '${nodeLabel(node)}': ${e.message}`, e.file);
    throw e;
  }
}

function extractLayer(node: NodeProto, index: number, ctx: Ctx): Layer | null {
  switch (node.op_type) {
    case 'Conv':
    case 'ConvTranspose':
    case 'QLinearConv':
      return extractConv(node, index, ctx);
    case 'ConvInteger':
    case 'MatMulInteger':
      return unsupported(node, index, layerName(node, ctx, 1), `${node.op_type}: the weight scale is applied by later nodes of the graph; not traced`);
    case 'Gemm':
      return extractGemm(node, index, ctx);
    case 'MatMul':
    case 'QLinearMatMul':
      return extractMatMul(node, index, ctx);
    default:
      return null;
  }
}

function layerName(node: NodeProto, ctx: Ctx, weightInput: number): string {
  if (node.name) return node.name;
  const w = inputAt(node, weightInput);
  return ctx.resolver.get(w)?.name || w || `${node.op_type} -> ${node.output?.[0] ?? '?'}`;
}

function unsupported(node: NodeProto, index: number, name: string, reason: string): UnsupportedLayer {
  return { kind: 'unsupported', name, op: node.op_type ?? '', nodeIndex: index, notes: [], reason };
}

/** Subgraphs (If/Loop bodies) nested deeper than this are refused: real models nest a few levels. */
const MAX_SUBGRAPH_DEPTH = 32;

function reportSubgraph(graph: GraphProto, where: string, parentIndex: number, out: Extraction, depth = 1): void {
  if (depth > MAX_SUBGRAPH_DEPTH) throw new InputError(`subgraphs nested more than ${MAX_SUBGRAPH_DEPTH} levels deep`);
  for (const node of graph.node ?? []) {
    const op = node.op_type ?? '';
    if (LAYER_OPS.has(op) || LAYER_LIKE.test(op)) {
      const name = node.name || node.input?.[op === 'QLinearConv' || op === 'QLinearMatMul' ? 3 : 1] || op;
      out.layers.push(unsupported(node, parentIndex, name, `inside the ${where}: not analysed`));
    }
    for (const { attr, graph: sub } of new Attributes(node).graphs()) reportSubgraph(sub, `${attr} of ${op} '${nodeLabel(node)}' (${where})`, parentIndex, out, depth + 1);
  }
}

const withoutBatch = (s: Shape | null): number[] | null => (s && s.length >= 2 ? s.slice(1) : s);

/** The weight as float32, or the reason it is not usable. */
function floatWeight(node: NodeProto, input: number, ctx: Ctx): Tensor | string {
  const name = inputAt(node, input);
  if (!name) return 'the weight input is missing';
  const t = ctx.resolver.get(name);
  if (!t) return `weight ${ctx.resolver.whyNot(name)}`;
  if (!(t.data instanceof Float32Array)) throw new InputError(`weight '${t.name}' has unsupported data type ${dataTypeName(t.dataType)}`);
  return t;
}

/** Called inside withLayerName, which prefixes the layer. */
function checkFinite(w: Float32Array): void {
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (v - v !== 0) throw new InputError(`weight contains ${Number.isNaN(v) ? 'NaN' : 'Inf'}`);
  }
}

function extractConv(node: NodeProto, index: number, ctx: Ctx): Layer {
  const op = node.op_type!;
  const wInput = CONV_WEIGHT_INPUT[op];
  const name = layerName(node, ctx, wInput);
  const notes: string[] = [];
  let weight: Tensor;
  if (op === 'QLinearConv') {
    const w = ctx.resolver.get(inputAt(node, 3));
    const scale = ctx.resolver.get(inputAt(node, 4));
    const zp = inputAt(node, 5) ? ctx.resolver.get(inputAt(node, 5)) : null;
    if (!w || !scale || (inputAt(node, 5) && !zp)) return unsupported(node, index, name, 'QLinearConv weight, scale or zero point is not a constant');
    weight = dequantizeTensor(w, scale, zp, 0, `QLinearConv '${name}'`);
    notes.push('quantized conv read as the real-valued conv with dequantized weights (rounding of activations not modelled)');
  } else {
    const w = floatWeight(node, wInput, ctx);
    if (typeof w === 'string') return unsupported(node, index, name, w);
    weight = w;
  }
  const dims = weight.dims;
  if (dims.length === 5) return unsupported(node, index, name, '3-D convolution is not supported yet');
  if (dims.length < 3 || dims.length > 5) throw new InputError(`weight of shape [${dims.join(', ')}] is not a 1-D or 2-D conv kernel`);
  if (dims.some((d) => d === 0)) throw new InputError(`weight has an empty shape [${dims.join(', ')}]`);

  // A zero-valued constant Pad right before a Conv is part of the conv's padding.
  const xName = inputAt(node, 0);
  const pad = op === 'Conv' ? mergeablePad(xName, ctx) : null;
  const xShape = ctx.shapes.get(xName);
  const inputShape = pad ? ctx.shapes.get(inputAt(pad.node, 0)) : xShape;
  const geo = convGeometry(node, dims, xShape && xShape.length === dims.length ? xShape.slice(2) : null);
  checkChannels(op, dims, geo.group, xShape);
  let pads = geo.pads;
  if (pad) {
    pads = pads.map((p, i) => p + pad.spatialPads[i]);
    ctx.out.absorbed.set(pad.node, name);
    notes.push(`Pad '${nodeLabel(pad.node)}' merged into the conv's pads`);
  }
  // A merged Pad's int64 values or SAME padding of a huge dilation can leave the exact integer range.
  if (!pads.every((p) => Number.isSafeInteger(p) && p >= 0)) throw new InputError(`pads [${pads.join(', ')}] out of range`);
  if (geo.autoPad !== 'NOTSET') notes.push(`auto_pad ${geo.autoPad} resolved to explicit pads`);
  if (!geo.padsExact) {
    notes.push('input size unknown: pads resolved assuming each input size is a multiple of the stride');
    ctx.out.warnings.push(`layer '${name}': auto_pad ${geo.autoPad} with unknown input size; pads assume sizes divisible by the stride`);
  }

  let stored: RoundedFloat32 = { data: weight.data as Float32Array, rounding: weight.rounding ?? 0, roundingAbs: weight.roundingAbs ?? 0 };
  let folded = false;
  let outName = node.output?.[0] ?? '';
  const outChannels = op === 'ConvTranspose' ? dims[1] * geo.group : dims[0];
  const bn = op === 'QLinearConv' ? null : foldableBatchNorm(outName, ctx, dims.length, outChannels);
  if (bn) {
    stored = scaleOutputChannels(stored, dims, op === 'ConvTranspose', geo.group, bn);
    folded = true;
    ctx.out.absorbed.set(bn.node, name);
    const via = bn.biasAdd ? ` through the constant bias Add '${nodeLabel(bn.biasAdd)}'` : '';
    notes.push(`BatchNormalization '${nodeLabel(bn.node)}' folded in${via} (per-output-channel scale gamma/sqrt(var+eps))`);
    outName = bn.node.output?.[0] ?? outName;
  }
  const { data } = stored;
  checkFinite(data);
  const weightRounding = layerRounding(stored);
  if (weightRounding === null) return unsupported(node, index, name, 'derived weights all round to 0 in float32 (below its range)');
  const layer: ConvLayer = {
    kind: 'conv',
    name,
    op,
    nodeIndex: index,
    notes: [...weight.notes, ...notes],
    weight: data,
    weightShape: [...dims],
    spatialDims: geo.spatialDims,
    strides: geo.strides,
    dilations: geo.dilations,
    pads,
    autoPad: geo.autoPad,
    group: geo.group,
    outputPadding: geo.outputPadding,
    hasBias: inputAt(node, op === 'QLinearConv' ? 8 : 2) !== null,
    foldedBatchNorm: folded,
    weightRounding,
    inputShape: withoutBatch(inputShape),
    outputShape: withoutBatch(ctx.shapes.get(outName)),
  };
  return layer;
}

function checkChannels(op: string, dims: number[], group: number, x: Shape | null): void {
  const [a, b] = dims;
  const outChannels = op === 'ConvTranspose' ? b * group : a;
  if (outChannels % group !== 0 || (op === 'ConvTranspose' && a % group !== 0)) {
    throw new InputError(`weight shape [${dims.join(', ')}] does not fit group ${group}`);
  }
  const inChannels = op === 'ConvTranspose' ? a : b * group;
  if (x && x.length >= 2 && x[1] !== inChannels) {
    throw new InputError(`input has ${x[1]} channels but the weight [${dims.join(', ')}] with group ${group} expects ${inChannels}`);
  }
}

interface MergeablePad { node: NodeProto; spatialPads: number[] }

/** The Pad feeding a Conv, when it is a zero constant pad on spatial axes only and feeds nothing else. */
function mergeablePad(xName: string | null, ctx: Ctx): MergeablePad | null {
  if (!xName) return null;
  const prod = ctx.index.producer.get(xName);
  if (!prod || prod.node.op_type !== 'Pad' || (prod.node.domain && prod.node.domain !== 'ai.onnx')) return null;
  if (ctx.index.consumerCount(xName) !== 1) return null;
  const p = prod.node;
  const attrs = new Attributes(p);
  if (attrs.string('mode', 'constant') !== 'constant') return null;
  const ints = (i: number) => { const t = ctx.resolver.get(inputAt(p, i)); return t ? Array.from(t.data) : null; };
  const pads = attrs.ints('pads') ?? ints(1);
  if (!pads) return null;
  const value = inputAt(p, 2) ? ints(2) : [attrs.float('value', 0)];
  if (!value || value.some((v) => v !== 0)) return null;
  const shape = ctx.shapes.get(inputAt(p, 0));
  const rank = shape?.length ?? pads.length / 2;
  const axes = inputAt(p, 3) ? ints(3)?.map((a) => (a < 0 ? a + rank : a)) : Array.from({ length: rank }, (_, i) => i);
  if (!axes || pads.length !== 2 * axes.length || pads.some((v) => v < 0)) return null;
  const full = new Array<number>(2 * rank).fill(0);
  axes.forEach((a, k) => { full[a] = pads[k]; full[a + rank] = pads[k + axes.length]; });
  if (full[0] || full[1] || full[rank] || full[rank + 1]) return null;
  return { node: p, spatialPads: [...full.slice(2, rank), ...full.slice(rank + 2)] };
}

/** The only consumer of a tensor that is not also a graph output. */
function soleConsumer(name: string, ctx: Ctx): NodeProto | null {
  const consumers = ctx.index.consumers.get(name) ?? [];
  return consumers.length === 1 && !ctx.index.outputNames.has(name) ? consumers[0].node : null;
}

/**
 * Whether `add` adds a constant per-channel bias to `x` (rank `rank`, `channels` channels): the
 * constant broadcasts without enlarging x, so the Add is a translation and a BatchNormalization after
 * it scales the conv exactly as if it followed the conv directly (paddle2onnx exports conv biases so).
 */
function isConstantBiasAdd(add: NodeProto, x: string, rank: number, channels: number, ctx: Ctx): boolean {
  if (add.op_type !== 'Add' || (add.domain && add.domain !== 'ai.onnx') || (add.input ?? []).length !== 2) return false;
  const other = inputAt(add, 0) === x ? inputAt(add, 1) : inputAt(add, 1) === x ? inputAt(add, 0) : null;
  if (other === null || other === x) return false;
  const dims = ctx.resolver.dimsOf(other);
  if (!dims || dims.length > rank) return false;
  return dims.every((d, j) => d === 1 || (rank - dims.length + j === 1 && d === channels));
}

/**
 * The BatchNormalization that is the only consumer of a conv output (directly, or behind one
 * constant bias Add that is itself the output's only consumer), with constant parameters.
 */
function foldableBatchNorm(convOut: string, ctx: Ctx, rank: number, channels: number): FoldableBatchNorm | null {
  let next = soleConsumer(convOut, ctx);
  let bnInput = convOut;
  let biasAdd: NodeProto | null = null;
  if (next && isConstantBiasAdd(next, convOut, rank, channels, ctx)) {
    biasAdd = next;
    bnInput = next.output?.[0] ?? '';
    next = bnInput ? soleConsumer(bnInput, ctx) : null;
  }
  const bn = next;
  // training mode normalises by the batch's statistics: not a fixed scale (the network walk refuses it)
  if (!bn || bn.op_type !== 'BatchNormalization' || inputAt(bn, 0) !== bnInput || isTrainingMode(bn)) return null;
  const gamma = ctx.resolver.get(inputAt(bn, 1));
  const variance = ctx.resolver.get(inputAt(bn, 4));
  if (!gamma || !variance || gamma.data.length !== variance.data.length) return null;
  // Inputs read from doubles: a relative error of var carries over to var + eps only for var >= 0,
  // and an absolute one (subnormal) not at all; such a BN stays a graph op.
  if (gamma.roundingAbs || variance.roundingAbs || (variance.rounding && variance.data.some((v) => v < 0))) return null;
  const eps = new Attributes(bn).float('epsilon', 1e-5);
  const scale = new Float64Array(gamma.data.length);
  for (let c = 0; c < scale.length; c++) {
    scale[c] = gamma.data[c] / Math.sqrt(variance.data[c] + eps);
    // name the BatchNormalization, not the conv's weights the NaN would otherwise show up in
    if (!Number.isFinite(scale[c])) throw new InputError(`BatchNormalization '${nodeLabel(bn)}': gamma / sqrt(var + eps) is ${scale[c]} at channel ${c} (gamma ${gamma.data[c]}, var ${variance.data[c]}, eps ${eps})`);
  }
  // gamma (1 + a) / sqrt((var + eps)(1 + b)) = scale (1 + a) (1 + b')  with |b'| <= |b| (for |b| <= 1/2)
  return { node: bn, scale, rounding: composeRounding(gamma.rounding ?? 0, variance.rounding ?? 0), biasAdd };
}

interface FoldableBatchNorm {
  node: NodeProto;
  /** gamma / sqrt(var + eps) per channel, in float64 */
  scale: Float64Array;
  /** Relative error of gamma and var as stored (read from doubles), carried into the scale. */
  rounding: number;
  biasAdd: NodeProto | null;
}

function isTrainingMode(bn: NodeProto): boolean {
  return new Attributes(bn).int('training_mode', 0) !== 0;
}

/**
 * The layer's weightRounding: ||W_exact - W||_F <= r ||W||_F. From the elementwise bound
 * |e - w| <= rounding |w| + roundingAbs: ||E||_F <= rounding ||W||_F + roundingAbs sqrt(n), and
 * ||W||_F >= max |w|. null when the absolute part has nothing to be relative to (every weight 0).
 */
function layerRounding(w: RoundedFloat32): number | null {
  if (!w.roundingAbs) return w.rounding;
  let max = 0;
  for (let i = 0; i < w.data.length; i++) max = Math.max(max, Math.abs(w.data[i]));
  if (max === 0) return null;
  return composeRounding(w.rounding, (w.roundingAbs * Math.sqrt(w.data.length)) / max);
}

/**
 * A copy of the weight with each output channel multiplied by scale[channel]: the product of the
 * float64 scale (an add, a sqrt and a divide) and the weight (one multiply) is rounded once to float32.
 * Four float64 roundings, each y = fl(y)(1 + d), |d| <= 2^-53, compose to below 2^-50 relative.
 */
function scaleOutputChannels(w: RoundedFloat32, dims: number[], transposed: boolean, group: number, bn: FoldableBatchNorm): RoundedFloat32 {
  const { scale } = bn;
  const inner = elementCount(dims.slice(2));
  const [a, b] = dims;
  const outChannels = transposed ? b * group : a;
  if (scale.length !== outChannels) {
    throw new InputError(`BatchNormalization has ${scale.length} channels but the conv has ${outChannels} outputs`);
  }
  // Conv: [cout, cin/g, ...]; ConvTranspose: [cin, cout/g, ...] with output channel g*(cout/g)+j.
  const channel = (e: number) => {
    const ij = Math.floor(e / inner);
    const i = Math.floor(ij / b);
    return transposed ? Math.floor(i / (a / group)) * b + (ij % b) : i;
  };
  const maxScale = scale.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return storeFloat32(w.data.length, (e) => w.data[e] * scale[channel(e)], 2 ** -50, composeRounding(w.rounding, bn.rounding), w.roundingAbs * maxScale * (1 + 2 ** -50));
}

/**
 * Row-major [out, in] operator matrix alpha * M or alpha * M^T; a view when nothing changes. alpha
 * (a float32 attribute) times a float32 weight is exact in float64: the one rounding is to float32.
 */
function operatorMatrix(w: Tensor, rows: number, cols: number, transpose: boolean, alpha: number): RoundedFloat32 {
  const m = w.data as Float32Array;
  const rounding = w.rounding ?? 0;
  const roundingAbs = w.roundingAbs ?? 0;
  if (!transpose && alpha === 1) return { data: m, rounding, roundingAbs };
  const at = transpose ? (e: number) => m[(e % rows) * cols + Math.floor(e / rows)] : (e: number) => m[e];
  return storeFloat32(m.length, (e) => alpha * at(e), 0, rounding, roundingAbs * Math.abs(alpha));
}

function denseLayer(node: NodeProto, index: number, name: string, w: Tensor, matrix: RoundedFloat32, shape: number[], inShape: Shape | null, notes: string[], hasBias: boolean, ctx: Ctx): Layer {
  checkFinite(matrix.data);
  const weightRounding = layerRounding(matrix);
  if (weightRounding === null) return unsupported(node, index, name, 'derived weights all round to 0 in float32 (below its range)');
  return {
    kind: 'dense', name, op: node.op_type ?? '', nodeIndex: index, notes: [...w.notes, ...notes],
    weight: matrix.data, weightShape: shape, hasBias, foldedBatchNorm: false, weightRounding,
    inputShape: withoutBatch(inShape), outputShape: withoutBatch(ctx.shapes.get(node.output?.[0] ?? null)),
  };
}

function extractGemm(node: NodeProto, index: number, ctx: Ctx): Layer | null {
  const attrs = new Attributes(node);
  const alpha = attrs.float('alpha', 1);
  const transA = attrs.int('transA', 0) === 1;
  const transB = attrs.int('transB', 0) === 1;
  const a = ctx.resolver.get(inputAt(node, 0));
  const b = ctx.resolver.get(inputAt(node, 1));
  const hasBias = inputAt(node, 2) !== null;
  const notes = alpha !== 1 ? [`alpha ${alpha} applied to the weight`] : [];
  if (a && b) return null; // constant arithmetic, not a layer on the data path
  const constIdx = b ? 1 : a ? 0 : -1;
  const name = layerName(node, ctx, constIdx < 0 ? 1 : constIdx);
  if (constIdx < 0) return unsupported(node, index, name, 'Gemm with no constant operand (both computed at run time)');
  const w = floatWeight(node, constIdx, ctx);
  if (typeof w === 'string') return unsupported(node, index, name, w);
  if (w.dims.length !== 2) throw new InputError(`Gemm operand of shape [${w.dims.join(', ')}] is not a matrix`);
  const [r, c] = w.dims;
  if (constIdx === 1) {
    // y = alpha * x B' : as an operator on x, the matrix is alpha * B'^T, i.e. B when transB.
    const matrix = operatorMatrix(w, r, c, !transB, alpha);
    const shape = transB ? [r, c] : [c, r];
    if (transA) notes.push('transA only changes the activation layout');
    return denseLayer(node, index, name, w, matrix, shape, ctx.shapes.get(inputAt(node, 0)), notes, hasBias, ctx);
  }
  // y = alpha * A' x : the constant is on the left and acts on the columns of B'.
  const matrix = operatorMatrix(w, r, c, transA, alpha);
  notes.push('constant is the left operand: the layer acts on columns');
  return denseLayer(node, index, name, w, matrix, transA ? [c, r] : [r, c], ctx.shapes.get(inputAt(node, 1)), notes, hasBias, ctx);
}

function extractMatMul(node: NodeProto, index: number, ctx: Ctx): Layer | null {
  const quantized = node.op_type === 'QLinearMatMul';
  const [ai, bi] = quantized ? [0, 3] : [0, 1];
  const constant = (i: number): Tensor | null => {
    const t = ctx.resolver.get(inputAt(node, i));
    if (!t || !quantized) return t;
    const scale = ctx.resolver.get(inputAt(node, i + 1));
    const zp = ctx.resolver.get(inputAt(node, i + 2));
    // QLinearMatMul: per-tensor, or per output column of the right operand.
    return scale ? dequantizeTensor(t, scale, zp, i === bi ? 1 : 0, `QLinearMatMul '${nodeLabel(node)}'`) : null;
  };
  const a = constant(ai);
  const b = constant(bi);
  if (a && b) return null;
  const constIdx = b ? bi : a ? ai : -1;
  const name = layerName(node, ctx, constIdx < 0 ? bi : constIdx);
  if (constIdx < 0) return unsupported(node, index, name, `${node.op_type} with no constant operand (both computed at run time)`);
  const w = (b ?? a)!;
  if (!(w.data instanceof Float32Array)) throw new InputError(`weight '${w.name}' has unsupported data type ${dataTypeName(w.dataType)}`);
  if (w.dims.length !== 2) return unsupported(node, index, name, `constant operand of shape [${w.dims.join(', ')}]: only 2-D weights are supported`);
  const notes = quantized ? ['quantized matmul read as the real-valued matmul with dequantized weights'] : [];
  const [r, c] = w.dims;
  if (b) {
    // y = x W: the operator matrix is W^T, [out, in].
    return denseLayer(node, index, name, w, operatorMatrix(w, r, c, true, 1), [c, r], ctx.shapes.get(inputAt(node, ai)), notes, false, ctx);
  }
  notes.push('constant is the left operand: the layer acts on columns');
  return denseLayer(node, index, name, w, operatorMatrix(w, r, c, false, 1), [r, c], ctx.shapes.get(inputAt(node, bi)), notes, false, ctx);
}
