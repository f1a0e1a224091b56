// Straightforward reference implementations of the grid bounds, written the obvious way, so the
// benchmark can measure the engine's speed-up as a ratio within one run. Same reduction to stride-1
// blocks (reduce.ts), same grid and same correction factor (certify.ts) as the engine; only the
// per-frequency arithmetic is naive:
//  * toeplitz: at every point of the full m1 x m2 grid, every entry f_ij(w) of the symbol by direct
//    summation over the taps (twiddles e^{-i(w1 h + w2 v)} tabulated once per grid point, which any
//    sensible direct implementation does), P_i(w) = sum_j |f_ij(w)|^2, max over the grid per row,
//    value = factor * sqrt(sum_i max P_i). No rounding margin: the engine adds one (~1e-13 relative),
//    hence the 1e-9 relative allowance when checking ours <= reference.
//  * spectral: at every grid point, F(w) formed by direct summation and sigma_max(F(w)) by plain power
//    iteration (F^H F) from a fresh random start, stopped when the estimate changes by less than
//    `tolerance`. Power iteration estimates from below, so this value is NOT certified.
// A dense layer is read as a 1x1 kernel on a 1x1 grid: toeplitz then gives ||W||_F (the paper's
// formula on a constant symbol), spectral plain power iteration on W.
import type { ConvLayer, DenseLayer } from '../src/model/layer.js';
import { kernelVariants } from '../src/layer/kernel-variants.js';
import { chooseGrid } from '../src/layer/grid-correction.js';
import { seededNormal } from '../src/util/random.js';

/** A [cout][cin][kh][kw] kernel; float32 data is accepted so a huge dense weight is never copied. */
export interface RefKernel {
  data: ArrayLike<number>;
  cout: number;
  cin: number;
  kh: number;
  kw: number;
}

export type ReferenceMethod = 'toeplitz' | 'spectral';
export const REFERENCE_METHODS: ReferenceMethod[] = ['toeplitz', 'spectral'];

export interface ReferenceOptions {
  samples: number;
  /** spectral only: max power steps per frequency, and the relative stopping tolerance. */
  iterations: number;
  tolerance: number;
  seed: number;
  /**
   * spectral only: evaluate at most this many evenly spread grid points and extrapolate the time to
   * the full grid (the naive spectral costs minutes per wide layer); 0 or absent = the full grid.
   */
  frequencies?: number;
}

export interface ReferenceResult {
  value: number;
  /** false for spectral (power iteration from below at each frequency). */
  certified: boolean;
  /** Measured wall time. */
  ms: number;
  /** Time for the full grid: equal to ms unless frequencies were sampled (then extrapolated per block). */
  fullGridMs: number;
  /** Grid points evaluated / in the full grids, over all blocks and variants. */
  evaluated: number;
  gridPoints: number;
  variant: string;
  grid: [number, number];
  factor: number;
}

/** e^{-i(w1 h + w2 v)} for every tap at grid point (a, b), as separate cos / -sin tables. */
function twiddles(k: RefKernel, w1: number, w2: number, re: Float64Array, im: Float64Array): void {
  for (let h = 0; h < k.kh; h++) {
    for (let v = 0; v < k.kw; v++) {
      const ang = w1 * h + w2 * v;
      re[h * k.kw + v] = Math.cos(ang);
      im[h * k.kw + v] = -Math.sin(ang);
    }
  }
}

/** sqrt(sum_i max over the grid of P_i(w)), uncorrected. */
export function referenceToeplitzGridMax(k: RefKernel, m1: number, m2: number): number {
  const taps = k.kh * k.kw;
  const twr = new Float64Array(taps);
  const twi = new Float64Array(taps);
  const rowMax = new Float64Array(k.cout);
  const d = k.data;
  for (let a = 0; a < m1; a++) {
    for (let b = 0; b < m2; b++) {
      twiddles(k, (2 * Math.PI * a) / m1, (2 * Math.PI * b) / m2, twr, twi);
      for (let i = 0; i < k.cout; i++) {
        let p = 0;
        for (let j = 0; j < k.cin; j++) {
          const base = (i * k.cin + j) * taps;
          let re = 0;
          let im = 0;
          for (let t = 0; t < taps; t++) {
            re += d[base + t] * twr[t];
            im += d[base + t] * twi[t];
          }
          p += re * re + im * im;
        }
        if (p > rowMax[i]) rowMax[i] = p;
      }
    }
  }
  let s = 0;
  for (let i = 0; i < k.cout; i++) s += rowMax[i];
  return Math.sqrt(s);
}

/** Indices of the grid points to evaluate: all of them, or `limit` evenly spread ones. */
export function gridSample(total: number, limit?: number): number[] {
  const n = limit && limit > 0 ? Math.min(limit, total) : total;
  return Array.from({ length: n }, (_, i) => Math.floor((i * total) / n));
}

/**
 * Max over the grid (or the sampled points of it) of a power-iteration estimate of sigma_max(F(w)),
 * uncorrected and uncertified.
 */
