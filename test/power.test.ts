// [power] baseline against the independent exact reference (explicit matrix + dense eigensolver).
import { describe, expect, it } from 'vitest';
import { convNormalModel, denseNormalModel } from '../src/bounds/operator.js';
import { openNormalOperator, powerIteration, powerLoop } from '../src/bounds/power.js';
import type { ConvLayer, DenseLayer } from '../src/model/layer.js';
import { normalArray } from '../src/util/random.js';
import { exactNorm, explicitMatrix, makeConv, makeDense } from './helpers/exact.js';

// Tight settings so that the assertion measures the method, not an early stop: 1e-8 is just above
// the float32 jitter of the estimate, and the cap covers the slowest case below ('non-square even
// kernel', whose top two singular values are only 1.8e-4 apart: ~5000 steps to a 1e-4 residual).
const OPTS = { iterations: 8000, tolerance: 1e-8, seed: 3 };

const CASES: [string, ConvLayer | DenseLayer][] = [
  ['plain 3x3, pad 1', makeConv({ cout: 4, cin: 3, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1] })],
  ['stride 2, odd input 9x9', makeConv({ cout: 4, cin: 3, kernel: [3, 3], input: [9, 9], strides: [2, 2], pads: [1, 1, 1, 1] })],
  ['stride 2, even input 8x8', makeConv({ cout: 3, cin: 2, kernel: [3, 3], input: [8, 8], strides: [2, 2], pads: [1, 1, 0, 0] })],
  ['stride 3, even input 10x10', makeConv({ cout: 3, cin: 2, kernel: [3, 3], input: [10, 10], strides: [3, 3], pads: [1, 1, 1, 1] })],
  ['stride 3, odd input 9x7, 5x5 kernel', makeConv({ cout: 2, cin: 3, kernel: [5, 5], input: [9, 7], strides: [3, 3] })],
  ['dilation 2', makeConv({ cout: 3, cin: 2, kernel: [3, 3], input: [10, 10], dilations: [2, 2], pads: [2, 2, 2, 2] })],
  ['asymmetric pads', makeConv({ cout: 3, cin: 3, kernel: [3, 3], input: [7, 8], pads: [0, 2, 1, 0] })],
  ['grouped (g=2)', makeConv({ cout: 6, cin: 4, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], group: 2 })],
  ['depthwise, stride 2', makeConv({ cout: 3, cin: 3, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], strides: [2, 2], group: 3 })],
  ['ConvTranspose stride 2, output_padding 1', makeConv({ cout: 3, cin: 4, kernel: [3, 3], input: [5, 5], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], transpose: true })],
  ['ConvTranspose grouped, strides 3x2, asym pads, non-square kernel', makeConv({ cout: 4, cin: 2, kernel: [2, 3], input: [4, 3], strides: [3, 2], pads: [0, 1, 1, 0], outputPadding: [2, 1], group: 2, transpose: true })],
  ['conv1d stride 2', makeConv({ cout: 3, cin: 2, kernel: [3], input: [12], strides: [2], pads: [1, 1] })],
  ['conv1d transpose', makeConv({ cout: 2, cin: 3, kernel: [4], input: [7], strides: [2], pads: [1, 2], outputPadding: [1], transpose: true })],
  ['non-square even kernel 2x4, stride 1x2', makeConv({ cout: 3, cin: 2, kernel: [2, 4], input: [7, 9], strides: [1, 2], pads: [0, 1, 1, 2] })],
  ['dense 20x30', makeDense(20, 30)],
  ['dense 30x12', makeDense(30, 12, 5)],
];

function matVec(a: Float64Array, rows: number, cols: number, x: ArrayLike<number>, transpose = false): Float64Array {
  const out = new Float64Array(transpose ? cols : rows);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      if (transpose) out[j] += a[i * cols + j] * x[i];
      else out[i] += a[i * cols + j] * x[j];
    }
  return out;
}

function relErr(got: ArrayLike<number>, want: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}

describe('in-memory operator model = the explicit matrix (real operator semantics)', () => {
  it.each(CASES)('%s: y = A x and z = A^T A x', async (_name, layer) => {
    const { a, rows, cols } = explicitMatrix(layer);
    const model = layer.kind === 'conv' ? convNormalModel(layer, layer.inputShape as number[]) : denseNormalModel(layer);
    expect(model.inputDims.slice(1)).toEqual(layer.inputShape);
    expect(model.outputDims.slice(1)).toEqual(layer.outputShape);
    const op = await openNormalOperator(model, layer.weight, 1);
    try {
      expect(op.size).toBe(cols);
      const x = Float32Array.from(normalArray(cols, 42));
      const { y, z } = await op.step(x);
      const ax = matVec(a, rows, cols, x);
      expect(y.length).toBe(rows);
      expect(relErr(y, ax)).toBeLessThan(1e-6);
      expect(relErr(z, matVec(a, rows, cols, ax, true))).toBeLessThan(1e-6);
    } finally {
      await op.release();
    }
  });
});

