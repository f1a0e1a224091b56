// The local Lipschitz bound over an input box B: interval propagation (interval.ts) gives a box for
// every tensor, nodes that are not globally Lipschitz (products of two run-time tensors, divisions,
// normalizations) or are tighter on their box (sigmoid-like activations, dead ReLUs) get local
// constants, and the global walk (walk.ts) composes them: each such node is replaced, for the walk,
// by y = sum_k c_k t_k (Mul by a scalar, Sum), whose walk rule is exactly L(y) <= sum_k c_k L(t_k).
// Every tensor's value is then capped by the global walk's (refinements), so local <= global. Pure.
// Derivations: docs/derivations.md#local-bounds-over-an-input-box
import type { AttrScalar, GraphNode, GraphSummary } from '../model/graph.js';
import type { Layer } from '../model/layer.js';
import { divUp, mulUp, nextUp, sqrtDown, sqrtUp } from '../linalg/rounding.js';
import type { Refinement } from './blocks.js';
import { activationConstant } from './op-constants.js';
import { broadcastIndex, matchLayerNorm, minVariances, propagateBoxesNative, sigmoid, type Box } from './interval.js';
import { networkBound } from './walk.js';
import { decimal } from '../util/numbers.js';

export interface InputRange {
  lo: number[];
  hi: number[];
  /** 'element': one interval for every input element; 'channel': one per channel (axis 1). */
  axis: 'element' | 'channel';
}

export interface LocalBound {
  /** The range as given, normalized ("0:1", "-2.12:2.25,..."). */
  range: string;
  bound: number | null;
  certified: boolean;
  method: 'local';
  notes: string[];
  uncertifiedOps: string[];
}

/** "LO:HI" (every element) or "LO:HI,LO:HI,..." (one per input channel). Throws Error with a one-line message. */
export function parseInputRange(text: string): InputRange {
  const parts = text.trim().split(',').map((p) => p.trim());
  const lo: number[] = [];
  const hi: number[] = [];
  for (const p of parts) {
    const m = /^([^:]+):([^:]+)$/.exec(p);
    const [a, b] = m ? [decimal(m[1]), decimal(m[2])] : [NaN, NaN];
    if (!Number.isFinite(a) || !Number.isFinite(b))
      throw new Error(`input range '${text}': expected LO:HI or LO:HI,LO:HI,... with finite numbers (got '${p}')`);
    if (a > b) throw new Error(`input range '${text}': LO ${a} is above HI ${b}`);
    lo.push(a);
    hi.push(b);
  }
  return { lo, hi, axis: parts.length === 1 ? 'element' : 'channel' };
}

export const formatInputRange = (r: InputRange) => r.lo.map((l, i) => `${l}:${r.hi[i]}`).join(',');

/** The input box of a range on a concrete input shape [n, c, ...]: every value of the float range, as given. */
export function inputBox(range: InputRange, shape: number[]): Box | string {
  const n = shape.reduce((a, b) => a * b, 1);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  if (range.axis === 'element') {
    lo.fill(range.lo[0]);
    hi.fill(range.hi[0]);
  } else {
    if (shape.length < 2 || shape[1] !== range.lo.length) return `${range.lo.length} channel ranges given, the input has ${shape.length < 2 ? 'no channel axis' : `${shape[1]} channels`}`;
    const inner = shape.slice(2).reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(i / inner) % shape[1];
      lo[i] = range.lo[c];
      hi[i] = range.hi[c];
    }
  }
  return { shape, lo, hi };
}

/** Relative slack on constants computed with libm functions (a few ulp). */
const SLACK = 1 + 2 ** -40;

const maxAbs = (b: Box, i: number) => Math.max(Math.abs(b.lo[i]), Math.abs(b.hi[i]));
/** Distance from 0 to [l, h]. */
const dist0 = (l: number, h: number) => (l > 0 ? l : h < 0 ? -h : 0);

function attrs(node: GraphNode) {
  const a = node.attrs as Record<string, AttrScalar>;
  return {
    f: (name: string, d: number) => (typeof a[name] === 'number' ? (a[name] as number) : d),
    s: (name: string, d: string) => (typeof a[name] === 'string' ? (a[name] as string) : d),
  };
}

