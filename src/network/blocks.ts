// Tighter network bounds from the graph's structure (Combettes & Pesquet 2020; LipLT, Fazlyab et al.
// 2023): a ReLU-like slope D with entries in [alpha, beta] is c I + e S with c = (alpha+beta)/2,
// e = (beta-alpha)/2, ||S|| <= 1, so a block y = S x + W_m D ... D W_1 x expands into 2^(m-1)
// products whose norms need only *products* of consecutive linear maps, merged (merge.ts: exactly,
// or on the plane across a padded activation) and bounded by the per-layer engine. Plans are found here (pure); norms come from an oracle.
// Derivation: docs/derivations.md#network-walk-and-op-constants.
import type { GraphNode, GraphSummary } from '../model/graph.js';
import type { ConvLayer, DenseLayer, Layer } from '../model/layer.js';
import { addUp, mulUp } from '../linalg/rounding.js';
import { gramRootCost } from '../linalg/gram-root.js';
import { NATIVE_MIN_MACS } from '../native/blas.js';
import { MAX_MERGE_MACS, addShortcut, compose, composeThroughPadding, compressEnd, compressedWidth, extendInput, extendOutput, fromLayer, toLayer, type DerivedKernel } from './merge.js';

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
  /**
   * A kxk conv comes before and the next layer is a kxk conv: runs across this activation use the
   * plane composition (merge.ts composeThroughPadding), whatever the activation's output is outside
   * its window read as slope 0, so [alpha, beta] was widened to contain 0.
   */
  spill: boolean;
}

/**
 * A conv whose output on the plane reaches past its window (a spatial extent, or padding): not one
 * that merge.ts composes exactly with another such conv.
 */
const isWide = (l: Layer | undefined) =>
  l !== undefined && l.kind === 'conv' && l.op === 'Conv' && (l.weightShape.slice(2).some((k) => k > 1) || l.pads.some((p) => p !== 0) || l.autoPad === 'SAME_UPPER' || l.autoPad === 'SAME_LOWER');

