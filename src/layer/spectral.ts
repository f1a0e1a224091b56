// [spectral] The tight Toeplitz bound: a certified upper bound on max over blocks of
//     sup_w sigma_max(F(w)),   F(w)_ij = sum_{h,w} K[i,j,h,w] e^{-i(h w1 + w w2)}   (cout x cin).
//
// Grid argument (sup route). Sample w on an m1 x m2 grid. At a maximiser w* with optimal unit u, v,
// g(w) = |u^H F(w) v|^2 is a non-negative trigonometric polynomial of degree (kh-1, kw-1), <= sigma*^2
// everywhere and = sigma*^2 at w*; so at the grid point p nearest w*,
//     sigma_max(F(p))^2 >= g(p) >= (1 - c) sigma*^2      (c from gridCorrection, proof in certify.ts).
// Hence sup sigma <= sqrt(max over grid of an UPPER bound on sigma_max(F(p))^2) / sqrt(1 - c).
//
// Torus route. A zero-padded stride-1 conv on an n1 x n2 input is a compression of the circular conv
// on the N1 x N2 torus whenever N >= n + k - 1 (no wrap-around), whose norm is exactly the max of
// sigma_max(F) over the N1 x N2 DFT grid: no correction factor. The caller picks N (torus.ts derives
// it for strided / dilated / transposed layers from the layer's input shape).
//
// Per frequency, sigma_max(F(p))^2 = lambda_max(G(p)) with G = A A^H, A = F or F^T (whichever has
// fewer rows: Gram on the smaller side). hermitian.ts certifies lambda_max(G(p)) <= tau against ONE
// target shared by all frequencies of all blocks of a kernel shape: tau only rises, and is always
// (1+tol)^2 times a Rayleigh quotient, so the result is within ~tol of the true grid maximum.
// Frequencies whose trace (= ||F||_F^2 >= sigma_max^2) is already below tau need no Cholesky.
//
// Forming G(p). G(w) = sum_d e^{-i d.w} C_d with C_d = sum_{t - t' = d} T_t T_t'^T (T_t the oriented
// real tap matrices, d over (2kh-1)(2kw-1) lags). Precomputing the C_d costs (kh kw)^2 n^2 k / 2 once;
// then each frequency costs (2kh-1)(2kw-1) n^2 instead of 2 n^2 k for a direct Gram. The cheaper of
// the two (by flop count) is used. Hermitian symmetry F(-w) = conj(F(w)) halves the grid.
//
// Rounding. Every entry of G_hat (either way of forming it, including twiddle-factor errors) is off by
// at most gamma_N (S S^T)_ij with S_ic = sum_t |T_t,ic| and N < k taps + lags + 16, so
// ||G_hat - G||_2 <= ||S||_F^2 gamma_N <= taps ||K||_F^2 gamma_N; we use 4u N taps ||K||_F^2 (formError).
// The same bound covers the trace used to skip frequencies. hermitian.ts adds the Cholesky margin.
import type { Kernel2D } from './kernel.js';
import { chooseGrid } from './grid-correction.js';
import {
  UNIT_ROUNDOFF,
  addABt,
  certifyGram,
  hermitianGramOps,
  mirrorLower,
  newTarget,
  type EigenTarget,
} from '../linalg/gram-certificate.js';
import { certifyRealGram, effectiveTolerance, roundUp, smallSideGramAuto } from './dense-norm.js';
import { NATIVE_MIN_MACS, gramNative } from '../native/blas.js';
import { normalArray } from '../util/random.js';

export interface SpectralOptions {
  /** Grid points per axis of positive degree (sup route). */
  samples: number;
  /** Relative tolerance of the per-frequency certificate (result within ~tol of the grid maximum). */
  tolerance: number;
  /** Force how G(w) is formed (tests, benchmarks); default: the cheaper by flop count. */
  gram?: 'lags' | 'direct';
  /** Force (true) or forbid (false) native float64 DGEMM for the lag / 1x1 Gram products; default by size. */
  native?: boolean;
}

