// Certified largest eigenvalue of a Gram matrix: power iteration for a lower estimate, a Cholesky
// test of tau I - G for the upper bound, targets shared by many matrices. The scheme and margins:
// docs/derivations.md#certified-largest-eigenvalue-of-a-gram-matrix-cholesky-test-and-rounding-margins
import type { GramOps } from './gram.js';
import { UNIT_ROUNDOFF } from './rounding.js';
import { dot } from './vector.js';

/** Cholesky backward-error margin (absolute, on eigenvalues) for testing tau*I - G of order n (see the derivation). */
export function choleskyMargin(n: number, tau: number, trace: number): number {
  return 8 * UNIT_ROUNDOFF * (n + 2) * n * tau + 4 * UNIT_ROUNDOFF * (tau + trace);
}

/**
 * Power iteration on G from x (normalised in place; x ends as the last iterate). Returns the largest
 * Rayleigh quotient seen (a lower estimate of lambda_max). Stops after maxIter steps, or once the
 * quotient grows by less than relTol (relative) in a step.
 */
export function powerIterate(
  ops: GramOps,
  x: Float64Array,
  y: Float64Array,
  maxIter: number,
  relTol: number,
): { rho: number; iterations: number } {
  const len = ops.len;
  let nx = Math.sqrt(dot(x, x, len));
  if (!(nx > 0) || !Number.isFinite(nx)) {
    x.fill(0);
    x[0] = 1;
    nx = 1;
  }
  for (let i = 0; i < len; i++) x[i] /= nx;
  let best = 0;
  let prev = -Infinity;
  let it = 0;
  while (it < maxIter) {
    ops.apply(x, y);
    it++;
    const rho = dot(x, y, len);
    if (rho > best) best = rho;
    const ny = Math.sqrt(dot(y, y, len));
    if (!(ny > 0)) break;
    for (let i = 0; i < len; i++) x[i] = y[i] / ny;
    if (rho - prev <= relTol * Math.abs(rho)) break;
    prev = rho;
  }
  return { rho: best, iterations: it };
}


/** A target shared by many Gram matrices: every matrix certified so far has lambda_max <= tau. */
export interface EigenTarget {
  /** Certified (for the matrices seen) upper bound on lambda_max, in the caller's units. */
  tau: number;
  /** Largest Rayleigh quotient seen: a lower estimate of the max of lambda_max. */
  lower: number;
  /** Relative tolerance on the norm (sqrt of lambda): the loop guard's step. */
  tol: number;
  /** Relative gap kept between the certified norm and the best lower estimate (see TARGET_SPACING). */
  spacing: number;
  /** Statistics. */
  iterations: number;
  choleskyRuns: number;
  choleskyFailures: number;
  /** Times the loop guard raised tau without a better lower estimate (tightness lost, never validity). */
  guardRaises: number;
  /** Matrices certified by the caller's cheap upper bound instead of a Cholesky test. */
  pruned: number;
}

/**
 * The target sits this fraction of tol above the best Rayleigh quotient. At 1/100 the certified norm
 * is within tol/100 of a lower bound on the true maximum, so it can exceed any other certified value of
 * the same quantity by at most tol/100 (1e-6 at the default tol): a better lower estimate found by
 * another route or visiting order cannot loosen it by more. Measured: as fast as a spacing of tol
 * (derivations). Two exceptions, both wider: where the test's own margin is larger (raise), and after
 * the loop guard (counted in guardRaises).
 */
export const TARGET_SPACING = 1 / 100;

export function newTarget(tol: number): EigenTarget {
  return { tau: 0, lower: 0, tol, spacing: tol * TARGET_SPACING, iterations: 0, choleskyRuns: 0, choleskyFailures: 0, guardRaises: 0, pruned: 0 };
}

/**
 * A Rayleigh quotient rho was seen: tau rises to rho (1+s)^2, s = the spacing, or twice the test's
 * relative margin at rho where that is larger (large orders at small tol: below it every test would
 * fail and only the guard would move tau, by tol).
 */
function raise(target: EigenTarget, rho: number, margin: number): void {
  if (rho > target.lower) target.lower = rho;
  const s = Math.max(target.spacing, rho > 0 ? (2 * margin) / rho : 0);
  const t = rho * (1 + s) ** 2;
  if (t > target.tau) target.tau = t;
}

export interface CertifyBuffers {
  /** Warm-start vector (kept between calls: the previous matrix's top eigenvector). */
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
}

/**
 * Make sure lambda_max(G_true) <= target.tau, raising tau as needed, where G_true is any matrix with
 * ||G_true - G_hat||_2 <= formError (G_hat = the matrix behind ops). Warm-starts power iteration from
 * bufs.x for warmIters steps, then loops Cholesky test / refine (a failed test yields a direction that
 * beats the target: power iteration restarts from it and the target rises). `upper`, when given, is a
 * certified upper bound on lambda_max(G_hat), computed lazily: when it is below the test's threshold
 * the Cholesky test is skipped.
 */
export async function certifyGram(
  ops: GramOps,
  target: EigenTarget,
  bufs: CertifyBuffers,
  formError: number,
  warmIters: number,
  maxIter: number,
  warmRelTol = 0,
  upper?: () => number,
): Promise<void> {
  const margin = (tau: number) => formError + choleskyMargin(ops.factored?.order ?? ops.n, tau, ops.factored?.trace ?? ops.trace);
  const warm = powerIterate(ops, bufs.x, bufs.y, warmIters, warmRelTol);
  target.iterations += warm.iterations;
  raise(target, warm.rho, margin(warm.rho));
  let cheap: number | null = null;
  for (;;) {
    const tau = target.tau;
    const t = tau - margin(tau);
    // lambda_max(G_hat) <= upper <= t: what a passing Cholesky test would prove, with the same
    // warm-start state, so tau evolves as without the shortcut (docs/derivations.md#pruning-frequencies-by-a-cheap-upper-bound)
    if (upper && t > 0 && (cheap ??= upper()) <= t) {
      target.pruned++;
      return;
    }
    target.choleskyRuns++;
    if (t > 0 && (await ops.cholesky(t, bufs.z)) < 0) return;
    target.choleskyFailures++;
    // z (if the test ran) beats the target: continue the power iteration from it.
    if (t > 0) bufs.x.set(bufs.z);
    const refined = powerIterate(ops, bufs.x, bufs.y, maxIter, target.spacing / 8);
    target.iterations += refined.iterations;
    raise(target, refined.rho, margin(refined.rho));
    if (!(target.tau > tau)) {
      // No progress (rounding-level gap, or too few iterations): raise the target geometrically.
      // Still certified once the test passes; only tightness is lost, and the guard is counted.
      target.tau = Math.max(tau * (1 + target.tol) ** 2, 4 * margin(tau), Number.MIN_VALUE);
      target.guardRaises++;
    }
  }
}
