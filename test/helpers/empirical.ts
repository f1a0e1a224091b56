// Independent checks through onnxruntime-node (shares no code with src/):
//  - empiricalLipschitz: a LOWER bound on a model's l2 Lipschitz constant, max ||f(x)-f(y)||/||x-y||
//    over random nearby pairs refined by gradient-free ascent; a certified bound must never be below it.
//  - explicitOperator: the matrix of an affine model (f(e_i) - f(0) for every basis vector e_i).
//  - tensorShapes: every intermediate tensor's shape, by running the model with all node outputs exposed.
// Inputs are fed in batches where the model's batch dimension is symbolic, one at a time where it is fixed at 1.
import * as ort from 'onnxruntime-node';
import { buildModel, type ModelSpec, valueInfo } from '../../src/onnx/build.js';
import { seededNormal, seededRandom } from '../../src/util/random.js';

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Sessions whose input has a fixed batch of 1 (generated benchmark models): run one sample at a time. */
const batchOfOne = new WeakSet<ort.InferenceSession>();

/** Runs a batch of samples (each of `sampleShape`) and returns each sample's outputs concatenated (all graph outputs). */

async function runBatch(session: ort.InferenceSession, sampleShape: number[], xs: Float64Array[]): Promise<Float64Array[]> {
  if (xs.length > 1 && batchOfOne.has(session)) {
    const out: Float64Array[] = [];
    for (const x of xs) out.push(...(await runBatch1(session, sampleShape, [x])));
    return out;
  }
  if (xs.length > 1) {
    try {
      return await runBatch1(session, sampleShape, xs);
    } catch (err) {
      if (!/invalid dimensions/i.test(String(err))) throw err;
      batchOfOne.add(session);
      return runBatch(session, sampleShape, xs);
    }
  }
  return runBatch1(session, sampleShape, xs);
}

async function runBatch1(session: ort.InferenceSession, sampleShape: number[], xs: Float64Array[]): Promise<Float64Array[]> {
  const n = prod(sampleShape);
  const data = new Float32Array(xs.length * n);
  xs.forEach((x, b) => data.set(x, b * n));
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [xs.length, ...sampleShape]) };
  const res = await session.run(feeds);
  const parts = session.outputNames.map((name) => res[name].data as Float32Array);
  return xs.map((_, b) => {
    const chunks = parts.map((p) => {
      const per = p.length / xs.length;
      return p.subarray(b * per, (b + 1) * per);
    });
    const out = new Float64Array(chunks.reduce((a, c) => a + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  });
}

const dist = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
};

function normalize(v: Float64Array): Float64Array {
  const n = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  return v.map((x) => x / n);
}

/** What both estimators start from: the model's session, the sample shape and size, seeded draws. */
async function probeSetup(modelBytes: Uint8Array, inputShape: number[], seed: number) {
  const session = await ort.InferenceSession.create(modelBytes);
  const sample = inputShape.slice(1);
  return { session, sample, n: prod(sample), gauss: seededNormal(seed), unif: seededRandom(seed + 1) };
}

interface Probe {
  x: Float64Array;
  u: Float64Array;
  r: number;
  ratio: number;
}

/**
 * Lower bound on the l2 Lipschitz constant of the model (input -> all outputs concatenated).
 * inputShape includes the batch dim (its value is ignored). Pairs are (x, x + r u) with x ~ N(0, I),
 * u a unit direction and r spread over two decades (relative perturbation >= 1e-2; each ratio is taken
 * over the float32 inputs actually run, so only output rounding, ~1e-7 relative per output, remains).
 * Ascent: for small inputs the best probes' directions are first set to the top singular vector of a
 * finite-difference Jacobian; then the best probes are perturbed (x, u, r) and improvements kept.
 */
