// The pure Krylov pieces behind [power] and the certificate's Lanczos start, against closed forms
// and naive float64 arithmetic.
import { describe, expect, it } from 'vitest';
import { Float64KrylovBasis, KrylovBasis, Lanczos, symmetricEigen } from '../src/linalg/lanczos.js';
import { normalArray } from '../src/util/random.js';
import { symmetricEigenvalues } from './helpers/exact.js';

describe('symmetricEigen', () => {
  it('the path-graph Laplacian tridiag(-1, 2, -1): eigenvalues 2 - 2 cos(k pi / (m + 1)), largest first', () => {
    const m = 12;
    const a = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      a[i * m + i] = 2;
      if (i + 1 < m) a[i * m + i + 1] = a[(i + 1) * m + i] = -1;
    }
    const copy = a.slice();
    const { values, vectors } = symmetricEigen(a, m);
    expect(a).toEqual(copy); // input untouched
    for (let p = 0; p < m; p++) {
      expect(values[p]).toBeCloseTo(2 - 2 * Math.cos(((m - p) * Math.PI) / (m + 1)), 12);
      // A v = lambda v and ||v|| = 1
      let res = 0;
      let nv = 0;
      for (let i = 0; i < m; i++) {
        let av = 0;
        for (let j = 0; j < m; j++) av += a[i * m + j] * vectors[p * m + j];
        res += (av - values[p] * vectors[p * m + i]) ** 2;
        nv += vectors[p * m + i] ** 2;
      }
      expect(Math.sqrt(res)).toBeLessThan(1e-12);
      expect(nv).toBeCloseTo(1, 12);
    }
  });

  it('an arrowhead matrix (the shape after a thick restart) with a known top eigenvalue', () => {
    // [[d1, 0, s1], [0, d2, s2], [s1, s2, c]] with d1 = d2 = 1, s1 = s2 = 1, c = 1: eigenvalues 1 - sqrt2, 1, 1 + sqrt2.
    const a = Float64Array.from([1, 0, 1, 0, 1, 1, 1, 1, 1]);
    const { values } = symmetricEigen(a, 3);
    expect(values[0]).toBeCloseTo(1 + Math.SQRT2, 13);
    expect(values[1]).toBeCloseTo(1, 13);
    expect(values[2]).toBeCloseTo(1 - Math.SQRT2, 13);
  });
});

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Builds an orthonormal basis of k seeded random vectors through orthogonalise + push. */
function randomBasis(n: number, k: number, capacity = k): KrylovBasis {
  const basis = new KrylovBasis(n, capacity);
  const w = new Float64Array(n);
  const coef = new Float64Array(capacity);
  for (let i = 0; i < k; i++) basis.push(w, basis.orthogonalise(normalArray(n, 100 + i), w, coef));
  return basis;
}

