// Certified l2 Lipschitz constants of ONNX Resize, one axis at a time (the caller multiplies them),
// each bounding both the ONNX spec and onnxruntime's float32 kernel; cubic gives null. Pure.
// What is covered and why size-free values stop at 16384: docs/derivations.md#resize
import type { CoordinateMode, NearestMode } from './op-constants.js';
import { nonnegativeMatrixNorm } from './op-constants.js';
import { addUp, mulUp, roundUp, sqrtUp } from '../linalg/rounding.js';

export type { CoordinateMode, NearestMode };

export interface ResizeAxis {
  /** Input length along the axis, or null when unknown. */
  inDim: number | null;
  /** Output length along the axis, or null when unknown. */
  outDim: number | null;
  /**
   * The model's float32 scale for this axis (`scales` input / Upsample attribute), or null when the
   * output length comes from `sizes` (then the scale is outDim / inDim, as in the spec).
   */
  scale: number | null;
  coord: CoordinateMode;
}

/** Longest axis the known-length routes accept (float32 coordinates stay far from their limit). */
export const MAX_KNOWN_LENGTH = 2 ** 20;
/** Size-free values hold for every axis length up to this. */
export const MAX_SIZE_FREE_LENGTH = 2 ** 14;
/**
 * Bound on |onnxruntime's float32 coordinate - the real one| for lengths <= 2^14: every value and
 * intermediate ((x + 0.5)/s, x*(in-1)/(out-1), the half_pixel_symmetric offset) is < 2^15 in
 * magnitude or carries a relative error <= 2^-23, so each of the <= 4 roundings costs <= 2^-10 and
 * the float32 rounding of an out/in scale <= 2^-10 more: 5 * 2^-10 < 2^-7.
 */
const ORT_COORD_ERROR = 2 ** -7;
/** Size-free nearest fuzz: the float32 error plus 4 float32 ulps at 2^14 (other builds of the kernel). */
const SIZE_FREE_FUZZ = ORT_COORD_ERROR + 4 * 2 ** -9;
/** Known-length nearest fuzz, in float32 ulps of the coordinate. */
const FUZZ_ULPS = 4;

const validLength = (n: number | null, max: number): n is number => n !== null && Number.isInteger(n) && n >= 1 && n <= max;

/** A float32 ulp of v (of 1 when |v| < 1), rounded up to a power of two. */
function ulp32(v: number): number {
  return 2 ** (Math.ceil(Math.log2(Math.max(Math.abs(v), 1))) - 23);
}

/** Source coordinate of output x per the ONNX spec (float64; see snapHalf for ties). */
function specCoordinate(x: number, inDim: number, outDim: number, s: number, coord: CoordinateMode): number {
  switch (coord) {
    case 'asymmetric':
      return x / s;
    case 'half_pixel':
      return (x + 0.5) / s - 0.5;
    case 'pytorch_half_pixel':
      return outDim > 1 ? (x + 0.5) / s - 0.5 : 0;
    case 'align_corners':
      return outDim === 1 ? 0 : (x * (inDim - 1)) / (outDim - 1);
    case 'half_pixel_symmetric': {
      const adjustment = outDim / (s * inDim);
      return (inDim / 2) * (1 - adjustment) + (x + 0.5) / s - 0.5;
    }
  }
}

/** onnxruntime's coordinate (upsamplebase.h GetOriginalCoordinateFromResizedCoordinate), float32 steps. */
function ortCoordinate(x: number, inDim: number, outDim: number, s32: number, coord: CoordinateMode): number {
  const f = Math.fround;
  if (s32 === 1) return x; // the kernels skip the transform when the scale is 1
  switch (coord) {
    case 'asymmetric':
      return f(x / s32);
    case 'half_pixel':
      return f(f(f(x + 0.5) / s32) - 0.5);
    case 'pytorch_half_pixel':
      return outDim > 1 ? f(f(f(x + 0.5) / s32) - 0.5) : 0;
    case 'align_corners':
      return outDim === 1 ? 0 : f(f(x * (inDim - 1)) / (outDim - 1));
    case 'half_pixel_symmetric': {
      // float32 offset, then `offset + (x + 0.5) / x_scale - 0.5` in double (0.5 is a double literal)
      const adjustment = f(outDim / f(s32 * inDim));
      const offset = f(f(inDim / 2) * f(1 - adjustment));
      return f(offset + (x + 0.5) / s32 - 0.5);
    }
  }
}