export async function empiricalLipschitz(
  modelBytes: Uint8Array,
  inputShape: number[],
  opts: { pairs: number; steps: number; seed: number },
): Promise<number> {
  const { session, sample, n, gauss, unif } = await probeSetup(modelBytes, inputShape, opts.seed);
  const randn = () => Float64Array.from({ length: n }, gauss);
  const scale = Math.sqrt(n);

  const evaluate = async (probes: Omit<Probe, 'ratio'>[]): Promise<Probe[]> => {
    const xs = probes.flatMap((p) => [p.x, p.x.map((v, i) => v + p.r * p.u[i])]);
    const ys = await runBatch(session, sample, xs);
    // divide by the distance of the float32 inputs onnxruntime actually ran (not the intended r):
    // the ratio is then a true difference quotient of the evaluated function
    return probes.map((p, k) => ({ ...p, ratio: dist(ys[2 * k], ys[2 * k + 1]) / dist(xs[2 * k].map(Math.fround), xs[2 * k + 1].map(Math.fround)) }));
  };

  let probes = await evaluate(
    Array.from({ length: opts.pairs }, () => ({ x: randn(), u: normalize(randn()), r: scale * 10 ** (-2 + 2 * unif()) })),
  );
  let best = Math.max(...probes.map((p) => p.ratio));
  const keep = Math.max(1, Math.min(8, opts.pairs));
  if (n <= 1024) {
    // small inputs: steer the best probes' directions to the top right singular vector of a
    // finite-difference Jacobian at x (still only an actual pair's ratio is ever reported)
    probes.sort((p, q) => q.ratio - p.ratio);
    const steered = [];
    for (const p of probes.slice(0, 3)) {
      const h = 1e-2;
      const xs = [p.x, ...Array.from({ length: n }, (_, i) => p.x.map((v, j) => (i === j ? v + h : v)))];
      const ys = await runBatch(session, sample, xs);
      const m = ys[0].length;
      const jac = (r: number, i: number) => (ys[i + 1][r] - ys[0][r]) / h;
      let u = normalize(randn());
      for (let it = 0; it < 50; it++) {
        const ju = Array.from({ length: m }, (_, r) => u.reduce((acc, ui, i) => acc + jac(r, i) * ui, 0));
        const jtju = Float64Array.from({ length: n }, (_, i) => ju.reduce((acc, v, r) => acc + jac(r, i) * v, 0));
        if (!jtju.some((v) => v !== 0)) break;
        u = normalize(jtju);
      }
      for (const r of [1e-2, 1e-1]) steered.push({ x: p.x, u, r: r * scale });
    }
    const ev = await evaluate(steered);
    probes = [...probes, ...ev];
    best = Math.max(best, ...ev.map((p) => p.ratio));
  }
  best = Math.max(best, await ascend(probes, opts.steps, keep, evaluate, (p, step) => {
    const sigma = 0.5 * (1 - step / opts.steps) + 0.02;
    return {
      x: p.x.map((v) => v + sigma * gauss()),
      u: normalize(p.u.map((v) => v + sigma * gauss() / Math.sqrt(n))),
      r: Math.min(scale, Math.max(scale * 1e-2, p.r * Math.exp(0.5 * sigma * gauss()))),
    };
  }));
  await session.release();
  return best;
}

/**
 * Gradient-free ascent shared by both estimators: each step keeps the `keep` best probes and tries
 * four mutations of each; returns the best ratio any evaluated pair reached (never a guess).
 */
async function ascend(
  start: Probe[],
  steps: number,
  keep: number,
  evaluate: (probes: Omit<Probe, 'ratio'>[]) => Promise<Probe[]>,
  mutate: (p: Probe, step: number) => Omit<Probe, 'ratio'>,
): Promise<number> {
  let probes = start;
  let best = Math.max(...probes.map((p) => p.ratio));
  for (let step = 0; step < steps; step++) {
    probes.sort((p, q) => q.ratio - p.ratio);
    const elite = probes.slice(0, keep);
    const evaluated = await evaluate(elite.flatMap((p) => Array.from({ length: 4 }, () => mutate(p, step))));
    probes = [...elite, ...evaluated];
    best = Math.max(best, ...evaluated.map((p) => p.ratio));
  }
  return best;
}

/** The matrix A (rows = output size, cols = input size) of an affine model: column i = f(e_i) - f(0). */
export async function explicitOperator(modelBytes: Uint8Array, inputShape: number[]): Promise<{ a: Float64Array; rows: number; cols: number }> {
  const session = await ort.InferenceSession.create(modelBytes);
  const sample = inputShape.slice(1);
  const cols = prod(sample);
  const xs = [new Float64Array(cols), ...Array.from({ length: cols }, (_, i) => Float64Array.from({ length: cols }, (_, j) => (i === j ? 1 : 0)))];
  const ys = await runBatch(session, sample, xs);
  await session.release();
  const rows = ys[0].length;
  const a = new Float64Array(rows * cols);
  for (let i = 0; i < cols; i++) for (let r = 0; r < rows; r++) a[r * cols + i] = ys[i + 1][r] - ys[0][r];
  return { a, rows, cols };
}

