// Cholesky test of t*I - G for a complex Hermitian G (interleaved re/im): the certificate behind
// every spectral-bound frequency, as a WebAssembly kernel (src/wasm/kernels.ts) when the arrays live in
// its memory, else in JS; large orders through the real embedding on native DGEMM (linalg/gram.ts picks).
// The real version is cholesky-real.ts; the scheme and its rounding margin:
// docs/derivations.md#certified-largest-eigenvalue-of-a-gram-matrix-cholesky-test-and-rounding-margins

import { choleskyTestRealNative } from './cholesky-real.js';
import { withScratch } from '../util/scratch.js';
import { kernelsFor } from '../wasm/kernels.js';

/**
 * Complex version of choleskyTestReal: t*I - G = L L^H with L lower, real positive diagonal,
 * L[i][j] = (B_ij - sum_{p<j} L_ip conj(L_jp)) / L_jj. On failure at row i, x = L_unit^{-H} e_i.
 * Reads only the lower triangle of g. The factor comes from the WebAssembly kernel when g and l live
 * in its memory, else from factorHermitian.
 */
export function choleskyTestHermitian(g: Float64Array, n: number, t: number, l: Float64Array, x: Float64Array): number {
  const k = kernelsFor([g, 2 * n * n], [l, 2 * n * n]);
  const fail = k ? k.cholesky(g.byteOffset, l.byteOffset, n, t) : factorHermitian(g, n, t, l);
  return fail < 0 ? -1 : failureVector(l, n, fail, x);
}

/**
 * The factorisation of choleskyTestHermitian in JS (the WebAssembly kernel's reference and fallback):
 * -1 if every pivot is positive, else the first row whose pivot is not (the rows above it factored).
 * Rows go in pairs and columns in pairs (a 2 x 2 block of entries per sweep shares every load); every
 * entry is still the same sum in the same order (p ascending), so the factor is the one the row-by-row
 * form gives.
 */
export function factorHermitian(g: Float64Array, n: number, t: number, l: Float64Array): number {
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const ri = 2 * i * n;
    const rk = ri + 2 * n; // row i + 1
    let j = 0;
    for (; j + 1 < i; j += 2) {
      const rj = 2 * j * n;
      const rj1 = rj + 2 * n;
      // s: (i, j), u: (i, j+1), v: (i+1, j), w: (i+1, j+1)
      let sr = -g[ri + 2 * j];
      let si = -g[ri + 2 * j + 1];
      let ur = -g[ri + 2 * j + 2];
      let ui = -g[ri + 2 * j + 3];
      let vr = -g[rk + 2 * j];
      let vi = -g[rk + 2 * j + 1];
      let wr = -g[rk + 2 * j + 2];
      let wi = -g[rk + 2 * j + 3];
      for (let p = 0; p < j; p++) {
        const ar = l[ri + 2 * p];
        const ai = l[ri + 2 * p + 1];
        const er = l[rk + 2 * p];
        const ei = l[rk + 2 * p + 1];
        const br = l[rj + 2 * p];
        const bi = l[rj + 2 * p + 1];
        const cr = l[rj1 + 2 * p];
        const ci = l[rj1 + 2 * p + 1];
        sr -= ar * br + ai * bi;
        si -= ai * br - ar * bi;
        ur -= ar * cr + ai * ci;
        ui -= ai * cr - ar * ci;
        vr -= er * br + ei * bi;
        vi -= ei * br - er * bi;
        wr -= er * cr + ei * ci;
        wi -= ei * cr - er * ci;
      }
      const dj = l[rj + 2 * j];
      const lr = sr / dj;
      const li = si / dj;
      const mr = vr / dj;
      const mi = vi / dj;
      l[ri + 2 * j] = lr;
      l[ri + 2 * j + 1] = li;
      l[rk + 2 * j] = mr;
      l[rk + 2 * j + 1] = mi;
      // the p = j term of column j+1
      const cr = l[rj1 + 2 * j];
      const ci = l[rj1 + 2 * j + 1];
      ur -= lr * cr + li * ci;
      ui -= li * cr - lr * ci;
      wr -= mr * cr + mi * ci;
      wi -= mi * cr - mr * ci;
      const dk = l[rj1 + 2 * j + 2];
      l[ri + 2 * j + 2] = ur / dk;
      l[ri + 2 * j + 3] = ui / dk;
      l[rk + 2 * j + 2] = wr / dk;
      l[rk + 2 * j + 3] = wi / dk;
    }
    // i and j are even, so the column pairs end exactly at j = i
    if (!diagonal(g, n, t, l, i)) return i;
    entry(g, n, l, rk, i);
    if (!diagonal(g, n, t, l, i + 1)) return i + 1;
  }
  if (i < n) {
    const ri = 2 * i * n;
    for (let j = 0; j < i; j++) entry(g, n, l, ri, j);
    if (!diagonal(g, n, t, l, i)) return i;
  }
  return -1;
}

