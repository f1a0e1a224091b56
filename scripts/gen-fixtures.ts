// Writes the small ONNX models in fixtures/ (seeded, deterministic). Run: npx tsx scripts/gen-fixtures.ts
// Importable: fixtureSpecs() returns every model with the source arrays of its weights, so tests
// can compare what the loader decodes element for element.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { attr, buildModel, floatTensor, graph, intTensor, node, roundTo, valueInfo, type FloatEncoding, type TensorObj } from '../src/onnx/build.js';
import { DataType } from '../src/onnx/schema.js';
import { normalArray } from '../src/util/random.js';

export interface FixtureSpec {
  /** File stem: fixtures/<name>.onnx */
  name: string;
  description: string;
  model: Uint8Array;
  /** Extra files written beside the model (external data), by file name. */
  files: Record<string, Uint8Array>;
  /**
   * Per weight tensor name: the values the loader must decode, as stored (fp16/bf16 rounded,
   * int8 dequantized), before any folding or transposition the layer applies.
   */
  weights: Record<string, Float64Array>;
  /** Whether onnxruntime-node can create a session for it (all of these should). */
  ortLoads: boolean;
}

/** n seeded normal values times `scale`. */
function values(n: number, seed: number, scale = 0.2): Float64Array {
  return normalArray(n, seed).map((v) => v * scale);
}

const count = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** A float weight in an encoding, with the values the loader must read back. */
function weight(name: string, dims: number[], seed: number, encoding: FloatEncoding = 'raw', scale = 0.2) {
  const v = values(count(dims), seed, scale);
  return { tensor: floatTensor(name, dims, v, encoding), expected: roundTo(encoding, v) };
}

const f = DataType.FLOAT;
const out = (name: string, dims: (number | string)[] | null = null) => valueInfo(name, dims, f);

function plainCnn(): FixtureSpec {
  const w1 = weight('conv1.weight', [8, 3, 3, 3], 101);
  const b1 = weight('conv1.bias', [8], 102, 'raw', 0.05);
  const w2 = weight('conv2.weight', [16, 8, 3, 3], 103);
  const b2 = weight('conv2.bias', [16], 104, 'raw', 0.05);
  const wf = weight('fc.weight', [10, 16], 105);
  const bf = weight('fc.bias', [10], 106, 'raw', 0.05);
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'conv1.weight', 'conv1.bias'], ['c1'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv1'),
      node('Relu', ['c1'], ['r1'], {}, 'relu1'),
      node('Conv', ['r1', 'conv2.weight', 'conv2.bias'], ['c2'], { pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([2, 2]) }, 'conv2'),
      node('Relu', ['c2'], ['r2'], {}, 'relu2'),
      node('GlobalAveragePool', ['r2'], ['gap'], {}, 'gap'),
      node('Flatten', ['gap'], ['flat'], { axis: attr.i(1) }, 'flatten'),
      node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['y'], { transB: attr.i(1) }, 'fc'),
    ],
    initializers: [w1.tensor, b1.tensor, w2.tensor, b2.tensor, wf.tensor, bf.tensor],
    inputs: [out('x', [1, 3, 16, 16])],
    outputs: [out('y', [1, 10])],
  });
  return {
    name: 'plain-cnn',
    description: 'Conv-Relu-Conv(stride 2)-Relu-GlobalAveragePool-Flatten-Gemm, input 1x3x16x16',
    model, files: {}, ortLoads: true,
    weights: { 'conv1.weight': w1.expected, 'conv2.weight': w2.expected, 'fc.weight': wf.expected },
  };
}

