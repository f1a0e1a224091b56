// Exact merges of linear layers and per-block ReLU averaging (src/network/merge.ts, blocks.ts):
// merged operators against the explicit product of the layers' matrices and against onnxruntime's
// own outputs; whole-block bounds never above the plain walk's and never below an onnxruntime
// measurement, on the block kinds real CNNs are made of.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditModel } from '../src/audit.js';
import { boundLayer } from '../src/layer/engine.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../src/layer/types.js';
import type { ConvLayer, DenseLayer } from '../src/model/layer.js';
import { addShortcut, compose, compressEnd, fromLayer, toLayer } from '../src/network/merge.js';
import { findBlocks, refineBlocks } from '../src/network/blocks.js';
import { loadModel } from '../src/onnx/load.js';
import { attr, buildModel, floatTensor, node, valueInfo, type NodeObj, type TensorObj } from '../src/onnx/build.js';
import { normalArray } from '../src/util/random.js';
import { empiricalLipschitz, explicitOperator } from './helpers/empirical.js';
import { explicitMatrix, largestSingularValue, makeConv, makeDense, matMul, type ConvSpec } from './helpers/exact.js';
import { tempDir } from './helpers/tmp.js';

const ENGINE: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, methods: ['toeplitz', 'spectral', 'frobenius'] };
/** Float32 rounding of a measured ratio (outputs are float32; perturbations >= 1e-2 relative). */
const FLOAT_SLACK = 6e-6;

/** The merged layer with its shapes set from the first layer's input (as the walk has them). */
function withShapes(merged: ConvLayer | DenseLayer, input: number[], output: number[]): ConvLayer | DenseLayer {
  return { ...merged, inputShape: input, outputShape: output } as ConvLayer | DenseLayer;
}

async function certified(layer: ConvLayer | DenseLayer): Promise<number> {
  const b = await boundLayer(layer, ENGINE);
  return b.best!;
}

/** Rows of `big` (channels x spatial, spatial dims `bigSp`) at the positions of `small` (dims `smallSp`), same channels. */
function restrictRows(big: Float64Array, cols: number, channels: number, bigSp: number[], smallSp: number[]): Float64Array {
  const nSmall = smallSp.reduce((a, b) => a * b, 1);
  const nBig = bigSp.reduce((a, b) => a * b, 1);
  const out = new Float64Array(channels * nSmall * cols);
  for (let c = 0; c < channels; c++)
    for (let p = 0; p < nSmall; p++) {
      const idx = smallSp.length === 2 ? Math.floor(p / smallSp[1]) * bigSp[1] + (p % smallSp[1]) : p;
      out.set(big.subarray((c * nBig + idx) * cols, (c * nBig + idx + 1) * cols), (c * nSmall + p) * cols);
    }
  return out;
}

