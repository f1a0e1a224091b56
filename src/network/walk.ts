// The certified whole-network bound: one walk of the ONNX graph carrying, for every tensor, an upper
// bound on the Lipschitz constant from the graph input(s) to it; unprovable nodes are named. Pure.
// Rules, symbolic dims and rounding: docs/derivations.md#network-walk-and-op-constants
import type { AttrScalar, GraphNode, GraphSummary } from '../model/graph.js';
import { broadcastSymbolicShapes } from '../model/shape.js';
import type { Refinement } from './blocks.js';
import {
  type Certified,
  type CoordinateMode,
  type NearestMode,
  type PadMode,
  type PoolAxis,
  GELU_ERF_CONSTANT,
  MISH_CONSTANT,
  NOT_LIPSCHITZ,
  SILU_CONSTANT,
  activationConstant,
  averagePoolConstant,
  batchNormConstant,
  broadcastReplication,
  clippedGateConstant,
  gatherMultiplicity,
  hardSwishConstant,
  maxMultiplicity,
  maxPoolConstant,
  padSizeFreeCopies,
  padAxisMap,
  samePads,
  scaleConstant,
  sizeDependentBroadcast,
} from './op-constants.js';
import { addUp, divDown, divUp, mulUp, nextDown, nextUp, rssUp, sqrtDown, sqrtUp, sumUp } from '../linalg/rounding.js';
import { MAX_SIZE_FREE_LENGTH, resizeLinearAxisNorm, resizeNearestAxisCopies } from './resize.js';

export interface UncertifiedNode {
  op: string;
  node: string;
  reason: string;
}

export interface NetworkBound {
  /** Certified upper bound on the Lipschitz constant of input -> (all outputs jointly); null if not certified. */
  bound: number | null;
  /** Product of all layer bounds (null if any layer has none): only valid for a plain chain. */
  naiveProduct: number | null;
  certified: boolean;
  /** Which rule produced `bound`: the plain walk, exact merges, or per-block ReLU averaging (blocks.ts). */
  method: 'graph' | 'merged' | 'block-averaging';
  /** The plain walk's bound (per-layer bounds composed), for comparison; equal to bound when method is 'graph'. */
  graphBound: number | null;
  /** Nodes where a structural rule beat the plain walk: the node, the rule, the walk's and the rule's value there. */
  blocks: { node: string; rule: 'merged' | 'block-averaging'; detail: string; bound: number; graphBound: number }[];
  /** "Op (node)" for every node that prevented certification of some output. */
  uncertifiedOps: string[];
  /** The same nodes with the reason. */
  uncertifiedNodes: UncertifiedNode[];
  notes: string[];
  perOutput: { name: string; bound: number | null }[];
}

/** A tensor's state during the walk: a certified constant, or the ids of the nodes that broke it. */
type TensorState = { L: number } | { blame: Set<number> };

const ONE_LIPSCHITZ_SHAPE_OPS: Record<string, string> = {
  Flatten: 'reshape',
  Reshape: 'reshape',
  Transpose: 'permutation',
  Squeeze: 'reshape',
  Unsqueeze: 'reshape',
  DepthToSpace: 'permutation',
  SpaceToDepth: 'permutation',
  Slice: 'selects a subset of elements, each at most once',
  Softmax: 'softmax is 1-Lipschitz in l2 on each slice (Jacobian diag(p) - pp^T has norm <= 1)',
  GlobalMaxPool: 'max over disjoint windows',
  ReduceMax: 'max over disjoint groups',
  ReduceMin: 'min over disjoint groups',
  ReduceL2: 'l2 norm of disjoint groups (reverse triangle inequality)',
  ReduceLogSumExp: 'gradient is a softmax (l2 norm <= 1) per disjoint group',
};

const FLOAT16 = 10;
const BFLOAT16 = 16;
const FLOAT_TYPES = new Set([1, FLOAT16, 11, BFLOAT16]); // FLOAT, FLOAT16, DOUBLE, BFLOAT16

function attrGetters(attrs: Record<string, AttrScalar>) {
  return {
    f(name: string, dflt: number): number {
      const v = attrs[name];
      return typeof v === 'number' ? v : dflt;
    },
    s(name: string, dflt: string): string {
      const v = attrs[name];
      return typeof v === 'string' ? v : dflt;
    },
    /** int or float lists */
    ints(name: string): number[] | null {
      const v = attrs[name];
      if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
      return null;
    },
  };
}

/** A shape with known rank: every dim a length >= 1 or a symbol (< 0). */
const shaped = (s: number[] | null | undefined): number[] | null => (s && s.every((d) => Number.isInteger(d) && d !== 0) ? s : null);
const isSymbolic = (d: number) => d < 0;
/** Integer products (copy and element counts): exact below 2^53. */
const prod = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a * b, 1);

/** Everything a rule sees about one node, with its inputs' constants resolved. */
interface NodeCtx {
  node: GraphNode;
  /** L of each input (0 for absent, constant or static inputs). */
  L: number[];
  a: ReturnType<typeof attrGetters>;
  /** Input shape by position (with batch), from the node or any other node that saw the tensor; may hold symbolic dims (< 0). */
  inShape(i: number): number[] | null;
  outShape(i: number): number[] | null;
  /** Records that the rule used a bound valid for every input size because some length was symbolic. */
  sizeFree(): void;
  constant(i: number): Float32Array | null;
  /** Producer of a tensor (already walked), for pattern recognition. */
  producer(name: string): GraphNode | undefined;
  note(s: string): void;
}

type Rule = {
  /** Input positions whose values reach the output; every other input must not depend on the network input. */
  data: 'first' | 'all' | number[];
  /** Which outputs carry the result (others, e.g. MaxPool indices, are left uncertified). */
  outputs?: 'first' | 'all';
  apply(c: NodeCtx): Certified;
};

