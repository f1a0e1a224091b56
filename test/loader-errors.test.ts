// Every kind of bad input gives one InputError line naming the file, never a hang or a stack.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { attr, buildModel, floatTensor, intTensor, node, valueInfo, type TensorObj } from '../src/onnx/build.js';
import type { DenseLayer } from '../src/model/layer.js';
import { loadModel } from '../src/onnx/load.js';
import { DataType } from '../src/onnx/schema.js';
import { decodeTensor } from '../src/onnx/tensor.js';
import { normalArray, seededRandom } from '../src/util/random.js';
import protobuf from 'protobufjs';
import { boundLayers } from '../src/layer/engine.js';
import { networkBound } from '../src/network/walk.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/layer/types.js';
import type { ConvLayer } from '../src/model/layer.js';
import { AttributeType, ModelProtoType } from '../src/onnx/schema.js';
import { runInProcess } from './helpers/cli-models.js';
import { tempDir } from './helpers/tmp.js';

const normalArrayForTest = (n: number) => normalArray(n, 3);
/** Hang guard only (a quadratic regression takes minutes here); speed is measured by `npm run bench`, not by tests. */
const HANG_MS = 30_000;

let dir: string;
let outside: string;
beforeAll(() => {
  dir = tempDir('lipcheck-loader');
  outside = tempDir('lipcheck-outside');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

function write(name: string, bytes: Uint8Array | string): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, bytes);
  return p;
}

/** The InputError loadModel throws for `file`, checked to be one line naming the file. */
async function inputError(file: string, opts = {}): Promise<string> {
  const err = await loadModel(file, opts).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  const e = err as InputError;
  expect(e.file).toBe(file);
  expect(e.message).not.toContain('\n');
  return e.message;
}

/** x[1,2,4,4] -> Conv(weight) -> y */
function convModel(weight: TensorObj): Uint8Array {
  return buildModel({
    nodes: [node('Conv', ['x', 'w'], ['y'], {}, 'conv')],
    initializers: [weight],
    inputs: [valueInfo('x', [1, 2, 4, 4])],
    outputs: [valueInfo('y', null)],
  });
}
const goodWeight = () => floatTensor('w', [3, 2, 3, 3], Array.from({ length: 54 }, (_, i) => (i % 7) / 10));

function externalWeight(location: string, offset = 0, length = 54 * 4): TensorObj {
  return {
    name: 'w', dims: [3, 2, 3, 3], data_type: DataType.FLOAT, data_location: 1,
    external_data: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }],
  };
}
const weightBytes = (n = 54) => new Uint8Array(new Float32Array(n).fill(0.5).buffer);

describe('files that are not ONNX models', () => {
  it('missing file, directory, empty file', async () => {
    expect(await inputError(path.join(dir, 'nope.onnx'))).toBe('no such file');
    fs.mkdirSync(path.join(dir, 'adir.onnx'), { recursive: true });
    expect(await inputError(path.join(dir, 'adir.onnx'))).toMatch(/is a directory/);
    expect(await inputError(write('empty.onnx', ''))).toMatch(/empty file/);
  });

  it('random bytes and a text file', async () => {
    const rnd = seededRandom(7);
    for (let k = 0; k < 20; k++) {
      const bytes = Uint8Array.from({ length: 64 + k * 37 }, () => Math.floor(rnd() * 256));
      expect(await inputError(write(`random-${k}.onnx`, bytes))).toMatch(/^not (a valid ONNX file|an ONNX model|a valid ONNX model)/);
    }
    expect(await inputError(write('readme.onnx', '# lipcheck\n\nThis is a text file, not a model.\n'))).toMatch(/^not (a valid ONNX file|an ONNX model)/);
  });

  it('truncated protobuf at many cut points', async () => {
    const full = convModel(goodWeight());
    for (const cut of [1, 5, 17, Math.floor(full.length / 2), full.length - 40, full.length - 3]) {
      const msg = await inputError(write(`cut-${cut}.onnx`, full.subarray(0, cut)));
      expect(msg).toMatch(/truncated or corrupt|not an ONNX model|not a valid ONNX/);
    }
  });

  it('a graph with no conv or dense layer', async () => {
    const relu = buildModel({ nodes: [node('Relu', ['x'], ['y'])], inputs: [valueInfo('x', [1, 3])], outputs: [valueInfo('y', null)] });
    expect(await inputError(write('relu.onnx', relu))).toBe('no conv or dense layer found in the graph');
  });
});

