// A model with symbolic spatial dims, audited without --input-shape: the loader assumes a size, and
// nothing certified may rest on it. The certified network bound must hold at every real input size,
// measured with onnxruntime at 8x8, 32x32 and 224x224.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { boundLayers } from '../src/layer/engine.js';
import { networkBound } from '../src/network/walk.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/layer/types.js';
import type { ConvLayer, LoadedModel } from '../src/model/layer.js';
import { attr, buildModel, floatTensor, node, valueInfo } from '../src/onnx/build.js';
import { loadModel } from '../src/onnx/load.js';
import { normalArray } from '../src/util/random.js';
import { empiricalLipschitz } from './helpers/empirical.js';
import { tempDir } from './helpers/tmp.js';

const he = (n: number, fanIn: number, seed: number) => Float32Array.from(normalArray(n, seed), (v) => v * Math.sqrt(2 / fanIn));

/** conv -> relu -> avgpool 2/2 -> conv -> + bias[C,1,1] -> GlobalAveragePool -> flatten -> gemm, input [N, 3, H, W]. */
function symbolicNet(dims: (number | string)[]): Uint8Array {
  return buildModel({
    nodes: [
      node('Conv', ['x', 'w1'], ['c1'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv1'),
      node('Relu', ['c1'], ['r1'], {}, 'relu1'),
      node('AveragePool', ['r1'], ['p1'], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) }, 'pool'),
      node('Conv', ['p1', 'w2'], ['c2'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv2'),
      node('Add', ['c2', 'bias'], ['b2'], {}, 'bias'),
      node('GlobalAveragePool', ['b2'], ['g'], {}, 'gap'),
      node('Flatten', ['g'], ['f'], {}, 'flatten'),
      node('Gemm', ['f', 'w3'], ['y'], { transB: attr.i(1) }, 'fc'),
    ],
    initializers: [
      floatTensor('w1', [8, 3, 3, 3], he(216, 27, 1)),
      floatTensor('w2', [8, 8, 3, 3], he(576, 72, 2)),
      floatTensor('bias', [8, 1, 1], normalArray(8, 3)),
      floatTensor('w3', [4, 8], he(32, 8, 4)),
    ],
    inputs: [valueInfo('x', dims)],
    outputs: [valueInfo('y', null)],
  });
}

async function audit(file: string, inputShape?: number[]): Promise<{ model: LoadedModel; bound: number | null; spectralRoute: string }> {
  const model = await loadModel(file, inputShape ? { inputShape } : {});
  const bounds = await boundLayers(model.layers, { ...DEFAULT_ENGINE_OPTIONS, methods: ['toeplitz', 'spectral', 'frobenius'] });
  const net = networkBound(model.graph!, bounds.map((b) => b.best));
  return { model, bound: net.bound, spectralRoute: String(bounds[0].methods.spectral?.details.route) };
}

describe('assumed input size', () => {
  let file: string;
  let assumed: Awaited<ReturnType<typeof audit>>;
  beforeAll(async () => {
    const dir = tempDir('lipcheck-assumed');
    file = path.join(dir, 'symbolic.onnx');
    writeFileSync(file, symbolicNet(['N', 3, 'H', 'W']));
    assumed = await audit(file);
  });

  it('records where the input shape came from', async () => {
    expect(assumed.model.info.inputShapeSource).toBe('assumed');
    expect(assumed.model.info.inputShape).toEqual([1, 3, 224, 224]);
    expect(assumed.model.graph!.inputSizeAssumed).toBe(true);
    const given = await loadModel(file, { inputShape: [1, 3, 32, 32] });
    expect(given.info.inputShapeSource).toBe('flag');
    expect(given.graph!.inputSizeAssumed).toBe(false);
    const dir = tempDir('lipcheck-declared');
    const declared = path.join(dir, 'declared.onnx');
    writeFileSync(declared, symbolicNet([1, 3, 16, 16]));
    expect((await loadModel(declared)).info.inputShapeSource).toBe('model');
  });

  it('makes size-dependent lengths symbolic in the graph summary, and keeps size-free ones', () => {
    const nodes = assumed.model.graph!.nodes;
    const gapIn = nodes.find((n) => n.op === 'GlobalAveragePool')!.inputShapes[0]!;
    expect(gapIn.slice(0, 2)).toEqual([1, 8]);
    expect(gapIn[2]).toBeLessThan(0);
    expect(gapIn[3]).toBeLessThan(0);
    expect(gapIn[2]).not.toBe(gapIn[3]); // H and W are different symbols
    const fcIn = nodes.find((n) => n.op === 'Gemm')!.inputShapes[0];
    expect(fcIn).toEqual([1, 8]);
    // the layer records keep the assumed size for power iteration, flagged
    const conv1 = assumed.model.layers[0] as ConvLayer;
    expect(conv1.inputShape).toEqual([3, 224, 224]);
    expect(conv1.inputSizeAssumed).toBe(true);
    expect(assumed.model.layers[2].kind === 'dense' && assumed.model.layers[2].inputSizeAssumed).toBe(false);
  });

  it('uses the size-free sup route for conv layers, the torus route only for a given size', async () => {
    expect(assumed.spectralRoute).toBe('sup');
    const given = await audit(file, [1, 3, 8, 8]);
    expect(given.spectralRoute).not.toBe('sup');
  });

  // 8x8 is where a bound resting on 224 fails: the pooling factor 1/sqrt(HW) would be 28x too small there.
  it.each([8, 32, 224])('certified network bound >= the onnxruntime-measured lower bound at size %i', async (size) => {
    expect(assumed.bound).not.toBeNull();
    const empirical = await empiricalLipschitz(symbolicNet(['N', 3, 'H', 'W']), [1, 3, size, size], { pairs: 16, steps: size > 64 ? 6 : 25, seed: 11 });
    expect(empirical).toBeGreaterThan(0);
    // one-sided: float32 rounding in onnxruntime is the only slack allowed
    expect(assumed.bound!).toBeGreaterThanOrEqual(empirical * (1 - 1e-6));
  }, 120_000);

  it('with a given size, the bound is size-specific and still above the measurement at that size', async () => {
    const given = await audit(file, [1, 3, 8, 8]);
    const empirical = await empiricalLipschitz(symbolicNet(['N', 3, 'H', 'W']), [1, 3, 8, 8], { pairs: 16, steps: 25, seed: 12 });
    expect(given.bound!).toBeGreaterThanOrEqual(empirical * (1 - 1e-6));
    // the size-specific pooling factor (1/sqrt(16) after the 2x2 pool) makes it tighter than the size-free one
    expect(given.bound!).toBeLessThan(assumed.bound!);
  });
});
