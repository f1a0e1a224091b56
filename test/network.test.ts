// The whole-network bound: on small ONNX models (built in memory, run by onnxruntime) the certified
// graph bound must never be below the empirical lower bound max ||f(x)-f(y)||/||x-y||; its value
// must equal the composition of the per-op constants; unknown ops are named; malformed graphs
// (cycles, missing producers) end uncertified without hanging.
import { describe, expect, it } from 'vitest';
import { attr } from '../src/onnx/build.js';
import type { GraphNode } from '../src/model/graph.js';
import { networkBound } from '../src/network/walk.js';
import { averagePoolConstant, GELU_ERF_CONSTANT, maxPoolConstant, SILU_CONSTANT } from '../src/network/op-constants.js';
import { largestSingularValue } from './helpers/exact.js';
import { empiricalLipschitz, explicitOperator } from './helpers/empirical.js';
import { Fixture } from './helpers/network-fixture.js';
import { cmp, exact, mul } from './helpers/rational.js';

const EMPIRICAL = { pairs: 64, steps: 15, seed: 17 };
/** The empirical ratio is computed from float32 outputs: allow that rounding (relative). */
const FLOAT_SLACK = 1e-6;

async function checkAgainstEmpirical(bytes: Uint8Array, inputShape: number[], bound: number): Promise<number> {
  const emp = await empiricalLipschitz(bytes, inputShape, EMPIRICAL);
  expect(bound).toBeGreaterThanOrEqual(emp * (1 - FLOAT_SLACK));
  return emp;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** max secant slope of f on a grid of step h (sup |f'| from below). */
function secantMax(f: (x: number) => number, lo: number, hi: number, h: number): number {
  let m = 0;
  for (let k = 0, n = Math.round((hi - lo) / h); k < n; k++) m = Math.max(m, Math.abs(f(lo + (k + 1) * h) - f(lo + k * h)) / h);
  return m;
}

describe('networkBound on onnxruntime fixtures', () => {
  it('plain chain: the graph bound is the product of the layer bounds', async () => {
    const f = new Fixture([1, 2, 6, 6]);
    const c1 = f.conv('x', { cout: 4, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 1 });
    const r = f.op('Relu', [c1]);
    const c2 = f.conv(r, { cout: 3, cin: 4, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], strides: [2, 2], seed: 2 });
    const fl = f.op('Flatten', [c2]);
    const y = f.dense(fl, 5, 27, 3);
    const { bytes, summary, layerBounds } = await f.build([y]);
    const nb = networkBound(summary, layerBounds);
    const product = layerBounds.reduce((a, b) => a * b, 1);
    expect(nb.certified).toBe(true);
    expect(nb.method).toBe('graph');
    expect(rel(nb.bound!, product)).toBeLessThan(1e-12);
    expect(rel(nb.naiveProduct!, product)).toBeLessThan(1e-12);
    const emp = await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
    // not vacuous (~0.22 here: the product of norms of the 3 layers is itself loose)
    expect(emp).toBeGreaterThan(0.15 * nb.bound!);
  });

  it('the empirical lower bound recovers the exact norm of a linear network', async () => {
    const f = new Fixture([1, 2, 5, 5]);
    const c1 = f.conv('x', { cout: 3, cin: 2, kernel: [3, 3], input: [5, 5], pads: [1, 1, 1, 1], seed: 21 });
    const y = f.conv(c1, { cout: 2, cin: 3, kernel: [3, 3], input: [5, 5], strides: [2, 2], seed: 22 });
    const { bytes } = await f.build([y]);
    const { a, rows, cols } = await explicitOperator(bytes, f.inputShape);
    const exact = largestSingularValue(a, rows, cols);
    const emp = await empiricalLipschitz(bytes, f.inputShape, EMPIRICAL);
    expect(emp).toBeLessThanOrEqual(exact * (1 + FLOAT_SLACK));
    expect(emp).toBeGreaterThan(exact * 0.99);
  });

  it('residual block: 1 + L(block); the naive product is NOT a bound there', async () => {
    const f = new Fixture([1, 2, 6, 6]);
    const c1 = f.conv('x', { cout: 2, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 4, scale: 0.25 });
    const r = f.op('Relu', [c1]);
    const c2 = f.conv(r, { cout: 2, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 5, scale: 0.25 });
    const add = f.op('Add', ['x', c2]);
    const y = f.op('Relu', [add]);
    const { bytes, summary, layerBounds } = await f.build([y]);
    const nb = networkBound(summary, layerBounds);
    expect(nb.certified).toBe(true);
    expect(rel(nb.bound!, 1 + layerBounds[0] * layerBounds[1])).toBeLessThan(1e-12);
    const emp = await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
    expect(nb.naiveProduct!).toBeLessThan(emp); // the product of layer bounds would be a wrong "bound"
  });

  it('Inception-style concat: sqrt of the sum of squares of the branches', async () => {
    const f = new Fixture([1, 2, 6, 6]);
    const a = f.conv('x', { cout: 3, cin: 2, kernel: [1, 1], input: [6, 6], seed: 6 });
    const b = f.op('Relu', [f.conv('x', { cout: 2, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 7 })]);
    const c = f.op('MaxPool', ['x'], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) });
    const cat = f.op('Concat', [a, b, c], { axis: attr.i(1) });
    const y = f.conv(cat, { cout: 2, cin: 7, kernel: [1, 1], input: [6, 6], seed: 8 });
    const { bytes, summary, layerBounds } = await f.build([y]);
    const nb = networkBound(summary, layerBounds);
    const [la, lb, lout] = layerBounds;
    // 3x3 stride-1 pad-1 max pool on 6x6: an element lies in at most 3*3 windows -> sqrt(9)
    expect(rel(nb.bound!, lout * Math.sqrt(la ** 2 + lb ** 2 + 9))).toBeLessThan(1e-12);
    await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
  });

  it('pooling chain: AveragePool, MaxPool, GlobalAveragePool', async () => {
    const f = new Fixture([1, 2, 8, 8]);
    const c = f.conv('x', { cout: 3, cin: 2, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], seed: 9 });
    const ap = f.op('AveragePool', [c], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
    const r = f.op('Relu', [ap]);
    const mp = f.op('MaxPool', [r], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
    const gap = f.op('GlobalAveragePool', [mp]);
    const y = f.dense(f.op('Flatten', [gap]), 2, 3, 10);
    const { bytes, summary, layerBounds } = await f.build([y]);
    const nb = networkBound(summary, layerBounds);
    const ax = (dim: number, kernel: number, stride: number, pad: number) => ({ dim, kernel, stride, dilation: 1, padBegin: pad, padEnd: pad });
    const avg = averagePoolConstant([ax(8, 2, 2, 0), ax(8, 2, 2, 0)], false, false); // disjoint 2x2 means: 1/2
    const mx = maxPoolConstant([ax(4, 3, 2, 1), ax(4, 3, 2, 1)], false); // 4x4 -> 2x2: counts 2 per axis
    expect(avg).toBeCloseTo(0.5, 9);
    expect(mx).toBeCloseTo(2, 12);
    expect(rel(nb.bound!, layerBounds[0] * avg * mx * (1 / 2) * layerBounds[1])).toBeLessThan(1e-9); // GAP over 2x2: 1/2
    await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
  });

  it('unfolded BatchNormalization, Sigmoid and an exported SiLU (x * sigmoid(x))', async () => {
    const f = new Fixture([1, 2, 6, 6]);
    const c1 = f.conv('x', { cout: 3, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 11 });
    const gamma = [1.5, -0.5, 3];
    const variance = [0.5, 2, 4];
    const bn = f.op('BatchNormalization', [c1, f.constant('g', [3], gamma), f.constant('b', [3], [0.1, 0.2, 0.3]), f.constant('m', [3], [0, 1, -1]), f.constant('v', [3], variance)]);
    const sg = f.op('Sigmoid', [bn]);
    const c2 = f.conv(sg, { cout: 2, cin: 3, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 12, scale: 8 });
    const s2 = f.op('Sigmoid', [c2]);
    const y = f.op('Mul', [c2, s2]);
    const { bytes, summary, layerBounds } = await f.build([y]);
    const nb = networkBound(summary, layerBounds);
    const bnK = Math.max(...gamma.map((g, i) => Math.abs(g) / Math.sqrt(variance[i] + 1e-5)));
    expect(nb.certified).toBe(true);
    expect(rel(nb.bound!, layerBounds[0] * bnK * 0.25 * layerBounds[1] * SILU_CONSTANT)).toBeLessThan(1e-9);
    expect(nb.notes.some((n) => n.includes('SiLU'))).toBe(true);
    await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
  });

  it('exported erf-GELU x*(1+erf(x/sqrt2))*0.5 after a dense layer', async () => {
    const f = new Fixture([1, 6]);
    const d = f.dense('x', 6, 6, 13);
    const e = f.op('Erf', [f.op('Div', [d, f.constant('r2', [], [Math.SQRT2])])]);
    const a = f.op('Add', [e, f.constant('one', [], [1])]);
    const y = f.op('Mul', [f.op('Mul', [d, a]), f.constant('half', [], [0.5])]);
    const { bytes, summary, layerBounds } = await f.build([y]);
    const nb = networkBound(summary, layerBounds);
    expect(nb.certified).toBe(true);
    expect(rel(nb.bound!, layerBounds[0] * GELU_ERF_CONSTANT)).toBeLessThan(1e-12);
    await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
  });

  // x * s clip(a x + b, 0, m) written out (HardSwish in PaddleOCR exports and friends): the walk's
  // constant against float64 secants of the same function, and the whole chain against onnxruntime
  const gates: { name: string; f: (x: number) => number; build: (f: Fixture, d: string) => string }[] = [
    { name: 'x*clip(x+3,0,6)/6', f: (x) => (x * Math.min(6, Math.max(0, x + 3))) / 6, build: (f, d) => f.op('Div', [f.op('Mul', [d, f.op('Clip', [f.op('Add', [d, f.constant('three', [], [3])]), f.constant('zero', [], [0]), f.constant('six', [], [6])])]), f.constant('six2', [], [6])]) },
    { name: 'x*(clip(3+x,0,6)/6)', f: (x) => (x * Math.min(6, Math.max(0, x + 3))) / 6, build: (f, d) => f.op('Mul', [f.op('Div', [f.op('Clip', [f.op('Add', [f.constant('three', [], [3]), d]), f.constant('zero', [], [0]), f.constant('six', [], [6])]), f.constant('six2', [], [6])]), d]) },
    { name: 'x*clip(0.2x+0.5,0,1)', f: (x) => x * Math.min(1, Math.max(0, Math.fround(0.2) * x + 0.5)), build: (f, d) => f.op('Mul', [d, f.op('Clip', [f.op('Add', [f.op('Mul', [d, f.constant('a', [], [0.2])]), f.constant('b', [], [0.5])]), f.constant('zero', [], [0]), f.constant('one', [], [1])])]) },
    { name: 'x*clip((x-1)*2,0,4)', f: (x) => x * Math.min(4, Math.max(0, (x - 1) * 2)), build: (f, d) => f.op('Mul', [d, f.op('Clip', [f.op('Mul', [f.op('Sub', [d, f.constant('one', [], [1])]), f.constant('two', [], [2])]), f.constant('zero', [], [0]), f.constant('four', [], [4])])]) },
  ];
  for (const g of gates)
    it(`written-out clipped gate ${g.name}: the constant is sup |f'| (float64 secants), never below onnxruntime`, async () => {
      const f = new Fixture([1, 6]);
      const d = f.dense('x', 6, 6, 21);
      const { bytes, summary, layerBounds } = await f.build([g.build(f, d)]);
      const nb = networkBound(summary, layerBounds);
      expect(nb.certified, nb.notes.join('; ')).toBe(true);
      const k = nb.bound! / layerBounds[0];
      const brute = secantMax(g.f, -8, 8, 1e-4);
      expect(k).toBeGreaterThanOrEqual(brute);
      expect(k - brute).toBeLessThan(1e-3);
      await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
    });

  it('x*clip(3-x,0,6) (a decreasing gate) is not taken for a clipped gate', async () => {
    const f = new Fixture([1, 6]);
    const d = f.dense('x', 6, 6, 22);
    const y = f.op('Mul', [d, f.op('Clip', [f.op('Sub', [f.constant('three', [], [3]), d]), f.constant('zero', [], [0]), f.constant('six', [], [6])])]);
    const { summary, layerBounds } = await f.build([y]);
    expect(networkBound(summary, layerBounds).certified).toBe(false);
  });

  it('broadcast Add of a runtime tensor (x + GAP(x)) counts the copies: tight bound 2', async () => {
    const f = new Fixture([1, 2, 6, 6]);
    const gap = f.op('GlobalAveragePool', ['x']);
    const y = f.op('Add', ['x', gap]);
    const { bytes, summary, layerBounds } = await f.build([y]);
    const nb = networkBound(summary, layerBounds);
    expect(nb.bound!).toBeCloseTo(1 + Math.sqrt(36) / 6, 12); // 1/sqrt(36) for the mean, sqrt(36) copies
    const emp = await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
    expect(emp).toBeGreaterThan(1.5); // without the copy factor the "bound" 1 + 1/6 would be wrong
    // with shapes unknown the broadcast cannot be excluded: uncertified, not guessed
    const blind = { ...summary, nodes: summary.nodes.map((n) => ({ ...n, inputShapes: n.inputs.map(() => null), outputShapes: n.outputs.map(() => null) })) };
    const nb2 = networkBound(blind, layerBounds);
    expect(nb2.certified).toBe(false);
    expect(nb2.uncertifiedOps).toEqual([`Add (${y})`]);
    expect(nb2.notes.some((n) => n.includes('GlobalAveragePool') && n.includes('unknown'))).toBe(true);
  });

  it('decoder: nearest Resize x2 and reflect Pad count their copies', async () => {
    const f = new Fixture([1, 2, 4, 4]);
    const c1 = f.conv('x', { cout: 2, cin: 2, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], seed: 23 });
    const up = f.op('Resize', [c1, '', f.constant('scales', [4], [1, 1, 2, 2])], {
      mode: attr.s('nearest'), coordinate_transformation_mode: attr.s('asymmetric'), nearest_mode: attr.s('floor'),
    });
    const pad = f.op('Pad', [up, f.intConstant('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1])], { mode: attr.s('reflect') });
    const y = f.conv(pad, { cout: 1, cin: 2, kernel: [3, 3], input: [10, 10], seed: 24 });
    const { bytes, summary, layerBounds } = await f.build([y], 13);
    const nb = networkBound(summary, layerBounds);
    // x2 nearest: 4 copies; reflect pad 1 on 8: an element is copied at most twice per axis -> 4
    expect(rel(nb.bound!, layerBounds[0] * 2 * 2 * layerBounds[1])).toBeLessThan(1e-12);
    await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
    // half_pixel rounding without known lengths: resize.ts's size-free count from the scale (>= the known-length one)
    const blind = {
      ...summary,
      nodes: summary.nodes.map((n) => ({
        ...n,
        attrs: n.op === 'Resize' ? { mode: 'nearest' } : n.attrs,
        inputShapes: n.inputs.map(() => null),
        outputShapes: n.outputs.map(() => null),
      })),
    };
    const nb2 = networkBound(blind, layerBounds);
    expect(nb2.certified).toBe(true);
    expect(nb2.bound!).toBeGreaterThanOrEqual(nb.bound!);
    expect(nb2.notes.some((n) => n.includes('size-free nearest bound'))).toBe(true);
    // scales that are not known constants: refused (out/in may not be the runtime scale)
    const noScales = { ...blind, nodes: blind.nodes.map((n) => (n.op === 'Resize' ? { ...n, constInputs: n.inputs.map(() => null) } : n)) };
    expect(networkBound(noScales, layerBounds).uncertifiedNodes.map((u) => u.op)).toEqual(['Resize']);
  });

  it('linear Resize (bilinear upsampling head): product of per-axis interpolation norms, >= onnxruntime', async () => {
    for (const coord of ['half_pixel', 'align_corners', 'asymmetric']) {
      const f = new Fixture([1, 2, 5, 6]);
      const y = f.op('Resize', ['x', '', f.constant('scales', [4], [1, 1, 2, 1.5])], { mode: attr.s('linear'), coordinate_transformation_mode: attr.s(coord) });
      const { bytes, summary } = await f.build([y], 13);
      const nb = networkBound(summary, []);
      expect(nb.certified, coord).toBe(true);
      const { a, rows, cols } = await explicitOperator(bytes, f.inputShape);
      const exact = largestSingularValue(a, rows, cols);
      expect(nb.bound!).toBeGreaterThanOrEqual(exact * (1 - 1e-6));
      expect(nb.bound!).toBeLessThanOrEqual(exact * 1.01);
    }
  });

  it('two outputs: bound of the joint output is sqrt(L1^2 + L2^2)', async () => {
    const f = new Fixture([1, 2, 6, 6]);
    const c = f.conv('x', { cout: 3, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 14 });
    const y1 = f.op('Relu', [c]);
    const y2 = f.op('GlobalAveragePool', [c]);
    const { bytes, summary, layerBounds } = await f.build([y1, y2]);
    const nb = networkBound(summary, layerBounds);
    const L = layerBounds[0];
    expect(nb.perOutput.map((o) => o.bound)).toEqual([L, L / 6]);
    expect(rel(nb.bound!, Math.sqrt(L * L + (L / 6) ** 2))).toBeLessThan(1e-12);
    expect(nb.notes.some((n) => n.includes('joint output'))).toBe(true);
    await checkAgainstEmpirical(bytes, f.inputShape, nb.bound!);
  });

  it('unknown and non-Lipschitz ops make the bound uncertified, naming them', async () => {
    const f = new Fixture([1, 2, 6, 6]);
    const c = f.conv('x', { cout: 2, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 15 });
    const y1 = f.op('Relu', [c], {}, 'relu_ok');
    const y2 = f.op('Exp', [c], {}, 'exp_bad');
    const y3 = f.op('Mul', [y1, y1], {}, 'square_bad');
    f.op('Log', [y1], {}, 'log_dead'); // reaches no output: must not block certification of what it does not touch
    const { summary, layerBounds } = await f.build([y1, y2, y3]);
    const nb = networkBound(summary, layerBounds);
    expect(nb.certified).toBe(false);
    expect(nb.bound).toBeNull();
    expect(nb.uncertifiedOps).toEqual(['Exp (exp_bad)', 'Mul (square_bad)']);
    expect(nb.uncertifiedNodes[0].reason).toMatch(/not globally Lipschitz/);
    expect(nb.perOutput).toEqual([
      { name: y1, bound: layerBounds[0] },
      { name: y2, bound: null },
      { name: y3, bound: null },
    ]);
    expect(nb.naiveProduct).toBeCloseTo(layerBounds[0], 12);
    // only the certified output: certified, with a note about the dead uncertified node
    const only = networkBound({ ...summary, outputs: [y1] }, layerBounds);
    expect(only.certified).toBe(true);
    expect(only.bound).toBeCloseTo(layerBounds[0], 12);
    expect(only.notes.some((n) => n.includes('do not reach'))).toBe(true);
  });
});

// -----------------------------------------------------------------------------------------------
/** A hand-made node with everything unknown but what is given. */
function g(index: number, op: string, inputs: string[], outputs: string[], extra: Partial<GraphNode> = {}): GraphNode {
  return {
    index,
    name: extra.name ?? `${op}_${index}`,
    op,
    domain: '',
    inputs,
    outputs,
    attrs: {},
    constInputs: inputs.map(() => null),
    constShapes: inputs.map(() => null),
    inputShapes: inputs.map(() => null),
    outputShapes: outputs.map(() => null),
    layerIndex: null,
    absorbedInto: null,
    constant: false,
    ...extra,
  };
}

describe('networkBound on hand-made graph summaries', () => {
  it('a cycle ends uncertified (no hang)', () => {
    const nb = networkBound({ inputs: ['x'], outputs: ['b'], nodes: [g(0, 'Add', ['x', 'b'], ['a']), g(1, 'Relu', ['a'], ['b'])] }, []);
    expect(nb.certified).toBe(false);
    expect(nb.uncertifiedNodes[0].reason).toMatch(/before its producer/);
  });

  it('a data input with no producer and no value is uncertified; a parameter input is not', () => {
    const ghost = networkBound({ inputs: ['x'], outputs: ['y'], nodes: [g(0, 'Add', ['x', 'ghost'], ['y'])] }, []);
    expect(ghost.certified).toBe(false);
    expect(ghost.uncertifiedNodes[0].reason).toMatch(/no producer/);
    const reshape = networkBound({ inputs: ['x'], outputs: ['y'], nodes: [g(0, 'Reshape', ['x', 'shape_init'], ['y'])] }, []);
    expect(reshape.bound).toBe(1);
    const missingOut = networkBound({ inputs: ['x'], outputs: ['nowhere'], nodes: [] }, []);
    expect(missingOut.certified).toBe(false);
  });

  it('constants, Shape paths, absorbed nodes and layers', () => {
    const nodes = [
      g(0, 'Constant', [], ['k'], { constant: true }),
      g(1, 'Shape', ['x'], ['s']),
      g(2, 'Conv', ['x', 'w'], ['c'], { layerIndex: 0, constInputs: [null, new Float32Array(4)] }),
      g(3, 'BatchNormalization', ['c', 'g', 'b', 'm', 'v'], ['bn'], { absorbedInto: 'Conv_2' }),
      g(4, 'Reshape', ['bn', 's'], ['r']),
      g(5, 'Add', ['r', 'k'], ['y'], { constShapes: [null, [1]], constInputs: [null, new Float32Array([3])] }),
    ];
    const nb = networkBound({ inputs: ['x'], outputs: ['y'], nodes }, [2.5]);
    expect(nb.certified).toBe(true);
    expect(nb.bound).toBe(2.5);
    const noLayer = networkBound({ inputs: ['x'], outputs: ['y'], nodes }, [null]);
    expect(noLayer.certified).toBe(false);
    expect(noLayer.naiveProduct).toBeNull();
    expect(noLayer.uncertifiedOps).toEqual(['Conv (Conv_2)']);
  });

  it('Add of two runtime paths with known shapes sums; an unknown domain is refused', () => {
    const sh = [1, 4];
    const nodes = [
      g(0, 'Mul', ['x', 'c3'], ['m'], { constInputs: [null, new Float32Array([-3, 0.5, 1, 2])], constShapes: [null, [4]], inputShapes: [sh, [4]], outputShapes: [sh] }),
      g(1, 'Add', ['x', 'm'], ['y'], { inputShapes: [sh, sh], outputShapes: [sh] }),
      g(2, 'FancyOp', ['y'], ['z'], { domain: 'com.example' }),
    ];
    expect(networkBound({ inputs: ['x'], outputs: ['y'], nodes }, []).bound).toBe(4);
    const custom = networkBound({ inputs: ['x'], outputs: ['z'], nodes }, []);
    expect(custom.uncertifiedOps).toEqual(['FancyOp (FancyOp_2)']);
    expect(custom.uncertifiedNodes[0].reason).toMatch(/com.example/);
  });

  it('the walk rounds upward: a chain of Mul whose float product rounds below the exact product', () => {
    const ks = [1.1, 1.1, 0.7].map(Math.fround); // float32 constants, as in a model
    const nodes = ks.map((k, i) => g(i, 'Mul', [i === 0 ? 'x' : `m${i - 1}`, `k${i}`], [`m${i}`], { constInputs: [null, new Float32Array([k])] }));
    const nb = networkBound({ inputs: ['x'], outputs: ['m2'], nodes }, []);
    const exactProduct = ks.map(exact).reduce(mul);
    const plain = ks.reduce((a, b) => a * b, 1);
    expect(cmp(exact(plain), exactProduct)).toBeLessThan(0); // round-to-nearest lands below the truth
    expect(cmp(exact(nb.bound!), exactProduct)).toBeGreaterThanOrEqual(0);
    expect(nb.bound! / plain - 1).toBeLessThan(1e-15);
  });

  it('Cast to float16 / bfloat16 is certified for real arithmetic, with a note', () => {
    for (const [to, name] of [[10, 'float16'], [16, 'bfloat16']] as const) {
      const nb = networkBound({ inputs: ['x'], outputs: ['y'], nodes: [g(0, 'Cast', ['x'], ['y'], { name: 'to_half', attrs: { to } })] }, []);
      expect(nb.bound).toBe(1);
      expect(nb.notes).toContain(
        `bound is for real arithmetic: the cast to ${name} at 'to_half' rounds (rounding is not Lipschitz; the certified network computes it exactly)`,
      );
    }
    const toFloat = networkBound({ inputs: ['x'], outputs: ['y'], nodes: [g(0, 'Cast', ['x'], ['y'], { attrs: { to: 1 } })] }, []);
    expect(toFloat.notes).toEqual([]);
  });

  it('BatchNormalization in training mode is refused', () => {
    const one = new Float32Array([1]);
    const bn = (training: number) =>
      networkBound({
        inputs: ['x'],
        outputs: ['y'],
        nodes: [g(0, 'BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], { attrs: { training_mode: training }, constInputs: [null, one, one, one, one] })],
      }, []);
    expect(bn(0).certified).toBe(true);
    expect(bn(1).certified).toBe(false);
    expect(bn(1).uncertifiedNodes[0].reason).toMatch(/training mode/);
  });

  it('Reduce* with axes from a tensor that is not a known constant are refused (never "all axes")', () => {
    const sh = [1, 3, 4, 4];
    for (const op of ['ReduceMean', 'ReduceSum', 'ReduceL2', 'ReduceL1', 'ReduceMax']) {
      const nodes = [g(0, op, ['x', 'axes'], ['y'], { inputShapes: [sh, [2]], outputShapes: [[1, 3]] })];
      const nb = networkBound({ inputs: ['x'], outputs: ['y'], nodes }, []);
      expect(nb.certified, op).toBe(false);
      expect(nb.uncertifiedNodes[0].reason).toMatch(/axes are not known constants/);
      // the same with the axes known: certified, over the 16 spatial elements
      const known = networkBound({ inputs: ['x'], outputs: ['y'], nodes: [{ ...nodes[0], constInputs: [null, new Float32Array([2, 3])] }] }, []);
      expect(known.bound, op).toBe({ ReduceMean: 0.25, ReduceSum: 4, ReduceL1: 4 }[op as string] ?? 1);
    }
    // opset 18 without the axes input: all axes (and the identity with noop_with_empty_axes)
    const all = (attrs: Record<string, number>) =>
      networkBound({ inputs: ['x'], outputs: ['y'], nodes: [g(0, 'ReduceSum', ['x'], ['y'], { attrs, inputShapes: [sh] })] }, []).bound;
    const b = exact(all({})!);
    expect(cmp(mul(b, b), exact(48))).toBeGreaterThanOrEqual(0); // sqrt(48), rounded up
    expect(all({})! / Math.sqrt(48) - 1).toBeLessThan(1e-15);
    expect(all({ noop_with_empty_axes: 1 })).toBe(1);
  });

  it('MaxPool indices output, Dropout in training mode and Gather with runtime indices are refused', () => {
    const nodes = [
      g(0, 'MaxPool', ['x'], ['p', 'idx'], { attrs: { kernel_shape: [2, 2], strides: [2, 2] } }),
      g(1, 'Dropout', ['p', 'ratio', 'train'], ['d'], { constInputs: [null, new Float32Array([0.5]), new Float32Array([1])] }),
      g(2, 'Gather', ['x', 'idx'], ['gg']),
    ];
    const nb = networkBound({ inputs: ['x'], outputs: ['p', 'd', 'gg'], nodes }, []);
    expect(nb.perOutput[0].bound).toBe(1);
    expect(nb.uncertifiedOps).toEqual(['MaxPool (MaxPool_0)', 'Dropout (Dropout_1)']);
  });
});
