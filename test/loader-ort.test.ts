// The fixtures are real ONNX (onnxruntime loads them), they never drift from the generator,
// and the layer records the loader builds reproduce what onnxruntime computes: for a
// single-layer model, y(x) - y(0) must equal A x with A the explicit matrix of the record
// (this checks weights, pads, strides, groups, BN folding and Pad merging together).
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureSpecs } from '../scripts/gen-fixtures.js';
import type { ConvLayer, DenseLayer } from '../src/model/layer.js';
import { attr, buildModel, floatTensor, intTensor, node, valueInfo, type AttrValue, type TensorObj } from '../src/onnx/build.js';
import { loadModel } from '../src/onnx/load.js';
import { DataType } from '../src/onnx/schema.js';
import { normalArray } from '../src/util/random.js';
import { expectOrtMatchesMatrix } from './helpers/ort-affine.js';
import { explicitMatrix } from './helpers/exact.js';
import { tempDir } from './helpers/tmp.js';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures');
const specs = fixtureSpecs();
let dir: string;
beforeAll(() => { dir = tempDir('lipcheck-ort'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fixtures', () => {
  it('re-generating gives byte-identical files, and fixtures/ stays small', () => {
    let total = 0;
    for (const spec of specs) {
      for (const [file, bytes] of [[`${spec.name}.onnx`, spec.model] as const, ...Object.entries(spec.files)]) {
        const onDisk = fs.readFileSync(path.join(FIXTURES, file));
        total += onDisk.length;
        expect(Buffer.compare(onDisk, Buffer.from(bytes)), `${file} differs from the generator: run npx tsx scripts/gen-fixtures.ts`).toBe(0);
      }
    }
    expect(total).toBeLessThan(2 * 1024 * 1024);
  });

  it.each(specs.filter((s) => s.ortLoads).map((s) => s.name))('onnxruntime loads %s', async (name) => {
    const session = await ort.InferenceSession.create(path.join(FIXTURES, `${name}.onnx`));
    expect(session.inputNames[0]).toBe('x');
    await session.release();
  });
});

/** Checks y(x) - y(0) == A x for the model's only layer; returns the layer. */
async function checkAgainstOrt(file: string, opts = {}): Promise<ConvLayer | DenseLayer> {
  const model = await loadModel(file, opts);
  const layers = model.layers.filter((l) => l.kind !== 'unsupported') as (ConvLayer | DenseLayer)[];
  expect(layers).toHaveLength(1);
  const layer = layers[0];
  await expectOrtMatchesMatrix(file, model.info.inputShape!, explicitMatrix(layer), 99);
  return layer;
}

function single(name: string, nodes: ReturnType<typeof node>[], inits: TensorObj[], input: number[]): string {
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, buildModel({ nodes, initializers: inits, inputs: [valueInfo('x', input)], outputs: [valueInfo('y', null)] }));
  return file;
}
const w = (name: string, dims: number[], seed: number, enc: Parameters<typeof floatTensor>[3] = 'raw') =>
  floatTensor(name, dims, normalArray(dims.reduce((p, q) => p * q, 1), seed).map((v) => v * 0.3), enc);
const convNode = (attrs: Record<string, AttrValue>, inputs = ['x', 'w']) => node('Conv', inputs, ['y'], attrs, 'conv');