const ok = (value: number, why: string): Certified => ({ value, why });
const no = (why: string): Certified => ({ value: null, why });

/**
 * Copies of input i's elements in the output of a broadcasting elementwise op (sqrt of it is the
 * norm of the broadcast). Known shapes decide it; otherwise, if every other operand is a constant
 * with a single element, input i cannot be broadcast.
 */
function replication(c: NodeCtx, i: number): number | string {
  const inputs = c.node.inputs;
  const shapes = inputs.map((_, j) => c.inShape(j));
  const out = c.outShape(0) ?? broadcastSymbolicShapes(shapes);
  const rep = broadcastReplication(shapes[i], out);
  if (rep !== null) return rep;
  const othersScalar = inputs.every((_, j) => j === i || (c.L[j] === 0 && c.constant(j) !== null && c.constant(j)!.length === 1));
  if (othersScalar) return 1;
  if (sizeDependentBroadcast(shapes[i], out))
    return `${c.node.op} broadcasts input '${inputs[i]}' along a dim whose length depends on the input size (copies unbounded over sizes): needs an input size`;
  return `shape of input '${inputs[i]}' or of the output unknown: cannot exclude broadcasting (copies) of it`;
}

/** L_i * sqrt(rep_i) for every runtime input, or the reason the broadcast of an operand is not bounded. */
function broadcastTerms(c: NodeCtx, positions: number[]): number[] | string {
  const terms: number[] = [];
  for (const i of positions) {
    if (c.L[i] === 0) continue;
    const rep = replication(c, i);
    if (typeof rep === 'string') return rep;
    if (rep > 1) c.note(`${c.node.op} '${c.node.name}': input '${c.node.inputs[i]}' is broadcast (${rep} copies): factor sqrt(${rep})`);
    terms.push(mulUp(c.L[i], sqrtUp(rep)));
  }
  return terms;
}

const allPositions = (c: NodeCtx) => c.node.inputs.map((_, i) => i);

/** True when tensor t is x, or x times / divided by a positive scalar constant. */
function scaledOf(c: NodeCtx, t: string, x: string): boolean {
  if (t === x) return true;
  const p = c.producer(t);
  if (!p || p.inputs.length !== 2 || (p.op !== 'Mul' && p.op !== 'Div')) return false;
  for (const [xi, ki] of p.op === 'Mul' ? [[0, 1], [1, 0]] : [[0, 1]]) {
    const k = p.constInputs[ki];
    if (p.inputs[xi] === x && k && k.length === 1 && k[0] > 0) return true;
  }
  return false;
}

/** A positive scalar constant factor of a Mul / Div node: [run-time input, factor k, divides], or null. */
function scalarFactor(p: GraphNode): [string, number, boolean] | null {
  if (p.domain !== '' || p.inputs.length !== 2 || (p.op !== 'Mul' && p.op !== 'Div')) return null;
  for (const [xi, ki] of p.op === 'Mul' ? [[0, 1], [1, 0]] : [[0, 1]]) {
    const k = p.constInputs[ki];
    if (p.constInputs[xi] === null && k && k.length === 1 && k[0] > 0) return [p.inputs[xi], k[0], p.op === 'Div'];
  }
  return null;
}

/**
 * g = s clip(a x + b, 0, m) for a chain of Mul / Div by positive scalars (s), a Clip at [0, m] and
 * Add / Sub / Mul / Div by scalars down to x (a > 0, b): the x * g constant, or null.
 */
function clippedGate(c: NodeCtx, x: string, g: string): Certified | null {
  let s = 1;
  let p = c.producer(g);
  for (let f = p && scalarFactor(p); p && f; f = p && scalarFactor(p)) {
    s = f[2] ? divUp(s, f[1]) : mulUp(s, f[1]);
    p = c.producer(f[0]);
  }
  if (!p || p.op !== 'Clip' || p.domain !== '' || p.inputs.length === 0) return null;
  const limit = (i: number, name: string) =>
    p!.inputs.length > i && p!.inputs[i] ? (p!.constInputs[i]?.length === 1 ? p!.constInputs[i]![0] : NaN) : attrGetters(p!.attrs).f(name, NaN);
  const m = limit(2, 'max');
  if (limit(1, 'min') !== 0 || !(m > 0 && Number.isFinite(m))) return null;
  // the affine chain u = a x + b from x up to the Clip's input, collected top-down
  const ops: GraphNode[] = [];
  for (let t = p.inputs[0]; t !== x; ) {
    const q = c.producer(t);
    if (!q || q.domain !== '' || q.inputs.length !== 2 || ops.length >= 6) return null;
    const ri = q.constInputs[0] === null ? 0 : 1;
    const k = q.constInputs[1 - ri];
    if (!k || k.length !== 1 || q.constInputs[ri] !== null) return null;
    if (!(q.op === 'Add' || (q.op === 'Sub' && ri === 0) || ((q.op === 'Mul' || (q.op === 'Div' && ri === 0)) && k[0] > 0))) return null;
    ops.unshift(q);
    t = q.inputs[ri];
  }
  let [bl, bh] = [0, 0];
  for (const q of ops) {
    const k = q.constInputs[q.constInputs[0] === null ? 1 : 0]![0];
    if (q.op === 'Add' || q.op === 'Sub') [bl, bh] = q.op === 'Add' ? [nextDown(bl + k), nextUp(bh + k)] : [nextDown(bl - k), nextUp(bh - k)];
    else [bl, bh] = q.op === 'Mul' ? [nextDown(bl * k), nextUp(bh * k)] : [divDown(bl, k), divUp(bh, k)];
  }
  const k = clippedGateConstant(s, m, divDown(bl, m), divUp(bh, m));
  return k.value === null ? null : k;
}

