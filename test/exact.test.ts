// Checks the reference itself against closed forms and against onnxruntime, so that every
// test built on it rests on something verified.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { exactNorm, explicitMatrix, largestSingularValue, makeConv, makeDense, symmetricEigenvalues } from './helpers/exact.js';
import { buildModel, floatTensor, node, valueInfo, attr } from '../src/onnx/build.js';
import { normalArray } from '../src/util/random.js';
import type { ConvLayer } from '../src/model/layer.js';

describe('exact reference', () => {
  it('Jacobi eigenvalues of a known symmetric matrix', () => {
    // [[2,1],[1,2]] has eigenvalues 1 and 3
    const ev = Array.from(symmetricEigenvalues(Float64Array.from([2, 1, 1, 2]), 2)).sort();
    expect(ev[0]).toBeCloseTo(1, 12);
    expect(ev[1]).toBeCloseTo(3, 12);
  });

  it('largest singular value of a diagonal and a rank-one matrix', () => {
    expect(largestSingularValue(Float64Array.from([3, 0, 0, 0, -5, 0]), 2, 3)).toBeCloseTo(5, 12);
    // u v^T with |u| = 5 (3,4), |v| = 13 (5,12): sigma = 65
    const a = Float64Array.from([3 * 5, 3 * 12, 4 * 5, 4 * 12]);
    expect(largestSingularValue(a, 2, 2)).toBeCloseTo(65, 10);
  });

  it('identity 3x3 kernel with pad 1 is the identity matrix', () => {
    const w = new Float32Array(9);
    w[4] = 1;
    const layer = makeConv({ cout: 1, cin: 1, kernel: [3, 3], input: [5, 5], pads: [1, 1, 1, 1], weight: w });
    const { a, rows, cols } = explicitMatrix(layer);
    expect([rows, cols]).toEqual([25, 25]);
    for (let i = 0; i < 25; i++) for (let j = 0; j < 25; j++) expect(a[i * 25 + j]).toBe(i === j ? 1 : 0);
    expect(exactNorm(layer)).toBeCloseTo(1, 12);
  });

  it('1-D averaging kernel [1,1] on n points, no padding: norm 2 cos(pi/(n+1))', () => {
    // the (n-1) x n bidiagonal matrix of ones has singular values 2 cos(k pi / (2n))... use the
    // known eigenvalues of A A^T = tridiag(1,2,1) of size n-1: 2 + 2 cos(k pi / n)
    const n = 9;
    const layer = makeConv({ cout: 1, cin: 1, kernel: [2], input: [n], weight: Float32Array.from([1, 1]) });
    expect(exactNorm(layer)).toBeCloseTo(Math.sqrt(2 + 2 * Math.cos(Math.PI / n)), 10);
  });

  it('dense layer norm equals its matrix norm', () => {
    const d = makeDense(3, 4);
    expect(exactNorm(d)).toBeCloseTo(largestSingularValue(Float64Array.from(d.weight), 3, 4), 12);
  });

  async function ortApply(layer: ConvLayer, x: Float32Array): Promise<Float32Array> {
    const nd = layer.spatialDims;
    const attrs = {
      strides: attr.ints(layer.strides),
      dilations: attr.ints(layer.dilations),
      pads: attr.ints(layer.pads),
      group: attr.i(layer.group),
      ...(layer.op === 'ConvTranspose' ? { output_padding: attr.ints(layer.outputPadding) } : {}),
    };
    const bytes = buildModel({
      nodes: [node(layer.op, ['x', 'w'], ['y'], attrs)],
      initializers: [floatTensor('w', layer.weightShape, layer.weight)],
      inputs: [valueInfo('x', [1, ...layer.inputShape!])],
      outputs: [valueInfo('y', null)],
    });
    const s = await ort.InferenceSession.create(bytes);
    const r = await s.run({ x: new ort.Tensor('float32', x, [1, ...layer.inputShape!]) });
    await s.release();
    expect(r.y.dims.slice(1)).toEqual(layer.outputShape);
    void nd;
    return r.y.data as Float32Array;
  }

  const cases: [string, Parameters<typeof makeConv>[0]][] = [
    ['strided asymmetric pads', { cout: 3, cin: 2, kernel: [3, 3], input: [7, 6], strides: [2, 3], pads: [1, 0, 0, 2] }],
    ['dilated grouped', { cout: 4, cin: 4, kernel: [3, 2], input: [8, 7], dilations: [2, 1], group: 2, pads: [2, 1, 2, 0] }],
    ['depthwise', { cout: 6, cin: 3, kernel: [3, 3], input: [5, 5], group: 3, pads: [1, 1, 1, 1] }],
    ['conv1d strided', { cout: 2, cin: 3, kernel: [4], input: [11], strides: [2], pads: [1, 2] }],
    ['transpose stride 2', { cout: 2, cin: 3, kernel: [3, 3], input: [4, 5], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 0], transpose: true }],
    ['transpose grouped dilated', { cout: 4, cin: 2, kernel: [2, 3], input: [4, 4], dilations: [2, 1], group: 2, transpose: true }],
  ];
  for (const [label, spec] of cases) {
    it(`explicit matrix matches onnxruntime: ${label}`, async () => {
      const layer = makeConv({ ...spec, seed: 3 });
      const { a, rows, cols } = explicitMatrix(layer);
      const x = Float32Array.from(normalArray(cols, 5));
      const y = await ortApply(layer, x);
      expect(y.length).toBe(rows);
      let maxErr = 0;
      for (let i = 0; i < rows; i++) {
        let acc = 0;
        for (let j = 0; j < cols; j++) acc += a[i * cols + j] * x[j];
        maxErr = Math.max(maxErr, Math.abs(acc - y[i]));
      }
      expect(maxErr).toBeLessThan(1e-5);
    });
  }
});