/**
 * sup |f'| over [l, h] for the activations with a local rule (null: no local rule). Each is the exact
 * supremum of the derivative on the interval (see the derivations), with a relative slack for libm.
 */
function derivativeSup(node: GraphNode, l: number, h: number): number | null {
  const a = attrs(node);
  switch (node.op) {
    case 'Relu':
      return h <= 0 ? 0 : 1;
    case 'LeakyRelu': {
      const al = Math.abs(a.f('alpha', 0.01));
      return l >= 0 ? 1 : h <= 0 ? al : Math.max(1, al);
    }
    case 'Sigmoid': {
      const s = sigmoid(dist0(l, h));
      return Math.min(0.25, s * (1 - s) * SLACK);
    }
    case 'Tanh': {
      const t = Math.tanh(dist0(l, h));
      return Math.min(1, (1 - t * t) * SLACK);
    }
    case 'HardSigmoid': {
      const al = a.f('alpha', 0.2);
      const be = a.f('beta', 0.5);
      if (al === 0) return 0;
      // the ramp where 0 < al x + be < 1, widened by a relative 2^-40 against rounding of its ends
      const [r1, r2] = [-be / al, (1 - be) / al].sort((x, y) => x - y);
      const w = (Math.abs(r1) + Math.abs(r2)) * 2 ** -40 + 2 ** -1000;
      return l < r2 + w && h > r1 - w ? Math.abs(al) : 0;
    }
    case 'HardSwish': {
      // f' = 0 (x < -3), x/3 + 1/2 on (-3, 3), 1 (x > 3)
      let s = 0;
      if (h > 3) s = 1;
      const [p, q] = [Math.max(l, -3), Math.min(h, 3)];
      if (p <= q) s = Math.max(s, Math.abs(p / 3 + 0.5), Math.abs(q / 3 + 0.5));
      return Math.min(1.5, s * SLACK);
    }
    default:
      return null;
  }
}

/** One term of a local node's rule: L(y) <= sum c L(t). */
interface Term {
  t: string;
  c: number;
}

interface LocalRule {
  terms: Term[];
  why: string;
}

/**
 * sqrt(max over elements j of `a` of sum over the outputs y that read a_j of m(y)^2): the norm of
 * the diagonal-with-broadcast map da -> m * da (m(y) a bound on the other factor at y).
 */
function broadcastWeightedNorm(aShape: number[], outShape: number[], m: (y: number) => number): number | null {
  const map = broadcastIndex(aShape, outShape);
  if (!map) return null;
  const s = new Float64Array(aShape.reduce((x, y) => x * y, 1));
  for (let y = 0; y < map.length; y++) {
    const v = m(y);
    s[map[y]] += v * v;
  }
  let mx = 0;
  for (const v of s) mx = Math.max(mx, v);
  // a sum of map.length non-negative squares: relative error below (n + 2) u; a sqrt adds one more
  return sqrtUp(mx * (1 + (map.length + 4) * 2 ** -52)) * SLACK;
}