describe('KrylovBasis', () => {
  // 13 vectors exercise the unrolled 8-, 4- and 1-vector paths; n spans two blocks plus a remainder.
  const n = 5000;
  const k = 13;

  it('orthogonalise + push keeps the float32 basis orthonormal to ~1e-7 and returns the true coefficients', () => {
    const basis = randomBasis(n, k, 16);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) expect(Math.abs(dot(basis.vector(i), basis.vector(j)) - (i === j ? 1 : 0))).toBeLessThan(3e-7);
    }
    // z = sum c_i q_i + r with r orthogonal: orthogonalise recovers c and r.
    const c = Array.from({ length: k }, (_, i) => (i % 3) - 1.5 + i / 7);
    const r = normalArray(n, 7);
    const w = new Float64Array(n);
    const coef = new Float64Array(16);
    const rNorm = basis.orthogonalise(r, w, coef); // r's own part orthogonal to the basis
    const orth = w.slice();
    const z = Float64Array.from(orth, (v, idx) => v + c.reduce((s, ci, i) => s + ci * basis.vector(i)[idx], 0));
    const left = basis.orthogonalise(z, w, coef);
    for (let i = 0; i < k; i++) expect(coef[i]).toBeCloseTo(c[i], 6);
    expect(left).toBeCloseTo(rNorm, 6);
    for (let i = 0; i < k; i++) expect(Math.abs(dot(w, basis.vector(i)))).toBeLessThan(1e-6 * left);
  });

  it('combine = sum_i y_i q_i; compress replaces the basis by the combinations it is given', () => {
    const basis = randomBasis(n, k);
    const y = Float64Array.from({ length: k }, (_, i) => Math.sin(i + 1));
    const want = new Float64Array(n);
    for (let i = 0; i < k; i++) for (let r = 0; r < n; r++) want[r] += y[i] * basis.vector(i)[r];
    const out = new Float32Array(n);
    basis.combine(y, out);
    for (let r = 0; r < n; r++) expect(Math.abs(out[r] - want[r])).toBeLessThan(1e-6);

    // two combinations, stored with stride k: the first is y, the second is q_5
    const ys = new Float64Array(2 * k);
    ys.set(y, 0);
    ys[k + 5] = 1;
    const q5 = basis.vector(5).slice();
    basis.compress(ys, k, 2);
    expect(basis.count).toBe(2);
    for (let r = 0; r < n; r++) expect(Math.abs(basis.vector(0)[r] - want[r])).toBeLessThan(1e-6);
    expect(Array.from(basis.vector(1))).toEqual(Array.from(q5));
  });

  it('reset restarts from a given vector exactly', () => {
    const basis = randomBasis(100, 3);
    const x = Float32Array.from(normalArray(100, 9));
    basis.reset(x);
    expect(basis.count).toBe(1);
    expect(Array.from(basis.vector(0))).toEqual(Array.from(x));
  });
});

describe('Lanczos recurrence on the float64 basis', () => {
  it('the tridiagonal it solves is Q^T G Q of the basis it built, and its top Ritz value converges to lambda_max', () => {
    const n = 40;
    const a = normalArray(n * n, 3);
    const g = new Float64Array(n * n); // G = A A^T
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let c = 0; c < n; c++) g[i * n + j] += a[i * n + c] * a[j * n + c];
    const apply = (x: ArrayLike<number>, y: Float64Array) => {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += g[i * n + j] * x[j];
        y[i] = s;
      }
    };
    const steps = 25;
    const basis = new Float64KrylovBasis(n, steps);
    const lz = new Lanczos(basis);
    const x = normalArray(n, 4);
    basis.push(x, Math.hypot(...x));
    let state = null;
    for (let j = 0; j < steps; j++) {
      apply(basis.vector(j), lz.w);
      state = lz.step(lz.w);
      if (j + 1 < steps) lz.extend();
    }
    const m = state!.m;
    // Q^T G Q computed naively from the stored basis, and its eigenvalues
    const gq = new Float64Array(n);
    const proj = new Float64Array(m * m);
    for (let j = 0; j < m; j++) {
      apply(basis.vector(j), gq);
      for (let i = 0; i < m; i++) proj[i * m + j] = basis.vector(i).reduce((s, v, r) => s + v * gq[r], 0);
    }
    const projected = symmetricEigenvalues(proj, m).sort().reverse();
    const scale = Math.max(...symmetricEigenvalues(g, n));
    expect(m).toBe(steps);
    for (let p = 0; p < m; p++) expect(Math.abs(state!.values[p] - projected[p])).toBeLessThan(1e-10 * scale);
    expect(Math.abs(state!.theta - scale)).toBeLessThan(1e-9 * scale);
    // the cheap residual |beta y_m| is the measured ||G v - theta v|| of the Ritz vector
    const v = new Float64Array(n);
    basis.combine(state!.vectors.subarray(0, m), v);
    apply(v, gq);
    const measured = Math.sqrt(gq.reduce((s, z, r) => s + (z - state!.theta * v[r]) ** 2, 0));
    expect(Math.abs(measured - state!.residual)).toBeLessThan(1e-8 * scale);
  });
});