/** Elementwise x * g(x) products exported as graphs (SiLU, QuickGelu, Mish, HardSwish, erf-GELU): their constant, or null. */
function selfGatedProduct(c: NodeCtx, x: string, g: string): Certified | null {
  const p = c.producer(g);
  if (!p) return null;
  const src = (n: GraphNode | undefined, op: string) => (n && n.op === op && n.domain === '' ? n : undefined);
  if (src(p, 'Sigmoid') && scaledOf(c, p.inputs[0], x)) return ok(SILU_CONSTANT, 'x*sigmoid(kx), k>0: SiLU constant');
  if (src(p, 'Tanh')) {
    const sp = src(c.producer(p.inputs[0]), 'Softplus');
    if (sp && sp.inputs[0] === x) return ok(MISH_CONSTANT, 'x*tanh(softplus(x)): Mish constant');
  }
  if (src(p, 'HardSigmoid') && p.inputs[0] === x) {
    const a = attrGetters(p.attrs);
    return hardSwishConstant(a.f('alpha', 0.2), a.f('beta', 0.5));
  }
  const clipped = clippedGate(c, x, g);
  if (clipped) return clipped;
  if (src(p, 'Add') && p.inputs.length === 2) {
    // x * (1 + erf(x/k)): with u = x/k the derivative is d/du[u(1+erf u)], sup = 2 * GELU constant, for any k > 0
    for (const [ei, oi] of [[0, 1], [1, 0]]) {
      const one = p.constInputs[oi];
      const erf = src(c.producer(p.inputs[ei]), 'Erf');
      if (one && one.length === 1 && one[0] === 1 && erf && scaledOf(c, erf.inputs[0], x))
        return ok(2 * GELU_ERF_CONSTANT, 'x*(1+erf(x/k)) = 2 GELU(sqrt2 x/k) form: 2 * GELU constant');
    }
  }
  return null;
}

function poolAxes(c: NodeCtx): PoolAxis[] | string {
  const kernel = c.a.ints('kernel_shape');
  if (!kernel) return 'kernel_shape missing';
  const nd = kernel.length;
  const strides = c.a.ints('strides') ?? Array(nd).fill(1);
  const dil = c.a.ints('dilations') ?? Array(nd).fill(1);
  const pads = c.a.ints('pads') ?? Array(2 * nd).fill(0);
  const autoPad = c.a.s('auto_pad', 'NOTSET');
  const shape = c.inShape(0);
  return kernel.map((k, a) => {
    // a symbolic length is treated as unknown: the rules then use their size-free (infinite line) count
    const d = shape && shape.length === nd + 2 ? shape[a + 2] : null;
    if (d !== null && isSymbolic(d)) c.sizeFree();
    const dim = d !== null && d >= 1 ? d : null;
    let [pb, pe] = [pads[a], pads[a + nd]];
    if (autoPad === 'VALID') [pb, pe] = [0, 0];
    else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      // unknown length: the infinite-line count used then does not depend on the pads
      [pb, pe] = dim === null ? [0, 0] : samePads(dim, k, strides[a], dil[a], autoPad === 'SAME_UPPER');
    }
    return { dim, kernel: k, stride: strides[a], dilation: dil[a], padBegin: pb, padEnd: pe };
  });
}

/** True when a Reduce* node takes its axes from an input whose value is not a known constant. */
const runtimeAxes = (c: NodeCtx) => c.node.inputs.length > 1 && !!c.node.inputs[1] && c.constant(1) === null;

/**
 * Reduced element count of a Reduce* node (the axes attribute before opset 18, the axes input
 * after; none or empty: all axes, or the identity with noop_with_empty_axes). 'axes' when the axes
 * are not known constants, 'size' when the count depends on an unknown or symbolic length.
 */
function reducedCount(c: NodeCtx): number | 'axes' | 'size' {
  if (runtimeAxes(c)) return 'axes';
  const axesConst = c.node.inputs.length > 1 && c.node.inputs[1] ? c.constant(1) : null;
  const axes = c.a.ints('axes') ?? (axesConst ? Array.from(axesConst) : []);
  if (axes.length === 0 && c.a.f('noop_with_empty_axes', 0)) return 1;
  const shape = c.inShape(0);
  if (!shape) return 'size';
  const dims = axes.length === 0 ? shape : axes.map((ax) => shape[ax < 0 ? ax + shape.length : ax]);
  if (dims.some((d) => d === undefined)) return 'size';
  if (dims.some(isSymbolic)) {
    c.sizeFree();
    return 'size';
  }
  return prod(dims);
}

/**
 * Resize / Upsample, nearest or linear: a Kronecker product of per-axis maps, so the norm is the
 * product of per-axis norms (resize.ts: nearest copy counts with float32 tie handling, linear
 * interpolation-matrix norms). An axis with a symbolic or unknown length gets resize.ts's size-free
 * value from its scale (valid for lengths up to MAX_SIZE_FREE_LENGTH).
 */