describe('layer records reproduce onnxruntime (y(x) - y(0) = A x)', () => {
  it('Pad node merged into the conv pads (fixture pad-conv)', async () => {
    const l = await checkAgainstOrt(path.join(FIXTURES, 'pad-conv.onnx'));
    expect((l as ConvLayer).pads).toEqual([2, 3, 4, 1]);
  });

  it('1-D conv with stride, dilation and asymmetric pads (fixture conv1d)', async () => {
    await checkAgainstOrt(path.join(FIXTURES, 'conv1d.onnx'));
  });

  it('SAME_UPPER with an asymmetric result, and SAME_LOWER with stride 2', async () => {
    await checkAgainstOrt(single('su', [convNode({ strides: attr.ints([2, 2]), auto_pad: attr.s('SAME_UPPER') })], [w('w', [3, 2, 4, 4], 1)], [1, 2, 7, 7]));
    await checkAgainstOrt(single('sl', [convNode({ strides: attr.ints([2, 2]), auto_pad: attr.s('SAME_LOWER') })], [w('w', [3, 2, 4, 4], 2)], [1, 2, 7, 8]));
  });

  it('grouped strided dilated conv with bias', async () => {
    const l = await checkAgainstOrt(single('gsd', [convNode({ group: attr.i(2), strides: attr.ints([2, 1]), dilations: attr.ints([1, 2]), pads: attr.ints([1, 2, 0, 1]) }, ['x', 'w', 'b'])],
      [w('w', [4, 3, 3, 3], 3), w('b', [4], 4)], [1, 6, 9, 8]));
    expect(l.hasBias).toBe(true);
  });

  it('Conv + BatchNormalization folded', async () => {
    const bn = ['s', 'bb', 'm', 'v'].map((k, i) => floatTensor(k, [4], Array.from(normalArray(4, 10 + i), (v) => (k === 'v' ? 0.5 + v * v : v))));
    const file = single('cbn', [
      node('Conv', ['x', 'w'], ['c'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv'),
      node('BatchNormalization', ['c', 's', 'bb', 'm', 'v'], ['y'], { epsilon: attr.f(0.01) }, 'bn'),
    ], [w('w', [4, 3, 3, 3], 5), ...bn], [1, 3, 5, 5]);
    expect((await checkAgainstOrt(file) as ConvLayer).foldedBatchNorm).toBe(true);
  });

  it('grouped ConvTranspose + BatchNormalization folded', async () => {
    const bn = ['s', 'bb', 'm', 'v'].map((k, i) => floatTensor(k, [6], Array.from(normalArray(6, 20 + i), (v) => (k === 'v' ? 0.5 + v * v : v))));
    const file = single('ctbn', [
      node('ConvTranspose', ['x', 'w'], ['c'], { group: attr.i(2), strides: attr.ints([2, 2]), pads: attr.ints([1, 0, 0, 1]) }, 'convt'),
      node('BatchNormalization', ['c', 's', 'bb', 'm', 'v'], ['y'], {}, 'bn'),
    ], [w('w', [4, 3, 3, 3], 6), ...bn], [1, 4, 4, 4]);
    expect((await checkAgainstOrt(file) as ConvLayer).foldedBatchNorm).toBe(true);
  });

  it('ConvTranspose with output_shape and with output_padding', async () => {
    await checkAgainstOrt(single('cto', [node('ConvTranspose', ['x', 'w'], ['y'], { strides: attr.ints([2, 2]), output_shape: attr.ints([9, 10]) }, 'ct')],
      [w('w', [3, 2, 3, 3], 7)], [1, 3, 4, 5]));
    await checkAgainstOrt(single('ctp', [node('ConvTranspose', ['x', 'w'], ['y'], { strides: attr.ints([3, 2]), output_padding: attr.ints([1, 1]), pads: attr.ints([1, 1, 0, 1]) }, 'ct')],
      [w('w', [3, 2, 3, 2], 8)], [1, 3, 4, 5]));
  });

  it('Gemm transB=0 alpha 2, Gemm transB=1, MatMul', async () => {
    await checkAgainstOrt(single('g0', [node('Gemm', ['x', 'w', 'b'], ['y'], { alpha: attr.f(2), beta: attr.f(3) }, 'fc')], [w('w', [7, 5], 9), w('b', [5], 10)], [1, 7]));
    await checkAgainstOrt(single('g1', [node('Gemm', ['x', 'w'], ['y'], { transB: attr.i(1), alpha: attr.f(0.25) }, 'fc')], [w('w', [5, 7], 11)], [1, 7]));
    await checkAgainstOrt(single('mm', [node('MatMul', ['x', 'w'], ['y'], {}, 'mm')], [w('w', [7, 5], 12)], [1, 7]));
  });

  it('uint8 per-axis DequantizeLinear, fp16 behind Cast, HWIO kernel behind Transpose', async () => {
    const q = Array.from({ length: 3 * 2 * 9 }, (_, i) => (i * 37) % 256);
    await checkAgainstOrt(single('dq', [
      node('DequantizeLinear', ['q', 'sc', 'zp'], ['w'], { axis: attr.i(0) }),
      convNode({ pads: attr.ints([1, 1, 1, 1]) }),
    ], [intTensor('q', [3, 2, 3, 3], q, DataType.UINT8), floatTensor('sc', [3], [0.01, 0.03, 0.002]), intTensor('zp', [3], [100, 128, 7], DataType.UINT8)], [1, 2, 5, 5]));
    await checkAgainstOrt(single('f16', [node('Cast', ['h'], ['w'], { to: attr.i(DataType.FLOAT) }), convNode({})], [w('h', [3, 2, 3, 3], 13, 'float16')], [1, 2, 5, 5]));
    await checkAgainstOrt(single('hwio', [node('Transpose', ['k'], ['w'], { perm: attr.ints([3, 2, 0, 1]) }), convNode({ auto_pad: attr.s('SAME_UPPER') })],
      [w('k', [3, 2, 2, 4], 14)], [1, 2, 6, 6]));
  });

  it('QLinearConv weight record equals the real-valued conv up to activation rounding', async () => {
    // Not exactly linear (quantized activations): compare A x with ORT within the rounding error.
    const file = path.join(FIXTURES, 'qlinearconv.onnx');
    const model = await loadModel(file);
    const layer = model.layers.find((l) => l.kind === 'conv') as ConvLayer;
    const { a, rows, cols } = explicitMatrix(layer);
    const x = Float32Array.from(normalArray(cols, 5), (v) => v * 0.5);
    const session = await ort.InferenceSession.create(file);
    const y = (await session.run({ x: new ort.Tensor('float32', x, [1, 2, 6, 6]) })).y.data as Float32Array;
    await session.release();
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += a[r * cols + c] * Math.round(x[c] / 0.02) * 0.02; // x as quantized by ORT (zp 128, no clipping for |x| < 2.5)
      worst = Math.max(worst, Math.abs(y[r] - Math.max(-6.4, Math.min(6.35, s))));
    }
    expect(worst).toBeLessThanOrEqual(0.025 + 1e-6); // half of y_scale 0.05
  });
});
