// A certified square root of a wide matrix's Gram: for A (r x n, r <= n) a lower-triangular L
// (r x r) with L L^T >= A' A'^T (Loewner order) for every A' within Frobenius distance `errorF` of
// A. Then ||A'^T z|| <= ||L^T z|| for every z, so in any product X A' the wide factor can be
// replaced by the small square L without lowering the norm: ||X A'|| <= ||X L||, equal in exact
// arithmetic when errorF = 0. Derivation: docs/derivations.md ("Compressing 1x1 ends").
import { UNIT_ROUNDOFF, addUp, divUp, gamma, mulUp, weightScale } from './rounding.js';

/** gamma_k = k u / (1 - k u), padded; bounds the rounding of a length-k float64 dot product. */

/** Work (multiply-adds) of gramRootLower on an r x n matrix. */
export const gramRootCost = (r: number, n: number) => (r * (r + 1) * n) / 2 + (r * r * r) / 6;

/**
 * L (row-major r x r, lower triangular) with L L^T >= A' A'^T for all ||A' - A||_F <= errorF, or null
 * when A holds a non-finite value or L would overflow. `a` is row-major r x n. A is first scaled by a
 * power of two to max |a| ~ 1 (products then neither underflow nor overflow unless entries span more
 * than ~500 binades) and L scaled back; `gramOf`, when given, forms fl(S S^T) of the scaled S
 * elsewhere (native DGEMM: any float64 summation order has the same gamma_n bound).
 */
export async function gramRootLower(
  a: Float64Array, r: number, n: number, errorF = 0, gramOf?: (s: Float64Array) => Promise<Float64Array>,
): Promise<Float64Array | null> {
  if (!Number.isFinite(errorF)) return null;
  let p: number;
  try {
    p = weightScale(a).scale;
  } catch {
    return null;
  }
  // S = A / p exactly, except entries that underflow: each then moves by at most half a subnormal
  const s = new Float64Array(a.length);
  let inexact = 0;
  for (let i = 0; i < a.length; i++) {
    s[i] = a[i] / p;
    if (s[i] * p !== a[i]) inexact++;
  }
  const errorS = addUp(divUp(errorF, p), Math.sqrt(inexact) * 2 ** -1074);
  const g = gramOf ? await gramOf(s) : lowerGram(s, r, n);
  const ls = rootOfScaled(s, g, r, n, errorS, p);
  if (!ls) return null;
  const l = new Float64Array(r * r);
  for (let i = 0; i < l.length; i++) {
    l[i] = ls[i] * p;
    if (!Number.isFinite(l[i])) return null;
  }
  return l;
}

/** Lower triangle of S S^T (row-major r x r), float64. */
function lowerGram(s: Float64Array, r: number, n: number): Float64Array {
  const g = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    const si = i * n;
    for (let j = 0; j <= i; j++) {
      const sj = j * n;
      let acc = 0;
      for (let k = 0; k < n; k++) acc += s[si + k] * s[sj + k];
      g[i * r + j] = acc;
    }
  }
  return g;
}

/**
 * The root for the scaled S (max |s| ~ 1) with G = fl(S S^T), such that (L p)(L p)^T stays >= A' A'^T
 * after the scaling back by p, whose rounding (entries that underflow) the shift also covers.
 */
function rootOfScaled(s: Float64Array, g: Float64Array, r: number, n: number, errorF: number, p: number): Float64Array | null {
  let frob2 = 0;
  for (let i = 0; i < s.length; i++) frob2 += s[i] * s[i];
  frob2 = mulUp(frob2, 1 + gamma(s.length));
  // |fl(G) - S S^T| <= gamma_n |S||S|^T entrywise, whose norm is <= ||S||_F^2.
  // S'S'^T <= (1 + eta) S S^T + (1 + 1/eta) errorF^2 I for any eta > 0 ((x+y)^2 <= (1+eta)x^2 + (1+1/eta)y^2)
  const eta = errorF > 0 ? errorF / Math.sqrt(frob2 || 1) : 0;
  const scale = 1 + eta;
  // the diagonal shift: forming G, scaling it, the error term, underflow, the scaling back, and (below)
  // the Cholesky's own backward error
  let shift = mulUp(scale, mulUp(frob2, gamma(n) + 4 * UNIT_ROUNDOFF));
  if (errorF > 0) shift = addUp(shift, mulUp(1 + 1 / eta, mulUp(errorF, errorF)));
  // gradual underflow: at most half the smallest subnormal per operation, per entry; r times that in norm
  shift = addUp(shift, r * (n + 2 * r + 8) * 2 ** -1070);
  let trace = 0;
  for (let i = 0; i < r; i++) trace += g[i * r + i];
  const traceH = addUp(mulUp(scale, trace), r * shift) * 2 + 1;
  // L p rounds each entry by at most half a subnormal: in S's units d = 2^-1075 / p per entry, so
  // (L + D)(L + D)^T >= L L^T - (2 ||L|| r d + (r d)^2) I with ||L|| <= sqrt(trace H)
  const rd = (r * 2 ** -1075) / p;
  shift = addUp(shift, addUp(mulUp(2 * Math.sqrt(traceH), rd), mulUp(rd, rd)));
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
