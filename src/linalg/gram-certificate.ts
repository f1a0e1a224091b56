// Certified largest eigenvalue of a Gram matrix G = A A^H (real symmetric or complex Hermitian,
// positive semidefinite): the numeric core shared by the dense and the spectral bounds.
//
// Scheme. Power iteration gives a LOWER estimate rho of lambda_max(G). To turn it into an upper bound
// we prove tau*I - G positive definite by running a Cholesky factorisation of it: if every pivot is
// positive, lambda_max(G) < tau. A "target" tau is shared by many matrices (all frequencies of a kernel):
// every matrix is certified against the same tau, which only ever rises, so a certificate once given
// stays valid. When the Cholesky fails at pivot i, the factor's leading block yields a vector x with
// x^H (tau I - G) x = pivot <= 0, i.e. Rayleigh quotient >= tau: a direction that beats the target.
// Power iteration restarts from it, the target rises to rho (1+tol)^2, and the test is repeated.
// Because tau is always (1+tol)^2 times some Rayleigh quotient (a lower bound on the max), the final
// tau is within (1+tol)^2 of the true max (unless the loop guard below had to fire).
//
// Rounding. The Cholesky test runs on fl((tau - margin) I - G_hat), where the caller's margin bounds
// ||G_hat - G||_2 (how G_hat was formed) and this module adds the Cholesky backward error: a
// floating-point Cholesky that completes on B gives R^H R = B + E with |E| <= gamma_{n+1} |R^H||R|
// (Higham, Accuracy and Stability, Thm 10.3; complex arithmetic costs a small constant more), and
// ||(|R^H||R|)||_2 <= ||R||_F^2 = trace(R^H R) <= (1+gamma) trace(B) <= 2 n tau. We use the generous
// margin 8 u (n+2) n tau + 4 u (tau + trace G). With tolerances >= 1e-8 these margins are negligible.
import { symmetricEigen } from './lanczos.js';
import { choleskyTestReal, choleskyTestRealNative } from './cholesky-real.js';
import { UNIT_ROUNDOFF } from './rounding.js';

// UNIT_ROUNDOFF moved to rounding.ts; re-exported for existing importers
export { UNIT_ROUNDOFF };

/** Cholesky backward-error margin (absolute, on eigenvalues) for testing tau*I - G of order n; see header. */
export function choleskyMargin(n: number, tau: number, trace: number): number {
  return 8 * UNIT_ROUNDOFF * (n + 2) * n * tau + 4 * UNIT_ROUNDOFF * (tau + trace);
}

/**
 * out[i*n + j] += sum_c a[aOff + i*k + c] * b[bOff + j*k + c]  (out += A B^T, A and B row-major n x k).
 * With lowerOnly, only j <= i is guaranteed (tiles on the diagonal also touch a few j > i entries):
 * call mirrorLower afterwards. Tiled and 2x2 register-blocked: the hot loop of every Gram we form.
 */
export function addABt(
  a: Float64Array,
  aOff: number,
  b: Float64Array,
  bOff: number,
  n: number,
  k: number,
  out: Float64Array,
  lowerOnly: boolean,
): void {
  const TI = 32;
  const TC = 512;
  for (let c0 = 0; c0 < k; c0 += TC) {
    const c1 = Math.min(k, c0 + TC);
    for (let i0 = 0; i0 < n; i0 += TI) {
      const i1 = Math.min(n, i0 + TI);
      const jEnd = lowerOnly ? i1 : n;
      for (let j0 = 0; j0 < jEnd; j0 += TI) {
        const j1 = Math.min(jEnd, j0 + TI);
        for (let i = i0; i < i1; i += 2) {
          const two = i + 1 < i1;
          const ai0 = aOff + i * k;
          const ai1 = two ? ai0 + k : ai0;
          for (let j = j0; j < j1; j += 2) {
            const twoJ = j + 1 < j1;
            const bj0 = bOff + j * k;
            const bj1 = twoJ ? bj0 + k : bj0;
            let s00 = 0;
            let s01 = 0;
            let s10 = 0;
            let s11 = 0;
            for (let c = c0; c < c1; c++) {
              const x0 = a[ai0 + c];
              const x1 = a[ai1 + c];
              const y0 = b[bj0 + c];
              const y1 = b[bj1 + c];
              s00 += x0 * y0;
              s01 += x0 * y1;
              s10 += x1 * y0;
              s11 += x1 * y1;
            }
            const o = i * n + j;
            out[o] += s00;
            if (twoJ) out[o + 1] += s01;
            if (two) {
              out[o + n] += s10;
              if (twoJ) out[o + n + 1] += s11;
            }
          }
        }
      }
    }
  }
}

