// Certified dense spectral norm and the Gram/Cholesky kernels under it, against the test helper's
// independent dense eigensolver.
import { describe, expect, it } from 'vitest';
import { denseSpectralNorm } from '../src/layer/dense-norm.js';
import { addABt, hermitianGramOps, realGramOps } from '../src/linalg/gram.js';
import { choleskyTestHermitian, choleskyTestHermitianNative } from '../src/linalg/cholesky-complex.js';
import { certifyGram, newTarget, powerIterate } from '../src/linalg/eigen-certificate.js';
import { lanczosStart } from '../src/linalg/lanczos.js';
import { choleskyTestReal, choleskyTestRealNative } from '../src/linalg/cholesky-real.js';
import { gramNative } from '../src/native/blas.js';
import { normalArray } from '../src/util/random.js';
import { largestSingularValue, makeDense, symmetricEigenvalues } from './helpers/exact.js';
import { hermitianGram, hermitianLambdaMax, hermitianRayleigh } from './helpers/hermitian.js';

const TOL = 1e-4;
const SLACK = (1 + TOL) ** 2 * (1 + 1e-9);

/** x^T G x / x^T x, summed directly (independent of the engine's products). */
function rayleigh(g: Float64Array, n: number, x: Float64Array): number {
  let xgx = 0;
  let xx = 0;
  for (let i = 0; i < n; i++) {
    xx += x[i] * x[i];
    for (let j = 0; j < n; j++) xgx += x[i] * g[i * n + j] * x[j];
  }
  return xgx / xx;
}

/** lambda_max by bisection on the JS Hermitian test's own verdicts: it fails at lo, passes at hi. */
function jsThreshold(g: Float64Array, n: number): { lo: number; hi: number } {
  let [lo, hi] = [0, 1e6];
  const work = new Float64Array(2 * n * n);
  const x = new Float64Array(2 * n);
  for (let k = 0; k < 80; k++) {
    const mid = (lo + hi) / 2;
    if (choleskyTestHermitian(g, n, mid, work, x) < 0) hi = mid;
    else lo = mid;
  }
  return { lo, hi };
}

describe('denseSpectralNorm', () => {
  const shapes: Array<[number, number]> = [
    [30, 70],
    [70, 30],
    [1, 40],
    [40, 1],
    [64, 64],
  ];
  for (const [rows, cols] of shapes) {
    it(`${rows}x${cols}: exact <= value <= exact (1+tol)^2, lower <= exact`, async () => {
      const layer = makeDense(rows, cols, rows + 7 * cols);
      const exact = largestSingularValue(Float64Array.from(layer.weight), rows, cols);
      const r = await denseSpectralNorm(layer.weight, rows, cols, TOL);
      expect(r.certified).toBe(true);
      expect(r.value).toBeGreaterThanOrEqual(exact);
      expect(r.value).toBeLessThanOrEqual(exact * SLACK);
      expect(r.lower).toBeLessThanOrEqual(exact * (1 + 1e-12));
      expect(r.lower).toBeGreaterThan(exact * (1 - 1e-3));
    });
  }

  it('closed forms: zero -> 0, identity -> 1, rank one u v^T -> |u| |v|', async () => {
    expect((await denseSpectralNorm(new Float32Array(12), 3, 4, TOL)).value).toBe(0);
    const id = new Float64Array(50 * 50);
    for (let i = 0; i < 50; i++) id[i * 51] = 1;
    const ri = await denseSpectralNorm(id, 50, 50, TOL);
    expect(ri.value).toBeGreaterThanOrEqual(1);
    expect(ri.value).toBeLessThanOrEqual(SLACK);
    const u = normalArray(20, 1);
    const v = normalArray(33, 2);
    const w = new Float64Array(20 * 33);
    for (let i = 0; i < 20; i++) for (let j = 0; j < 33; j++) w[i * 33 + j] = u[i] * v[j];
    const norm = (x: Float64Array) => Math.sqrt(x.reduce((s, t) => s + t * t, 0));
    const exact = norm(u) * norm(v);
    const r = await denseSpectralNorm(w, 20, 33, TOL);
    expect(r.value).toBeGreaterThanOrEqual(exact * (1 - 1e-15));
    expect(r.value).toBeLessThanOrEqual(exact * SLACK);
  });

  it('clustered top singular values (slow power iteration) stay certified and tight', async () => {
    // W = diag(1, 1 - 1e-5, 0.99, 0.5, ...) mixed by an orthogonal-ish row operation (Householder)
    const n = 40;
    const h = normalArray(n, 9);
    const hn = h.reduce((s, t) => s + t * t, 0);
    const w = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      const s = i === 0 ? 1 : i === 1 ? 1 - 1e-5 : i === 2 ? 0.99 : 0.5;
      for (let j = 0; j < n; j++) w[i * n + j] = ((i === j ? 1 : 0) - (2 * h[i] * h[j]) / hn) * s;
    }
    const r = await denseSpectralNorm(w, n, n, TOL);
    expect(r.value).toBeGreaterThanOrEqual(1);
    expect(r.value).toBeLessThanOrEqual(SLACK);
  });

  it('extreme scales (1e-200, 1e200) are rescaled exactly', async () => {
    const layer = makeDense(9, 13, 3);
    const exact = largestSingularValue(Float64Array.from(layer.weight), 9, 13);
    for (const s of [1e-200, 1e200]) {
      const r = await denseSpectralNorm(Float64Array.from(layer.weight, (v) => v * s), 9, 13, TOL);
      expect(r.value / s).toBeGreaterThanOrEqual(exact * (1 - 1e-14));
      expect(r.value / s).toBeLessThanOrEqual(exact * SLACK);
    }
  });

  it('rejects non-finite weights and mismatched shapes', async () => {
    await expect(denseSpectralNorm(Float32Array.from([1, NaN]), 1, 2, TOL)).rejects.toThrow(/non-finite/);
    await expect(denseSpectralNorm(Float32Array.from([1, Infinity]), 1, 2, TOL)).rejects.toThrow(/non-finite/);
    await expect(denseSpectralNorm(new Float32Array(5), 2, 3, TOL)).rejects.toThrow(/expected/);
  });
});