describe('bad tensors', () => {
  it('string weight: unsupported data type', async () => {
    const w = { name: 'w', dims: [1, 2, 1, 1], data_type: DataType.STRING, string_data: [new Uint8Array([97]), new Uint8Array([98])] };
    expect(await inputError(write('string.onnx', convModel(w)))).toBe("layer 'conv': tensor 'w': unsupported data type STRING");
  });

  it('NaN and Inf weights', async () => {
    const data = Array.from({ length: 54 }, () => 0.1);
    data[13] = NaN;
    expect(await inputError(write('nan.onnx', convModel(floatTensor('w', [3, 2, 3, 3], data))))).toBe("layer 'conv': weight contains NaN");
    data[13] = -Infinity;
    expect(await inputError(write('inf.onnx', convModel(floatTensor('w', [3, 2, 3, 3], data, 'float16'))))).toBe("layer 'conv': weight contains Inf");
  });

  it('a folded BatchNormalization with a NaN scale or a negative variance is named, not the conv weights', async () => {
    const bnModel = (gamma: number[], variance: number[]) => buildModel({
      nodes: [node('Conv', ['x', 'w'], ['c'], {}, 'conv'), node('BatchNormalization', ['c', 'g', 'b', 'm', 'v'], ['y'], {}, 'bn')],
      initializers: [goodWeight(), floatTensor('g', [3], gamma), floatTensor('b', [3], [0, 0, 0]), floatTensor('m', [3], [0, 0, 0]), floatTensor('v', [3], variance)],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    expect(await inputError(write('nan-bn.onnx', bnModel([1, NaN, 1], [1, 1, 1])))).toMatch(/^layer 'conv': BatchNormalization 'bn': gamma \/ sqrt\(var \+ eps\) is NaN at channel 1 \(gamma NaN, var 1, eps /);
    expect(await inputError(write('neg-var-bn.onnx', bnModel([1, 1, 1], [1, 1, -5])))).toMatch(/^layer 'conv': BatchNormalization 'bn': gamma \/ sqrt\(var \+ eps\) is NaN at channel 2 \(gamma 1, var -5, /);
  });

  it('absurd declared dims are refused before allocating', async () => {
    const huge = { name: 'w', dims: [100000, 100000, 3, 3], data_type: DataType.FLOAT, raw_data: new Uint8Array(16) };
    expect(await inputError(write('huge.onnx', convModel(huge)))).toMatch(/shape \[100000, 100000, 3, 3\] needs 335\.3 GiB, over the 2\.0 GiB limit/);
    const short = { name: 'w', dims: [3, 2, 3, 3], data_type: DataType.FLOAT, raw_data: new Uint8Array(12) };
    expect(await inputError(write('short-raw.onnx', convModel(short)))).toMatch(/raw_data holds 12 bytes but shape \[3, 2, 3, 3\] of FLOAT needs 216/);
    const fewFloats = { name: 'w', dims: [3, 2, 3, 3], data_type: DataType.FLOAT, float_data: [1, 2, 3] };
    expect(await inputError(write('short-float.onnx', convModel(fewFloats)))).toMatch(/float_data holds 3 values but the shape needs 54/);
    expect(await inputError(write('limit.onnx', convModel(goodWeight())), { maxTensorBytes: 100 })).toMatch(/needs 216 bytes, over the 100 bytes limit/);
  });

  it('misaligned raw_data is copied, aligned raw_data is viewed in place', () => {
    const values = [1.5, -2.25, 3.125, 1e-3];
    const backing = new Uint8Array(1 + 16 + 3);
    backing.set(new Uint8Array(Float32Array.from(values).buffer), 1);
    const ctx = { modelDir: dir, maxTensorBytes: 1 << 20 };
    const mis = decodeTensor({ name: 't', dims: [4], data_type: DataType.FLOAT, raw_data: backing.subarray(1, 17) } as never, ctx);
    expect(Array.from(mis.data)).toEqual(values.map(Math.fround));
    const alignedBacking = new Uint8Array(20);
    alignedBacking.set(new Uint8Array(Float32Array.from(values).buffer), 4);
    const al = decodeTensor({ name: 't', dims: [4], data_type: DataType.FLOAT, raw_data: alignedBacking.subarray(4, 20) } as never, ctx);
    expect(al.data.buffer).toBe(alignedBacking.buffer);
    expect(Array.from(al.data)).toEqual(values.map(Math.fround));
    // Large misaligned float tensors are shifted into alignment inside their own buffer (no copy),
    // and decoding the same proto again still gives the same values.
    const big = Float32Array.from(normalArrayForTest(64));
    const file = new Uint8Array(3 + 256);
    file.set(new Uint8Array(big.buffer), 3);
    const proto = { name: 'big', dims: [64], data_type: DataType.FLOAT, raw_data: file.subarray(3) };
    const first = decodeTensor(proto as never, ctx);
    expect(first.data.buffer).toBe(file.buffer);
    expect(Array.from(first.data)).toEqual(Array.from(big));
    expect(Array.from(decodeTensor(proto as never, ctx).data)).toEqual(Array.from(big));
    // int64 at an odd offset (shapes, pads)
    const i64 = new Uint8Array(1 + 16);
    new DataView(i64.buffer).setBigInt64(1, -3n, true);
    new DataView(i64.buffer).setBigInt64(9, 1n << 40n, true);
    const ints = decodeTensor({ name: 'p', dims: [2], data_type: DataType.INT64, raw_data: i64.subarray(1) } as never, ctx);
    expect(Array.from(ints.data)).toEqual([-3, 2 ** 40]);
  });
});

describe('external data', () => {
  it('beside the model loads; missing and short files are refused', async () => {
    fs.writeFileSync(path.join(dir, 'w.bin'), weightBytes());
    const ok = await loadModel(write('ext-ok.onnx', convModel(externalWeight('w.bin'))));
    expect(Array.from((ok.layers[0] as { weight: Float32Array }).weight.slice(0, 3))).toEqual([0.5, 0.5, 0.5]);
    expect(await inputError(write('ext-missing.onnx', convModel(externalWeight('missing.bin'))))).toBe(
      "layer 'conv': tensor 'w': external data file 'missing.bin' not found",
    );
    fs.writeFileSync(path.join(dir, 'short.bin'), weightBytes(20));
    expect(await inputError(write('ext-short.onnx', convModel(externalWeight('short.bin'))))).toMatch(
      /external data file 'short.bin' is too short \(needs 216 bytes at offset 0, file has 80\)/,
    );
    expect(await inputError(write('ext-offset.onnx', convModel(externalWeight('w.bin', 8))))).toMatch(/too short/);
    expect(await inputError(write('ext-length.onnx', convModel(externalWeight('w.bin', 0, 100))))).toMatch(/length 100 does not match the 216 bytes/);
  });

  it('paths escaping the model folder are refused: .., absolute, symlink', async () => {
    fs.writeFileSync(path.join(outside, 'w.bin'), weightBytes());
    const rel = path.relative(dir, path.join(outside, 'w.bin'));
    expect(await inputError(write('ext-dotdot.onnx', convModel(externalWeight(rel))))).toMatch(/leaves the model folder; refused/);
    expect(await inputError(write('ext-dotdot2.onnx', convModel(externalWeight('sub/../../x.bin'))))).toMatch(/leaves the model folder; refused/);
    expect(await inputError(write('ext-abs.onnx', convModel(externalWeight(path.join(outside, 'w.bin')))))).toMatch(/is an absolute path; refused/);
    fs.symlinkSync(path.join(outside, 'w.bin'), path.join(dir, 'link.bin'));
    expect(await inputError(write('ext-link.onnx', convModel(externalWeight('link.bin'))))).toMatch(/resolves outside the model folder; refused/);
    // a symlink that stays inside the folder is fine
    fs.symlinkSync(path.join(dir, 'w.bin'), path.join(dir, 'inner-link.bin'));
    fs.writeFileSync(path.join(dir, 'w.bin'), weightBytes());
    await expect(loadModel(write('ext-inner.onnx', convModel(externalWeight('inner-link.bin'))))).resolves.toBeTruthy();
  });
});

describe('graph-level handling', () => {
  it('torch-style flatten via Shape-Gather-Unsqueeze-Concat-Reshape gets a shape; an unknown op gives null, not a guess', async () => {
    const m = buildModel({
      nodes: [
        node('Conv', ['x', 'w'], ['c'], {}, 'conv'),
        node('Shape', ['c'], ['s']),
        node('Gather', ['s', 'zero'], ['n'], { axis: attr.i(0) }),
        node('Unsqueeze', ['n', 'axes0'], ['n1']),
        node('Concat', ['n1', 'minus1'], ['target'], { axis: attr.i(0) }),
        node('Reshape', ['c', 'target'], ['flat']),
        node('MatMul', ['flat', 'fc'], ['h'], {}, 'fc'),
        node('MysteryOp', ['h'], ['u'], {}, 'mystery'),
        node('MatMul', ['u', 'fc2'], ['y'], {}, 'fc2'),
      ],
      initializers: [
        goodWeight(), floatTensor('fc', [12, 5], new Array(60).fill(0.1)), floatTensor('fc2', [5, 2], new Array(10).fill(0.1)),
        intTensor('zero', [], [0], DataType.INT64), intTensor('axes0', [1], [0], DataType.INT64), intTensor('minus1', [1], [-1], DataType.INT64),
      ],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    const loaded = await loadModel(write('torch-flatten.onnx', m));
    expect(loaded.layers.map((l) => [l.name, (l as DenseLayer).inputShape, (l as DenseLayer).outputShape])).toEqual([
      ['conv', [2, 4, 4], [3, 2, 2]], ['fc', [12], [5]], ['fc2', null, null],
    ]);
  });


  it('weight that is not a constant is an unsupported layer with a reason', async () => {
    const m = buildModel({
      nodes: [node('Conv', ['x', 'w'], ['y'], {}, 'conv')],
      inputs: [valueInfo('x', [1, 2, 4, 4]), valueInfo('w', [3, 2, 3, 3])],
      outputs: [valueInfo('y', null)],
    });
    const loaded = await loadModel(write('runtime-weight.onnx', m));
    expect(loaded.layers).toEqual([expect.objectContaining({ kind: 'unsupported', name: 'conv', reason: "weight 'w' is computed at run time, not a constant" })]);
  });

  it('channel mismatch between input and weight', async () => {
    const m = buildModel({
      nodes: [node('Conv', ['x', 'w'], ['y'], {}, 'conv')],
      initializers: [goodWeight()],
      inputs: [valueInfo('x', [1, 5, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    expect(await inputError(write('channels.onnx', m))).toMatch(/input has 5 channels but the weight \[3, 2, 3, 3\] with group 1 expects 2/);
  });

  it('a BatchNormalization that does not follow a Conv is not folded, with a warning', async () => {
    const m = buildModel({
      nodes: [
        node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['n'], {}, 'pre_bn'),
        node('Conv', ['n', 'w'], ['y'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv'),
      ],
      initializers: [goodWeight(), ...['s', 'b', 'm', 'v'].map((k) => floatTensor(k, [2], [1, 1]))],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    const loaded = await loadModel(write('pre-bn.onnx', m));
    expect(loaded.warnings).toEqual([expect.stringMatching(/BatchNormalization 'pre_bn' does not directly follow a Conv/)]);
    expect((loaded.layers[0] as { foldedBatchNorm: boolean }).foldedBatchNorm).toBe(false);
  });
});

// ---------------------------------------------------------------- regressions found by test/fuzz.test.ts

/** x[1,2,4,4] -> Conv(weight through `between`, a chain of nodes from 'w' to 'w_last') -> y */
function chainedWeightModel(between: ReturnType<typeof node>[], weight = goodWeight()): Uint8Array {
  return buildModel({
    nodes: [...between, node('Conv', ['x', between.length ? 'w_last' : 'w'], ['y'], {}, 'conv')],
    initializers: [weight],
    inputs: [valueInfo('x', [1, 2, 4, 4])],
    outputs: [valueInfo('y', null)],
  });
}

/** n nodes of `op` from 'w' to 'w_last'. */
function chain(op: string, n: number, attrs: Record<string, ReturnType<typeof attr.i>> = {}): ReturnType<typeof node>[] {
  return Array.from({ length: n }, (_, i) => node(op, [i === 0 ? 'w' : `w${i - 1}`], [i === n - 1 ? 'w_last' : `w${i}`], attrs));
}

/** The conv model plus an If whose then_branch nests `depth` more Ifs, written with the wire writer (no recursion). */
function nestedIfModel(depth: number): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).fork(); // GraphProto.node, appended to the conv model's graph below
  for (let d = 0; d < depth; d++) {
    w.uint32((4 << 3) | 2).string('If').uint32((2 << 3) | 2).string(`o${d}`);
    w.uint32((5 << 3) | 2).fork(); // NodeProto.attribute
    w.uint32((1 << 3) | 2).string('then_branch').uint32(20 << 3).int32(AttributeType.GRAPH);
    w.uint32((6 << 3) | 2).fork(); // AttributeProto.g
    w.uint32((1 << 3) | 2).fork(); // GraphProto.node
  }
  for (let d = 0; d < depth; d++) w.ldelim().ldelim().ldelim();
  w.ldelim();
  const model = ModelProtoType.decode(convModel(goodWeight())) as unknown as { graph: object };
  const graphType = ModelProtoType.lookupType('onnx.GraphProto');
  const graphBytes = Buffer.concat([graphType.encode(model.graph).finish(), w.finish()]);
  const outer = protobuf.Writer.create().uint32((7 << 3) | 2).bytes(graphBytes).finish(); // ModelProto.graph
  return Buffer.concat([ModelProtoType.encode({ ...model, graph: undefined }).finish(), outer]);
}

async function timedLoad(file: string, opts = {}) {
  const t0 = performance.now();
  const model = await loadModel(file, opts);
  return { model, ms: performance.now() - t0 };
}

describe('hostile graphs (fuzz regressions)', () => {
  it('a STRING attribute with no value does not break the graph summary', async () => {
    // protobufjs gives an unset bytes field as a plain [] (TextDecoder threw a TypeError on it)
    const m = buildModel({
      nodes: [{ ...node('Conv', ['x', 'w'], ['y'], {}, 'conv'), attribute: [{ name: 'note', type: AttributeType.STRING }] }],
      initializers: [goodWeight()],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    const loaded = await loadModel(write('string-attr.onnx', m));
    expect(loaded.graph!.nodes[0].attrs).toEqual({ note: '' });
  });

  it('thousands of Identity / Transpose nodes between a weight and its layer: no stack overflow, same weight', async () => {
    const expected = Array.from({ length: 54 }, (_, i) => Math.fround((i % 7) / 10));
    for (const between of [chain('Identity', 5000), chain('Transpose', 3000, { perm: attr.ints([1, 0, 2, 3]) })]) {
      const { model, ms } = await timedLoad(write('chain.onnx', chainedWeightModel(between)));
      expect(Array.from((model.layers[0] as ConvLayer).weight)).toEqual(expected); // an even number of transposes
      expect(model.layers[0].notes.length).toBeLessThanOrEqual(14); // notes capped, not one per node
      expect(ms).toBeLessThan(HANG_MS);
    }
    // A broken weight at the bottom of the chain fails once, not once per chain node (was quadratic).
    const short = { name: 'w', dims: [3, 2, 3, 3], data_type: DataType.FLOAT, raw_data: new Uint8Array(12) };
    const t0 = performance.now();
    expect(await inputError(write('chain-bad.onnx', chainedWeightModel(chain('Transpose', 5000, { perm: attr.ints([1, 0, 2, 3]) }), short)))).toMatch(
      /raw_data holds 12 bytes but shape \[3, 2, 3, 3\] of FLOAT needs 216/,
    );
    expect(performance.now() - t0).toBeLessThan(HANG_MS);
  });

  it('a long constant chain closed into a cycle (a duplicate producer) is not a constant, and no stack overflow', async () => {
    const between = [...chain('Identity', 3000), node('Identity', ['w_last'], ['w0'])]; // w0 -> ... -> w_last -> w0
    const model = await loadModel(write('chain-cycle.onnx', chainedWeightModel(between)));
    expect(model.layers).toEqual([expect.objectContaining({ kind: 'unsupported', name: 'conv', reason: "weight 'w_last' is computed at run time, not a constant" })]);
  });

  it('nodes stored in reverse order are sorted in O(n log n): 20000 nodes load in well under a second or two', async () => {
    const relus = Array.from({ length: 20000 }, (_, i) => node('Relu', [i === 0 ? 'x' : `r${i - 1}`], [`r${i}`]));
    const m = buildModel({
      nodes: [node('Conv', ['r19999', 'w'], ['y'], {}, 'conv'), ...relus].reverse(),
      initializers: [goodWeight()],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    const { model, ms } = await timedLoad(write('reversed.onnx', m));
    expect(model.graph!.nodes.at(-1)!.op).toBe('Conv');
    expect((model.layers[0] as ConvLayer).inputShape).toEqual([2, 4, 4]);
    expect(ms).toBeLessThan(HANG_MS);
  });

  it('a large constant with thousands of consumers is neither copied per consumer nor per shape query', async () => {
    const n = 1 << 18; // 1 MiB of float32, read by 2000 Add nodes
    const big = floatTensor('big', [n], new Float32Array(n).fill(0.5));
    const codes = intTensor('codes', [64], Array.from({ length: 64 }, (_, i) => i - 32), DataType.INT8);
    const adds = Array.from({ length: 2000 }, (_, i) => node('Add', ['big', i % 2 ? 'big' : 'codes'], [`a${i}`]));
    const m = buildModel({
      nodes: [node('Conv', ['x', 'w'], ['y'], {}, 'conv'), ...adds],
      initializers: [goodWeight(), big, codes],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    const { model, ms } = await timedLoad(write('many-consumers.onnx', m));
    expect(ms).toBeLessThan(HANG_MS); // was ~2000 x Array.from(262144) in shape propagation
    const nodes = model.graph!.nodes.filter((x) => x.inputs[1] === 'codes');
    expect(nodes[0].constInputs[1]).toBe(nodes[1].constInputs[1]); // one float copy of the int8 tensor, shared
    expect(nodes[0].constInputs[1]![0]).toBe(-32);
  });

  it('constants copied by a chain of Transposes are counted against the memory limit', async () => {
    const weight = floatTensor('w', [20, 2, 5, 5], new Array(1000).fill(0.25)); // 4000 bytes
    const file = write('transpose-copies.onnx', chainedWeightModel(chain('Transpose', 2, { perm: attr.ints([1, 0, 2, 3]) }), weight));
    // limit 4096 per tensor, 8192 in all: the weight and its first copy fit, the second copy does not
    expect(await inputError(file, { maxTensorBytes: 4096 })).toBe("layer 'conv': the graph's constants need more than 8192 bytes of memory (after 'w'); refused");
    await expect(loadModel(file, { maxTensorBytes: 8192 })).resolves.toBeTruthy(); // 12000 bytes of 16384
  });

  it('cycles end in a loaded model whose network bound is not certified, never a loop', async () => {
    const m = buildModel({
      nodes: [
        node('Conv', ['x', 'w'], ['c'], {}, 'conv'),
        node('Add', ['c', 'back'], ['s'], {}, 'add'),
        node('Relu', ['s'], ['back'], {}, 'relu'), // s -> back -> s
        node('Conv', ['s', 'w2'], ['y'], {}, 'conv2'),
        node('Relu', ['self'], ['self'], {}, 'selfloop'),
      ],
      initializers: [goodWeight(), floatTensor('w2', [1, 3, 1, 1], [1, 1, 1])],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    const model = await loadModel(write('cycle.onnx', m));
    expect(model.layers.map((l) => l.name)).toEqual(['conv', 'conv2']);
    const net = networkBound(model.graph!, [1, 1]);
    expect(net.certified).toBe(false);
    expect(net.bound).toBeNull();
  });

  it('subgraphs nested too deeply are refused: by the loader at 33 levels, by the decoder at thousands', async () => {
    await expect(loadModel(write('nest-8.onnx', nestedIfModel(8)))).resolves.toBeTruthy();
    expect(await inputError(write('nest-40.onnx', nestedIfModel(40)))).toBe('subgraphs nested more than 32 levels deep');
    expect(await inputError(write('nest-20000.onnx', nestedIfModel(20000)))).toBe('not a valid ONNX file: messages nested too deeply to decode');
  });

  it('int64 conv attributes beyond 2^53 and impossible ConvTranspose output shapes are refused', async () => {
    const conv = (attrs: Record<string, ReturnType<typeof attr.ints>>, op = 'Conv') =>
      buildModel({
        nodes: [node(op, ['x', 'w'], ['y'], attrs, 'conv')],
        initializers: [goodWeight()],
        inputs: [valueInfo('x', op === 'Conv' ? [1, 2, 4, 4] : [1, 3, 4, 4])],
        outputs: [valueInfo('y', null)],
      });
    expect(await inputError(write('pads-huge.onnx', conv({ pads: attr.ints([1, 2 ** 60, 1, 1]) })))).toBe("layer 'conv': node 'conv': invalid kernel/stride/dilation/pads");
    const padded = buildModel({
      nodes: [node('Pad', ['x', 'p'], ['xp'], {}, 'pad'), node('Conv', ['xp', 'w'], ['y'], {}, 'conv')],
      initializers: [goodWeight(), intTensor('p', [8], [0, 0, 2 ** 60, 1, 0, 0, 1, 1], DataType.INT64)],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    expect(await inputError(write('pad-huge.onnx', padded))).toBe(`layer 'conv': pads [${2 ** 60}, 1, 1, 1] out of range`);
    // full ConvTranspose output is 4 + 3 - 1 = 6 per axis: 9 would need negative pads
    expect(await inputError(write('ct-shape.onnx', conv({ output_shape: attr.ints([9, 9]) }, 'ConvTranspose')))).toBe(
      "layer 'conv': node 'conv': output_shape [9, 9] needs negative pads [-1, -1, -2, -2]; not supported",
    );
    expect(await inputError(write('ct-rank.onnx', conv({ output_shape: attr.ints([6, 6, 6]) }, 'ConvTranspose')))).toBe(
      "layer 'conv': node 'conv': attribute output_shape [6, 6, 6] does not fit 2 spatial dims",
    );
  });

  it('names with control characters are escaped in messages: one printable line', async () => {
    const data = new Array(54).fill(0.1);
    data[5] = NaN;
    const m = buildModel({
      nodes: [node('Conv', ['x', 'w'], ['y'], {}, 'evil\n\u001b[31mred')],
      initializers: [floatTensor('w', [3, 2, 3, 3], data)],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    expect(await inputError(write('evil-name.onnx', m))).toBe("layer 'evil\\n\\u001b[31mred': weight contains NaN");
  });
});

describe('numbers', () => {
  it('a layer whose power iteration did not converge says so: a stderr warning naming it, and converged false in the JSON', async () => {
    const w = floatTensor('w', [3, 2, 3, 3], normalArray(54, 5));
    fs.writeFileSync(path.join(dir, 'slow-power.onnx'), convModel(w));
    const run = await runInProcess(['slow-power.onnx', '--methods', 'power,frobenius', '--iterations', '2', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^lipcheck: warning: conv: power iteration did not converge in \d+ iterations \(its value is a lower estimate only\)$/m);
    const layer = (JSON.parse(run.stdout) as { layers: { details: { power: { converged: boolean } } }[] }).layers[0];
    expect(layer.details.power.converged).toBe(false);
  });

  it('a zero kernel gives 0 from every method, not NaN', async () => {
    const m = buildModel({
      nodes: [node('Conv', ['x', 'w'], ['c'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv'), node('Flatten', ['c'], ['f']), node('Gemm', ['f', 'fc'], ['y'], { transB: attr.i(1) }, 'fc')],
      initializers: [floatTensor('w', [3, 2, 3, 3], new Array(54).fill(0)), floatTensor('fc', [5, 48], new Array(240).fill(0))],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('y', null)],
    });
    const model = await loadModel(write('zero.onnx', m));
    const bounds = await boundLayers(model.layers, { ...DEFAULT_ENGINE_OPTIONS, samples: 8 });
    for (const b of bounds) {
      expect(Object.keys(b.methods).sort()).toEqual(['frobenius', 'power', 'spectral', 'toeplitz']);
      for (const r of Object.values(b.methods)) expect([b.name, r.value, r.error]).toEqual([b.name, 0, undefined]);
      expect(b.best).toBe(0);
    }
  });
});
