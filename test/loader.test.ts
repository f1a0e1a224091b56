// Loader on the committed fixtures: decoded weights element for element against the generator's
// source arrays, and attributes / inferred shapes against hand-computed values.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureSpecs, type FixtureSpec } from '../scripts/gen-fixtures.js';
import type { ConvLayer, DenseLayer, Layer, LoadedModel } from '../src/model/layer.js';
import { InputError } from '../src/errors.js';
import { loadModel } from '../src/onnx/load.js';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures');
const specs = new Map<string, FixtureSpec>(fixtureSpecs().map((s) => [s.name, s]));
const load = (name: string, opts = {}) => loadModel(path.join(FIXTURES, `${name}.onnx`), opts);

function conv(m: LoadedModel, name: string): ConvLayer {
  const l = m.layers.find((x) => x.name === name);
  if (!l || l.kind !== 'conv') throw new Error(`no conv layer ${name}: ${m.layers.map((x) => x.name).join(', ')}`);
  return l;
}
function dense(m: LoadedModel, name: string): DenseLayer {
  const l = m.layers.find((x) => x.name === name);
  if (!l || l.kind !== 'dense') throw new Error(`no dense layer ${name}`);
  return l;
}
/** Exact equality with the float32 value of each expected number. */
function expectWeights(actual: Float32Array, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  let mismatches = 0;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== Math.fround(expected[i])) mismatches++;
  expect(mismatches).toBe(0);
}
const source = (fixture: string, tensor: string) => specs.get(fixture)!.weights[tensor];
/** Row-major transpose of an r x c matrix, times alpha. */
function transposed(m: ArrayLike<number>, r: number, c: number, alpha = 1): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = alpha * m[i * c + j];
  return out;
}