/** L[r][j] for the row at offset ri (j below the diagonal; rows <= j of L done). */
function entry(g: Float64Array, n: number, l: Float64Array, ri: number, j: number): void {
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

/** The pivot of row i (its entries left of the diagonal done): stores L_ii and returns true if positive. */
function diagonal(g: Float64Array, n: number, t: number, l: Float64Array, i: number): boolean {
  const ri = 2 * i * n;
  let d = t - g[ri + 2 * i];
  for (let p = 0; p < i; p++) {
    const ar = l[ri + 2 * p];
    const ai = l[ri + 2 * p + 1];
    d -= ar * ar + ai * ai;
  }
  if (!(d > 0)) return false;
  l[ri + 2 * i] = Math.sqrt(d);
  l[ri + 2 * i + 1] = 0;
  return true;
}

/** After the test failed at row i (rows < i of L done): x = L_unit^{-H} e_i, x^H (t I - G) x = pivot_i <= 0. Returns i. */
function failureVector(l: Float64Array, n: number, i: number, x: Float64Array): number {
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

/**
 * choleskyTestHermitian through the real symmetric embedding R = [[A, -B], [B, A]] of G = A + iB
 * (order 2n), tested by the blocked native Cholesky (cholesky-real.ts): t I - R is positive definite
 * iff t I - G is (R has G's eigenvalues, each twice). Used where DGEMM beats the JS complex
 * factorisation despite twice the multiply-adds. The rounding margin is then the real one of order 2n
 * (GramOps.factored). On failure the real witness [u; v] gives x = u + iv (interleaved), with
 * x^H (t I - G) x = [u; v]^T (t I - R) [u; v] <= 0. Like choleskyTestHermitian it reads only G's entries
 * j <= i, so both test the same Hermitian matrix whatever the upper triangle holds.
 */
export async function choleskyTestHermitianNative(g: Float64Array, n: number, t: number, x: Float64Array): Promise<number> {
  const m = 2 * n;
  return withScratch('hermitian-embedding', m * m, (r) =>
    withScratch('hermitian-factor', m * m, async (u) => {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          // above the diagonal, G_ij = conj(G_ji) from the lower triangle
          const upper = j > i;
          const o = upper ? 2 * (j * n + i) : 2 * (i * n + j);
          const a = g[o];
          const b = i === j ? 0 : upper ? -g[o + 1] : g[o + 1];
          r[i * m + j] = a;
          r[(n + i) * m + n + j] = a;
          r[i * m + n + j] = -b;
          r[(n + i) * m + j] = b;
        }
      }
      const xr = new Float64Array(m);
      const fail = await choleskyTestRealNative(r, m, t, u, xr);
      if (fail >= 0) for (let j = 0; j < n; j++) [x[2 * j], x[2 * j + 1]] = [xr[j], xr[n + j]];
      return fail;
    }),
  );
}
