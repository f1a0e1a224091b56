// Real symmetric banded Gram matrices (lower band storage) as the eigen certificate sees them: product,
// Cholesky test of t*I - G, Gershgorin bound. A zero-padded conv's Gram matrix on a small map is banded
// once its indices are position-major (layer/dense-groups.ts); a dense Cholesky of a banded matrix
// computes exact zeros outside the band, so the banded test is the same computation (same margins):
// docs/derivations.md#dense-per-group-route-the-real-operator-of-small-groups
import type { GramOps } from './gram.js';
import { UNIT_ROUNDOFF } from './rounding.js';

/** Entry (i, j), i - b <= j <= i, of an order-n matrix with half-bandwidth b sits at i * (b + 1) + (i - j). */
export function bandIndex(i: number, j: number, b: number): number {
  return i * (b + 1) + (i - j);
}

/** y = G x for symmetric banded G (lower band storage, half-bandwidth b). */
export function bandedMatVec(g: Float64Array, n: number, b: number, x: Float64Array, y: Float64Array): void {
  const w = b + 1;
  for (let i = 0; i < n; i++) {
    const r = i * w;
    const xi = x[i];
    let s = g[r] * xi;
    const j0 = Math.max(0, i - b);
    for (let j = j0; j < i; j++) {
      const gij = g[r + i - j];
      s += gij * x[j];
      y[j] += gij * xi;
    }
    y[i] = s;
  }
}

/**
 * Cholesky of t*I - G (G banded, lower band storage) into `l` (same storage). Returns -1 when every
 * pivot is positive, else the failing row i with x = L_unit^{-T} e_i, x^T (t I - G) x = pivot_i <= 0
 * (as choleskyTestReal). The factor of a banded matrix has the same band.
 */
export function choleskyTestBanded(g: Float64Array, n: number, b: number, t: number, l: Float64Array, x: Float64Array): number {
  const w = b + 1;
  for (let i = 0; i < n; i++) {
    const ri = i * w;
    const j0 = Math.max(0, i - b);
    for (let j = j0; j < i; j++) {
      const rj = j * w;
      // s = -G_ij - sum_{p in band of both rows, p < j} L_ip L_jp
      let s = -g[ri + i - j];
      for (let p = j0; p < j; p++) s -= l[ri + i - p] * l[rj + j - p];
      l[ri + i - j] = s / l[rj];
    }
    let d = t - g[ri];
    for (let p = j0; p < i; p++) {
      const v = l[ri + i - p];
      d -= v * v;
    }
    if (!(d > 0)) {
      // solve L_unit^T x = e_i on the leading block, rows from i down
      x.fill(0);
      x[i] = 1;
      for (let r = i; r > 0; r--) {
        const xr = x[r];
        if (xr === 0) continue;
        const rr = r * w;
        for (let j = Math.max(0, r - b); j < r; j++) x[j] -= (l[rr + r - j] / l[j * w]) * xr;
      }
      return i;
    }
    l[ri] = Math.sqrt(d);
  }
  return -1;
}

/**
 * Certified upper bound on lambda_max(G_hat) by Gershgorin (max absolute row sum), the float row sums
 * (at most 2b + 1 terms each) inflated by their rounding bound.
 */
export function bandedGershgorin(g: Float64Array, n: number, b: number): number {
  const w = b + 1;
  const rows = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = i * w;
    let s = Math.abs(g[r]);
    for (let j = Math.max(0, i - b); j < i; j++) {
      const a = Math.abs(g[r + i - j]);
      s += a;
      rows[j] += a;
    }
    rows[i] += s;
  }
  let m = 0;
  for (let i = 0; i < n; i++) if (rows[i] > m) m = rows[i];
  return m * (1 + 4 * (2 * b + 4) * UNIT_ROUNDOFF);
}

/** Banded symmetric G as GramOps; `work` holds n * (b + 1) entries (the factor). */
export function bandedGramOps(g: Float64Array, n: number, b: number, work: Float64Array): GramOps {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[i * (b + 1)];
  return {
    n,
    len: n,
    trace,
    apply: (x, y) => {
      y.fill(0, 0, n);
      bandedMatVec(g, n, b, x, y);
    },
    cholesky: (t, x) => choleskyTestBanded(g, n, b, t, work, x),
  };
}
