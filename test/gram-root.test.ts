// The Gram root that compresses a run's 1x1 ends (src/linalg/gram-root.ts): L L^T - A' A'^T is
// checked positive definite in exact rational arithmetic (fraction-free elimination: every leading
// principal minor > 0), for A itself and for perturbations A' at the allowed Frobenius distance, and
// L's norm is checked against A's (the compression keeps norms, it does not inflate them).
import { describe, expect, it } from 'vitest';
import { gramRootLower } from '../src/linalg/gram-root.js';
import { normalArray } from '../src/util/random.js';
import { largestSingularValue } from './helpers/exact.js';
import { add, exact, mul, type Rational } from './helpers/rational.js';

/** Exact Gram X X^T of a row-major r x n float matrix, as rationals. */
function gramExact(x: Float64Array, r: number, n: number): Rational[][] {
  const g: Rational[][] = [];
  for (let i = 0; i < r; i++) {
    g.push([]);
    for (let j = 0; j < r; j++) {
      let s: Rational = { m: 0n, e: 0 };
      for (let k = 0; k < n; k++) s = add(s, mul(exact(x[i * n + k]), exact(x[j * n + k])));
      g[i].push(s);
    }
  }
  return g;
}

/** True when the symmetric rational matrix is positive definite: Bareiss elimination, every leading minor > 0. */
function positiveDefinite(m: Rational[][]): boolean {
  const r = m.length;
  const e = Math.min(...m.flat().filter((v) => v.m !== 0n).map((v) => v.e), 0);
  const a = m.map((row) => row.map((v) => v.m << BigInt(v.e - e)));
  let prev = 1n;
  for (let k = 0; k < r; k++) {
    if (a[k][k] <= 0n) return false;
    for (let i = k + 1; i < r; i++)
      for (let j = k + 1; j < r; j++) a[i][j] = (a[i][j] * a[k][k] - a[i][k] * a[k][j]) / prev;
    prev = a[k][k];
  }
  return true;
}

const minus = (a: Rational[][], b: Rational[][]) => a.map((row, i) => row.map((v, j) => add(v, { m: -b[i][j].m, e: b[i][j].e })));

function lowerTimesTranspose(l: Float64Array, r: number): Rational[][] {
  return gramExact(l, r, r);
}

function randomMatrix(r: number, n: number, seed: number, scale = 1): Float64Array {
  return Float64Array.from(normalArray(r * n, seed), (v) => v * scale);
}

