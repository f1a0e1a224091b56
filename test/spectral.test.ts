// [spectral]: certified sup_w sigma_max(F(w)) and the torus route, against values computed here
// independently (symbol by direct summation, sigma_max by the test helper's dense eigensolver on the
// real embedding [[Re, -Im], [Im, Re]], whose largest singular value equals the complex one).
import { describe, expect, it } from 'vitest';
import type { Kernel2D } from '../src/layer/kernel.js';
import { halfGrid, spectralBound, spectralTorusBound, trimKernel } from '../src/layer/spectral.js';
import { toeplitzBound } from '../src/layer/toeplitz.js';
import { normalArray } from '../src/util/random.js';
import { exactNorm, largestSingularValue, makeConv } from './helpers/exact.js';
import { kernel, sigmaAt } from './helpers/symbol.js';

const TOL = 1e-4;
/** The certified value may exceed the true grid maximum by (1+tol)^2 plus rounding margins. */
const SLACK = (1 + TOL) ** 2 * (1 + 1e-9);


/** max of sigma_max(F) over the full m1 x m2 grid (no symmetry used). */
function gridMaxRef(k: Kernel2D, m1: number, m2: number): number {
  let best = 0;
  for (let a = 0; a < m1; a++) {
    for (let b = 0; b < m2; b++) best = Math.max(best, sigmaAt(k, (2 * Math.PI * a) / m1, (2 * Math.PI * b) / m2));
  }
  return best;
}

function matrixNorm(rows: number, cols: number, data: ArrayLike<number>): number {
  return largestSingularValue(Float64Array.from(data), rows, cols);
}

/** K[i,j,h,w] = M[i,j] a[h] b[w] */
function separable(cout: number, cin: number, m: ArrayLike<number>, a: number[], b: number[]): Kernel2D {
  const out: number[] = [];
  for (let ij = 0; ij < cout * cin; ij++) for (const x of a) for (const y of b) out.push(m[ij] * x * y);
  return kernel(cout, cin, a.length, b.length, out);
}

