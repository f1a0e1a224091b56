// A certified square root of a wide matrix's Gram: for A (r x n, r <= n) a lower-triangular L
// (r x r) with L L^T >= A' A'^T (Loewner order) for every A' within Frobenius distance `errorF` of
// A. Then ||A'^T z|| <= ||L^T z|| for every z, so in any product X A' the wide factor can be
// replaced by the small square L without lowering the norm: ||X A'|| <= ||X L||, equal in exact
// arithmetic when errorF = 0. Derivation: docs/derivations.md ("Compressing 1x1 factors").
import { UNIT_ROUNDOFF, mulUp, addUp } from './rounding.js';

/** gamma_k = k u / (1 - k u), padded; bounds the rounding of a length-k float64 dot product. */
const gamma = (k: number) => (1.01 * k * UNIT_ROUNDOFF) / (1 - k * UNIT_ROUNDOFF);

/** Work (multiply-adds) of gramRootLower on an r x n matrix. */
export const gramRootCost = (r: number, n: number) => (r * (r + 1) * n) / 2 + (r * r * r) / 6;

/**
 * L (row-major r x r, lower triangular) with L L^T >= A' A'^T for all ||A' - A||_F <= errorF, or null
 * when A holds a non-finite value. `a` is row-major r x n; `gram`, when given, is fl(A A^T) formed
 * elsewhere (e.g. native DGEMM: any float64 summation order has the same gamma_n bound); its lower
 * triangle is used.
 */
export function gramRootLower(a: Float64Array, r: number, n: number, errorF = 0, gram?: Float64Array): Float64Array | null {
  let frob2 = 0;
  for (let i = 0; i < a.length; i++) frob2 += a[i] * a[i];
  if (!Number.isFinite(frob2) || !Number.isFinite(errorF)) return null;
  frob2 = mulUp(frob2, 1 + gamma(a.length));
  // G = A A^T (lower triangle); |fl(G) - G| <= gamma_n |A||A|^T entrywise, whose norm is <= ||A||_F^2
  const g = gram ?? new Float64Array(r * r);
  for (let i = 0; i < r && !gram; i++) {
    const ai = i * n;
    for (let j = 0; j <= i; j++) {
      const aj = j * n;
      let s = 0;
      for (let k = 0; k < n; k++) s += a[ai + k] * a[aj + k];
      g[i * r + j] = s;
    }
  }
  // A'A'^T <= (1 + eta) A A^T + (1 + 1/eta) errorF^2 I for any eta > 0 ((x+y)^2 <= (1+eta)x^2 + (1+1/eta)y^2)
  const eta = errorF > 0 ? errorF / Math.sqrt(frob2 || 1) : 0;
  const scale = 1 + eta;
  // the diagonal shift: forming G, scaling it, the error term, and (below) the Cholesky's own backward error
  let shift = mulUp(scale, mulUp(frob2, gamma(n) + 4 * UNIT_ROUNDOFF));
  if (errorF > 0) shift = addUp(shift, mulUp(1 + 1 / eta, mulUp(errorF, errorF)));
  // gradual underflow adds an absolute error of at most half the smallest subnormal per operation
  shift = addUp(shift, (n + 2 * r + 8) * 2 ** -1070);
  let trace = 0;
  for (let i = 0; i < r; i++) trace += g[i * r + i];
  // Cholesky of H = scale G + (shift + c) I: L L^T = H + E with ||E||_2 <= gamma_{r+1} ||L||_F^2 (Higham,
  // Thm 10.3; r+3 also covers forming each pivot's scale g + diag), and ||L||_F^2 = trace(H) + (its
  // rounding); c covers it with a factor 2, checked after the fact
  let c = mulUp(2 * gamma(r + 3), addUp(mulUp(scale, trace), r * shift) * (1 + 1e-6) + Number.MIN_VALUE);
  for (let attempt = 0; attempt < 4; attempt++) {
    const l = choleskyLower(g, r, scale, addUp(shift, c));
    if (l) {
      let lf2 = 0;
      for (let i = 0; i < l.length; i++) lf2 += l[i] * l[i];
      if (mulUp(gamma(r + 3), mulUp(lf2, 1 + gamma(r * r))) <= c) return l;
    }
    c *= 4;
  }
  return null;
}

/** Lower Cholesky factor of scale * (lower triangle of g) + diag I, or null when a pivot is not positive. */
function choleskyLower(g: Float64Array, r: number, scale: number, diag: number): Float64Array | null {
  const l = new Float64Array(r * r);
  for (let j = 0; j < r; j++) {
    let d = scale * g[j * r + j] + diag;
    const lj = j * r;
    for (let k = 0; k < j; k++) d -= l[lj + k] * l[lj + k];
    if (!(d > 0)) return null;
    const p = Math.sqrt(d);
    l[lj + j] = p;
    for (let i = j + 1; i < r; i++) {
      const li = i * r;
      let s = scale * g[li + j];
      for (let k = 0; k < j; k++) s -= l[li + k] * l[lj + k];
      l[li + j] = s / p;
    }
  }
  return l;
}