export interface SpectralResult {
  /** Certified upper bound on max over blocks of sup_w sigma_max(F(w)) (sup) or the torus norm (torus). */
  value: number;
  /** Certified upper bound on the max over the grid (before the correction factor). */
  gridMax: number;
  /** 1/sqrt(1-c) applied to gridMax (1 for the torus route and 1x1 kernels). */
  factor: number;
  /** [m1, m2] of the grid that gave the value. */
  grid: number[];
  /** 'sup' or 'torus N1xN2'. */
  route: string;
  /** Grid points evaluated (half grid by Hermitian symmetry), summed over blocks. */
  frequencies: number;
  /** Cholesky certificates that succeeded. */
  certificates: number;
  ms: number;
  /** Lower estimate: sqrt of the largest Rayleigh quotient seen (<= the true grid maximum). */
  lower: number;
  /** Frequencies certified by the cheap trace test alone. */
  skipped: number;
  /** Failed Cholesky tests (each followed by refinement). */
  choleskyFailures: number;
  /** Power-iteration steps in total. */
  iterations: number;
  /** How G(w) was formed: 'lags' (precomputed C_d), 'direct', 'scalar' (one row), 'dense' (1x1 kernel). */
  gram: string;
}

const WARM_ITERATIONS = 4;
const MAX_ITERATIONS = 3000;
/** Cap on the precomputed lag matrices, in float64 entries (256 MB). */
const MAX_LAG_ENTRIES = 32 * 1024 * 1024;

/** sup route: m x m grid (m = samples, raised if too coarse for the kernel), corrected by 1/sqrt(1-c). */
export function spectralBound(blocks: Kernel2D[], opts: SpectralOptions): Promise<SpectralResult> {
  return run(blocks, opts, (kh, kw) => {
    const g = chooseGrid(kh, kw, opts.samples);
    return { m1: g.m1, m2: g.m2, factor: g.factor };
  }, 'sup');
}

/**
 * torus route: the exact norm of the circular conv on the torus[0] x torus[1] torus (torus[1] = 1 for
 * 1-D), a valid bound for the zero-padded conv on inputs with torus >= input + kernel - 1 per axis.
 */
export function spectralTorusBound(blocks: Kernel2D[], torus: number[], opts: SpectralOptions): Promise<SpectralResult> {
  const n1 = torus[0];
  const n2 = torus.length > 1 ? torus[1] : 1;
  if (!(Number.isInteger(n1) && n1 >= 1 && Number.isInteger(n2) && n2 >= 1)) throw new RangeError(`bad torus size ${torus.join('x')}`);
  return run(blocks, opts, (kh, kw) => ({ m1: kh > 1 ? n1 : 1, m2: kw > 1 ? n2 : 1, factor: 1 }), `torus ${n1}x${n2}`);
}

interface GridChoice {
  m1: number;
  m2: number;
  factor: number;
}

interface Stats {
  frequencies: number;
  skipped: number;
  gram: Set<string>;
}