describe('closed forms', () => {
  it('identity kernel (centre tap = I) has norm 1 on every route', async () => {
    const c = 4;
    const data = new Float64Array(c * c * 9);
    for (let i = 0; i < c; i++) data[(i * c + i) * 9 + 4] = 1;
    const k = kernel(c, c, 3, 3, data);
    for (const r of await Promise.all([spectralBound([k], { samples: 50, tolerance: TOL }), spectralTorusBound([k], [7, 7], { samples: 50, tolerance: TOL })])) {
      expect(r.value).toBeGreaterThanOrEqual(1);
      expect(r.value).toBeLessThanOrEqual(SLACK);
      expect(r.factor).toBe(1); // trimmed to 1x1: one frequency, no correction
    }
  });

  it('single-tap kernel gives that tap matrix norm', async () => {
    const m = normalArray(15, 3);
    const data = new Float64Array(15 * 6);
    for (let ij = 0; ij < 15; ij++) data[ij * 6 + 4] = m[ij]; // 2x3 kernel, tap (1, 1)
    const exact = matrixNorm(3, 5, m);
    const r = await spectralBound([kernel(3, 5, 2, 3, data)], { samples: 50, tolerance: TOL });
    expect(r.value).toBeGreaterThanOrEqual(exact);
    expect(r.value).toBeLessThanOrEqual(exact * SLACK);
    expect(r.grid).toEqual([1, 1]);
  });

  it('separable kernel M (x) [1,1] (x) [1,2,1]: sup = 8 ||M||, attained at w = 0', async () => {
    for (const [cout, cin] of [[3, 5], [6, 2], [1, 4]]) {
      const m = normalArray(cout * cin, cout + 10 * cin);
      const exact = 8 * matrixNorm(cout, cin, m);
      const k = separable(cout, cin, m, [1, 1], [1, 2, 1]);
      const sup = await spectralBound([k], { samples: 50, tolerance: TOL });
      expect(sup.gridMax).toBeGreaterThanOrEqual(exact);
      expect(sup.gridMax).toBeLessThanOrEqual(exact * SLACK);
      expect(sup.value).toBeGreaterThanOrEqual(exact);
      expect(sup.value).toBeLessThanOrEqual(exact * sup.factor * SLACK);
      const torus = await spectralTorusBound([k], [9, 10], { samples: 50, tolerance: TOL });
      expect(torus.value).toBeGreaterThanOrEqual(exact);
      expect(torus.value).toBeLessThanOrEqual(exact * SLACK);
    }
  });

  it('1-D [1, 0, -1]: peak 2 at pi/2 falls between grid points; only the corrected value covers it', async () => {
    const k = kernel(1, 1, 3, 1, [1, 0, -1]); // |f(w)| = 2 |sin w|
    const r = await spectralBound([k], { samples: 10, tolerance: TOL });
    expect(r.grid).toEqual([10, 1]);
    expect(r.gridMax).toBeCloseTo(2 * Math.sin((2 * Math.PI * 2) / 10), 9); // 1.902 < 2
    expect(r.gridMax).toBeLessThan(1.95);
    expect(r.value).toBeGreaterThanOrEqual(2);
  });

  it('2-D M (x) [1,0,-1] (x) [1,0,-1] on a 22-grid: peak 4||M|| at (pi/2, pi/2) off-grid, matrix path', async () => {
    const m = normalArray(6, 5);
    const exact = 4 * matrixNorm(2, 3, m);
    for (const gram of ['lags', 'direct'] as const) {
      const r = await spectralBound([separable(2, 3, m, [1, 0, -1], [1, 0, -1])], { samples: 22, tolerance: TOL, gram });
      expect(r.grid).toEqual([22, 22]);
      const onGrid = exact * Math.sin((2 * Math.PI * 5) / 22) ** 2; // 0.98 * exact
      expect(r.gridMax).toBeGreaterThanOrEqual(onGrid);
      expect(r.gridMax).toBeLessThanOrEqual(onGrid * SLACK);
      expect(r.gridMax).toBeLessThan(0.985 * exact);
      expect(r.value).toBeGreaterThanOrEqual(exact);
      expect(r.gram).toBe(gram);
    }
  });
});

describe('guarantee against a 16x finer grid (random seeded kernels)', () => {
  const cases: Array<[number, number, number, number, 'lags' | 'direct' | undefined]> = [
    [2, 3, 3, 3, 'lags'],
    [3, 2, 3, 3, 'direct'],
    [3, 3, 2, 2, undefined],
    [4, 2, 5, 1, undefined], // 1-D
    [1, 3, 3, 3, undefined], // one row: scalar path
    [1, 1, 2, 3, undefined], // depthwise-like scalar symbol
  ];
  for (const [cout, cin, kh, kw, gram] of cases) {
    it(`${cout}x${cin}x${kh}x${kw}${gram ? ' ' + gram : ''}`, async () => {
      const k = kernel(cout, cin, kh, kw, normalArray(cout * cin * kh * kw, 100 * cout + 10 * cin + kh));
      const r = await spectralBound([k], { samples: 8, tolerance: TOL, gram });
      const [m1, m2] = r.grid;
      const coarse = gridMaxRef(k, m1, m2);
      const fine = gridMaxRef(k, 16 * m1, 16 * m2);
      // certified grid maximum: >= the true grid maximum, and tight to tolerance
      expect(r.gridMax).toBeGreaterThanOrEqual(coarse);
      expect(r.gridMax).toBeLessThanOrEqual(coarse * SLACK);
      expect(r.lower).toBeLessThanOrEqual(coarse * (1 + 1e-12));
      // the guarantee: certified >= the much finer grid's value (and not absurdly above it)
      expect(r.value).toBeGreaterThanOrEqual(fine);
      expect(r.value).toBeLessThanOrEqual(fine * r.factor * SLACK);
      // the torus route on the same grid is exactly that grid's maximum
      const t = await spectralTorusBound([k], [m1, m2], { samples: 8, tolerance: TOL });
      expect(t.value).toBeGreaterThanOrEqual(coarse);
      expect(t.value).toBeLessThanOrEqual(coarse * SLACK);
    });
  }

  it('exercises the refine loop (failing Cholesky) and the trace skip with several blocks', async () => {
    // Block 2 is block 1 scaled by 0.1: all its frequencies fall under the shared target by trace.
    const d = normalArray(4 * 4 * 9, 42);
    const k1 = kernel(4, 4, 3, 3, d);
    const k2 = kernel(4, 4, 3, 3, d.map((v) => 0.1 * v));
    const r = await spectralBound([k1, k2], { samples: 20, tolerance: TOL });
    expect(r.skipped).toBeGreaterThanOrEqual(r.frequencies / 2);
    expect(r.choleskyFailures).toBeGreaterThan(0);
    const coarse = gridMaxRef(k1, 20, 20);
    expect(r.gridMax).toBeGreaterThanOrEqual(coarse);
    expect(r.gridMax).toBeLessThanOrEqual(coarse * SLACK);
  });
});