/**
 * Snap a float64 spec coordinate to the nearest multiple of 1/2 when within 1e-9. With a float32
 * scale m 2^-k (m < 2^24) or a sizes scale out/in, every spec coordinate is a rational whose
 * distance to a multiple of 1/2 is 0 or >= 2^-25 (denominator <= 2m, or 2 out), while float64
 * evaluation errs by < 1e-10 for lengths <= 2^20: so the snapped value rounds as the real one does.
 */
function snapHalf(v: number): number {
  const r = Math.round(v * 2) / 2;
  return Math.abs(v - r) <= 1e-9 ? r : v;
}

/** Source index of coordinate v under a rounding mode (ONNX spec), clamped to [0, inDim - 1]. */
function roundIndex(v: number, mode: NearestMode, inDim: number): number {
  let i: number;
  switch (mode) {
    case 'floor': i = Math.floor(v); break;
    case 'ceil': i = Math.ceil(v); break;
    case 'round_prefer_floor': i = Math.ceil(v - 0.5); break;
    case 'round_prefer_ceil': i = Math.floor(v + 0.5); break;
  }
  return Math.min(inDim - 1, Math.max(0, i));
}

/** Is v exactly a point where the rounding mode switches index (integers; or halves for round modes)? */
function isTie(v: number, mode: NearestMode): boolean {
  return mode === 'floor' || mode === 'ceil' ? Number.isInteger(v) : Number.isInteger(v - 0.5);
}

/**
 * Largest number of output positions, over the input indices, that may copy that index: output x
 * counts toward every index in cand(x). `cands` returns the (<= 3) candidate indices of x.
 */
function maxCopies(inDim: number, outDim: number, cands: (x: number) => number[]): number {
  const counts = new Int32Array(inDim);
  let best = 0;
  for (let x = 0; x < outDim; x++)
    for (const i of new Set(cands(x))) best = Math.max(best, ++counts[i]);
  return best;
}

/**
 * Known lengths: output x counts toward the index of the spec coordinate f and of onnxruntime's
 * float32 coordinate g; unless f is exactly a tie that g reproduces exactly (then the computation
 * is exact and unambiguous), also toward the indices of f and g moved by FUZZ_ULPS float32 ulps
 * either way (a tie within a few ulps may fall on either side in another build of the kernel).
 */
function knownNearestCopies(inDim: number, outDim: number, scale: number | null, coord: CoordinateMode, mode: NearestMode): number {
  const s = scale ?? outDim / inDim;
  const s32 = Math.fround(s);
  return maxCopies(inDim, outDim, (x) => {
    const f = snapHalf(specCoordinate(x, inDim, outDim, s, coord));
    const g = ortCoordinate(x, inDim, outDim, s32, coord);
    if (g === f && isTie(f, mode)) return [roundIndex(f, mode, inDim)];
    const out: number[] = [];
    for (const v of [f, g]) {
      const d = FUZZ_ULPS * ulp32(v);
      out.push(roundIndex(v - d, mode, inDim), roundIndex(v, mode, inDim), roundIndex(v + d, mode, inDim));
    }
    return out;
  });
}

/** The q = 2^k (k <= 8) with s*q an integer, or null. */
function dyadicDenominator(s: number): number | null {
  for (let q = 1; q <= 256; q *= 2) if (Number.isInteger(s * q)) return q;
  return null;
}

/**
 * Longest run of the coordinate (as a length in coordinate units) that rounds to one index, at the
 * border where clamping adds to a cell, for modes whose coordinate is x/s + b with b independent of
 * the length up to the half_pixel_symmetric offset in [0, 1/(2s)). Coordinates lie in [0, in - 1/s]
 * (asymmetric) or (-1/2, in - 1/2) (half_pixel family); cells are [i, i+1) (floor), (i-1, i] (ceil),
 * (i - 1/2, i + 1/2) (round), so e.g. ceil + asymmetric sends all of (in-2, in) to in-1: length 2.
 */
