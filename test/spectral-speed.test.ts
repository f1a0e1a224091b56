// Issue 17 speed work on the spectral bound: the frequency pruning by ||G(w)||_F never changes the
// certified value (and the values stay above an independent grid maximum), the paired complex
// Cholesky computes the very factor of the row-by-row form, and the lower-triangle Gram product
// matches the full one.
import { describe, expect, it } from 'vitest';
import type { Kernel2D } from '../src/layer/kernel.js';
import { lowerFrobeniusUpper, spectralBound, spectralTorusBound } from '../src/layer/spectral.js';
import { choleskyTestHermitian } from '../src/linalg/cholesky-complex.js';
import { hermitianGramOps } from '../src/linalg/gram.js';
import { normalArray } from '../src/util/random.js';
import { largestSingularValue } from './helpers/exact.js';
import { kernel, sigmaAt } from './helpers/symbol.js';

const TOL = 1e-4;
const SLACK = (1 + TOL) ** 2 * (1 + 1e-9);


/** max over the m1 x m2 grid of sigma_max(F(w)), by direct summation and a dense SVD of the real embedding. */
function gridMaxRef(k: Kernel2D, m1: number, m2: number): number {
  let best = 0;
  for (let a = 0; a < m1; a++) for (let b = 0; b < m2; b++) best = Math.max(best, sigmaAt(k, (2 * Math.PI * a) / m1, (2 * Math.PI * b) / m2));
  return best;
}

/** c * I on the centre tap plus small seeded noise: G(w) ~ c^2 I, trace ~ n c^2 but ||G||_F ~ sqrt(n) c^2. */
function nearIdentity(n: number, c: number, noise: number, seed: number): Kernel2D {
  const d = normalArray(n * n * 9, seed).map((v) => noise * v);
  for (let i = 0; i < n; i++) d[(i * n + i) * 9 + 4] += c;
  return kernel(n, n, 3, 3, d);
}

describe('frequency pruning by ||G(w)||_F', () => {
  // random kernels, mixtures of scales (later blocks under the target set by the first), near-identity
  // blocks whose trace exceeds the target while ||G||_F does not (the case the pruning is for)
  const sweep: Array<[string, Kernel2D[]]> = [];
  for (let s = 0; s < 4; s++) sweep.push([`random 4x5 #${s}`, [kernel(4, 5, 3, 3, normalArray(180, 500 + s))]]);
  for (let s = 0; s < 3; s++) {
    const d = normalArray(6 * 6 * 9, 600 + s);
    sweep.push([`two scales #${s}`, [kernel(6, 6, 3, 3, d), kernel(6, 6, 3, 3, d.map((v, i) => (i % 7 === 0 ? 0.5 : 0.3) * v))]]);
  }
  sweep.push(['random then near-identity', [kernel(4, 4, 3, 3, normalArray(144, 7)), nearIdentity(4, 2, 0.02, 8)]]);
  sweep.push(['near-identity, noisy', [nearIdentity(6, 1, 0.15, 9), nearIdentity(6, 0.8, 0.05, 10)]]);
  sweep.push(['2x2 kernels, 5 blocks', Array.from({ length: 5 }, (_, b) => kernel(3, 4, 2, 2, normalArray(48, 20 + b).map((v) => v / (1 + b))))]);

  for (const [name, blocks] of sweep) {
    it(`same value with and without pruning: ${name}`, async () => {
      for (const route of ['sup', 'torus'] as const) {
        const run = (prune: boolean) =>
          route === 'sup' ? spectralBound(blocks, { samples: 12, tolerance: TOL, prune }) : spectralTorusBound(blocks, [9, 9], { samples: 12, tolerance: TOL, prune });
        const [on, off] = [await run(true), await run(false)];
        expect(off.pruned).toBe(0);
        expect(on.value).toBe(off.value);
        expect(on.lower).toBe(off.lower);
        // and both certify the grid maximum, computed independently
        const [m1, m2] = on.grid;
        const ref = Math.max(...blocks.map((b) => gridMaxRef(b, m1, m2)));
        expect(on.gridMax).toBeGreaterThanOrEqual(ref);
        expect(on.gridMax).toBeLessThanOrEqual(ref * SLACK);
      }
    });
  }

  it('prunes where the trace test cannot, and saves those Cholesky tests', async () => {
    const blocks = [kernel(4, 4, 3, 3, normalArray(144, 7)), nearIdentity(4, 2, 0.02, 8)];
    const on = await spectralBound(blocks, { samples: 12, tolerance: TOL });
    const off = await spectralBound(blocks, { samples: 12, tolerance: TOL, prune: false });
    expect(on.pruned).toBeGreaterThan(0);
    expect(on.certificates + on.choleskyFailures).toBe(off.certificates + off.choleskyFailures - on.pruned);
  });

  it('lowerFrobeniusUpper bounds the largest eigenvalue and reads only the lower triangle', () => {
    for (const n of [1, 2, 5, 12]) {
      const g = hermitian(n, 30 + n);
      const full = fullFrobenius(g, n);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) g[2 * (i * n + j)] = g[2 * (i * n + j) + 1] = NaN;
      const up = lowerFrobeniusUpper(g, n);
      expect(up).toBeGreaterThanOrEqual(full);
      expect(up).toBeLessThanOrEqual(full * (1 + 1e-12));
      expect(up).toBeGreaterThanOrEqual(lambdaMax(hermitian(n, 30 + n), n));
    }
  });
});