async function run(blocks: Kernel2D[], opts: SpectralOptions, gridFor: (kh: number, kw: number) => GridChoice, route: string): Promise<SpectralResult> {
  const t0 = performance.now();
  const tol = effectiveTolerance(opts.tolerance);
  // One power-of-two scale for all blocks (exact), so squares neither overflow nor underflow and
  // blocks of the same shape can share one target.
  let maxAbs = 0;
  for (const b of blocks) {
    for (let i = 0; i < b.data.length; i++) {
      const a = Math.abs(b.data[i]);
      if (!(a <= maxAbs)) maxAbs = a;
    }
  }
  if (!Number.isFinite(maxAbs)) throw new RangeError('kernel has non-finite entries');
  const scale = maxAbs > 0 ? 2 ** Math.round(Math.log2(maxAbs)) : 1;
  const stats: Stats = { frequencies: 0, skipped: 0, gram: new Set() };
  const groups = new Map<string, { kh: number; kw: number; target: EigenTarget; blocks: Kernel2D[] }>();
  for (const b of blocks.map(trimKernel)) {
    const key = `${b.kh}x${b.kw}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { kh: b.kh, kw: b.kw, target: newTarget(tol), blocks: [] }));
    g.blocks.push(b);
  }
  let best: { value: number; gridMax: number; factor: number; grid: number[] } = { value: 0, gridMax: 0, factor: 1, grid: [1, 1] };
  let lower = 0;
  let iterations = 0;
  let certificates = 0;
  let failures = 0;
  for (const g of groups.values()) {
    const grid = gridFor(g.kh, g.kw);
    for (const b of g.blocks) await certifyBlock(b, scale, grid.m1, grid.m2, g.target, stats, opts.gram, opts.native);
    const gridMax = roundUp(Math.sqrt(g.target.tau)) * scale;
    const value = grid.factor === 1 ? gridMax : roundUp(gridMax * grid.factor);
    if (value > best.value || best.value === 0) best = { value, gridMax, factor: grid.factor, grid: [grid.m1, grid.m2] };
    lower = Math.max(lower, Math.sqrt(g.target.lower) * scale);
    iterations += g.target.iterations;
    certificates += g.target.choleskyRuns - g.target.choleskyFailures;
    failures += g.target.choleskyFailures;
  }
  return {
    ...best,
    route,
    frequencies: stats.frequencies,
    certificates,
    ms: performance.now() - t0,
    lower,
    skipped: stats.skipped,
    choleskyFailures: failures,
    iterations,
    gram: [...stats.gram].join('+') || 'none',
  };
}

/**
 * Crop the all-zero border taps of a kernel. A spatial shift multiplies F(w) by a unimodular scalar, so
 * sigma_max(F(w)) is unchanged, while the degree of the polynomial (hence the grid correction) shrinks:
 * an identity or single-tap kernel becomes 1x1 and is evaluated exactly (c = 0).
 */
export function trimKernel(k: Kernel2D): Kernel2D {
  const { cout, cin, kh, kw, data } = k;
  let h0 = kh;
  let h1 = -1;
  let w0 = kw;
  let w1 = -1;
  for (let ij = 0; ij < cout * cin; ij++) {
    for (let h = 0; h < kh; h++) {
      for (let w = 0; w < kw; w++) {
        if (data[(ij * kh + h) * kw + w] !== 0) {
          if (h < h0) h0 = h;
          if (h > h1) h1 = h;
          if (w < w0) w0 = w;
          if (w > w1) w1 = w;
        }
      }
    }
  }
  if (h1 < 0) return { cout, cin, kh: 1, kw: 1, data: new Float64Array(cout * cin) };
  if (h0 === 0 && w0 === 0 && h1 === kh - 1 && w1 === kw - 1) return k;
  const th = h1 - h0 + 1;
  const tw = w1 - w0 + 1;
  const out = new Float64Array(cout * cin * th * tw);
  for (let ij = 0; ij < cout * cin; ij++) {
    for (let h = 0; h < th; h++) {
      for (let w = 0; w < tw; w++) out[(ij * th + h) * tw + w] = data[(ij * kh + h + h0) * kw + w + w0];
    }
  }
  return { cout, cin, kh: th, kw: tw, data: out };
}

/** Number of points halfGrid(m1, m2) lists: ceil((m1 m2 + self-mirrored points) / 2). */
export function halfGridSize(m1: number, m2: number): number {
  const self = (m: number) => (m % 2 === 0 ? 2 : 1);
  return Math.ceil((m1 * m2 + self(m1) * self(m2)) / 2);
}

/** Grid points (a, b) covering the m1 x m2 grid up to w -> -w, in snake order (neighbours adjacent). */
export function halfGrid(m1: number, m2: number): Int32Array {
  const pts: number[] = [];
  const top = Math.floor(m1 / 2);
  for (let a = 0; a <= top; a++) {
    const selfMirror = (2 * a) % m1 === 0;
    const row: number[] = [];
    for (let b = 0; b < m2; b++) {
      if (selfMirror && b > (m2 - b) % m2) continue;
      row.push(b);
    }
    if (a % 2 === 1) row.reverse();
    for (const b of row) pts.push(a, b);
  }
  return Int32Array.from(pts);
}

/** Angle 2 pi (d1 a / m1 + d2 b / m2), with the integer products reduced mod m first (precision). */
function angle(d1: number, d2: number, a: number, b: number, m1: number, m2: number): number {
  const r1 = (((d1 * a) % m1) + m1) % m1;
  const r2 = (((d2 * b) % m2) + m2) % m2;
  return 2 * Math.PI * (r1 / m1 + r2 / m2);
}

/**
 * Raise `target` until lambda_max(G(p)) <= target.tau for every grid point p of one block
 * (in units of scale^2).
 */
async function certifyBlock(
  blk: Kernel2D,
  scale: number,
  m1: number,
  m2: number,
  target: EigenTarget,
  stats: Stats,
  gram?: 'lags' | 'direct',
  native?: boolean,
): Promise<void> {
  const { cout, cin, kh, kw } = blk;
  const taps = kh * kw;
  const n = Math.min(cout, cin);
  const k = Math.max(cout, cin);
  if (n === 0) return;
  // Oriented taps T[t] (n x k): T[t][r][c] = K[r][c][t] if cout <= cin, else K[c][r][t].
  const T = new Float64Array(taps * n * k);
  let frob2 = 0;
  for (let i = 0; i < cout; i++) {
    for (let j = 0; j < cin; j++) {
      const src = (i * cin + j) * taps;
      const dst = cout <= cin ? i * k + j : j * k + i;
      for (let t = 0; t < taps; t++) {
        const v = blk.data[src + t] / scale;
        T[t * n * k + dst] = v;
        frob2 += v * v;
      }
    }
  }
  if (frob2 === 0) return;
  const lw = 2 * kw - 1;
  const lags = (2 * kh - 1) * lw;
  const formError = 4 * UNIT_ROUNDOFF * (k * taps + lags + 16) * taps * frob2;

  if (taps === 1) {
    // 1x1 kernel: a constant real symbol, one frequency, the dense matrix norm.
    stats.frequencies++;
    const dense = await smallSideGramAuto(T, n, k, 1, native);
    const g = dense.g;
    stats.gram.add(dense.native ? 'dense native' : 'dense');
    await certifyRealGram(g, n, target, formError, MAX_ITERATIONS);
    return;
  }

  // Traces of the lag matrices: tr G(w) = sum_d cos(d.w) tr C_d (tr C_-d = tr C_d).
  const lagOf = (p: number, q: number) => (Math.floor(p / kw) - Math.floor(q / kw) + kh - 1) * lw + ((p % kw) - (q % kw) + kw - 1);
  const trC = new Float64Array(lags);
  const nk = n * k;
  for (let p = 0; p < taps; p++) {
    for (let q = 0; q < taps; q++) {
      let s = 0;
      for (let c = 0; c < nk; c++) s += T[p * nk + c] * T[q * nk + c];
      trC[lagOf(p, q)] += s;
    }
  }
  const pts = halfGrid(m1, m2);
  const count = pts.length / 2;
  stats.frequencies += count;
  // Lags with d > 0 (dh > 0, or dh == 0 and dw > 0): index >= centre; their cos/sin per frequency.
  const centre = (kh - 1) * lw + (kw - 1);
  const trace = (a: number, b: number) => {
    let s = trC[centre];
    for (let l = centre + 1; l < lags; l++) {
      s += 2 * trC[l] * Math.cos(angle(Math.floor(l / lw) - (kh - 1), (l % lw) - (kw - 1), a, b, m1, m2));
    }
    return s;
  };

  if (n === 1) {
    // One row: sigma_max^2 = ||row||^2 = trace, no matrix at all (depthwise / single-channel blocks).
    stats.gram.add('scalar');
    for (let f = 0; f < count; f++) {
      const tr = trace(pts[2 * f], pts[2 * f + 1]);
      if (tr > target.lower) target.lower = tr;
      const up = tr + formError;
      if (up > target.tau) target.tau = up;
    }
    return;
  }

  const useLags = gram ? gram === 'lags' : chooseLags(n, k, taps, lags, count);
  stats.gram.add(useLags ? 'lags' : 'direct');
  const nn = n * n;
  const g = new Float64Array(2 * nn);
  const work = new Float64Array(2 * nn);
  const bufs = { x: normalArray(2 * n, 1), y: new Float64Array(2 * n), z: new Float64Array(2 * n) };
  // Lags path: sym[l] = C_d + C_d^T and anti[l] = C_d - C_d^T for d > 0 (l - centre - 1), plus C_0.
  let c0: Float64Array | null = null;
  let sym: Float64Array | null = null;
  let anti: Float64Array | null = null;
  // Direct path: real and imaginary parts of A, and a scratch product.
  let ar: Float64Array | null = null;
  let ai: Float64Array | null = null;
  let prod: Float64Array | null = null;
  const half = lags - centre - 1;
  if (useLags) {
    c0 = new Float64Array(nn);
    const cd = new Float64Array(half * nn);
    const tn = taps * n;
    if ((native ?? (taps * taps * nn * k) / 2 >= NATIVE_MIN_MACS) && tn * tn <= MAX_LAG_ENTRIES) {
      // All tap pairs at once: P = S S^T with S = [T_0; ...; T_{taps-1}] (taps n x k), block (p, q)
      // = T_p T_q^T, by native float64 DGEMM (same products, another summation order).
      stats.gram.add('native');
      const P = await gramNative(tn, k, (c0_, w, out) => {
        for (let r = 0; r < tn; r++) for (let c = 0; c < w; c++) out[r * w + c] = T[r * k + c0_ + c];
      });
      for (let p = 0; p < taps; p++) {
        for (let q = 0; q < taps; q++) {
          const l = lagOf(p, q);
          if (l < centre || (l === centre && p !== q)) continue;
          const dst = l === centre ? c0 : cd.subarray((l - centre - 1) * nn, (l - centre) * nn);
          for (let i = 0; i < n; i++) {
            const src = (p * n + i) * tn + q * n;
            for (let j = 0; j < n; j++) dst[i * n + j] += P[src + j];
          }
        }
      }
    } else {
      for (let p = 0; p < taps; p++) {
        for (let q = 0; q < taps; q++) {
          const l = lagOf(p, q);
          if (l === centre) {
            if (p === q) addABt(T, p * nk, T, p * nk, n, k, c0, true);
          } else if (l > centre) {
            addABt(T, p * nk, T, q * nk, n, k, cd.subarray((l - centre - 1) * nn, (l - centre) * nn), false);
          }
        }
      }
      mirrorLower(c0, n);
    }
    sym = new Float64Array(half * nn);
    anti = new Float64Array(half * nn);
    for (let h = 0; h < half; h++) {
      const o = h * nn;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const x = cd[o + i * n + j];
          const xt = cd[o + j * n + i];
          sym[o + i * n + j] = x + xt;
          anti[o + i * n + j] = x - xt;
        }
      }
    }
  } else {
    ar = new Float64Array(nk);
    ai = new Float64Array(nk);
    prod = new Float64Array(nn);
  }
  const cosL = new Float64Array(half);
  const sinL = new Float64Array(half);
  const cosT = new Float64Array(taps);
  const sinT = new Float64Array(taps);

  for (let f = 0; f < count; f++) {
    const a = pts[2 * f];
    const b = pts[2 * f + 1];
    if (trace(a, b) + formError <= target.tau) {
      stats.skipped++;
      continue;
    }
    if (useLags) {
      // G = C_0 + sum_{d>0} [cos(d.w) (C_d + C_d^T) - i sin(d.w) (C_d - C_d^T)]
      for (let h = 0; h < half; h++) {
        const l = centre + 1 + h;
        const th = angle(Math.floor(l / lw) - (kh - 1), (l % lw) - (kw - 1), a, b, m1, m2);
        cosL[h] = Math.cos(th);
        sinL[h] = Math.sin(th);
      }
      for (let i = 0; i < nn; i++) {
        g[2 * i] = c0![i];
        g[2 * i + 1] = 0;
      }
      for (let h = 0; h < half; h++) {
        const c = cosL[h];
        const s = sinL[h];
        const o = h * nn;
        for (let i = 0; i < nn; i++) {
          g[2 * i] += c * sym![o + i];
          g[2 * i + 1] -= s * anti![o + i];
        }
      }
    } else {
      // A = sum_t e^{-i t.w} T_t; G = A A^H = (Ar Ar^T + Ai Ai^T) + i (Ai Ar^T - Ar Ai^T).
      for (let t = 0; t < taps; t++) {
        const th = angle(Math.floor(t / kw), t % kw, a, b, m1, m2);
        cosT[t] = Math.cos(th);
        sinT[t] = -Math.sin(th);
      }
      ar!.fill(0);
      ai!.fill(0);
      for (let t = 0; t < taps; t++) {
        const c = cosT[t];
        const s = sinT[t];
        const o = t * nk;
        for (let i = 0; i < nk; i++) {
          ar![i] += c * T[o + i];
          ai![i] += s * T[o + i];
        }
      }
      prod!.fill(0);
      addABt(ar!, 0, ar!, 0, n, k, prod!, true);
      addABt(ai!, 0, ai!, 0, n, k, prod!, true);
      mirrorLower(prod!, n);
      for (let i = 0; i < nn; i++) g[2 * i] = prod![i];
      prod!.fill(0);
      addABt(ai!, 0, ar!, 0, n, k, prod!, false);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) g[2 * (i * n + j) + 1] = prod![i * n + j] - prod![j * n + i];
      }
    }
    await certifyGram(hermitianGramOps(g, n, work), target, bufs, formError, WARM_ITERATIONS, MAX_ITERATIONS);
  }
}

/** Precompute the lag matrices when that costs fewer flops than direct Grams, and fits in memory. */
function chooseLags(n: number, k: number, taps: number, lags: number, count: number): boolean {
  if (lags * n * n > MAX_LAG_ENTRIES) return false;
  const lagsCost = (taps * taps * n * n * k) / 2 + count * lags * n * n;
  const directCost = count * (2 * n * n * k + 2 * taps * n * k);
  return lagsCost < directCost;
}
