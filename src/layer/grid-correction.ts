// Turns the maximum of a non-negative trigonometric polynomial on a grid into a certified upper bound
// on its supremum over the torus: sup <= max_grid / (1 - c), c = (pi^2/4) (n1/m1 + n2/m2)^2.
// Derivation: docs/derivations.md#grid-correction-toeplitz-and-spectral-sup-routes

/** The correction for one grid: sup <= gridMax / (1 - c); on a norm (a square root) multiply by `factor`. */
export interface GridCorrection {
  /** c = (pi^2/4) (n1/m1 + n2/m2)^2 with n = kernel size - 1. */
  c: number;
  /** 1 / sqrt(1 - c): multiplies a grid maximum of a norm (sqrt of the polynomial) into a certified bound. */
  factor: number;
}

/**
 * Correction for a kernel of spatial size kh x kw (polynomial degree (kh-1, kw-1)) sampled on an
 * m1 x m2 grid. Returns null when c >= 1: the grid is too coarse to certify anything.
 */
export function gridCorrection(kh: number, kw: number, m1: number, m2: number): GridCorrection | null {
  const n1 = Math.max(0, kh - 1);
  const n2 = Math.max(0, kw - 1);
  if ((n1 > 0 && !(m1 >= 1)) || (n2 > 0 && !(m2 >= 1))) return null;
  const s = (n1 > 0 ? n1 / m1 : 0) + (n2 > 0 ? n2 / m2 : 0);
  const c = ((Math.PI * Math.PI) / 4) * s * s;
  if (!(c < 1)) return null;
  return { c, factor: 1 / Math.sqrt(1 - c) };
}

/** Default ceiling on c when the engine picks the grid: the correction costs at most ~5.4% on a norm. */
export const DEFAULT_MAX_C = 0.1;

export interface ChosenGrid extends GridCorrection {
  m1: number;
  m2: number;
  /** True when the requested sample count was raised to keep c <= maxC. */
  enlarged: boolean;
}

/**
 * The grid the engine samples: `samples` points on every axis of positive degree (1 on axes of
 * degree 0), raised to the smallest common m with c <= maxC when `samples` is too coarse for the
 * kernel size (large kernels).
 */
export function chooseGrid(kh: number, kw: number, samples: number, maxC = DEFAULT_MAX_C): ChosenGrid {
  if (!(maxC > 0 && maxC < 1)) throw new Error(`maxC must lie in (0, 1), got ${maxC}`);
  const requested = Math.max(1, Math.floor(samples));
  const axisM = (k: number, m: number) => (k > 1 ? m : 1);
  let m = requested;
  // c = (pi^2/4) ((n1+n2)/m)^2 <= maxC  <=>  m >= pi (n1+n2) / (2 sqrt(maxC)). Start just below that
  // threshold (c decreases in m) and step up past any rounding.
  const n = Math.max(0, kh - 1) + Math.max(0, kw - 1);
  m = Math.max(m, Math.ceil((Math.PI * n) / (2 * Math.sqrt(maxC))) - 1, 1);
  let corr = gridCorrection(kh, kw, axisM(kh, m), axisM(kw, m));
  while (corr === null || corr.c > maxC) {
    m++;
    corr = gridCorrection(kh, kw, axisM(kh, m), axisM(kw, m));
  }
  return { m1: axisM(kh, m), m2: axisM(kw, m), c: corr.c, factor: corr.factor, enlarged: m > requested };
}
