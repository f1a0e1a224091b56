// Gram matrices G = A A^T (real) or A A^H (complex) as the eigen certificate sees them: the tiled
// A B^T kernel that forms them, matrix-vector products, and GramOps (product + Cholesky test) for
// real symmetric and complex Hermitian G. The certificate itself: eigen-certificate.ts.
import { choleskyTestReal, choleskyTestRealNative } from './cholesky-real.js';
import { choleskyTestHermitian, choleskyTestHermitianNative } from './cholesky-complex.js';
import { kernelsFor } from '../wasm/kernels.js';

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
  /** Cholesky test of t*I - G: -1 if every pivot is positive, else the failing index i with x filled, x^H (t I - G) x <= 0. */
  cholesky(t: number, x: Float64Array): number | Promise<number>;
  /** trace of G (for the Cholesky margin) */
  trace: number;
  /** Order and trace of the matrix the Cholesky test factors when it is not G (a real embedding of order 2n): its margin. */
  factored?: { order: number; trace: number };
}

/** Order from which real Cholesky tests run blocked on native DGEMM. */
export const NATIVE_CHOLESKY_MIN = 512;
/** Order from which complex Hermitian tests run as their real embedding on native DGEMM (measured: README). */
export const NATIVE_HERMITIAN_MIN = 448;
/**
 * The same where the WebAssembly test runs (its arrays in the kernels' memory). Measured on the 2-core
 * bench machine, one warm test, native vs WebAssembly: 384: 35.1 vs 3.9 ms (the native test's fixed
 * costs), 512: 41.1 vs 9.6, 1024: 127.8 vs 72.9, 1280: 278.3 vs 146.4, 1536: 236.3 vs 272.5.
 */
export const NATIVE_HERMITIAN_MIN_WASM = 1400;

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

/**
 * Complex Hermitian n x n G (n x n storage, interleaved re/im) as GramOps; `work` (2*n*n entries) is
 * the JS test's scratch, unused on the native route.
 * native: Cholesky tests through the real embedding on native DGEMM (default from NATIVE_HERMITIAN_MIN, or
 * NATIVE_HERMITIAN_MIN_WASM when g and work are in the WebAssembly kernels' memory).
 * lowerOnly: only the entries j <= i are read (the upper triangle may hold anything): the Cholesky
 * test reads no others, and the product takes G_ji = conj(G_ij).
 */
export function hermitianGramOps(
  g: Float64Array,
  n: number,
  work: Float64Array,
  lowerOnly = false,
  native = n >= (kernelsFor([g, 2 * n * n], [work, 2 * n * n]) ? NATIVE_HERMITIAN_MIN_WASM : NATIVE_HERMITIAN_MIN),
): GramOps {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[2 * (i * n + i)];
  return {
    n,
    len: 2 * n,
    trace,
    apply: lowerOnly ? (x, y) => lowerProduct(g, n, x, y) : (x, y) => hermitianMatVec(g, n, x, y),
    cholesky: native ? (t, x) => choleskyTestHermitianNative(g, n, t, x) : (t, x) => choleskyTestHermitian(g, n, t, work, x),
    ...(native ? { factored: { order: 2 * n, trace: 2 * trace } } : {}),
  };
}

function hermitianMatVec(g: Float64Array, n: number, x: Float64Array, y: Float64Array): void {
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
}

/** hermitianLowerMatVec, by the WebAssembly kernel when g, x and y live in its memory. */
function lowerProduct(g: Float64Array, n: number, x: Float64Array, y: Float64Array): void {
  const k = kernelsFor([g, 2 * n * n], [x, 2 * n], [y, 2 * n]);
  if (k) k.lowerMatVec(g.byteOffset, x.byteOffset, y.byteOffset, n);
  else hermitianLowerMatVec(g, n, x, y);
}

/** y = G x from the lower triangle of a Hermitian G: row i gives G_ij x_j to y_i and conj(G_ij) x_i to y_j (j < i). */
export function hermitianLowerMatVec(g: Float64Array, n: number, x: Float64Array, y: Float64Array): void {
  y.fill(0, 0, 2 * n);
  for (let i = 0; i < n; i++) {
    const r = 2 * i * n;
    const xr = x[2 * i];
    const xi = x[2 * i + 1];
    let sr = 0;
    let si = 0;
    for (let j = 0; j < i; j++) {
      const gr = g[r + 2 * j];
      const gi = g[r + 2 * j + 1];
      const vr = x[2 * j];
      const vi = x[2 * j + 1];
      sr += gr * vr - gi * vi;
      si += gr * vi + gi * vr;
      y[2 * j] += gr * xr + gi * xi;
      y[2 * j + 1] += gr * xi - gi * xr;
    }
    const d = g[r + 2 * i];
    y[2 * i] += sr + d * xr;
    y[2 * i + 1] += si + d * xi;
  }
}