function convVariants(): FixtureSpec {
  const ws = weight('strided.weight', [8, 4, 3, 3], 201);
  const wd = weight('dilated.weight', [8, 8, 3, 3], 202);
  const wg = weight('grouped.weight', [8, 4, 3, 3], 203);
  const wdw = weight('depthwise.weight', [8, 1, 3, 3], 204);
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'strided.weight'], ['a'], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }, 'strided'),
      node('Conv', ['a', 'dilated.weight'], ['b'], { dilations: attr.ints([2, 2]), pads: attr.ints([2, 2, 2, 2]) }, 'dilated'),
      node('Conv', ['b', 'grouped.weight'], ['c'], { group: attr.i(2) }, 'grouped'),
      node('Conv', ['c', 'depthwise.weight'], ['y'], { group: attr.i(8), strides: attr.ints([1, 2]), pads: attr.ints([1, 0, 1, 0]) }, 'depthwise'),
    ],
    initializers: [ws.tensor, wd.tensor, wg.tensor, wdw.tensor],
    inputs: [out('x', [1, 4, 20, 20])],
    outputs: [out('y')],
  });
  return {
    name: 'conv-variants',
    description: 'strided, dilated, grouped (group 2) and depthwise (stride 1x2) convs, input 1x4x20x20',
    model, files: {}, ortLoads: true,
    weights: { 'strided.weight': ws.expected, 'dilated.weight': wd.expected, 'grouped.weight': wg.expected, 'depthwise.weight': wdw.expected },
  };
}

function convBn(): FixtureSpec {
  const w = weight('conv.weight', [4, 3, 3, 3], 301);
  const gamma = Float64Array.from(values(4, 302, 0.5), (v) => 1 + v);
  const beta = values(4, 303, 0.1);
  const mean = values(4, 304, 0.1);
  const variance = Float64Array.from(values(4, 305, 0.3), (v) => 0.5 + Math.abs(v));
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'conv.weight'], ['c'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv'),
      node('BatchNormalization', ['c', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'], ['n'], { epsilon: attr.f(1e-3) }, 'bn'),
      node('Relu', ['n'], ['y'], {}, 'relu'),
    ],
    initializers: [
      w.tensor, floatTensor('bn.scale', [4], gamma), floatTensor('bn.bias', [4], beta),
      floatTensor('bn.mean', [4], mean), floatTensor('bn.var', [4], variance),
    ],
    inputs: [out('x', [1, 3, 8, 8])],
    outputs: [out('y')],
  });
  return {
    name: 'conv-bn', description: 'Conv followed by an unfolded BatchNormalization (epsilon 1e-3)',
    model, files: {}, ortLoads: true,
    weights: {
      'conv.weight': w.expected, 'bn.scale': roundTo('raw', gamma), 'bn.var': roundTo('raw', variance),
    },
  };
}

function residual(): FixtureSpec {
  const wa = weight('block.conv_a.weight', [4, 4, 3, 3], 401);
  const wb = weight('block.conv_b.weight', [4, 4, 3, 3], 402);
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'block.conv_a.weight'], ['a'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv_a'),
      node('Relu', ['a'], ['ra']),
      node('Conv', ['ra', 'block.conv_b.weight'], ['b'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv_b'),
      node('Add', ['x', 'b'], ['s']),
      node('Relu', ['s'], ['y']),
    ],
    initializers: [wa.tensor, wb.tensor],
    inputs: [out('x', [1, 4, 8, 8])],
    outputs: [out('y')],
  });
  return {
    name: 'residual', description: 'residual block: Conv-Relu-Conv plus identity skip (Add), unnamed Add/Relu nodes',
    model, files: {}, ortLoads: true, weights: { 'block.conv_a.weight': wa.expected, 'block.conv_b.weight': wb.expected },
  };
}

function gemmHead(): FixtureSpec {
  const w1 = weight('head.fc1.weight', [5, 6], 501);
  const b1 = weight('head.fc1.bias', [5], 502);
  const w2 = weight('head.fc2.weight', [5, 3], 503);
  const model = buildModel({
    nodes: [
      node('Gemm', ['x', 'head.fc1.weight', 'head.fc1.bias'], ['h'], { transB: attr.i(1), alpha: attr.f(0.5) }, 'fc1'),
      node('Relu', ['h'], ['r']),
      node('Gemm', ['r', 'head.fc2.weight'], ['y'], { alpha: attr.f(2) }, 'fc2'),
    ],
    initializers: [w1.tensor, b1.tensor, w2.tensor],
    inputs: [out('x', [1, 6])],
    outputs: [out('y')],
  });
  return {
    name: 'gemm-head', description: 'Gemm transB=1 alpha=0.5 with bias, then Gemm transB=0 alpha=2 without bias',
    model, files: {}, ortLoads: true, weights: { 'head.fc1.weight': w1.expected, 'head.fc2.weight': w2.expected },
  };
}