describe('hermitian.ts kernels', () => {
  it('addABt matches the naive product on odd sizes, full and lower-only', async () => {
    const n = 37;
    const k = 530; // crosses the 512-column tile
    const a = normalArray(n * k, 1);
    const b = normalArray(n * k, 2);
    const full = new Float64Array(n * n);
    addABt(a, 0, b, 0, n, k, full, false);
    const low = new Float64Array(n * n);
    addABt(a, 0, a, 0, n, k, low, true);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let t = 0;
        for (let c = 0; c < k; c++) {
          s += a[i * k + c] * b[j * k + c];
          t += a[i * k + c] * a[j * k + c];
        }
        expect(full[i * n + j]).toBeCloseTo(s, 9);
        if (j <= i) expect(low[i * n + j]).toBeCloseTo(t, 9);
      }
    }
  });

  it('real Cholesky test: passes above lambda_max, fails below with a vector of Rayleigh quotient >= t', async () => {
    const n = 12;
    const a = normalArray(n * 20, 5);
    const g = new Float64Array(n * n);
    addABt(a, 0, a, 0, n, 20, g, true);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j];
    const lmax = Math.max(...symmetricEigenvalues(Float64Array.from(g), n));
    const work = new Float64Array(n * n);
    const x = new Float64Array(n);
    expect(choleskyTestReal(g, n, lmax * 1.001, work, x)).toBe(-1);
    const t = lmax * 0.98;
    expect(choleskyTestReal(g, n, t, work, x)).toBeGreaterThanOrEqual(0);
    expect(rayleigh(g, n, x)).toBeGreaterThanOrEqual(t * (1 - 1e-12));
  });

  it('complex Cholesky test agrees with the real embedding', async () => {
    // G = A A^H for complex A (n x m), embedded as the real symmetric 2n x 2n [[Re, -Im], [Im, Re]]
    const n = 7;
    const g = hermitianGram(n, 9, 11, true);
    const lmax = hermitianLambdaMax(g, n);
    const work = new Float64Array(2 * n * n);
    const x = new Float64Array(2 * n);
    expect(choleskyTestHermitian(g, n, lmax * 1.001, work, x)).toBe(-1);
    const t = lmax * 0.97;
    expect(choleskyTestHermitian(g, n, t, work, x)).toBeGreaterThanOrEqual(0);
    expect(hermitianRayleigh(g, n, x)).toBeGreaterThanOrEqual(t * (1 - 1e-12));
    // the native route factors that embedding itself: same verdicts, a complex witness from the real one;
    // reading the lower triangle only, as the JS test does: the upper one is never read (garbage here)
    const lower = Float64Array.from(g);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) lower.fill(1e300, 2 * (i * n + j), 2 * (i * n + j) + 2);
    for (const mat of [g, lower]) {
      expect(await choleskyTestHermitianNative(mat, n, lmax * 1.001, x)).toBe(-1);
      x.fill(0);
      expect(await choleskyTestHermitianNative(mat, n, t, x)).toBeGreaterThanOrEqual(0);
      expect(hermitianRayleigh(g, n, x)).toBeGreaterThanOrEqual(t * (1 - 1e-12));
    }
  });

  it('the certificate through either Hermitian test: both certified above lambda_max, within the tolerance of each other', async () => {
    const n = 200;
    const g = hermitianGram(n, n, 31);
    const { lo } = jsThreshold(g, n);
    const taus: number[] = [];
    for (const native of [false, true]) {
      const ops = hermitianGramOps(g, n, new Float64Array(2 * n * n), true, native);
      expect(ops.factored?.order).toBe(native ? 2 * n : undefined);
      const target = newTarget(1e-6);
      await certifyGram(ops, target, { x: normalArray(2 * n, 1), y: new Float64Array(2 * n), z: new Float64Array(2 * n) }, 0, 4, 5000);
      expect(target.tau).toBeGreaterThanOrEqual(lo);
      taus.push(target.tau);
    }
    expect(Math.abs(taus[1] - taus[0])).toBeLessThanOrEqual(taus[0] * 4e-6);
  });

  it('at the default native order, the certificate against known eigenvalues: H D H for a Householder H', async () => {
    // G = H diag(lambda) H with H = I - 2 v v^H / |v|^2 (unitary, Hermitian): dense, eigenvalues exactly lambda
    const n = 480;
    const vr = normalArray(n, 41);
    const vi = normalArray(n, 42);
    let vv = 0;
    for (let i = 0; i < n; i++) vv += vr[i] ** 2 + vi[i] ** 2;
    const lambda = Float64Array.from({ length: n }, (_, k) => 1 + k / n); // top 2 - 1/n, next 1/n below
    const top = lambda[n - 1];
    // H_ik = delta_ik - 2 v_i conj(v_k) / vv; G_ij = sum_k H_ik lambda_k conj(H_jk)
    const h = new Float64Array(2 * n * n);
    for (let i = 0; i < n; i++)
      for (let k = 0; k < n; k++) {
        h[2 * (i * n + k)] = (i === k ? 1 : 0) - (2 * (vr[i] * vr[k] + vi[i] * vi[k])) / vv;
        h[2 * (i * n + k) + 1] = (-2 * (vi[i] * vr[k] - vr[i] * vi[k])) / vv;
      }
    const g = new Float64Array(2 * n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j <= i; j++) {
        let re = 0;
        let im = 0;
        for (let k = 0; k < n; k++) {
          const [ar, ai] = [h[2 * (i * n + k)], h[2 * (i * n + k) + 1]];
          const [br, bi] = [h[2 * (j * n + k)], -h[2 * (j * n + k) + 1]];
          re += lambda[k] * (ar * br - ai * bi);
          im += lambda[k] * (ar * bi + ai * br);
        }
        g[2 * (i * n + j)] = re;
        g[2 * (i * n + j) + 1] = im;
      }
    const ops = hermitianGramOps(g, n, new Float64Array(2 * n * n), true);
    expect(ops.factored?.order).toBe(2 * n); // the default route at this order is the native one
    const target = newTarget(1e-6);
    // formError: G is summed from 480 terms per entry in float64, far inside 1e-9
    await certifyGram(ops, target, { x: normalArray(2 * n, 1), y: new Float64Array(2 * n), z: new Float64Array(2 * n) }, 1e-9, 4, 5000);
    expect(target.tau).toBeGreaterThanOrEqual(top);
    expect(target.tau).toBeLessThanOrEqual(top * (1 + 1e-6) ** 2 * (1 + 1e-9));
  });

  it('native Hermitian test (real embedding) decides as the JS one next to lambda_max, on an order past the blocked path', async () => {
    const n = 300; // embedding of order 600: panels, groups and DGEMM updates all run
    const g = hermitianGram(n, 320, 21);
    // lambda_max from the JS test by bisection (its own verdicts), then both tests at +-1e-9 around it
    const { hi } = jsThreshold(g, n);
    const work = new Float64Array(2 * n * n);
    const x = new Float64Array(2 * n);
    for (const f of [1 + 1e-9, 1 - 1e-9, 1 - 1e-6]) {
      const t = hi * f;
      const js = choleskyTestHermitian(g, n, t, work, x) < 0;
      x.fill(0);
      const native = (await choleskyTestHermitianNative(g, n, t, x)) < 0;
      expect(native).toBe(js);
      if (!native) expect(hermitianRayleigh(g, n, x, true)).toBeGreaterThanOrEqual(t * (1 - 1e-12));
    }
  });
});

