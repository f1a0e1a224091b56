// [power] baseline: power iteration on A^T A, where A is the layer's real operator run by
// onnxruntime-node (its own padding, stride, dilation, groups and input size). It estimates the
// l2 norm from BELOW: the value reported is ||A v|| / ||v|| for an actual vector v that was fed to
// onnxruntime, so it is a true lower bound up to float32 rounding, whatever the convergence state
// and even if the adjoint were imperfect (the adjoint only steers v).
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { ConvLayer, DenseLayer } from '../model/layer.js';
import { normalArray } from '../util/random.js';
import { convNormalModel, denseNormalModel, FORWARD, INPUT, NORMAL, WEIGHT, type NormalOperatorModel } from './operator.js';
import type { MethodResult } from './types.js';

export interface PowerOptions {
  iterations: number;
  tolerance: number;
  seed: number;
  /** onnxruntime intra-op threads; default os.availableParallelism(). Results measured identical for 1 and 2. */
  threads?: number;
}

/** The estimate must change by less than the tolerance on this many consecutive steps: one quiet step can be float32 jitter. */
const QUIET_STEPS = 2;

/** One application of the normal operator: y = A x and z = A^T A x. */
export type NormalStep = (x: Float32Array) => Promise<{ y: Float32Array; z: Float32Array }>;

export interface PowerLoopResult {
  /** max over steps of ||A x|| / ||x||; each term is a valid lower bound. */
  value: number;
  iterations: number;
  converged: boolean;
  /** Relative change of the estimate on the last step. */
  lastChange: number | null;
  /** Relative residual ||A^T A x - rho x|| / (rho ||x||) on the last step. */
  residual: number | null;
  /** Why the loop stopped early other than convergence ('A^T A x = 0'), else null. */
  stopReason: string | null;
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

/** x <- v / ||v|| in float32 (the norm of the stored x is recomputed each step, so rounding here is harmless). */
function normaliseInto(x: Float32Array, v: ArrayLike<number>, n: number): void {
  for (let i = 0; i < x.length; i++) x[i] = v[i] / n;
}

/**
 * The power loop, independent of how A is applied. Seeded Gaussian start. Converged when both
 *  - the estimate changed by less than `tolerance` (relative) on QUIET_STEPS consecutive steps, and
 *  - the relative residual ||A^T A x - rho x|| / (rho ||x||), rho = ||A x||^2 / ||x||^2, is below
 *    sqrt(tolerance).
 * The change alone stalls falsely when the top singular value is nearly degenerate: the estimate
 * then creeps up by ~1e-8 a step while still 1e-4 short. The residual does not: the Rayleigh
 * quotient's error is second order in the iterate's error, the residual first order, hence the
 * square root. Both are heuristics (the value stays an estimate from below), so the loop also
 * stops at `iterations`. onnxruntime computes in float32: the estimate jitters at ~1e-8 relative
 * and the residual floors near 1e-7, so tolerances below ~1e-8 just run to the cap.
 */
export async function powerLoop(size: number, step: NormalStep, opts: PowerOptions): Promise<PowerLoopResult> {
  const x = new Float32Array(size);
  const start = normalArray(size, opts.seed);
  normaliseInto(x, start, norm(start));
  const residualTolerance = Math.sqrt(opts.tolerance);
  let best = 0;
  let prev: number | null = null;
  let quiet = 0;
  let lastChange: number | null = null;
  let residual: number | null = null;
  const result = (iterations: number, converged: boolean, stopReason: string | null = null): PowerLoopResult =>
    ({ value: best, iterations, converged, lastChange, residual, stopReason });
  for (let it = 1; it <= opts.iterations; it++) {
    const { y, z } = await step(x);
    const nx = norm(x);
    const sigma = norm(y) / nx;
    if (!Number.isFinite(sigma)) throw new Error('non-finite operator output');
    best = Math.max(best, sigma);
    const rho = sigma * sigma;
    residual = rho > 0 ? residualNorm(z, x, rho) / (rho * nx) : null;
    if (prev !== null) {
      lastChange = sigma > 0 ? Math.abs(sigma - prev) / sigma : 0;
      quiet = lastChange < opts.tolerance ? quiet + 1 : 0;
      if (quiet >= QUIET_STEPS && residual !== null && residual < residualTolerance) return result(it, true);
    }
    prev = sigma;
    const nz = norm(z);
    // x^T A^T A x = ||A x||^2, so z = 0 means A x = 0: this start lies in the null space; nothing to iterate on.
    if (nz === 0) return result(it, false, 'A^T A x = 0');
    normaliseInto(x, z, nz);
  }
  return result(opts.iterations, false);
}

/**
 * Power-of-two factor that brings max|w| near 1, so float32 neither overflows nor underflows
 * inside onnxruntime on extreme weights; multiplying by 2^k is exact, so the operator is unchanged.
 * Returns 1 (no copy needed) for ordinary weights.
 */
function weightScale(maxAbs: number): number {
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
  const session = await ort.InferenceSession.create(model.bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const size = model.inputDims.reduce((a, b) => a * b, 1);
  const xData = new Float32Array(size);
  // One input tensor for the whole run: it wraps xData, which each step refills in place.
  const xTensor = new ort.Tensor('float32', xData, model.inputDims);
  const wTensor = new ort.Tensor('float32', weight, model.weightDims);
  const step: NormalStep = async (x) => {
    xData.set(x);
    const out = await session.run({ [INPUT]: xTensor, [WEIGHT]: wTensor });
    return { y: out[FORWARD].data as Float32Array, z: out[NORMAL].data as Float32Array };
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
  };
  let maxAbs = 0;
  for (let i = 0; i < layer.weight.length; i++) {
    const a = Math.abs(layer.weight[i]);
    if (!Number.isFinite(a)) return failed('non-finite weights', details, t0);
    if (a > maxAbs) maxAbs = a;
  }
  if (layer.kind === 'conv' && layer.inputShape === null) return failed('input size unknown', details, t0);

  let model: NormalOperatorModel;
  const scale = maxAbs === 0 ? 1 : weightScale(maxAbs);
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
    const r = await powerLoop(op.size, op.step, opts);
    Object.assign(details, { iterations: r.iterations, converged: r.converged, lastChange: r.lastChange, residual: r.residual });
    if (r.stopReason) details.stopReason = r.stopReason;
    return { value: r.value / scale, kind: 'lower', ms: performance.now() - t0, details };
  } catch (e) {
    return failed((e as Error).message, details, t0);
  } finally {
    await op.release();
  }
}