function matmulDense(): FixtureSpec {
  const w = weight('dense.kernel', [6, 4], 601);
  const b = weight('dense.bias', [4], 602);
  const model = buildModel({
    nodes: [node('MatMul', ['x', 'dense.kernel'], ['m']), node('Add', ['m', 'dense.bias'], ['y'])],
    initializers: [w.tensor, b.tensor],
    inputs: [out('x', ['N', 6])],
    outputs: [out('y')],
  });
  return {
    name: 'matmul-dense', description: 'x @ W (W 6x4 constant, unnamed node) + bias, symbolic batch',
    model, files: {}, ortLoads: true, weights: { 'dense.kernel': w.expected },
  };
}

/** Two convs whose weights are stored in `encA` / `encB`, each behind a Cast to float when not float32. */
function encodedPair(name: string, description: string, encA: FloatEncoding, encB: FloatEncoding, seed: number): FixtureSpec {
  const wa = weight('a.weight', [4, 2, 3, 3], seed, encA);
  const wb = weight('b.weight', [3, 4, 1, 1], seed + 1, encB);
  const nodes: ReturnType<typeof node>[] = [];
  const castIfNeeded = (w: string, enc: FloatEncoding) => {
    if (enc === 'raw' || enc === 'float_data') return w;
    nodes.push(node('Cast', [w], [`${w}.f32`], { to: attr.i(DataType.FLOAT) }));
    return `${w}.f32`;
  };
  const a = castIfNeeded('a.weight', encA);
  const b = castIfNeeded('b.weight', encB);
  nodes.push(node('Conv', ['x', a], ['h'], {}, 'conv_a'), node('Conv', ['h', b], ['y'], {}, 'conv_b'));
  const model = buildModel({
    nodes, initializers: [wa.tensor, wb.tensor], inputs: [out('x', [1, 2, 6, 6])], outputs: [out('y')],
  });
  return { name, description, model, files: {}, ortLoads: true, weights: { 'a.weight': wa.expected, 'b.weight': wb.expected } };
}

