// [power] baseline: the largest eigenvalue of A^T A by thick-restart Lanczos, where A is the layer's
// real operator run by onnxruntime-node (its own padding, stride, dilation, groups and input size).
// It estimates the l2 norm from BELOW: the value reported is ||A v|| / ||v|| for an actual vector v
// that was fed to onnxruntime (the final Ritz vector), never the Ritz value, so it is a true lower
// bound up to float32 rounding, whatever the convergence state or loss of orthogonality, and even if
// the adjoint were imperfect (the adjoint only steers v).
import os from 'node:os';
import type { ConvLayer, DenseLayer } from '../model/layer.js';
import { normalArray } from '../util/random.js';
import { KrylovBasis, Lanczos } from '../linalg/lanczos.js';
import { onnxruntime } from './onnxruntime.js';
import { native } from './clock.js';
import { convNormalModel, denseNormalModel, FORWARD, INPUT, NORMAL, WEIGHT, type NormalOperatorModel } from './normal-operator.js';
import type { MethodResult } from '../layer/types.js';

/** Largest input or output vector (elements, batch 1) power iteration runs on: 2^25, e.g. 32 x 1024 x 1024. */
export const MAX_OPERATOR_ELEMENTS = 1 << 25;

export interface PowerOptions {
  /** Cap on operator applications (one onnxruntime run of x -> A^T A x each). */
  iterations: number;
  tolerance: number;
  seed: number;
  /** onnxruntime intra-op threads; default os.availableParallelism(). Results measured identical for 1 and 2. */
  threads?: number;
  /** Max Krylov basis vectors; default MAX_BASIS, fewer when they would not fit in BASIS_BYTES. */
  basis?: number;
  /** Start vector (default: seeded Gaussian); one that A maps to 0 falls back to the seeded start. */
  start?: Float64Array;
  /** Keep a copy of the vector behind the value (powerRun): off by default, it costs a copy per measurement. */
  keepVector?: boolean;
}

/** One application of the normal operator: y = A x and z = A^T A x (the arrays may be reused by the next call). */
export type NormalStep = (x: Float32Array) => Promise<{ y: Float32Array; z: Float32Array }>;

export interface PowerLoopResult {
  /** max over the vectors actually run of ||A x|| / ||x||; each term is a valid lower bound. */
  value: number;
  /** Operator applications. */
  iterations: number;
  converged: boolean;
  /** sqrt of the last top Ritz value: the Krylov estimate, reported for comparison only (never as the value). */
  ritzEstimate: number | null;
  /** Estimated relative shortfall of the Ritz estimate below the norm when the loop stopped (shortfallEstimate). */
  errorEstimate: number | null;
  /** Relative residual ||A^T A v - rho v|| / (rho ||v||) of the last vector v run, rho = ||A v||^2 / ||v||^2. */
  residual: number | null;
  /** Thick restarts (basis full) and explicit restarts (a measured residual above the estimate). */
  restarts: number;
  /** Why the loop stopped early other than convergence ('A^T A x = 0'), else null. */
  stopReason: string | null;
  /** The vector whose run gave `value` (a copy), when one was run and opts.keepVector. */
  vector: Float32Array | null;
}

/**
 * Krylov basis cap. Thick restarts keep the top Ritz vectors, so for one extreme eigenpair a small
 * basis needs hardly more steps, while every step's full reorthogonalisation sweeps the whole basis
 * three times (see KrylovBasis.orthogonalise): 12-16 vectors ran fastest (docs/derivations.md#lanczos).
 */
export const MAX_BASIS = 16;
/** Memory cap of the float32 basis (16 vectors of a 64x112x112 input: 51 MB). */
export const BASIS_BYTES = 200 * 2 ** 20;
/**
 * The measured residual of the final Ritz vector may exceed the cheap estimate |beta y_m| by float32
 * rounding (operator and basis); beyond this factor the basis has lost orthogonality and the
 * estimate is not trusted: the loop restarts from the measured vector instead.
 */
const CONFIRM_SLACK = 4;
/**
 * Relative residual at which float32 rounding of onnxruntime's products (~1e-7 relative, more
 * for large fan-in) dominates: below it more steps cannot improve the estimate, so it counts as
 * converged whatever the tolerance.
 */
export const RESIDUAL_FLOOR = 1e-6;

/**
 * Estimated relative shortfall of sqrt(theta) below the top singular value, from the Ritz pair's
 * relative residual r = ||B v - theta v|| / theta and the relative gap delta = (theta - theta_2) /
 * theta to the next Ritz value: lambda_1 - theta ~ r^2 theta / delta (the standard a-posteriori
 * estimate, Parlett, The Symmetric Eigenvalue Problem, ch. 11), and |lambda - theta| <= r theta for
 * some eigenvalue lambda whatever the gap. Halved: sigma = sqrt(lambda).
 */