describe('decoded weights match the generator arrays element for element', () => {
  const identity: [string, string, string][] = [
    ['plain-cnn', 'conv1', 'conv1.weight'],
    ['plain-cnn', 'conv2', 'conv2.weight'],
    ['plain-cnn', 'fc', 'fc.weight'],
    ['conv-variants', 'strided', 'strided.weight'],
    ['conv-variants', 'dilated', 'dilated.weight'],
    ['conv-variants', 'grouped', 'grouped.weight'],
    ['conv-variants', 'depthwise', 'depthwise.weight'],
    ['residual', 'conv_a', 'block.conv_a.weight'],
    ['fp16-weights', 'conv_a', 'a.weight'],
    ['fp16-weights', 'conv_b', 'b.weight'],
    ['bf16-weights', 'conv_a', 'a.weight'],
    ['bf16-weights', 'conv_b', 'b.weight'],
    ['float-encodings', 'conv_a', 'a.weight'],
    ['float-encodings', 'conv_b', 'b.weight'],
    ['double-data', 'conv_a', 'a.weight'],
    ['external-data', 'conv_a', 'a.weight'],
    ['external-data', 'fc', 'b.weight'],
    ['int8-dequant', 'conv_a', 'a.q'],
    ['int8-dequant', 'conv_b', 'b.q'],
    ['constant-nodes', 'conv', 'w'],
    ['pad-conv', 'conv', 'conv.weight'],
    ['same-padding', 'same_upper', 'upper.weight'],
    ['conv1d', 'conv1d', 'conv1d.weight'],
    ['if-branch', 'main_conv', 'main.weight'],
    ['qlinearconv', 'qconv', 'w.q'],
    ['conv-transpose', 'up1', 'up1.weight'],
    ['conv-transpose', 'up2', 'up2.weight'],
  ];
  it.each(identity)('%s: layer %s = %s', async (fixture, layer, tensor) => {
    const m = await load(fixture);
    const l = m.layers.find((x) => x.name === layer) as ConvLayer | DenseLayer;
    expectWeights(l.weight, source(fixture, tensor));
  });

  it('fp16/bf16 decode to the rounded values, which differ from the originals', async () => {
    const m = await load('fp16-weights');
    const w = conv(m, 'conv_a');
    expect(w.notes.join(';')).toMatch(/float16.*Cast/);
    // independent check of one value: the generator's first raw value rounded to 11 significant bits
    const v = w.weight[0];
    const e = Math.floor(Math.log2(Math.abs(v)));
    expect(Math.abs(v) * 2 ** (10 - e) % 1).toBe(0);
  });

  it('unnamed nodes take the weight name; MatMul x@W gives W^T as [out, in]', async () => {
    const m = await load('matmul-dense');
    const l = dense(m, 'dense.kernel');
    expect(l.weightShape).toEqual([4, 6]);
    expectWeights(l.weight, transposed(source('matmul-dense', 'dense.kernel'), 6, 4));
    expect(l.hasBias).toBe(false);
    const r = await load('residual');
    expect(r.layers.map((x) => x.name)).toEqual(['conv_a', 'conv_b']);
  });

  it('Gemm: transB=1 alpha=0.5 gives 0.5 W; transB=0 alpha=2 gives 2 W^T', async () => {
    const m = await load('gemm-head');
    const fc1 = dense(m, 'fc1');
    expect(fc1.weightShape).toEqual([5, 6]);
    expect(fc1.hasBias).toBe(true);
    expectWeights(fc1.weight, Array.from(source('gemm-head', 'head.fc1.weight'), (v) => 0.5 * v));
    const fc2 = dense(m, 'fc2');
    expect(fc2.weightShape).toEqual([3, 5]);
    expect(fc2.hasBias).toBe(false);
    expectWeights(fc2.weight, transposed(source('gemm-head', 'head.fc2.weight'), 5, 3, 2));
  });

  it('Constant-node MatMul weight after a Reshape with a Constant target', async () => {
    const m = await load('constant-nodes');
    const fc = dense(m, 'fc');
    expect(fc.weightShape).toEqual([3, 16]);
    expect(fc.inputShape).toEqual([16]);
    expectWeights(fc.weight, transposed(source('constant-nodes', 'm'), 16, 3));
  });

  it('BatchNormalization after a Conv is folded: W[o] * gamma[o] / sqrt(var[o] + 1e-3)', async () => {
    const m = await load('conv-bn');
    expect(m.layers).toHaveLength(1);
    const l = conv(m, 'conv');
    expect(l.foldedBatchNorm).toBe(true);
    expect(l.notes.join(';')).toMatch(/BatchNormalization 'bn' folded/);
    const w = source('conv-bn', 'conv.weight');
    const gamma = source('conv-bn', 'bn.scale');
    const variance = source('conv-bn', 'bn.var');
    // computed in float64 and rounded once: within weightRounding (about 2^-24, one float32 rounding) of
    // the real fold; the float64 reference here is itself off by a few 2^-53 (the 2^-48 slack)
    expect(l.weightRounding).toBeGreaterThan(0);
    expect(l.weightRounding).toBeLessThanOrEqual(2 ** -24 * (1 + 2 ** -20));
    for (let i = 0; i < w.length; i++) {
      const o = Math.floor(i / 27);
      const expected = (Math.fround(w[i]) * Math.fround(gamma[o])) / Math.sqrt(Math.fround(variance[o]) + Math.fround(1e-3));
      expect(Math.abs(l.weight[i] - expected)).toBeLessThanOrEqual((l.weightRounding! + 2 ** -48) * Math.abs(l.weight[i]));
    }
    expect(m.warnings).toEqual([]);
  });

  it('HWIO kernel behind a Transpose [3,2,0,1] becomes OIHW', async () => {
    const m = await load('nhwc-transpose');
    const l = conv(m, 'conv2d');
    const hwio = source('nhwc-transpose', 'kernel_hwio');
    expect(l.weightShape).toEqual([4, 3, 3, 3]);
    const expected = new Float64Array(hwio.length);
    for (let o = 0; o < 4; o++) for (let i = 0; i < 3; i++) for (let h = 0; h < 3; h++) for (let w = 0; w < 3; w++) {
      expected[((o * 3 + i) * 3 + h) * 3 + w] = hwio[((h * 3 + w) * 3 + i) * 4 + o];
    }
    expectWeights(l.weight, expected);
  });
});