/** Copy the strict lower triangle of a real n x n matrix onto its upper triangle. */
export function mirrorLower(g: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j];
}

/**
 * The operations the certifier needs on one Gram matrix. Vectors are Float64Arrays of length `len`:
 * n for real, 2n (interleaved re, im) for complex. For complex vectors Re(x^H y) is the plain real
 * dot product of the interleaved arrays, which is all the power iteration needs.
 */
export interface GramOps {
  n: number;
  len: number;
  /** y = G x */
  apply(x: Float64Array, y: Float64Array): void;
  /** Cholesky of t*I - G: -1 if every pivot is positive, else the failing index with x filled (see header). */
  cholesky(t: number, x: Float64Array): number | Promise<number>;
  /** trace of G (for the Cholesky margin) */
  trace: number;
}

function dot(x: Float64Array, y: Float64Array, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i++) s += x[i] * y[i];
  return s;
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

/** y = G x, possibly on native code (hence the promise). */
export type MatVec = (x: Float64Array, y: Float64Array) => void | Promise<void>;

/**
 * Lanczos with full reorthogonalisation on a real symmetric n x n G, from x: leaves in x the Ritz
 * vector of the largest Ritz value theta once its estimated error is below relTol * theta (or after
 * maxSteps). Only a starting vector for the certificate (which never trusts it): far fewer products
 * than power iteration when the top of the spectrum is clustered (random wide layers).
 * Error estimate: res^2 / (theta_1 - theta_2) (Kato-Temple with the second Ritz value standing in for
 * the second eigenvalue), or the residual res = |beta_m s_m| itself, whichever is smaller. On a wide
 * layer theta converges well before the residual: stopping on the residual alone took ~1.5x the steps.
 */
export async function lanczosStart(apply: MatVec, n: number, x: Float64Array, maxSteps: number, relTol: number): Promise<number> {
  const steps = Math.max(1, Math.min(maxSteps, n));
  const q = new Float64Array(steps * n);
  const alpha: number[] = [];
  const beta: number[] = [];
  const w = new Float64Array(n);
  let nx = Math.sqrt(dot(x, x, n));
  if (!(nx > 0) || !Number.isFinite(nx)) {
    x.fill(1);
    nx = Math.sqrt(n);
  }
  for (let i = 0; i < n; i++) q[i] = x[i] / nx;
  let m = 0;
  let ritz: Float64Array | null = null;
  for (let j = 0; j < steps; j++) {
    const qj = q.subarray(j * n, (j + 1) * n);
    await apply(qj, w);
    m = j + 1;
    alpha.push(dot(qj, w, n));
    // full reorthogonalisation (twice is enough)
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i <= j; i++) {
        const qi = q.subarray(i * n, (i + 1) * n);
        const c = dot(qi, w, n);
        for (let r = 0; r < n; r++) w[r] -= c * qi[r];
      }
    }
    const b = Math.sqrt(dot(w, w, n));
    const t = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      t[i * m + i] = alpha[i];
      if (i + 1 < m) t[i * m + i + 1] = t[(i + 1) * m + i] = beta[i];
    }
    const { values, vectors } = symmetricEigen(t, m);
    ritz = vectors.slice(0, m);
    const theta = values[0];
    const res = Math.abs(b * ritz[m - 1]);
    const gap = m > 1 ? theta - values[1] : 0;
    const err = gap > 0 ? Math.min(res, (res * res) / gap) : res;
    if (err <= relTol * Math.abs(theta) || !(b > 0) || j + 1 === steps) break;
    beta.push(b);
    for (let r = 0; r < n; r++) q[(j + 1) * n + r] = w[r] / b;
  }
  x.fill(0);
  for (let i = 0; i < m; i++) {
    const c = ritz![i];
    for (let r = 0; r < n; r++) x[r] += c * q[i * n + r];
  }
  return m;
}