export function shortfallEstimate(r: number, delta: number | null): number {
  return Math.min(r, delta !== null && delta > 0 ? (r * r) / delta : Infinity) / 2;
}

/** ||z - rho x|| */
function residualNorm(z: ArrayLike<number>, x: ArrayLike<number>, rho: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (z[i] - rho * x[i]) ** 2;
  return Math.sqrt(s);
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** Basis size for an input of `size` floats: at most MAX_BASIS (or the requested cap), BASIS_BYTES, and the dimension. */
export function basisCapacity(size: number, requested = MAX_BASIS): number {
  const byBytes = Math.floor(BASIS_BYTES / (4 * size));
  return Math.max(1, Math.min(size, Math.max(2, Math.min(requested, byBytes))));
}

/** Ritz vectors kept at a thick restart: enough to hold a cluster at the top, few enough to leave room to grow. */
function thickKeep(capacity: number): number {
  return Math.max(1, Math.min(8, Math.floor(capacity / 4)));
}

type NormalOutput = Awaited<ReturnType<NormalStep>>;

/** What one run of the operator on x proves: sigma = ||A x|| / ||x|| (a lower bound) and the residual of x. */
function measured(x: Float32Array, out: NormalOutput): { sigma: number; residual: number | null } {
  const nx = norm(x);
  const sigma = norm(out.y) / nx;
  if (!Number.isFinite(sigma)) throw new Error('non-finite operator output');
  const rho = sigma * sigma;
  return { sigma, residual: rho > 0 ? residualNorm(out.z, x, rho) / (rho * nx) : null };
}

/**
 * Thick-restart Lanczos on B = A^T A (symmetric PSD), independent of how A is applied; each step
 * is one operator application. Seeded Gaussian start. The Krylov basis has full reorthogonalisation
 * (float64 arithmetic, float32 storage, see KrylovBasis) and at most basisCapacity vectors; when it
 * is full the top thickKeep Ritz vectors are kept and the iteration continues from the residual.
 *
 * Converged when the estimated shortfall of the top Ritz value (shortfallEstimate, from the cheap
 * residual |beta y_m| and the gap to the second Ritz value) is at most `tolerance` on two
 * consecutive steps, or the residual reached RESIDUAL_FLOOR, AND a real run of the Ritz vector v
 * confirms the residual (within CONFIRM_SLACK). Unlike the stagnation test of plain power iteration
 * this does not stop early on a dense top of the spectrum (that stopped 0.1-0.7% short on
 * ResNet-50), and Lanczos is not slowed to a crawl by a near-degenerate top pair. It is still an
 * estimate: a start with little weight on the top singular vector can converge to the second one
 * first (a conv1d case with the top pair 1.1e-3 apart stops 3e-4..9e-4 short for some seeds at
 * tolerance 1e-4). Hence the VALUE is never the Ritz value but the best ||A x|| / ||x|| over the
 * vectors actually run (the last of which is v): a true lower bound up to float32 rounding whatever
 * the state of the basis. Stops at `iterations` applications, the last of which is kept for the
 * Ritz vector so that the cap never wastes the Krylov space built.
 */
export async function lanczosLoop(size: number, step: NormalStep, opts: PowerOptions): Promise<PowerLoopResult> {
  const cap = basisCapacity(size, opts.basis);
  const keep = Math.min(thickKeep(cap), cap - 1);
  const basis = new KrylovBasis(size, cap);
  const lz = new Lanczos(basis);
  const ritz = new Float32Array(size);
  const seeded = () => normalArray(size, opts.seed);
  const given = opts.start && opts.start.length === size && norm(opts.start) > 0 ? opts.start : null;
  const start = given ?? seeded();
  basis.push(start, norm(start));
  let custom = given !== null;

  let applications = 0;
  let best = 0;
  let ritzEstimate: number | null = null;
  let errorEstimate: number | null = null;
  let wasWithin = false;
  let residual: number | null = null;
  let restarts = 0;
  let pending: NormalOutput | null = null;
  let bestVector: Float32Array | null = null;
  const run = async (x: Float32Array): Promise<NormalOutput> => {
    applications++;
    return step(x);
  };
  /** Records a run as a measurement (only vectors worth reporting: Krylov vectors are not). */
  const record = (x: Float32Array, out: NormalOutput): number | null => {
    const r = measured(x, out);
    if (opts.keepVector && (r.sigma > best || bestVector === null)) bestVector = Float32Array.from(x);
    best = Math.max(best, r.sigma);
    residual = r.residual;
    return r.residual;
  };
  const result = (converged: boolean, stopReason: string | null = null): PowerLoopResult =>
    ({ value: best, iterations: applications, converged, ritzEstimate, errorEstimate, residual, restarts, stopReason, vector: bestVector });

  for (;;) {
    const j = basis.count - 1;
    const current: NormalOutput = pending ?? (await run(basis.vector(j)));
    pending = null;
    // The first vector of a cycle (the seeded start, or a Ritz vector) is worth a measurement; later Krylov vectors are not.
    if (j === 0) record(basis.vector(0), current);
    const eig = lz.step(current.z);
    if (!Number.isFinite(eig.beta)) throw new Error('non-finite operator output');
    const { m, theta } = eig;
    // x^T A^T A x = ||A x||^2, so theta = 0 means A vanishes on the Krylov space: with a random start, A = 0 there.
    if (!(theta > 0) && custom) {
      // a given start in A's null space says nothing of A: start again from the seeded vector
      custom = false;
      const x = seeded();
      const nx = norm(x);
      basis.reset(Float32Array.from(x, (v) => v / nx));
      lz.restartProjection();
      continue;
    }
    if (!(theta > 0)) return result(false, 'A^T A x = 0');
    ritzEstimate = Math.sqrt(theta);
    const r = eig.residual / theta;
    errorEstimate = shortfallEstimate(r, eig.gap === null ? null : eig.gap / theta);
    // The estimate must hold on two consecutive steps: a single step can look converged while the
    // top two eigenvalues are still unresolved (theta_2 then tracks lambda_3 and the gap looks wide).
    const within = errorEstimate <= opts.tolerance;
    // m === size: the basis spans the whole space, the Ritz pair is exact (up to rounding).
    const done = (within && wasWithin) || r <= RESIDUAL_FLOOR || m === size;
    wasWithin = within;
    // Runs left: one is kept for the Ritz vector (with m = 1 the Ritz vector is the vector just run,
    // but one more Lanczos step would leave no run to measure its result).
    const room = opts.iterations - applications;
    if (done || room <= 1) {
      let confirmed = true;
      if (m > 1) {
        basis.combine(eig.vectors.subarray(0, m), ritz);
        const final = await run(ritz);
        const measuredResidual = record(ritz, final);
        confirmed = measuredResidual !== null && measuredResidual <= CONFIRM_SLACK * Math.max(r, RESIDUAL_FLOOR);
        if (!confirmed && applications < opts.iterations) {
          // The estimate was not confirmed (the basis lost orthogonality): restart from the measured
          // Ritz vector, whose run is the first step of the new basis.
          basis.reset(ritz);
          lz.restartProjection();
          wasWithin = false;
          pending = final;
          restarts++;
          continue;
        }
      }
      return result(done && confirmed);
    }
    if (basis.count === cap) {
      basis.compress(eig.vectors, m, keep);
      lz.restartProjection(eig.values, keep);
      restarts++;
    }
    lz.extend();
  }
}

/**
 * Power-of-two factor that brings max|w| near 1, so float32 neither overflows nor underflows
 * inside onnxruntime on extreme weights; multiplying by 2^k is exact, so the operator is unchanged.
 * Returns 1 (no copy needed) for ordinary weights.
 */
function float32Scale(maxAbs: number): number {
  const e = Math.round(Math.log2(maxAbs));
  return Math.abs(e) > 40 ? 2 ** -e : 1;
}

export interface NormalOperatorSession {
  /** Length of the flattened input x. */
  size: number;
  step: NormalStep;
  release(): Promise<void>;
}

/** One onnxruntime session for the layer, reused by every step (model parsing and planning happen once). */
export async function openNormalOperator(model: NormalOperatorModel, weight: Float32Array, threads: number): Promise<NormalOperatorSession> {
  const ort = await onnxruntime();
  const session = await native(() => ort.InferenceSession.create(model.bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // The Krylov bookkeeping runs in JS between runs: idle onnxruntime workers must not spin on the
    // cores it needs (docs/derivations.md#lanczos).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  }));
  const size = model.inputDims.reduce((a, b) => a * b, 1);
  const xData = new Float32Array(size);
  const yData = new Float32Array(model.outputDims.reduce((a, b) => a * b, 1));
  const zData = new Float32Array(size);
  // Tensors for the whole run: they wrap buffers that each step refills in place (inputs) or that
  // onnxruntime writes into (pre-allocated outputs: no two fresh n-float arrays, and their garbage, per step).
  const feeds = { [INPUT]: new ort.Tensor('float32', xData, model.inputDims), [WEIGHT]: new ort.Tensor('float32', weight, model.weightDims) };
  const fetches = { [FORWARD]: new ort.Tensor('float32', yData, model.outputDims), [NORMAL]: new ort.Tensor('float32', zData, model.inputDims) };
  const step: NormalStep = async (x) => {
    xData.set(x);
    await native(() => session.run(feeds, fetches));
    return { y: yData, z: zData };
  };
  return { size, step, release: () => session.release() };
}

function failed(error: string, details: MethodResult['details'], t0: number): MethodResult {
  return { value: null, kind: 'lower', ms: performance.now() - t0, details, error };
}

/**
 * [power] on one layer: kind 'lower'. Never throws: unknown input size, non-finite weights, an
 * empty output or an operator onnxruntime rejects come back as value null with `error`.
 * One onnxruntime session per layer, reused across iterations and released at the end.
 */
export async function powerIteration(layer: ConvLayer | DenseLayer, opts: PowerOptions): Promise<MethodResult> {
  return powerBody(layer, { ...opts, keepVector: false }, { vector: null });
}

/** powerIteration with the vector behind its value (the layer's input layout), for callers that start from it. */
export async function powerRun(layer: ConvLayer | DenseLayer, opts: PowerOptions): Promise<{ result: MethodResult; vector: Float32Array | null }> {
  const kept: { vector: Float32Array | null } = { vector: null };
  const result = await powerBody(layer, { ...opts, keepVector: true }, kept);
  return { result, vector: result.value === null ? null : kept.vector };
}

async function powerBody(layer: ConvLayer | DenseLayer, opts: PowerOptions, kept: { vector: Float32Array | null }): Promise<MethodResult> {
  const t0 = performance.now();
  const threads = opts.threads ?? os.availableParallelism();
  const details: MethodResult['details'] = {
    iterations: 0,
    converged: false,
    inputShape: layer.inputShape,
    outputShape: null,
    threads,
    tolerance: opts.tolerance,
    maxIterations: opts.iterations,
    seed: opts.seed,
    variant: 'lanczos',
  };
  let maxAbs = 0;
  for (let i = 0; i < layer.weight.length; i++) {
    const a = Math.abs(layer.weight[i]);
    if (!Number.isFinite(a)) return failed('non-finite weights', details, t0);
    if (a > maxAbs) maxAbs = a;
  }
  if (layer.kind === 'conv' && layer.inputShape === null) return failed('input size unknown', details, t0);
  // Each operator application holds input- and output-sized tensors in onnxruntime plus the Krylov
  // basis: refuse sizes that would need gigabytes (a hostile model can declare any input size).
  const operatorSize = Math.max(...[layer.inputShape, layer.outputShape].map((s) => (s ? s.reduce((a, b) => a * b, 1) : 0)));
  if (operatorSize > MAX_OPERATOR_ELEMENTS) {
    return failed(`operator too large for power iteration: ${operatorSize} elements per vector (limit ${MAX_OPERATOR_ELEMENTS})`, details, t0);
  }

  let model: NormalOperatorModel;
  const scale = maxAbs === 0 ? 1 : float32Scale(maxAbs);
  const weight = scale === 1 ? layer.weight : layer.weight.map((w) => w * scale);
  try {
    model = layer.kind === 'conv' ? convNormalModel(layer, layer.inputShape as number[]) : denseNormalModel(layer);
  } catch (e) {
    return failed((e as Error).message, details, t0);
  }
  Object.assign(details, {
    inputShape: model.inputDims.slice(1),
    outputShape: model.outputDims.slice(1),
    route: model.route,
    weightScale: scale,
  });
  if (model.adjointOutputPadding) details.adjointOutputPadding = model.adjointOutputPadding;
  // A zero operator: its norm is exactly 0, no iteration (and no 0/0 from normalising).
  if (maxAbs === 0) {
    Object.assign(details, { converged: true });
    return { value: 0, kind: 'lower', ms: performance.now() - t0, details };
  }

  let op: NormalOperatorSession;
  try {
    op = await openNormalOperator(model, weight, threads);
  } catch (e) {
    return failed(`onnxruntime rejected the operator model: ${(e as Error).message}`, details, t0);
  }
  try {
    const r = await lanczosLoop(op.size, op.step, opts);
    Object.assign(details, {
      iterations: r.iterations,
      converged: r.converged,
      residual: r.residual,
      ritzEstimate: r.ritzEstimate === null ? null : r.ritzEstimate / scale,
      errorEstimate: r.errorEstimate,
      restarts: r.restarts,
    });
    if (r.stopReason) details.stopReason = r.stopReason;
    kept.vector = r.vector;
    return { value: r.value / scale, kind: 'lower', ms: performance.now() - t0, details };
  } catch (e) {
    return failed((e as Error).message, details, t0);
  } finally {
    await op.release();
  }
}