describe('exact merges of linear layers', () => {
  const cases: { name: string; first: ConvSpec; second: ConvSpec }[] = [
    { name: '1x1 after 3x3 (pad 1)', first: { cout: 6, cin: 4, kernel: [3, 3], input: [7, 7], pads: [1, 1, 1, 1], seed: 1 }, second: { cout: 5, cin: 6, kernel: [1, 1], input: [7, 7], seed: 2 } },
    { name: '1x1 after a strided dilated 3x3 with asymmetric pads', first: { cout: 6, cin: 4, kernel: [3, 3], input: [9, 8], strides: [2, 1], dilations: [1, 2], pads: [2, 1, 0, 3], seed: 3 }, second: { cout: 3, cin: 6, kernel: [1, 1], input: [5, 8], seed: 4 } },
    { name: '1x1 stride 2 after a depthwise 3x3 (BlazeFace-style)', first: { cout: 6, cin: 6, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], group: 6, seed: 5 }, second: { cout: 4, cin: 6, kernel: [1, 1], input: [8, 8], strides: [2, 2], seed: 6 } },
    { name: '3x3 after a 1x1 (expand then depthwise)', first: { cout: 6, cin: 3, kernel: [1, 1], input: [6, 6], seed: 7 }, second: { cout: 6, cin: 6, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], group: 6, seed: 8 } },
    { name: '3x3 stride 2 after a 1x1 stride 2', first: { cout: 5, cin: 3, kernel: [1, 1], input: [9, 9], strides: [2, 2], seed: 9 }, second: { cout: 4, cin: 5, kernel: [3, 3], input: [5, 5], strides: [2, 2], pads: [1, 0, 1, 1], seed: 10 } },
    { name: '1-D: k5 after a 1x1', first: { cout: 4, cin: 3, kernel: [1], input: [11], seed: 11 }, second: { cout: 2, cin: 4, kernel: [5], input: [11], pads: [2, 2], seed: 12 } },
  ];
  it.each(cases)('$name: merged matrix = product of the layers\' matrices; certified norm >= its exact norm', async ({ first, second }) => {
    const a = makeConv(first);
    const b = makeConv(second);
    const ea = explicitMatrix(a);
    const eb = explicitMatrix(b);
    expect(eb.cols).toBe(ea.rows);
    const product = matMul(eb.a, eb.rows, eb.cols, ea.a, ea.cols);
    const k = await compose(fromLayer(a)!, fromLayer(b)!);
    expect(k).not.toBeNull();
    const merged = toLayer(k!, 'merged') as ConvLayer;
    // the merged conv may compute extra output rows (never fewer): compare the real ones
    const nd = merged.spatialDims;
    const outSp = a.inputShape!.slice(1).map((len, i) => Math.floor((len + merged.pads[i] + merged.pads[i + nd] - (merged.dilations[i] * (merged.weightShape[2 + i] - 1) + 1)) / merged.strides[i]) + 1);
    const m = explicitMatrix(withShapes(merged, a.inputShape!, [b.outputShape![0], ...outSp]));
    const trueSp = b.outputShape!.slice(1);
    expect(outSp.every((d, i) => d >= trueSp[i])).toBe(true);
    const rows = restrictRows(m.a, m.cols, b.outputShape![0], outSp, trueSp);
    let maxDiff = 0;
    let scale = 0;
    for (let i = 0; i < product.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(rows[i] - product[i]));
      scale = Math.max(scale, Math.abs(product[i]));
    }
    expect(maxDiff).toBeLessThanOrEqual(scale * 1e-6); // float32 storage of the merged weights
    const exact = largestSingularValue(product, eb.rows, ea.cols);
    const bound = await certified(withShapes(merged, a.inputShape!, [b.outputShape![0], ...outSp]));
    expect(bound).toBeGreaterThanOrEqual(exact);
    expect(bound).toBeLessThanOrEqual(exact * 1.15); // tightness (grid or torus route), not a soundness property
  });

  it('kxk after kxk is not merged (the zero padding between them is not a convolution)', async () => {
    const a = makeConv({ cout: 4, cin: 4, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1] });
    expect(await compose(fromLayer(a)!, fromLayer(a)!)).toBeNull();
  });

  it('dense after dense: the matrix product, certified >= its exact norm', async () => {
    const a = makeDense(12, 9, 1);
    const b = makeDense(5, 12, 2);
    const product = matMul(Float64Array.from(b.weight), 5, 12, Float64Array.from(a.weight), 9);
    const merged = toLayer((await compose(fromLayer(a)!, fromLayer(b)!))!, 'merged') as DenseLayer;
    expect(merged.weightShape).toEqual([5, 9]);
    expect(await certified(merged)).toBeGreaterThanOrEqual(largestSingularValue(product, 5, 9));
  });

  it('residual: identity and a strided 1x1 shortcut add at the aligned tap (checked against onnxruntime: y(x) - y(0) = A x)', async () => {
    for (const stride of [1, 2]) {
      const cin = 4;
      const cout = stride === 1 ? 4 : 6;
      const c1 = makeConv({ cout: 5, cin, kernel: [1, 1], input: [6, 6], seed: 21 });
      const c2 = makeConv({ cout, cin: 5, kernel: [3, 3], input: [6, 6], strides: [stride, stride], pads: [1, 1, 1, 1], seed: 22 });
      const sc = stride === 1 ? null : makeConv({ cout, cin, kernel: [1, 1], input: [6, 6], strides: [2, 2], seed: 23 });
      const nodes: NodeObj[] = [
        node('Conv', ['x', 'w1'], ['a'], { kernel_shape: attr.ints([1, 1]) }),
        node('Conv', ['a', 'w2'], ['b'], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([stride, stride]) }),
        ...(sc ? [node('Conv', ['x', 'ws'], ['s'], { kernel_shape: attr.ints([1, 1]), strides: attr.ints([2, 2]) })] : []),
        node('Add', ['b', sc ? 's' : 'x'], ['y']),
      ];
      const inits: TensorObj[] = [floatTensor('w1', c1.weightShape, c1.weight), floatTensor('w2', c2.weightShape, c2.weight), ...(sc ? [floatTensor('ws', sc.weightShape, sc.weight)] : [])];
      const bytes = buildModel({ nodes, initializers: inits, inputs: [valueInfo('x', ['N', cin, 6, 6])], outputs: [valueInfo('y', null)] });
      const ort = await explicitOperator(bytes, [1, cin, 6, 6]);
      const branch = (await compose(fromLayer(c1)!, fromLayer(c2)!))!;
      const outShape = c2.outputShape!;
      const sum = addShortcut(branch, 1, sc ? fromLayer(sc) : null, { branch: [1, ...outShape], shortcut: [1, ...outShape] });
      expect(sum).not.toBeNull();
      const merged = withShapes(toLayer(sum!, 'merged')!, c1.inputShape!, outShape);
      const m = explicitMatrix(merged);
      expect([m.rows, m.cols]).toEqual([ort.rows, ort.cols]);
      let maxDiff = 0;
      for (let i = 0; i < m.a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(m.a[i] - ort.a[i]));
      expect(maxDiff).toBeLessThan(1e-5);
      expect(await certified(merged)).toBeGreaterThanOrEqual(largestSingularValue(ort.a, ort.rows, ort.cols) * (1 - 1e-6));
    }
  });

  it('a shortcut that does not align (branch pads shifted) is not merged', () => {
    const c = makeConv({ cout: 4, cin: 4, kernel: [3, 3], input: [6, 6], pads: [2, 0, 0, 2] });
    expect(addShortcut(fromLayer(c)!, 1, null, { branch: [1, 4, 6, 6], shortcut: [1, 4, 6, 6] })).not.toBeNull(); // tap (2, 0) aligns
    const odd = makeConv({ cout: 4, cin: 4, kernel: [2, 2], input: [6, 6], pads: [0, 3, 1, 0] });
    expect(addShortcut(fromLayer(odd)!, 1, null, { branch: [1, 4, 6, 6], shortcut: [1, 4, 6, 6] })).toBeNull(); // pad 3 >= kernel 2
  });
});

