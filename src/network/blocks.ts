// Tighter network bounds from the graph's structure (Combettes & Pesquet 2020; LipLT, Fazlyab et al.
// 2023): a ReLU-like slope D with entries in [alpha, beta] is c I + e S with c = (alpha+beta)/2,
// e = (beta-alpha)/2, ||S|| <= 1, so a block y = S x + W_m D ... D W_1 x expands into 2^(m-1)
// products whose norms need only *products* of consecutive linear maps, merged exactly (merge.ts)
// and bounded by the per-layer engine. Plans are found here (pure); norms come from an oracle.
// Derivation: docs/derivations.md#network-walk-and-op-constants.
import type { GraphNode, GraphSummary } from '../model/graph.js';
import type { ConvLayer, DenseLayer, Layer } from '../model/layer.js';
import { addUp, mulUp } from '../linalg/rounding.js';
import { gramRootCost } from '../linalg/gram-root.js';
import { NATIVE_MIN_MACS } from '../native/blas.js';
import { addShortcut, compose, compressEnd, compressedWidth, fromLayer, toLayer, type DerivedKernel } from './merge.js';

/**
 * A certified upper bound on a merged operator's l2 norm (the per-layer engine), or null. `spent`:
 * the share of the work cap reserved so far, this operator included (for progress).
 */
export type NormOracle = (layer: ConvLayer | DenseLayer, spent: number) => Promise<number | null>;

export type NetworkMethod = 'graph' | 'merged' | 'averaging';

interface Activation {
  node: string;
  c: number;
  e: number;
}

/** A run of the graph from tensor `x`: linear segments (consecutive layers, no activation between) separated by activations. */
export interface BlockPlan {
  /** Node whose first output the plan bounds (the residual Add, or the chain's last layer). */
  nodeIndex: number;
  node: string;
  x: string;
  segments: number[][];
  activations: Activation[];
  /** 'identity', a shortcut layer index, or null (no residual). */
  shortcut: 'identity' | number | null;
  /** Output shapes of the branch and the shortcut (alignment of an exact residual merge). */
  shapes: { branch: number[] | null; shortcut: number[] | null };
}

export interface Refinement {
  /** The plan's bound on the map x -> node output (multiply by L(x)). */
  value: number;
  x: string;
  rule: 'merged' | 'block-averaging';
  detail: string;
}

const PASS_THROUGH = new Set(['Identity', 'Dropout']);
/** Longest chains considered (segments): 2^(m-1) terms, m(m+1)/2 merged runs. */
const MAX_SEGMENTS = 3;
const MAX_STEPS = 24;

