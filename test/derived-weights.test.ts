// Derived weights (BatchNormalization fold, Gemm alpha, double -> float32, dequantization) are
// stored rounded to float32. The certified bound must hold for the model's real weights, so a
// rounding that lowers the norm must not lower the bound below the real one.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attr, buildModel, floatTensor, node, valueInfo, type FloatEncoding } from '../src/onnx/build.js';
import { loadModel } from '../src/onnx/load.js';
import { boundLayer } from '../src/layer/engine.js';
import { networkBound } from '../src/network/walk.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../src/layer/types.js';
import type { ConvLayer, DenseLayer, Layer } from '../src/model/layer.js';
import { tempDir } from './helpers/tmp.js';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures');
const U = 2 ** -24;
const OPTS: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, methods: ['toeplitz', 'spectral', 'frobenius'], tolerance: 1e-9 };

let dir: string;
beforeAll(() => { dir = tempDir('lipcheck-derived'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function load(name: string, bytes: Uint8Array) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return loadModel(file);
}

/** A float32 value w near `from` whose product with c rounds down in float32 by a clear margin. */
function roundsDown(c: number, from = 1): number {
  for (let k = 0; k < 1000; k++) {
    const w = Math.fround(from * (1 + k * 2 ** -23));
    const y = w * c;
    if (Math.fround(y) < y * (1 - 2 ** -30)) return w;
  }
  throw new Error('no candidate');
}

/** x[1,1,1,1] -> Conv 1x1 (one scalar weight) [-> BatchNormalization] -> y */
function conv1x1(w: number, encoding: FloatEncoding, bn?: { gamma: number; variance: number; eps: number; training?: boolean }): Uint8Array {
  const nodes = [node('Conv', ['x', 'w'], [bn ? 'c' : 'y'], {}, 'conv')];
  const initializers = [floatTensor('w', [1, 1, 1, 1], [w], encoding)];
  if (bn) {
    const attrs = { epsilon: attr.f(bn.eps), ...(bn.training ? { training_mode: attr.i(1) } : {}) };
    nodes.push(node('BatchNormalization', ['c', 'g', 'b', 'm', 'v'], ['y'], attrs, 'bn'));
    initializers.push(floatTensor('g', [1], [bn.gamma]), floatTensor('b', [1], [0]), floatTensor('m', [1], [0]), floatTensor('v', [1], [bn.variance]));
  }
  return buildModel({ nodes, initializers, inputs: [valueInfo('x', [1, 1, 1, 1])], outputs: [valueInfo('y', null)] });
}

/** x[1,1] -> Gemm(alpha) with a 1x1 weight -> y */
function gemm1x1(w: number, alpha: number): Uint8Array {
  return buildModel({
    nodes: [node('Gemm', ['x', 'w'], ['y'], { alpha: attr.f(alpha), transB: attr.i(1) }, 'fc')],
    initializers: [floatTensor('w', [1, 1], [w])],
    inputs: [valueInfo('x', [1, 1])],
    outputs: [valueInfo('y', null)],
  });
}

function weighted(l: Layer): ConvLayer | DenseLayer {
  if (l.kind === 'unsupported') throw new Error(l.reason);
  return l;
}

describe('a derived weight whose float32 rounding lowers the norm', () => {
  // var + eps = 9 exactly (eps = 2^-10, var = 9 - 2^-10, both float32), so the real scale is gamma / 3
  const eps = 2 ** -10;
  const variance = 9 - eps;
  const wBn = roundsDown(1 / 3);
  const alpha = Math.fround(1 / 3); // the attribute's float32 value is the model's alpha
  const wAlpha = roundsDown(alpha);
  const wDouble = 1 + 2 ** -25; // a double weight that float32 rounds down (to 1)
  const cases: [string, () => Uint8Array, number][] = [
    // [name, model, the real norm: |the one real weight|, in float64 (exact here, or within 2^-53)]
    ['1x1 Conv + BatchNormalization', () => conv1x1(wBn, 'raw', { gamma: 1, variance, eps }), wBn / 3],
    ['Gemm alpha', () => gemm1x1(wAlpha, alpha), wAlpha * alpha], // a float32 product: exact in float64
    ['double-precision weight', () => conv1x1(wDouble, 'double'), wDouble],
  ];

  it.each(cases)('%s: every upper method is >= the real norm', async (name, model, real) => {
    const m = await load(`${name.replace(/\W+/g, '-')}.onnx`, model());
    const layer = weighted(m.layers[0]);
    const stored = Math.abs(layer.weight[0]);
    // the rounding lowered the stored weight below the real one: without the correction a bound on
    // the stored weight (even an exact one) is below the truth
    expect(stored).toBeLessThan(real * (1 - 2 ** -30));
    expect(layer.weightRounding).toBeGreaterThan(0);
    expect(layer.weightRounding).toBeLessThanOrEqual(U * (1 + 2 ** -20)); // rounded once
    expect(real - stored).toBeLessThanOrEqual(layer.weightRounding! * stored);
    const b = await boundLayer(layer, OPTS);
    const realHigh = real * (1 + 2 ** -52); // above the real value even if `real` is off by a float64 rounding
    for (const method of ['toeplitz', 'spectral', 'frobenius'] as const) {
      const r = b.methods[method]!;
      expect(r.error, method).toBeUndefined();
      expect(r.value!, method).toBeGreaterThanOrEqual(realHigh);
      expect(r.details.weightRounding, method).toBe(layer.weightRounding);
    }
    expect(b.best!).toBeGreaterThanOrEqual(realHigh);
  });

  it('weights the model holds exactly (float32, alpha = 1) keep weightRounding 0 and unchanged bounds', async () => {
    const m = await load('alpha1.onnx', gemm1x1(wAlpha, 1));
    const layer = weighted(m.layers[0]);
    expect(layer.weightRounding).toBe(0);
    const b = await boundLayer(layer, OPTS);
    expect(b.methods.frobenius!.details.weightRounding).toBeUndefined();
  });
});

describe('BatchNormalization in training mode', () => {
  it('is never folded into the conv: it stays a graph op, which the network walk refuses', async () => {
    const bn = { gamma: 2, variance: 1, eps: 2 ** -10 };
    const folded = await load('bn-inference.onnx', conv1x1(0.5, 'raw', bn));
    expect((folded.layers[0] as ConvLayer).foldedBatchNorm).toBe(true);
    const m = await load('bn-training.onnx', conv1x1(0.5, 'raw', { ...bn, training: true }));
    const layer = m.layers[0] as ConvLayer;
    expect(layer.foldedBatchNorm).toBe(false);
    expect(layer.weight[0]).toBe(0.5);
    expect(m.warnings).toEqual([expect.stringMatching(/BatchNormalization 'bn' is in training mode .* not folded/)]);
    const net = networkBound(m.graph!, [0.5]);
    expect(net.bound).toBeNull();
    expect(net.uncertifiedNodes.map((o) => o.node)).toContain('bn');
  });
});

describe('weightRounding on the fixtures', () => {
  const rounding = async (fixture: string) => {
    const m = await loadModel(path.join(FIXTURES, `${fixture}.onnx`));
    return m.layers.map((l) => (l.kind === 'unsupported' ? null : l.weightRounding));
  };
  it.each(['plain-cnn', 'fp16-weights', 'bf16-weights'])('%s (weights held exactly): 0 on every layer', async (f) => {
    const r = await rounding(f);
    expect(r.length).toBeGreaterThan(0);
    expect(r.every((x) => x === 0)).toBe(true);
  });
  it.each(['conv-bn', 'int8-dequant', 'double-data'])('%s (derived weights): > 0, at most one float32 rounding', async (f) => {
    const r = await rounding(f);
    expect(r.some((x) => x != null && x > 0)).toBe(true);
    for (const x of r) if (x != null) expect(x).toBeLessThanOrEqual(U * (1 + 2 ** -20));
  });
});