describe('compressed runs: a wide 1x1 at the input end, a tall one at the output end, replaced by Gram roots', () => {
  const chains: { name: string; specs: ConvSpec[] }[] = [
    { name: 'bottleneck 1x1 (10->3), 3x3, 1x1 (3->10)', specs: [
      { cout: 3, cin: 10, kernel: [1, 1], input: [5, 5], seed: 31 },
      { cout: 3, cin: 3, kernel: [3, 3], input: [5, 5], pads: [1, 1, 1, 1], seed: 32 },
      { cout: 10, cin: 3, kernel: [1, 1], input: [5, 5], seed: 33 },
    ] },
    { name: 'downsampling: 1x1 stride 2 (9->4), 3x3 stride 2, 1x1 (4->7)', specs: [
      { cout: 4, cin: 9, kernel: [1, 1], input: [9, 9], strides: [2, 2], seed: 34 },
      { cout: 4, cin: 4, kernel: [3, 3], input: [5, 5], strides: [2, 2], pads: [1, 1, 1, 1], seed: 35 },
      { cout: 7, cin: 4, kernel: [1, 1], input: [3, 3], seed: 36 },
    ] },
    { name: '3x3 then a tall strided 1x1 (2 -> 8)', specs: [
      { cout: 2, cin: 5, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 37 },
      { cout: 8, cin: 2, kernel: [1, 1], input: [6, 6], strides: [2, 2], seed: 38 },
    ] },
  ];
  it.each(chains)('$name: the compressed operator has the run\'s exact norm; the certified bound is >= it', async ({ specs }) => {
    const layers = specs.map((s) => makeConv(s));
    let product: { a: Float64Array; rows: number; cols: number } | null = null;
    for (const l of layers) {
      const e = explicitMatrix(l);
      product = product === null ? e : { a: matMul(e.a, e.rows, e.cols, product.a, product.cols), rows: e.rows, cols: product.cols };
    }
    const exact = largestSingularValue(product!.a, product!.rows, product!.cols);
    const ends = await Promise.all(layers.map(async (l, i) => {
      const d = fromLayer(l)!;
      if (i === 0) return (await compressEnd(d, 'input')) ?? d;
      return i === layers.length - 1 ? (await compressEnd(d, 'output')) ?? d : d;
    }));
    let k = ends[0];
    for (const d of ends.slice(1)) k = (await compose(k, d))!;
    const merged = toLayer(k, 'compressed') as ConvLayer;
    // fewer channels on each compressed side
    expect(merged.weightShape[0]).toBeLessThan(layers[layers.length - 1].weightShape[0]);
    if (layers[0].weightShape[2] === 1) expect(merged.weightShape[1]).toBeLessThan(layers[0].weightShape[1]);
    const nd = merged.spatialDims;
    const input = [merged.weightShape[1], ...layers[0].inputShape!.slice(1)];
    const outSp = input.slice(1).map((len, i) => Math.floor((len + merged.pads[i] + merged.pads[i + nd] - (merged.dilations[i] * (merged.weightShape[2 + i] - 1) + 1)) / merged.strides[i]) + 1);
    const shaped = withShapes(merged, input, [merged.weightShape[0], ...outSp]);
    const m = explicitMatrix(shaped);
    const trueSp = layers[layers.length - 1].outputShape!.slice(1);
    const real = restrictRows(m.a, m.cols, merged.weightShape[0], outSp, trueSp);
    // the same norm (float32 storage of the merged weights: ~1e-7 relative)
    const compressedNorm = largestSingularValue(real, merged.weightShape[0] * trueSp.reduce((a, b) => a * b, 1), m.cols);
    expect(Math.abs(compressedNorm - exact)).toBeLessThanOrEqual(exact * 1e-6);
    const bound = await certified(shaped);
    expect(bound).toBeGreaterThanOrEqual(exact);
    expect(bound).toBeLessThanOrEqual(exact * 1.15); // the route's own slack, as for uncompressed merges
  });

  it('dense: a wide then a tall matrix become two 4 x 4 roots; norm kept', async () => {
    const a = makeDense(4, 12, 41);
    const b = makeDense(12, 4, 42);
    const product = matMul(Float64Array.from(b.weight), 12, 4, Float64Array.from(a.weight), 12);
    const k = (await compose((await compressEnd(fromLayer(a)!, 'input'))!, (await compressEnd(fromLayer(b)!, 'output'))!))!;
    const merged = toLayer(k, 'compressed') as DenseLayer;
    expect(merged.weightShape).toEqual([4, 4]);
    const exact = largestSingularValue(product, 12, 12);
    expect(Math.abs(largestSingularValue(Float64Array.from(merged.weight), 4, 4) - exact)).toBeLessThanOrEqual(exact * 1e-6);
    expect(await certified(merged)).toBeGreaterThanOrEqual(exact);
  });

  it('is not applied where it would not shrink anything (a tall map at the input end, a 3x3, a padded 1x1)', async () => {
    expect(await compressEnd(fromLayer(makeConv({ cout: 8, cin: 3, kernel: [1, 1], input: [4, 4] }))!, 'input')).toBeNull();
    expect(await compressEnd(fromLayer(makeConv({ cout: 2, cin: 8, kernel: [3, 3], input: [4, 4] }))!, 'input')).toBeNull();
    expect(await compressEnd(fromLayer(makeConv({ cout: 2, cin: 8, kernel: [1, 1], input: [4, 4], pads: [1, 1, 1, 1] }))!, 'input')).toBeNull();
    expect(await compressEnd(fromLayer(makeConv({ cout: 2, cin: 8, kernel: [1, 1], input: [4, 4] }))!, 'output')).toBeNull();
  });
});