/** Shapes of every (float) node output, with the batch dim, from one run on zeros. */
export async function tensorShapes(spec: ModelSpec, inputShape: number[]): Promise<Map<string, number[]>> {
  const names = spec.nodes.flatMap((n) => n.output as string[]).filter((t) => t);
  const exposed = buildModel({ ...spec, outputs: names.map((t) => valueInfo(t, null)) });
  const session = await ort.InferenceSession.create(exposed);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(prod(inputShape)), inputShape) };
  const res = await session.run(feeds);
  const shapes = new Map<string, number[]>();
  for (const t of names) shapes.set(t, res[t].dims.map(Number));
  shapes.set(session.inputNames[0], inputShape);
  await session.release();
  return shapes;
}

/**
 * Lower bound on the l2 Lipschitz constant of the model restricted to the box [lo, hi] (one bound
 * per input element, float32-representable): random pairs in the box (far and near), then
 * projected ascent (perturb x, u, r; clamp both points of a pair to the box). Only ratios of pairs
 * actually run inside the box are reported.
 */
export async function empiricalLipschitzInBox(
  modelBytes: Uint8Array,
  inputShape: number[],
  lo: Float64Array,
  hi: Float64Array,
  opts: { pairs: number; steps: number; seed: number },
): Promise<number> {
  const { session, sample, n, gauss, unif } = await probeSetup(modelBytes, inputShape, opts.seed);
  const clamp = (x: Float64Array) => x.map((v, i) => Math.min(hi[i], Math.max(lo[i], v)));
  const width = Math.sqrt(lo.reduce((a, l, i) => a + (hi[i] - l) ** 2, 0));
  const evaluate = async (probes: { x: Float64Array; u: Float64Array; r: number }[]) => {
    const pairs = probes.map((p) => [clamp(p.x), clamp(p.x.map((v, i) => v + p.r * p.u[i]))]);
    const ys = await runBatch(session, sample, pairs.flat());
    return probes.map((p, k) => {
      const d = dist(pairs[k][0].map(Math.fround), pairs[k][1].map(Math.fround));
      return { ...p, ratio: d > 0 ? dist(ys[2 * k], ys[2 * k + 1]) / d : 0 };
    });
  };
  let probes = await evaluate(
    Array.from({ length: opts.pairs }, () => ({
      x: lo.map((l, i) => l + unif() * (hi[i] - l)),
      u: normalize(Float64Array.from({ length: n }, gauss)),
      r: width * 10 ** (-3 + 3 * unif()),
    })),
  );
  let best = Math.max(...probes.map((p) => p.ratio));
  const keep = Math.max(1, Math.min(8, opts.pairs));
  best = Math.max(best, await ascend(probes, opts.steps, keep, evaluate, (p, step) => {
    const sigma = 0.3 * (1 - step / opts.steps) + 0.01;
    return {
      x: clamp(p.x.map((v, i) => v + sigma * (hi[i] - lo[i]) * gauss())),
      u: normalize(p.u.map((v) => v + sigma * gauss() / Math.sqrt(n))),
      r: Math.min(width, Math.max(width * 1e-3, p.r * Math.exp(0.5 * sigma * gauss()))),
    };
  }));
  await session.release();
  return best;
}

/** Every float node output's values (by tensor name, per sample) for a batch of inputs; the model bytes get all node outputs exposed. */
export async function allTensorValues(modelBytes: Uint8Array, inputShape: number[], xs: Float64Array[]): Promise<Map<string, Float32Array[]>> {
  const { decodeModel, encodeModel } = await import('../../src/onnx/schema.js');
  const m = decodeModel(modelBytes) as unknown as { graph: { node: { output?: string[] }[]; output: Record<string, unknown>[] } };
  const have = new Set(m.graph.output.map((o) => o.name as string));
  for (const nd of m.graph.node) for (const t of nd.output ?? []) if (t && !have.has(t)) m.graph.output.push({ name: t });
  const session = await ort.InferenceSession.create(encodeModel(m as never));
  const out = new Map<string, Float32Array[]>();
  for (const x of xs) {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(x), inputShape) };
    const res = await session.run(feeds);
    for (const name of session.outputNames) {
      const d = res[name].data;
      if (!(d instanceof Float32Array)) continue;
      if (!out.has(name)) out.set(name, []);
      out.get(name)!.push(d);
    }
  }
  await session.release();
  return out;
}
