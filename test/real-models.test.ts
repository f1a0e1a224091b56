// lipcheck end to end on real trained checkpoints (PaddleOCR exports shipped in npm devDependencies),
// as a user runs it: the CLI's main() with --json. Layer counts are checked against an independent
// count of the graph's nodes (decoded here with the schema alone, not the loader), and against the
// counts a separate Python `onnx` survey found (scratch research, numbers copied below).
// Plus regression fixtures for what these models broke in the loader.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureSpecs } from '../scripts/gen-fixtures.js';
import { REAL_MODELS, boundViolations, modelPath, runLipcheck, type RealModel } from '../scripts/real-models.js';
import type { ConvLayer } from '../src/model/layer.js';
import { loadModel } from '../src/onnx/load.js';
import { decodeModel, type GraphProto, type NodeProto } from '../src/onnx/schema.js';
import type { LipcheckReport, ReportLayer } from '../src/report/types.js';
import { expectOrtMatchesMatrix } from './helpers/ort-affine.js';
import { explicitMatrix } from './helpers/exact.js';

// ---------------------------------------------------------------------------------------------
// Independent graph census
// ---------------------------------------------------------------------------------------------

interface Census {
  Conv: number;
  depthwiseOrGrouped: number;
  ConvTranspose: number;
  Gemm: number;
  /** MatMul whose second input is a Constant node's output or an initializer. */
  MatMulConst: number;
  /** MatMul with neither input constant (attention products). */
  MatMulDynamic: number;
  BatchNormalization: number;
}

function census(graph: GraphProto): Census {
  const constant = new Set<string>(graph.initializer.map((t) => t.name ?? ''));
  for (const n of graph.node) if (n.op_type === 'Constant') n.output.forEach((o) => constant.add(o));
  const c: Census = { Conv: 0, depthwiseOrGrouped: 0, ConvTranspose: 0, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 0 };
  const group = (n: NodeProto) => Number(n.attribute.find((a) => a.name === 'group')?.i ?? 1);
  for (const n of graph.node) {
    switch (n.op_type) {
      case 'Conv':
        c.Conv++;
        if (group(n) > 1) c.depthwiseOrGrouped++;
        break;
      case 'ConvTranspose':
        c.ConvTranspose++;
        break;
      case 'Gemm':
        c.Gemm++;
        break;
      case 'MatMul':
        if (constant.has(n.input[1])) c.MatMulConst++;
        else if (!constant.has(n.input[0])) c.MatMulDynamic++;
        break;
      case 'BatchNormalization':
        c.BatchNormalization++;
        break;
    }
  }
  return c;
}

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

// Counts from the Python `onnx` survey of the same files (onnx_summary.py): a second, independent census.
const SURVEY: Record<string, Census> = {
  'ppocrv4-det': { Conv: 62, depthwiseOrGrouped: 14, ConvTranspose: 2, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 3 },
  'ppocrv4-rec': { Conv: 38, depthwiseOrGrouped: 14, ConvTranspose: 0, Gemm: 0, MatMulConst: 9, MatMulDynamic: 4, BatchNormalization: 6 },
  'ppocr-cls': { Conv: 53, depthwiseOrGrouped: 11, ConvTranspose: 0, Gemm: 0, MatMulConst: 1, MatMulDynamic: 0, BatchNormalization: 35 },
  'ppocrv3-det': { Conv: 72, depthwiseOrGrouped: 15, ConvTranspose: 2, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 49 },
  'ppocrv3-rec': { Conv: 36, depthwiseOrGrouped: 13, ConvTranspose: 0, Gemm: 0, MatMulConst: 9, MatMulDynamic: 4, BatchNormalization: 32 },
  'en-ppocrv3-det': { Conv: 72, depthwiseOrGrouped: 15, ConvTranspose: 2, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 49 },
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
  let stderr: string;

  beforeAll(async () => {
    const file = modelPath(m);
    graph = decodeModel(fs.readFileSync(file)).graph!;
    const run = await runLipcheck(file, ['--input-shape', m.testShape, '--methods', PLAN[m.id], '--iterations', ITERATIONS]);
    expect(run.code).toBe(0);
    report = run.report;
    stderr = run.stderr;
  }, 120_000);

  it('finds every conv and dense layer: counts per op equal an independent census of the graph', () => {
    const independent = census(graph);
    expect(independent).toEqual(SURVEY[m.id]);
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

  it('the network bound is certified, or the uncertified ops are named and really are products of two run-time tensors', () => {
    const net = report.network;
    const bests = report.layers.map((l) => l.best);
    if (bests.every((b): b is number => b !== null)) {
      const product = bests.reduce((a, b) => a * b, 1);
      expect(net.naiveProduct).not.toBeNull();
      expect(Math.abs(net.naiveProduct! - product)).toBeLessThanOrEqual(1e-9 * product);
    } else {
      expect(net.naiveProduct).toBeNull();
    }
    if (net.certified) {
      expect(net.bound).not.toBeNull();
      expect(Number.isFinite(net.bound!)).toBe(true);
      expect(net.uncertifiedOps).toEqual([]);
      return;
    }
    expect(net.bound).toBeNull();
    expect(net.uncertifiedOps.length).toBeGreaterThan(0);
    // Every named op exists in the graph; here each is an SE gate or an unfused HardSwish
    // (x * f(x)): a product of two tensors that both depend on the input has no global Lipschitz
    // constant, so refusing to certify it is right.
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
    expect(m.warnings).toEqual([
      "input 'x' [?, 3, ?, ?] has symbolic spatial dims; using 224 for axis 2, axis 3 (pass --input-shape to choose)",
    ]);
    expect(m.info.inputShape).toEqual([1, 3, 224, 224]);
  });

  it('--input-shape fills them; a mismatching channel count names the model dims readably', async () => {
    const m = await loadModel(file, { inputShape: [1, 3, 9, 7] });
    expect((m.layers[0] as ConvLayer).inputShape).toEqual([3, 9, 7]);
    await expect(loadModel(file, { inputShape: [1, 4, 9, 7] })).rejects.toThrow(/model input 'x' \[\?, 3, \?, \?\] \(axis 1 is 3\)/);
  });
});

describe('boundViolations (the contract check the real-model tests and the README script share)', () => {
  it('passes a sound report and names each broken relation and each missing number', async () => {
    const { report } = await runLipcheck(path.join(FIXTURES, 'plain-cnn.onnx'), ['--methods', 'toeplitz,spectral,power,frobenius']);
    expect(boundViolations(report)).toEqual([]);
    const broken = structuredClone(report);
    const [a, b] = broken.layers;
    a.bounds.spectral = a.bounds.power! * 0.99; // a certified bound below the lower estimate
    b.bounds.toeplitz = null;
    expect(boundViolations(broken)).toEqual([
      `${a.name}: power <= spectral fails: ${a.bounds.power} > ${a.bounds.spectral}`,
      expect.stringMatching(new RegExp(`^${b.name}: toeplitz = null`)),
    ]);
  });
});