// ------------------------------------------------------------------ whole blocks

const he = (n: number, fanIn: number, seed: number) => Float32Array.from(normalArray(n, seed), (v) => v * Math.sqrt(2 / fanIn));

class Net {
  nodes: NodeObj[] = [];
  inits: TensorObj[] = [];
  private k = 0;
  conv(x: string, cin: number, cout: number, k: number, o: { stride?: number; group?: number; seed: number }): string {
    const w = `w${this.k}`;
    const y = `t${this.k++}`;
    const g = o.group ?? 1;
    this.inits.push(floatTensor(w, [cout, cin / g, k, k], he((cout * cin * k * k) / g, (cin / g) * k * k, o.seed)));
    const p = k >> 1;
    this.nodes.push(node('Conv', [x, w], [y], { kernel_shape: attr.ints([k, k]), pads: attr.ints([p, p, p, p]), strides: attr.ints([o.stride ?? 1, o.stride ?? 1]), group: attr.i(g) }, y));
    return y;
  }
  gemm(x: string, cin: number, cout: number, seed: number): string {
    const w = `w${this.k}`;
    const y = `t${this.k++}`;
    this.inits.push(floatTensor(w, [cout, cin], he(cout * cin, cin, seed)));
    this.nodes.push(node('Gemm', [x, w], [y], { transB: attr.i(1) }, y));
    return y;
  }
  op(op: string, inputs: string[], attrs: Record<string, ReturnType<typeof attr.f>> = {}): string {
    const y = `t${this.k++}`;
    this.nodes.push(node(op, inputs, [y], attrs, y));
    return y;
  }
  relu6(x: string): string {
    const lo = `c${this.k}lo`;
    const hi = `c${this.k}hi`;
    this.inits.push(floatTensor(lo, [], [0]), floatTensor(hi, [], [6]));
    return this.op('Clip', [x, lo, hi]);
  }
  file(out: string, inputDims: number[]): { file: string; bytes: Uint8Array; shape: number[] } {
    const bytes = buildModel({ nodes: this.nodes, initializers: this.inits, inputs: [valueInfo('x', ['N', ...inputDims.slice(1)])], outputs: [valueInfo(out, null)] });
    const dir = tempDir('lipcheck-blocks');
    const file = path.join(dir, 'm.onnx');
    // a declared input size, so the loader and the torus route know it
    writeFileSync(file, buildModel({ nodes: this.nodes, initializers: this.inits, inputs: [valueInfo('x', inputDims)], outputs: [valueInfo(out, null)] }));
    return { file, bytes, shape: inputDims };
  }
}

