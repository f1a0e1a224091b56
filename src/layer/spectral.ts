// [spectral] The tight Toeplitz bound: a certified upper bound on max over blocks of sup_w sigma_max(F(w)),
// on a grid with the grid correction (sup route) or exactly on a torus (torus route), one certified
// Hermitian Gram eigenvalue per frequency.
// Derivation: docs/derivations.md#spectral-bound-per-frequency-certificate-sup-and-torus-routes
import type { Kernel2D } from './kernel.js';
import { chooseGrid } from './grid-correction.js';
import { addABt, hermitianGramOps, mirrorLower } from '../linalg/gram.js';
import { certifyGram, newTarget, type EigenTarget } from '../linalg/eigen-certificate.js';
import { UNIT_ROUNDOFF, roundUp, weightScale } from '../linalg/rounding.js';
import { certifyRealGram, effectiveTolerance, smallSideGramAuto } from './dense-norm.js';
import { NATIVE_MIN_MACS, multiplyABt } from '../native/blas.js';
import { normalArray } from '../util/random.js';
import { KEEP_LAYER_BUFFER, withScratch } from '../util/scratch.js';
import { kernelsFor, withKernelArrays } from '../wasm/kernels.js';

export interface SpectralOptions {
  /** Grid points per axis of positive degree (sup route). */
  samples: number;
  /** Relative tolerance of the per-frequency certificate (result within ~tol of the grid maximum). */
  tolerance: number;
  /** Force how G(w) is formed (tests, benchmarks); default: the cheaper by flop count. */
  gram?: 'lags' | 'direct';
  /** Force (true) or forbid (false) native float64 DGEMM for the lag / 1x1 Gram products; default by size. */
  native?: boolean;
  /** Skip the Cholesky test where ||G(w)||_F already certifies the frequency (default true; false for tests). */
  prune?: boolean;
  /** Stop once the value is sure to exceed this (another route already has it): value Infinity then. */
  abortAbove?: number;
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
  /** Frequencies certified by ||G||_F (formed, no Cholesky test). */
  pruned: number;
  /** Failed Cholesky tests (each followed by refinement). */
  choleskyFailures: number;
  /** Power-iteration steps in total. */
  iterations: number;
  /** How G(w) was formed: 'lags' (precomputed C_d), 'direct', 'scalar' (one row), 'dense' (1x1 kernel). */
  gram: string;
  /**
   * Per block (in the caller's order), the frequency w = (w1, w2) (radians, F(w) = sum_t e^{-i t.w} K_t)
   * of the largest Rayleigh quotient seen on it, or null: where power iteration starts (power-start.ts).
   * With a target shared by blocks of one shape, a block is recorded only where it raised the target.
   */
  blockMaxima: ([number, number] | null)[];
  /**
   * Per block, where blockMaxima is set: the certificate's last iterate there, an estimate of the top
   * eigenvector of G(w) = A A^H (A = sum_t e^{-i t.w} T_t on the block's smaller side: K's symbol if
   * cout <= cin, else its transpose; complex interleaved, 2 min(cout, cin) entries). Never trusted: a
   * warm start for power's plane wave, which would otherwise solve the same eigenproblem again.
   */
  blockVectors: (Float64Array | null)[];
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
  /** cos(d.w) per grid point and lag d > 0, shared by the blocks of one shape (see lagCosines). */
  cosines: Map<string, Float64Array | null>;
  gram: Set<string>;
}

/** What an aborted run reports (its value cannot beat the other route's). */
const aborted = { value: Infinity, gridMax: Infinity, factor: 1, grid: [1, 1], frequencies: 0, certificates: 0, lower: 0, skipped: 0, pruned: 0, choleskyFailures: 0, iterations: 0, gram: 'aborted' };

