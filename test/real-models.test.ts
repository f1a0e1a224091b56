// lipcheck end to end on real trained checkpoints (PaddleOCR exports shipped in npm devDependencies),
// as a user runs it: the CLI's main() with --json. Layer counts are checked against an independent
// census of the graph's nodes (test/helpers/census.ts: protobufjs on the wire format, not src/onnx),
// whose output per model is pinned below (scripts/census.ts prints it).
// Plus regression fixtures for what these models broke in the loader.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureSpecs } from '../scripts/gen-fixtures.js';
import { REAL_MODELS, boundViolations, modelPath, runLipcheck, type RealModel } from '../scripts/real-models.js';
import type { ConvLayer } from '../src/model/layer.js';
import { attr, buildModel, floatTensor, node, valueInfo } from '../src/onnx/build.js';
import { loadModel } from '../src/onnx/load.js';
import { decodeModel, type GraphProto } from '../src/onnx/schema.js';
import type { LipcheckReport, ReportLayer } from '../src/report/types.js';
import { expectOrtMatchesMatrix } from './helpers/ort-affine.js';
import { censusOf, type Census } from './helpers/census.js';
import { explicitMatrix } from './helpers/exact.js';
import { empiricalLipschitzInBox } from './helpers/empirical.js';

// ---------------------------------------------------------------------------------------------
// Independent graph census (test/helpers/census.ts: protobufjs on the wire format, no src/onnx code)
// ---------------------------------------------------------------------------------------------

/** What lipcheck reported, in the census's terms. */
function reportedCensus(r: LipcheckReport): Census {
  const count = (f: (l: ReportLayer) => boolean) => r.layers.filter(f).length;
  return {
    Conv: count((l) => l.op === 'Conv' && l.kind === 'conv'),
    depthwiseOrGrouped: count((l) => l.op === 'Conv' && (l.group ?? 1) > 1),
    ConvTranspose: count((l) => l.op === 'ConvTranspose' && l.kind === 'conv'),
    Gemm: count((l) => l.op === 'Gemm' && l.kind === 'dense'),
    MatMulConst: count((l) => l.op === 'MatMul' && l.kind === 'dense'),
    MatMulDynamic: count((l) => l.op === 'MatMul' && l.kind === 'unsupported'),
    BatchNormalization: count((l) => l.foldedBatchNorm),
  };
}

// The census of each shipped model, as printed by `npx tsx scripts/census.ts` (which runs the same
// census): pinned, so a changed package file or a census regression shows up here. The counts agree
// with an earlier Python `onnx` survey of the same files.
const PINNED_CENSUS: Record<string, Census> = {
  'ppocrv4-det': { Conv: 62, depthwiseOrGrouped: 14, ConvTranspose: 2, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 3 },
  'ppocrv4-rec': { Conv: 38, depthwiseOrGrouped: 14, ConvTranspose: 0, Gemm: 0, MatMulConst: 9, MatMulDynamic: 4, BatchNormalization: 6 },
  'ppocr-cls': { Conv: 53, depthwiseOrGrouped: 11, ConvTranspose: 0, Gemm: 0, MatMulConst: 1, MatMulDynamic: 0, BatchNormalization: 35 },
  'ppocrv3-det': { Conv: 72, depthwiseOrGrouped: 15, ConvTranspose: 2, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 49 },
  'ppocrv3-rec': { Conv: 36, depthwiseOrGrouped: 13, ConvTranspose: 0, Gemm: 0, MatMulConst: 9, MatMulDynamic: 4, BatchNormalization: 32 },
  'en-ppocrv3-det': { Conv: 72, depthwiseOrGrouped: 15, ConvTranspose: 2, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 49 },
};

// Which models get a certified network bound, pinned (at the test input shapes): none today, each
// blocked by the ops named (uncertifiedOps as the walk reports them): Muls of two tensors that both
// depend on the input (squeeze-and-excitation gates; HardSwish written out as x * clip(x + 3, 0, 6) / 6
// is recognised). A change either way must update this on purpose.
const CERTIFIED_NETWORK: string[] = [];
const UNCERTIFIED_NETWORK: Record<string, string[]> = {
  'ppocrv4-det': ['Mul (p2o.Mul.110)', 'Mul (p2o.Mul.158)', 'Mul (p2o.Mul.160)', 'Mul (p2o.Mul.162)'],
  'ppocrv4-rec': ['Mul (p2o.Mul.126)'],
  'ppocr-cls': ['Mul (p2o.Mul.2)'],
  'ppocrv3-det': ['Mul (Mul_20)', 'Mul (Mul_21)', 'Mul (Mul_22)', 'Mul (Mul_23)'],
  'ppocrv3-rec': ['Mul (Mul_24)'],
  'en-ppocrv3-det': ['Mul (p2o.Mul.0)', 'Mul (p2o.Mul.2)', 'Mul (p2o.Mul.4)', 'Mul (p2o.Mul.6)'],
};

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