const BLOCKS: { name: string; improves: boolean; make: () => { file: string; bytes: Uint8Array; shape: number[] } }[] = [
  { name: 'bottleneck (1x1, 3x3, 1x1, identity)', improves: true, make: () => {
    const n = new Net();
    const a = n.op('Relu', [n.conv('x', 16, 8, 1, { seed: 1 })]);
    const b = n.op('Relu', [n.conv(a, 8, 8, 3, { seed: 2 })]);
    const c = n.conv(b, 8, 16, 1, { seed: 3 });
    return n.file(n.op('Relu', [n.op('Add', [c, 'x'])]), [1, 16, 6, 6]);
  } },
  { name: 'strided bottleneck with a 1x1 projection shortcut, two blocks', improves: true, make: () => {
    const n = new Net();
    const a = n.op('Relu', [n.conv('x', 8, 8, 1, { seed: 4 })]);
    const b = n.op('Relu', [n.conv(a, 8, 8, 3, { stride: 2, seed: 5 })]);
    const c = n.conv(b, 8, 16, 1, { seed: 6 });
    const s = n.conv('x', 8, 16, 1, { stride: 2, seed: 7 });
    const y = n.op('Relu', [n.op('Add', [c, s])]);
    const d = n.op('Relu', [n.conv(y, 16, 8, 1, { seed: 8 })]);
    const e = n.op('Relu', [n.conv(d, 8, 8, 3, { seed: 9 })]);
    return n.file(n.op('Relu', [n.op('Add', [y, n.conv(e, 8, 16, 1, { seed: 10 })])]), [1, 8, 8, 8]);
  } },
  { name: 'basic block (3x3, 3x3, identity: through the zero padding)', improves: true, make: () => {
    const n = new Net();
    const a = n.op('Relu', [n.conv('x', 6, 6, 3, { seed: 11 })]);
    return n.file(n.op('Relu', [n.op('Add', [n.conv(a, 6, 6, 3, { seed: 12 }), 'x'])]), [1, 6, 6, 6]);
  } },
  { name: 'downsampling basic block (3x3 stride 2, 3x3, 1x1 stride-2 shortcut at the 7x7 centre tap)', improves: true, make: () => {
    const n = new Net();
    const a = n.op('Relu', [n.conv('x', 4, 8, 3, { stride: 2, seed: 21 })]);
    const s = n.conv('x', 4, 8, 1, { stride: 2, seed: 22 });
    return n.file(n.op('Relu', [n.op('Add', [n.conv(a, 8, 8, 3, { seed: 23 }), s])]), [1, 4, 8, 7]);
  } },
  { name: 'VGG-style chain (3x3, ReLU, 3x3, ReLU, dense)', improves: true, make: () => {
    const n = new Net();
    const a = n.op('Relu', [n.conv('x', 3, 6, 3, { seed: 24 })]);
    const b = n.op('Relu', [n.conv(a, 6, 6, 3, { seed: 25 })]);
    return n.file(n.gemm(n.op('Flatten', [b]), 6 * 5 * 5, 4, 26), [1, 3, 5, 5]);
  } },
  { name: 'MobileNetV2 inverted residual (ReLU6, depthwise)', improves: true, make: () => {
    const n = new Net();
    const a = n.relu6(n.conv('x', 8, 24, 1, { seed: 13 }));
    const b = n.relu6(n.conv(a, 24, 24, 3, { group: 24, seed: 14 }));
    return n.file(n.op('Add', [n.conv(b, 24, 8, 1, { seed: 15 }), 'x']), [1, 8, 6, 6]);
  } },
  { name: 'depthwise + pointwise linear residual', improves: true, make: () => {
    const n = new Net();
    const a = n.conv('x', 8, 8, 3, { group: 8, seed: 16 });
    return n.file(n.op('Relu', [n.op('Add', [n.conv(a, 8, 8, 1, { seed: 17 }), 'x'])]), [1, 8, 6, 6]);
  } },
  { name: 'dense head (Gemm, ReLU, Gemm, ReLU, Gemm)', improves: true, make: () => {
    const n = new Net();
    const a = n.op('Relu', [n.gemm('x', 24, 32, 18)]);
    const b = n.op('Relu', [n.gemm(a, 32, 32, 19)]);
    return n.file(n.gemm(b, 32, 10, 20), [1, 24]);
  } },
];

