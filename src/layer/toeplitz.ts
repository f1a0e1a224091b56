// [toeplitz] The paper's bound (Araujo et al., AAAI 2021) made certified: sqrt(sum_i sup_w P_i(w)),
// each row's sup from a corrected grid maximum, capped by the triangle inequality, plus a rounding margin.
// Derivation: docs/derivations.md#row-autocorrelations-the-papers-bound
import type { Kernel2D } from './kernel.js';
import { RowPolynomialGrid, rowAutocorrelations } from './autocorr.js';
import { chooseGrid, gridCorrection, DEFAULT_MAX_C } from './grid-correction.js';
import { UNIT_ROUNDOFF, roundUp } from '../linalg/rounding.js';

export interface ToeplitzOptions {
  /** Grid points per axis of positive degree (the paper uses 50); raised automatically when too coarse. */
  samples: number;
  /** Ceiling on the correction constant c when choosing the grid (default DEFAULT_MAX_C). */
  maxC?: number;
  /** Force this exact grid (tests); throws if it is too coarse to certify. */
  grid?: [number, number];
}

export interface ToeplitzResult {
  /** Certified upper bound: sqrt(sum_i min(gridMax_i * factor^2, sum_d |r_i(d)|)) <= gridMax * factor. */
  value: number;
  /** sqrt(sum_i max_grid P_i): the paper's sampled value, not guaranteed. */
  gridMax: number;
  /** 1 / sqrt(1 - c). */
  factor: number;
  grid: [number, number];
  /** True when the grid was raised above `samples` to keep the correction small. */
  enlarged: boolean;
  /** Rows whose sup came from the triangle-inequality cap rather than the corrected grid maximum. */
  capped: number;
}

/** Certified paper bound for one stride-1 block. */
export function toeplitzBlockBound(k: Kernel2D, opts: ToeplitzOptions): ToeplitzResult {
  const { kh, kw } = k;
  let m1: number;
  let m2: number;
  let factor: number;
  let enlarged = false;
  if (opts.grid) {
    [m1, m2] = opts.grid;
    const corr = gridCorrection(kh, kw, m1, m2);
    if (corr === null) throw new Error(`grid ${m1}x${m2} too coarse to certify a ${kh}x${kw} kernel`);
    factor = corr.factor;
  } else {
    const g = chooseGrid(kh, kw, opts.samples, opts.maxC ?? DEFAULT_MAX_C);
    ({ m1, m2, factor, enlarged } = g);
  }
  const ac = rowAutocorrelations(k);
  const grid = new RowPolynomialGrid(kh, kw, m1, m2);
  const lags = (2 * kh - 1) * (2 * kw - 1);
  const gamma = 2 * UNIT_ROUNDOFF * (ac.terms + 4 * (kh + kw) + 32);
  const corr = factor * factor;
  let sumGrid = 0;
  let sumCertified = 0;
  let capped = 0;
  for (let i = 0; i < ac.rows; i++) {
    // Rounding can make an all-zero row evaluate to -1e-300; P_i >= 0, so clamp at 0.
    const g = Math.max(0, grid.rowMax(ac, i));
    let abs = 0;
    for (let d = i * lags; d < (i + 1) * lags; d++) abs += Math.abs(ac.r[d]);
    sumGrid += g;
    if (abs < g * corr) capped++;
    sumCertified += Math.min(g * corr, abs) + gamma * ac.absSum[i];
  }
  const gridMax = Math.sqrt(sumGrid);
  return { value: roundUp(Math.sqrt(sumCertified * (1 + 4 * ac.rows * UNIT_ROUNDOFF))), gridMax, factor, grid: [m1, m2], enlarged, capped };
}

/** A variant's bound: the max over its blocks (block-diagonal operator). Empty list -> 0. */
export function toeplitzBound(blocks: Kernel2D[], opts: ToeplitzOptions): ToeplitzResult {
  let best: ToeplitzResult | null = null;
  for (const b of blocks) {
    const r = toeplitzBlockBound(b, opts);
    if (best === null || r.value > best.value) best = r;
  }
  return best ?? { value: 0, gridMax: 0, factor: 1, grid: [1, 1], enlarged: false, capped: 0 };
}