describe('attributes and inferred shapes (hand-computed)', () => {
  type Expect = Partial<Pick<ConvLayer, 'strides' | 'pads' | 'dilations' | 'group' | 'autoPad' | 'inputShape' | 'outputShape' | 'weightShape' | 'hasBias' | 'outputPadding'>>;
  const cases: [string, string, Expect][] = [
    ['plain-cnn', 'conv1', { strides: [1, 1], pads: [1, 1, 1, 1], inputShape: [3, 16, 16], outputShape: [8, 16, 16], hasBias: true }],
    ['plain-cnn', 'conv2', { strides: [2, 2], pads: [1, 1, 1, 1], inputShape: [8, 16, 16], outputShape: [16, 8, 8] }],
    ['conv-variants', 'strided', { strides: [2, 2], inputShape: [4, 20, 20], outputShape: [8, 10, 10], hasBias: false }],
    // (10 + 4 - 5) / 1 + 1 = 10
    ['conv-variants', 'dilated', { dilations: [2, 2], pads: [2, 2, 2, 2], inputShape: [8, 10, 10], outputShape: [8, 10, 10] }],
    ['conv-variants', 'grouped', { group: 2, weightShape: [8, 4, 3, 3], inputShape: [8, 10, 10], outputShape: [8, 8, 8] }],
    // H: 8 + 2 - 3 + 1 = 8; W: floor((8 - 3) / 2) + 1 = 3
    ['conv-variants', 'depthwise', { group: 8, strides: [1, 2], pads: [1, 0, 1, 0], inputShape: [8, 8, 8], outputShape: [8, 8, 3] }],
    // Pad H 1/3, W 2/0 plus conv pads 1: [2, 3, 4, 1]; H: 10 + 6 - 2 = 14, W: 10 + 4 - 2 = 12
    ['pad-conv', 'conv', { pads: [2, 3, 4, 1], inputShape: [2, 10, 10], outputShape: [3, 14, 12] }],
    // k4 s2 on 7: out 4, total pad 3*2 + 4 - 7 = 3 -> 1 begin, 2 end
    ['same-padding', 'same_upper', { autoPad: 'SAME_UPPER', pads: [1, 1, 2, 2], outputShape: [3, 4, 4] }],
    // k2 s1: total 1 -> SAME_LOWER puts it at the beginning
    ['same-padding', 'same_lower', { autoPad: 'SAME_LOWER', pads: [1, 1, 0, 0], inputShape: [3, 4, 4], outputShape: [3, 4, 4] }],
    ['nhwc-transpose', 'conv2d', { pads: [1, 1, 1, 1], inputShape: [3, 12, 12], outputShape: [4, 12, 12] }],
    // floor((30 + 3 - 9) / 3) + 1 = 9
    ['conv1d', 'conv1d', { strides: [3], dilations: [2], pads: [2, 1], inputShape: [2, 30], outputShape: [4, 9] }],
    // 2*(5-1) + 1 + 3 - 2 = 10
    ['conv-transpose', 'up1', { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], inputShape: [4, 5, 5], outputShape: [3, 10, 10] }],
    // output_shape 20: total = 2*9 + 3 - 20 = 1 -> NOTSET puts the odd pixel first
    ['conv-transpose', 'up2', { pads: [1, 1, 0, 0], inputShape: [3, 10, 10], outputShape: [2, 20, 20] }],
    ['constant-nodes', 'conv', { strides: [2, 2], hasBias: true, inputShape: [2, 5, 5], outputShape: [4, 2, 2] }],
    ['qlinearconv', 'qconv', { pads: [1, 1, 1, 1], inputShape: [2, 6, 6], outputShape: [4, 6, 6] }],
  ];
  it.each(cases)('%s: %s', async (fixture, name, expected) => {
    const l = conv(await load(fixture), name);
    expect(l).toMatchObject(expected);
  });

  it('dense shapes drop the batch dim', async () => {
    const m = await load('plain-cnn');
    expect(dense(m, 'fc')).toMatchObject({ inputShape: [16], outputShape: [10], weightShape: [10, 16], hasBias: true });
    expect(m.layers.map((l) => l.name)).toEqual(['conv1', 'conv2', 'fc']);
    expect(m.layers.map((l) => l.nodeIndex)).toEqual([0, 2, 6]);
  });

  it('model info: sha256 of the file, opset, producer, ir version, input shape', async () => {
    const m = await load('plain-cnn');
    const { createHash } = await import('node:crypto');
    const bytes = fs.readFileSync(path.join(FIXTURES, 'plain-cnn.onnx'));
    expect(m.info).toMatchObject({
      sha256: createHash('sha256').update(bytes).digest('hex'), opset: 17, producer: 'lipcheck 0', irVersion: 8, inputShape: [1, 3, 16, 16],
    });
  });

  it('symbolic H/W: 224 default with a warning, or --input-shape (with or without batch)', async () => {
    const d = await load('symbolic-dims');
    expect(d.info.inputShape).toEqual([1, 3, 224, 224]);
    expect(d.warnings.join('\n')).toMatch(/symbolic spatial dims; (using|assumed) 224 for H, W/);
    expect(conv(d, 'conv').outputShape).toEqual([8, 224, 224]);
    for (const shape of [[1, 3, 32, 40], [3, 32, 40]]) {
      const m = await load('symbolic-dims', { inputShape: shape });
      expect(m.warnings).toEqual([]);
      expect(conv(m, 'conv')).toMatchObject({ inputShape: [3, 32, 40], outputShape: [8, 32, 40] });
      expect(dense(m, 'fc')).toMatchObject({ inputShape: [8], outputShape: [2] });
    }
  });

  it('--input-shape with the wrong rank or channel count is an InputError', async () => {
    await expect(load('symbolic-dims', { inputShape: [3, 32] })).rejects.toThrow(/has rank 2.*has rank 4/);
    await expect(load('symbolic-dims', { inputShape: [1, 3, 32] })).rejects.toThrow(/read as \[1, 1, 3, 32\].*axis 1 is 3/);
    await expect(load('symbolic-dims', { inputShape: [1, 4, 32, 32] })).rejects.toThrow(/axis 1 is 3/);
    await expect(load('symbolic-dims', { inputShape: [1, 3, 0, 32] })).rejects.toThrow(/positive integers/);
    await expect(load('plain-cnn', { inputShape: [1, 3, 1e6, 1e6] })).rejects.toThrow(InputError);
  });

  it('3-D conv and a Conv inside an If branch are reported by name, not skipped', async () => {
    const c3 = await load('conv3d');
    expect(c3.layers).toEqual([expect.objectContaining({ kind: 'unsupported', name: 'conv3d', reason: expect.stringMatching(/3-D/) })]);
    const m = await load('if-branch');
    expect(m.layers.map((l) => [l.name, l.kind])).toEqual([['main_conv', 'conv'], ['branch_conv', 'unsupported']]);
    const u = m.layers[1] as Layer & { reason: string };
    expect(u.reason).toMatch(/then_branch of If 'maybe'/);
  });

  it('notes say how weights were stored', async () => {
    expect(conv(await load('external-data'), 'conv_a').notes).toContain('external data in external-data.bin');
    expect(conv(await load('int8-dequant'), 'conv_b').notes.join(';')).toMatch(/per-axis scales along axis 0/);
    expect(conv(await load('pad-conv'), 'conv').notes.join(';')).toMatch(/Pad 'pad' merged/);
    expect(conv(await load('qlinearconv'), 'qconv').notes.join(';')).toMatch(/dequantized/);
  });
});