const ALL = 'toeplitz,spectral,power,frobenius';
const CHEAP = 'toeplitz,frobenius';
/** All four methods on the three @gutenye models and the float_data / -1-dim PP-OCRv3 detector;
 *  the cheap methods (no spectral, no power) on two more exports to keep the file fast. */
const PLAN: Record<string, string> = {
  'ppocrv4-det': ALL,
  'ppocrv4-rec': ALL,
  'ppocr-cls': ALL,
  'ppocrv3-det': ALL,
  'ppocrv3-rec': CHEAP,
  'en-ppocrv3-det': CHEAP,
};
const ITERATIONS = '50';

const nodeByName = (g: GraphProto) => new Map(g.node.map((n) => [n.name ?? '', n]));

describe.each(REAL_MODELS.filter((m) => m.id in PLAN))('$id ($pkg, $file)', (m: RealModel) => {
  const methods = PLAN[m.id].split(',');
  let report: LipcheckReport;
  let graph: GraphProto;
  let bytes: Uint8Array;
  let stderr: string;

  beforeAll(async () => {
    const file = modelPath(m);
    bytes = fs.readFileSync(file);
    graph = decodeModel(bytes).graph!;
    const run = await runLipcheck(file, ['--input-shape', m.testShape, '--methods', PLAN[m.id], '--iterations', ITERATIONS, '--input-range', '0:1']);
    expect(run.code).toBe(0);
    report = run.report;
    stderr = run.stderr;
  }, 120_000);

  it('finds every conv and dense layer: counts per op equal an independent census of the graph', () => {
    const independent = censusOf(bytes);
    expect(independent).toEqual(PINNED_CENSUS[m.id]);
    expect(reportedCensus(report)).toEqual(independent);
    const c = independent;
    expect(report.layers).toHaveLength(c.Conv + c.ConvTranspose + c.Gemm + c.MatMulConst + c.MatMulDynamic);
    expect(report.settings.inputShape).toEqual(m.testShape.split('x').map(Number));
  });

  it('every BatchNormalization is folded into its conv: no unfolded-BN warning', () => {
    expect(report.warnings.filter((w) => /BatchNormalization/.test(w))).toEqual([]);
    expect(stderr).not.toMatch(/not folded/);
  });

  it('only run-time x run-time MatMuls are unsupported, named with the reason', () => {
    const byName = nodeByName(graph);
    for (const l of report.layers.filter((x) => x.kind === 'unsupported')) {
      expect(l.op).toBe('MatMul');
      expect(l.unsupportedReason).toMatch(/both computed at run time/);
      expect(byName.get(l.name)?.op_type).toBe('MatMul');
    }
  });

  it('bounds are finite for every supported layer and per layer power <= spectral <= toeplitz <= frobenius', () => {
    expect(report.settings.methods).toEqual(methods);
    expect(report.layers.filter((l) => l.kind !== 'unsupported').length).toBeGreaterThan(40);
    expect(boundViolations(report)).toEqual([]);
    for (const l of report.layers.filter((x) => x.kind !== 'unsupported')) {
      const certified = [l.bounds.spectral, l.bounds.toeplitz, l.bounds.frobenius].filter((v): v is number => v !== null);
      expect(l.best).toBe(Math.min(...certified));
    }
  });

  it('the network bound is certified or not as pinned, and the uncertified ops are named and really are products of two run-time tensors', () => {
    const net = report.network;
    const bests = report.layers.map((l) => l.best);
    if (bests.every((b): b is number => b !== null)) {
      const product = bests.reduce((a, b) => a * b, 1);
      expect(net.naiveProduct).not.toBeNull();
      expect(Math.abs(net.naiveProduct! - product)).toBeLessThanOrEqual(1e-9 * product);
    } else {
      expect(net.naiveProduct).toBeNull();
    }
    expect(CERTIFIED_NETWORK.includes(m.id) !== m.id in UNCERTIFIED_NETWORK).toBe(true); // pinned one way
    if (CERTIFIED_NETWORK.includes(m.id)) {
      expect(net.certified).toBe(true);
      expect(net.bound).not.toBeNull();
      expect(Number.isFinite(net.bound!)).toBe(true);
      expect(net.uncertifiedOps).toEqual([]);
      return;
    }
    expect(net.certified).toBe(false);
    expect(net.bound).toBeNull();
    expect(net.uncertifiedOps).toEqual(UNCERTIFIED_NETWORK[m.id]);
    // Each named op is in the graph and multiplies two tensors that both depend on the input: such a
    // product has no global Lipschitz constant, so refusing to certify it is right.
    const constant = new Set<string>(graph.initializer.map((t) => t.name ?? ''));
    for (const n of graph.node) if (n.op_type === 'Constant') n.output.forEach((o) => constant.add(o));
    const byName = nodeByName(graph);
    for (const entry of net.uncertifiedOps) {
      const match = /^(\S+) \((.+)\)$/.exec(entry);
      expect(match, entry).not.toBeNull();
      const node = byName.get(match![2]);
      expect(node?.op_type, entry).toBe(match![1]);
      expect(['Mul', 'MatMul']).toContain(node!.op_type);
      expect(node!.input.filter((i) => constant.has(i))).toEqual([]);
    }
  });

  it('the local bound over the input box 0:1 is certified, finite and never below onnxruntime inside the box', async () => {
    const local = report.network.local!;
    expect(local.certified, local.notes.join('; ')).toBe(true);
    expect(Number.isFinite(local.bound!)).toBe(true);
    const shape = m.testShape.split('x').map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    const emp = await empiricalLipschitzInBox(bytes, shape, new Float64Array(n), new Float64Array(n).fill(1), { pairs: 8, steps: 4, seed: 5 });
    expect(emp).toBeGreaterThan(0);
    expect(local.bound!).toBeGreaterThanOrEqual(emp);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Regression fixtures for what the real models broke
// ---------------------------------------------------------------------------------------------

const FIXTURES = path.resolve(__dirname, '..', 'fixtures');
const spec = (name: string) => fixtureSpecs().find((s) => s.name === name)!;

describe('regression: ConvTranspose -> Add(constant bias) -> BatchNormalization (PP-OCR detection heads)', () => {
  const file = path.join(FIXTURES, 'convtranspose-add-bn.onnx');

  it('the BN is folded through the bias Add: W[i, o] * gamma[o] / sqrt(var[o] + 1e-5), no warning', async () => {
    const m = await loadModel(file);
    expect(m.warnings).toEqual([]);
    expect(m.layers).toHaveLength(1);
    const l = m.layers[0] as ConvLayer;
    expect(l.op).toBe('ConvTranspose');
    expect(l.foldedBatchNorm).toBe(true);
    expect(l.notes.join(';')).toMatch(/BatchNormalization 'bn' folded in through the constant bias Add 'bias_add'/);
    const { weights } = spec('convtranspose-add-bn');
    const w = weights['up.weight'];
    // ConvTranspose weight [cin=4, cout=3, 2, 2]: output channel o = index 1
    for (let i = 0; i < w.length; i++) {
      const o = Math.floor(i / 4) % 3;
      const expected = (w[i] * weights['bn.scale'][o]) / Math.sqrt(weights['bn.var'][o] + Math.fround(1e-5));
      expect(Math.abs(l.weight[i] - expected)).toBeLessThanOrEqual(1e-6 * Math.abs(expected) + 1e-12);
    }
  });

  it('the folded layer is what onnxruntime computes: y(x) - y(0) = A x', async () => {
    const m = await loadModel(file);
    const l = m.layers[0] as ConvLayer;
    const { a, rows, cols } = explicitMatrix(l);
    expect([rows, cols]).toEqual([3 * 10 * 10, 4 * 5 * 5]);
    await expectOrtMatchesMatrix(file, [1, 4, 5, 5], { a, rows, cols }, 7);
  });

  it('the network bound is the folded layer bound (the BN is not counted a second time)', async () => {
    const run = await runLipcheck(file, ['--methods', 'spectral']);
    expect(run.report.network.certified).toBe(true);
    expect(run.report.network.bound).toBe(run.report.layers[0].best);
  });
});

describe('regression: input dims [-1, 3, ?, ?] with neither dim_value nor dim_param (PP-OCRv3 exports)', () => {
  const file = path.join(FIXTURES, 'unnamed-dims.onnx');

  it('the warning shows each unknown dim as ?, not as an empty string', async () => {
    const m = await loadModel(file);
    // (the rest of the wording -- what an assumed size means for the bounds -- is the loader tests' business)
    expect(m.warnings).toHaveLength(1);
    expect(m.warnings[0]).toMatch(/^input 'x' \[\?, 3, \?, \?\] has symbolic spatial dims; \w+ 224 for axis 2, axis 3 \(.*pass --input-shape to choose\)$/);
    expect(m.info.inputShape).toEqual([1, 3, 224, 224]);
  });

  it('--input-shape fills them; a mismatching channel count names the model dims readably', async () => {
    const m = await loadModel(file, { inputShape: [1, 3, 9, 7] });
    expect((m.layers[0] as ConvLayer).inputShape).toEqual([3, 9, 7]);
    await expect(loadModel(file, { inputShape: [1, 4, 9, 7] })).rejects.toThrow(/model input 'x' \[\?, 3, \?, \?\] \(axis 1 is 3\)/);
  });
});

describe('the census (test/helpers/census.ts) on a model built here', () => {
  it('counts each op kind, MatMul by weight constness (initializer or Constant node), top-level default-domain nodes only', () => {
    const w = (name: string, dims: number[]) => floatTensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5));
    const bytes = buildModel({
      nodes: [
        node('Conv', ['x', 'w1'], ['c1'], { group: attr.i(1) }),
        node('Conv', ['c1', 'w2'], ['c2'], { group: attr.i(2) }),
        node('BatchNormalization', ['c2', 's', 'b', 'm', 'v'], ['bn']),
        node('ConvTranspose', ['bn', 'w3'], ['t']),
        node('Flatten', ['t'], ['f']),
        node('Gemm', ['f', 'g'], ['h']),
        node('Constant', [], ['k'], { value: attr.t(w('kv', [4, 4])) }),
        node('MatMul', ['h', 'k'], ['m1']), // Constant weight
        node('MatMul', ['m1', 'g2'], ['m2']), // initializer weight
        node('MatMul', ['m1', 'm2'], ['m3']), // two run-time tensors
        { ...node('Conv', ['x', 'w1'], ['other'], {}, 'custom'), domain: 'com.example' }, // not the ONNX domain
      ],
      initializers: [w('w1', [2, 2, 3, 3]), w('w2', [2, 1, 3, 3]), w('s', [2]), w('b', [2]), w('m', [2]), w('v', [2]), w('w3', [2, 2, 2, 2]), w('g', [4, 8]), w('g2', [4, 4])],
      inputs: [valueInfo('x', [1, 2, 4, 4])],
      outputs: [valueInfo('m3', null)],
    });
    expect(censusOf(bytes)).toEqual({ Conv: 2, depthwiseOrGrouped: 1, ConvTranspose: 1, Gemm: 1, MatMulConst: 2, MatMulDynamic: 1, BatchNormalization: 1 });
  });
});

describe('boundViolations (the contract check the real-model tests and the README script share)', () => {
  it('passes a sound report and names each broken relation and each missing number', async () => {
    const { report } = await runLipcheck(path.join(FIXTURES, 'plain-cnn.onnx'), ['--methods', 'toeplitz,spectral,power,frobenius']);
    expect(boundViolations(report)).toEqual([]);
    const broken = structuredClone(report);
    const [a, b, c] = broken.layers;
    a.bounds.spectral = a.details.spectral!.ownValue = a.bounds.power! * 0.99; // a certified bound below the lower estimate
    b.bounds.toeplitz = null;
    // a method's own value above the next looser one by more than its stated slack, though the
    // reported (min-taken) values look fine
    c.details.spectral!.ownValue = 2 * c.bounds.toeplitz!;
    expect(boundViolations(broken)).toEqual([
      `${a.name}: power <= spectral fails: ${a.bounds.power} > ${a.bounds.spectral}`,
      expect.stringMatching(new RegExp(`^${b.name}: toeplitz = null`)),
      expect.stringMatching(new RegExp(`^${c.name}: spectral <= toeplitz fails`)),
    ]);
  });
});