function externalData(): FixtureSpec {
  const va = values(4 * 2 * 3 * 3, 801);
  const vb = values(3 * 4, 802);
  // Second tensor at a page boundary (onnxruntime maps external data in pages).
  const OFFSET_B = 4096;
  const bin = new Uint8Array(OFFSET_B + vb.length * 4);
  bin.set(new Uint8Array(Float32Array.from(va).buffer), 0);
  bin.set(new Uint8Array(Float32Array.from(vb).buffer), OFFSET_B);
  const ext = (name: string, dims: number[], offset: number, length: number): TensorObj => ({
    name, dims, data_type: f, data_location: 1,
    external_data: [{ key: 'location', value: 'external-data.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }],
  });
  const model = buildModel({
    nodes: [node('Conv', ['x', 'a.weight'], ['h'], {}, 'conv_a'), node('Flatten', ['h'], ['fl']), node('Gemm', ['fl', 'b.weight'], ['y'], { transB: attr.i(1) }, 'fc')],
    initializers: [ext('a.weight', [4, 2, 3, 3], 0, va.length * 4), ext('b.weight', [3, 4], OFFSET_B, vb.length * 4)],
    inputs: [out('x', [1, 2, 3, 3])],
    outputs: [out('y')],
  });
  return {
    name: 'external-data', description: 'weights in external-data.bin beside the model (offsets 0 and 4096)',
    model, files: { 'external-data.bin': bin }, ortLoads: true,
    weights: { 'a.weight': roundTo('raw', va), 'b.weight': roundTo('raw', vb) },
  };
}

function int8Dequant(): FixtureSpec {
  const seededInts = (n: number, seed: number, lo: number, hi: number) =>
    Array.from(values(n, seed, 1), (v) => Math.max(lo, Math.min(hi, Math.round(v * 40))));
  const qa = seededInts(4 * 2 * 3 * 3, 901, -127, 127);
  const sa = 0.0125;
  const za = 3;
  const qb = seededInts(3 * 4, 902, -128, 127).map((v) => v + 128);
  const sb = [0.01, 0.02, 0.005];
  const zb = [128, 120, 130];
  const expA = Float64Array.from(qa, (q) => Math.fround((q - za) * Math.fround(sa)));
  const expB = Float64Array.from(qb, (q, i) => {
    const c = Math.floor(i / 4);
    return Math.fround((q - zb[c]) * Math.fround(sb[c]));
  });
  const model = buildModel({
    nodes: [
      node('DequantizeLinear', ['a.q', 'a.scale', 'a.zp'], ['a.weight'], {}, 'dq_a'),
      node('Conv', ['x', 'a.weight'], ['h'], {}, 'conv_a'),
      node('DequantizeLinear', ['b.q', 'b.scale', 'b.zp'], ['b.weight'], { axis: attr.i(0) }, 'dq_b'),
      node('Conv', ['h', 'b.weight'], ['y'], {}, 'conv_b'),
    ],
    initializers: [
      intTensor('a.q', [4, 2, 3, 3], qa, DataType.INT8), floatTensor('a.scale', [], [sa]), intTensor('a.zp', [], [za], DataType.INT8),
      intTensor('b.q', [3, 4, 1, 1], qb, DataType.UINT8), floatTensor('b.scale', [3], sb), intTensor('b.zp', [3], zb, DataType.UINT8),
    ],
    inputs: [out('x', [1, 2, 6, 6])],
    outputs: [out('y')],
  });
  return {
    name: 'int8-dequant', description: 'int8 per-tensor and uint8 per-axis (axis 0) weights behind DequantizeLinear',
    model, files: {}, ortLoads: true, weights: { 'a.q': expA, 'b.q': expB },
  };
}

function constantNodes(): FixtureSpec {
  const w = weight('w', [4, 2, 3, 3], 1001);
  const b = weight('b', [4], 1002);
  const m = weight('m', [4 * 2 * 2, 3], 1003);
  const model = buildModel({
    nodes: [
      node('Constant', [], ['conv.w'], { value: attr.t(w.tensor) }, 'const_w'),
      node('Constant', [], ['conv.b'], { value: attr.t(b.tensor) }, 'const_b'),
      node('Conv', ['x', 'conv.w', 'conv.b'], ['h'], { strides: attr.ints([2, 2]) }, 'conv'),
      node('Constant', [], ['shape'], { value_ints: attr.ints([1, -1]) }, 'const_shape'),
      node('Reshape', ['h', 'shape'], ['flat'], {}, 'reshape'),
      node('Constant', [], ['fc.w'], { value: attr.t(m.tensor) }, 'const_fc'),
      node('MatMul', ['flat', 'fc.w'], ['y'], {}, 'fc'),
    ],
    inputs: [out('x', [1, 2, 5, 5])],
    outputs: [out('y')],
  });
  return {
    name: 'constant-nodes', description: 'no initializers: weights and a reshape target in Constant nodes (paddle2onnx style)',
    model, files: {}, ortLoads: true, weights: { w: w.expected, m: m.expected },
  };
}

function padConv(): FixtureSpec {
  const w = weight('conv.weight', [3, 2, 3, 3], 1101);
  const model = buildModel({
    nodes: [
      node('Pad', ['x', 'pads'], ['p'], { mode: attr.s('constant') }, 'pad'),
      node('Conv', ['p', 'conv.weight'], ['y'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv'),
    ],
    initializers: [w.tensor, intTensor('pads', [8], [0, 0, 1, 2, 0, 0, 3, 0], DataType.INT64)],
    inputs: [out('x', [1, 2, 10, 10])],
    outputs: [out('y')],
  });
  return {
    name: 'pad-conv', description: 'explicit Pad (H 1/3, W 2/0) in front of a Conv with pads 1: merged pads [2,3,4,1]',
    model, files: {}, ortLoads: true, weights: { 'conv.weight': w.expected },
  };
}

function samePadding(): FixtureSpec {
  const wu = weight('upper.weight', [3, 2, 4, 4], 1201);
  const wl = weight('lower.weight', [3, 3, 2, 2], 1202);
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'upper.weight'], ['h'], { strides: attr.ints([2, 2]), auto_pad: attr.s('SAME_UPPER') }, 'same_upper'),
      node('Conv', ['h', 'lower.weight'], ['y'], { auto_pad: attr.s('SAME_LOWER') }, 'same_lower'),
    ],
    initializers: [wu.tensor, wl.tensor],
    inputs: [out('x', [1, 2, 7, 7])],
    outputs: [out('y')],
  });
  return {
    name: 'same-padding', description: 'auto_pad SAME_UPPER (k4 s2 on 7: pads 1/2) then SAME_LOWER (k2 s1: pads 1/0)',
    model, files: {}, ortLoads: true, weights: { 'upper.weight': wu.expected, 'lower.weight': wl.expected },
  };
}