describe('graph summary for the whole-network walk', () => {
  it('conv-bn: BN absorbed into the conv, layer index on the Conv node', async () => {
    const g = (await load('conv-bn')).graph!;
    expect(g.inputs).toEqual(['x']);
    expect(g.outputs).toEqual(['y']);
    expect(g.nodes.map((n) => [n.op, n.layerIndex, n.absorbedInto])).toEqual([
      ['Conv', 0, null], ['BatchNormalization', null, 'conv'], ['Relu', null, null],
    ]);
    expect(g.nodes[0].constInputs[1]?.length).toBe(4 * 3 * 3 * 3);
    expect(g.nodes[0].constInputs[0]).toBeNull();
    expect(g.nodes[1].attrs.epsilon).toBeCloseTo(1e-3, 9);
  });

  it('residual: Add input shapes; constant-nodes: Constant nodes flagged; pad-conv: Pad absorbed', async () => {
    const r = (await load('residual')).graph!;
    const add = r.nodes.find((n) => n.op === 'Add')!;
    expect(add.inputShapes).toEqual([[1, 4, 8, 8], [1, 4, 8, 8]]);
    expect(add.outputShapes).toEqual([[1, 4, 8, 8]]);
    const c = (await load('constant-nodes')).graph!;
    expect(c.nodes.filter((n) => n.constant).map((n) => n.op)).toEqual(['Constant', 'Constant', 'Constant', 'Constant']);
    expect(c.nodes.find((n) => n.op === 'Reshape')!.outputShapes).toEqual([[1, 16]]);
    const p = (await load('pad-conv')).graph!;
    expect(p.nodes.map((n) => [n.op, n.absorbedInto])).toEqual([['Pad', 'conv'], ['Conv', null]]);
  });
});