/** A target shared by many Gram matrices: every matrix certified so far has lambda_max <= tau. */
export interface EigenTarget {
  /** Certified (for the matrices seen) upper bound on lambda_max, in the caller's units. */
  tau: number;
  /** Largest Rayleigh quotient seen: a lower estimate of the max of lambda_max. */
  lower: number;
  /** Relative tolerance on the norm (sqrt of lambda). */
  tol: number;
  /** Statistics. */
  iterations: number;
  choleskyRuns: number;
  choleskyFailures: number;
  /** Times the loop guard raised tau without a better lower estimate (tightness lost, never validity). */
  guardRaises: number;
}

export function newTarget(tol: number): EigenTarget {
  return { tau: 0, lower: 0, tol, iterations: 0, choleskyRuns: 0, choleskyFailures: 0, guardRaises: 0 };
}

function raise(target: EigenTarget, rho: number): void {
  if (rho > target.lower) target.lower = rho;
  const t = rho * (1 + target.tol) ** 2;
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
 * bufs.x for warmIters steps, then loops Cholesky test / refine as described in the header.
 */
export async function certifyGram(
  ops: GramOps,
  target: EigenTarget,
  bufs: CertifyBuffers,
  formError: number,
  warmIters: number,
  maxIter: number,
  warmRelTol = 0,
): Promise<void> {
  const margin = (tau: number) => formError + choleskyMargin(ops.n, tau, ops.trace);
  const warm = powerIterate(ops, bufs.x, bufs.y, warmIters, warmRelTol);
  target.iterations += warm.iterations;
  raise(target, warm.rho);
  for (;;) {
    const tau = target.tau;
    const t = tau - margin(tau);
    target.choleskyRuns++;
    if (t > 0 && (await ops.cholesky(t, bufs.z)) < 0) return;
    target.choleskyFailures++;
    // z (if the test ran) beats the target: continue the power iteration from it.
    if (t > 0) bufs.x.set(bufs.z);
    const refined = powerIterate(ops, bufs.x, bufs.y, maxIter, target.tol / 8);
    target.iterations += refined.iterations;
    raise(target, refined.rho);
    if (!(target.tau > tau)) {
      // No progress (rounding-level gap, or too few iterations): raise the target geometrically.
      // Still certified once the test passes; only tightness is lost, and the guard is counted.
      target.tau = Math.max(tau * (1 + target.tol) ** 2, 4 * margin(tau), Number.MIN_VALUE);
      target.guardRaises++;
    }
  }
}

// ---------------------------------------------------------------- real symmetric Gram matrices

/** Order from which real Cholesky tests run blocked on native DGEMM. */
export const NATIVE_CHOLESKY_MIN = 512;

/** y = G x for a real n x n G (row-major). */
export function realMatVec(g: Float64Array, n: number, x: Float64Array, y: Float64Array): void {
  // four rows per pass share the loads of x (memory-bound for large n)
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const r0 = i * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < n; j++) {
      const xj = x[j];
      s0 += g[r0 + j] * xj;
      s1 += g[r1 + j] * xj;
      s2 += g[r2 + j] * xj;
      s3 += g[r3 + j] * xj;
    }
    y[i] = s0;
    y[i + 1] = s1;
    y[i + 2] = s2;
    y[i + 3] = s3;
  }
  for (; i < n; i++) {
    let s = 0;
    const r = i * n;
    for (let j = 0; j < n; j++) s += g[r + j] * x[j];
    y[i] = s;
  }
}

/** Real symmetric n x n G (full row-major storage) as GramOps; `work` is an n*n scratch matrix. */
export function realGramOps(g: Float64Array, n: number, work: Float64Array): GramOps {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[i * n + i];
  return {
    n,
    len: n,
    trace,
    apply: (x, y) => realMatVec(g, n, x, y),
    cholesky: (t, x) => (n >= NATIVE_CHOLESKY_MIN ? choleskyTestRealNative(g, n, t, work, x) : choleskyTestReal(g, n, t, work, x)),
  };
}

// ---------------------------------------------------------------- complex Hermitian Gram matrices