async function run(blocks: Kernel2D[], opts: SpectralOptions, gridFor: (kh: number, kw: number) => GridChoice, route: string): Promise<SpectralResult> {
  const t0 = performance.now();
  const tol = effectiveTolerance(opts.tolerance);
  const scale = commonScale(blocks);
  const stats: Stats = { frequencies: 0, skipped: 0, cosines: new Map(), gram: new Set() };
  const groups = groupByShape(blocks.map(trimKernel), tol);
  let best: { value: number; gridMax: number; factor: number; grid: number[] } = { value: 0, gridMax: 0, factor: 1, grid: [1, 1] };
  let lower = 0;
  let iterations = 0;
  let certificates = 0;
  let failures = 0;
  let pruned = 0;
  const blockLower = new Float64Array(blocks.length);
  const blockMaxima: ([number, number] | null)[] = blocks.map(() => null);
  const blockVectors: (Float64Array | null)[] = blocks.map(() => null);
  for (const g of groups) {
    const grid = gridFor(g.kh, g.kw);
    for (const [i, b] of g.blocks.entries()) {
      const k = g.indices[i];
      const seen: Seen = (lower, a, bb, vector) => {
        if (lower > blockLower[k] || blockMaxima[k] === null) {
          [blockLower[k], blockMaxima[k]] = [lower, [(2 * Math.PI * a) / grid.m1, (2 * Math.PI * bb) / grid.m2]];
          blockVectors[k] = vector ? Float64Array.from(vector) : null;
        }
      };
      const limit = opts.abortAbove === undefined ? Infinity : (opts.abortAbove / scale / grid.factor) ** 2;
      await certifyBlock(b, scale, grid.m1, grid.m2, g.target, stats, opts, seen, limit);
      // tau only rises, and the value is at least sqrt(tau) scale factor: past the limit it cannot win
      if (g.target.tau > limit) return { ...aborted, route, ms: performance.now() - t0, blockMaxima, blockVectors };
    }
    const gridMax = roundUp(Math.sqrt(g.target.tau)) * scale;
    const value = grid.factor === 1 ? gridMax : roundUp(gridMax * grid.factor);
    if (value > best.value || best.value === 0) best = { value, gridMax, factor: grid.factor, grid: [grid.m1, grid.m2] };
    lower = Math.max(lower, Math.sqrt(g.target.lower) * scale);
    iterations += g.target.iterations;
    certificates += g.target.choleskyRuns - g.target.choleskyFailures;
    failures += g.target.choleskyFailures;
    pruned += g.target.pruned;
  }
  return {
    ...best,
    route,
    frequencies: stats.frequencies,
    certificates,
    ms: performance.now() - t0,
    lower,
    skipped: stats.skipped,
    pruned,
    choleskyFailures: failures,
    iterations,
    gram: [...stats.gram].join('+') || 'none',
    blockMaxima,
    blockVectors,
  };
}

/**
 * One power-of-two scale for all blocks (exact), so squares neither overflow nor underflow and
 * blocks of the same shape can share one target.
 */
function commonScale(blocks: Kernel2D[]): number {
  // reduce, not spread: a depthwise layer has thousands of blocks
  const maxAbs = blocks.reduce((m, b) => Math.max(m, weightScale(b.data, 'kernel').maxAbs), 0);
  return weightScale([maxAbs]).scale;
}

/** Blocks of one kernel shape: they share the grid, its correction and one certificate target. */
interface ShapeGroup {
  kh: number;
  kw: number;
  target: EigenTarget;
  blocks: Kernel2D[];
  /** Index of each block in the caller's list. */
  indices: number[];
}

