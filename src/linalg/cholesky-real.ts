// Cholesky tests of t*I - G for a real symmetric G, the certificate behind every dense / 1x1 bound: a
// plain version for small n and a blocked one whose O(n^3) parts run as float64 DGEMM (native/blas.ts).
// Scheme, margin and why blocking keeps it: docs/derivations.md#blocked-cholesky-keeps-the-certificate
import { blockRowUpdate, subtractProduct } from '../native/blas.js';

/**
 * Cholesky (dot-product / Crout form, row by row, contiguous inner loops) of t*I - G into the lower
 * triangle of `l`. Returns -1 on success, else the failing row i with x = L_unit^{-T} e_i (leading
 * block), which satisfies x^T (t I - G) x = pivot_i <= 0.
 */
export function choleskyTestReal(g: Float64Array, n: number, t: number, l: Float64Array, x: Float64Array): number {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const rj = j * n;
      let s = -g[ri + j];
      for (let p = 0; p < j; p++) s -= l[ri + p] * l[rj + p];
      l[ri + j] = s / l[rj + j];
    }
    let d = t - g[ri + i];
    for (let p = 0; p < i; p++) d -= l[ri + p] * l[ri + p];
    if (!(d > 0)) return failureVector(l, n, i, x, false);
    l[ri + i] = Math.sqrt(d);
  }
  return -1;
}

/**
 * After a real Cholesky of t*I - G failed at row i (rows < i of the factor in l, n x n row-major; or
 * its transpose if `transposed`): x = L_unit^{-T} e_i, so x^T (t I - G) x = pivot_i <= 0. Returns i.
 */
function failureVector(l: Float64Array, n: number, i: number, x: Float64Array, transposed: boolean): number {
  // Solve L_unit^T x = e_i with L_unit[r][j] = l[r][j] / l[j][j]; rows processed from i down.
  const [sr, sj] = transposed ? [1, n] : [n, 1];
  x.fill(0);
  x[i] = 1;
  for (let r = i; r > 0; r--) {
    const xr = x[r];
    if (xr === 0) continue;
    for (let j = 0; j < r; j++) x[j] -= (l[r * sr + j * sj] / l[j * n + j]) * xr;
  }
  return i;
}

/** Columns per step of the blocked Cholesky (the diagonal block is factored in JS: ~n b^2 / 6 in all). */
const CHOLESKY_BLOCK = 256;
/** Rows per leaf of the blocked triangular solve (JS work ~ n^2 leaf / 4 in all; the rest is DGEMM). */
const SOLVE_LEAF = 16;
/** Narrower right-hand sides are solved in JS (a DGEMM call's set-up costs more than it saves). */
const SOLVE_NATIVE_MIN_COLS = 64;

/**
 * choleskyTestReal for large n, left-looking and blocked, with the factor stored transposed
 * (u = L^T, row-major n x n, so that block rows are contiguous). Block row J of L^T is
 * S = (t I - G)[J, j0:] minus the contribution of the rows above (one DGEMM); its diagonal block is
 * factored in JS and the rest solved as L_JJ^{-1} S[:, b:]. Left-looking touches each finished row
 * once per step and updates only the upper triangle (n^3/6 multiply-adds): faster than right-looking
 * with JS panels. It reads rows of G where the plain version reads columns: every caller stores G
 * exactly symmetric (mirrored), so the numbers are the same.
 */
export async function choleskyTestRealNative(
  g: Float64Array,
  n: number,
  t: number,
  u: Float64Array,
  x: Float64Array,
  block = CHOLESKY_BLOCK,
  leaf = SOLVE_LEAF,
): Promise<number> {
  block = Math.max(1, Math.floor(block));
  leaf = Math.max(1, Math.floor(leaf));
  for (let j0 = 0; j0 < n; j0 += block) {
    const j1 = Math.min(n, j0 + block);
    const bb = j1 - j0;
    const w = n - j0;
    let s: Float64Array = new Float64Array(bb * w);
    for (let i = 0; i < bb; i++) {
      const gi = (j0 + i) * n + j0;
      for (let c = 0; c < w; c++) s[i * w + c] = -g[gi + c];
      s[i * w + i] += t;
    }
    if (j0 > 0) s = await blockRowUpdate(u.subarray(0, j0 * n), j0, n, s, j0, j1);
    // diagonal block (Crout, into lb), then L_JJ^T into u[J, J]
    const lb = new Float64Array(bb * bb);
    for (let i = 0; i < bb; i++) {
      const ri = i * bb;
      for (let j = 0; j < i; j++) {
        const rj = j * bb;
        let v = s[i * w + j];
        for (let p = 0; p < j; p++) v -= lb[ri + p] * lb[rj + p];
        lb[ri + j] = v / lb[rj + j];
        u[(j0 + j) * n + j0 + i] = lb[ri + j];
      }
      let d = s[i * w + i];
      for (let p = 0; p < i; p++) d -= lb[ri + p] * lb[ri + p];
      if (!(d > 0)) return failureVector(u, n, j0 + i, x, true);
      lb[ri + i] = Math.sqrt(d);
      u[(j0 + i) * n + j0 + i] = lb[ri + i];
    }
    const r = n - j1;
    if (r === 0) break;
    // Y = L_JJ^{-1} S[:, bb:] is block row J of L^T right of the diagonal block
    const y = new Float64Array(bb * r);
    for (let i = 0; i < bb; i++) y.set(s.subarray(i * w + bb, (i + 1) * w), i * r);
    await lowerSolve(lb, bb, y, r, 0, bb, leaf);
    for (let i = 0; i < bb; i++) u.set(y.subarray(i * r, (i + 1) * r), (j0 + i) * n + j1);
  }
  return -1;
}

/**
 * Rows i0..i1 of Y <- L^{-1} Y by forward substitution, L lower triangular (b x b, row-major) and Y
 * row-major with r columns; rows < i0 are final and already subtracted from rows >= i0. Halves
 * recursively: solve the top, subtract its contribution from the bottom on DGEMM, solve the bottom.
 */
async function lowerSolve(l: Float64Array, b: number, y: Float64Array, r: number, i0: number, i1: number, leaf: number): Promise<void> {
  const h = i0 + Math.ceil((i1 - i0) / 2 / leaf) * leaf;
  if (i1 - i0 <= leaf || r < SOLVE_NATIVE_MIN_COLS || h >= i1) {
    for (let i = i0; i < i1; i++) {
      const yi = i * r;
      const li = i * b;
      for (let p = i0; p < i; p++) {
        const c = l[li + p];
        const yp = p * r;
        for (let k = 0; k < r; k++) y[yi + k] -= c * y[yp + k];
      }
      const d = l[li + i];
      for (let k = 0; k < r; k++) y[yi + k] /= d;
    }
    return;
  }
  await lowerSolve(l, b, y, r, i0, h, leaf);
  const rows = i1 - h;
  const cols = h - i0;
  const a = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) a.set(l.subarray((h + i) * b + i0, (h + i) * b + h), i * cols);
  y.set(await subtractProduct(y.subarray(h * r, i1 * r), a, y.subarray(i0 * r, h * r), rows, cols, r), h * r);
  await lowerSolve(l, b, y, r, h, i1, leaf);
}