/** c I + e S for slopes in [alpha, beta] (float32 slopes: c and e exact in float64). */
function averaging(node: string, lo: number, hi: number, spill = false): Activation {
  return { node, c: (lo + hi) / 2, e: (hi - lo) / 2, spill };
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
      if (s && method === 'averaging') steps.push({ act: averaging(p.name, s[0], s[1]) });
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
    // a kxk read on the plane after a kxk: the slope range at that activation must contain 0 (derivations.md)
    const widened = activations.map((a, i) => {
      const spill = segments.slice(0, i + 1).flat().some((j) => isWide(layers[j])) && isWide(layers[segments[i + 1][0]]);
      return spill ? averaging(a.node, Math.min(a.c - a.e, 0), Math.max(a.c + a.e, 0), true) : a;
    });
    return { nodeIndex: node.index, node: node.name, x, segments, activations: widened, shortcut, shapes };
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
          steps.unshift({ act: averaging(p.name, s[0], s[1]) });
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
 * torus's when the input size is known and small, else the sup grid's. Caps the work merges may add,
 * deterministically (the same model always gets the same merges), and orders and sizes the --jobs
 * split (parallel-layers.ts).
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
 * when it is not one layer (a transposed conv, mixed conv and dense, or a kxk after a kxk where
 * `plane(j)` does not allow the plane composition before run[j]). With `compressed`, the channel
 * counts after compressEnd shrank the run's 1x1 ends, plus the factorisations' own work.
 */
function mergedShape(run: readonly Layer[], compressed: boolean, plane: (j: number) => boolean): { layer: Layer; extra: number } | null {
  if (run.some((l) => l.kind === 'unsupported')) return null;
  const first = run[0] as ConvLayer | DenseLayer;
  const last = run[run.length - 1] as ConvLayer | DenseLayer;
  const inSide = compressed && run.length > 1 ? compressedSide(first, 'input') : null;
  const outSide = compressed && run.length > 1 ? compressedSide(last, 'output') : null;
  // channels after compression, and the merge's own work: the Gram roots and each compose's channel products
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
  if (run.every((l) => l.kind === 'dense')) {
    let [cout, cin] = dims[0];
    for (const [o] of dims.slice(1)) {
      if (o * cout * cin > MAX_MERGE_MACS) return null;
      extra += o * cout * cin;
      cout = o;
    }
    extra *= extra >= NATIVE_MIN_MACS ? NATIVE_WEIGHT : JS_WEIGHT;
    return { layer: { ...(last as DenseLayer), weight: new Float32Array(0), weightShape: [cout, cin] }, extra };
  }
  if (!run.every((l) => l.kind === 'conv' && l.op !== 'ConvTranspose')) return null;
  const convs = run as ConvLayer[];
  // per axis the merged extent and stride (merge.ts): extent += stride x dilation' x (k' - 1), stride *= stride'
  const extent = convs[0].weightShape.slice(2).map((k, a) => convs[0].dilations[a] * (k - 1) + 1);
  const stride = [...convs[0].strides];
  let [cout, cin, t] = dims[0];
  let wide = isWide(convs[0]);
  for (const [j, l] of convs.entries()) {
    if (j === 0) continue;
    if (wide && isWide(l) && !plane(j)) return null;
    wide ||= isWide(l);
    const [o, , tt] = dims[j];
    // merge.ts refuses products above its cap: such a run is not one layer here either
    if (o * cout * cin * t * tt > MAX_MERGE_MACS) return null;
    extra += o * cout * cin * t * tt;
    l.weightShape.slice(2).forEach((k, a) => {
      extent[a] += stride[a] * l.dilations[a] * (k - 1);
      stride[a] *= l.strides[a];
    });
    cout = o;
    t = extent.reduce((x, y) => x * y, 1);
  }
  // small merges and roots run in JS loops, large ones in native DGEMM (merge.ts, gram-root.ts)
  extra *= extra >= NATIVE_MIN_MACS ? NATIVE_WEIGHT : JS_WEIGHT;
  return { layer: { ...convs[0], weight: new Float32Array(0), weightShape: [cout, cin, ...extent], group: 1 }, extra };
}

const taps = (l: ConvLayer | DenseLayer) => (l.kind === 'dense' ? 1 : l.weightShape.slice(2).reduce((a, b) => a * b, 1));
/** A JS float64 multiply-add in the cost estimate's units (the spectral loops run ~3x faster per unit), and a native one. */
const JS_WEIGHT = 3;
const NATIVE_WEIGHT = 0.5;

/**
 * A run of consecutive layers whose merged norm a bound uses. Where a product is split at a plane
 * edge (a kxk across an activation after a kxk, Activation.spill), the halves are the plane's sections:
 * `full`, the run's output everywhere its taps reach (extendOutput); `open`, the run reading real
 * values where its first layer reads padding (extendInput). Never both (a run between two such
 * splits is not bounded here).
 */
interface Run {
  indices: number[];
  open: boolean;
  full: boolean;
}
const plain = (indices: number[]): Run => ({ indices, open: false, full: false });
const runKey = (r: Run) => `${r.open ? 'open ' : ''}${r.full ? 'full ' : ''}${r.indices.join(',')}`;

/** Certified norms of merged runs, computed once each across all plans, within a work budget. */
class RunNorms {
  private cache = new Map<string, number | null>();
  private splits = new Map<string, number | null>();
  private kernels = new Map<string, DerivedKernel | null>();
  private residuals = new Map<string, number | null>();
  private spent = 0;
  constructor(
    private readonly layers: readonly Layer[],
    private readonly layerBounds: readonly (number | null)[],
    private readonly oracle: NormOracle,
    private readonly budget: { cost: (layer: Layer) => number; limit: number },
    /** Layer pairs `a>b` with an activation between them (the only places a plane composition may cross). */
    private readonly activationEdges: ReadonlySet<string>,
  ) {}

  /** Whether a run through `left` then layer `right` crosses zero padding behind a kxk at an activation (plane composition). */
  planeEdge(left: readonly number[], right: number): boolean {
    return this.activationEdges.has(`${left[left.length - 1]}>${right}`) && left.some((i) => isWide(this.layers[i])) && isWide(this.layers[right]);
  }

  /** The estimated cost of bounding these runs' merges (null when one is not a single layer). */
  cost(runs: readonly Run[], compressed: boolean): number | null {
    let total = 0;
    for (const r of runs) {
      const shape = mergedShape(r.indices.map((i) => this.layers[i]), compressed, (j) => this.planeEdge(r.indices.slice(0, j), r.indices[j]));
      if (!shape) return null;
      total += this.budget.cost(shape.layer) + shape.extra;
    }
    return total;
  }

  /** Whether this much more work fits in the budget. */
  fits(cost: number): boolean {
    return this.spent + cost <= this.budget.limit;
  }

  /** Reserves the estimated cost of bounding these merges; false when it does not fit (nothing is computed then). */
  reserve(runs: readonly Run[], compressed: boolean): boolean {
    const cost = this.cost(runs, compressed);
    if (cost === null || !this.fits(cost)) return false;
    this.spent += cost;
    return true;
  }

  /**
   * Merge of a run (forward order), or null; computed once per run. `compressed`: the run's 1x1 ends
   * replaced by their Gram roots (compressEnd): a different operator with the same norm, fewer
   * channels (for norms only, never for a residual sum).
   */
  async merged(run: Run, compressed = false): Promise<DerivedKernel | null> {
    const { indices } = run;
    const key = `${compressed ? 'c ' : ''}${runKey(run)}`;
    if (!this.kernels.has(key)) {
      let k: DerivedKernel | null = null;
      for (const [j, i] of indices.entries()) {
        const l = this.layers[i];
        let d = l.kind === 'unsupported' ? null : fromLayer(l);
        if (d && compressed && indices.length > 1 && j === 0) d = (await compressEnd(d, 'input')) ?? d;
        if (d && compressed && indices.length > 1 && j === indices.length - 1) d = (await compressEnd(d, 'output')) ?? d;
        if (d === null) k = null;
        else if (k === null) k = d;
        else k = (await compose(k, d)) ?? (this.planeEdge(indices.slice(0, j), i) ? await composeThroughPadding(k, d) : null);
        if (!k) break;
      }
      if (k && run.full) k = extendOutput(k);
      if (k && run.open) k = extendInput(k);
      this.kernels.set(key, k);
    }
    return this.kernels.get(key)!;
  }

  /** Whether the run's norm is known from its layer bound alone (one layer, no section). */
  private isLayer(run: Run): boolean {
    return run.indices.length === 1 && !run.open && !run.full;
  }

  /** Computes the certified norm of each run (compressed ends) not known yet, if all fit in the budget together. */
  async compute(runs: readonly Run[]): Promise<void> {
    const todo = runs.filter((r) => !this.isLayer(r) && !this.cache.has(runKey(r)));
    if (todo.length === 0 || !this.reserve(todo, true)) return;
    for (const run of todo) {
      const k = await this.merged(run, true);
      const layer = k && toLayer(k, `merged(${run.open ? 'open ' : ''}${run.full ? 'full ' : ''}${run.indices.map((i) => this.layers[i].name).join(' -> ')})`);
      this.cache.set(runKey(run), layer ? await this.oracle(layer, this.spentShare()) : null);
    }
  }

  /**
   * Upper bound on the run's norm from what is known: its merged norm if computed, else the best
   * split into two shorter runs (their bounds multiplied; at a padded activation, the plane's
   * sections), down to the layers' own bounds.
   */
  norm(run: Run): number | null {
    if (run.open && run.full) return null;
    const key = runKey(run);
    const memo = this.splits.get(key);
    if (memo !== undefined) return memo;
    const { indices } = run;
    let best: number | null = this.isLayer(run) ? (this.layerBounds[indices[0]] ?? null) : (this.cache.get(key) ?? null);
    if (best !== null && !Number.isFinite(best)) best = null;
    for (let j = 1; j < indices.length; j++) {
      // Every term must see one plane extension of each piece: the merged operator's (derivations.md).
      // At a plane edge the halves are its sections; elsewhere the right half is composed exactly, so
      // a full run's extension comes from the right half when it is wide, else from the left one.
      const [left, right] = [indices.slice(0, j), indices.slice(j)];
      const sections = this.planeEdge(left, right[0]);
      const rightWide = right.some((i) => isWide(this.layers[i]));
      const a = this.norm({ indices: left, open: run.open, full: sections || (run.full && !rightWide) });
      const b = this.norm({ indices: right, open: sections, full: run.full && rightWide });
      if (a !== null && b !== null && (best === null || mulUp(a, b) < best)) best = mulUp(a, b);
    }
    // a value may tighten once more runs are computed: memoise only within one evaluation
    this.splits.set(key, best);
    return best;
  }

  /** The certified norm of S + coef M (the plan's exact residual sum), computed once per plan when the budget allows. */
  async residual(plan: BlockPlan, coef: number, buy: boolean): Promise<number | null> {
    const key = `${plan.nodeIndex} ${plan.x} ${plan.shortcut}`;
    if (this.residuals.has(key) || !buy) return this.residuals.get(key) ?? null;
    const all = plan.segments.flat();
    if (!this.reserve([plain(all)], false)) return null;
    const branch = await this.merged(plain(all));
    const sLayer = plan.shortcut === 'identity' ? null : this.layers[plan.shortcut as number];
    const sKernel = sLayer && sLayer.kind !== 'unsupported' ? fromLayer(sLayer) : null;
    let value: number | null = null;
    if (branch && !(sLayer && !sKernel)) {
      const sum = addShortcut(branch, coef, sKernel, plan.shapes);
      const layer = sum && toLayer(sum, `merged(${plan.node}: shortcut + ${coef} x branch)`);
      value = layer ? await this.oracle(layer, this.spentShare()) : null;
    }
    this.residuals.set(key, value);
    return value;
  }

  spentShare(): number {
    return Math.min(1, this.spent / this.budget.limit);
  }

  /** Forget split bounds (after new runs were computed). */
  refresh(): void {
    this.splits.clear();
  }
}

/** The signed product of the activations' midpoints (the residual term's coefficient), and its upper-rounded magnitude. */
function residualCoefficient(plan: BlockPlan): { signed: number; abs: number } {
  let signed = 1;
  let abs = 1;
  for (const a of plan.activations) {
    signed *= a.c;
    abs = mulUp(abs, Math.abs(a.c));
  }
  return { signed, abs };
}

/** The runs each expansion term of a plan multiplies (mask bit i: activation i takes e S_i), in planBound's order. */
function termRuns(plan: BlockPlan, runs: RunNorms, mask: number): Run[] {
  const m = plan.segments.length;
  const flat = (a: number, b: number) => plan.segments.slice(a, b + 1).flat();
  const out: Run[] = [];
  let start = 0;
  let open = false;
  for (let i = 0; i < m - 1; i++) {
    if (!(mask & (1 << i))) continue;
    const left = flat(start, i);
    const sections = runs.planeEdge(left, plan.segments[i + 1][0]);
    out.push({ indices: left, open, full: sections });
    open = sections;
    start = i + 1;
  }
  out.push({ indices: flat(start, m - 1), open, full: false });
  return out;
}

/**
 * What a plan buys, in purchase order: each entry is bought whole or not at all. Contiguous runs,
 * shortest first, each on its own; a plan with a padded activation (Activation.spill) needs its
 * sections and the plane merges together, so they are one purchase.
 */
function planPurchases(plan: BlockPlan, runs: RunNorms): Run[][] {
  const m = plan.segments.length;
  const contiguous: Run[] = [];
  for (let len = 1; len <= m; len++)
    for (let a = 0; a + len <= m; a++) {
      const run = plan.segments.slice(a, a + len).flat();
      if (run.length > 1) contiguous.push(plain(run));
    }
  contiguous.sort((x, y) => x.indices.length - y.indices.length);
  if (!plan.activations.some((a) => a.spill)) return contiguous.map((r) => [r]);
  const needed = new Map<string, Run>();
  for (let mask = 1; mask < 1 << (m - 1); mask++)
    for (const r of termRuns(plan, runs, mask)) {
      // a run between two padded splits is not bounded here (RunNorms.norm): the plan cannot be, buy nothing
      if (r.open && r.full) return [];
      if (!(r.indices.length === 1 && !r.open && !r.full)) needed.set(runKey(r), r);
    }
  // the whole branch: its own norm without a shortcut (with one, the exact residual sum is bought instead)
  if (plan.shortcut === null) needed.set(runKey(plain(plan.segments.flat())), plain(plan.segments.flat()));
  const bundle = [...needed.values()].sort((x, y) => x.indices.length - y.indices.length);
  return bundle.length > 0 ? [bundle] : [];
}

/**
 * The bound of one plan: ||S + c_all M_m...M_1|| + sum over the other 2^(m-1) - 1 expansion terms of
 * (coefficient) x (product of the merged runs' norms), or null when a needed norm is missing.
 */
async function planBound(plan: BlockPlan, runs: RunNorms, layerBounds: readonly (number | null)[], layers: readonly Layer[], exactResidual: boolean): Promise<Refinement | null> {
  const m = plan.segments.length;
  let total = 0;
  let merged = false;
  for (let mask = 0; mask < 1 << (m - 1); mask++) {
    let coef = 1;
    for (let i = 0; i < m - 1; i++) coef = mulUp(coef, mask & (1 << i) ? plan.activations[i].e : Math.abs(plan.activations[i].c));
    if (coef === 0) continue;
    if (mask === 0 && plan.shortcut !== null) {
      // the residual term: S + c M (one exact operator when it merges), else ||S|| + c ||M||
      const s = await shortcutTerm(plan, runs, layerBounds, exactResidual);
      if (s === null) return null;
      merged ||= s.merged;
      total = addUp(total, s.value);
      continue;
    }
    let term = coef;
    for (const r of termRuns(plan, runs, mask)) {
      const n = runs.norm(r);
      if (n === null) return null;
      term = mulUp(term, n);
    }
    total = addUp(total, term);
  }
  if (plan.shortcut === null && m === 1) merged = true;
  const rule: Refinement['rule'] = m === 1 ? 'merged' : 'block-averaging';
  const shape = plan.segments.map((s) => s.map((i) => layers[i].name).join('*')).join(' | ');
  const padded = plan.activations.some((a) => a.spill) ? ', padding as slope 0' : '';
  return { value: total, x: plan.x, rule, detail: `${plan.shortcut === null ? 'chain' : 'residual'} ${shape}${merged ? ' (exact merge)' : ''}${padded}` };
}

async function shortcutTerm(plan: BlockPlan, runs: RunNorms, layerBounds: readonly (number | null)[], exactResidual: boolean): Promise<{ value: number; merged: boolean } | null> {
  const { signed, abs } = residualCoefficient(plan);
  const sNorm = plan.shortcut === 'identity' ? 1 : layerBounds[plan.shortcut as number];
  const mNorm = runs.norm(plain(plan.segments.flat()));
  const fallback = sNorm === null || sNorm === undefined || mNorm === null ? null : addUp(sNorm, mulUp(abs, mNorm));
  const exact = await runs.residual(plan, signed, exactResidual);
  if (exact !== null && (fallback === null || exact < fallback)) return { value: exact, merged: true };
  return fallback === null ? null : { value: fallback, merged: false };
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
  const edges = new Set(plans.flatMap((p) => p.activations.map((_, i) => `${p.segments[i][p.segments[i].length - 1]}>${p.segments[i + 1][0]}`)));
  const runs = new RunNorms(layers, layerBounds, oracle, { cost: (l) => spectralCostEstimate(l, opts.mergedSamples), limit }, edges);
  // Merged runs are bought breadth-first: every plan's first purchase (cheapest plans first, residual
  // blocks before chain windows, the same order every run), then every plan's next one, so a budget
  // that cannot pay for everything still tightens as many blocks as it can (the first run of a
  // bottleneck buys most of its gain). Then each plan is bounded with what was bought, and with the
  // budget left, the exact residual sums S + c M (full channel count, the costliest operators); a
  // plan with padded activations buys its residual sum with its sections.
  const purchases = new Map(plans.map((p) => [p, planPurchases(p, runs)]));
  const residualFirst = (p: BlockPlan) => p.shortcut !== null && p.activations.some((a) => a.spill);
  const planCost = (p: BlockPlan) => {
    const first = purchases.get(p)![0];
    const c = first ? runs.cost(first, true) : residualFirst(p) ? 0 : null;
    const r = residualFirst(p) ? runs.cost([plain(p.segments.flat())], false) : 0;
    return c === null || r === null ? Infinity : c + r;
  };
  const ordered = [...plans].sort((a, b) => Number(a.shortcut === null) - Number(b.shortcut === null) || planCost(a) - planCost(b) || a.nodeIndex - b.nodeIndex);
  const depth = Math.max(0, ...ordered.map((p) => purchases.get(p)!.length));
  // the walk chains refinements end to end, so of two overlapping padded chain windows only one can
  // count on a path: windows sharing a layer with a bought one are skipped
  const windowLayers = new Set<number>();
  const paddedWindow = (p: BlockPlan) => p.shortcut === null && p.activations.some((a) => a.spill);
  for (let q = 0; q < Math.max(1, depth); q++)
    for (const plan of ordered) {
      const bundle = purchases.get(plan)![q];
      if (paddedWindow(plan)) {
        const layersOf = plan.segments.flat();
        if (q > 0 || !bundle || layersOf.some((i) => windowLayers.has(i))) continue;
        const c = runs.cost(bundle, true);
        if (c === null || !runs.fits(c)) continue;
        await runs.compute(bundle);
        layersOf.forEach((i) => windowLayers.add(i));
      } else if (q === 0 && residualFirst(plan)) {
        // sections and the residual sum together, or neither (either alone bounds nothing better)
        const sections = runs.cost(bundle ?? [], true);
        const sum = runs.cost([plain(plan.segments.flat())], false);
        if (sections === null || sum === null || !runs.fits(sections + sum)) continue;
        await runs.compute(bundle ?? []);
        await runs.residual(plan, residualCoefficient(plan).signed, true);
      } else if (bundle) await runs.compute(bundle);
    }
  runs.refresh();
  const found = new Map<BlockPlan, Refinement>();
  for (const plan of ordered) {
    const r = await planBound(plan, runs, layerBounds, layers, false);
    if (r) found.set(plan, r);
  }
  for (const plan of ordered) {
    const before = found.get(plan);
    if (!before || plan.shortcut === null || residualFirst(plan)) continue;
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