describe('native float64 paths (onnxruntime DGEMM), forced on small sizes', () => {
  /** H M H for H = I - 2 w w^T (|w| = 1) and symmetric M (n x n), stored exactly symmetric. */
  function reflect(m: Float64Array, n: number, w: Float64Array): Float64Array {
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) p[i] += m[i * n + j] * w[j];
    let c = 0;
    for (let i = 0; i < n; i++) c += w[i] * p[i];
    const out = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const v = m[i * n + j] - 2 * (w[i] * p[j] + p[i] * w[j]) + 4 * c * w[i] * w[j];
        out[i * n + j] = v;
        out[j * n + i] = v;
      }
    }
    return out;
  }

  /** Dense symmetric G with eigenvalues in [0, 1) and 2 (at row top < hi), top eigenvector on rows < hi. */
  function knownSpectrumGram(n: number, hi: number, top: number, seed: number): Float64Array {
    const r = normalArray(3 * n, seed);
    const unit = (v: Float64Array) => {
      const norm = Math.hypot(...v);
      return v.map((e) => e / norm);
    };
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) m[i * n + i] = i === top ? 2 : Math.abs(r[i]) % 1;
    const wb = unit(Float64Array.from(r.subarray(n, 2 * n), (v, i) => (i === top ? 0 : v)));
    const wa = unit(Float64Array.from(r.subarray(2 * n, 3 * n), (v, i) => (i < hi ? v : 0)));
    return reflect(reflect(m, n, wb), n, wa);
  }

  /** Symmetric PSD G = A A^T (n x n) from a seeded n x k A, and its exact largest eigenvalue. */
  function gram(n: number, k: number, seed: number): { g: Float64Array; lmax: number } {
    const a = normalArray(n * k, seed);
    const g = new Float64Array(n * n);
    addABt(a, 0, a, 0, n, k, g, true);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j];
    return { g, lmax: Math.max(...symmetricEigenvalues(Float64Array.from(g), n)) };
  }

  it('denseSpectralNorm with the native Gram: exact <= value <= exact (1+tol)^2, on both orientations', async () => {
    for (const [rows, cols] of [[30, 70], [70, 30], [33, 33]] as const) {
      const layer = makeDense(rows, cols, rows * cols);
      const exact = largestSingularValue(Float64Array.from(layer.weight), rows, cols);
      const r = await denseSpectralNorm(layer.weight, rows, cols, TOL, true);
      expect(r.gram).toBe('native float64 DGEMM');
      expect(r.value).toBeGreaterThanOrEqual(exact);
      expect(r.value).toBeLessThanOrEqual(exact * SLACK);
      const js = await denseSpectralNorm(layer.weight, rows, cols, TOL, false);
      expect(js.gram).toBe('js');
      expect(Math.abs(r.value - js.value) / js.value).toBeLessThan(2 * TOL);
    }
  });

  it('gramNative equals the JS Gram to rounding, across chunk and row-block boundaries', async () => {
    const rows = 600; // two row blocks
    const k = 50;
    const a = normalArray(rows * k, 4);
    const g = await gramNative(rows, k, (c0, w, out) => {
      for (let i = 0; i < rows; i++) for (let c = 0; c < w; c++) out[i * w + c] = a[i * k + c0 + c];
    });
    const ref = new Float64Array(rows * rows);
    addABt(a, 0, a, 0, rows, k, ref, true);
    let worst = 0;
    for (let i = 0; i < rows; i++) for (let j = 0; j <= i; j++) worst = Math.max(worst, Math.abs(g[i * rows + j] - ref[i * rows + j]), Math.abs(g[j * rows + i] - ref[i * rows + j]));
    expect(worst).toBeLessThan(1e-11);
  });

  it('blocked native Cholesky agrees with the JS one: passes above lambda_max, fails below with a witness', async () => {
    // [n, block, leaf]: block = rows per step = panel width, groups shrink by 4 from block to leaf.
    // 45/7/3: many narrow panels, groups [7, 3]; 45/16/16: no inner DGEMM; 45/45/16: one panel;
    // 200/50/3: groups [50, 13, 4, 3] (deep, odd splits), scratch inside u; 200/64/8: groups
    // [64, 16, 8], a narrow last panel, scratch allocated; 130/9/2: n, block, leaf coprime.
    for (const [n, block, leaf] of [[45, 7, 3], [45, 16, 16], [45, 45, 16], [200, 50, 3], [200, 64, 8], [130, 9, 2]]) {
      const { g, lmax } = gram(n, n + 15, 8);
      const work = () => new Float64Array(n * n).fill(NaN); // nothing may be read before it is written
      const x = new Float64Array(n);
      expect(await choleskyTestRealNative(g, n, lmax * (1 + 1e-9), work(), x, block, leaf)).toBe(-1);
      const t = lmax * (1 - 1e-6);
      const i = await choleskyTestRealNative(g, n, t, work(), x, block, leaf);
      expect(i).toBe(choleskyTestReal(g, n, t, new Float64Array(n * n), new Float64Array(n)));
      expect(rayleigh(g, n, x)).toBeGreaterThanOrEqual(t * (1 - 1e-12));
    }
  });

  it('blocked native Cholesky failing deep inside: same row as the JS one, a witness from the stored factor', async () => {
    // Dense G = Ha Hb diag(lam) Hb Ha (Householder reflections, so the spectrum is lam up to
    // rounding): lam_max = 2 at row `top`, Hb leaves e_top alone and Ha mixes only rows < hi, so the
    // top eigenvector lives on rows < hi and the test fails at a row just below hi, in a late block
    // with blocks after it. n = 700 > 512 also splits the JS leaves into column chunks.
    const n = 700;
    for (const [hi, block, leaf] of [[560, 96, 5], [400, 256, 16]]) {
      const g = knownSpectrumGram(n, hi, 100, 21);
      const work = () => new Float64Array(n * n).fill(NaN);
      const x = new Float64Array(n);
      expect(await choleskyTestRealNative(g, n, 2 * (1 + 1e-9), work(), x, block, leaf)).toBe(-1);
      const t = 2 * (1 - 1e-6);
      const i = await choleskyTestRealNative(g, n, t, work(), x, block, leaf);
      expect(i).toBe(choleskyTestReal(g, n, t, new Float64Array(n * n), new Float64Array(n)));
      expect(i).toBeGreaterThanOrEqual(hi - 8);
      expect(i).toBeLessThan(hi);
      expect(Math.floor(i / block)).toBeLessThan(Math.ceil(n / block) - 1); // not the last block
      expect(rayleigh(g, n, x)).toBeGreaterThanOrEqual(t * (1 - 1e-12));
    }
  });

  it('lanczosStart converges on a clustered spectrum where power iteration crawls', async () => {
    const n = 200;
    const { g, lmax } = gram(n, 210, 3); // Marchenko-Pastur-like: clustered top eigenvalues
    const ops = realGramOps(g, n, new Float64Array(n * n));
    const x = normalArray(n, 1);
    const steps = await lanczosStart(ops.apply, n, x, 80, 1e-10);
    expect(rayleigh(g, n, x)).toBeLessThanOrEqual(lmax * (1 + 1e-12));
    expect(rayleigh(g, n, x)).toBeGreaterThan(lmax * (1 - 1e-9));
    expect(steps).toBeLessThanOrEqual(80);
    const p = powerIterate(ops, normalArray(n, 1), new Float64Array(n), steps, 0);
    expect(p.rho).toBeLessThan(lmax * (1 - 1e-6)); // same number of products, far from converged
    // the error-estimate stop at a looser tolerance: fewer steps, and still within that tolerance
    const x6 = normalArray(n, 1);
    const steps6 = await lanczosStart(ops.apply, n, x6, 80, 1e-6);
    expect(rayleigh(g, n, x6)).toBeGreaterThan(lmax * (1 - 1e-6));
    expect(steps6).toBeLessThan(steps);
  });

  it('at a tolerance whose spacing (tol/100) is below the Cholesky margin, the target keeps twice the margin: no guard raise, within 2e-9', async () => {
    // order 400: relative margin 8 u 402 400 ~ 1.4e-10, spacing 1e-11; without the margin floor every test fails and only the guard moves tau
    const n = 400;
    const { g, lmax } = gram(n, 420, 5);
    const target = newTarget(1e-9);
    await certifyGram(realGramOps(g, n, new Float64Array(n * n)), target, { x: normalArray(n, 1), y: new Float64Array(n), z: new Float64Array(n) }, 0, 30, 5000);
    expect(target.guardRaises).toBe(0);
    expect(target.tau).toBeGreaterThanOrEqual(lmax);
    expect(target.tau).toBeLessThanOrEqual(lmax * (1 + 2e-9));
  });
});