function clampedCellLength(coord: CoordinateMode, mode: NearestMode): number {
  const asym = coord === 'asymmetric';
  if (mode === 'floor') return asym ? 1 : 1.5;
  if (mode === 'ceil') return asym ? 2 : 1.5;
  return asym ? 1.5 : 1;
}

/**
 * Size-free copy count for one rounding mode.
 *  - Scale 1: both the spec (every transform is the identity when out = in) and onnxruntime copy once.
 *  - align_corners: the slope (in-1)/(out-1) depends on the length. Lengths 1..64 are counted
 *    exactly (known-length route, out = floor(in s) and onnxruntime's trunc(float32(s in))); beyond,
 *    x*(in-1)/(out-1) stays in [0, in-1] (no clamping) and a cell of length 1 widened by the float
 *    error holds at most floor(r (1 + 2 fuzz)) + 1 outputs, with r = sup (out-1)/(in-1) over in > 64.
 *  - the other modes, f(x) = x/s + b(in): with s = p/q (q = 2^k <= 256) everything repeats when in
 *    grows by q (out grows by p, f shifts by q, the half_pixel_symmetric offset (in - out/s)/2 and the
 *    right border depend on in mod q only), so lengths 1 .. 2q+8 (every residue, with both borders
 *    apart) are emulated with the size-free fuzz: x counts toward every index within SIZE_FREE_FUZZ of
 *    f, except at exact ties that onnxruntime reproduces exactly at any length <= 2^14 (asymmetric,
 *    half_pixel, pytorch_half_pixel: every intermediate is then a representable half-integer; and
 *    half_pixel_symmetric when s in = out, where its offset is exactly 0).
 *    Other scales: the outputs rounding to one index have f in a cell of length <= clampedCellLength,
 *    widened by the fuzz: at most floor(s (len + 2 fuzz)) + 1 integers x.
 */
function sizeFreeNearestCopies(s: number, coord: CoordinateMode, mode: NearestMode): number {
  const fuzz = SIZE_FREE_FUZZ;
  if (Math.fround(s) === 1 && s === 1) return 1;
  if (coord === 'align_corners') {
    const n0 = 64;
    let best = 1;
    for (let inDim = 1; inDim <= n0; inDim++)
      for (const outDim of new Set([Math.floor(inDim * s), Math.trunc(Math.fround(Math.fround(s) * inDim))]))
        if (outDim >= 1) best = Math.max(best, knownNearestCopies(inDim, outDim, s, coord, mode));
    const sHi = s * (1 + 2 ** -22); // onnxruntime's output length may round up past in*s
    const r = sHi >= 1 ? ((n0 + 1) * sHi - 1) / n0 : sHi;
    return Math.max(best, Math.floor(r * (1 + 2 * fuzz) * (1 + 1e-12)) + 1);
  }
  const q = dyadicDenominator(s);
  if (q === null || s * q > 4096) return Math.floor(s * (clampedCellLength(coord, mode) + 2 * fuzz) * (1 + 1e-12)) + 1;
  let best = 1;
  for (let inDim = 1; inDim <= 2 * q + 8; inDim++) {
    const outDim = Math.floor(inDim * s); // exact: s*in = p*in/q with p*in < 2^22
    if (outDim < 1) continue;
    const robust = coord !== 'half_pixel_symmetric' || inDim * s === outDim;
    best = Math.max(best, maxCopies(inDim, outDim, (x) => {
      const f = snapHalf(specCoordinate(x, inDim, outDim, s, coord));
      if (robust && isTie(f, mode)) return [roundIndex(f, mode, inDim)];
      return [roundIndex(f - fuzz, mode, inDim), roundIndex(f + fuzz, mode, inDim)];
    }));
  }
  return best;
}

/**
 * Certified max number of output positions that copy one input index along the axis (nearest
 * Resize; the axis's l2 norm is its square root), worst over the listed rounding modes and over
 * float32 coordinate ties (see knownNearestCopies). Known inDim and outDim (<= 2^20): counted on
 * the axis. Otherwise a maximum valid for every length <= MAX_SIZE_FREE_LENGTH given the scale
 * (sizeFreeNearestCopies), or null when the scale is unknown too.
 */