function resizeRule(c: NodeCtx): Certified {
  const { op } = c.node;
  const mode = c.a.s('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') return no(`${op} mode '${mode}': only nearest and linear are certified`);
  // Resize-10 and Upsample: (X, scales), asymmetric coordinates; rounding mode varies by version, take the worst
  const legacy = op === 'Upsample' || c.node.inputs.length === 2;
  const coord = (legacy ? 'asymmetric' : c.a.s('coordinate_transformation_mode', 'half_pixel')) as CoordinateMode;
  if (!['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric'].includes(coord))
    return no(`${op} coordinate_transformation_mode '${coord}' not handled`);
  if (c.a.s('keep_aspect_ratio_policy', 'stretch') !== 'stretch') return no(`${op} keep_aspect_ratio_policy other than stretch`);
  if (c.a.f('antialias', 0) !== 0) return no(`${op} with antialias`);
  const inS = c.inShape(0);
  const outS = c.outShape(0);
  // Upsample-7 has a `scales` attribute; later versions take scales as an input
  const scalesIn = (op === 'Upsample' ? c.a.ints('scales') : null) ?? c.constant(legacy ? 1 : 2);
  const scales = scalesIn && scalesIn.length > 0 ? Array.from(scalesIn) : null;
  // onnxruntime rounds legacy downsampling with ceil
  const legacyModes = ['floor', 'round_prefer_floor', ...(scales?.some((v) => v < 1) ? ['ceil'] : [])];
  const nearestModes = (legacy ? legacyModes : [c.a.s('nearest_mode', 'round_prefer_floor')]) as NearestMode[];
  const sizesIn = !legacy && c.node.inputs.length > 3 ? c.constant(3) : null;
  const sizes = sizesIn && sizesIn.length > 0 ? Array.from(sizesIn) : null;
  // a scale guessed from out/in may differ from the runtime one (floor(5 * 1.1) = 5): never guess it
  if (!scales && !sizes) return no(`${op}: scales and sizes are not known constants`);
  const rank = inS?.length ?? (scales ?? sizes)!.length;
  const axesAttr = c.a.ints('axes');
  const axes = axesAttr ? axesAttr.map((a) => (a < 0 ? a + rank : a)) : Array.from({ length: rank }, (_, a) => a);
  /** Value listed for axis a in scales / sizes, undefined for an axis Resize leaves alone. */
  const listed = (vals: number[], a: number) => (axes.includes(a) ? vals[axes.indexOf(a)] : undefined);
  const concrete = (d: number | undefined) => (d !== undefined && d >= 1 ? d : null);
  let value = 1;
  let sizeFree = false;
  for (let a = 0; a < rank; a++) {
    const inDim = concrete(inS?.[a]);
    const scale = scales ? listed(scales, a) ?? 1 : null;
    const size = sizes ? listed(sizes, a) : undefined;
    // an unchanged axis (scale 1, or sizes equal to the input length) is the identity: every transform is x -> x
    if (scale === 1 || (scale === null && (size === undefined || size === inDim))) continue;
    // output length: inferred or from sizes; from scales alone, both the spec's floor(in s) and
    // onnxruntime's trunc(float32(s) in) are tried
    const outKnown = concrete(outS?.[a]) ?? concrete(size);
    const outDims =
      outKnown !== null ? [outKnown]
      : scale !== null && inDim !== null ? [...new Set([Math.floor(inDim * scale), Math.trunc(Math.fround(Math.fround(scale) * inDim))])]
      : [null];
    const per: number[] = [];
    for (const outDim of outDims) {
      if (outDim !== null && outDim < 1) return no(`${op}: empty output along axis ${a}`);
      if (inDim === null || outDim === null) sizeFree = true;
      const ax = { inDim, outDim, scale, coord };
      const v = mode === 'nearest' ? resizeNearestAxisCopies(ax, nearestModes) : resizeLinearAxisNorm(ax, 'linear');
      if (v === null) return no(`${op} ${mode}: axis ${a}: ${scale === null ? 'sizes with an input length that is unknown or depends on the input size (needs an input size)' : `scale ${scale} not certified`}`);
      per.push(v);
    }
    // nearest: integer copy counts (exact products); linear: norms, rounded up
    value = mode === 'nearest' ? value * Math.max(...per) : mulUp(value, Math.max(...per));
  }
  if (sizeFree) {
    c.sizeFree();
    c.note(`${op} '${c.node.name}': input length unknown, used the size-free ${mode} bound (valid for lengths up to ${MAX_SIZE_FREE_LENGTH})`);
  }
  return mode === 'nearest'
    ? ok(sqrtUp(value), `nearest: an input element is copied at most ${value} times`)
    : ok(value, `linear: product of per-axis interpolation-matrix norms = ${value}`);
}

function padRule(c: NodeCtx): Certified {
  const mode = c.a.s('mode', 'constant') as PadMode;
  // constant padding only adds fixed values (and negative pads crop): the map keeps each element at most once
  if (mode === 'constant') return ok(1, 'constant pad/crop');
  if (!['reflect', 'edge', 'wrap'].includes(mode)) return no(`Pad mode '${mode}'`);
  const shape = c.inShape(0);
  const padsConst = c.node.inputs.length > 1 ? c.constant(1) : null;
  const pads = padsConst ? Array.from(padsConst) : c.a.ints('pads');
  if (!pads) return no(`Pad mode '${mode}' with unknown pads`);
  const axesConst = c.node.inputs.length > 3 && c.node.inputs[3] ? c.constant(3) : null;
  if (c.node.inputs.length > 3 && c.node.inputs[3] && !axesConst) return no(`Pad mode '${mode}' with axes that are not known constants`);
  // pads lists begin and end pads of each padded axis (all axes, or those in `axes`)
  const n = pads.length / 2;
  const axes = axesConst ? Array.from(axesConst) : Array.from({ length: n }, (_, a) => a);
  if (axes.length !== n) return no('Pad: pads and axes lengths differ');
  let copies = 1;
  axes.forEach((ax, k) => {
    const [begin, end] = [pads[k], pads[k + n]];
    const dim = shape?.[ax < 0 ? ax + shape.length : ax];
    if (dim !== undefined && dim >= 1) {
      const map = padAxisMap(dim, begin, end, mode);
      copies *= map ? maxMultiplicity(map) : Infinity;
    } else {
      // symbolic or unknown length: the most copies over every length
      if (begin !== 0 || end !== 0) c.sizeFree();
      copies *= padSizeFreeCopies(begin, end, mode) ?? Infinity;
    }
  });
  return Number.isFinite(copies) ? ok(sqrtUp(copies), `${mode} pad copies an element at most ${copies} times`) : no('Pad: invalid pads');
}