function nhwcTranspose(): FixtureSpec {
  const hwio = values(3 * 3 * 3 * 4, 1301);
  const model = buildModel({
    nodes: [
      node('Transpose', ['x'], ['x_nchw'], { perm: attr.ints([0, 3, 1, 2]) }, 'to_nchw'),
      node('Transpose', ['kernel_hwio'], ['kernel_oihw'], { perm: attr.ints([3, 2, 0, 1]) }, 'kernel_transpose'),
      node('Conv', ['x_nchw', 'kernel_oihw'], ['c'], { auto_pad: attr.s('SAME_UPPER') }, 'conv2d'),
      node('Transpose', ['c'], ['y'], { perm: attr.ints([0, 2, 3, 1]) }, 'to_nhwc'),
    ],
    initializers: [floatTensor('kernel_hwio', [3, 3, 3, 4], hwio)],
    inputs: [out('x', ['N', 12, 12, 3])],
    outputs: [out('y')],
  });
  return {
    name: 'nhwc-transpose', description: 'tf2onnx style: NHWC input behind a Transpose, HWIO kernel behind a Transpose',
    model, files: {}, ortLoads: true, weights: { kernel_hwio: roundTo('raw', hwio) },
  };
}

function symbolicDims(): FixtureSpec {
  const w = weight('conv.weight', [8, 3, 3, 3], 1401);
  const wf = weight('fc.weight', [2, 8], 1402);
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'conv.weight'], ['c'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv'),
      node('Relu', ['c'], ['r']),
      node('GlobalAveragePool', ['r'], ['g']),
      node('Flatten', ['g'], ['fl']),
      node('Gemm', ['fl', 'fc.weight'], ['y'], { transB: attr.i(1) }, 'fc'),
    ],
    initializers: [w.tensor, wf.tensor],
    inputs: [out('x', ['N', 3, 'H', 'W'])],
    outputs: [out('y', ['N', 2])],
  });
  return {
    name: 'symbolic-dims', description: "input ['N', 3, 'H', 'W']: H and W come from --input-shape or the 224 default",
    model, files: {}, ortLoads: true, weights: { 'conv.weight': w.expected, 'fc.weight': wf.expected },
  };
}

function conv1d(): FixtureSpec {
  const w = weight('conv1d.weight', [4, 2, 5], 1501);
  const model = buildModel({
    nodes: [node('Conv', ['x', 'conv1d.weight'], ['y'], { strides: attr.ints([3]), dilations: attr.ints([2]), pads: attr.ints([2, 1]) }, 'conv1d')],
    initializers: [w.tensor],
    inputs: [out('x', [1, 2, 30])],
    outputs: [out('y')],
  });
  return {
    name: 'conv1d', description: '1-D conv k5 s3 d2 pads 2/1 on length 30 (output 9)',
    model, files: {}, ortLoads: true, weights: { 'conv1d.weight': w.expected },
  };
}

function conv3d(): FixtureSpec {
  const w = weight('conv3d.weight', [2, 1, 3, 3, 3], 1601);
  const model = buildModel({
    nodes: [node('Conv', ['x', 'conv3d.weight'], ['y'], {}, 'conv3d')],
    initializers: [w.tensor],
    inputs: [out('x', [1, 1, 4, 4, 4])],
    outputs: [out('y')],
  });
  return { name: 'conv3d', description: '3-D conv: reported as unsupported', model, files: {}, ortLoads: true, weights: { 'conv3d.weight': w.expected } };
}