export function resizeNearestAxisCopies(ax: ResizeAxis, nearestModes: NearestMode[]): number | null {
  if (nearestModes.length === 0) return null;
  if (ax.scale !== null && !(ax.scale > 0 && Number.isFinite(ax.scale))) return null;
  if (validLength(ax.inDim, MAX_KNOWN_LENGTH) && validLength(ax.outDim, MAX_KNOWN_LENGTH)) {
    const { inDim, outDim } = ax;
    return Math.max(...nearestModes.map((m) => knownNearestCopies(inDim, outDim, ax.scale, ax.coord, m)));
  }
  if (ax.scale === null) return null;
  const s = ax.scale;
  return Math.max(...nearestModes.map((m) => sizeFreeNearestCopies(s, ax.coord, m)));
}

/**
 * Linear interpolation matrix (outDim x inDim, row-major) for coordinates coord(x): v clamped to
 * [0, in-1], weight 1 - t on floor(v) and t on floor(v) + 1 (t = v - floor(v)); at v = in - 1 (or
 * in = 1) the whole weight sits on in - 1. This is the spec (the reference implementation
 * interpolates the edge-padded signal) and onnxruntime's SetupUpsampleBilinear, whose weights are
 * |v - x2| and |v - x1| in float32 (`f32`), 0.5 + 0.5 on one index at the right edge.
 */
function addLinearRows(a: Float64Array, inDim: number, outDim: number, coord: (x: number) => number, f32: boolean): void {
  const r = f32 ? Math.fround : (v: number) => v;
  const hi = Math.fround(inDim - 1);
  for (let x = 0; x < outDim; x++) {
    const v = Math.max(0, Math.min(coord(x), hi));
    const x1 = Math.min(Math.floor(v), inDim - 1);
    const x2 = Math.min(x1 + 1, inDim - 1);
    const row = x * inDim;
    if (x1 === x2) {
      a[row + x1] = Math.max(a[row + x1], 1);
      continue;
    }
    a[row + x1] = Math.max(a[row + x1], r(Math.abs(v - x2)));
    a[row + x2] = Math.max(a[row + x2], r(Math.abs(v - x1)));
  }
}

/** Entrywise max of the spec's and onnxruntime's interpolation matrices (>= both; both are >= 0). */
function linearAxisMatrix(inDim: number, outDim: number, scale: number | null, coord: CoordinateMode): Float64Array {
  const s = scale ?? outDim / inDim;
  const s32 = Math.fround(s);
  const a = new Float64Array(outDim * inDim);
  addLinearRows(a, inDim, outDim, (x) => specCoordinate(x, inDim, outDim, s, coord), false);
  addLinearRows(a, inDim, outDim, (x) => ortCoordinate(x, inDim, outDim, s32, coord), true);
  return a;
}

/** Column and row sums of a row-major matrix: their maxima. */
function maxSums(a: Float64Array, rows: number, cols: number): { row: number; col: number } {
  const col = new Float64Array(cols);
  let row = 0;
  for (let i = 0; i < rows; i++) {
    let sr = 0;
    for (let j = 0; j < cols; j++) {
      sr += a[i * cols + j];
      col[j] += a[i * cols + j];
    }
    row = Math.max(row, sr);
  }
  return { row, col: Math.max(...col) };
}

/** Relative slack per axis: onnxruntime's float32 products of per-axis weights (2^-24 each) and last-bit differences. */
const LINEAR_SLACK = 1e-6;

/**
 * sup over the phase c of sum_k hat(c + k h), hat(u) = max(0, 1 - |u|), for h in [hLo, hHi]. The sum is
 * periodic and piecewise linear in c with kinks where a sample hits -1, 0 or 1, so its sup is
 * S0(h) = 1 + 2 sum_{k>=1} (1 - k h)+ or S1(h) = sum_{j>=1} (1 - |1 - j h|)+. S0 decreases in h (take
 * hLo); each term of S1 is unimodal in h with peak 1 at h = 1/j (take its sup over the interval).
 * Each term is summed upward-rounded (terms are few: < 2/hLo + 1).
 */
