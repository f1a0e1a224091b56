// The network walk with symbolic (input-size-dependent) dims: every certified bound must hold at
// every input size, so it is checked against onnxruntime-measured lower bounds of the same model
// run at several real sizes; ops whose constant grows without bound in the size are refused.
import { describe, expect, it } from 'vitest';
import { attr } from '../src/onnx/build.js';
import type { GraphSummary } from '../src/model/graph.js';
import { networkBound } from '../src/network/walk.js';
import { empiricalLipschitz, explicitOperator } from './helpers/empirical.js';
import { largestSingularValue } from './helpers/exact.js';
import { Fixture } from './helpers/network-fixture.js';

const EMPIRICAL = { pairs: 48, steps: 10, seed: 29 };
/**
 * Float32 rounding of the measured ratio: a difference of two float32 outputs is off by up to
 * 2^-24 |y| each, and perturbations are >= 1e-2 of |x|, so about 1e2 * 6e-8 = 6e-6 relative.
 */
const FLOAT_SLACK = 6e-6;
const C = 2;
/** Real sizes the bound must hold at; 9x13 (non-square) keeps H and W distinct symbols. */
const SIZES = [[1, C, 8, 8], [1, C, 32, 32], [1, C, 64, 64]];
const DERIVE = [[1, C, 9, 13], ...SIZES.slice(1)];

/** Builds the model at 8x8 with symbolic spatial dims, checks it is certified and holds at every size in SIZES. */
async function certifiedAtEverySize(f: Fixture, outputs: string[], opset = 17) {
  const { bytes, summary, layerBounds } = await f.build(outputs, opset, DERIVE);
  const nb = networkBound(summary, layerBounds);
  expect(nb.uncertifiedNodes).toEqual([]);
  const emp: number[] = [];
  for (const shape of SIZES) {
    const e = await empiricalLipschitz(bytes, shape, EMPIRICAL);
    expect(nb.bound!).toBeGreaterThanOrEqual(e * (1 - FLOAT_SLACK));
    emp.push(e);
  }
  return { bound: nb.bound!, emp, bytes, layerBounds, notes: nb.notes };
}

