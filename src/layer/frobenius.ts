// [frobenius] The cheap baseline sqrt(kh*kw) * ||K||_F per stride-1 block.
//
// Why it is an upper bound: ||conv||_2 <= sup_w ||F(w)||_2 (the Toeplitz operator is a
// multiplication by F(w) in Fourier space; a padded finite conv is a submatrix of it) and for every w
//     ||F(w)||_2^2 <= ||F(w)||_F^2 = sum_ij |f_ij(w)|^2,
//     |f_ij(w)|^2 = |sum_{h,w} K_ijhw e^{-i(...)}|^2 <= (kh*kw) * sum_{h,w} K_ijhw^2   (Cauchy-Schwarz),
// so sup_w ||F(w)||_2 <= sqrt(kh*kw) * ||K||_F. No grid, no correction.
import type { Kernel2D } from './kernel.js';
import { roundUp } from '../linalg/rounding.js';

/** Euclidean (Frobenius) norm of any array of numbers, scaled against overflow, rounded up. */
export function frobeniusNorm(a: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
  if (scale === 0 || !Number.isFinite(scale)) return scale === 0 ? 0 : NaN;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] / scale;
    sum += v * v;
  }
  // n rounded squares and additions: relative error below (n + 2) u; round up past it.
  return roundUp(scale * Math.sqrt(sum), a.length + 4);
}

/** sqrt(kh*kw) * ||K||_F for one block. */
export function frobeniusBlockBound(k: Kernel2D): number {
  return Math.sqrt(k.kh * k.kw) * frobeniusNorm(k.data);
}

/** A variant's bound: max over its blocks. Empty list -> 0. */
export function frobeniusBound(blocks: Kernel2D[]): number {
  let best = 0;
  for (const b of blocks) best = Math.max(best, frobeniusBlockBound(b));
  return best;
}