describe('network bound with exact merges and ReLU averaging', () => {
  it.each(BLOCKS)('$name: <= the plain walk, >= the onnxruntime-measured ratio', async ({ make, improves }) => {
    const m = make();
    const run = (networkMethod: 'graph' | 'averaging') => auditModel({ file: m.file, cwd: '/', engine: ENGINE, networkMethod });
    const [plain, refined] = [await run('graph'), await run('averaging')];
    const g = plain.network!;
    const r = refined.network!;
    expect(g.certified && r.certified).toBe(true);
    expect(r.graphBound).toBe(g.bound);
    expect(r.bound!).toBeLessThanOrEqual(g.bound!);
    if (improves) {
      expect(r.bound!).toBeLessThan(g.bound! * 0.999);
      expect(r.method).not.toBe('graph');
      expect(r.blocks.length).toBeGreaterThan(0);
    } else expect(r.method).toBe('graph');
    const empirical = await empiricalLipschitz(m.bytes, m.shape, { pairs: 24, steps: 30, seed: 3 });
    expect(r.bound!).toBeGreaterThanOrEqual(empirical * (1 - FLOAT_SLACK));
  });
});

describe('activations in front of zero padding', () => {
  it('a LeakyReLU between two padded 3x3s is widened to [0, 1]; one in front of a 3x3 after a 1x1 keeps its slopes', async () => {
    const n = new Net();
    const leaky = (x: string) => n.op('LeakyRelu', [x], { alpha: attr.f(0.25) });
    const a = leaky(n.conv('x', 4, 4, 3, { seed: 31 }));
    const y = n.op('Add', [n.conv(a, 4, 4, 3, { seed: 32 }), 'x']);
    const b = leaky(n.conv(y, 4, 4, 1, { seed: 33 }));
    const c = leaky(n.conv(b, 4, 4, 3, { seed: 34 }));
    const model = await loadModel(n.file(n.op('Add', [n.conv(c, 4, 4, 1, { seed: 35 }), y]), [1, 4, 5, 5]).file);
    const plans = findBlocks(model.graph!, model.layers, 'averaging').filter((p) => p.shortcut === 'identity');
    const basic = plans.find((p) => p.segments.length === 2)!;
    const bottleneck = plans.find((p) => p.segments.length === 3)!;
    expect(basic.activations.map(({ c, e, spill }) => ({ c, e, spill }))).toEqual([{ c: 0.5, e: 0.5, spill: true }]);
    expect(bottleneck.activations.map(({ c, e, spill }) => ({ c, e, spill }))).toEqual([
      { c: 0.625, e: 0.375, spill: false },
      { c: 0.625, e: 0.375, spill: false },
    ]);
  });
});