function hatSumSup(hLo: number, hHi: number): number {
  let s0 = 1;
  for (let k = 1; k * hLo < 1; k++) s0 = addUp(s0, 2 * (1 - k * hLo));
  let s1 = 0;
  for (let j = 1; j * hLo < 2; j++) {
    const term = (h: number) => Math.max(0, 1 - Math.abs(1 - j * h));
    s1 = addUp(s1, 1 / j >= hLo && 1 / j <= hHi ? 1 : Math.max(term(hLo), Number.isFinite(hHi) ? term(hHi) : 0));
  }
  return roundUp(Math.max(s0, s1), 16);
}

/**
 * Interior column sum for f(x) = x/s + b with s = p/q (q = 2^k <= 256, p <= 4096): column i samples
 * hat at b - i + x q/p, x integer, whose phase modulo the spacing q/p is b - k/p for some k in
 * 0..q-1 (b: asymmetric 0, half_pixel family 1/(2s) - 1/2, plus for half_pixel_symmetric the offset
 * (in - floor(in s)/s)/2, which depends on in mod q only). The max over those phases of the full
 * sample sum (all integers x: a superset of the outputs) is exact; a tighter value than hatSumSup's
 * sup over every phase (e.g. 1/2 instead of 1 for half_pixel downsampling by 2). Null otherwise.
 */
function affineInteriorColumn(s: number, coord: CoordinateMode): number | null {
  const q = dyadicDenominator(s);
  if (q === null || s * q > 4096) return null;
  const p = s * q;
  const h = 1 / s;
  const base = coord === 'asymmetric' ? 0 : 0.5 / s - 0.5;
  const offsets = coord === 'half_pixel_symmetric' ? Array.from({ length: q }, (_, j) => (j + 1 - Math.floor((j + 1) * s) / s) / 2) : [0];
  let best = 0;
  for (const off of offsets)
    for (let k = 0; k < q; k++) {
      const c = base + off - k / p;
      let sum = 0;
      for (let x = Math.floor((-1 - c) / h); c + x * h < 1; x++) sum = addUp(sum, Math.max(0, 1 - Math.abs(c + x * h)));
      best = Math.max(best, sum);
    }
  return roundUp(best, 64);
}

/**
 * Size-free linear: sqrt(max row sum * max column sum) (Schur test), valid for every length <= 2^14.
 * Rows: each output is a convex combination, sum 1 (onnxruntime's float32 weights: 1 + 2^-23).
 * Columns (the weight input i receives, sum over outputs x of its interpolation weight):
 *  - in = 1: every output copies it: out <= s.
 *  - interior i (1 <= i <= in-2, no clamping reaches it): sum_x hat(f(x) - i) with f(x) = x h + b
 *    (h = 1/s; align_corners h = (in-1)/(out-1)): <= affineInteriorColumn (dyadic scales) or hatSumSup.
 *  - i = 0 (in >= 2): outputs with f <= 0 give it weight 1 (clamped), 0 < f < 1 weight 1 - f: a
 *    non-increasing g(f). The samples are b + k h, k >= 0, with b >= bMin (asymmetric, align_corners:
 *    0; half_pixel family: 1/(2s) - 1/2, half_pixel_symmetric adds an offset >= 0), so the column
 *    sum is <= sum_k g(bMin + k h). pytorch_half_pixel with out = 1 puts weight 1 on index 0: <= 1.
 *  - i = in-1: mirror image, with the top sample f(out-1) <= in - 1/s (asymmetric), <= in - 1/2 -
 *    1/(2s) (half_pixel family: (out - 1/2)/s - 1/2 with out <= in s), = in - 1 (align_corners).
 *  - float32: each weight is a 1-Lipschitz function of the coordinate, which onnxruntime gets wrong
 *    by <= ORT_COORD_ERROR, and is rounded (2^-23): a column changes by that much per output whose
 *    weight can be nonzero, at most floor(s (2 + 2 err)) + 1 of them.
 * align_corners: lengths 2..64 are summed exactly from the matrices; for in > 64, h lies in
 * [min, max] of (in-1)/(in s - 1) and (in-1)/(in s - 2) over in > 64 and their limit 1/s.
 */