describe('against the exact operator norm and the paper bound', () => {
  const specs = [
    { cout: 3, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], seed: 3 },
    { cout: 2, cin: 4, kernel: [2, 3], input: [5, 7], pads: [0, 1, 1, 1], seed: 4 },
    { cout: 4, cin: 3, kernel: [5], input: [12], pads: [2, 2], seed: 5 },
  ];
  for (const spec of specs) {
    it(`exact <= torus <= sup <= toeplitz: ${JSON.stringify(spec.kernel)} on ${JSON.stringify(spec.input)}`, async () => {
      const layer = makeConv(spec);
      const [kh, kw] = spec.kernel.length === 2 ? spec.kernel : [spec.kernel[0], 1];
      const k = kernel(spec.cout, spec.cin, kh, kw, layer.weight);
      const exact = exactNorm(layer);
      const torusSize = [spec.input[0] + kh - 1, spec.kernel.length === 2 ? spec.input[1] + kw - 1 : 1];
      const opts = { samples: 50, tolerance: TOL };
      const torus = await spectralTorusBound([k], torusSize, opts);
      const sup = await spectralBound([k], opts);
      expect(torus.value).toBeGreaterThanOrEqual(exact);
      expect(sup.value).toBeGreaterThanOrEqual(torus.value / SLACK);
      expect(torus.route).toBe(`torus ${torusSize[0]}x${torusSize[1]}`);
      const paper = toeplitzBound([k], { samples: 50 });
      expect(sup.value).toBeLessThanOrEqual(paper.value * SLACK);
    });
  }

  it('max over blocks (grouped conv as two blocks)', async () => {
    const a = kernel(2, 2, 3, 3, normalArray(36, 1));
    const b = kernel(2, 2, 3, 3, normalArray(36, 2));
    const both = await spectralBound([a, b], { samples: 12, tolerance: TOL });
    const ra = await spectralBound([a], { samples: 12, tolerance: TOL });
    const rb = await spectralBound([b], { samples: 12, tolerance: TOL });
    const ref = Math.max(gridMaxRef(a, ...(ra.grid as [number, number])), gridMaxRef(b, ...(rb.grid as [number, number])));
    expect(both.gridMax).toBeGreaterThanOrEqual(ref);
    expect(both.gridMax).toBeLessThanOrEqual(ref * SLACK);
  });
});