describe('buying merged runs under a work cap', () => {
  it('breadth-first: every bottleneck gets its first run before any gets a second; a larger effort buys a superset', async () => {
    const n = new Net();
    let x = 'x';
    for (let b = 0; b < 3; b++) {
      const a = n.op('Relu', [n.conv(x, 256, 64, 1, { seed: 60 + 3 * b })]);
      const c = n.op('Relu', [n.conv(a, 64, 64, 3, { seed: 61 + 3 * b })]);
      x = n.op('Relu', [n.op('Add', [n.conv(c, 64, 256, 1, { seed: 62 + 3 * b }), x])]);
    }
    const model = await loadModel(n.file(x, [1, 256, 16, 16]).file);
    const plans = findBlocks(model.graph!, model.layers, 'averaging');
    expect(plans.filter((p) => p.shortcut === 'identity')).toHaveLength(3);
    const bounds = model.layers.map(() => 2);
    const bought = async (budgetShare: number) => {
      const names: string[] = [];
      await refineBlocks(plans, model.layers, bounds, async (layer) => {
        names.push(layer.name);
        return 1;
      }, { samples: 50, mergedSamples: 32, budgetShare });
      return names;
    };
    // each run (a 64-channel 3x3 on an 18 x 18 torus) costs about a third of the layers' estimate
    const few = await bought(1.1);
    const more = await bought(2.5);
    const runLength = (name: string) => name.split(' -> ').length;
    // the first purchases are one two-layer run per block, all three before any other
    expect(few.length).toBeGreaterThanOrEqual(3);
    expect(few.slice(0, 3).every((name) => runLength(name) === 2)).toBe(true);
    expect(new Set(few.slice(0, 3).map((name) => name.split(' -> ')[0])).size).toBe(3);
    expect(more.length).toBeGreaterThan(few.length);
    expect(more.slice(0, few.length)).toEqual(few);
  });
});

describe('merges large enough for native DGEMM', () => {
  it('kxk after a 1x1 and 1x1 after kxk at 160 channels: every tap product within gamma_mid |B||A| of a float64 reference', async () => {
    const c = 160;
    const one = makeConv({ cout: c, cin: c, kernel: [1, 1], input: [4, 4], seed: 51 });
    const three = makeConv({ cout: c, cin: c, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], seed: 52 });
    const gammaMid = (1.01 * c * 2 ** -53) / (1 - c * 2 ** -53);
    for (const [first, second] of [[one, three], [three, one]] as const) {
      const k = (await compose(fromLayer(first)!, fromLayer(second)!))!;
      let worst = 0;
      for (let o = 0; o < c; o++)
        for (let i = 0; i < c; i++)
          for (let t = 0; t < 9; t++) {
            let s = 0;
            let abs = 0;
            for (let m = 0; m < c; m++) {
              const p = second === one
                ? second.weight[o * c + m] * first.weight[(m * c + i) * 9 + t]
                : second.weight[(o * c + m) * 9 + t] * first.weight[m * c + i];
              s += p;
              abs += Math.abs(p);
            }
            worst = Math.max(worst, Math.abs(k.values[(o * c + i) * 9 + t] - s) / (2 * gammaMid * abs + 1e-300));
          }
      expect(worst).toBeLessThanOrEqual(1);
    }
  });
});