describe('powerIteration vs the exact norm', () => {
  it.each(CASES)('%s', async (_name, layer) => {
    const exact = exactNorm(layer);
    const r = await powerIteration(layer, OPTS);
    expect(r.error).toBeUndefined();
    expect(r.kind).toBe('lower');
    expect(r.details.converged).toBe(true);
    // A lower bound up to float32 rounding, and within 1e-4 of the truth.
    expect(r.value!).toBeLessThanOrEqual(exact * (1 + 1e-6));
    expect(r.value!).toBeGreaterThanOrEqual(exact * (1 - 1e-4));
  });

  it('reports what a user needs: shapes, iterations, threads, route', async () => {
    const layer = CASES[1][1];
    const r = await powerIteration(layer, { iterations: 200, tolerance: 1e-4, seed: 1 });
    expect(r.details.inputShape).toEqual([3, 9, 9]);
    expect(r.details.outputShape).toEqual([4, 5, 5]);
    expect(r.details.route).toBe('Conv -> ConvTranspose');
    expect(r.details.threads).toBeGreaterThanOrEqual(1);
    expect(r.details.iterations as number).toBeGreaterThan(2);
    expect(r.details.iterations as number).toBeLessThanOrEqual(200);
    expect(r.ms).toBeGreaterThan(0);
  });

  it('default tolerance 1e-4 still lands within 1e-3 of the exact norm', async () => {
    const layer = CASES[0][1];
    const r = await powerIteration(layer, { iterations: 200, tolerance: 1e-4, seed: 1 });
    expect(r.details.converged).toBe(true);
    expect(r.value! / exactNorm(layer)).toBeGreaterThan(1 - 1e-3);
  });

  it('is deterministic for a seed, and a different seed gives a (slightly) different estimate', async () => {
    const layer = CASES[0][1];
    const opts = { iterations: 4, tolerance: 1e-12, seed: 9 };
    const a = await powerIteration(layer, opts);
    const b = await powerIteration(layer, opts);
    const c = await powerIteration(layer, { ...opts, seed: 10 });
    expect(a.value).toBe(b.value);
    expect(a.value).not.toBe(c.value);
  });

  it('reports converged false when it hits the iteration cap', async () => {
    const r = await powerIteration(CASES[0][1], { iterations: 3, tolerance: 1e-12, seed: 1 });
    expect(r.details.converged).toBe(false);
    expect(r.details.iterations).toBe(3);
    expect(r.value!).toBeLessThanOrEqual(exactNorm(CASES[0][1]) * (1 + 1e-6));
    expect(r.value!).toBeGreaterThan(0);
  });
});

describe('edge cases', () => {
  const base = () => makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1] });

  it('unknown input size -> value null, error', async () => {
    const r = await powerIteration({ ...base(), inputShape: null }, OPTS);
    expect(r.value).toBeNull();
    expect(r.error).toBe('input size unknown');
  });

  it.each([NaN, Infinity, -Infinity])('non-finite weight %s -> value null, error', async (bad) => {
    const layer = base();
    layer.weight[5] = bad;
    const r = await powerIteration(layer, OPTS);
    expect(r.value).toBeNull();
    expect(r.error).toMatch(/non-finite/);
  });

  it('zero weights -> 0, converged', async () => {
    for (const layer of [base(), makeDense(4, 5)]) {
      layer.weight.fill(0);
      const r = await powerIteration(layer, OPTS);
      expect(r.value).toBe(0);
      expect(r.details.converged).toBe(true);
    }
  });

  it.each([100, -100])('weights scaled by 2^%i: exact rescaling, no float32 overflow/underflow', async (e) => {
    const layer = base();
    const exact = exactNorm(layer);
    const scaled = { ...layer, weight: layer.weight.map((w) => w * 2 ** e) };
    const r = await powerIteration(scaled, OPTS);
    expect(r.error).toBeUndefined();
    expect(r.details.weightScale).toBe(2 ** -e);
    expect(r.value! / 2 ** e).toBeLessThanOrEqual(exact * (1 + 1e-6));
    expect(r.value! / 2 ** e).toBeGreaterThanOrEqual(exact * (1 - 1e-4));
  });

  it('a layer whose input is too small for the kernel -> error, not a crash', async () => {
    const layer = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [6, 6] });
    const r = await powerIteration({ ...layer, inputShape: [2, 2, 2] }, OPTS);
    expect(r.value).toBeNull();
    expect(r.error).toMatch(/empty output/);
  });

  it('powerLoop on a known diagonal operator: estimate from below, converges to the top singular value', async () => {
    const d = [3, 1, 0.5, 2.9];
    const r = await powerLoop(4, async (x) => ({
      y: Float32Array.from(x, (v, i) => v * d[i]),
      z: Float32Array.from(x, (v, i) => v * d[i] * d[i]),
    }), { iterations: 2000, tolerance: 1e-9, seed: 1 });
    expect(r.converged).toBe(true);
    expect(r.value).toBeLessThanOrEqual(3 * (1 + 1e-7));
    expect(r.value).toBeGreaterThan(3 * (1 - 1e-6));
  });

  it('powerLoop stops when A^T A x = 0 (start in the null space)', async () => {
    const r = await powerLoop(3, async (x) => ({ y: new Float32Array(2), z: new Float32Array(x.length) }), OPTS);
    expect(r.value).toBe(0);
    expect(r.converged).toBe(false);
    expect(r.stopReason).toBe('A^T A x = 0');
  });
});