describe('helpers', () => {
  it('halfGrid covers every grid point up to w -> -w exactly once', async () => {
    for (const [m1, m2] of [[5, 4], [6, 6], [1, 7], [8, 1], [1, 1]]) {
      const pts = halfGrid(m1, m2);
      const seen = new Set<string>();
      for (let i = 0; i < pts.length; i += 2) {
        const a = pts[i];
        const b = pts[i + 1];
        seen.add(`${a},${b}`);
        seen.add(`${(m1 - a) % m1},${(m2 - b) % m2}`);
      }
      expect(seen.size).toBe(m1 * m2);
      // no point listed together with its mirror (unless it is its own mirror)
      expect(pts.length / 2).toBe(Math.ceil((m1 * m2 + selfMirrors(m1, m2)) / 2));
    }
  });

  it('trimKernel crops zero borders and keeps zero kernels', async () => {
    const d = new Float64Array(2 * 9);
    d[5] = 1; // (h=1, w=2) of pair 0
    d[9 + 7] = 2; // (h=2, w=1) of pair 1
    const t = trimKernel(kernel(1, 2, 3, 3, d));
    expect([t.kh, t.kw]).toEqual([2, 2]);
    expect(Array.from(t.data)).toEqual([0, 1, 0, 0, 0, 0, 2, 0]);
    expect((await spectralBound([kernel(2, 2, 3, 3, new Float64Array(36))], { samples: 50, tolerance: TOL })).value).toBe(0);
  });
});

function selfMirrors(m1: number, m2: number): number {
  const s = (m: number) => (m % 2 === 0 ? 2 : 1);
  return s(m1) * s(m2);
}

describe('extreme weights', () => {
  it('all-subnormal weights (the inverse of the common scale overflows): the value is finite and >= the exact norm', async () => {
    // a 3x3 kernel with only its centre tap: F(w) is the 2 x 3 centre matrix at every w
    const centre = [3e-321, -1e-321, 2e-321, 5e-322, 1e-321, 7e-322];
    const d = new Float64Array(2 * 3 * 9);
    centre.forEach((v, e) => (d[e * 9 + 4] = v));
    const r = await spectralBound([kernel(2, 3, 3, 3, d)], { samples: 10, tolerance: TOL });
    // the subnormals times 2^1074 (in two exact steps: 2^1074 overflows) are integers: that matrix's norm, scaled back
    const up = (v: number) => v * 2 ** 537 * 2 ** 537;
    const ints = Float64Array.from(centre, up);
    expect(ints.every(Number.isInteger)).toBe(true);
    const exact = largestSingularValue(ints, 2, 3);
    expect(Number.isFinite(r.value)).toBe(true);
    expect(up(r.value)).toBeGreaterThanOrEqual(exact * (1 - 1e-12));
  });
});

describe('native float64 lag matrices (onnxruntime DGEMM)', () => {
  it('forced native lags give the JS value to rounding, and cover the grid', async () => {
    for (const [cout, cin, kh, kw] of [[3, 4, 3, 3], [5, 2, 2, 3], [4, 4, 1, 1]]) {
      const k = kernel(cout, cin, kh, kw, normalArray(cout * cin * kh * kw, cout * 7 + kh));
      const opts = { samples: 10, tolerance: TOL, gram: 'lags' as const };
      const js = await spectralBound([k], { ...opts, native: false });
      const nat = await spectralBound([k], { ...opts, native: true });
      expect(nat.gram).toMatch(/native/);
      expect(js.gram).not.toMatch(/native/);
      expect(Math.abs(nat.value - js.value) / js.value).toBeLessThan(2 * TOL);
      const coarse = gridMaxRef(k, nat.grid[0], nat.grid[1]);
      expect(nat.gridMax).toBeGreaterThanOrEqual(coarse);
      expect(nat.gridMax).toBeLessThanOrEqual(coarse * SLACK);
    }
  });

  it('lags split over several DGEMM calls give the JS value to rounding', async () => {
    // 40 x 3000 x 3x3: 120k entries per tap, so the centre lag's 9 pairs go to DGEMM in two chunks (8 + 1)
    const k = kernel(40, 3000, 3, 3, normalArray(40 * 3000 * 9, 41));
    const opts = { samples: 6, tolerance: TOL, gram: 'lags' as const };
    const js = await spectralBound([k], { ...opts, native: false });
    const nat = await spectralBound([k], { ...opts, native: true });
    expect(nat.gram).toMatch(/native/);
    expect(Math.abs(nat.value - js.value) / js.value).toBeLessThan(2 * TOL);
  });
});