const RULES: Record<string, Rule> = {
  Add: { data: 'all', apply: linearSum(false) },
  Sub: { data: 'all', apply: linearSum(false) },
  Sum: { data: 'all', apply: linearSum(false) },
  Mean: { data: 'all', apply: linearSum(true) },
  Max: { data: 'all', apply: maxMin },
  Min: { data: 'all', apply: maxMin },
  Where: { data: [1, 2], apply: (c) => {
    // elementwise choice by a constant condition: each output element is one of a_i, b_i
    const t = broadcastTerms(c, [1, 2]);
    return typeof t === 'string' ? no(t) : ok(rssUp(t), 'select with a constant condition');
  } },
  Concat: { data: 'all', apply: (c) => ok(rssUp(c.L), 'concatenation: sqrt of the sum of squares') },
  Mul: { data: 'all', apply: (c) => {
    const runtime = allPositions(c).filter((i) => c.L[i] > 0);
    if (runtime.length === 2 && c.node.inputs.length === 2) {
      const [x, g] = c.node.inputs;
      const [lx, lg] = [c.L[0], c.L[1]];
      const pattern = selfGatedProduct(c, x, g) ?? selfGatedProduct(c, g, x);
      if (pattern && pattern.value !== null) {
        const base = selfGatedProduct(c, x, g) ? lx : lg;
        c.note(`Mul '${c.node.name}' recognized as an elementwise activation: ${pattern.why}`);
        return ok(mulUp(pattern.value, base), pattern.why);
      }
      return no('product of two tensors that both depend on the input is not globally Lipschitz');
    }
    if (runtime.length !== 1) return no('product of several tensors that depend on the input');
    const i = runtime[0];
    let factor = 1;
    for (let j = 0; j < c.node.inputs.length; j++) {
      if (j === i) continue;
      const v = c.constant(j);
      if (!v) return no(`multiplier '${c.node.inputs[j]}' is constant but its value is unknown`);
      const s = scaleConstant(v, false);
      if (s.value === null) return s;
      factor = mulUp(factor, s.value);
    }
    const t = broadcastTerms(c, [i]);
    return typeof t === 'string' ? no(t) : ok(mulUp(factor, t[0]), 'scaling by a constant: max |c|');
  } },
  Div: { data: 'all', apply: (c) => {
    if (c.L[1] > 0) return no('division by a tensor that depends on the input is not globally Lipschitz');
    const v = c.constant(1);
    if (!v) return no(`divisor '${c.node.inputs[1]}' is constant but its value is unknown`);
    const s = scaleConstant(v, true);
    if (s.value === null) return s;
    const t = broadcastTerms(c, [0]);
    return typeof t === 'string' ? no(t) : ok(mulUp(s.value, t[0]), s.why);
  } },
  PRelu: { data: 'first', apply: (c) => {
    const slope = c.constant(1);
    if (!slope) return no('PRelu slope is not a known constant');
    const s = scaleConstant(slope, false);
    return s.value === null ? s : ok(mulUp(c.L[0], Math.max(1, s.value)), 'slopes 1 and max |slope|');
  } },
  BatchNormalization: { data: 'first', outputs: 'first', apply: (c) => {
    if (c.a.f('training_mode', 0)) return no('BatchNormalization in training mode uses batch statistics');
    const scale = c.constant(1);
    const variance = c.constant(4);
    if (!scale || !variance) return no('BatchNormalization scale/variance are not known constants');
    const r = batchNormConstant(scale, variance, c.a.f('epsilon', 1e-5));
    return r.value === null ? r : ok(mulUp(c.L[0], r.value), r.why);
  } },
  MaxPool: { data: 'first', outputs: 'first', apply: (c) => {
    const axes = poolAxes(c);
    if (typeof axes === 'string') return no(`MaxPool: ${axes}`);
    const v = maxPoolConstant(axes, c.a.f('ceil_mode', 0) === 1);
    return ok(mulUp(c.L[0], v), `sqrt(max number of windows holding one element) = ${v}`);
  } },
  AveragePool: { data: 'first', apply: (c) => {
    const axes = poolAxes(c);
    if (typeof axes === 'string') return no(`AveragePool: ${axes}`);
    if (axes.some((ax) => ax.dim === null)) c.note(`AveragePool '${c.node.name}': input size unknown, used the window-count bound (looser)`);
    const v = averagePoolConstant(axes, c.a.f('ceil_mode', 0) === 1, c.a.f('count_include_pad', 0) === 1);
    return ok(mulUp(c.L[0], v), `separable average: product of per-axis certified norms = ${v}`);
  } },
  GlobalAveragePool: { data: 'first', apply: (c) => {
    const spatial = c.inShape(0)?.slice(2) ?? [];
    if (spatial.length === 0 || spatial.some(isSymbolic)) {
      if (spatial.some(isSymbolic)) c.sizeFree();
      c.note(`GlobalAveragePool '${c.node.name}': input size unknown, used 1 (>= 1/sqrt(H*W) for every size)`);
      return ok(c.L[0], 'mean of each channel, size unknown: 1');
    }
    const hw = prod(spatial);
    return ok(divUp(c.L[0], sqrtDown(hw)), `mean over ${hw} elements: 1/sqrt(${hw})`);
  } },
  GlobalLpPool: { data: 'first', apply: (c) => {
    const p = c.a.f('p', 2);
    // |‖a‖_p - ‖b‖_p| <= ‖a-b‖_p <= ‖a-b‖_2 for p >= 2
    return p >= 2 ? ok(c.L[0], `l${p} norm per channel, p >= 2`) : no(`GlobalLpPool p=${p} < 2`);
  } },
  ReduceMean: { data: 'first', apply: (c) => {
    const n = reducedCount(c);
    if (n === 'axes') return no('ReduceMean axes are not known constants');
    if (n === 'size') {
      c.note(`ReduceMean '${c.node.name}': reduced size unknown, used 1 (>= 1/sqrt(n) for every size)`);
      return ok(c.L[0], 'mean over disjoint groups, size unknown: 1');
    }
    return ok(divUp(c.L[0], sqrtDown(n)), `mean over disjoint groups of ${n}: 1/sqrt(${n})`);
  } },
  ReduceSum: { data: 'first', apply: (c) => {
    const n = reducedCount(c);
    if (n === 'axes') return no('ReduceSum axes are not known constants');
    if (n === 'size') return no('ReduceSum over a length that is unknown or depends on the input size (sqrt(n) grows with it): needs an input size');
    return ok(mulUp(c.L[0], sqrtUp(n)), `sum over groups of ${n}: sqrt(${n})`);
  } },
  ReduceL1: { data: 'first', apply: (c) => {
    const n = reducedCount(c);
    if (n === 'axes') return no('ReduceL1 axes are not known constants');
    if (n === 'size') return no('ReduceL1 over a length that is unknown or depends on the input size (sqrt(n) grows with it): needs an input size');
    return ok(mulUp(c.L[0], sqrtUp(n)), `l1 norm of groups of ${n}: sqrt(${n})`);
  } },
  LogSoftmax: { data: 'first', apply: (c) => {
    // Jacobian I - 1 p^T: norm <= 1 + ||1|| ||p|| <= 1 + sqrt(n), n = size of the normalized slice
    const shape = c.inShape(0);
    if (!shape) return no('LogSoftmax with unknown input shape');
    // opset < 13 coerces to 2-D at `axis` (default 1), later opsets normalize one axis (default -1):
    // prod(shape[axis:]) covers both readings, and axis 1 covers both defaults
    const ax0 = c.a.f('axis', 1);
    const ax = ax0 < 0 ? ax0 + shape.length : ax0;
    if (shape.slice(ax).some(isSymbolic)) return no('LogSoftmax over a length that depends on the input size (1 + sqrt(n) grows with it): needs an input size');
    const n = prod(shape.slice(ax));
    return ok(mulUp(c.L[0], addUp(1, sqrtUp(n))), `I - 1p^T over ${n} classes: 1 + sqrt(${n})`);
  } },
  Cast: { data: 'first', apply: (c) => {
    const to = c.a.f('to', 0);
    if (!FLOAT_TYPES.has(to)) return no(`Cast to data type ${to} (not a float type) rounds`);
    if (to === FLOAT16 || to === BFLOAT16)
      c.note(`bound is for real arithmetic: the cast to ${to === FLOAT16 ? 'float16' : 'bfloat16'} at '${c.node.name}' rounds (rounding is not Lipschitz; the certified network computes it exactly)`);
    return ok(c.L[0], 'cast between float types');
  } },
  Dropout: { data: 'first', outputs: 'first', apply: (c) => {
    const training = c.node.inputs.length > 2 ? c.constant(2) : null;
    if (c.node.inputs.length > 2 && c.node.inputs[2] && (!training || training[0] !== 0)) return no('Dropout with training_mode not known to be false');
    return ok(c.L[0], 'inference Dropout is the identity');
  } },
  Split: { data: 'first', outputs: 'all', apply: (c) => ok(c.L[0], 'each output selects a subset') },
  Gather: { data: 'first', apply: (c) => {
    const idx = c.constant(1);
    if (!idx) return no('Gather indices are not known constants');
    const shape = c.inShape(0);
    const ax0 = c.a.f('axis', 0);
    const d = shape ? shape[ax0 < 0 ? ax0 + shape.length : ax0] : undefined;
    // symbolic length: the count valid for every length (negative indices may alias any index)
    if (d !== undefined && isSymbolic(d) && Array.from(idx).some((i) => i < 0)) c.sizeFree();
    const m = gatherMultiplicity(idx, d !== undefined && d >= 1 ? d : null);
    return ok(mulUp(c.L[0], sqrtUp(m)), `an input slice is gathered at most ${m} times`);
  } },
  Tile: { data: 'first', apply: (c) => {
    const reps = c.constant(1);
    if (!reps) return no('Tile repeats are not known constants');
    const r = prod(reps);
    return ok(mulUp(c.L[0], sqrtUp(r)), `every element copied ${r} times`);
  } },
  Expand: { data: 'first', apply: (c) => {
    const [inS, outS] = [c.inShape(0), c.outShape(0)];
    const rep = broadcastReplication(inS, outS);
    if (rep === null && sizeDependentBroadcast(inS, outS)) return no('Expand along a length that depends on the input size (copies unbounded over sizes): needs an input size');
    if (rep === null) return no('Expand with unknown input or output shape');
    if (inS?.some(isSymbolic) || outS?.some(isSymbolic)) c.sizeFree();
    return ok(mulUp(c.L[0], sqrtUp(rep)), `every element copied ${rep} times`);
  } },
  Pad: { data: 'first', apply: (c) => {
    const r = padRule(c);
    return r.value === null ? r : ok(mulUp(c.L[0], r.value), r.why);
  } },
  Resize: { data: 'first', apply: (c) => {
    const r = resizeRule(c);
    return r.value === null ? r : ok(mulUp(c.L[0], r.value), r.why);
  } },
  Upsample: { data: 'first', apply: (c) => {
    const r = resizeRule(c);
    return r.value === null ? r : ok(mulUp(c.L[0], r.value), r.why);
  } },
};