/** Groups blocks by kernel shape, in order of first appearance. */
function groupByShape(blocks: Kernel2D[], tol: number): ShapeGroup[] {
  const groups = new Map<string, ShapeGroup>();
  for (const [i, b] of blocks.entries()) {
    const key = `${b.kh}x${b.kw}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { kh: b.kh, kw: b.kw, target: newTarget(tol), blocks: [], indices: [] }));
    g.blocks.push(b);
    g.indices.push(i);
  }
  return [...groups.values()];
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
 * A block's taps oriented so that rows are its smaller side and divided by the common scale:
 * T[t] (n x k, at t * n * k) is K[:, :, t] if cout <= cin, else its transpose.
 */
interface OrientedTaps {
  T: Float64Array;
  n: number;
  k: number;
  kh: number;
  kw: number;
  taps: number;
  /** ||T||_F^2 (in units of scale^2). */
  frob2: number;
}

/** Oriented taps of blk, in T (taps n k entries, every one written). */
function orientTaps(blk: Kernel2D, scale: number, T: Float64Array): OrientedTaps {
  const { cout, cin, kh, kw } = blk;
  const taps = kh * kw;
  const n = Math.min(cout, cin);
  const k = Math.max(cout, cin);
  const nk = n * k;
  // scale is a power of two: x * (1 / scale) is x / scale exactly, and multiplies are cheaper (unless
  // 1 / scale overflows: all-subnormal weights)
  const inv = 1 / scale;
  const exact = Number.isFinite(inv);
  const data = blk.data;
  let frob2 = 0;
  for (let e = 0; e < cout * cin * taps; e++) {
    const v = exact ? data[e] * inv : data[e] / scale;
    frob2 += v * v;
  }
  // T_t[i][j] = K[i][j][t] (or its transpose), in tiles of the (cout, cin) plane: reads and writes both
  // stay in cache; an entry's taps are read in a row (1.6-2.5x faster than a pass per tap)
  const [si, sj] = cout <= cin ? [k, 1] : [1, k];
  const TILE = 32;
  for (let i0 = 0; i0 < cout; i0 += TILE) {
    const i1 = Math.min(cout, i0 + TILE);
    for (let j0 = 0; j0 < cin; j0 += TILE) {
      const j1 = Math.min(cin, j0 + TILE);
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          let src = (i * cin + j) * taps;
          let dst = i * si + j * sj;
          for (let t = 0; t < taps; t++, src++, dst += nk) T[dst] = exact ? data[src] * inv : data[src] / scale;
        }
      }
    }
  }
  return { T, n, k, kh, kw, taps, frob2 };
}

/**
 * Lags d = t - t' of a kh x kw kernel, indexed l = (dh + kh - 1) (2kw - 1) + dw + kw - 1. Lags with
 * d > 0 (dh > 0, or dh == 0 and dw > 0) are l > centre; C_-d = C_d^T covers the others.
 */
interface LagLayout {
  kh: number;
  kw: number;
  /** 2kw - 1 */
  lw: number;
  /** (2kh - 1)(2kw - 1) */
  count: number;
  /** Index of d = 0. */
  centre: number;
  /** Number of lags with d > 0. */
  half: number;
}

function lagLayout(kh: number, kw: number): LagLayout {
  const lw = 2 * kw - 1;
  const count = (2 * kh - 1) * lw;
  const centre = (kh - 1) * lw + (kw - 1);
  return { kh, kw, lw, count, centre, half: count - centre - 1 };
}

/** Lag index of the tap pair (p, q), d = p - q. */
function lagOf(L: LagLayout, p: number, q: number): number {
  return (Math.floor(p / L.kw) - Math.floor(q / L.kw) + L.kh - 1) * L.lw + ((p % L.kw) - (q % L.kw) + L.kw - 1);
}

/** d.w for lag l at grid point (a, b). */
function lagAngle(L: LagLayout, l: number, a: number, b: number, m1: number, m2: number): number {
  return angle(Math.floor(l / L.lw) - (L.kh - 1), (l % L.lw) - (L.kw - 1), a, b, m1, m2);
}

/** Traces of the lag matrices: tr C_d = sum_{t - t' = d} <T_t, T_t'>. */
function lagTraces(ot: OrientedTaps, L: LagLayout): Float64Array {
  const { T, taps } = ot;
  const nk = ot.n * ot.k;
  const trC = new Float64Array(L.count);
  for (let p = 0; p < taps; p++) {
    for (let q = 0; q < taps; q++) {
      let s = 0;
      for (let c = 0; c < nk; c++) s += T[p * nk + c] * T[q * nk + c];
      trC[lagOf(L, p, q)] += s;
    }
  }
  return trC;
}

/** tr G(w) = ||F(w)||_F^2 = tr C_0 + 2 sum_{d>0} cos(d.w) tr C_d (tr C_-d = tr C_d). */
function traceAt(trC: Float64Array, L: LagLayout, a: number, b: number, m1: number, m2: number): number {
  let s = trC[L.centre];
  for (let l = L.centre + 1; l < L.count; l++) s += 2 * trC[l] * Math.cos(lagAngle(L, l, a, b, m1, m2));
  return s;
}

/** Cap on a cosine table, in float64 entries (32 MB). */
const MAX_COSINE_ENTRIES = 4 * 1024 * 1024;

/**
 * cos(d.w) at every listed grid point f for every lag d > 0 (at f * half + d - centre - 1): computed
 * once per kernel shape and grid and shared by its blocks (a depthwise layer has hundreds of one-row
 * blocks, each needing only traces); null above MAX_COSINE_ENTRIES.
 */
function lagCosines(stats: Stats, L: LagLayout, pts: Int32Array, m1: number, m2: number): Float64Array | null {
  const key = `${L.kh}x${L.kw}@${m1}x${m2}`;
  let table = stats.cosines.get(key);
  if (table !== undefined) return table;
  const count = pts.length / 2;
  table = count * L.half > MAX_COSINE_ENTRIES ? null : new Float64Array(count * L.half);
  if (table) {
    for (let f = 0; f < count; f++) {
      for (let h = 0; h < L.half; h++) table[f * L.half + h] = Math.cos(lagAngle(L, L.centre + 1 + h, pts[2 * f], pts[2 * f + 1], m1, m2));
    }
  }
  stats.cosines.set(key, table);
  return table;
}

/** traceAt at grid point f from a lagCosines table (the same terms in the same order), or directly without one. */
function traceOf(trC: Float64Array, L: LagLayout, cos: Float64Array | null, pts: Int32Array, f: number, m1: number, m2: number): number {
  if (!cos) return traceAt(trC, L, pts[2 * f], pts[2 * f + 1], m1, m2);
  let s = trC[L.centre];
  const o = f * L.half - L.centre - 1;
  for (let l = L.centre + 1; l < L.count; l++) s += 2 * trC[l] * cos[o + l];
  return s;
}

/**
 * Raise `target` until lambda_max(G(p)) <= target.tau for every grid point p of one block
 * (in units of scale^2).
 */
async function certifyBlock(blk: Kernel2D, scale: number, ...args: BlockArgs): Promise<void> {
  if (Math.min(blk.cout, blk.cin) === 0) return;
  // scratch, not a fresh array per block: first touching fresh memory costs ~3 ms per MB here
  await withScratch('oriented-taps', blk.cout * blk.cin * blk.kh * blk.kw, (T) => certifyTaps(orientTaps(blk, scale, T), ...args), KEEP_LAYER_BUFFER);
}

/** What certifyBlock certifies against: grid size, target, statistics, options, maxima seen, abort limit. */
type BlockArgs = [m1: number, m2: number, target: EigenTarget, stats: Stats, opts: SpectralOptions, seen: Seen, limit?: number];

/** A block's Rayleigh quotient `lower` at grid point (a, b), with its vector when there is one (SpectralResult.blockVectors). */
type Seen = (lower: number, a: number, b: number, vector?: Float64Array) => void;

/** certifyBlock on the block's oriented taps (ot.T is scratch: nothing keeps it past the call). */
async function certifyTaps(ot: OrientedTaps, ...[m1, m2, target, stats, opts, seen, limit = Infinity]: BlockArgs): Promise<void> {
  const { gram, native } = opts;
  if (ot.frob2 === 0) return;
  const { n, k, taps } = ot;
  const L = lagLayout(ot.kh, ot.kw);
  const formError = 4 * UNIT_ROUNDOFF * (k * taps + L.count + 16) * taps * ot.frob2;

  if (taps === 1) {
    // 1x1 kernel: a constant real symbol, one frequency, the dense matrix norm.
    stats.frequencies++;
    const dense = await smallSideGramAuto(ot.T, n, k, 1, native);
    stats.gram.add(dense.native ? 'dense native' : 'dense');
    const x = await certifyRealGram(dense.g, n, target, formError, MAX_ITERATIONS);
    const complex = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) complex[2 * i] = x[i];
    seen(target.lower, 0, 0, complex);
    return;
  }

  const trC = lagTraces(ot, L);
  const pts = halfGrid(m1, m2);
  const count = pts.length / 2;
  stats.frequencies += count;
  const cos = lagCosines(stats, L, pts, m1, m2);

  if (n === 1) {
    // One row: sigma_max^2 = ||row||^2 = trace, no matrix at all (depthwise / single-channel blocks).
    stats.gram.add('scalar');
    for (let f = 0; f < count; f++) {
      const tr = traceOf(trC, L, cos, pts, f, m1, m2);
      if (tr > target.lower) target.lower = tr;
      seen(tr, pts[2 * f], pts[2 * f + 1]);
      const up = tr + formError;
      if (up > target.tau) target.tau = up;
    }
    return;
  }

  const useLags = gram ? gram === 'lags' : chooseLags(n, k, taps, L.count, count, lagsNative(ot, native));
  stats.gram.add(useLags ? 'lags' : 'direct');
  const nn = n * n;
  const tri = (n * (n + 1)) / 2;
  // in the WebAssembly kernels' memory when they run (the Gram former, product and Cholesky test read them there)
  const lengths = [2 * nn, 2 * nn, 2 * n, 2 * n, 2 * n, ...(useLags ? [tri, 2 * tri * L.half, 2 * L.half] : [])];
  await withKernelArrays(lengths, async ([g, work, x, y, z, c0, parts, cs]) => {
    const formGram = useLags ? lagGramFormer(await lagMatrices(ot, L, stats, native, { c0, parts }), L, n, m1, m2, cs) : directGramFormer(ot, m1, m2);
    x.set(normalArray(2 * n, 1));
    const bufs = { x, y, z };
    for (let f = 0; f < count && target.tau <= limit; f++) {
      const a = pts[2 * f];
      const b = pts[2 * f + 1];
      // ||F||_F^2 >= sigma_max^2: a frequency whose trace is below tau needs no Cholesky.
      if (traceOf(trC, L, cos, pts, f, m1, m2) + formError <= target.tau) {
        stats.skipped++;
        continue;
      }
      formGram(a, b, g);
      // ||G||_F >= lambda_max, for n^2 work: a frequency it already puts below the target needs no Cholesky
      const upper = opts.prune === false ? undefined : () => lowerFrobeniusUpper(g, n);
      const before = target.lower;
      await certifyGram(hermitianGramOps(g, n, work, true), target, bufs, formError, WARM_ITERATIONS, MAX_ITERATIONS, 0, upper);
      if (target.lower > before) seen(target.lower, a, b, x);
    }
  });
}

/**
 * Certified upper bound on ||G||_F (>= lambda_max(G)) of a Hermitian G from its lower triangle: the
 * float sum of n^2 non-negative terms is within gamma_{n^2+3} of the exact one, the square root and
 * the product add a rounding each (docs/derivations.md#pruning-frequencies-by-a-cheap-upper-bound).
 */
export function lowerFrobeniusUpper(g: Float64Array, n: number): number {
  let diag = 0;
  let off = 0;
  for (let i = 0; i < n; i++) {
    const r = 2 * i * n;
    for (let j = 0; j < i; j++) off += g[r + 2 * j] ** 2 + g[r + 2 * j + 1] ** 2;
    diag += g[r + 2 * i] ** 2;
  }
  return roundUp(Math.sqrt(diag + 2 * off) * (1 + 2 * (n * n + 8) * UNIT_ROUNDOFF));
}

/** Writes G(w) at grid point (a, b) into g (n x n complex, interleaved re/im; at least j <= i), reusing its own scratch. */
type GramFormer = (a: number, b: number, g: Float64Array) => void;

/**
 * The precomputed lag matrices, lower triangle only, packed entry-major (entry e = i (i+1) / 2 + j,
 * j <= i): c0[e] = C_0[i][j], and for lag d > 0 (h = its index) parts[2 (e half + h)] = (C_d + C_d^T)[i][j],
 * parts[2 (e half + h) + 1] = (C_d - C_d^T)[i][j]. One entry's lags are contiguous, so forming G(w)
 * sums them in registers and writes each entry of G once.
 */
interface LagMatrices {
  c0: Float64Array;
  parts: Float64Array;
}

/** C_d = sum_{t - t' = d} T_t T_t'^T for d >= 0, natively (large) or in JS, then packed (packLags). */
async function lagMatrices(ot: OrientedTaps, L: LagLayout, stats: Stats, native: boolean | undefined, out: LagMatrices): Promise<LagMatrices> {
  const { n } = ot;
  const nn = n * n;
  // scratch, not fresh arrays: first touching fresh memory costs ~3 ms per MB here (util/scratch.ts)
  return withScratch('lag-sums', (L.half + 1) * nn, async (sums) => {
    sums.fill(0);
    const c0 = sums.subarray(0, nn);
    const cd = sums.subarray(nn);
    if (lagsNative(ot, native)) {
      stats.gram.add('native');
      await accumulateLagsNative(ot, L, c0, cd);
    } else {
      accumulateLags(ot, L, c0, cd);
    }
    return packLags(c0, cd, L.half, n, out);
  }, KEEP_LAYER_BUFFER);
}

/**
 * Cap on the stacked tap matrices of one native lag product, in float64 entries (8 MB each): both sides
 * then fit the scratch kept between layers. At 64 MB each the stack was dropped and faulted in afresh on
 * every 512-channel layer; ResNet-50's spectral alone, three A/B runs: 7.2 s against 7.5 s (median), 20k
 * fewer page faults, for a few more DGEMM calls (there, up to 4 tap pairs a call instead of 9).
 */
const LAG_CHUNK_ENTRIES = KEEP_LAYER_BUFFER / 2;

/**
 * One native float64 DGEMM per lag (or chunk of its pairs): C_d = X Y^T with X = [T_p1 | T_p2 | ...] and
 * Y = [T_q1 | T_q2 | ...] (n x m k, the m pairs p - q = d side by side), so C_d comes out directly, with
 * no taps n x taps n product to assemble. Same products as the JS sums, another summation order. The
 * lower block triangle p >= q (flat tap index) is exactly the lags d >= 0.
 */
async function accumulateLagsNative(ot: OrientedTaps, L: LagLayout, c0: Float64Array, cd: Float64Array): Promise<void> {
  const { T, n, k, taps } = ot;
  const nn = n * n;
  const nk = n * k;
  const { centre } = L;
  const pairs: [number, number][][] = Array.from({ length: L.half + 1 }, () => []);
  for (let p = 0; p < taps; p++) for (let q = 0; q <= p; q++) pairs[lagOf(L, p, q) - centre].push([p, q]);
  const perChunk = Math.max(1, Math.min(taps, Math.floor(LAG_CHUNK_ENTRIES / nk)));
  // one tap matrix a product reads T directly: no stack, and no scratch request (it would evict the kept one)
  const stacked = (f: (scratch: Float64Array) => Promise<void>) => (perChunk > 1 ? withScratch('lag-stack', 2 * perChunk * nk, f, KEEP_LAYER_BUFFER) : f(new Float64Array(0)));
  await stacked(async (scratch) => {
    const bufs = [scratch.subarray(0, perChunk * nk), scratch.subarray(perChunk * nk)];
    for (let h = 0; h <= L.half; h++) {
      const dst = h === 0 ? c0 : cd.subarray((h - 1) * nn, h * nn);
      const all = pairs[h];
      for (let c = 0; c < all.length; c += perChunk) {
        const chunk = all.slice(c, c + perChunk);
        const m = chunk.length;
        const stack = (side: 0 | 1): Float64Array => {
          if (m === 1) return T.subarray(chunk[0][side] * nk, (chunk[0][side] + 1) * nk);
          const out = bufs[side];
          for (let i = 0; i < n; i++) {
            for (let e = 0; e < m; e++) {
              const src = chunk[e][side] * nk + i * k;
              out.set(T.subarray(src, src + k), (i * m + e) * k); // a memcpy: the JS loop took 4% of a ResNet-50 run
            }
          }
          return out.subarray(0, m * nk);
        };
        const x = stack(0);
        const z = await multiplyABt(x, n, h === 0 ? x : stack(1), n, m * k);
        for (let i = 0; i < nn; i++) dst[i] += z[i];
      }
    }
  });
}

/** The same sums in JS, one tap pair at a time (C_0 from its lower triangle). */
function accumulateLags(ot: OrientedTaps, L: LagLayout, c0: Float64Array, cd: Float64Array): void {
  const { T, n, k, taps } = ot;
  const nn = n * n;
  const nk = n * k;
  const { centre } = L;
  for (let p = 0; p < taps; p++) {
    for (let q = 0; q < taps; q++) {
      const l = lagOf(L, p, q);
      if (l === centre) {
        if (p === q) addABt(T, p * nk, T, p * nk, n, k, c0, true);
      } else if (l > centre) {
        addABt(T, p * nk, T, q * nk, n, k, cd.subarray((l - centre - 1) * nn, (l - centre) * nn), false);
      }
    }
  }
  mirrorLower(c0, n);
}

/**
 * LagMatrices from C_0 and the `half` n x n matrices C_d (d > 0) in cd, into out (every entry written), in
 * tiles (the transposed reads stay in cache).
 */
function packLags(c0Full: Float64Array, cd: Float64Array, half: number, n: number, out: LagMatrices): LagMatrices {
  const nn = n * n;
  const { c0, parts } = out;
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) c0[(i * (i + 1)) / 2 + j] = c0Full[i * n + j];
  const TILE = 32;
  for (let i0 = 0; i0 < n; i0 += TILE) {
    const i1 = Math.min(n, i0 + TILE);
    for (let j0 = 0; j0 < i1; j0 += TILE) {
      const j1 = Math.min(n, j0 + TILE);
      for (let h = 0; h < half; h++) {
        const o = h * nn;
        for (let i = i0; i < i1; i++) {
          const e0 = (i * (i + 1)) / 2;
          for (let j = j0; j < j1 && j <= i; j++) {
            const x = cd[o + i * n + j];
            const xt = cd[o + j * n + i];
            const q = 2 * ((e0 + j) * half + h);
            parts[q] = x + xt;
            parts[q + 1] = x - xt;
          }
        }
      }
    }
  }
  return out;
}

/**
 * G(w) = C_0 + sum_{d>0} [cos(d.w) (C_d + C_d^T) - i sin(d.w) (C_d - C_d^T)]: (2kh-1)(2kw-1) n^2 / 2 per
 * point, lower triangle only (j <= i: all the Cholesky test and the lower-storage product read).
 */
function lagGramFormer(lm: LagMatrices, L: LagLayout, n: number, m1: number, m2: number, cs: Float64Array): GramFormer {
  const { c0, parts } = lm;
  const { centre, half } = L;
  return (a, b, g) => {
    // (cos, -sin) interleaved: im += (-sin) p is exactly im -= sin p
    for (let h = 0; h < half; h++) {
      const th = lagAngle(L, centre + 1 + h, a, b, m1, m2);
      cs[2 * h] = Math.cos(th);
      cs[2 * h + 1] = -Math.sin(th);
    }
    const k = kernelsFor([c0, (n * (n + 1)) / 2], [parts, n * (n + 1) * half], [cs, 2 * half], [g, 2 * n * n]);
    if (k) {
      k.lagGram(c0.byteOffset, parts.byteOffset, cs.byteOffset, n, half, g.byteOffset);
      return;
    }
    let e = 0;
    for (let i = 0; i < n; i++) {
      const r = 2 * i * n;
      for (let j = 0; j <= i; j++, e++) {
        let re = c0[e];
        let im = 0;
        let q = 2 * e * half;
        let h = 0;
        // unrolled: the loop overhead, not the arithmetic, bounds this loop in JS (same sums, same order)
        for (; h + 4 <= half; h += 4, q += 8) {
          re += cs[2 * h] * parts[q];
          im += cs[2 * h + 1] * parts[q + 1];
          re += cs[2 * h + 2] * parts[q + 2];
          im += cs[2 * h + 3] * parts[q + 3];
          re += cs[2 * h + 4] * parts[q + 4];
          im += cs[2 * h + 5] * parts[q + 5];
          re += cs[2 * h + 6] * parts[q + 6];
          im += cs[2 * h + 7] * parts[q + 7];
        }
        for (; h < half; h++, q += 2) {
          re += cs[2 * h] * parts[q];
          im += cs[2 * h + 1] * parts[q + 1];
        }
        g[r + 2 * j] = re;
        g[r + 2 * j + 1] = im;
      }
    }
  };
}

/** A = sum_t e^{-i t.w} T_t; G = A A^H = (Ar Ar^T + Ai Ai^T) + i (Ai Ar^T - Ar Ai^T): 2 n^2 k per point. */
function directGramFormer(ot: OrientedTaps, m1: number, m2: number): GramFormer {
  const { T, n, k, kw, taps } = ot;
  const nk = n * k;
  const nn = n * n;
  const ar = new Float64Array(nk);
  const ai = new Float64Array(nk);
  const prod = new Float64Array(nn);
  const cosT = new Float64Array(taps);
  const sinT = new Float64Array(taps);
  return (a, b, g) => {
    for (let t = 0; t < taps; t++) {
      const th = angle(Math.floor(t / kw), t % kw, a, b, m1, m2);
      cosT[t] = Math.cos(th);
      sinT[t] = -Math.sin(th);
    }
    ar.fill(0);
    ai.fill(0);
    for (let t = 0; t < taps; t++) {
      const c = cosT[t];
      const s = sinT[t];
      const o = t * nk;
      for (let i = 0; i < nk; i++) {
        ar[i] += c * T[o + i];
        ai[i] += s * T[o + i];
      }
    }
    prod.fill(0);
    addABt(ar, 0, ar, 0, n, k, prod, true);
    addABt(ai, 0, ai, 0, n, k, prod, true);
    mirrorLower(prod, n);
    for (let i = 0; i < nn; i++) g[2 * i] = prod[i];
    prod.fill(0);
    addABt(ai, 0, ar, 0, n, k, prod, false);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) g[2 * (i * n + j) + 1] = prod[i * n + j] - prod[j * n + i];
    }
  };
}

/** Whether the lag products run on native DGEMM: forced by `native`, else when large enough to pay for the call. */
function lagsNative(ot: OrientedTaps, native?: boolean): boolean {
  return native ?? (ot.taps * ot.taps * ot.n * ot.n * ot.k) / 2 >= NATIVE_MIN_MACS;
}

/**
 * How much faster the lag products run on native DGEMM than the JS direct Grams per multiply-add, as
 * counted by chooseLags. Measured on CIFAR ResNet-18's 512 x 512 x 3 x 3 layers on a 6 x 6 torus (lags
 * 1.1 times the direct route's flops): lags 2.3-5x faster on a busy 2-core machine.
 */
const NATIVE_LAG_SPEEDUP = 4;

/** Precompute the lag matrices when that costs less than direct Grams (native flops discounted), and fits in memory. */
function chooseLags(n: number, k: number, taps: number, lags: number, count: number, native: boolean): boolean {
  if (lags * n * n > MAX_LAG_ENTRIES) return false;
  const lagsCost = (taps * taps * n * n * k) / 2 / (native ? NATIVE_LAG_SPEEDUP : 1) + count * lags * n * n;
  const directCost = count * (2 * n * n * k + 2 * taps * n * k);
  return lagsCost < directCost;
}