describe('symbolic spatial dims: certified bounds hold at every input size', () => {
  it('the fixture gives spatial dims symbols, the rest stays concrete', async () => {
    const f = new Fixture([1, C, 8, 8]);
    const y = f.op('Relu', ['x']);
    const { summary } = await f.build([y], 17, DERIVE);
    const [h, w] = summary.nodes[0].outputShapes[0]!.slice(2);
    expect(summary.nodes[0].outputShapes[0]!.slice(0, 2)).toEqual([1, C]);
    expect(h).toBeLessThan(0);
    expect(w).toBeLessThan(0);
    expect(h).not.toBe(w);
    expect(summary.inputSizeAssumed).toBe(true);
  });

  it('GlobalAveragePool: 1 for every size (the bound at an assumed 224x224 is ~1/7 of the truth at 32x32)', async () => {
    const f = new Fixture([1, C, 8, 8]);
    const y = f.op('Flatten', [f.op('GlobalAveragePool', ['x'], {}, 'gap')]);
    const r = await certifiedAtEverySize(f, [y]);
    expect(r.bound).toBe(1);
    // the truth at 32x32 (exact norm of the operator measured through onnxruntime): 1/32
    const { a, rows, cols } = await explicitOperator(r.bytes, [1, C, 32, 32]);
    const truth32 = largestSingularValue(a, rows, cols);
    expect(truth32).toBeCloseTo(1 / 32, 6);
    expect(r.bound).toBeGreaterThanOrEqual(truth32);
    // what a guessed 224x224 gives: 1/224 = 1/7 of the truth at 32x32
    const f224 = new Fixture([1, C, 224, 224]);
    const y224 = f224.op('Flatten', [f224.op('GlobalAveragePool', ['x'])]);
    const guessed = networkBound((await f224.build([y224])).summary, []).bound!;
    expect(guessed).toBeCloseTo(1 / 224, 15);
    expect(guessed).toBeLessThan(truth32 / 6.9);
    expect(r.notes.some((n) => n.startsWith('input size assumed') && n.includes("GlobalAveragePool 'gap'"))).toBe(true);
  });

  it('GlobalAveragePool with only the batch symbolic still uses 1/sqrt(HW)', async () => {
    const f = new Fixture([1, C, 8, 8]);
    const y = f.op('Flatten', [f.op('GlobalAveragePool', ['x'])]);
    const { summary } = await f.build([y], 17, [[2, C, 8, 8]]);
    expect(summary.nodes[0].inputShapes[0]![0]).toBeLessThan(0);
    expect(networkBound(summary, []).bound).toBe(1 / 8);
  });

  it('ReduceMean over the spatial axes: 1; ReduceSum there: refused (needs a size)', async () => {
    const f = new Fixture([1, C, 8, 8]);
    const y = f.op('ReduceMean', ['x'], { axes: attr.ints([2, 3]), keepdims: attr.i(0) }, 'rmean');
    const r = await certifiedAtEverySize(f, [y], 13);
    expect(r.bound).toBe(1);
    const s = new Fixture([1, C, 8, 8]);
    const z = s.op('ReduceSum', ['x', s.intConstant('axes', [2], [2, 3])], { keepdims: attr.i(0) }, 'rsum');
    const nb = networkBound((await s.build([z], 13, DERIVE)).summary, []);
    expect(nb.certified).toBe(false);
    expect(nb.uncertifiedNodes[0].reason).toMatch(/needs an input size/);
  });

  it('AveragePool (padded, strided, with and without count_include_pad): the window-count bound', async () => {
    for (const cip of [0, 1]) {
      const f = new Fixture([1, C, 8, 8]);
      const y = f.op('AveragePool', ['x'], {
        kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.i(cip),
      });
      const r = await certifiedAtEverySize(f, [y]);
      expect(r.bound).toBeCloseTo(2, 14); // sqrt(2) per axis: an element lies in at most 2 windows
    }
  });

  it('bias Add x[N,C,H,W] + b[C,1,1] is certified (1); a runtime input broadcast over H, W is refused', async () => {
    const f = new Fixture([1, C, 8, 8]);
    const y = f.op('Add', ['x', f.constant('bias', [C, 1, 1], [0.5, -2])]);
    const r = await certifiedAtEverySize(f, [y]);
    expect(r.bound).toBe(1);
    const g = new Fixture([1, C, 8, 8]);
    const z = g.op('Add', ['x', g.op('GlobalAveragePool', ['x'])], {}, 'add_gap');
    const nb = networkBound((await g.build([z], 17, DERIVE)).summary, []);
    expect(nb.uncertifiedOps).toEqual(['Add (add_gap)']);
    expect(nb.uncertifiedNodes[0].reason).toMatch(/depends on the input size/);
  });

  it('Pad edge and reflect: the largest copy count over every length', async () => {
    for (const mode of ['edge', 'reflect']) {
      const f = new Fixture([1, C, 8, 8]);
      const y = f.op('Pad', ['x', f.intConstant('pads', [8], [0, 0, 1, 2, 0, 0, 2, 1])], { mode: attr.s(mode) }, 'pad');
      const r = await certifiedAtEverySize(f, [y], 13);
      // a length-1 axis padded by 1 + 2 holds its element 4 times: sqrt(4 * 4)
      expect(r.bound).toBe(4);
      expect(r.notes.some((n) => n.includes("Pad 'pad'"))).toBe(true);
    }
  });

  it('Resize nearest and linear x2: the size-free per-axis bounds of resize.ts', async () => {
    for (const [mode, coord] of [['nearest', 'half_pixel'], ['linear', 'half_pixel'], ['linear', 'align_corners']]) {
      const f = new Fixture([1, C, 8, 8]);
      const y = f.op('Resize', ['x', '', f.constant('scales', [4], [1, 1, 2, 2])], { mode: attr.s(mode), coordinate_transformation_mode: attr.s(coord) }, 'up');
      const r = await certifiedAtEverySize(f, [y], 13);
      expect(r.notes.some((n) => n.includes("Resize 'up'") && n.includes('size-free'))).toBe(true);
      if (mode === 'nearest') expect(r.bound).toBe(2); // 2 copies per axis
    }
  });

  it('a small network: bias, scale, pooling, GAP and a dense head', async () => {
    const f = new Fixture([1, C, 8, 8]);
    const b = f.op('Add', ['x', f.constant('bias', [C, 1, 1], [0.1, 0.2])]);
    const m = f.op('Mul', [b, f.constant('k', [1, C, 1, 1], [1.5, -0.5])]);
    const p = f.op('MaxPool', [f.op('Relu', [m])], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
    const g = f.op('Flatten', [f.op('GlobalAveragePool', [p])]);
    const y = f.dense(g, 3, C, 5);
    const r = await certifiedAtEverySize(f, [y]);
    expect(r.bound).toBeCloseTo(1.5 * r.layerBounds[0], 14);
  });
});

describe('symbolic dims on hand-edited summaries', () => {
  /** Replaces the input's spatial length 4 (axes 2, 3 of rank-4 shapes) by symbols -1 (H) / -2 (W). */
  const symbolize = (s: GraphSummary): GraphSummary => {
    const sym = (sh: number[] | null) => (sh && sh.length === 4 ? sh.map((d, a) => (a >= 2 && d === 4 ? 1 - a : d)) : sh);
    return { ...s, inputSizeAssumed: true, nodes: s.nodes.map((n) => ({ ...n, inputShapes: n.inputShapes.map(sym), outputShapes: n.outputShapes.map(sym) })) };
  };

  it('LogSoftmax and Expand along a symbolic axis are refused, naming the op', async () => {
    const f = new Fixture([1, C, 4, 4]);
    const y = f.op('LogSoftmax', ['x'], { axis: attr.i(-1) }, 'lsm');
    const e = f.op('Expand', [f.op('ReduceMax', ['x'], { axes: attr.ints([3]), keepdims: attr.i(1) }), f.intConstant('shape', [4], [1, C, 4, 4])], {}, 'expand');
    const { summary } = await f.build([y, e], 13);
    const concrete = networkBound(summary, []);
    expect(concrete.certified).toBe(true);
    const nb = networkBound(symbolize(summary), []);
    expect(nb.uncertifiedOps).toEqual(['LogSoftmax (lsm)', 'Expand (expand)']);
    expect(nb.uncertifiedNodes.every((u) => /needs an input size/.test(u.reason))).toBe(true);
  });

  it('Gather with a negative index on a symbolic axis: the count valid for every length', async () => {
    const f = new Fixture([1, C, 4, 4]);
    const y = f.op('Gather', ['x', f.intConstant('idx', [3], [0, -4, 1])], { axis: attr.i(3) }, 'gather');
    const { summary } = await f.build([y], 13);
    // sqrt(2) rounded up: at least the float Math.SQRT2 (which is above sqrt 2), within 1e-15
    const isSqrt2 = (b: number | null) => b! >= Math.SQRT2 && b! < Math.SQRT2 * (1 + 1e-15);
    expect(isSqrt2(networkBound(summary, []).bound)).toBe(true); // -4 is 0 at length 4: two copies
    const nb = networkBound(symbolize(summary), []);
    expect(isSqrt2(nb.bound)).toBe(true); // -4 may alias 0 or 1, never both
    expect(nb.notes.some((n) => n.includes("Gather 'gather'"))).toBe(true);
  });
});