function linearSum(mean: boolean) {
  return (c: NodeCtx): Certified => {
    const t = broadcastTerms(c, allPositions(c));
    if (typeof t === 'string') return no(t);
    const s = mean ? divUp(sumUp(t), c.node.inputs.length) : sumUp(t);
    return ok(s, 'sum of paths: L1 + L2 (constants contribute 0)');
  };
}

function maxMin(c: NodeCtx): Certified {
  // |max(a,b) - max(a',b')| <= max(|a-a'|, |b-b'|): squared, <= |a-a'|^2 + |b-b'|^2 per element
  const t = broadcastTerms(c, allPositions(c));
  return typeof t === 'string' ? no(t) : ok(rssUp(t), 'elementwise max/min: sqrt of the sum of squares');
}

/** Shapes of every tensor named anywhere in the summary (first one seen wins). */
function collectShapes(graph: GraphSummary): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const put = (name: string, s: number[] | null | undefined) => {
    if (name && s && !shapes.has(name)) shapes.set(name, s);
  };
  for (const n of graph.nodes) {
    n.outputs.forEach((t, i) => put(t, n.outputShapes[i]));
    n.inputs.forEach((t, i) => put(t, n.inputShapes[i] ?? n.constShapes[i]));
  }
  return shapes;
}

/** Product of the per-layer bounds: the naive network bound (valid only for a plain chain). */
export function naiveProduct(layerBounds: (number | null)[]): number | null {
  let p = 1;
  for (const b of layerBounds) {
    if (b === null || !Number.isFinite(b)) return null;
    p = mulUp(p, b);
  }
  return p;
}