function ifBranch(): FixtureSpec {
  const w = weight('main.weight', [3, 3, 3, 3], 1701);
  const wIf = weight('branch.weight', [3, 3, 3, 3], 1702);
  const thenBranch = graph({
    name: 'then',
    nodes: [node('Conv', ['h', 'branch.weight'], ['then_y'], { pads: attr.ints([1, 1, 1, 1]) }, 'branch_conv')],
    inputs: [], outputs: [out('then_y')],
  });
  const elseBranch = graph({ name: 'else', nodes: [node('Identity', ['h'], ['else_y'])], inputs: [], outputs: [out('else_y')] });
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'main.weight'], ['h'], { pads: attr.ints([1, 1, 1, 1]) }, 'main_conv'),
      node('If', ['cond'], ['y'], { then_branch: attr.g(thenBranch), else_branch: attr.g(elseBranch) }, 'maybe'),
    ],
    initializers: [w.tensor, wIf.tensor],
    inputs: [out('x', [1, 3, 8, 8]), valueInfo('cond', [], DataType.BOOL)],
    outputs: [out('y')],
  });
  return {
    name: 'if-branch', description: 'a Conv inside the then_branch of an If: reported by name as unsupported',
    model, files: {}, ortLoads: true, weights: { 'main.weight': w.expected },
  };
}

function qlinearConv(): FixtureSpec {
  const qw = Array.from(values(4 * 2 * 3 * 3, 1801, 1), (v) => Math.max(-127, Math.min(127, Math.round(v * 30))));
  const ws = [0.01, 0.02, 0.015, 0.005];
  const expected = Float64Array.from(qw, (q, i) => Math.fround(q * Math.fround(ws[Math.floor(i / 18)])));
  const model = buildModel({
    nodes: [
      node('QuantizeLinear', ['x', 'x.scale', 'x.zp'], ['xq'], {}, 'quant'),
      node('QLinearConv', ['xq', 'x.scale', 'x.zp', 'w.q', 'w.scale', 'w.zp', 'y.scale', 'y.zp'], ['yq'], { pads: attr.ints([1, 1, 1, 1]) }, 'qconv'),
      node('DequantizeLinear', ['yq', 'y.scale', 'y.zp'], ['y'], {}, 'dequant'),
    ],
    initializers: [
      floatTensor('x.scale', [], [0.02]), intTensor('x.zp', [], [128], DataType.UINT8),
      intTensor('w.q', [4, 2, 3, 3], qw, DataType.INT8), floatTensor('w.scale', [4], ws), intTensor('w.zp', [4], [0, 0, 0, 0], DataType.INT8),
      floatTensor('y.scale', [], [0.05]), intTensor('y.zp', [], [128], DataType.UINT8),
    ],
    inputs: [out('x', [1, 2, 6, 6])],
    outputs: [out('y')],
  });
  return {
    name: 'qlinearconv', description: 'QuantizeLinear-QLinearConv (int8 per-channel weights)-DequantizeLinear',
    model, files: {}, ortLoads: true, weights: { 'w.q': expected },
  };
}

function convTranspose(): FixtureSpec {
  const w1 = weight('up1.weight', [4, 3, 3, 3], 1901);
  const w2 = weight('up2.weight', [3, 2, 3, 3], 1902);
  const model = buildModel({
    nodes: [
      node('ConvTranspose', ['x', 'up1.weight'], ['h'], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), output_padding: attr.ints([1, 1]) }, 'up1'),
      node('ConvTranspose', ['h', 'up2.weight'], ['y'], { strides: attr.ints([2, 2]), output_shape: attr.ints([20, 20]) }, 'up2'),
    ],
    initializers: [w1.tensor, w2.tensor],
    inputs: [out('x', [1, 4, 5, 5])],
    outputs: [out('y')],
  });
  return {
    name: 'conv-transpose', description: 'ConvTranspose s2 pads 1 output_padding 1 (5 -> 10), then s2 with output_shape 20x20',
    model, files: {}, ortLoads: true, weights: { 'up1.weight': w1.expected, 'up2.weight': w2.expected },
  };
}

/**
 * paddle2onnx exports a ConvTranspose bias as a separate Add of a Reshape'd constant, then the
 * BatchNormalization: ConvTranspose -> Add(bias) -> BN (PP-OCR detection heads). No activation, so
 * the model is affine and y(x) - y(0) is the folded layer applied to x.
 */