/** Slope range of a ReLU-like node, or null. */
function slopes(n: GraphNode): [number, number] | null {
  if (n.domain !== '') return null;
  switch (n.op) {
    case 'Relu':
      return [0, 1];
    case 'LeakyRelu': {
      const a = typeof n.attrs.alpha === 'number' ? n.attrs.alpha : 0.01;
      return Number.isFinite(a) ? [Math.min(a, 1), Math.max(a, 1)] : null;
    }
    case 'Clip':
      // a projection onto an interval: slopes 0 or 1 (bounds must be constants)
      return n.inputs.slice(1).every((t, i) => !t || n.constInputs[i + 1] !== null) ? [0, 1] : null;
    case 'PRelu': {
      const s = n.constInputs[1];
      if (!s || s.length === 0) return null;
      let lo = 1;
      let hi = 1;
      for (const v of s) {
        if (!Number.isFinite(v)) return null;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      return [lo, hi];
    }
    default:
      return null;
  }
}

type Step = { layer: number } | { act: Activation };

function layerInput(n: GraphNode, produced: Set<string>, inputs: Set<string>): string | null {
  const runtime = n.inputs.filter((t, i) => t && (produced.has(t) || inputs.has(t)) && n.constInputs[i] === null);
  return runtime.length === 1 ? runtime[0] : null;
}

/** Plans for every residual Add and every chain end the walk may tighten. Pure. */
export function findBlocks(graph: GraphSummary, layers: readonly Layer[], method: NetworkMethod): BlockPlan[] {
  if (method === 'graph') return [];
  const producer = new Map<string, GraphNode>();
  for (const n of graph.nodes) for (const t of n.outputs) if (t) producer.set(t, n);
  const produced = new Set(producer.keys());
  const inputs = new Set(graph.inputs);
  const shapeOf = (t: string): number[] | null => {
    const p = producer.get(t);
    if (p) return p.outputShapes[p.outputs.indexOf(t)] ?? null;
    for (const n of graph.nodes) {
      const i = n.inputs.indexOf(t);
      if (i >= 0 && n.inputShapes[i]) return n.inputShapes[i];
    }
    return null;
  };
  const linear = (i: number | null): i is number => i !== null && layers[i] !== undefined && layers[i].kind !== 'unsupported';

  /** Steps from `x` to `t` in forward order, or null when the path is not layers, activations and pass-throughs. */
  const chainTo = (t: string, x: string): Step[] | null => {
    const steps: Step[] = [];
    let cur = t;
    while (cur !== x) {
      const p = producer.get(cur);
      if (!p || steps.length > MAX_STEPS) return null;
      if (linear(p.layerIndex)) {
        const next = layerInput(p, produced, inputs);
        if (next === null) return null;
        steps.push({ layer: p.layerIndex });
        cur = next;
        continue;
      }
      const s = slopes(p);
      if (s && method === 'averaging') steps.push({ act: { node: p.name, c: (s[0] + s[1]) / 2, e: (s[1] - s[0]) / 2 } });
      else if (!(p.absorbedInto !== null || (PASS_THROUGH.has(p.op) && p.domain === ''))) return null;
      cur = p.inputs[0];
    }
    return steps.reverse();
  };

  const toPlan = (node: GraphNode, x: string, steps: Step[], shortcut: BlockPlan['shortcut'], shapes: BlockPlan['shapes']): BlockPlan | null => {
    if (steps.length === 0 || !('layer' in steps[0]) || !('layer' in steps[steps.length - 1])) return null;
    const segments: number[][] = [[]];
    const activations: Activation[] = [];
    for (const s of steps) {
      if ('layer' in s) segments[segments.length - 1].push(s.layer);
      else {
        if (segments[segments.length - 1].length === 0) return null; // two activations in a row
        activations.push(s.act);
        segments.push([]);
      }
    }
    if (segments.length > MAX_SEGMENTS) return null;
    return { nodeIndex: node.index, node: node.name, x, segments, activations, shortcut, shapes };
  };

  const plans: BlockPlan[] = [];
  for (const n of graph.nodes) {
    if (n.domain !== '') continue;
    if ((n.op === 'Add' || n.op === 'Sum') && n.inputs.length === 2 && n.inputs.every((t) => produced.has(t) || inputs.has(t))) {
      for (const [a, b] of [[0, 1], [1, 0]]) {
        const branch = n.inputs[a];
        const other = n.inputs[b];
        const shapes = { branch: shapeOf(branch), shortcut: shapeOf(other) };
        const viaIdentity = chainTo(branch, other);
        const plan = viaIdentity && toPlan(n, other, viaIdentity, 'identity', shapes);
        if (plan) plans.push(plan);
        const sp = producer.get(other);
        if (sp && linear(sp.layerIndex)) {
          const x = layerInput(sp, produced, inputs);
          const steps = x === null ? null : chainTo(branch, x);
          const p = steps && toPlan(n, x!, steps, sp.layerIndex, shapes);
          if (p) plans.push(p);
        }
      }
      continue;
    }
    // chain ends: windows of up to MAX_SEGMENTS segments ending at this layer
    if (!linear(n.layerIndex)) continue;
    const steps: Step[] = [];
    let cur: string | null = n.outputs[0];
    let segs = 1;
    while (cur !== null) {
      const p = producer.get(cur);
      if (!p) break;
      let next: string | null = null;
      if (linear(p.layerIndex)) {
        next = layerInput(p, produced, inputs);
        steps.unshift({ layer: p.layerIndex });
        if (next === null) break;
        const window = toPlan(n, next, steps, null, { branch: null, shortcut: null });
        const layerCount = steps.filter((s) => 'layer' in s).length;
        if (window && layerCount > 1) plans.push(window);
      } else {
        const s = slopes(p);
        if (s && method === 'averaging') {
          if (++segs > MAX_SEGMENTS) break;
          steps.unshift({ act: { node: p.name, c: (s[0] + s[1]) / 2, e: (s[1] - s[0]) / 2 } });
        } else if (!(p.absorbedInto !== null || (PASS_THROUGH.has(p.op) && p.domain === ''))) break;
        next = p.inputs[0];
      }
      cur = next;
      if (steps.length > MAX_STEPS) break;
    }
  }
  // a chain window inside a residual branch never helps once the block itself is bounded: the block's
  // rule starts from its input, not from the window's output
  const inBranches = new Set(plans.filter((p) => p.shortcut !== null).flatMap((p) => p.segments.flat()));
  return plans.filter((p) => p.shortcut !== null || !p.segments.flat().every((i) => inBranches.has(i)));
}

/**
 * A machine-independent estimate of what the spectral method costs on a layer (multiply-adds):
 * frequencies x (forming the symbol + its Gram + a Cholesky), per group. The frequencies are the
 * torus's when the input size is known and small, else the sup grid's. Used only to cap the work
 * merges may add, deterministically (the same model always gets the same merges).
 */
export function spectralCostEstimate(layer: Layer, samples: number): number {
  if (layer.kind === 'unsupported') return 0;
  if (layer.kind === 'dense') {
    const [r, c] = layer.weightShape;
    const n = Math.min(r, c);
    return n * n * Math.max(r, c) + (n * n * n) / 3;
  }
  const [a, b, ...kernel] = layer.weightShape;
  const g = layer.group;
  const [cout, cin] = layer.op === 'ConvTranspose' ? [b, a / g] : [a / g, b];
  const taps = kernel.reduce((x, y) => x * y, 1);
  const n = Math.min(cout, cin);
  const perFrequency = cout * cin * taps + n * n * Math.max(cout, cin) + (n * n * n) / 3;
  const spatial = kernel.filter((k) => k > 1).length;
  const sup = spatial === 0 ? 1 : Math.ceil(samples ** spatial / 2);
  const dims = layer.inputShape && !layer.inputSizeAssumed ? layer.inputShape.slice(1) : null;
  const torus = dims ? Math.ceil(dims.filter((_, i) => kernel[i] > 1).reduce((x, y) => x * y, 1) / 2) : Infinity;
  return (g * perFrequency + PER_FREQUENCY_OVERHEAD) * (torus <= 2 * sup ? torus : sup);
}

/**
 * What a frequency costs beyond its arithmetic (JS loops, small orders), in the same units: measured
 * on ResNet-50's 64- and 128-channel 3x3 convs (0.3 and 1.0 ms per frequency against ~3.5e9 units/s).
 */
const PER_FREQUENCY_OVERHEAD = 6e5;

/** The channel count compressEnd leaves at this end of a run (merge.ts's rule, on a layer record), else null. */
function compressedSide(l: Layer, end: 'input' | 'output'): number | null {
  if (l.kind === 'unsupported') return null;
  const oneByOne = l.kind === 'dense' || (l.op !== 'ConvTranspose' && l.weightShape.slice(2).every((k) => k === 1) && l.pads.every((p) => p === 0));
  return compressedWidth(oneByOne, l.weightShape[0], l.kind === 'dense' ? l.weightShape[1] : l.weightShape[1] * l.group, end);
}

/**
 * The shape of the merge of these layers (what the cost estimate needs), without computing it: null
 * when it is not one layer (more than one kxk conv, a transposed conv, mixed conv and dense). With
 * `compressed`, the channel counts after compressEnd shrank the run's 1x1 ends, plus the
 * factorisations' own work.
 */
function mergedShape(run: readonly Layer[], compressed: boolean): { layer: Layer; extra: number } | null {
  if (run.some((l) => l.kind === 'unsupported')) return null;
  const first = run[0] as ConvLayer | DenseLayer;
  const last = run[run.length - 1] as ConvLayer | DenseLayer;
  const inSide = compressed && run.length > 1 ? compressedSide(first, 'input') : null;
  const outSide = compressed && run.length > 1 ? compressedSide(last, 'output') : null;
  // channels after compression, and the merge's own JS work: the Gram roots and each compose's channel products
  const dims = (run as (ConvLayer | DenseLayer)[]).map((l) => [l.weightShape[0], l.kind === 'dense' ? l.weightShape[1] : l.weightShape[1] * l.group, taps(l)]);
  let extra = 0;
  if (inSide) {
    extra += gramRootCost(inSide, dims[0][1]);
    dims[0] = [inSide, inSide, 1];
  }
  if (outSide) {
    extra += gramRootCost(outSide, dims[dims.length - 1][0]);
    dims[dims.length - 1] = [outSide, outSide, 1];
  }
  let [cout, cin, t] = dims[0];
  for (const [o, , tt] of dims.slice(1)) {
    extra += o * cout * cin * Math.max(t, tt);
    [cout, t] = [o, Math.max(t, tt)];
  }
  // small merges and roots run in JS loops, large ones in native DGEMM (merge.ts, gram-root.ts)
  extra *= extra >= NATIVE_MIN_MACS ? NATIVE_WEIGHT : JS_WEIGHT;
  if (run.every((l) => l.kind === 'dense')) {
    return { layer: { ...(last as DenseLayer), weight: new Float32Array(0), weightShape: [cout, cin] }, extra };
  }
  if (!run.every((l) => l.kind === 'conv' && l.op !== 'ConvTranspose')) return null;
  const convs = run as ConvLayer[];
  const wide = convs.filter((l) => l.weightShape.slice(2).some((k) => k > 1));
  if (wide.length > 1) return null;
  const kernel = (wide[0] ?? convs[0]).weightShape.slice(2);
  return { layer: { ...convs[0], weight: new Float32Array(0), weightShape: [cout, cin, ...kernel], group: 1 }, extra };
}

const taps = (l: ConvLayer | DenseLayer) => (l.kind === 'dense' ? 1 : l.weightShape.slice(2).reduce((a, b) => a * b, 1));
/** A JS float64 multiply-add in the cost estimate's units (the spectral loops run ~3x faster per unit), and a native one. */
const JS_WEIGHT = 3;
const NATIVE_WEIGHT = 0.5;

/** Certified norms of merged runs, computed once each across all plans, within a work budget. */
class RunNorms {
  private cache = new Map<string, number | null>();
  private splits = new Map<string, number | null>();
  private kernels = new Map<string, DerivedKernel | null>();
  private spent = 0;
  constructor(
    private readonly layers: readonly Layer[],
    private readonly layerBounds: readonly (number | null)[],
    readonly oracle: NormOracle,
    private readonly budget: { cost: (layer: Layer) => number; limit: number },
  ) {}

  /** Reserves the estimated cost of bounding the merge of these layers; false when it does not fit (nothing is computed then). */
  reserve(indices: number[], compressed: boolean): boolean {
    const shape = mergedShape(indices.map((i) => this.layers[i]), compressed);
    if (!shape) return false;
    const cost = this.budget.cost(shape.layer) + shape.extra;
    if (this.spent + cost > this.budget.limit) return false;
    this.spent += cost;
    return true;
  }

  /**
   * Exact merge of layers (forward order), or null; computed once per run of layers. `compressed`:
   * the run's 1x1 ends replaced by their Gram roots (compressEnd): a different operator with the
   * same norm, fewer channels (for norms only, never for a residual sum).
   */
  async merged(indices: number[], compressed = false): Promise<DerivedKernel | null> {
    const key = `${compressed ? 'c' : ''}${indices.join(',')}`;
    if (!this.kernels.has(key)) {
      let k: DerivedKernel | null = null;
      for (const [j, i] of indices.entries()) {
        const l = this.layers[i];
        let d = l.kind === 'unsupported' ? null : fromLayer(l);
        if (d && compressed && indices.length > 1 && j === 0) d = (await compressEnd(d, 'input')) ?? d;
        if (d && compressed && indices.length > 1 && j === indices.length - 1) d = (await compressEnd(d, 'output')) ?? d;
        k = d === null ? null : k === null ? d : await compose(k, d);
        if (!k) break;
      }
      this.kernels.set(key, k);
    }
    return this.kernels.get(key)!;
  }

  /** Computes the certified norm of the merged run (compressed ends) when not known yet and the budget allows. */
  async compute(indices: number[]): Promise<void> {
    const key = indices.join(',');
    if (indices.length === 1 || this.cache.has(key) || !this.reserve(indices, true)) return;
    const k = await this.merged(indices, true);
    const layer = k && toLayer(k, `merged(${indices.map((i) => this.layers[i].name).join(' -> ')})`);
    const merged = layer ? await this.oracle(layer, this.spentShare()) : null;
    this.cache.set(key, merged);
  }

  /**
   * Upper bound on ||M_b ... M_a|| from what is known: the run's merged norm if computed, else the
   * best split into two shorter runs (their bounds multiplied), down to the layers' own bounds.
   */
  norm(indices: number[]): number | null {
    const key = indices.join(',');
    const memo = this.splits.get(key);
    if (memo !== undefined) return memo;
    let best: number | null = indices.length === 1 ? (this.layerBounds[indices[0]] ?? null) : (this.cache.get(key) ?? null);
    if (best !== null && !Number.isFinite(best)) best = null;
    for (let j = 1; j < indices.length; j++) {
      const a = this.norm(indices.slice(0, j));
      const b = this.norm(indices.slice(j));
      if (a !== null && b !== null && (best === null || mulUp(a, b) < best)) best = mulUp(a, b);
    }
    // a value may tighten once more runs are computed: memoise only within one evaluation
    this.splits.set(key, best);
    return best;
  }

  spentShare(): number {
    return Math.min(1, this.spent / this.budget.limit);
  }

  /** Forget split bounds (after new runs were computed). */
  refresh(): void {
    this.splits.clear();
  }
}

/** Contiguous runs of a plan's segments (as layer lists) whose merged norms the plan can use, shortest first. */
function planRuns(plan: BlockPlan): number[][] {
  const m = plan.segments.length;
  const out: number[][] = [];
  for (let len = 1; len <= m; len++)
    for (let a = 0; a + len <= m; a++) {
      const run = plan.segments.slice(a, a + len).flat();
      if (run.length > 1) out.push(run);
    }
  return out.sort((x, y) => x.length - y.length);
}

/**
 * The bound of one plan: ||S + c_all M_m...M_1|| + sum over the other 2^(m-1) - 1 expansion terms of
 * (coefficient) x (product of the merged runs' norms), or null when a needed norm is missing.
 */
async function planBound(
  plan: BlockPlan, runs: RunNorms, layerBounds: readonly (number | null)[], layers: readonly Layer[], exactResidual: boolean,
): Promise<Refinement | null> {
  const m = plan.segments.length;
  const flat = (a: number, b: number) => plan.segments.slice(a, b + 1).flat();
  // term J = set of activations taking e S_i; runs split at those activations
  let total = 0;
  let merged = false;
  for (let mask = 0; mask < 1 << (m - 1); mask++) {
    // |coefficient| for norms; the signed product of the c's for the exact residual merge (mask 0)
    let coef = 1;
    let signed = 1;
    let term = 1;
    let start = 0;
    for (let i = 0; i < m - 1; i++) {
      const a = plan.activations[i];
      if (mask & (1 << i)) {
        coef = mulUp(coef, a.e);
        const n = runs.norm(flat(start, i));
        if (n === null) return null;
        term = mulUp(term, n);
        start = i + 1;
      } else {
        coef = mulUp(coef, Math.abs(a.c));
        signed *= a.c;
      }
    }
    if (coef === 0) continue;
    if (mask === 0 && plan.shortcut !== null) {
      // the residual term: S + c M (one exact operator when it merges), else ||S|| + c ||M||
      const s = await shortcutTerm(plan, signed, coef, runs, layerBounds, layers, exactResidual);
      if (s === null) return null;
      merged ||= s.merged;
      total = addUp(total, s.value);
      continue;
    }
    const n = runs.norm(flat(start, m - 1));
    if (n === null) return null;
    total = addUp(total, mulUp(coef, mulUp(term, n)));
  }
  if (plan.shortcut === null && m === 1) merged = true;
  const rule: Refinement['rule'] = m === 1 ? 'merged' : 'block-averaging';
  const shape = plan.segments.map((s) => s.map((i) => layers[i].name).join('*')).join(' | ');
  return { value: total, x: plan.x, rule, detail: `${plan.shortcut === null ? 'chain' : 'residual'} ${shape}${merged ? ' (exact merge)' : ''}` };
}

async function shortcutTerm(
  plan: BlockPlan, coef: number, absCoef: number, runs: RunNorms, layerBounds: readonly (number | null)[], layers: readonly Layer[], exactResidual: boolean,
): Promise<{ value: number; merged: boolean } | null> {
  const all = plan.segments.flat();
  const sNorm = plan.shortcut === 'identity' ? 1 : layerBounds[plan.shortcut as number];
  const mNorm = runs.norm(all);
  if (sNorm === null || sNorm === undefined || mNorm === null) return null;
  const fallback = addUp(sNorm, mulUp(absCoef, mNorm));
  if (!exactResidual || !runs.reserve(all, false)) return { value: fallback, merged: false };
  const branch = await runs.merged(all);
  const sLayer = plan.shortcut === 'identity' ? null : layers[plan.shortcut as number];
  const sKernel = sLayer && sLayer.kind !== 'unsupported' ? fromLayer(sLayer) : null;
  if (!branch || (sLayer && !sKernel)) return { value: fallback, merged: false };
  const sum = addShortcut(branch, coef, sKernel, plan.shapes);
  const layer = sum && toLayer(sum, `merged(${plan.node}: shortcut + ${coef} x branch)`);
  const exact = layer ? await runs.oracle(layer, runs.spentShare()) : null;
  return exact !== null && exact < fallback ? { value: exact, merged: true } : { value: fallback, merged: false };
}

/**
 * Default share of the per-layer spectral work (estimated, deterministic) merged operators may add
 * (--network-effort): measured +14-15% on a default ResNet-50 run, under issue 15's 25%.
 */
export const DEFAULT_NETWORK_EFFORT = 0.15;

/** Work merges may always spend (estimated multiply-adds, well under a second): small models get their merges. */
const MIN_MERGE_BUDGET = 1e8;

/** Refinements per node index (each a bound on x -> node output), for the walk to take the minimum with. */
export async function refineBlocks(
  plans: readonly BlockPlan[],
  layers: readonly Layer[],
  layerBounds: readonly (number | null)[],
  oracle: NormOracle,
  opts: { samples: number; mergedSamples: number; budgetShare: number },
): Promise<Map<number, Refinement[]>> {
  // merged operators may cost at most budgetShare of what the per-layer spectral method costs
  const cost = (l: Layer) => spectralCostEstimate(l, opts.samples);
  const limit = Math.max(MIN_MERGE_BUDGET, opts.budgetShare * layers.reduce((acc, l) => acc + cost(l), 0));
  // residual blocks first, then chain windows; cheapest first, so the budget buys as many blocks as it can (same order every run)
  // a plan's price: its first (shortest) merged run, what the breadth-first purchase below pays first
  const mergedCost = (l: Layer) => spectralCostEstimate(l, opts.mergedSamples);
  const planCost = (p: BlockPlan) => {
    const run = planRuns(p)[0];
    const shape = run && mergedShape(run.map((i) => layers[i]), true);
    return shape ? mergedCost(shape.layer) + shape.extra : Infinity;
  };
  const runs = new RunNorms(layers, layerBounds, oracle, { cost: mergedCost, limit });
  const ordered = [...plans].sort((a, b) => Number(a.shortcut === null) - Number(b.shortcut === null) || planCost(a) - planCost(b) || a.nodeIndex - b.nodeIndex);
  // Merged runs are bought breadth-first: every plan's shortest run, then every plan's next one, so a
  // budget that cannot pay for everything still tightens as many blocks as it can (the first run of
  // a bottleneck buys most of its gain). Then each plan is bounded with what was bought, and with the
  // budget left, the exact residual sums S + c M (full channel count, the costliest operators).
  const runLists = ordered.map((p) => planRuns(p));
  const depth = Math.max(0, ...runLists.map((l) => l.length));
  for (let q = 0; q < depth; q++) for (const list of runLists) if (list[q]) await runs.compute(list[q]);
  runs.refresh();
  const found = new Map<BlockPlan, Refinement>();
  for (const plan of ordered) {
    const r = await planBound(plan, runs, layerBounds, layers, false);
    if (r) found.set(plan, r);
  }
  for (const plan of ordered) {
    const before = found.get(plan);
    if (!before || plan.shortcut === null) continue;
    const r = await planBound(plan, runs, layerBounds, layers, true);
    if (r && r.value < before.value) found.set(plan, r);
  }
  const out = new Map<number, Refinement[]>();
  for (const plan of ordered) {
    const r = found.get(plan);
    if (!r) continue;
    const list = out.get(plan.nodeIndex) ?? [];
    list.push(r);
    out.set(plan.nodeIndex, list);
  }
  return out;
}