/**
 * The walk. With `refinements` (blocks.ts: bounds on x -> node output from exact merges and ReLU
 * averaging), each node's value is the smaller of its rule's and every refinement's L(x) x value,
 * so the result is never above the plain walk's.
 */
export function networkBound(graph: GraphSummary, layerBounds: (number | null)[], refinements?: ReadonlyMap<number, readonly Refinement[]>): NetworkBound {
  const plain = refinements && refinements.size > 0 ? networkBound(graph, layerBounds) : null;
  const blocks: NetworkBound['blocks'] = [];
  const states = new Map<string, TensorState>();
  const producers = new Map<string, GraphNode>();
  const everProduced = new Set(graph.nodes.flatMap((n) => n.outputs).filter((t) => t));
  const shapes = collectShapes(graph);
  const culprits: UncertifiedNode[] = [];
  const notes = new Set<string>();
  /** "Op 'name'" of every node whose rule fell back to a size-free bound because of a symbolic length. */
  const sizeFreeOps = new Set<string>();
  for (const t of graph.inputs) states.set(t, { L: 1 });

  const blame = (op: string, node: string, reason: string): TensorState => {
    culprits.push({ op, node, reason });
    return { blame: new Set([culprits.length - 1]) };
  };

  const refine = (node: GraphNode, s: TensorState): TensorState => {
    const list = refinements?.get(node.index);
    if (!list || !('L' in s)) return s;
    let best: { L: number; r: Refinement } | null = null;
    for (const r of list) {
      const x = states.get(r.x);
      if (!x || !('L' in x)) continue;
      const L = mulUp(x.L, r.value);
      // only a real gain counts: reordered roundings alone would otherwise relabel the bound
      if (L < (best?.L ?? s.L * (1 - 1e-9))) best = { L, r };
    }
    if (!best) return s;
    blocks.push({ node: node.name, rule: best.r.rule, detail: best.r.detail, bound: best.L, graphBound: s.L });
    return { L: best.L };
  };

  for (const node of graph.nodes) {
    const label = node.name || `#${node.index}`;
    // Each input's state: produced earlier, graph input, constant, or a problem.
    const inState: TensorState[] = node.inputs.map((t, i) => {
      if (!t) return { L: 0 };
      const s = states.get(t);
      if (s) return s;
      if (node.constInputs[i]) return { L: 0 };
      if (everProduced.has(t)) return blame(node.op, label, `input '${t}' is used before its producer (cycle or unsorted graph)`);
      return { blame: new Set<number>() }; // orphan: no producer, no known value; judged per position below
    });
    const isOrphan = (i: number) => {
      const s = inState[i];
      return 'blame' in s && s.blame.size === 0;
    };
    const setOutputs = (computed: TensorState, rest?: TensorState) => {
      const first = refine(node, computed);
      rest ??= first;
      node.outputs.forEach((t, k) => {
        if (t) states.set(t, k === 0 ? first : rest);
        if (t) producers.set(t, node);
      });
    };
    const merged = (positions: number[]): TensorState | null => {
      const all = new Set<number>();
      for (const i of positions) {
        const s = inState[i];
        if ('blame' in s) s.blame.forEach((b) => all.add(b));
      }
      return all.size > 0 ? { blame: all } : null;
    };
    const Lof = (i: number) => {
      const s = inState[i];
      return 'L' in s ? s.L : 0;
    };
    const positions = node.inputs.map((_, i) => i);

    if (node.constant) {
      setOutputs({ L: 0 });
      continue;
    }
    if (node.absorbedInto !== null) {
      setOutputs(isOrphan(0) ? blame(node.op, label, `input '${node.inputs[0]}' has no producer`) : inState[0]);
      continue;
    }
    if (node.layerIndex !== null) {
      // weights were read by the loader: orphan inputs here are initializers; the runtime input is the one with L > 0
      const broken = merged(positions.filter((i) => !isOrphan(i)));
      if (broken) {
        setOutputs(broken);
        continue;
      }
      const runtime = positions.filter((i) => Lof(i) > 0);
      const b = layerBounds[node.layerIndex];
      if (runtime.length > 1) setOutputs(blame(node.op, label, 'layer with more than one input depending on the network input'));
      else if (runtime.length === 0) setOutputs({ L: 0 });
      else if (b === null || b === undefined || !Number.isFinite(b)) setOutputs(blame(node.op, label, `layer has no certified bound`));
      else setOutputs({ L: mulUp(Lof(runtime[0]), b) });
      continue;
    }
    const onnxDomain = node.domain === '' || node.domain === 'ai.onnx';
    if (onnxDomain && NOT_LIPSCHITZ[node.op]?.startsWith('random')) {
      setOutputs(blame(node.op, label, NOT_LIPSCHITZ[node.op]));
      continue;
    }
    if (onnxDomain && (node.op === 'Shape' || node.op === 'Size')) {
      // shapes do not depend on values (unless an upstream shape is data-dependent: keep its blame)
      setOutputs(merged(positions) ?? { L: 0 });
      continue;
    }
    if (positions.every((i) => 'L' in inState[i] && Lof(i) === 0)) {
      setOutputs({ L: 0 }); // no input depends on the network input (covers Constant and constant subgraphs)
      continue;
    }

    const a = attrGetters(node.attrs);
    const act = activationConstant(node.op, node.domain, a);
    const rule: Rule | undefined = act
      ? { data: 'first', outputs: 'first', apply: (c) => (act.value === null ? act : ok(mulUp(c.L[0], act.value), act.why)) }
      : onnxDomain && node.op in ONE_LIPSCHITZ_SHAPE_OPS
        ? { data: 'first', outputs: node.op === 'Slice' ? 'first' : 'all', apply: (c) =>
            node.op.startsWith('Reduce') && runtimeAxes(c) ? no(`${node.op} axes are not known constants`) : ok(c.L[0], ONE_LIPSCHITZ_SHAPE_OPS[node.op]) }
        : onnxDomain
          ? RULES[node.op]
          : undefined;
    if (!rule) {
      const why = onnxDomain
        ? NOT_LIPSCHITZ[node.op] ?? 'no certified Lipschitz constant implemented for this op'
        : `op from domain '${node.domain}' is not known`;
      setOutputs(blame(node.op, label, why));
      continue;
    }
    const data = rule.data === 'all' ? positions : rule.data === 'first' ? [0] : rule.data.filter((i) => i < positions.length);
    const orphanData = data.find((i) => node.inputs[i] && isOrphan(i));
    if (orphanData !== undefined) {
      setOutputs(blame(node.op, label, `input '${node.inputs[orphanData]}' has no producer and no known constant value`));
      continue;
    }
    const staticBroken = positions.filter((i) => !data.includes(i) && !isOrphan(i));
    const broken = merged([...data, ...staticBroken]);
    if (broken) {
      setOutputs(broken);
      continue;
    }
    const dependentStatic = staticBroken.find((i) => Lof(i) > 0);
    if (dependentStatic !== undefined) {
      setOutputs(blame(node.op, label, `input #${dependentStatic} ('${node.inputs[dependentStatic]}') is a parameter but depends on the network input`));
      continue;
    }
    const ctx: NodeCtx = {
      node,
      L: positions.map((i) => (data.includes(i) ? Lof(i) : 0)),
      a,
      inShape: (i) => shaped(node.inputShapes[i] ?? shapes.get(node.inputs[i]) ?? node.constShapes[i]),
      outShape: (i) => shaped(node.outputShapes[i] ?? shapes.get(node.outputs[i])),
      sizeFree: () => sizeFreeOps.add(`${node.op} '${label}'`),
      constant: (i) => node.constInputs[i] ?? null,
      producer: (t) => producers.get(t),
      note: (s) => notes.add(s),
    };
    const r = rule.apply(ctx);
    if (r.value === null || !Number.isFinite(r.value)) {
      setOutputs(blame(node.op, label, r.why));
      continue;
    }
    const secondary = rule.outputs !== 'all' && node.outputs.slice(1).some((t) => t);
    const rest: TensorState = secondary ? blame(node.op, label, 'secondary output (indices/mask) is not certified') : { L: r.value };
    setOutputs({ L: r.value }, rest);
  }

  const perOutput = graph.outputs.map((t) => {
    let s = states.get(t);
    if (!s) s = blame('output', t, 'graph output has no producer');
    return { name: t, state: s };
  });
  const reaching = new Set<number>();
  for (const o of perOutput) if ('blame' in o.state) o.state.blame.forEach((b) => reaching.add(b));
  const uncertifiedNodes = [...reaching].sort((x, y) => x - y).map((i) => culprits[i]);
  const certified = perOutput.length > 0 && reaching.size === 0;
  // why each node that reaches an output stops the certificate
  for (const u of uncertifiedNodes) notes.add(`not certified at ${u.op} (${u.node}): ${u.reason}`);
  const values = perOutput.map((o) => ('L' in o.state ? o.state.L : null));
  let bound: number | null = null;
  if (certified) {
    bound = values.length === 1 ? values[0] : rssUp(values as number[]);
    if (perOutput.length > 1)
      notes.add(`${perOutput.length} outputs: bound is for the joint output, sqrt of the sum of squares of the per-output bounds (max per output: ${Math.max(...(values as number[]))})`);
  }
  if (perOutput.length === 0) notes.add('graph has no outputs');
  if (graph.inputSizeAssumed)
    notes.add(
      sizeFreeOps.size > 0
        ? `input size assumed: size-free rules (valid for every input size) used at ${[...sizeFreeOps].join(', ')}`
        : 'input size assumed: no op of the graph walk needed a size-free rule',
    );
  const unusedCulprits = culprits.length - reaching.size;
  if (unusedCulprits > 0 && certified) notes.add(`${unusedCulprits} uncertified node output(s) do not reach any graph output`);
  const graphBound = plain ? plain.bound : bound;
  const improved = plain !== null && bound !== null && graphBound !== null && bound < graphBound;
  return {
    bound,
    naiveProduct: naiveProduct(layerBounds),
    certified,
    method: !improved ? 'graph' : blocks.some((b) => b.rule === 'block-averaging') ? 'block-averaging' : 'merged',
    graphBound,
    blocks,
    uncertifiedOps: [...new Set(uncertifiedNodes.map((u) => `${u.op} (${u.node})`))],
    uncertifiedNodes,
    notes: [...notes],
    perOutput: perOutput.map((o, i) => ({ name: o.name, bound: values[i] })),
  };
}