export function referenceSpectralGridMax(k: RefKernel, m1: number, m2: number, opts: ReferenceOptions, points = gridSample(m1 * m2)): number {
  const { cout, cin } = k;
  const taps = k.kh * k.kw;
  // A 1x1 kernel has a constant real symbol: plain power iteration on the matrix itself (a complex copy
  // of a 25088 x 4096 dense weight would take 1.6 GB).
  if (taps === 1) return realPowerIteration(k.data, cout, cin, opts);
  const twr = new Float64Array(taps);
  const twi = new Float64Array(taps);
  const fr = new Float64Array(cout * cin);
  const fi = new Float64Array(cout * cin);
  const vr = new Float64Array(cin);
  const vi = new Float64Array(cin);
  const ur = new Float64Array(cout);
  const ui = new Float64Array(cout);
  const d = k.data;
  let best = 0;
  for (const q of points) {
    const a = Math.floor(q / m2);
    const b = q % m2;
    twiddles(k, (2 * Math.PI * a) / m1, (2 * Math.PI * b) / m2, twr, twi);
    for (let e = 0; e < cout * cin; e++) {
      let re = 0;
      let im = 0;
      for (let t = 0; t < taps; t++) {
        re += d[e * taps + t] * twr[t];
        im += d[e * taps + t] * twi[t];
      }
      fr[e] = re;
      fi[e] = im;
    }
    // a fresh random start at every frequency (no warm start: that is one of the engine's levers)
    const gauss = seededNormal(opts.seed + q);
    let nv = 0;
    for (let j = 0; j < cin; j++) {
      vr[j] = gauss();
      vi[j] = gauss();
      nv += vr[j] * vr[j] + vi[j] * vi[j];
    }
    nv = Math.sqrt(nv);
    let prev = -1;
    for (let it = 0; it < opts.iterations; it++) {
      // u = F v
      let nu = 0;
      for (let i = 0; i < cout; i++) {
        let re = 0;
        let im = 0;
        for (let j = 0; j < cin; j++) {
          const e = i * cin + j;
          re += fr[e] * vr[j] - fi[e] * vi[j];
          im += fr[e] * vi[j] + fi[e] * vr[j];
        }
        ur[i] = re;
        ui[i] = im;
        nu += re * re + im * im;
      }
      const sigma = Math.sqrt(nu) / nv;
      if (sigma > best) best = sigma;
      if (sigma === 0 || Math.abs(sigma - prev) <= opts.tolerance * sigma) break;
      prev = sigma;
      // v = F^H u
      vr.fill(0);
      vi.fill(0);
      for (let i = 0; i < cout; i++) {
        for (let j = 0; j < cin; j++) {
          const e = i * cin + j;
          vr[j] += fr[e] * ur[i] + fi[e] * ui[i];
          vi[j] += fr[e] * ui[i] - fi[e] * ur[i];
        }
      }
      nv = 0;
      for (let j = 0; j < cin; j++) nv += vr[j] * vr[j] + vi[j] * vi[j];
      nv = Math.sqrt(nv);
      if (nv === 0) break;
    }
  }
  return best;
}

/** Plain power iteration on W^T W (row-major rows x cols) from a seeded random start: sigma_max from below. */
export function realPowerIteration(w: ArrayLike<number>, rows: number, cols: number, opts: ReferenceOptions): number {
  const gauss = seededNormal(opts.seed);
  const v = new Float64Array(cols);
  const u = new Float64Array(rows);
  let nv = 0;
  for (let j = 0; j < cols; j++) {
    v[j] = gauss();
    nv += v[j] * v[j];
  }
  nv = Math.sqrt(nv);
  let best = 0;
  let prev = -1;
  for (let it = 0; it < opts.iterations; it++) {
    let nu = 0;
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += w[i * cols + j] * v[j];
      u[i] = s;
      nu += s * s;
    }
    const sigma = Math.sqrt(nu) / nv;
    if (sigma > best) best = sigma;
    if (sigma === 0 || Math.abs(sigma - prev) <= opts.tolerance * sigma) break;
    prev = sigma;
    v.fill(0);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) v[j] += w[i * cols + j] * u[i];
    nv = 0;
    for (let j = 0; j < cols; j++) nv += v[j] * v[j];
    nv = Math.sqrt(nv);
    if (nv === 0) break;
  }
  return best;
}

interface RefVariant {
  label: string;
  blocks: RefKernel[];
}

function variantsOf(layer: ConvLayer | DenseLayer): RefVariant[] {
  if (layer.kind === 'dense') {
    const [rows, cols] = layer.weightShape;
    return [{ label: 'dense as 1x1', blocks: [{ data: layer.weight, cout: rows, cin: cols, kh: 1, kw: 1 }] }];
  }
  return kernelVariants(layer).variants;
}

/**
 * The reference value of one method on one layer: per variant the max over its blocks, then the
 * min over variants (every variant is a valid reduction), exactly as the engine combines them.
 */
export function referenceBound(layer: ConvLayer | DenseLayer, method: ReferenceMethod, opts: ReferenceOptions): ReferenceResult {
  const t0 = performance.now();
  let fullGridMs = 0;
  let evaluated = 0;
  let gridPoints = 0;
  let best: { value: number; variant: string; grid: [number, number]; factor: number } | null = null;
  for (const v of variantsOf(layer)) {
    let value = 0;
    let grid: [number, number] = [1, 1];
    let factor = 1;
    for (const k of v.blocks) {
      const tb = performance.now();
      const g = chooseGrid(k.kh, k.kw, opts.samples);
      const total = g.m1 * g.m2;
      const points = gridSample(total, method === 'spectral' ? opts.frequencies : undefined);
      const raw = method === 'toeplitz' ? referenceToeplitzGridMax(k, g.m1, g.m2) : referenceSpectralGridMax(k, g.m1, g.m2, opts, points);
      fullGridMs += ((performance.now() - tb) * total) / points.length;
      evaluated += points.length;
      gridPoints += total;
      const corrected = raw * g.factor;
      if (corrected >= value) {
        value = corrected;
        grid = [g.m1, g.m2];
        factor = g.factor;
      }
    }
    if (best === null || value < best.value) best = { value, variant: v.label, grid, factor };
  }
  if (best === null) throw new Error('no kernel variant');
  return { ...best, certified: method === 'toeplitz', ms: performance.now() - t0, fullGridMs, evaluated, gridPoints };
}