/** Complex Hermitian n x n G (full storage, interleaved re/im) as GramOps; `work` has 2*n*n entries. */
export function hermitianGramOps(g: Float64Array, n: number, work: Float64Array): GramOps {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[2 * (i * n + i)];
  return {
    n,
    len: 2 * n,
    trace,
    apply(x, y) {
      for (let i = 0; i < n; i++) {
        let sr = 0;
        let si = 0;
        const r = 2 * i * n;
        for (let j = 0; j < n; j++) {
          const gr = g[r + 2 * j];
          const gi = g[r + 2 * j + 1];
          const xr = x[2 * j];
          const xi = x[2 * j + 1];
          sr += gr * xr - gi * xi;
          si += gr * xi + gi * xr;
        }
        y[2 * i] = sr;
        y[2 * i + 1] = si;
      }
    },
    cholesky: (t, x) => choleskyTestHermitian(g, n, t, work, x),
  };
}

/**
 * Complex version of choleskyTestReal: t*I - G = L L^H with L lower, real positive diagonal,
 * L[i][j] = (B_ij - sum_{p<j} L_ip conj(L_jp)) / L_jj. On failure at row i, x = L_unit^{-H} e_i.
 */
export function choleskyTestHermitian(g: Float64Array, n: number, t: number, l: Float64Array, x: Float64Array): number {
  for (let i = 0; i < n; i++) {
    const ri = 2 * i * n;
    // Two columns j, j+1 per pass share the loads of row i (the hot loop of the spectral bound).
    let j = 0;
    for (; j + 1 < i; j += 2) {
      const rj = 2 * j * n;
      const rk = rj + 2 * n;
      let sr = -g[ri + 2 * j];
      let si = -g[ri + 2 * j + 1];
      let ur = -g[ri + 2 * j + 2];
      let ui = -g[ri + 2 * j + 3];
      for (let p = 0; p < j; p++) {
        const ar = l[ri + 2 * p];
        const ai = l[ri + 2 * p + 1];
        const br = l[rj + 2 * p];
        const bi = l[rj + 2 * p + 1];
        const cr = l[rk + 2 * p];
        const ci = l[rk + 2 * p + 1];
        // a * conj(b), a * conj(c)
        sr -= ar * br + ai * bi;
        si -= ai * br - ar * bi;
        ur -= ar * cr + ai * ci;
        ui -= ai * cr - ar * ci;
      }
      const dj = l[rj + 2 * j];
      const lr = sr / dj;
      const li = si / dj;
      l[ri + 2 * j] = lr;
      l[ri + 2 * j + 1] = li;
      // the p = j term of column j+1
      const cr = l[rk + 2 * j];
      const ci = l[rk + 2 * j + 1];
      ur -= lr * cr + li * ci;
      ui -= li * cr - lr * ci;
      const dk = l[rk + 2 * j + 2];
      l[ri + 2 * j + 2] = ur / dk;
      l[ri + 2 * j + 3] = ui / dk;
    }
    for (; j < i; j++) {
      const rj = 2 * j * n;
      let sr = -g[ri + 2 * j];
      let si = -g[ri + 2 * j + 1];
      for (let p = 0; p < j; p++) {
        const ar = l[ri + 2 * p];
        const ai = l[ri + 2 * p + 1];
        const br = l[rj + 2 * p];
        const bi = l[rj + 2 * p + 1];
        sr -= ar * br + ai * bi;
        si -= ai * br - ar * bi;
      }
      const d = l[rj + 2 * j];
      l[ri + 2 * j] = sr / d;
      l[ri + 2 * j + 1] = si / d;
    }
    let d = t - g[ri + 2 * i];
    for (let p = 0; p < i; p++) {
      const ar = l[ri + 2 * p];
      const ai = l[ri + 2 * p + 1];
      d -= ar * ar + ai * ai;
    }
    if (!(d > 0)) {
      // Solve L_unit^H x = e_i: x_j -= conj(Lunit[r][j]) x_r for r from i down to 1.
      x.fill(0);
      x[2 * i] = 1;
      for (let r = i; r > 0; r--) {
        const xr = x[2 * r];
        const xi = x[2 * r + 1];
        if (xr === 0 && xi === 0) continue;
        const rr = 2 * r * n;
        for (let j = 0; j < r; j++) {
          const dj = l[2 * j * n + 2 * j];
          const lr = l[rr + 2 * j] / dj;
          const li = l[rr + 2 * j + 1] / dj;
          x[2 * j] -= lr * xr + li * xi;
          x[2 * j + 1] -= lr * xi - li * xr;
        }
      }
      return i;
    }
    l[ri + 2 * i] = Math.sqrt(d);
    l[ri + 2 * i + 1] = 0;
  }
  return -1;
}