/** Local rule of a node from the boxes, or null when it has none (the global rule applies then). */
function localRule(node: GraphNode, boxOf: (t: string) => Box | undefined, producer: (t: string) => GraphNode | undefined): LocalRule | null {
  if (node.domain !== '') return null;
  const runtime = node.inputs.map((t, i) => (t && node.constInputs[i] === null ? i : -1)).filter((i) => i >= 0);
  const outShape = node.outputShapes[0];
  if (!outShape || node.outputs.filter((t) => t).length !== 1) return null;
  const valueBox = (i: number): Box | undefined => {
    const t = node.inputs[i];
    const v = node.constInputs[i];
    return v ? { shape: node.constShapes[i] ?? [v.length], lo: Float64Array.from(v), hi: Float64Array.from(v) } : boxOf(t);
  };
  const x = runtime.length > 0 ? boxOf(node.inputs[runtime[0]]) : undefined;
  const op = node.op;

  if (runtime.length === 1 && runtime[0] === 0 && x) {
    const fn = derivativeSup(node, 0, 0);
    if (fn !== null || op === 'Clip') {
      let c = 0;
      if (op === 'Clip') {
        const bound = (i: number, name: string, d: number) =>
          node.inputs.length > i && node.inputs[i] ? (node.constInputs[i]?.[0] ?? NaN) : attrs(node).f(name, d);
        const [mn, mx] = [bound(1, 'min', -Infinity), bound(2, 'max', Infinity)];
        if (Number.isNaN(mn) || Number.isNaN(mx)) return null;
        for (let i = 0; i < x.lo.length && c === 0; i++) if (x.hi[i] > mn && x.lo[i] < mx) c = 1;
      } else for (let i = 0; i < x.lo.length; i++) c = Math.max(c, derivativeSup(node, x.lo[i], x.hi[i])!);
      const global = activationConstant(op, node.domain, attrs(node));
      if (global?.value !== null && global?.value !== undefined) c = Math.min(c, global.value);
      return { terms: [{ t: node.inputs[0], c }], why: `sup |f'| over the box: ${c}` };
    }
    if (op === 'Sqrt') {
      let mn = Infinity;
      for (const v of x.lo) mn = Math.min(mn, v);
      if (!(mn > 0)) return null;
      return { terms: [{ t: node.inputs[0], c: divUp(1, 2 * sqrtDown(mn)) }], why: 'sqrt: 1 / (2 sqrt(min x))' };
    }
    if (op === 'Pow' && node.constInputs[1]?.length === 1 && node.constInputs[1][0] === 2) {
      let m = 0;
      for (let i = 0; i < x.lo.length; i++) m = Math.max(m, maxAbs(x, i));
      return { terms: [{ t: node.inputs[0], c: mulUp(2, m) }], why: 'x^2: 2 max |x|' };
    }
    if (op === 'Exp') {
      let m = -Infinity;
      for (const v of x.hi) m = Math.max(m, v);
      return { terms: [{ t: node.inputs[0], c: Math.exp(m) * SLACK }], why: 'exp: exp(max x)' };
    }
    if (op === 'LayerNormalization' || op === 'InstanceNormalization') {
      const gamma = node.constInputs[1];
      if (!gamma) return null;
      const rank = x.shape.length;
      const eps = attrs(node).f('epsilon', 1e-5);
      const ax0 = attrs(node).f('axis', -1);
      const axes = op === 'LayerNormalization' ? range(rank).slice(ax0 < 0 ? ax0 + rank : ax0) : range(rank).slice(2);
      const { varMin } = minVariances(x, axes);
      let c = 0;
      const C = x.shape[1];
      for (let g = 0; g < varMin.length; g++) {
        // LayerNorm: gamma spans the normalized axes (max over it); InstanceNorm: gamma of the group's channel
        let gm = 0;
        if (op === 'LayerNormalization') for (const v of gamma) gm = Math.max(gm, Math.abs(v));
        else gm = Math.abs(gamma[gamma.length === 1 ? 0 : g % C]);
        c = Math.max(c, divUp(gm, sqrtDown(varMin[g] + eps)));
      }
      return { terms: [{ t: node.inputs[0], c: nextUp(c) }], why: `${op}: max |gamma| / sqrt(var_min + eps)` };
    }
    return null;
  }

  if (op === 'Mul' && runtime.length === 2 && node.inputs.length === 2) {
    const [a, b] = [valueBox(0), valueBox(1)];
    if (!a || !b) return null;
    const mb = broadcastIndex(b.shape, outShape);
    const ma = broadcastIndex(a.shape, outShape);
    if (!ma || !mb) return null;
    // ||a b - a' b'|| <= ||(a - a') b|| + ||a' (b - b')||
    const ca = broadcastWeightedNorm(a.shape, outShape, (y) => maxAbs(b, mb[y]));
    const cb = broadcastWeightedNorm(b.shape, outShape, (y) => maxAbs(a, ma[y]));
    if (ca === null || cb === null) return null;
    return { terms: [{ t: node.inputs[0], c: ca }, { t: node.inputs[1], c: cb }], why: 'product: max|b| L_a + max|a| L_b' };
  }

  if (op === 'Div' && node.inputs.length === 2 && node.constInputs[1] === null) {
    const ln = matchLayerNorm(node, producer, (t) => boxOf(t)?.shape.length ?? null);
    const xb = ln && boxOf(ln.x);
    if (ln && xb) {
      // (x - mean) / sqrt(var + eps) per group: Jacobian norm <= 1 / sqrt(var + eps)
      const { varMin } = minVariances(xb, ln.axes);
      let c = 0;
      for (const v of varMin) c = Math.max(c, divUp(1, sqrtDown(v + ln.eps)));
      return { terms: [{ t: ln.x, c: nextUp(c) }], why: 'LayerNorm (written out): 1 / sqrt(var_min + eps)' };
    }
    const [a, b] = [valueBox(0), valueBox(1)];
    if (!a || !b) return null;
    const ma = broadcastIndex(a.shape, outShape);
    const mb = broadcastIndex(b.shape, outShape);
    if (!ma || !mb) return null;
    const minAbs = (i: number) => (b.lo[i] > 0 ? b.lo[i] : b.hi[i] < 0 ? -b.hi[i] : 0);
    for (let i = 0; i < b.lo.length; i++) if (!(minAbs(i) > 0)) return null;
    // a/b - a'/b' = (a - a')/b + a' (b' - b)/(b b'), |1/b - 1/b'| <= |b - b'| / min b^2
    const terms: Term[] = [{ t: node.inputs[1], c: broadcastWeightedNorm(b.shape, outShape, (y) => maxAbs(a, ma[y]) / minAbs(mb[y]) ** 2)! }];
    if (node.constInputs[0] === null) terms.push({ t: node.inputs[0], c: broadcastWeightedNorm(a.shape, outShape, (y) => 1 / minAbs(mb[y]))! });
    return { terms, why: 'quotient: L_a / min|b| + max|a| L_b / min b^2' };
  }

  if (op === 'MatMul' && runtime.length === 2) {
    const [a, b] = [valueBox(0), valueBox(1)];
    if (!a || !b || a.shape.length < 2 || b.shape.length < 2) return null;
    const [m, k] = a.shape.slice(-2);
    const n = b.shape[b.shape.length - 1];
    const batch = outShape.slice(0, -2).reduce((p, q) => p * q, 1);
    const ab = a.lo.length / (m * k);
    const bb = b.lo.length / (k * n);
    if ((ab !== batch && ab !== 1) || (bb !== batch && bb !== 1)) return null;
    // ||(A - A') B||_F <= ||A - A'||_F ||B||_F per batch; a broadcast factor sums its batches
    const frob = (x: Box, size: number, t: number) => {
      let s = 0;
      for (let i = t * size; i < (t + 1) * size; i++) s += maxAbs(x, i) ** 2;
      return s;
    };
    const sa = new Float64Array(ab);
    const sb = new Float64Array(bb);
    for (let t = 0; t < batch; t++) {
      sa[ab === 1 ? 0 : t] += frob(b, k * n, bb === 1 ? 0 : t);
      sb[bb === 1 ? 0 : t] += frob(a, m * k, ab === 1 ? 0 : t);
    }
    const norm = (s: Float64Array) => sqrtUp(Math.max(...s) * (1 + (m * k + k * n + batch + 4) * 2 ** -52)) * SLACK;
    return { terms: [{ t: node.inputs[0], c: norm(sa) }, { t: node.inputs[1], c: norm(sb) }], why: 'product of two tensors: ||B||_F L_A + ||A||_F L_B' };
  }
  return null;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Smallest float32 >= c (Infinity past the float32 range). */
function float32Up(c: number): number {
  const f = Math.fround(c);
  return f >= c ? f : Math.fround(c * (1 + 2 ** -23));
}

/** Tensors from `t` up through single-input, non-layer nodes (at most `depth` steps): t, its input, ... */
function chainUp(t: string, producer: (t: string) => GraphNode | undefined, depth = 6): string[] {
  const out = [t];
  let cur = t;
  for (let d = 0; d < depth; d++) {
    const p = producer(cur);
    if (!p || p.layerIndex !== null || p.constant) break;
    const rt = p.inputs.filter((s, i) => s && p.constInputs[i] === null);
    if (new Set(rt).size !== 1) break;
    cur = rt[0];
    out.push(cur);
  }
  return out;
}

/**
 * The global walk's constant for the map x -> node output, where x is the nearest tensor every
 * run-time input of the node descends from through single-input ops (x * sigmoid(x), HardSwish
 * written out...): the walk run on that small subgraph. Null when there is no such x or no constant.
 */
function globalLocalConstant(node: GraphNode, producer: (t: string) => GraphNode | undefined, index: Map<GraphNode, number>): { x: string; value: number } | null {
  const rt = node.inputs.filter((t, i) => t && node.constInputs[i] === null);
  if (rt.length === 0) return null;
  const chains = rt.map((t) => chainUp(t, producer));
  const x = chains[0].find((t) => chains.every((c) => c.includes(t)));
  if (!x) return null;
  const nodes = new Set<GraphNode>([node]);
  for (const c of chains) for (const t of c.slice(0, c.indexOf(x))) nodes.add(producer(t)!);
  const sub: GraphSummary = { inputs: [x], outputs: [node.outputs[0]], nodes: [...nodes].sort((p, q) => index.get(p)! - index.get(q)!) };
  const r = networkBound(sub, []);
  return r.bound !== null ? { x, value: r.bound } : null;
}

/**
 * The certified Lipschitz bound over the box of `range` of the map input -> outputs (l2, real
 * arithmetic), never above the global walk's bound. Needs concrete shapes: an assumed input size or
 * an unknown shape leaves it uncertified with a note.
 */
export async function localNetworkBound(
  graph: GraphSummary,
  layers: readonly Layer[],
  layerBounds: (number | null)[],
  range: InputRange,
  inputShape: number[] | null,
  refinements?: ReadonlyMap<number, readonly Refinement[]>,
): Promise<LocalBound> {
  const text = formatInputRange(range);
  const fail = (note: string): LocalBound => ({ range: text, bound: null, certified: false, method: 'local', notes: [note], uncertifiedOps: [] });
  if (graph.inputSizeAssumed) return fail('input size assumed: the local bound needs concrete shapes (give the input shape)');
  if (graph.inputs.length !== 1) return fail(`the local bound handles one graph input (this graph has ${graph.inputs.length})`);
  if (!inputShape || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) return fail('input shape unknown: the local bound needs concrete shapes');
  const inBox = inputBox(range, inputShape);
  if (typeof inBox === 'string') return fail(inBox);

  const { boxes, failed } = await propagateBoxesNative(graph, layers, new Map([[graph.inputs[0], inBox]]));
  const notes: string[] = [];
  if (failed.length > 0)
    notes.push(`interval propagation stopped at ${failed.slice(0, 3).map((f) => `${f.op} '${f.node}' (${f.reason})`).join(', ')}${failed.length > 3 ? ` and ${failed.length - 3} more` : ''}: downstream nodes use their global rules`);

  // the global walk's value for every tensor (caps the local one: both are valid on the box)
  const produced = [...new Set(graph.nodes.flatMap((n) => n.outputs).filter((t) => t))];
  const global = networkBound({ ...graph, outputs: produced }, layerBounds, refinements);
  const globalL = new Map(global.perOutput.map((o) => [o.name, o.bound]));
  const finalGlobal = networkBound(graph, layerBounds, refinements);

  const producers = new Map<string, GraphNode>();
  for (const n of graph.nodes) for (const t of n.outputs) if (t) producers.set(t, n);
  const producer = (t: string) => producers.get(t);
  const order = new Map(graph.nodes.map((n, i) => [n, i]));

  const rewritten: GraphNode[] = [];
  const newIndex = new Map<number, number>(); // original node index -> index of the node producing its outputs
  const refs = new Map<number, Refinement[]>();
  let replaced = 0;
  let overflow: string | null = null;
  for (const node of graph.nodes) {
    // a MatMul of two run-time tensors is recorded as an (unbounded) layer: it has a local rule
    const twoTensorMatMul = node.op === 'MatMul' && node.layerIndex !== null && layers[node.layerIndex]?.kind === 'unsupported';
    const rule = node.constant || (node.layerIndex !== null && !twoTensorMatMul) ? null : localRule(node, (t) => boxes.get(t), producer);
    const terms = rule?.terms.filter((t) => Number.isFinite(t.c)) ?? [];
    if (rule && terms.length !== rule.terms.length && !overflow) overflow = `${node.op} '${node.name}'`;
    if (!rule || terms.length !== rule.terms.length || terms.length === 0) {
      newIndex.set(node.index, rewritten.length);
      rewritten.push({ ...node, index: rewritten.length });
      continue;
    }
    replaced++;
    const y = node.outputs.find((t) => t)!;
    const shape = node.outputShapes[node.outputs.indexOf(y)]!;
    const scaled = terms.map((term, k) => {
      const out = terms.length === 1 ? y : `${y}::local${k}`;
      // constants past the float32 range become a chain of exact 2^100 factors and a remainder
      const factors: number[] = [];
      let c = term.c;
      while (c > 2 ** 120) {
        factors.push(2 ** 100);
        c /= 2 ** 100; // exact
      }
      factors.push(c);
      let src = term.t;
      factors.forEach((f, j) => {
        const dst = j === factors.length - 1 ? out : `${y}::local${k}.${j}`;
        rewritten.push({
          index: rewritten.length, name: node.name, op: 'Mul', domain: '', inputs: [src, `${y}::c${k}.${j}`], outputs: [dst], attrs: {},
          constInputs: [null, Float32Array.of(float32Up(f))], constShapes: [null, []], inputShapes: [shape, []], outputShapes: [shape],
          layerIndex: null, absorbedInto: null, constant: false,
        });
        src = dst;
      });
      return out;
    });
    if (terms.length > 1)
      rewritten.push({
        index: rewritten.length, name: node.name, op: 'Sum', domain: '', inputs: scaled, outputs: [y], attrs: {}, constInputs: scaled.map(() => null),
        constShapes: scaled.map(() => null), inputShapes: scaled.map(() => shape), outputShapes: [shape], layerIndex: null, absorbedInto: null, constant: false,
      });
    newIndex.set(node.index, rewritten.length - 1);
    // the global rule of the node, applied to the local value of the tensor it descends from
    const g = globalLocalConstant(node, producer, order);
    if (g) refs.set(rewritten.length - 1, [{ x: g.x, value: g.value, rule: 'merged', detail: `global rule at ${node.name}` }]);
  }
  for (const node of graph.nodes) {
    const at = newIndex.get(node.index)!;
    const list = refs.get(at) ?? [];
    for (const r of refinements?.get(node.index) ?? []) list.push(r);
    const outs = node.outputs.filter((t) => t);
    const gs = outs.map((t) => globalL.get(t));
    if (outs.length > 0 && gs.every((v) => typeof v === 'number')) list.push({ x: graph.inputs[0], value: Math.max(...(gs as number[])), rule: 'merged', detail: 'global walk value' });
    if (list.length > 0) refs.set(at, list);
  }
  const local = networkBound({ ...graph, nodes: rewritten }, layerBounds, refs);
  if (overflow) notes.push(`local constants stop being finite at ${overflow} (the interval boxes grew past the float range): its global rule applies there`);
  if (replaced > 0) notes.push(`${replaced} node(s) bounded by local constants over the input box`);
  notes.push(...local.notes.filter((n) => !n.startsWith('input size assumed')));
  let bound = local.bound;
  if (bound !== null && finalGlobal.bound !== null && finalGlobal.bound < bound) bound = finalGlobal.bound;
  if (bound === null && finalGlobal.bound !== null) bound = finalGlobal.bound;
  return {
    range: text,
    bound,
    certified: bound !== null,
    method: 'local',
    notes,
    uncertifiedOps: bound !== null ? [] : local.uncertifiedOps,
  };
}