function sizeFreeLinearNorm(s: number, coord: CoordinateMode): number {
  if (Math.fround(s) === 1 && s === 1) return 1;
  const err = ORT_COORD_ERROR;
  const rowMax = 1 + 2 ** -23;
  // in = 1: all floor(s) outputs copy index 0 (onnxruntime: trunc(float32(s))); pytorch_half_pixel
  // with out = 1 puts weight 1 on index 0
  let col = Math.max(Math.floor(s * (1 + 2 ** -22)), coord === 'pytorch_half_pixel' ? 1 : 0);
  const fuzz = mulUp(Math.floor(s * (2 + 2 * err)) + 1, err + 2 ** -23);
  if (coord === 'align_corners') {
    const n0 = 64;
    for (let inDim = 2; inDim <= n0; inDim++)
      for (const outDim of new Set([Math.floor(inDim * s), Math.trunc(Math.fround(Math.fround(s) * inDim))]))
        if (outDim >= 1) col = Math.max(col, maxSums(linearAxisMatrix(inDim, outDim, s, coord), outDim, inDim).col);
    // out in (in s - 1, in s (1 + 2^-22)] (onnxruntime may round in*s up); h = (in-1)/(out-1) is monotone in in
    const sHi = s * (1 + 2 ** -22);
    const hLo = Math.min(1 / sHi, n0 / ((n0 + 1) * sHi - 1));
    const hHiRaw = n0 / ((n0 + 1) * s - 2);
    const hHi = hHiRaw > 0 ? Math.max(1 / s, hHiRaw) : Infinity;
    col = Math.max(col, hatSumSup(hLo * (1 - 1e-12), hHi * (1 + 1e-12)));
  } else {
    const h = 1 / s;
    const interior = affineInteriorColumn(s, coord) ?? hatSumSup(h * (1 - 1e-12), h * (1 + 1e-12));
    const bMin = coord === 'asymmetric' ? 0 : 0.5 / s - 0.5;
    const top = coord === 'asymmetric' ? 1 - 1 / s : 0.5 - 0.5 / s; // f(out-1) - (in-1)
    let left = 0;
    for (let k = 0; bMin + k * h < 1; k++) left = addUp(left, Math.min(1, 1 - (bMin + k * h)));
    let right = 0;
    for (let k = 0; top - k * h > -1; k++) right = addUp(right, Math.min(1, 1 + (top - k * h)));
    col = Math.max(col, interior, roundUp(left, 16), roundUp(right, 16));
  }
  return sqrtUp(mulUp(rowMax, addUp(col, fuzz)));
}

/**
 * Certified upper bound on the l2 norm of the 1-D interpolation matrix of a linear Resize along the
 * axis. Known inDim and outDim (<= 2^20): the norm of the entrywise max of the spec's and
 * onnxruntime's matrices (nonnegativeMatrixNorm: Collatz-Wielandt, capped by the Schur test), times
 * 1 + 1e-6, and at least 1 when out = in (onnxruntime copies the tensor when no axis changes).
 * Otherwise the size-free bound of sizeFreeLinearNorm from the scale, or null. mode 'cubic' (signed
 * weights, exclude_outside, cubic_coeff_a) is not certified: null.
 */
export function resizeLinearAxisNorm(ax: ResizeAxis, mode: 'linear' | 'cubic', _opts?: { cubicCoeffA?: number; excludeOutside?: boolean }): number | null {
  if (mode !== 'linear') return null;
  if (ax.scale !== null && !(ax.scale > 0 && Number.isFinite(ax.scale))) return null;
  if (validLength(ax.inDim, MAX_KNOWN_LENGTH) && validLength(ax.outDim, MAX_KNOWN_LENGTH)) {
    const { inDim, outDim } = ax;
    if (inDim * outDim > 2 ** 24) return null; // dense matrix: keep it small
    const a = linearAxisMatrix(inDim, outDim, ax.scale, ax.coord);
    const norm = mulUp(nonnegativeMatrixNorm(a, outDim, inDim), 1 + LINEAR_SLACK);
    return outDim === inDim ? Math.max(1, norm) : norm;
  }
  if (ax.scale === null) return null;
  return sizeFreeLinearNorm(ax.scale, ax.coord);
}
