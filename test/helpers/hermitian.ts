// Complex Hermitian test matrices (interleaved re/im) and their exact quantities, for the Cholesky tests.
import { normalArray } from '../../src/util/random.js';
import { symmetricEigenvalues } from './exact.js';

/** Re(x^H G x) / |x|^2 for interleaved complex G (n x n; lowerOnly: G_ij = conj(G_ji) above the diagonal) and x. */
export function hermitianRayleigh(g: Float64Array, n: number, x: Float64Array, lowerOnly = false): number {
  let xgx = 0;
  let xx = 0;
  for (let i = 0; i < n; i++) {
    xx += x[2 * i] ** 2 + x[2 * i + 1] ** 2;
    for (let j = 0; j < n; j++) {
      const o = lowerOnly && j > i ? 2 * (j * n + i) : 2 * (i * n + j);
      const gr = g[o];
      const gi = lowerOnly && j > i ? -g[o + 1] : g[o + 1];
      const yr = gr * x[2 * j] - gi * x[2 * j + 1];
      const yi = gr * x[2 * j + 1] + gi * x[2 * j];
      xgx += x[2 * i] * yr + x[2 * i + 1] * yi;
    }
  }
  return xgx / xx;
}

/** G = A A^H (interleaved re/im; lower triangle only unless full) for a seeded complex n x m matrix A. */
export function hermitianGram(n: number, m: number, seed: number, full = false): Float64Array {
  const ar = normalArray(n * m, seed);
  const ai = normalArray(n * m, seed + 1);
  const g = new Float64Array(2 * n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= (full ? n - 1 : i); j++) {
      let re = 0;
      let im = 0;
      for (let c = 0; c < m; c++) {
        // a_ic conj(a_jc)
        re += ar[i * m + c] * ar[j * m + c] + ai[i * m + c] * ai[j * m + c];
        im += ai[i * m + c] * ar[j * m + c] - ar[i * m + c] * ai[j * m + c];
      }
      g[2 * (i * n + j)] = re;
      g[2 * (i * n + j) + 1] = im;
    }
  return g;
}

/** lambda_max of a Hermitian G (full storage) from the real symmetric embedding [[Re, -Im], [Im, Re]] (same eigenvalues, each twice). */
export function hermitianLambdaMax(g: Float64Array, n: number): number {
  const e = new Float64Array(4 * n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const re = g[2 * (i * n + j)];
      const im = g[2 * (i * n + j) + 1];
      e[i * 2 * n + j] = re;
      e[i * 2 * n + n + j] = -im;
      e[(n + i) * 2 * n + j] = im;
      e[(n + i) * 2 * n + n + j] = re;
    }
  }
  return Math.max(...symmetricEigenvalues(e, 2 * n));
}