/** A A^H for a seeded complex n x n A (full storage, interleaved). */
function hermitian(n: number, seed: number): Float64Array {
  const a = normalArray(2 * n * n, seed);
  const g = new Float64Array(2 * n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sr = 0;
      let si = 0;
      for (let c = 0; c < n; c++) {
        const [ar, ai, br, bi] = [a[2 * (i * n + c)], a[2 * (i * n + c) + 1], a[2 * (j * n + c)], a[2 * (j * n + c) + 1]];
        sr += ar * br + ai * bi;
        si += ai * br - ar * bi;
      }
      g[2 * (i * n + j)] = sr;
      g[2 * (i * n + j) + 1] = si;
    }
  }
  for (let i = 0; i < n; i++) g[2 * (i * n + i) + 1] = 0;
  return g;
}

function fullFrobenius(g: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < 2 * n * n; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** lambda_max of a Hermitian G by the dense SVD of its real embedding [[Re, -Im], [Im, Re]]. */
function lambdaMax(g: Float64Array, n: number): number {
  const m = new Float64Array(4 * n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const [re, im] = [g[2 * (i * n + j)], g[2 * (i * n + j) + 1]];
      m[i * 2 * n + j] = re;
      m[i * 2 * n + n + j] = -im;
      m[(n + i) * 2 * n + j] = im;
      m[(n + i) * 2 * n + n + j] = re;
    }
  }
  return largestSingularValue(m, 2 * n, 2 * n);
}

/** The row-by-row complex Cholesky test (the form before the 2 x 2 blocking), as the reference. */
function choleskyRowByRow(g: Float64Array, n: number, t: number, l: Float64Array, x: Float64Array): number {
  for (let i = 0; i < n; i++) {
    const ri = 2 * i * n;
    for (let j = 0; j < i; j++) {
      const rj = 2 * j * n;
      let sr = -g[ri + 2 * j];
      let si = -g[ri + 2 * j + 1];
      for (let p = 0; p < j; p++) {
        const [ar, ai, br, bi] = [l[ri + 2 * p], l[ri + 2 * p + 1], l[rj + 2 * p], l[rj + 2 * p + 1]];
        sr -= ar * br + ai * bi;
        si -= ai * br - ar * bi;
      }
      l[ri + 2 * j] = sr / l[rj + 2 * j];
      l[ri + 2 * j + 1] = si / l[rj + 2 * j];
    }
    let d = t - g[ri + 2 * i];
    for (let p = 0; p < i; p++) d -= l[ri + 2 * p] ** 2 + l[ri + 2 * p + 1] ** 2;
    if (!(d > 0)) {
      x.fill(0);
      x[2 * i] = 1;
      for (let r = i; r > 0; r--) {
        const [xr, xi] = [x[2 * r], x[2 * r + 1]];
        for (let j = 0; j < r; j++) {
          const dj = l[2 * j * n + 2 * j];
          const [lr, li] = [l[2 * r * n + 2 * j] / dj, l[2 * r * n + 2 * j + 1] / dj];
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

describe('paired complex Cholesky test', () => {
  it('gives bit for bit the row-by-row factor, pivot and failure vector, from the lower triangle alone', () => {
    for (const n of [1, 2, 3, 4, 5, 8, 17, 32]) {
      const g = hermitian(n, 70 + n);
      const lam = lambdaMax(g, n);
      // passes, fails late, fails early (t below the smallest pivot)
      for (const t of [lam * 1.01, lam * 0.999, lam * 0.3, lam * 1e-3]) {
        const [l1, x1] = [new Float64Array(2 * n * n), new Float64Array(2 * n)];
        const [l2, x2] = [new Float64Array(2 * n * n), new Float64Array(2 * n)];
        const upperGone = Float64Array.from(g);
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) upperGone[2 * (i * n + j)] = upperGone[2 * (i * n + j) + 1] = NaN;
        const r1 = choleskyRowByRow(g, n, t, l1, x1);
        const r2 = choleskyTestHermitian(upperGone, n, t, l2, x2);
        expect(r2).toBe(r1);
        expect(Array.from(x2)).toEqual(Array.from(x1));
        const rows = r1 < 0 ? n : r1; // rows of L complete before the failure
        for (let i = 0; i < rows; i++) for (let j = 0; j <= i; j++) {
          expect(l2[2 * (i * n + j)]).toBe(l1[2 * (i * n + j)]);
          expect(l2[2 * (i * n + j) + 1]).toBe(l1[2 * (i * n + j) + 1]);
        }
      }
    }
  });

  it('lower-triangle Gram product equals the full one', () => {
    for (const n of [1, 3, 10]) {
      const g = hermitian(n, 90 + n);
      const lower = Float64Array.from(g);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) lower[2 * (i * n + j)] = lower[2 * (i * n + j) + 1] = NaN;
      const x = normalArray(2 * n, 5);
      const [y1, y2] = [new Float64Array(2 * n), new Float64Array(2 * n).fill(7)];
      hermitianGramOps(g, n, new Float64Array(2 * n * n)).apply(x, y1);
      hermitianGramOps(lower, n, new Float64Array(2 * n * n), true).apply(x, y2);
      for (let i = 0; i < 2 * n; i++) expect(y2[i]).toBeCloseTo(y1[i], 10);
    }
  });
});