describe('gramRootLower: L L^T >= A A^T, exactly', () => {
  const cases: { name: string; a: Float64Array; r: number; n: number }[] = [
    { name: 'Gaussian 4 x 9', a: randomMatrix(4, 9, 1), r: 4, n: 9 },
    { name: 'nearly square 5 x 6', a: randomMatrix(5, 6, 2), r: 5, n: 6 },
    { name: 'one row', a: randomMatrix(1, 7, 3), r: 1, n: 7 },
    { name: 'rank-deficient (a repeated row)', a: (() => { const a = randomMatrix(4, 8, 4); a.copyWithin(3 * 8, 0, 8); return a; })(), r: 4, n: 8 },
    { name: 'rows 1e-8 apart in scale', a: (() => { const a = randomMatrix(3, 6, 5); for (let k = 0; k < 6; k++) a[k] *= 1e-8; return a; })(), r: 3, n: 6 },
    { name: 'tiny entries (1e-150)', a: randomMatrix(3, 5, 6, 1e-150), r: 3, n: 5 },
    { name: 'zero matrix', a: new Float64Array(12), r: 3, n: 4 },
  ];
  it.each(cases)('$name', async ({ a, r, n }) => {
    const l = (await gramRootLower(a, r, n))!;
    expect(l).not.toBeNull();
    for (let i = 0; i < r; i++) for (let j = i + 1; j < r; j++) expect(l[i * r + j]).toBe(0);
    expect(positiveDefinite(minus(lowerTimesTranspose(l, r), gramExact(a, r, n)))).toBe(true);
    // tight: ||L|| exceeds ||A|| only by the rounding margin (relative to ||A||_F)
    let f2 = 0;
    for (const v of a) f2 += v * v;
    const nl = largestSingularValue(l, r, r);
    const na = largestSingularValue(a, r, n);
    expect(nl * nl).toBeLessThanOrEqual(na * na + 1e-12 * f2 + 1e-300);
  });

  it('a square matrix (r = n): the check holds there too', async () => {
    const a = randomMatrix(4, 4, 9);
    const l = (await gramRootLower(a, 4, 4))!;
    expect(positiveDefinite(minus(lowerTimesTranspose(l, 4), gramExact(a, 4, 4)))).toBe(true);
  });

  it('with errorF: L L^T >= A\' A\'^T for perturbations at that Frobenius distance, the worst rank-one one included', async () => {
    const r = 4;
    const n = 7;
    const a = randomMatrix(r, n, 11);
    const errorF = 1e-3;
    const l = (await gramRootLower(a, r, n, errorF))!;
    const ll = lowerTimesTranspose(l, r);
    // the worst direction for the top of A A^T: along A's own top singular pair, i.e. A' = (1 + t) A for the
    // largest t with ||t A||_F <= errorF; plus random directions
    let f = 0;
    for (const v of a) f += v * v;
    const perturbations = [Float64Array.from(a, (v) => v * (errorF / Math.sqrt(f)))];
    for (let s = 0; s < 6; s++) {
      const e = randomMatrix(r, n, 100 + s);
      let ef = 0;
      for (const v of e) ef += v * v;
      perturbations.push(Float64Array.from(e, (v) => v * (errorF / Math.sqrt(ef))));
    }
    for (const e of perturbations) {
      // shrink by a hair so the float perturbation is within errorF in exact arithmetic too
      const ap = Float64Array.from(a, (v, i) => v + e[i] * (1 - 1e-9));
      expect(positiveDefinite(minus(ll, gramExact(ap, r, n)))).toBe(true);
    }
  });

  it('refuses a matrix with a NaN or an infinity', async () => {
    const a = randomMatrix(2, 3, 12);
    a[4] = Number.NaN;
    expect(await gramRootLower(a, 2, 3)).toBeNull();
    a[4] = Infinity;
    expect(await gramRootLower(a, 2, 3)).toBeNull();
  });

  it('entries whose squares underflow (a review\'s counterexample: 127 x 128, every entry 1.4 * 2^-538)', async () => {
    // A A^T = n x^2 1 1^T (rank one), so L L^T >= A A^T iff n ||L^-1 (x 1)||^2 <= 1; before scaling A,
    // fl(x^2) = 0 gave L with ||L||^2 = 0.78 n r x^2 (and this check at 1.28)
    const r = 127;
    const n = 128;
    const x = 1.4 * 2 ** -538;
    const l = (await gramRootLower(new Float64Array(r * n).fill(x), r, n))!;
    const y = new Float64Array(r);
    for (let i = 0; i < r; i++) {
      let acc = x;
      for (let k = 0; k < i; k++) acc -= l[i * r + k] * y[k];
      y[i] = acc / l[i * r + i];
    }
    let yy = 0;
    for (const v of y) yy += v * v;
    expect(n * yy).toBeLessThanOrEqual(1 + 1e-6);
    expect(n * yy).toBeGreaterThan(0.99); // and not loose
  });
});

describe('native products in merges (what the large runs of real networks take)', () => {
  it('gramNative forms A A^T within gamma_n |A||A|^T of the exact value, so the Gram root\'s margin covers it', async () => {
    const { gramNative } = await import('../src/native/blas.js');
    const r = 200;
    const n = 800;
    const a = randomMatrix(r, n, 21);
    const gramOf = (s: Float64Array) => gramNative(r, n, (c0, w, out) => {
      for (let i = 0; i < r; i++) out.set(s.subarray(i * n + c0, i * n + c0 + w), i * w);
    });
    // the entries of this A are O(1): its scaled copy is A itself times a power of two
    const g = await gramOf(a);
    const gammaN = (1.01 * n * 2 ** -53) / (1 - n * 2 ** -53);
    let worst = 0;
    for (let i = 0; i < r; i++)
      for (let j = 0; j <= i; j++) {
        let s = 0;
        let abs = 0;
        for (let k = 0; k < n; k++) {
          s += a[i * n + k] * a[j * n + k];
          abs += Math.abs(a[i * n + k] * a[j * n + k]);
        }
        // both sums are within gamma_n abs of the exact value
        worst = Math.max(worst, Math.abs(g[i * r + j] - s) / (2 * gammaN * abs));
      }
    expect(worst).toBeLessThanOrEqual(1);
    const l = (await gramRootLower(a, r, n, 0, gramOf))!;
    const na = largestSingularValue(a, r, n);
    const nl = largestSingularValue(l, r, r);
    expect(nl).toBeGreaterThanOrEqual(na * (1 - 1e-12));
    expect(nl).toBeLessThanOrEqual(na * (1 + 1e-9));
  });
});