function convTransposeAddBn(): FixtureSpec {
  const w = weight('up.weight', [4, 3, 2, 2], 2001);
  const bias = values(3, 2002, 0.1);
  const gamma = values(3, 2003, 1);
  const variance = Float64Array.from(values(3, 2004, 0.3), (v) => 0.5 + Math.abs(v));
  const model = buildModel({
    nodes: [
      node('ConvTranspose', ['x', 'up.weight'], ['u'], { strides: attr.ints([2, 2]) }, 'up'),
      node('Reshape', ['up.bias', 'bias_shape'], ['b4'], {}, 'bias_reshape'),
      node('Add', ['u', 'b4'], ['ub'], {}, 'bias_add'),
      node('BatchNormalization', ['ub', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'], ['y'], {}, 'bn'),
    ],
    initializers: [
      w.tensor, floatTensor('up.bias', [3], bias), intTensor('bias_shape', [4], [1, 3, 1, 1], DataType.INT64),
      floatTensor('bn.scale', [3], gamma), floatTensor('bn.bias', [3], values(3, 2005, 0.1)),
      floatTensor('bn.mean', [3], values(3, 2006, 0.1)), floatTensor('bn.var', [3], variance),
    ],
    inputs: [out('x', [1, 4, 5, 5])],
    outputs: [out('y')],
  });
  return {
    name: 'convtranspose-add-bn', description: 'ConvTranspose s2 -> Add(Reshape(bias) to [1,3,1,1]) -> BatchNormalization (paddle2onnx style)',
    model, files: {}, ortLoads: true,
    weights: { 'up.weight': w.expected, 'bn.scale': roundTo('raw', gamma), 'bn.var': roundTo('raw', variance) },
  };
}

/** A literal -1 batch dim and spatial dims with neither dim_value nor dim_param (PP-OCRv3 exports). */
function unnamedDims(): FixtureSpec {
  const w = weight('conv.weight', [2, 3, 3, 3], 2101);
  const dim = (d: number | null) => (d === null ? {} : { dim_value: d });
  const model = buildModel({
    nodes: [node('Conv', ['x', 'conv.weight'], ['y'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv')],
    initializers: [w.tensor],
    inputs: [{ name: 'x', type: { tensor_type: { elem_type: f, shape: { dim: [-1, 3, null, null].map(dim) } } } }],
    outputs: [out('y')],
  });
  return {
    name: 'unnamed-dims', description: 'input dims [-1, 3, ?, ?]: a literal -1 and two dims with neither value nor name',
    model, files: {}, ortLoads: true, weights: { 'conv.weight': w.expected },
  };
}

export function fixtureSpecs(): FixtureSpec[] {
  return [
    plainCnn(),
    convVariants(),
    convBn(),
    residual(),
    gemmHead(),
    matmulDense(),
    encodedPair('fp16-weights', 'float16 weights (raw_data and int32_data forms) behind Cast to float', 'float16', 'float16_int32', 701),
    encodedPair('bf16-weights', 'bfloat16 weights (raw_data and int32_data forms) behind Cast to float', 'bfloat16', 'bfloat16_int32', 711),
    encodedPair('float-encodings', 'float_data weight, and double raw_data weight behind Cast', 'float_data', 'double', 721),
    encodedPair('double-data', 'double_data weight behind Cast, and plain raw float', 'double_data', 'raw', 731),
    externalData(),
    int8Dequant(),
    constantNodes(),
    padConv(),
    samePadding(),
    nhwcTranspose(),
    symbolicDims(),
    conv1d(),
    conv3d(),
    ifBranch(),
    qlinearConv(),
    convTranspose(),
    convTransposeAddBn(),
    unnamedDims(),
  ];
}

/** Write every fixture into `dir`; returns the file names written. */
export function writeFixtures(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const spec of fixtureSpecs()) {
    fs.writeFileSync(path.join(dir, `${spec.name}.onnx`), spec.model);
    written.push(`${spec.name}.onnx`);
    for (const [file, bytes] of Object.entries(spec.files)) {
      fs.writeFileSync(path.join(dir, file), bytes);
      written.push(file);
    }
  }
  return written;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
  const files = writeFixtures(dir);
  console.log(`wrote ${files.length} files to ${path.relative(process.cwd(), dir) || '.'}`);
}
